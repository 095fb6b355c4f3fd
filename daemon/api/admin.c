/* admin.c - operational endpoints: /health (the daemon's and the model's
 * readiness), /v1/version, /metrics and /v1/config (admin group). */
#include "api/adapt.h"
#include "api/adapters.h"
#include "api/api.h"
#include "api/params.h"
#include "core/buf.h"
#include "core/metrics.h"
#include "rag/rag.h"

#include <stdio.h>
#include <string.h>

/* The store object of /health: {state, reason}; *opening set while it opens. */
static json_t *store_health(const ed_app_t *app, bool *opening, char why[ED_ERR_LEN])
{
    *opening = false;
    if (!app->rag) {
        snprintf(why, ED_ERR_LEN, "the personal store did not start (the daemon's log says why)");
        return json_pack("{s:s,s:s}", "state", "none", "reason", why);
    }
    static const char *const names[] = {[ED_RAG_OPENING] = "opening", [ED_RAG_OPEN] = "open",
                                        [ED_RAG_FAILED] = "failed"};
    ed_rag_state_t state = ed_rag_state(app->rag, why);
    *opening = state == ED_RAG_OPENING;
    if (state == ED_RAG_OPEN)
        return json_pack("{s:s}", "state", names[state]);
    return json_pack("{s:s,s:s}", "state", names[state], "reason", why);
}

/* 200 while serving with the model READY or none configured and the store
 * open (or failed: its endpoints say why); 503 while the daemon starts or
 * stops, while the model loads or the store opens, and after the model
 * failed (the reason says why). The model object: {state, name}; the store
 * object: {state, reason}. */
void ed_api_health(ed_request_t *req)
{
    ed_app_t *app = req->app;
    ed_server_t *server = app->server;
    const char *reason;
    ed_engine_state_t state = ed_params_engine_state(req, &reason);
    const ed_engine_model_t *model = state == ED_ENGINE_READY ? ed_engine_model(app->engine) : NULL;
    static const char *const state_names[] = {
        [ED_ENGINE_EMPTY] = "none", [ED_ENGINE_LOADING] = "loading",
        [ED_ENGINE_READY] = "ready", [ED_ENGINE_FAILED] = "failed",
    };
    json_t *model_json = json_pack("{s:s,s:s*}", "state", state_names[state], "name", model ? model->name : NULL);
    bool store_opening;
    char store_why[ED_ERR_LEN], opening_why[ED_ERR_LEN + 40];
    json_t *store_json = store_health(app, &store_opening, store_why);
    if (!store_opening && ed_adapters_opening(app->adapters)) { /* the active adapter is not known yet */
        store_opening = true;
        snprintf(store_why, sizeof store_why, "loading the adapters");
    }
    if (!store_opening && ed_api_adapt_opening(app)) { /* the jobs are not known yet */
        store_opening = true;
        snprintf(store_why, sizeof store_why, "reading the adapt jobs");
    }
    const char *status = !server->ready ? (server->draining ? "stopping" : "starting")
                         : state == ED_ENGINE_LOADING ? "starting"
                         : state == ED_ENGINE_FAILED ? "failed"
                         : store_opening ? "starting" : NULL;
    if (status) {
        const char *why = !server->ready ? server->not_ready_reason : reason;
        if (server->ready && state != ED_ENGINE_LOADING && state != ED_ENGINE_FAILED) {
            snprintf(opening_why, sizeof opening_why, "the personal store is opening: %s", store_why);
            why = opening_why;
        }
        if (state != ED_ENGINE_FAILED || !server->ready) /* a failed model stays failed */
            ed_http_add_header(req, "Retry-After", "1");
        json_t *body = json_pack("{s:s,s:s,s:o,s:o,s:{s:s,s:s,s:s}}", "status", status, "reason", why, "model",
                                 model_json, "store", store_json, "error", "message", why, "type",
                                 "unavailable_error", "code", "not_ready");
        ed_http_respond_json(req, 503, body);
        return;
    }
    json_t *body = json_pack("{s:s,s:f,s:s,s:o,s:o}", "status", "ok", "uptime_s",
                             ed_server_now() - server->start_time, "version", ED_VERSION, "model", model_json,
                             "store", store_json);
    ed_http_respond_json(req, 200, body);
}

void ed_api_version(ed_request_t *req)
{
    ed_app_t *app = req->app;
    char compiler[64];
#if defined(__clang__)
    snprintf(compiler, sizeof compiler, "clang %d.%d.%d", __clang_major__, __clang_minor__, __clang_patchlevel__);
#else
    snprintf(compiler, sizeof compiler, "gcc %d.%d.%d", __GNUC__, __GNUC_MINOR__, __GNUC_PATCHLEVEL__);
#endif
    json_t *body = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "name", "edged", "version", ED_VERSION,
                             "api", "v1", "kernels", app->kernels ? app->kernels : "none",
                             "compiler", compiler, "build_time", __DATE__ " " __TIME__);
    ed_http_respond_json(req, 200, body);
}

void ed_api_metrics(ed_request_t *req)
{
    ed_buf_t out;
    ed_buf_init(&out);
    ed_metrics_render(&out);
    if (ed_buf_failed(&out)) {
        ed_buf_free(&out);
        ed_http_error(req, 500, "internal_error", "out of memory rendering metrics");
        return;
    }
    ed_http_respond(req, 200, "text/plain; version=0.0.4; charset=utf-8", out.data, out.len);
    ed_buf_free(&out);
}

void ed_api_config(ed_request_t *req)
{
    ed_app_t *app = req->app;
    const ed_config_t *cfg = &app->server->cfg;
    json_t *root = json_object();
    char value[ED_CONFIG_LIST_MAX];
    for (const ed_option_t *o = ed_config_options; o->name; o++) {
        json_t *section = json_object_get(root, o->section);
        if (!section) {
            section = json_object();
            json_object_set_new(root, o->section, section);
        }
        const char *field = (const char *)cfg + o->offset;
        json_t *v;
        switch (o->type) {
        case ED_OPT_U32: v = json_integer(*(const uint32_t *)field); break;
        case ED_OPT_U64: v = json_integer((json_int_t) * (const uint64_t *)field); break;
        case ED_OPT_BOOL: v = json_boolean(*(const bool *)field); break;
        default:
            ed_config_format(cfg, o, value, sizeof value);
            v = json_string(value);
            break;
        }
        json_object_set_new(section, o->name, v);
    }
    ed_http_respond_json(req, 200, root);
}
