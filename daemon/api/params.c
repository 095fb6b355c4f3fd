/* params.c - see params.h: request-body parsing and field validation for
 * the inference endpoints, readiness checks, submit errors and UTF-8-safe
 * JSON text. */
#include "api/params.h"
#include "api/api.h"
#include "api/status.h"
#include "core/utf8.h"
#include "model/prompt.h"
#include "model/tokenizer.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ed_params_fail(ed_param_error_t *err, const char *code, const char *param, const char *fmt, ...)
{
    err->code = code;
    snprintf(err->param, sizeof err->param, "%s", param);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return ED_EINVAL;
}

void ed_params_reject(ed_request_t *req, const ed_param_error_t *err)
{
    json_t *message = ed_params_text(err->message, strlen(err->message));
    json_t *body = json_pack("{s:{s:o,s:s,s:s*,s:s}}", "error", "message", message, "type",
                             "invalid_request_error", "param", err->param[0] ? err->param : NULL,
                             "code", err->code);
    ed_http_respond_json(req, 400, body);
}

void ed_params_refuse(ed_request_t *req, int rc, const ed_param_error_t *err)
{
    if (rc == ED_EINVAL)
        ed_params_reject(req, err);
    else
        ed_api_fail(req, rc, ED_API_MODEL, NULL, "could not read the request: %s", ed_strerror(rc));
}

/* Checks nesting depth before jansson sees the text (its own limit is far
 * deeper, and it recurses). Returns 0, or ED_EINVAL with err at the line and
 * column of the bracket that went too deep. */
static int check_depth(const char *body, size_t len, ed_param_error_t *err)
{
    int depth = 0, line = 1, column = 0;
    bool in_string = false, escaped = false;
    for (size_t i = 0; i < len; i++) {
        char c = body[i];
        column++;
        if (c == '\n') {
            line++;
            column = 0;
        }
        if (in_string) {
            if (escaped)
                escaped = false;
            else if (c == '\\')
                escaped = true;
            else if (c == '"')
                in_string = false;
            continue;
        }
        if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            if (++depth > ED_PARAMS_MAX_DEPTH)
                return ed_params_fail(err, "invalid_json", "",
                                      "invalid JSON at line %d, column %d: nested deeper than %d levels",
                                      line, column, ED_PARAMS_MAX_DEPTH);
        } else if (c == ']' || c == '}') {
            depth--;
        }
    }
    return 0;
}

int ed_params_load(const char *body, size_t len, json_t **out, ed_param_error_t *err)
{
    *out = NULL;
    int rc = check_depth(body, len, err);
    if (rc < 0)
        return rc;
    json_error_t jerr;
    json_t *root = json_loadb(body, len, 0, &jerr);
    if (!root)
        return ed_params_fail(err, "invalid_json", "", "invalid JSON at line %d, column %d: %s",
                              jerr.line, jerr.column, jerr.text);
    if (!json_is_object(root)) {
        char got[64];
        ed_params_describe(root, got, sizeof got);
        json_decref(root);
        return ed_params_fail(err, "invalid_type", "", "the request body must be a JSON object, got %s", got);
    }
    *out = root;
    return 0;
}

void ed_params_describe(const json_t *value, char *buf, size_t cap)
{
    char *text = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
    const char *shown = text ? text : "a value";
    size_t n = strlen(shown);
    if (n < cap) {
        memcpy(buf, shown, n + 1);
    } else if (cap > 4) {
        memcpy(buf, shown, cap - 4);
        memcpy(buf + cap - 4, "...", 4);
    } else if (cap > 0) {
        buf[0] = '\0';
    }
    free(text);
}

/* The value of obj[name], or NULL when absent or null. A dotted name
 * ("stream_options.include_usage") walks into objects; a part of the path
 * that is not an object counts as absent (its reader checked it already). */
static const json_t *field(const json_t *obj, const char *name)
{
    const char *dot;
    while ((dot = strchr(name, '.')) != NULL) {
        obj = json_object_getn(obj, name, (size_t)(dot - name));
        if (!json_is_object(obj))
            return NULL;
        name = dot + 1;
    }
    const json_t *v = json_object_get(obj, name);
    return json_is_null(v) ? NULL : v;
}

static int wrong_type(const char *name, const char *expected, const json_t *v, ed_param_error_t *err)
{
    char got[64];
    ed_params_describe(v, got, sizeof got);
    return ed_params_fail(err, "invalid_type", name, "%s: expected %s, got %s", name, expected, got);
}

int ed_params_number(const json_t *obj, const char *name, double min, double max, bool min_open,
                     double *out, ed_param_error_t *err)
{
    const json_t *v = field(obj, name);
    if (!v)
        return 0;
    if (!json_is_number(v))
        return wrong_type(name, "a number", v, err);
    double x = json_number_value(v);
    if (x < min || (min_open && x == min) || x > max) {
        char got[64];
        ed_params_describe(v, got, sizeof got);
        if (min_open && isinf(max))
            return ed_params_fail(err, "invalid_value", name, "%s: expected a number above %g, got %s",
                                  name, min, got);
        if (min_open)
            return ed_params_fail(err, "invalid_value", name,
                                  "%s: expected a number above %g and at most %g, got %s", name, min,
                                  max, got);
        return ed_params_fail(err, "invalid_value", name, "%s: expected a number between %g and %g, got %s",
                              name, min, max, got);
    }
    *out = x;
    return 0;
}

int ed_params_integer(const json_t *obj, const char *name, int64_t min, int64_t max, int64_t *out,
                      ed_param_error_t *err)
{
    const json_t *v = field(obj, name);
    if (!v)
        return 0;
    if (!json_is_integer(v))
        return wrong_type(name, "an integer", v, err);
    int64_t x = json_integer_value(v);
    if (x < min || x > max) {
        if (max == INT64_MAX)
            return ed_params_fail(err, "invalid_value", name,
                                  "%s: expected an integer of at least %" PRId64 ", got %" PRId64, name,
                                  min, x);
        return ed_params_fail(err, "invalid_value", name,
                              "%s: expected an integer between %" PRId64 " and %" PRId64 ", got %" PRId64,
                              name, min, max, x);
    }
    *out = x;
    return 0;
}

int ed_params_bool(const json_t *obj, const char *name, bool *out, ed_param_error_t *err)
{
    const json_t *v = field(obj, name);
    if (!v)
        return 0;
    if (!json_is_boolean(v))
        return wrong_type(name, "true or false", v, err);
    *out = json_is_true(v);
    return 0;
}

int ed_params_string(const json_t *obj, const char *name, bool required, const char **out,
                     size_t *len, ed_param_error_t *err)
{
    const json_t *v = field(obj, name);
    if (!v) {
        if (required)
            return ed_params_fail(err, "missing_field", name, "%s: this field is required", name);
        return 0;
    }
    if (!json_is_string(v))
        return wrong_type(name, "a string", v, err);
    *out = json_string_value(v);
    *len = json_string_length(v);
    return 0;
}

int ed_params_prompt_refused(int rc, const ed_prompt_t *prompt, const char *param, int n_ctx, ed_param_error_t *err)
{
    if (rc == ED_ETOOBIG)
        return ed_params_fail(err, "context_length_exceeded", param,
                              "%s: the prompt is %zu bytes, far more than the context of %d tokens holds", param,
                              prompt->n_bytes, n_ctx);
    if (rc == ED_ERANGE)
        return ed_params_fail(err, "context_length_exceeded", param,
                              "%s: the prompt is %d tokens; the context holds %d tokens", param, prompt->n_tokens,
                              n_ctx);
    return rc;
}

int ed_params_prompt(const ed_engine_model_t *model, const char *text, size_t len, const char *param, int32_t **out,
                     int *n_out, ed_param_error_t *err)
{
    ed_prompt_model_t m = {model->vocab, model->chat, model->bos_text, model->eos_text, model->n_ctx};
    ed_prompt_t prompt;
    int rc = ed_params_prompt_refused(ed_prompt_tokenize(&m, text, len, NULL, 0, &prompt), &prompt, param,
                                      model->n_ctx, err);
    *out = prompt.tokens;
    *n_out = prompt.n_tokens;
    return rc;
}

ed_engine_state_t ed_params_engine_state(const ed_request_t *req, const char **reason)
{
    const ed_app_t *app = req->app;
    *reason = "no model is configured: set [model] path";
    if (!app->engine)
        return ED_ENGINE_EMPTY;
    const char *why = NULL;
    ed_engine_state_t state = ed_engine_state(app->engine, &why);
    if (why && state != ED_ENGINE_EMPTY)
        *reason = why;
    return state;
}

const ed_engine_model_t *ed_params_require_model(ed_request_t *req)
{
    const ed_app_t *app = req->app;
    const char *reason;
    switch (ed_params_engine_state(req, &reason)) {
    case ED_ENGINE_READY:
        return ed_engine_model(app->engine);
    case ED_ENGINE_EMPTY:
        ed_http_error(req, 503, "no_model", "%s", reason);
        return NULL;
    case ED_ENGINE_LOADING:
        ed_api_fail(req, ED_EAGAIN, ED_API_MODEL, NULL, "the model is not ready: %s", reason);
        return NULL;
    case ED_ENGINE_FAILED:
    default:
        ed_api_fail(req, ED_EAGAIN, ED_API_MODEL, NULL, "the model failed to load: %s", reason);
        return NULL;
    }
}

void ed_params_submit_failed(ed_request_t *req, int rc, const char *detail)
{
    switch (rc) {
    case ED_EAGAIN:
        ed_api_fail(req, rc, ED_API_MODEL, NULL, "the model is not ready: %s", detail);
        break;
    case ED_EBUSY:
        ed_api_fail(req, rc, ED_API_MODEL, NULL, "every slot is busy and the queue is full: %s", detail);
        break;
    case ED_ERANGE:
    case ED_EINVAL:
        ed_api_fail(req, rc, ED_API_MODEL, NULL, "%s", detail);
        break;
    default:
        ed_api_fail(req, rc, ED_API_MODEL, NULL, "could not queue the job: %s: %s", ed_strerror(rc), detail);
        break;
    }
}

json_t *ed_params_text(const char *text, size_t len)
{
    size_t valid = ed_utf8_valid_prefix(text, len);
    if (valid == len)
        return json_stringn(text, len);
    char *out = malloc(valid + 3 * (len - valid)); /* each bad byte may become U+FFFD's 3 */
    if (!out)
        return NULL;
    memcpy(out, text, valid);
    size_t n = valid + ed_utf8_sanitise(text + valid, len - valid, out + valid);
    json_t *value = json_stringn(out, n);
    free(out);
    return value;
}
