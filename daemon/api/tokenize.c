/* tokenize.c - the served model's tokenizer on the socket (llama.cpp's
 * server shapes): POST /v1/tokenize (text to ids, optionally with each
 * token's text) and POST /v1/detokenize (ids to text). Runs on the loop
 * thread: the tokenizer is thread-safe and fast next to a forward pass. */
#include "api/api.h"
#include "api/infer.h"
#include "api/params.h"
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

void ed_api_tokenize(ed_request_t *req)
{
    const ed_engine_model_t *model = ed_params_require_model(req);
    if (!model)
        return;
    ed_param_error_t err;
    json_t *root = NULL;
    const char *content = NULL;
    size_t len = 0, n = 0;
    bool add_special = true, with_pieces = false, parse_special = false;
    int rc = ed_params_load(req->body, req->body_len, &root, &err);
    if (rc == 0 && (ed_params_string(root, "content", true, &content, &len, &err) < 0 ||
                    ed_params_bool(root, "add_special", &add_special, &err) < 0 ||
                    ed_params_bool(root, "with_pieces", &with_pieces, &err) < 0 ||
                    ed_params_bool(root, "parse_special", &parse_special, &err) < 0))
        rc = ED_EINVAL;
    int32_t *ids = NULL;
    size_t cap = len + 8;
    while (rc == 0) {
        free(ids);
        ids = malloc(cap * sizeof *ids);
        if (!ids) {
            rc = ED_ENOMEM;
            break;
        }
        rc = ed_tokenizer_encode(model->vocab, content, len, add_special, parse_special, ids, cap, &n);
        if (rc != ED_ERANGE)
            break;
        cap = n;
        rc = 0;
    }
    json_t *tokens = rc == 0 ? json_array() : NULL;
    for (size_t i = 0; tokens && i < n; i++) {
        json_t *item = with_pieces ? json_pack("{s:i,s:o}", "id", ids[i], "piece", piece_json(model->vocab, ids[i]))
                                   : json_integer(ids[i]);
        if (json_array_append_new(tokens, item) < 0) {
            json_decref(tokens);
            tokens = NULL;
        }
    }
    free(ids);
    json_decref(root);
    if (rc == ED_EINVAL)
        ed_params_reject(req, &err);
    else if (rc < 0)
        ed_http_error(req, rc == ED_ETOOBIG ? 400 : 500, rc == ED_ETOOBIG ? "invalid_value" : "internal_error",
                      "content: could not tokenize: %s", ed_strerror(rc));
    else
        ed_http_respond_json(req, 200, tokens ? json_pack("{s:o}", "tokens", tokens) : NULL);
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
