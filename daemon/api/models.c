/* models.c - the model names of the API (api/models.h): which a request's
 * `model` may give and the 404 for one that names nothing served. */
#include "api/models.h"
#include "api/params.h"
#include "core/utf8.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

int ed_api_model_names(const ed_engine_model_t *model, const char *out[ED_API_MAX_MODEL_NAMES])
{
    int n = 0;
    out[n++] = model->name;
    const char *general = model->general_name;
    /* general.name is the file's own text: only a valid, distinct one is a name */
    if (general && *general && strcmp(general, model->name) != 0 && strcmp(general, ED_API_MODEL_ALIAS) != 0 &&
        ed_utf8_valid(general, strlen(general)))
        out[n++] = general;
    if (strcmp(model->name, ED_API_MODEL_ALIAS) != 0)
        out[n++] = ED_API_MODEL_ALIAS;
    return n;
}

bool ed_api_model_is_chat(const ed_engine_model_t *model, const char *name, size_t len)
{
    const char *names[ED_API_MAX_MODEL_NAMES];
    int n = ed_api_model_names(model, names);
    for (int i = 0; i < n; i++)
        if (strlen(names[i]) == len && memcmp(names[i], name, len) == 0)
            return true;
    return false;
}

void ed_api_model_not_found(ed_request_t *req, const ed_engine_model_t *model, const char *store, const char *name,
                            size_t len)
{
    const char *names[ED_API_MAX_MODEL_NAMES];
    int n = ed_api_model_names(model, names);
    char message[768];
    int at = snprintf(message, sizeof message, "model: \"%.*s\" is not served here; the models that exist: ",
                      len > 128 ? 128 : (int)len, name);
    for (int i = 0; i < n && at > 0 && (size_t)at < sizeof message; i++)
        at += snprintf(message + at, sizeof message - (size_t)at, "%s\"%s\"", i ? ", " : "", names[i]);
    if (store && at > 0 && (size_t)at < sizeof message)
        at += snprintf(message + at, sizeof message - (size_t)at, ", \"%s\" (the personal store's embedder)", store);
    if (at > 0 && (size_t)at < sizeof message)
        snprintf(message + at, sizeof message - (size_t)at, " (GET /v1/models lists them)");
    json_t *body = json_pack("{s:{s:o,s:s,s:s,s:s}}", "error", "message", ed_params_text(message, strlen(message)),
                             "type", "invalid_request_error", "param", "model", "code", "model_not_found");
    ed_http_respond_json(req, 404, body);
}
