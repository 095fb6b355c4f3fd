/* embed.c - POST /v1/embeddings in the OpenAI wire format. By default each
 * input becomes one ED_JOB_EMBED of the chat model (submitted one after
 * another, so a long list does not take the whole queue); with `model`
 * naming the personal store's embedder (as /v1/models lists it) the store's
 * worker embeds them, as it embeds documents; any other name but the chat
 * model's (api/models.h) is a 404. The answer lists the
 * L2-normalised vectors as floats or base64 little-endian float32. */
#include "api/api.h"
#include "api/documents.h"
#include "api/infer.h"
#include "api/models.h"
#include "api/params.h"
#include "api/status.h"
#include "api/work.h"
#include "core/buf.h"
#include "rag/rag.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_INPUTS 64 /* inputs per request */

/* One embeddings request, from the first submit until its response. */
typedef struct {
    ed_request_t *req;     /* valid until answered, also after the client left */
    ed_engine_t *engine;
    ed_job_t *job;         /* the input being embedded; NULL between jobs */
    json_t *root;          /* the body, until the inputs are tokenized */
    const char *texts[MAX_INPUTS]; /* each input, into root */
    size_t lens[MAX_INPUTS];
    int32_t *tokens[MAX_INPUTS]; /* each input's prompt tokens */
    int n_tokens[MAX_INPUTS];
    size_t n_inputs;
    int rc;                /* of tokenizing the inputs, with err */
    ed_param_error_t err;
    size_t next;           /* the input whose vector comes next */
    int prompt_tokens;     /* summed over the inputs */
    bool base64;           /* encoding_format "base64" */
    bool gone;             /* the client left */
    json_t *data;          /* the answer's data array */
    bool single;           /* input was one string, not a list */
    const ed_engine_model_t *model; /* the served model: its id, tokenizer and context */
    struct ed_rag *rag;    /* set: the store's embedder embeds instead */
} embed_t;

/* The name of input i in messages: "input", or "input[i]" in a list. */
static void input_param(bool single, size_t i, char *out, size_t cap)
{
    if (single)
        snprintf(out, cap, "input");
    else
        snprintf(out, cap, "input[%zu]", i);
}

static void embed_free(embed_t *e)
{
    for (size_t i = 0; i < e->n_inputs; i++)
        free(e->tokens[i]);
    json_decref(e->root);
    json_decref(e->data);
    free(e);
}

/* Standard base64 (RFC 4648) of data[0, len) as a JSON string. */
static json_t *base64_json(const unsigned char *data, size_t len)
{
    static const char digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = (len + 2) / 3 * 4;
    char *out = malloc(n + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)data[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)data[i + 1] << 8;
        if (i + 2 < len)
            v |= data[i + 2];
        out[o++] = digits[(v >> 18) & 63];
        out[o++] = digits[(v >> 12) & 63];
        out[o++] = i + 1 < len ? digits[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < len ? digits[v & 63] : '=';
    }
    json_t *value = json_stringn(out, n);
    free(out);
    return value;
}

/* The vector as the request asked: floats, or the bytes of little-endian
 * float32 values (the hosts edged builds for are little-endian). */
static json_t *vector_json(const embed_t *e, const float *v, int n)
{
    if (e->base64)
        return base64_json((const unsigned char *)v, (size_t)n * sizeof *v);
    json_t *array = json_array();
    for (int i = 0; array && i < n; i++)
        if (json_array_append_new(array, json_real(v[i])) < 0) {
            json_decref(array);
            return NULL;
        }
    return array;
}

static void on_done(ed_job_t *job, const ed_job_result_t *result, void *user);

/* Submits the next input. 0, or an ED_E* code with the request answered. */
static int submit_next(embed_t *e)
{
    size_t i = e->next;
    ed_job_params_t params = {.kind = ED_JOB_EMBED, .prompt = e->tokens[i], .n_prompt = e->n_tokens[i]};
    ed_job_callbacks_t callbacks = {NULL, on_done};
    char detail[ED_ERR_LEN] = "";
    int rc = ed_engine_submit(e->engine, &params, &callbacks, e, &e->job, detail);
    if (rc < 0)
        ed_params_submit_failed(e->req, rc, detail);
    return rc;
}

static void on_abort(ed_request_t *req, void *arg)
{
    (void)req;
    embed_t *e = arg;
    e->gone = true;
    if (e->job)
        ed_engine_cancel(e->engine, e->job); /* on_done follows and ends the response */
}

static void on_done(ed_job_t *job, const ed_job_result_t *result, void *user)
{
    (void)job;
    embed_t *e = user;
    ed_request_t *req = e->req;
    e->job = NULL;
    if (e->gone) {
        ed_api_end_gone(req);
        embed_free(e);
        return;
    }
    if (result->finish != ED_FINISH_DONE) {
        if (result->finish == ED_FINISH_ERROR) {
            ed_http_error(req, 500, "internal_error", "embedding failed: %s", result->error);
        } else {
            ed_api_fail(req, ED_ECANCELED, ED_API_MODEL, NULL, "the embedding was cancelled: the daemon is stopping");
        }
        embed_free(e);
        return;
    }
    json_t *item = json_pack("{s:s,s:I,s:o}", "object", "embedding", "index", (json_int_t)e->next, "embedding",
                             vector_json(e, result->embedding, result->n_embd));
    if (!item || json_array_append_new(e->data, item) < 0) {
        ed_http_error(req, 500, "internal_error", "out of memory building the answer");
        embed_free(e);
        return;
    }
    e->prompt_tokens += result->n_prompt;
    if (++e->next < e->n_inputs) {
        if (submit_next(e) < 0)
            embed_free(e);
        return;
    }
    json_t *body = json_pack("{s:s,s:O,s:s,s:{s:i,s:i}}", "object", "list", "data", e->data, "model", e->model->name,
                             "usage", "prompt_tokens", e->prompt_tokens, "total_tokens", e->prompt_tokens);
    ed_http_respond_json(req, 200, body);
    embed_free(e);
}

/* input: a non-empty string or an array of 1..MAX_INPUTS of them, each
 * kept in e->texts (into the body) to be tokenized before any work. */
static int read_inputs(const json_t *root, embed_t *e, ed_param_error_t *err)
{
    char got[64], param[32];
    const json_t *input = json_object_get(root, "input");
    if (!input || json_is_null(input))
        return ed_params_fail(err, "missing_field", "input", "input: this field is required");
    bool single = e->single = json_is_string(input);
    if (!single && !json_is_array(input)) {
        ed_params_describe(input, got, sizeof got);
        return ed_params_fail(err, "invalid_type", "input", "input: expected a string or an array of strings, got %s",
                              got);
    }
    size_t n = single ? 1 : json_array_size(input);
    if (n == 0 || n > MAX_INPUTS)
        return ed_params_fail(err, "invalid_value", "input", "input: expected 1 to %d strings, got %zu", MAX_INPUTS, n);
    for (size_t i = 0; i < n; i++) {
        const json_t *item = single ? input : json_array_get(input, i);
        input_param(single, i, param, sizeof param);
        if (!json_is_string(item)) {
            ed_params_describe(item, got, sizeof got);
            return ed_params_fail(err, "invalid_type", param, "%s: expected a string, got %s", param, got);
        }
        if (json_string_length(item) == 0)
            return ed_params_fail(err, "invalid_value", param, "%s: expected a non-empty string", param);
        e->texts[i] = json_string_value(item);
        e->lens[i] = json_string_length(item);
    }
    e->n_inputs = n;
    return 0;
}

/* Tokenizes every input, on a pool thread (api/work.h): the first that
 * fails sets e->rc and e->err. */
static void tokenize_inputs(void *arg)
{
    embed_t *e = arg;
    e->rc = 0;
    for (size_t i = 0; i < e->n_inputs && e->rc == 0; i++) {
        char param[32];
        input_param(e->single, i, param, sizeof param);
        e->rc = ed_params_prompt(e->model, e->texts[i], e->lens[i], param, &e->tokens[i],
                                 &e->n_tokens[i], &e->err);
    }
}

static void inputs_tokenized(ed_request_t *req, void *arg, bool gone)
{
    embed_t *e = arg;
    json_decref(e->root);
    e->root = NULL;
    if (gone) {
        ed_api_end_gone(req);
    } else if (e->rc < 0) {
        ed_params_refuse(req, e->rc, &e->err);
    } else if (submit_next(e) == 0) {
        ed_request_on_abort(req, on_abort, e);
        return;
    }
    embed_free(e);
}

/* The store's vectors, on the loop thread. */
static void on_vectors(int rc, const char *detail, int failed, const ed_rag_vectors_t *out, void *arg)
{
    embed_t *e = arg;
    ed_request_t *req = e->req;
    if (e->gone) {
        ed_api_end_gone(req);
        embed_free(e);
        return;
    }
    ed_request_on_abort(req, NULL, NULL);
    if (rc != 0 && failed >= 0 && (rc == ED_EFORMAT || rc == ED_EINVAL || rc == ED_ETOOBIG)) {
        ed_param_error_t err = {.code = "invalid_value"};
        input_param(e->single, (size_t)failed, err.param, sizeof err.param);
        snprintf(err.message, sizeof err.message, "%s: %s", err.param, detail);
        ed_params_reject(req, &err);
    } else if (rc != 0) {
        ed_api_store_failed(req, rc, "input", detail);
    } else {
        int prompt_tokens = 0;
        for (int i = 0; i < out->n; i++) {
            json_t *item = json_pack("{s:s,s:i,s:o}", "object", "embedding", "index", i, "embedding",
                                     vector_json(e, out->vectors + (size_t)i * out->dim, out->dim));
            if (!item || json_array_append_new(e->data, item) < 0) {
                ed_http_error(req, 500, "internal_error", "out of memory building the answer");
                embed_free(e);
                return;
            }
            prompt_tokens += out->n_tokens[i];
        }
        ed_http_respond_json(req, 200,
                             json_pack("{s:s,s:O,s:s,s:{s:i,s:i}}", "object", "list", "data", e->data, "model",
                                       out->embedder, "usage", "prompt_tokens", prompt_tokens, "total_tokens",
                                       prompt_tokens));
    }
    embed_free(e);
}

void ed_api_embeddings(ed_request_t *req)
{
    ed_app_t *app = req->app;
    ed_param_error_t err;
    embed_t *e = calloc(1, sizeof *e);
    int rc = e ? ed_params_load(req->body, req->body_len, &e->root, &err) : ED_ENOMEM;
    if (rc < 0) {
        ed_params_refuse(req, rc, &err);
        free(e);
        return;
    }
    const char *model_name = NULL;
    size_t model_len = 0;
    if ((rc = ed_params_string(e->root, "model", false, &model_name, &model_len, &err)) < 0) {
        ed_params_refuse(req, rc, &err);
        embed_free(e);
        return;
    }
    const ed_engine_model_t *model = NULL;
    const char *reason, *store = app->rag ? ed_rag_embedder(app->rag, NULL, NULL) : NULL;
    if (store && model_name && strlen(store) == model_len && memcmp(model_name, store, model_len) == 0) {
        /* `model` names the store's embedder, as /v1/models lists it */
        e->rag = app->rag;
    } else if (app->rag && ed_params_engine_state(req, &reason) == ED_ENGINE_EMPTY) {
        char why[ED_ERR_LEN];
        if (ed_rag_state(app->rag, why) == ED_RAG_OPENING) /* its embedder's name is not known yet */
            ed_api_require_store(req);
        else if (store)
            ed_http_error(req, 503, "no_model", "%s; or name the store's embedder: \"model\": \"%s\"", reason,
                          store);
        else
            ed_http_error(req, 503, "no_model", "%s", reason);
        embed_free(e);
        return;
    } else if (!(model = ed_params_require_model(req))) {
        embed_free(e);
        return;
    } else if (model_name && !ed_api_model_is_chat(model, model_name, model_len)) {
        char why[ED_ERR_LEN];
        if (app->rag && ed_rag_state(app->rag, why) == ED_RAG_OPENING) /* its embedder's name is not known yet */
            ed_api_require_store(req);
        else
            ed_api_model_not_found(req, model, store, model_name, model_len);
        embed_free(e);
        return;
    }
    const char *format = "float";
    size_t format_len = 5;
    rc = read_inputs(e->root, e, &err);
    if (rc == 0)
        rc = ed_params_string(e->root, "encoding_format", false, &format, &format_len, &err);
    if (rc == 0 && strcmp(format, "float") != 0 && strcmp(format, "base64") != 0)
        rc = ed_params_fail(&err, "invalid_value", "encoding_format",
                            "encoding_format: expected \"float\" or \"base64\", got \"%.32s\"", format);
    if (rc == 0 && !(e->data = json_array()))
        rc = ED_ENOMEM;
    if (rc < 0) {
        ed_params_refuse(req, rc, &err);
        embed_free(e);
        return;
    }
    e->base64 = format[0] == 'b';
    e->req = req;
    if (e->rag) {
        char detail[ED_ERR_LEN] = "";
        if ((rc = ed_rag_embed(e->rag, e->texts, e->lens, (int)e->n_inputs, on_vectors, e, detail)) != 0) {
            ed_api_store_failed(req, rc, "input", detail);
            embed_free(e);
            return;
        }
        ed_request_on_abort(req, on_abort, e);
        return;
    }
    e->engine = app->engine;
    e->model = model;
    ed_api_offload(req, tokenize_inputs, inputs_tokenized, e);
}
