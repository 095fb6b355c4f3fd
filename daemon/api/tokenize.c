/* tokenize.c - the served model's tokenizer on the socket (llama.cpp's
 * server shapes): POST /v1/tokenize (text to ids, optionally with each
 * token's text) and POST /v1/detokenize (ids to text). Tokenizing runs on
 * libuv's pool (api/work.h: a body of megabytes takes seconds); detokenizing
 * only copies each token's bytes and stays on the loop thread. */
#include "api/api.h"
#include "api/infer.h"
#include "api/params.h"
#include "api/status.h"
#include "api/work.h"
#include "model/tokenizer.h"

#include <stdlib.h>
#include <string.h>

/* A token's text as JSON: a string, or the array of its byte values when
 * the text is not valid UTF-8 on its own (a byte token, half a character). */
static json_t *piece_json(const ed_vocab_t *vocab, int32_t id)
{
    char small[256], *buf = small;
    size_t n = 0;
    int rc = ed_tokenizer_piece(vocab, id, true, small, sizeof small, &n);
    if (rc == ED_ERANGE) {
        buf = malloc(n);
        rc = buf ? ed_tokenizer_piece(vocab, id, true, buf, n, &n) : ED_ENOMEM;
    }
    json_t *value = NULL;
    if (rc == 0) {
        value = json_stringn(buf, n);
        if (!value) {
            value = json_array();
            for (size_t i = 0; value && i < n; i++)
                json_array_append_new(value, json_integer((unsigned char)buf[i]));
        }
    }
    if (buf != small)
        free(buf);
    return value;
}

/* One /v1/tokenize request: read on the loop thread, tokenized and its
 * answer serialized on a pool thread (api/work.h). */
typedef struct {
    const ed_engine_model_t *model;
    json_t *root;        /* the body; content points into it */
    const char *content;
    size_t len;
    bool add_special, with_pieces, parse_special;
    int rc;              /* of the work */
    char *answer;        /* the JSON answer, when rc is 0 */
} tokenize_t;

/* The ids (and pieces) of n tokens as the answer's JSON text, or NULL. */
static char *tokens_answer(const ed_vocab_t *vocab, const int32_t *ids, size_t n, bool with_pieces)
{
    json_t *tokens = json_array();
    for (size_t i = 0; tokens && i < n; i++) {
        json_t *item = with_pieces ? json_pack("{s:i,s:o}", "id", ids[i], "piece", piece_json(vocab, ids[i]))
                                   : json_integer(ids[i]);
        if (json_array_append_new(tokens, item) < 0) {
            json_decref(tokens);
            tokens = NULL;
        }
    }
    json_t *body = tokens ? json_pack("{s:o}", "tokens", tokens) : NULL;
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    return text;
}

static void tokenize_run(void *arg)
{
    tokenize_t *t = arg;
    int32_t *ids = NULL;
    size_t cap = t->len + 8, n = 0;
    int rc = 0;
    while (rc == 0) {
        free(ids);
        ids = malloc(cap * sizeof *ids);
        if (!ids) {
            rc = ED_ENOMEM;
            break;
        }
        rc = ed_tokenizer_encode(t->model->vocab, t->content, t->len, t->add_special, t->parse_special, ids, cap,
                                 &n);
        if (rc != ED_ERANGE)
            break;
        cap = n;
        rc = 0;
    }
    if (rc == 0 && !(t->answer = tokens_answer(t->model->vocab, ids, n, t->with_pieces)))
        rc = ED_ENOMEM;
    free(ids);
    t->rc = rc;
}

static void tokenize_done(ed_request_t *req, void *arg, bool gone)
{
    tokenize_t *t = arg;
    if (gone)
        ed_api_end_gone(req);
    else if (t->rc < 0)
        ed_api_fail(req, t->rc, ED_API_MODEL, "content", "content: could not tokenize: %s", ed_strerror(t->rc));
    else
        ed_http_respond(req, 200, "application/json", t->answer, strlen(t->answer));
    free(t->answer);
    json_decref(t->root);
    free(t);
}

void ed_api_tokenize(ed_request_t *req)
{
    const ed_engine_model_t *model = ed_params_require_model(req);
    if (!model)
        return;
    ed_param_error_t err;
    tokenize_t *t = calloc(1, sizeof *t);
    int rc = t ? ed_params_load(req->body, req->body_len, &t->root, &err) : ED_ENOMEM;
    if (rc == 0) {
        t->model = model;
        t->add_special = true;
        if (ed_params_string(t->root, "content", true, &t->content, &t->len, &err) < 0 ||
            ed_params_bool(t->root, "add_special", &t->add_special, &err) < 0 ||
            ed_params_bool(t->root, "with_pieces", &t->with_pieces, &err) < 0 ||
            ed_params_bool(t->root, "parse_special", &t->parse_special, &err) < 0)
            rc = ED_EINVAL;
    }
    if (rc == 0) {
        ed_api_offload(req, tokenize_run, tokenize_done, t);
        return;
    }
    ed_params_refuse(req, rc, &err);
    if (t)
        json_decref(t->root);
    free(t);
}

void ed_api_detokenize(ed_request_t *req)
{
    const ed_engine_model_t *model = ed_params_require_model(req);
    if (!model)
        return;
    ed_param_error_t err;
    json_t *root = NULL;
    int32_t *ids = NULL;
    char *text = NULL;
    size_t n_ids = 0, len = 0;
    int rc = ed_params_load(req->body, req->body_len, &root, &err);
    const json_t *tokens = rc == 0 ? json_object_get(root, "tokens") : NULL;
    char got[64];
    if (rc == 0 && (!tokens || json_is_null(tokens))) {
        rc = ed_params_fail(&err, "missing_field", "tokens", "tokens: this field is required");
    } else if (rc == 0 && !json_is_array(tokens)) {
        ed_params_describe(tokens, got, sizeof got);
        rc = ed_params_fail(&err, "invalid_type", "tokens", "tokens: expected an array of token ids, got %s", got);
    } else if (rc == 0) {
        n_ids = json_array_size(tokens);
        ids = malloc((n_ids ? n_ids : 1) * sizeof *ids);
        rc = ids ? 0 : ED_ENOMEM;
    }
    for (size_t i = 0; rc == 0 && i < n_ids; i++) {
        const json_t *item = json_array_get(tokens, i);
        char param[32];
        snprintf(param, sizeof param, "tokens[%zu]", i);
        if (!json_is_integer(item)) {
            ed_params_describe(item, got, sizeof got);
            rc = ed_params_fail(&err, "invalid_type", param, "%s: expected a token id, got %s", param, got);
        } else if (json_integer_value(item) < 0 || json_integer_value(item) >= model->n_vocab) {
            rc = ed_params_fail(&err, "invalid_value", param,
                                "%s: token id %lld is outside the vocabulary (0 to %d)", param,
                                (long long)json_integer_value(item), model->n_vocab - 1);
        } else {
            ids[i] = (int32_t)json_integer_value(item);
        }
    }
    size_t cap = n_ids * 8 + 16;
    while (rc == 0) {
        free(text);
        text = malloc(cap);
        if (!text) {
            rc = ED_ENOMEM;
            break;
        }
        rc = ed_tokenizer_decode(model->vocab, ids, n_ids, false, text, cap, &len);
        if (rc != ED_ERANGE)
            break;
        cap = len;
        rc = 0;
    }
    json_decref(root);
    free(ids);
    if (rc == ED_EINVAL)
        ed_params_reject(req, &err);
    else if (rc < 0)
        ed_http_error(req, 500, "internal_error", "could not detokenize: %s", ed_strerror(rc));
    else
        ed_http_respond_json(req, 200, json_pack("{s:o}", "content", ed_params_text(text, len)));
    free(text);
}
