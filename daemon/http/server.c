/* server.c - see server.h. */
#include "http/server.h"
#include "core/log.h"
#include "http/conn.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

double ed_server_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void apply_config(ed_server_t *server, const ed_config_t *cfg)
{
    server->cfg = *cfg;
    server->limits = (ed_http_limits_t){
        .max_header_bytes = cfg->server.max_header_bytes,
        .max_headers = cfg->server.max_headers,
        .max_url_bytes = cfg->server.max_url_bytes,
        .max_body_bytes = cfg->server.max_body_bytes,
        .max_large_body_bytes = cfg->adapt.max_adapter_bytes,
        .large_body_option = "adapt.max_adapter_bytes",
    };
    const char *lists[ED_GROUP_COUNT] = {"*", cfg->access.infer, cfg->access.ingest,
                                         cfg->access.adapt, cfg->access.admin};
    for (int g = 0; g < ED_GROUP_COUNT; g++) {
        char what[32];
        snprintf(what, sizeof what, "access.%s", ed_group_name((ed_group_t)g));
        if (ed_acl_compile(&server->acls[g], lists[g], what) != 0)
            ed_log_warn("%s: more than %d entries; the rest are ignored", what, ED_ACL_MAX);
    }
    ed_log_level_t level;
    if (ed_log_level_parse(cfg->log.level, &level) == 0)
        ed_log_set_level(level);
}

int ed_server_init(ed_server_t *server, uv_loop_t *loop, const ed_config_t *cfg,
                   const ed_route_t *routes, size_t n_routes, void *app, char err[ED_ERR_LEN])
{
    (void)err;
    memset(server, 0, sizeof *server);
    server->loop = loop;
    server->routes = routes;
    server->n_routes = n_routes;
    server->app = app;
    server->listener.fd = -1;
    server->start_time = ed_server_now();
    snprintf(server->not_ready_reason, sizeof server->not_ready_reason, "starting");
    apply_config(server, cfg);
    return 0;
}

static void on_connection(uv_stream_t *stream, int status)
{
    ed_server_t *server = stream->data;
    if (status < 0) {
        ed_log_warn("accept: %s", uv_strerror(status));
        return;
    }
    ed_conn_accept(server);
}

int ed_server_listen(ed_server_t *server, char err[ED_ERR_LEN])
{
    int rc = ed_listener_open(&server->listener, server->cfg.server.socket,
                              server->cfg.server.socket_mode, server->cfg.server.socket_group, err);
    if (rc)
        return rc;
    uv_pipe_init(server->loop, &server->listen_handle, 0);
    server->listen_handle.data = server;
    int uv_rc = uv_pipe_open(&server->listen_handle, server->listener.fd);
    if (uv_rc == 0)
        uv_rc = uv_listen((uv_stream_t *)&server->listen_handle, SOMAXCONN, on_connection);
    if (uv_rc != 0) {
        snprintf(err, ED_ERR_LEN, "%s: cannot listen: %s",
                 server->listener.activated ? "activated socket" : server->cfg.server.socket,
                 uv_strerror(uv_rc));
        ed_listener_close(&server->listener);
        uv_close((uv_handle_t *)&server->listen_handle, NULL);
        return ED_EIO;
    }
    server->listening = true;
    return 0;
}

void ed_server_reconfigure(ed_server_t *server, const ed_config_t *cfg)
{
    apply_config(server, cfg);
    for (ed_conn_t *c = server->conns; c; c = c->next)
        ed_http_parser_set_limits(c->parser, &server->limits);
}

static void on_drain_deadline(uv_timer_t *timer)
{
    ed_server_t *server = timer->data;
    if (server->n_conns)
        ed_log_warn("shutdown: %u connection(s) still busy after %u ms; closing them", server->n_conns,
                    server->cfg.server.shutdown_timeout_ms);
    while (server->conns)
        ed_conn_close(server->conns); /* the last close calls on_drained */
}

void ed_server_shutdown(ed_server_t *server, ed_server_drained_fn done)
{
    if (server->draining)
        return;
    server->draining = true;
    server->ready = false;
    snprintf(server->not_ready_reason, sizeof server->not_ready_reason, "shutting down");
    if (server->listening) {
        ed_listener_close(&server->listener);
        uv_close((uv_handle_t *)&server->listen_handle, NULL);
        server->listening = false;
    }
    server->on_drained = done;
    for (ed_conn_t *c = server->conns, *next; c; c = next) {
        next = c->next;
        ed_conn_close_if_idle(c);
    }
    if (server->n_conns == 0) {
        server->on_drained = NULL;
        done(server);
        return;
    }
    uv_timer_init(server->loop, &server->drain_timer);
    server->drain_timer.data = server;
    server->drain_timer_open = true;
    uv_timer_start(&server->drain_timer, on_drain_deadline, server->cfg.server.shutdown_timeout_ms, 0);
}

void ed_server_close(ed_server_t *server)
{
    if (server->drain_timer_open) {
        uv_close((uv_handle_t *)&server->drain_timer, NULL);
        server->drain_timer_open = false;
    }
    if (server->listening) {
        ed_listener_close(&server->listener);
        uv_close((uv_handle_t *)&server->listen_handle, NULL);
        server->listening = false;
    }
}
