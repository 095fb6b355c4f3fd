/* infer.c - text generation on the socket in the OpenAI wire format:
 * POST /v1/chat/completions and POST /v1/completions (a whole answer, or an
 * SSE stream with backpressure and cancellation when the client leaves), and
 * GET /v1/models. Builds and tokenizes the prompt on libuv's pool
 * (api/work.h), with notes from the personal store placed in it when the
 * request asks (`rag`, rag/rag.h); the engine thread (engine/engine.h)
 * generates and calls back on the loop thread. */
#include "api/infer.h"
#include "api/api.h"
#include "api/params.h"
#include "api/work.h"
#include "core/buf.h"
#include "http/sse.h"
#include "model/chat.h"
#include "model/tokenizer.h"
#include "rag/rag.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define RAG_MAX_COLLECTIONS 16 /* collections one request may search */
#define RAG_MAX_TOP_K 20

/* The system text placed before the numbered notes in a chat. */
static const char RAG_INSTRUCTION[] = "Answer using the numbered notes below; cite them as [n].\n\n";

/* A request's `rag` field: answer with notes retrieved from the store. */
typedef struct {
    bool on;
    const char *collections[RAG_MAX_COLLECTIONS]; /* into the request body */
    int n_collections;                            /* 0: every collection the caller may read */
    int64_t top_k;                                /* chunks retrieved */
    int64_t max_context_tokens;                   /* 0: the service's default budget */
} rag_options_t;

/* A request's generation options, read from its body. */
typedef struct {
    ed_sampler_params_t sampling;              /* sampling.bias points at bias */
    ed_logit_bias_t bias[ED_SAMPLER_MAX_BIAS];
    int64_t max_tokens;
    const char *stops[ED_ENGINE_MAX_STOPS];    /* into the request body */
    size_t n_stops;
    bool stream;
    bool include_usage;                        /* stream_options.include_usage */
    rag_options_t rag;
} gen_options_t;

/* The closing events of a stream, in the order they are sent. */
typedef enum {
    STAGE_FINISH = 0, /* the chunk with finish_reason (or an error event) */
    STAGE_USAGE,      /* choices [] and usage, when asked for */
    STAGE_DONE,       /* data: [DONE] */
    STAGE_END,        /* the end of the chunked body */
} stage_t;

/* One generation request, from submit until its response ends. It outlives
 * the job when the last events wait for the client to drain, and the request
 * stays valid until the response ends, also after the client left
 * (http/request.h), so the response is always ended, then this is freed. */
typedef struct {
    ed_request_t *req;
    ed_engine_t *engine;
    ed_job_t *job;          /* NULL once on_done ran */
    bool chat;              /* chat.completion[.chunk], else text_completion */
    bool stream;
    bool include_usage;
    bool gone;              /* the client left: nothing more goes on the wire */
    bool held;              /* the engine holds the job until the client drains */
    bool waiting;           /* a drain callback is registered */
    bool done;              /* on_done ran; result holds the outcome */
    stage_t stage;          /* streaming: the next closing event */
    char id[40];            /* "chatcmpl-" / "cmpl-" and 24 random letters and digits */
    int64_t created;        /* unix seconds */
    const char *model;      /* the served model's id (lives as long as the engine) */
    ed_buf_t text;          /* the whole answer, or (streaming) text not sent yet */
    ed_job_result_t result; /* copied in on_done */
    json_t *citations;      /* [{number, document_id, chunk_index, title, score}] with rag, else NULL */
} gen_t;

/* A rag request while the store retrieves its notes; the generation starts
 * from on_context. Owns the parsed body and the options. */
typedef struct {
    ed_request_t *req;
    bool chat;
    bool gone;                      /* the client left while retrieving */
    json_t *root;                   /* the request body */
    gen_options_t *opt;
    ed_buf_t query;                 /* the last user message, or the prompt; NUL-terminated */
} retrieval_t;

/* ------------------------------------------------------------- helpers --- */

static void random_bytes(void *buf, size_t n)
{
    if (getrandom(buf, n, 0) == (ssize_t)n)
        return;
    /* getrandom cannot fail for small requests once the pool is up; if it
     * does, a clock-seeded mix still gives distinct ids. */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t x = (uint64_t)ts.tv_sec * 1000000007u ^ (uint64_t)ts.tv_nsec;
    unsigned char *p = buf;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        p[i] = (unsigned char)x;
    }
}

static void make_id(char *out, size_t cap, const char *prefix)
{
    static const char alnum[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    unsigned char bytes[24];
    random_bytes(bytes, sizeof bytes);
    size_t n = strlen(prefix);
    if (n + sizeof bytes + 1 > cap)
        return;
    memcpy(out, prefix, n);
    for (size_t i = 0; i < sizeof bytes; i++)
        out[n + i] = alnum[bytes[i] % (sizeof alnum - 1)];
    out[n + sizeof bytes] = '\0';
}

static double per_second(int n, double ms) { return ms > 0 ? n * 1e3 / ms : 0.0; }

static const char *finish_reason(ed_finish_t finish)
{
    return finish == ED_FINISH_LENGTH ? "length" : "stop";
}

static json_t *usage_json(const ed_job_result_t *r)
{
    return json_pack("{s:i,s:i,s:i}", "prompt_tokens", r->n_prompt, "completion_tokens", r->n_generated,
                     "total_tokens", r->n_prompt + r->n_generated);
}

/* llama.cpp's timings object: prompt_n counts the prompt tokens evaluated
 * (the cached ones not), predicted_n the generated ones. */
static json_t *timings_json(const ed_job_result_t *r)
{
    int prompt_n = r->n_prompt - r->n_cached;
    return json_pack("{s:i,s:f,s:f,s:i,s:f,s:f,s:i}", "prompt_n", prompt_n, "prompt_ms", r->prompt_ms,
                     "prompt_per_second", per_second(prompt_n, r->prompt_ms), "predicted_n",
                     r->n_generated, "predicted_ms", r->generate_ms, "predicted_per_second",
                     per_second(r->n_generated, r->generate_ms), "cached_n", r->n_cached);
}

/* {id, object, created, model, choices}; `choices` is stolen. */
static json_t *envelope(const gen_t *g, const char *object, json_t *choices)
{
    return json_pack("{s:s,s:s,s:I,s:s,s:o}", "id", g->id, "object", object, "created",
                     (json_int_t)g->created, "model", g->model, "choices", choices);
}

/* A stream chunk with one choice: text (may be NULL: an empty delta) and a
 * finish reason (NULL while generating). The chat role chunk has role. */
static json_t *stream_chunk(const gen_t *g, const char *role, const char *text, size_t len,
                            const char *finish)
{
    json_t *choice;
    if (g->chat) {
        json_t *delta = json_object();
        if (role)
            json_object_set_new(delta, "role", json_string(role));
        if (text)
            json_object_set_new(delta, "content", ed_params_text(text, len));
        choice = json_pack("{s:i,s:o,s:s?,s:n}", "index", 0, "delta", delta, "finish_reason", finish,
                           "logprobs");
    } else {
        choice = json_pack("{s:i,s:o,s:s?,s:n}", "index", 0, "text", ed_params_text(text ? text : "", len),
                           "finish_reason", finish, "logprobs");
    }
    return envelope(g, g->chat ? "chat.completion.chunk" : "text_completion", json_pack("[o]", choice));
}

/* ------------------------------------------------------------ the job --- */

static void gen_free(gen_t *g)
{
    json_decref(g->citations);
    ed_buf_free(&g->text);
    free(g);
}

/* Ends the response (nothing reaches a client that left) and frees g. */
static void gen_end(gen_t *g)
{
    ed_request_t *req = g->req;
    if (req->streaming)
        ed_sse_end(req);
    else if (!req->responded)
        ed_api_end_gone(req);
    gen_free(g);
}

/* The client left (abort hook, or a send found the connection closed). */
static void gen_gone(gen_t *g)
{
    if (g->gone)
        return;
    g->gone = true;
    if (g->done) {
        gen_end(g);
        return;
    }
    if (g->held) {
        g->held = false;
        ed_engine_hold(g->engine, g->job, false);
    }
    ed_engine_cancel(g->engine, g->job); /* on_done follows and ends the response */
}

static void on_abort(ed_request_t *req, void *arg)
{
    (void)req;
    gen_gone(arg);
}

/* Sends the closing event of g->stage. 0, ED_EAGAIN or ED_ECLOSED. */
static int send_closing(gen_t *g)
{
    ed_request_t *req = g->req;
    const ed_job_result_t *r = &g->result;
    switch (g->stage) {
    case STAGE_FINISH:
        if (r->finish == ED_FINISH_STOP || r->finish == ED_FINISH_LENGTH)
            return ed_sse_send_json(req, stream_chunk(g, NULL, NULL, 0, finish_reason(r->finish)));
        /* The engine stopped or failed mid-stream: an error event, no [DONE]. */
        return ed_sse_send_json(
            req, json_pack("{s:{s:s,s:s,s:s}}", "error", "message",
                           r->finish == ED_FINISH_ERROR ? r->error : "the generation was cancelled: the daemon is stopping",
                           "type", "server_error", "code",
                           r->finish == ED_FINISH_ERROR ? "internal_error" : "not_ready"));
    case STAGE_USAGE:
        if (!g->include_usage)
            return 0;
        {
            json_t *chunk = envelope(g, g->chat ? "chat.completion.chunk" : "text_completion", json_array());
            json_object_set_new(chunk, "usage", usage_json(r));
            json_object_set_new(chunk, "timings", timings_json(r));
            return ed_sse_send_json(req, chunk);
        }
    case STAGE_DONE:
    default:
        return ed_sse_send(req, "[DONE]", 6);
    }
}

static void on_drained(ed_request_t *req, void *arg);

/* Sends what is due: text not sent yet, then, once the job is done, the
 * closing events and the end of the stream. Stops at backpressure (the
 * engine holds the job) and goes on from the drain callback. */
static void stream_pump(gen_t *g)
{
    for (;;) {
        int rc;
        if (g->text.len > 0) {
            rc = ed_sse_send_json(g->req, stream_chunk(g, NULL, g->text.data, g->text.len, NULL));
            if (rc == 0) {
                g->text.len = 0;
                if (g->held) {
                    g->held = false;
                    if (g->job)
                        ed_engine_hold(g->engine, g->job, false);
                }
                continue;
            }
        } else if (!g->done) {
            return;
        } else if (g->stage == STAGE_END) {
            gen_end(g);
            return;
        } else {
            rc = send_closing(g);
            if (rc == 0) {
                bool ok = g->result.finish == ED_FINISH_STOP || g->result.finish == ED_FINISH_LENGTH;
                g->stage = ok ? g->stage + 1 : STAGE_END;
                continue;
            }
        }
        if (rc == ED_EAGAIN) {
            if (g->job && !g->held) {
                g->held = true;
                ed_engine_hold(g->engine, g->job, true);
            }
            g->waiting = true;
            ed_sse_on_drain(g->req, on_drained, g);
            return;
        }
        gen_gone(g); /* ED_ECLOSED, or out of memory building an event */
        return;
    }
}

static void on_drained(ed_request_t *req, void *arg)
{
    (void)req;
    gen_t *g = arg;
    g->waiting = false;
    if (!g->gone)
        stream_pump(g);
}

static void on_text(ed_job_t *job, const char *text, size_t len, void *user)
{
    (void)job;
    gen_t *g = user;
    if (g->gone)
        return;
    ed_buf_append(&g->text, text, len);
    if (g->stream && !g->waiting)
        stream_pump(g);
}

/* Answers a non-streaming request from the finished job. */
static void respond_whole(gen_t *g)
{
    ed_request_t *req = g->req;
    const ed_job_result_t *r = &g->result;
    if (r->finish == ED_FINISH_ERROR) {
        ed_http_error(req, 500, "internal_error", "generation failed: %s", r->error);
        return;
    }
    if (r->finish == ED_FINISH_CANCELLED) {
        ed_http_add_header(req, "Retry-After", "5");
        ed_http_error(req, 503, "not_ready", "the generation was cancelled: the daemon is stopping");
        return;
    }
    if (ed_buf_failed(&g->text)) {
        ed_http_error(req, 500, "internal_error", "out of memory collecting the answer");
        return;
    }
    json_t *text = ed_params_text(g->text.len ? g->text.data : "", g->text.len);
    json_t *choice;
    if (g->chat)
        choice = json_pack("{s:i,s:{s:s,s:o},s:s,s:n}", "index", 0, "message", "role", "assistant", "content",
                           text, "finish_reason", finish_reason(r->finish), "logprobs");
    else
        choice = json_pack("{s:i,s:o,s:s,s:n}", "index", 0, "text", text, "finish_reason",
                           finish_reason(r->finish), "logprobs");
    json_t *body = envelope(g, g->chat ? "chat.completion" : "text_completion", json_pack("[o]", choice));
    if (body) {
        json_object_set_new(body, "usage", usage_json(r));
        json_object_set_new(body, "timings", timings_json(r));
        if (g->citations)
            json_object_set(body, "citations", g->citations);
    }
    ed_http_respond_json(req, 200, body);
}

static void on_done(ed_job_t *job, const ed_job_result_t *result, void *user)
{
    (void)job;
    gen_t *g = user;
    g->job = NULL;
    g->done = true;
    g->result = *result;
    g->result.embedding = NULL;
    if (g->gone) {
        gen_end(g);
    } else if (!g->stream) {
        respond_whole(g);
        gen_free(g);
    } else if (!g->waiting) {
        stream_pump(g);
    }
}

/* --------------------------------------------------------- the request --- */

/* stop: a string or up to ED_ENGINE_MAX_STOPS strings of at most
 * ED_ENGINE_MAX_STOP_LEN bytes. */
static int read_stops(const json_t *root, gen_options_t *opt, ed_param_error_t *err)
{
    const json_t *stop = json_object_get(root, "stop");
    if (!stop || json_is_null(stop))
        return 0;
    char got[64];
    if (json_is_string(stop)) {
        if (json_string_length(stop) > ED_ENGINE_MAX_STOP_LEN)
            return ed_params_fail(err, "invalid_value", "stop", "stop: a stop string is at most %d bytes, got %zu",
                                  ED_ENGINE_MAX_STOP_LEN, json_string_length(stop));
        opt->stops[opt->n_stops++] = json_string_value(stop);
        return 0;
    }
    if (!json_is_array(stop)) {
        ed_params_describe(stop, got, sizeof got);
        return ed_params_fail(err, "invalid_type", "stop", "stop: expected a string or an array of strings, got %s", got);
    }
    if (json_array_size(stop) > ED_ENGINE_MAX_STOPS)
        return ed_params_fail(err, "invalid_value", "stop", "stop: at most %d stop strings, got %zu",
                              ED_ENGINE_MAX_STOPS, json_array_size(stop));
    size_t i;
    const json_t *item;
    json_array_foreach(stop, i, item) {
        char param[32];
        snprintf(param, sizeof param, "stop[%zu]", i);
        if (!json_is_string(item)) {
            ed_params_describe(item, got, sizeof got);
            return ed_params_fail(err, "invalid_type", param, "%s: expected a string, got %s", param, got);
        }
        if (json_string_length(item) > ED_ENGINE_MAX_STOP_LEN)
            return ed_params_fail(err, "invalid_value", param, "%s: a stop string is at most %d bytes, got %zu",
                                  param, ED_ENGINE_MAX_STOP_LEN, json_string_length(item));
        opt->stops[opt->n_stops++] = json_string_value(item);
    }
    return 0;
}

/* logit_bias: {"token id": bias in [-100, 100]}, ids within the vocabulary. */
static int read_logit_bias(const json_t *root, int n_vocab, gen_options_t *opt, ed_param_error_t *err)
{
    const json_t *bias = json_object_get(root, "logit_bias");
    if (!bias || json_is_null(bias))
        return 0;
    char got[64];
    if (!json_is_object(bias)) {
        ed_params_describe(bias, got, sizeof got);
        return ed_params_fail(err, "invalid_type", "logit_bias",
                              "logit_bias: expected an object of token id -> bias, got %s", got);
    }
    if (json_object_size(bias) > ED_SAMPLER_MAX_BIAS)
        return ed_params_fail(err, "invalid_value", "logit_bias", "logit_bias: at most %d entries, got %zu",
                              ED_SAMPLER_MAX_BIAS, json_object_size(bias));
    const char *key;
    const json_t *value;
    json_object_foreach((json_t *)bias, key, value) {
        char *end;
        errno = 0;
        long id = strtol(key, &end, 10);
        if (end == key || *end || errno || id < 0 || id >= n_vocab)
            return ed_params_fail(err, "invalid_value", "logit_bias",
                                  "logit_bias: \"%.32s\" is not a token id between 0 and %d", key, n_vocab - 1);
        if (!json_is_number(value)) {
            ed_params_describe(value, got, sizeof got);
            return ed_params_fail(err, "invalid_type", "logit_bias",
                                  "logit_bias: the bias of token %ld: expected a number, got %s", id, got);
        }
        double b = json_number_value(value);
        if (b < -100 || b > 100)
            return ed_params_fail(err, "invalid_value", "logit_bias",
                                  "logit_bias: the bias of token %ld: expected a number between -100 and 100, got %g",
                                  id, b);
        opt->bias[opt->sampling.n_bias++] = (ed_logit_bias_t){(int32_t)id, (float)b};
    }
    return 0;
}

/* Every option but the prompt. Defaults: OpenAI's (temperature 1, top_p 1),
 * samplers beyond OpenAI's off, a random seed. */
static int read_options(const json_t *root, const ed_engine_model_t *model, const ed_config_t *cfg,
                        gen_options_t *opt, ed_param_error_t *err)
{
    double temperature = 1.0, top_p = 1.0, min_p = 0.0, repeat_penalty = 1.0, presence = 0.0, frequency = 0.0;
    int64_t top_k = 0, n = 1, seed;
    random_bytes(&seed, sizeof seed);
    int64_t limit = cfg->engine.max_tokens_limit;
    opt->max_tokens = cfg->engine.max_tokens_default < limit ? cfg->engine.max_tokens_default : limit;
    const json_t *options = json_object_get(root, "stream_options");
    if (options && !json_is_null(options) && !json_is_object(options)) {
        char got[64];
        ed_params_describe(options, got, sizeof got);
        return ed_params_fail(err, "invalid_type", "stream_options", "stream_options: expected an object, got %s", got);
    }
    if (ed_params_number(root, "temperature", 0, 2, false, &temperature, err) < 0 ||
        ed_params_number(root, "top_p", 0, 1, true, &top_p, err) < 0 ||
        ed_params_number(root, "min_p", 0, 1, false, &min_p, err) < 0 ||
        ed_params_number(root, "repeat_penalty", 0, INFINITY, true, &repeat_penalty, err) < 0 ||
        ed_params_number(root, "presence_penalty", -2, 2, false, &presence, err) < 0 ||
        ed_params_number(root, "frequency_penalty", -2, 2, false, &frequency, err) < 0 ||
        ed_params_integer(root, "top_k", 0, INT32_MAX, &top_k, err) < 0 ||
        ed_params_integer(root, "seed", INT64_MIN, INT64_MAX, &seed, err) < 0 ||
        ed_params_integer(root, "n", INT64_MIN, INT64_MAX, &n, err) < 0 ||
        ed_params_integer(root, "max_tokens", 1, limit, &opt->max_tokens, err) < 0 ||
        ed_params_integer(root, "max_completion_tokens", 1, limit, &opt->max_tokens, err) < 0 ||
        ed_params_bool(root, "stream", &opt->stream, err) < 0 ||
        ed_params_bool(root, "stream_options.include_usage", &opt->include_usage, err) < 0)
        return ED_EINVAL;
    if (n != 1)
        return ed_params_fail(err, "invalid_value", "n", "n: only 1 choice per request is supported, got %lld",
                              (long long)n);
    ed_sampler_params_t *s = &opt->sampling;
    *s = ed_sampler_defaults();
    s->temperature = (float)temperature;
    s->top_k = (int32_t)top_k;
    s->top_p = (float)top_p;
    s->min_p = (float)min_p;
    s->repeat_penalty = (float)repeat_penalty;
    s->presence_penalty = (float)presence;
    s->frequency_penalty = (float)frequency;
    s->seed = (uint64_t)seed;
    s->bias = opt->bias;
    s->n_bias = 0;
    opt->n_stops = 0;
    if (read_stops(root, opt, err) < 0 || read_logit_bias(root, model->n_vocab, opt, err) < 0)
        return ED_EINVAL;
    return 0;
}

/* One message's content: a string, or an array of {type: "text", text}
 * parts, joined into `joined`. Sets *content and *len, or *at (an offset into
 * joined, fixed up once joined stops growing). */
static int read_content(const json_t *message, size_t index, ed_buf_t *joined, const char **content,
                        size_t *len, size_t *at, ed_param_error_t *err)
{
    char param[64], got[64];
    snprintf(param, sizeof param, "messages[%zu].content", index);
    const json_t *value = json_object_get(message, "content");
    if (!value || json_is_null(value))
        return ed_params_fail(err, "missing_field", param, "%s: this field is required", param);
    if (json_is_string(value)) {
        *content = json_string_value(value);
        *len = json_string_length(value);
        return 0;
    }
    if (!json_is_array(value)) {
        ed_params_describe(value, got, sizeof got);
        return ed_params_fail(err, "invalid_type", param, "%s: expected a string or an array of text parts, got %s",
                              param, got);
    }
    *at = joined->len;
    size_t i;
    const json_t *part;
    json_array_foreach(value, i, part) {
        char part_param[96];
        snprintf(part_param, sizeof part_param, "%s[%zu]", param, i);
        const json_t *type = json_object_get(part, "type"), *text = json_object_get(part, "text");
        if (!json_is_object(part) || !json_is_string(type)) {
            ed_params_describe(part, got, sizeof got);
            return ed_params_fail(err, "invalid_type", part_param,
                                  "%s: expected an object {\"type\": \"text\", \"text\": ...}, got %s", part_param, got);
        }
        if (strcmp(json_string_value(type), "text") != 0) {
            strcat(part_param, ".type");
            return ed_params_fail(err, "invalid_value", part_param, "%s: only \"text\" parts are supported, got \"%.32s\"",
                                  part_param, json_string_value(type));
        }
        if (!json_is_string(text)) {
            strcat(part_param, ".text");
            if (!text || json_is_null(text))
                return ed_params_fail(err, "missing_field", part_param, "%s: this field is required", part_param);
            ed_params_describe(text, got, sizeof got);
            return ed_params_fail(err, "invalid_type", part_param, "%s: expected a string, got %s", part_param, got);
        }
        ed_buf_append(joined, json_string_value(text), json_string_length(text));
    }
    *len = joined->len - *at;
    return 0;
}

/* The system message that carries the notes: the conversation's own system
 * text (when it opens with one), then the instruction and the notes. */
static void notes_system(const ed_chat_message_t *first, const ed_retrieve_context_t *notes, ed_buf_t *out)
{
    if (first->role == ED_CHAT_SYSTEM && first->len > 0) {
        ed_buf_append(out, first->content, first->len);
        ed_buf_puts(out, "\n\n");
    }
    ed_buf_puts(out, RAG_INSTRUCTION);
    ed_buf_append(out, notes->text, notes->len);
}

/* messages -> the prompt text of the model's chat family (malloc'd). With
 * notes, a system message carrying them opens the conversation, merged with
 * the conversation's own system message. */
static int render_chat(const json_t *root, const ed_engine_model_t *model, const ed_retrieve_context_t *notes,
                       char **out, size_t *n_out, ed_text_span_t **spans_out, size_t *n_spans_out,
                       ed_param_error_t *err)
{
    char got[64];
    const json_t *messages = json_object_get(root, "messages");
    if (!messages || json_is_null(messages))
        return ed_params_fail(err, "missing_field", "messages", "messages: this field is required");
    if (!json_is_array(messages)) {
        ed_params_describe(messages, got, sizeof got);
        return ed_params_fail(err, "invalid_type", "messages", "messages: expected an array of messages, got %s", got);
    }
    size_t n = json_array_size(messages);
    if (n == 0)
        return ed_params_fail(err, "invalid_value", "messages", "messages: expected at least one message");
    /* list[0] is kept free for the notes' system message */
    ed_chat_message_t *list = calloc(n + 1, sizeof *list), *messages_list = list ? list + 1 : NULL;
    size_t *joined_at = malloc(n * sizeof *joined_at);
    ed_buf_t joined, system;
    ed_buf_init(&joined);
    ed_buf_init(&system);
    char *text = NULL;
    int rc = list && joined_at ? 0 : ED_ENOMEM;
    size_t total = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const json_t *message = json_array_get(messages, i);
        char param[48];
        snprintf(param, sizeof param, "messages[%zu]", i);
        if (!json_is_object(message)) {
            ed_params_describe(message, got, sizeof got);
            rc = ed_params_fail(err, "invalid_type", param, "%s: expected an object with role and content, got %s",
                                param, got);
            break;
        }
        const json_t *role = json_object_get(message, "role");
        strcat(param, ".role");
        if (!role || json_is_null(role)) {
            rc = ed_params_fail(err, "missing_field", param, "%s: this field is required", param);
            break;
        }
        if (!json_is_string(role)) {
            ed_params_describe(role, got, sizeof got);
            rc = ed_params_fail(err, "invalid_type", param, "%s: expected a string, got %s", param, got);
            break;
        }
        const char *name = json_string_value(role);
        if (strcmp(name, "developer") == 0) /* OpenAI's newer name for the system role */
            name = "system";
        if (ed_chat_role_from_name(name, strlen(name), &messages_list[i].role) < 0) {
            rc = ed_params_fail(err, "invalid_value", param,
                                "%s: expected \"system\", \"user\" or \"assistant\", got \"%.32s\"", param, name);
            break;
        }
        joined_at[i] = SIZE_MAX;
        rc = read_content(message, i, &joined, &messages_list[i].content, &messages_list[i].len, &joined_at[i], err);
        total += messages_list[i].len;
    }
    if (rc == 0 && ed_buf_failed(&joined))
        rc = ED_ENOMEM;
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (joined_at[i] != SIZE_MAX)
            messages_list[i].content = joined.data + joined_at[i];
    ed_chat_message_t *first = messages_list;
    size_t n_list = n;
    if (rc == 0 && notes) {
        notes_system(&messages_list[0], notes, &system);
        if (ed_buf_failed(&system))
            rc = ED_ENOMEM;
        if (messages_list[0].role != ED_CHAT_SYSTEM)
            first = list, n_list = n + 1;
        first[0] = (ed_chat_message_t){.role = ED_CHAT_SYSTEM, .content = system.data, .len = system.len};
        total += system.len;
    }
    size_t cap = total + 64 * (n_list + 2), len = 0, n_spans = 0;
    /* where each message's text lands: control tokens spelled there stay text */
    ed_text_span_t *spans = rc == 0 ? malloc((n_list + 1) * sizeof *spans) : NULL;
    if (rc == 0 && !spans)
        rc = ED_ENOMEM;
    while (rc == 0) {
        char *grown = realloc(text, cap);
        if (!grown) {
            rc = ED_ENOMEM;
            break;
        }
        text = grown;
        rc = ed_chat_format_spans(model->chat, model->bos_text, model->eos_text, first, n_list, true, text, cap,
                                  &len, spans, &n_spans);
        if (rc == ED_ERANGE) {
            cap = len;
            rc = 0;
            continue;
        }
        break;
    }
    ed_buf_free(&system);
    ed_buf_free(&joined);
    free(joined_at);
    free(list);
    if (rc < 0) {
        free(text);
        free(spans);
        return rc;
    }
    *out = text;
    *n_out = len;
    *spans_out = spans;
    *n_spans_out = n_spans;
    return 0;
}

/* prompt: a string, or an array of exactly one string. */
static int read_prompt(const json_t *root, const char **text, size_t *len, ed_param_error_t *err)
{
    const json_t *prompt = json_object_get(root, "prompt");
    if (json_is_array(prompt)) {
        if (json_array_size(prompt) != 1)
            return ed_params_fail(err, "invalid_value", "prompt",
                                  "prompt: only one prompt per request is supported, got an array of %zu",
                                  json_array_size(prompt));
        prompt = json_array_get(prompt, 0);
        if (!json_is_string(prompt)) {
            char got[64];
            ed_params_describe(prompt, got, sizeof got);
            return ed_params_fail(err, "invalid_type", "prompt", "prompt: expected a string, got [%s]", got);
        }
        *text = json_string_value(prompt);
        *len = json_string_length(prompt);
        return 0;
    }
    return ed_params_string(root, "prompt", true, text, len, err);
}

/* rag: {collections, top_k, max_context_tokens}, each optional. */
static int read_rag(const json_t *root, const ed_engine_model_t *model, const ed_config_t *cfg, rag_options_t *rag,
                    ed_param_error_t *err)
{
    const json_t *value = json_object_get(root, "rag");
    char got[64];
    if (!value || json_is_null(value))
        return 0;
    if (!json_is_object(value)) {
        ed_params_describe(value, got, sizeof got);
        return ed_params_fail(err, "invalid_type", "rag",
                              "rag: expected an object {collections, top_k, max_context_tokens}, got %s", got);
    }
    const char *key;
    const json_t *field;
    json_object_foreach((json_t *)value, key, field) {
        if (strcmp(key, "collections") != 0 && strcmp(key, "top_k") != 0 && strcmp(key, "max_context_tokens") != 0)
            return ed_params_fail(err, "invalid_value", "rag",
                                  "rag: unknown field \"%.32s\" (expected collections, top_k, max_context_tokens)",
                                  key);
    }
    rag->on = true;
    rag->top_k = cfg->rag.top_k < 1 ? 1 : cfg->rag.top_k > RAG_MAX_TOP_K ? RAG_MAX_TOP_K : cfg->rag.top_k;
    rag->max_context_tokens = 0;
    if (ed_params_integer(root, "rag.top_k", 1, RAG_MAX_TOP_K, &rag->top_k, err) < 0 ||
        ed_params_integer(root, "rag.max_context_tokens", 1, model->n_ctx / 2, &rag->max_context_tokens, err) < 0)
        return ED_EINVAL;
    const json_t *list = json_object_get(value, "collections");
    if (!list || json_is_null(list))
        return 0;
    if (!json_is_array(list)) {
        ed_params_describe(list, got, sizeof got);
        return ed_params_fail(err, "invalid_type", "rag.collections",
                              "rag.collections: expected an array of collection names, got %s", got);
    }
    if (json_array_size(list) > RAG_MAX_COLLECTIONS)
        return ed_params_fail(err, "invalid_value", "rag.collections", "rag.collections: at most %d names, got %zu",
                              RAG_MAX_COLLECTIONS, json_array_size(list));
    size_t i;
    const json_t *name;
    json_array_foreach(list, i, name) {
        char param[48];
        snprintf(param, sizeof param, "rag.collections[%zu]", i);
        if (!json_is_string(name)) {
            ed_params_describe(name, got, sizeof got);
            return ed_params_fail(err, "invalid_type", param, "%s: expected a collection name, got %s", param, got);
        }
        size_t len = json_string_length(name);
        if (len == 0 || len >= sizeof ((ed_rag_hit_t *)0)->collection ||
            memchr(json_string_value(name), '\0', len))
            return ed_params_fail(err, "invalid_value", param, "%s: a collection name is 1 to %zu bytes of text",
                                  param, sizeof ((ed_rag_hit_t *)0)->collection - 1);
        rag->collections[rag->n_collections++] = json_string_value(name);
    }
    return 0;
}

/* The text to search the notes with: the last user message (chat; its parts
 * joined), or the prompt. The request was read once already. */
static int read_query(const json_t *root, bool chat, ed_buf_t *out, ed_param_error_t *err)
{
    if (!chat) {
        const char *text = NULL;
        size_t len = 0;
        int rc = read_prompt(root, &text, &len, err);
        if (rc < 0)
            return rc;
        ed_buf_append(out, text, len);
    } else {
        const json_t *messages = json_object_get(root, "messages");
        const json_t *user = NULL;
        for (size_t i = json_array_size(messages); i > 0 && !user; i--) {
            const json_t *message = json_array_get(messages, i - 1);
            const char *role = json_string_value(json_object_get(message, "role"));
            if (role && strcmp(role, "user") == 0)
                user = message;
        }
        if (!user)
            return ed_params_fail(err, "invalid_value", "messages",
                                  "messages: rag needs a user message to search the notes with");
        const json_t *content = json_object_get(user, "content");
        if (json_is_string(content)) {
            ed_buf_append(out, json_string_value(content), json_string_length(content));
        } else {
            size_t i;
            const json_t *part;
            json_array_foreach(content, i, part) {
                const json_t *text = json_object_get(part, "text");
                ed_buf_append(out, json_string_value(text), json_string_length(text));
            }
        }
    }
    ed_buf_append(out, "", 1);
    if (ed_buf_failed(out))
        return ED_ENOMEM;
    out->len--;
    return 0;
}

/* The prompt tokens of a request whose options were read: the rendered
 * messages or the prompt, with the notes when given (completions: the block
 * before the prompt), then max_tokens clamped to what the context leaves. */
static int build_prompt(const json_t *root, bool chat, const ed_engine_model_t *model,
                        const ed_retrieve_context_t *notes, gen_options_t *opt, int32_t **prompt, int *n_prompt,
                        ed_param_error_t *err)
{
    int rc;
    if (chat) {
        char *text = NULL;
        ed_text_span_t *spans = NULL;
        size_t len = 0, n_spans = 0;
        rc = render_chat(root, model, notes, &text, &len, &spans, &n_spans, err);
        if (rc == 0)
            rc = ed_params_prompt(model, text, len, spans, n_spans, "messages", prompt, n_prompt, err);
        free(text);
        free(spans);
    } else {
        const char *text = NULL;
        size_t len = 0;
        rc = read_prompt(root, &text, &len, err);
        if (rc == 0 && notes) {
            ed_buf_t joined;
            ed_buf_init(&joined);
            ed_buf_append(&joined, notes->text, notes->len);
            ed_buf_puts(&joined, "\n\n");
            ed_buf_append(&joined, text, len);
            rc = ed_buf_failed(&joined) ? ED_ENOMEM
                                        : ed_params_prompt(model, joined.data, joined.len, NULL, 0, "prompt", prompt,
                                                           n_prompt, err);
            ed_buf_free(&joined);
        } else if (rc == 0) {
            rc = ed_params_prompt(model, text, len, NULL, 0, "prompt", prompt, n_prompt, err);
        }
    }
    if (rc < 0)
        return rc;
    if (opt->max_tokens > model->n_ctx - *n_prompt)
        opt->max_tokens = model->n_ctx - *n_prompt;
    return 0;
}

/* Submits the generation of prompt[0, n_prompt) and starts the stream;
 * citations (stolen, may be NULL) go with the answer. */
static void start_generation(ed_request_t *req, bool chat, const ed_engine_model_t *model, const gen_options_t *opt,
                             int32_t *prompt, int n_prompt, json_t *citations)
{
    ed_app_t *app = req->app;
    gen_t *g = calloc(1, sizeof *g);
    if (!g) {
        json_decref(citations);
        ed_params_refuse(req, ED_ENOMEM, NULL);
        return;
    }
    g->req = req;
    g->engine = app->engine;
    g->chat = chat;
    g->stream = opt->stream;
    g->include_usage = opt->include_usage;
    g->created = (int64_t)time(NULL);
    g->model = model->name;
    g->citations = citations;
    make_id(g->id, sizeof g->id, chat ? "chatcmpl-" : "cmpl-");
    ed_buf_init(&g->text);
    ed_job_params_t params = {
        .kind = ED_JOB_GENERATE,
        .prompt = prompt,
        .n_prompt = n_prompt,
        .sampling = opt->sampling,
        .max_tokens = (int)opt->max_tokens,
        .stops = opt->stops,
        .n_stops = opt->n_stops,
    };
    ed_job_callbacks_t callbacks = {on_text, on_done};
    char detail[ED_ERR_LEN] = "";
    int rc = ed_engine_submit(app->engine, &params, &callbacks, g, &g->job, detail);
    if (rc < 0) {
        ed_params_submit_failed(req, rc, detail);
        gen_free(g);
        return;
    }
    ed_request_on_abort(req, on_abort, g);
    if (g->stream) {
        rc = ed_sse_start(req);
        /* the first chunk: the chat role, and the citations when there are any */
        if (rc == 0 && (chat || g->citations)) {
            json_t *first = stream_chunk(g, chat ? "assistant" : NULL, "", 0, NULL);
            if (first && g->citations)
                json_object_set(first, "citations", g->citations);
            rc = ed_sse_send_json(req, first);
        }
        if (rc < 0)
            gen_gone(g);
    }
}

/* ------------------------------------------------------- retrieval --- */

static void retrieval_free(retrieval_t *r)
{
    ed_buf_free(&r->query);
    json_decref(r->root);
    free(r->opt);
    free(r);
}

static void retrieval_abort(ed_request_t *req, void *arg)
{
    (void)req;
    ((retrieval_t *)arg)->gone = true;
}

/* The store's counter of the notes' tokens: the chat model's tokenizer
 * (arg: the engine's model, whose tokenizer any thread may use; this runs
 * on the store's worker). */
static int count_tokens(const char *text, size_t len, void *arg)
{
    const ed_engine_model_t *model = arg;
    size_t n = 0;
    int rc = ed_tokenizer_encode(model->vocab, text, len, false, false, NULL, 0, &n);
    if (rc < 0 && rc != ED_ERANGE)
        return ed_chunker_estimate_tokens(text, len, NULL);
    return n > INT32_MAX ? INT32_MAX : (int)n;
}

/* Answers a failed retrieval with the store's status. */
static void rag_failed(ed_request_t *req, int rc, const char *detail)
{
    const char *message = detail && *detail ? detail : ed_strerror(rc);
    switch (rc) {
    case ED_ENOENT:
        ed_http_error(req, 404, "not_found", "rag: %s", message);
        break;
    case ED_EACCES:
        ed_http_error(req, 403, "forbidden", "rag: %s", message);
        break;
    case ED_EINVAL:
    case ED_EFORMAT:
        ed_http_error(req, 400, "invalid_value", "rag: %s", message);
        break;
    case ED_EBUSY:
        ed_http_add_header(req, "Retry-After", "1");
        ed_http_error(req, 503, "queue_full", "rag: the store is busy: %s", message);
        break;
    case ED_EAGAIN:
        ed_http_add_header(req, "Retry-After", "1");
        ed_http_error(req, 503, "store_opening", "rag: %s", message);
        break;
    case ED_EREADONLY:
    case ED_ESTATE:
        ed_http_error(req, 503, "store_unavailable", "rag: %s", message);
        break;
    default:
        ed_http_error(req, 500, "internal_error", "rag: retrieval failed: %s", message);
        break;
    }
}

/* [{number, document_id, chunk_index, title, score}] in the order the model
 * sees the notes. NULL when out of memory. */
static json_t *citations_json(const ed_retrieve_context_t *context)
{
    json_t *list = json_array();
    for (int i = 0; list && i < context->n_citations; i++) {
        const ed_citation_t *c = &context->citations[i];
        const char *title = c->title ? c->title : "";
        json_t *item = json_pack("{s:i,s:I,s:i,s:o,s:f}", "number", c->number, "document_id", (json_int_t)c->doc_id,
                                 "chunk_index", c->chunk_index, "title", ed_params_text(title, strlen(title)),
                                 "score", c->score);
        if (json_array_append_new(list, item) < 0) {
            json_decref(list);
            list = NULL;
        }
    }
    return list;
}

static void on_context(int rc, const char *detail, const ed_retrieve_context_t *context, const ed_rag_hit_t *hits,
                       int n_hits, void *arg)
{
    (void)hits;
    (void)n_hits;
    retrieval_t *r = arg;
    ed_request_t *req = r->req;
    ed_request_on_abort(req, NULL, NULL);
    int32_t *prompt = NULL;
    int n_prompt = 0;
    if (r->gone) {
        ed_api_end_gone(req);
        goto done;
    }
    if (rc < 0) {
        rag_failed(req, rc, detail);
        goto done;
    }
    const ed_engine_model_t *model = ed_params_require_model(req);
    if (!model)
        goto done;
    json_t *citations = citations_json(context);
    ed_param_error_t err;
    rc = citations ? build_prompt(r->root, r->chat, model, context->n_citations > 0 ? context : NULL, r->opt,
                                  &prompt, &n_prompt, &err)
                   : ED_ENOMEM;
    if (rc < 0) {
        json_decref(citations);
        ed_params_refuse(req, rc, &err);
        goto done;
    }
    start_generation(req, r->chat, model, r->opt, prompt, n_prompt, citations);
done:
    free(prompt);
    retrieval_free(r);
}

/* Retrieves the notes for a request that asked for them (its body `root`
 * and options `opt` are taken over); on_context generates the answer. */
static void start_retrieval(ed_request_t *req, bool chat, const ed_engine_model_t *model, json_t *root,
                            gen_options_t *opt)
{
    ed_app_t *app = req->app;
    retrieval_t *r = calloc(1, sizeof *r);
    if (!r) {
        json_decref(root);
        free(opt);
        ed_params_refuse(req, ED_ENOMEM, NULL);
        return;
    }
    *r = (retrieval_t){.req = req, .chat = chat, .root = root, .opt = opt};
    ed_buf_init(&r->query);
    if (!app->rag) {
        ed_http_error(req, 503, "store_unavailable",
                      "rag: the personal store is not open (the daemon's log says why)");
        retrieval_free(r);
        return;
    }
    ed_param_error_t err;
    int rc = read_query(root, chat, &r->query, &err);
    if (rc < 0) {
        ed_params_refuse(req, rc, &err);
        retrieval_free(r);
        return;
    }
    ed_rag_caller_t caller = {(uint32_t)req->peer.uid, (uint32_t)req->peer.gid};
    const rag_options_t *rag = &opt->rag;
    char detail[ED_ERR_LEN] = "";
    ed_request_on_abort(req, retrieval_abort, r);
    rc = ed_rag_retrieve(app->rag, &caller, r->query.data, rag->n_collections ? rag->collections : NULL,
                         rag->n_collections, (int)rag->top_k, (int)rag->max_context_tokens, model->n_ctx,
                         count_tokens, (void *)model, on_context, r, detail);
    if (rc < 0) {
        ed_request_on_abort(req, NULL, NULL);
        rag_failed(req, rc, detail);
        retrieval_free(r);
    }
}

/* A request whose options were read (loop thread) until its prompt is
 * tokenized (a pool thread: a prompt may be megabytes; api/work.h). With
 * notes, the prompt is built again after retrieval, on the loop thread:
 * by then it is known to fit the context, so that costs little. */
typedef struct {
    bool chat;
    const ed_engine_model_t *model; /* lives as long as the engine */
    json_t *root;                   /* the request body */
    gen_options_t *opt;
    int rc;                         /* of build_prompt */
    ed_param_error_t err;
    int32_t *prompt;
    int n_prompt;
} prompt_job_t;

static void prompt_run(void *arg)
{
    prompt_job_t *p = arg;
    p->rc = build_prompt(p->root, p->chat, p->model, NULL, p->opt, &p->prompt, &p->n_prompt, &p->err);
}

static void prompt_done(ed_request_t *req, void *arg, bool gone)
{
    prompt_job_t *p = arg;
    if (gone) {
        ed_api_end_gone(req);
    } else if (p->rc < 0) {
        ed_params_refuse(req, p->rc, &p->err);
    } else if (p->opt->rag.on) {
        start_retrieval(req, p->chat, p->model, p->root, p->opt);
        p->root = NULL;
        p->opt = NULL;
    } else {
        start_generation(req, p->chat, p->model, p->opt, p->prompt, p->n_prompt, NULL);
    }
    free(p->prompt);
    free(p->opt);
    json_decref(p->root);
    free(p);
}

static void generate(ed_request_t *req, bool chat)
{
    const ed_engine_model_t *model = ed_params_require_model(req);
    if (!model)
        return;
    ed_app_t *app = req->app;
    const ed_config_t *cfg = &app->server->cfg;
    prompt_job_t *p = calloc(1, sizeof *p);
    gen_options_t *opt = p ? calloc(1, sizeof *opt) : NULL;
    int rc = opt ? ed_params_load(req->body, req->body_len, &p->root, &p->err) : ED_ENOMEM;
    if (rc == 0)
        rc = read_options(p->root, model, cfg, opt, &p->err);
    if (rc == 0)
        rc = read_rag(p->root, model, cfg, &opt->rag, &p->err);
    if (rc == 0) {
        /* the whole request is read before retrieving: a bad one answers at once */
        *p = (prompt_job_t){.chat = chat, .model = model, .root = p->root, .opt = opt};
        ed_api_offload(req, prompt_run, prompt_done, p);
        return;
    }
    ed_params_refuse(req, rc, p ? &p->err : NULL);
    free(opt);
    if (p)
        json_decref(p->root);
    free(p);
}

void ed_api_chat_completions(ed_request_t *req) { generate(req, true); }

void ed_api_completions(ed_request_t *req) { generate(req, false); }

void ed_api_models(ed_request_t *req)
{
    ed_app_t *app = req->app;
    const char *reason;
    json_t *data = json_array();
    if (ed_params_engine_state(req, &reason) == ED_ENGINE_READY) {
        const ed_engine_model_t *m = ed_engine_model(app->engine);
        json_array_append_new(data, json_pack("{s:s,s:s,s:I,s:s}", "id", m->name, "object", "model", "created",
                                              (json_int_t)m->created, "owned_by", "edged"));
    }
    int64_t created = 0;
    const char *embedder = app->rag ? ed_rag_embedder(app->rag, NULL, &created) : NULL;
    /* a separate embedding model (rag.embedder = model) is one more model to
     * name in /v1/embeddings; the built-in hash embedder and the chat model's
     * own states are not models of their own */
    if (embedder && strncmp(embedder, "model:", 6) == 0)
        json_array_append_new(data, json_pack("{s:s,s:s,s:I,s:s}", "id", embedder, "object", "model", "created",
                                              (json_int_t)created, "owned_by", "edged"));
    ed_http_respond_json(req, 200, json_pack("{s:s,s:o}", "object", "list", "data", data));
}
