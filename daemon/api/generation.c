/* generation.c - see generation.h: one generation job from submit until its
 * response ends (a whole answer, or an SSE stream whose pace follows the
 * client: the engine holds the job while the socket drains), in the OpenAI
 * wire format, with llama.cpp's reasoning_content for a think block when
 * the request asks (api/reasoning.h). */
#include "api/generation.h"
#include "api/adapters.h"
#include "api/api.h"
#include "api/params.h"
#include "api/status.h"
#include "api/work.h"
#include "core/buf.h"
#include "http/sse.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

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
    const char *model;      /* the served model's id, or model_name */
    char model_name[320];   /* with an adapter: "BASE:NAME" */
    ed_engine_adapter_t *adapter; /* the adapter answering (a reference), NULL: the base alone */
    ed_buf_t text;          /* the whole answer, or (streaming) text not sent yet */
    bool split;             /* reasoning_format "deepseek" on a chat request: the think block goes apart */
    ed_reasoning_t splitter;
    ed_buf_t reasoning;     /* with split: the think block's text (streaming: not sent yet) */
    ed_job_result_t result; /* copied in on_done */
    json_t *citations;      /* [{number, document_id, chunk_index, title, score}] with rag, else NULL */
} gen_t;

/* ------------------------------------------------------------- helpers --- */

static void make_id(char *out, size_t cap, const char *prefix)
{
    static const char alnum[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    unsigned char bytes[24];
    ed_infer_random_bytes(bytes, sizeof bytes);
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

/* {id, object, created, model, adapter, choices}; `choices` is stolen.
 * adapter: "name@version" of the adapter that answered, null for none. */
static json_t *envelope(const gen_t *g, const char *object, json_t *choices)
{
    const char *adapter = g->adapter ? ed_engine_adapter_label(g->adapter) : NULL;
    return json_pack("{s:s,s:s,s:I,s:s,s:o,s:o}", "id", g->id, "object", object, "created",
                     (json_int_t)g->created, "model", g->model, "adapter",
                     adapter ? ed_params_text(adapter, strlen(adapter)) : json_null(), "choices", choices);
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

/* A chat stream chunk whose delta carries reasoning text. */
static json_t *reasoning_chunk(const gen_t *g, const char *text, size_t len)
{
    json_t *choice = json_pack("{s:i,s:{s:o},s:n,s:n}", "index", 0, "delta", "reasoning_content",
                               ed_params_text(text, len), "finish_reason", "logprobs");
    return envelope(g, "chat.completion.chunk", json_pack("[o]", choice));
}

/* ------------------------------------------------------------ the job --- */

static void gen_free(gen_t *g)
{
    ed_engine_adapter_release(g->adapter);
    json_decref(g->citations);
    ed_buf_free(&g->text);
    ed_buf_free(&g->reasoning);
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
        if (g->reasoning.len > 0 || g->text.len > 0) {
            /* reasoning first: it came before the text held beside it */
            bool thought = g->reasoning.len > 0;
            rc = ed_sse_send_json(g->req, thought ? reasoning_chunk(g, g->reasoning.data, g->reasoning.len)
                                                  : stream_chunk(g, NULL, g->text.data, g->text.len, NULL));
            if (rc == 0) {
                (thought ? &g->reasoning : &g->text)->len = 0;
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
    if (g->split)
        ed_reasoning_feed(&g->splitter, text, len, &g->text, &g->reasoning);
    else
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
        ed_api_fail(req, ED_ECANCELED, ED_API_MODEL, NULL, "the generation was cancelled: the daemon is stopping");
        return;
    }
    if (ed_buf_failed(&g->text) || ed_buf_failed(&g->reasoning)) {
        ed_http_error(req, 500, "internal_error", "out of memory collecting the answer");
        return;
    }
    json_t *text = ed_params_text(g->text.len ? g->text.data : "", g->text.len);
    json_t *choice;
    if (g->chat) {
        choice = json_pack("{s:i,s:{s:s,s:o},s:s,s:n}", "index", 0, "message", "role", "assistant", "content",
                           text, "finish_reason", finish_reason(r->finish), "logprobs");
        if (choice && g->reasoning.len > 0)
            json_object_set_new(json_object_get(choice, "message"), "reasoning_content",
                                ed_params_text(g->reasoning.data, g->reasoning.len));
    }
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
    if (g->split && !g->gone)
        ed_reasoning_finish(&g->splitter, &g->text, &g->reasoning);
    ed_adapters_count(((ed_app_t *)g->req->app)->adapters, g->adapter, 0, result->n_generated);
    if (g->gone) {
        gen_end(g);
    } else if (!g->stream) {
        respond_whole(g);
        gen_free(g);
    } else if (!g->waiting) {
        stream_pump(g);
    }
}


/* ---------------------------------------------------------- the start --- */

void ed_generation_start(ed_request_t *req, bool chat, const ed_engine_model_t *model, const ed_infer_options_t *opt,
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
    if (opt->picked) {
        ed_engine_adapter_retain(opt->picked);
        g->adapter = opt->picked;
        const char *label = ed_engine_adapter_label(opt->picked), *at = strrchr(label, '@');
        snprintf(g->model_name, sizeof g->model_name, "%s:%.*s", model->name,
                 at ? (int)(at - label) : (int)strlen(label), label);
        g->model = g->model_name;
    }
    g->citations = citations;
    make_id(g->id, sizeof g->id, chat ? "chatcmpl-" : "cmpl-");
    ed_buf_init(&g->text);
    ed_buf_init(&g->reasoning);
    g->split = chat && opt->reasoning == ED_REASONING_DEEPSEEK;
    ed_reasoning_init(&g->splitter);
    ed_job_params_t params = {
        .kind = ED_JOB_GENERATE,
        .prompt = prompt,
        .n_prompt = n_prompt,
        .sampling = opt->sampling,
        .max_tokens = (int)opt->max_tokens,
        .stops = opt->stops,
        .n_stops = opt->n_stops,
        .adapter = opt->picked,
        .adapter_scale = opt->adapter_scale,
    };
    ed_job_callbacks_t callbacks = {on_text, on_done};
    char detail[ED_ERR_LEN] = "";
    int rc = ed_engine_submit(app->engine, &params, &callbacks, g, &g->job, detail);
    if (rc < 0) {
        ed_params_submit_failed(req, rc, detail);
        gen_free(g);
        return;
    }
    ed_adapters_count(app->adapters, g->adapter, 1, 0);
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
