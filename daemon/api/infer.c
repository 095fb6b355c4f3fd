/* infer.c - text generation on the socket in the OpenAI wire format:
 * POST /v1/chat/completions and POST /v1/completions, and GET /v1/models.
 * Reads the request (api/infer_options.h) on the loop thread, retrieves
 * notes from the personal store when it asks (`rag`, rag/rag.h), then
 * renders and tokenizes the prompt once, on libuv's pool (api/work.h,
 * model/prompt.h); the generation answers from there (api/generation.h). */
#include "api/infer.h"
#include "api/adapters.h"
#include "api/api.h"
#include "api/documents.h"
#include "api/generation.h"
#include "api/infer_options.h"
#include "api/models.h"
#include "api/params.h"
#include "api/status.h"
#include "api/work.h"
#include "core/buf.h"
#include "model/prompt.h"
#include "model/tokenizer.h"
#include "rag/rag.h"

#include <stdlib.h>
#include <string.h>

/* One generation request from its reading until its prompt is tokenized and
 * the generation starts. Owns the parsed body (what the options point into). */
typedef struct {
    ed_request_t *req;
    bool chat;
    bool gone;                      /* the client left while retrieving */
    const ed_engine_model_t *model; /* lives as long as the engine */
    json_t *root;                   /* the request body */
    ed_infer_options_t opt;
    ed_infer_messages_t messages;   /* chat */
    const char *text;               /* completions: the prompt, into root */
    size_t len;
    ed_buf_t query;                 /* rag: the last user message, or the prompt; NUL-terminated */
    char *notes;                    /* rag: the retrieved notes (NULL: none found) */
    size_t notes_len;
    json_t *citations;              /* rag: [{number, document_id, chunk_index, title, score}] */
    int rc;                         /* of the prompt job */
    ed_param_error_t err;
    ed_prompt_t prompt;
} infer_t;

static void infer_free(infer_t *p)
{
    if (!p)
        return;
    ed_prompt_free(&p->prompt);
    ed_engine_adapter_release(p->opt.picked);
    json_decref(p->citations);
    free(p->notes);
    ed_buf_free(&p->query);
    ed_infer_messages_free(&p->messages);
    json_decref(p->root);
    free(p);
}

/* ------------------------------------------------------------- prompt --- */

/* Renders and tokenizes the prompt (a pool thread), then clamps max_tokens
 * to what the context leaves. */
static void prompt_run(void *arg)
{
    infer_t *p = arg;
    const ed_engine_model_t *m = p->model;
    ed_prompt_model_t model = {m->vocab, m->chat, m->bos_text, m->eos_text, m->n_ctx};
    ed_prompt_in_t in = {
        .messages = p->chat ? p->messages.list : NULL,
        .n_messages = p->messages.n,
        .text = p->text,
        .len = p->len,
        .notes = p->notes,
        .notes_len = p->notes_len,
    };
    p->rc = ed_params_prompt_refused(ed_prompt_build(&model, &in, &p->prompt), &p->prompt,
                                     p->chat ? "messages" : "prompt", m->n_ctx, &p->err);
    if (p->rc == 0 && p->opt.max_tokens > m->n_ctx - p->prompt.n_tokens)
        p->opt.max_tokens = m->n_ctx - p->prompt.n_tokens;
}

static void prompt_done(ed_request_t *req, void *arg, bool gone)
{
    infer_t *p = arg;
    if (gone) {
        ed_api_end_gone(req);
    } else if (p->rc < 0) {
        ed_params_refuse(req, p->rc, &p->err);
    } else {
        ed_generation_start(req, p->chat, p->model, &p->opt, p->prompt.tokens, p->prompt.n_tokens, p->citations);
        p->citations = NULL;
    }
    infer_free(p);
}

/* ---------------------------------------------------------- retrieval --- */

static void retrieval_abort(ed_request_t *req, void *arg)
{
    (void)req;
    ((infer_t *)arg)->gone = true;
}

static int count_tokens(const char *text, size_t len, void *arg)
{
    const ed_engine_model_t *model = arg;
    size_t n = 0;
    int rc = ed_tokenizer_encode(model->vocab, text, len, false, false, NULL, 0, &n);
    if (rc < 0 && rc != ED_ERANGE)
        return ed_chunker_estimate_tokens(text, len, NULL);
    return n > INT32_MAX ? INT32_MAX : (int)n;
}
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

/* Answers a failed retrieval with the store's status (api/status.h). */
static void rag_failed(ed_request_t *req, int rc, const char *detail)
{
    const char *message = detail && *detail ? detail : ed_strerror(rc);
    const char *what = rc == ED_EBUSY                                      ? "the store is busy: "
                       : ed_api_status(rc, ED_API_STORE).status == 500 ? "retrieval failed: "
                                                                           : "";
    ed_api_fail(req, rc, ED_API_STORE, NULL, "rag: %s%s", what, message);
}

/* The notes are in (loop thread): the prompt is built with them. */
static void on_context(int rc, const char *detail, const ed_retrieve_context_t *context, const ed_rag_hit_t *hits,
                       int n_hits, void *arg)
{
    (void)hits;
    (void)n_hits;
    infer_t *p = arg;
    ed_request_t *req = p->req;
    ed_request_on_abort(req, NULL, NULL);
    if (p->gone) {
        ed_api_end_gone(req);
    } else if (rc < 0) {
        rag_failed(req, rc, detail);
    } else if (!(p->model = ed_params_require_model(req))) {
        /* answered */
    } else if (!(p->citations = citations_json(context)) ||
               (context->n_citations > 0 && !(p->notes = malloc(context->len + 1)))) {
        ed_params_refuse(req, ED_ENOMEM, NULL);
    } else {
        if (p->notes) { /* the context lives only as long as this call */
            memcpy(p->notes, context->text, context->len);
            p->notes[context->len] = '\0';
            p->notes_len = context->len;
        }
        ed_api_offload(req, prompt_run, prompt_done, p);
        return;
    }
    infer_free(p);
}

/* The text to search the notes with: the last user message (chat), or the
 * prompt; NUL-terminated. */
static int read_query(const infer_t *p, ed_buf_t *out, ed_param_error_t *err)
{
    if (!p->chat) {
        ed_buf_append(out, p->text, p->len);
    } else {
        const ed_chat_message_t *user = NULL;
        for (size_t i = p->messages.n; i > 0 && !user; i--)
            if (p->messages.list[i - 1].role == ED_CHAT_USER)
                user = &p->messages.list[i - 1];
        if (!user)
            return ed_params_fail(err, "invalid_value", "messages",
                                  "messages: rag needs a user message to search the notes with");
        ed_buf_append(out, user->content, user->len);
    }
    ed_buf_append(out, "", 1);
    if (ed_buf_failed(out))
        return ED_ENOMEM;
    out->len--;
    return 0;
}

/* Retrieves the notes for a request that asked for them; on_context goes on. */
static void start_retrieval(infer_t *p)
{
    ed_request_t *req = p->req;
    ed_app_t *app = req->app;
    if (!app->rag) {
        ed_api_fail(req, ED_ESTATE, ED_API_STORE, NULL,
                    "rag: the personal store is not open (the daemon's log says why)");
        infer_free(p);
        return;
    }
    int rc = read_query(p, &p->query, &p->err);
    if (rc < 0) {
        ed_params_refuse(req, rc, &p->err);
        infer_free(p);
        return;
    }
    ed_rag_caller_t caller = ed_api_caller(req);
    const ed_infer_rag_t *rag = &p->opt.rag;
    char detail[ED_ERR_LEN] = "";
    ed_request_on_abort(req, retrieval_abort, p);
    rc = ed_rag_retrieve(app->rag, &caller, p->query.data, rag->n_collections ? rag->collections : NULL,
                         rag->n_collections, (int)rag->top_k, (int)rag->max_context_tokens, p->model->n_ctx,
                         count_tokens, (void *)p->model, on_context, p, detail);
    if (rc < 0) {
        ed_request_on_abort(req, NULL, NULL);
        rag_failed(req, rc, detail);
        infer_free(p);
    }
}

/* ------------------------------------------------------------ handlers --- */

/* Reads the whole request before anything slow (a bad one answers at once),
 * then retrieves (rag) and builds the prompt. */
static void generate(ed_request_t *req, bool chat)
{
    const ed_engine_model_t *model = ed_params_require_model(req);
    if (!model)
        return;
    ed_app_t *app = req->app;
    const ed_config_t *cfg = &app->server->cfg;
    infer_t *p = calloc(1, sizeof *p);
    if (!p) {
        ed_params_refuse(req, ED_ENOMEM, NULL);
        return;
    }
    *p = (infer_t){.req = req, .chat = chat, .model = model};
    ed_buf_init(&p->query);
    ed_buf_init(&p->messages.joined);
    int rc = ed_params_load(req->body, req->body_len, &p->root, &p->err);
    const char *name = NULL; /* `model`: absent or one of the chat model's names */
    size_t name_len = 0;
    if (rc == 0)
        rc = ed_params_string(p->root, "model", false, &name, &name_len, &p->err);
    /* `model` "BASE:NAME" (the ollama habit) asks for adapter NAME */
    const char *from_model = NULL;
    size_t from_model_len = 0;
    if (rc == 0 && name && !ed_api_model_is_chat(model, name, name_len)) {
        const char *colon = memchr(name, ':', name_len);
        if (!colon || !ed_api_model_is_chat(model, name, (size_t)(colon - name)) || colon + 1 == name + name_len) {
            ed_api_model_not_found(req, model, NULL, name, name_len);
            infer_free(p);
            return;
        }
        from_model = colon + 1;
        from_model_len = name_len - (size_t)(colon + 1 - name);
    }
    if (rc == 0)
        rc = ed_infer_read_options(p->root, model, cfg, &p->opt, &p->err);
    if (rc == 0) {
        /* an explicit `adapter` wins over the model's */
        const char *spec = p->opt.adapter ? p->opt.adapter : from_model;
        size_t spec_len = p->opt.adapter ? p->opt.adapter_len : from_model_len;
        char why[ED_ERR_LEN];
        int picked = ed_adapters_pick(app->adapters, spec, spec_len, &p->opt.picked, why);
        if (picked == ED_ENOENT && !p->opt.adapter) {
            ed_api_model_not_found(req, model, NULL, name, name_len);
            infer_free(p);
            return;
        }
        if (picked != 0) {
            ed_api_fail(req, picked, ED_API_MODEL, "adapter", "adapter: %s", why);
            infer_free(p);
            return;
        }
    }
    if (rc == 0)
        rc = ed_infer_read_rag(p->root, model, cfg, &p->opt.rag, &p->err);
    if (rc == 0)
        rc = chat ? ed_infer_read_messages(p->root, &p->messages, &p->err)
                  : ed_infer_read_prompt(p->root, &p->text, &p->len, &p->err);
    if (rc < 0) {
        ed_params_refuse(req, rc, &p->err);
        infer_free(p);
    } else if (p->opt.rag.on) {
        start_retrieval(p);
    } else {
        ed_api_offload(req, prompt_run, prompt_done, p);
    }
}

void ed_api_chat_completions(ed_request_t *req) { generate(req, true); }

void ed_api_completions(ed_request_t *req) { generate(req, false); }

typedef struct {
    json_t *data;
    const ed_engine_model_t *model;
} model_list_t;

/* One entry per usable adapter: "BASE:NAME" selects it */
static void adapter_model(const char *name, void *arg)
{
    model_list_t *l = arg;
    char id[320];
    snprintf(id, sizeof id, "%s:%s", l->model->name, name);
    json_array_append_new(l->data, json_pack("{s:s,s:s,s:I,s:s,s:s,s:s,s:s,s:s}", "id", id, "object", "model",
                                             "created", (json_int_t)l->model->created, "owned_by", "edged",
                                             "architecture", l->model->arch, "chat_format",
                                             ed_chat_family_name(l->model->chat), "parent", l->model->name,
                                             "adapter", name));
}

void ed_api_models(ed_request_t *req)
{
    ed_app_t *app = req->app;
    const char *reason;
    json_t *data = json_array();
    if (ed_params_engine_state(req, &reason) == ED_ENGINE_READY) {
        /* every name `model` accepts is an entry of its own (OpenAI clients
         * check a name against the ids); an alias says whose it is */
        const ed_engine_model_t *m = ed_engine_model(app->engine);
        const char *names[ED_API_MAX_MODEL_NAMES];
        int n = ed_api_model_names(m, names);
        for (int i = 0; i < n; i++)
            json_array_append_new(data, json_pack("{s:s,s:s,s:I,s:s,s:s,s:s,s:s*}", "id", names[i], "object",
                                                  "model", "created", (json_int_t)m->created, "owned_by", "edged",
                                                  "architecture", m->arch, "chat_format", ed_chat_family_name(m->chat),
                                                  "alias_of", i ? m->name : NULL));
        model_list_t list = {data, m};
        ed_adapters_names(app->adapters, adapter_model, &list);
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
