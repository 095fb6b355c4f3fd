/* conn.c - one client connection (see conn.h). The life of a request:
 * first byte -> header timer; head complete -> on_head routes, authorises
 * and answers Expect: 100-continue, body timer; message complete -> the
 * handler; its last write -> access log, metrics, then the next pipelined
 * request or the idle timer. Input is parsed only while no request is with
 * a handler, so responses go out in request order. */
#include "http/conn.h"
#include "core/log.h"
#include "core/metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#define IN_CHUNK (64 * 1024)       /* read size */
#define IN_MAX (1024 * 1024)        /* unparsed input kept at most; reading pauses beyond */

typedef struct {
    uv_write_t req;
    ed_conn_t *conn;
    size_t len;
    char *data;
} write_req_t;

static void process_input(ed_conn_t *conn);
static void conn_end(ed_conn_t *conn);

/* ------------------------------------------------------------ lifecycle --- */

static void set_timer(ed_conn_t *conn, ed_conn_timer_t kind);

static void conn_free(ed_conn_t *conn)
{
    ed_http_parser_free(conn->parser);
    free(conn->in);
    free(conn);
}

static void on_handle_closed(uv_handle_t *handle)
{
    ed_conn_t *conn = handle->data;
    if (handle == (uv_handle_t *)&conn->pipe && conn->busy && conn->req.on_abort) {
        void (*fn)(ed_request_t *, void *) = conn->req.on_abort;
        conn->req.on_abort = NULL;
        fn(&conn->req, conn->req.on_abort_arg);
    }
    if (--conn->open_handles == 0 && !conn->busy)
        conn_free(conn);
}

static void server_remove(ed_conn_t *conn)
{
    ed_server_t *server = conn->server;
    if (conn->prev)
        conn->prev->next = conn->next;
    else
        server->conns = conn->next;
    if (conn->next)
        conn->next->prev = conn->prev;
    conn->prev = conn->next = NULL;
    server->n_conns--;
    ed_metrics_conn_closed();
    if (server->draining && server->n_conns == 0 && server->on_drained) {
        ed_server_drained_fn done = server->on_drained;
        server->on_drained = NULL;
        if (server->drain_timer_open)
            uv_timer_stop(&server->drain_timer);
        done(server);
    }
}

void ed_conn_close(ed_conn_t *conn)
{
    if (conn->closing)
        return;
    conn->closing = true;
    uv_timer_stop(&conn->timer);
    uv_close((uv_handle_t *)&conn->pipe, on_handle_closed);
    uv_close((uv_handle_t *)&conn->timer, on_handle_closed);
    server_remove(conn);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    (void)status;
    ed_conn_t *conn = req->data;
    free(req);
    ed_conn_close(conn);
}

/* Closes once everything queued is written. */
static void conn_end(ed_conn_t *conn)
{
    if (conn->closing)
        return;
    conn->close_after_response = true;
    uv_read_stop((uv_stream_t *)&conn->pipe);
    conn->reading = false;
    uv_timer_stop(&conn->timer);
    uv_shutdown_t *req = malloc(sizeof *req);
    if (!req || uv_shutdown(req, (uv_stream_t *)&conn->pipe, on_shutdown) != 0) {
        free(req);
        ed_conn_close(conn);
        return;
    }
    req->data = conn;
}

void ed_conn_close_if_idle(ed_conn_t *conn)
{
    if (!conn->busy && !ed_http_parser_in_request(conn->parser))
        conn_end(conn);
}

/* --------------------------------------------------------------- timers --- */

static void on_timer(uv_timer_t *timer)
{
    ed_conn_t *conn = timer->data;
    ed_conn_timer_t kind = conn->timer_kind;
    conn->timer_kind = ED_TIMER_NONE;
    if (conn->busy || conn->closing)
        return;
    if (kind == ED_TIMER_IDLE || (kind == ED_TIMER_HEADER && !ed_http_parser_in_request(conn->parser))) {
        conn_end(conn); /* nothing started: close quietly */
        return;
    }
    conn->close_after_response = true;
    conn->busy = true;
    if (kind == ED_TIMER_HEADER)
        ed_http_error(&conn->req, 408, "request_timeout",
                      "the request's headers did not arrive within %u ms (server.header_timeout_ms)",
                      conn->server->cfg.server.header_timeout_ms);
    else
        ed_http_error(&conn->req, 408, "request_timeout",
                      "the request's body did not arrive within %u ms (server.body_timeout_ms)",
                      conn->server->cfg.server.body_timeout_ms);
}

static void set_timer(ed_conn_t *conn, ed_conn_timer_t kind)
{
    if (conn->closing)
        return;
    const ed_config_t *cfg = &conn->server->cfg;
    uint64_t ms = kind == ED_TIMER_HEADER ? cfg->server.header_timeout_ms
                  : kind == ED_TIMER_BODY ? cfg->server.body_timeout_ms
                  : kind == ED_TIMER_IDLE ? cfg->server.idle_timeout_ms
                                          : 0;
    conn->timer_kind = kind;
    if (kind == ED_TIMER_NONE)
        uv_timer_stop(&conn->timer);
    else
        uv_timer_start(&conn->timer, on_timer, ms, 0);
}

/* -------------------------------------------------------------- requests --- */

static uint64_t request_id_prefix;
static uint64_t request_id_counter;

static void assign_request_id(ed_request_t *req)
{
    const char *given = ed_request_header(req, "X-Request-Id");
    if (given) {
        size_t len = strlen(given);
        bool ok = len > 0 && len <= ED_REQUEST_ID_MAX;
        for (size_t i = 0; ok && i < len; i++) {
            char c = given[i];
            ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '.' || c == '_' || c == '-';
        }
        if (ok) {
            memcpy(req->request_id, given, len + 1);
            return;
        }
    }
    if (request_id_prefix == 0 && getrandom(&request_id_prefix, sizeof request_id_prefix, 0) < 0)
        request_id_prefix = (uint64_t)(ed_server_now() * 1e9);
    snprintf(req->request_id, sizeof req->request_id, "%016llx%016llx",
             (unsigned long long)request_id_prefix, (unsigned long long)++request_id_counter);
}

static void begin_request(ed_conn_t *conn)
{
    ed_request_t *req = &conn->req;
    memset(req, 0, sizeof *req);
    req->conn = conn;
    req->app = conn->server->app;
    req->peer = conn->peer;
    req->start_ns = (uint64_t)(ed_server_now() * 1e9);
    req->keep_alive = true;
    if (conn->timer_kind != ED_TIMER_HEADER)
        set_timer(conn, ED_TIMER_HEADER);
}

/* The outcome of routing, decided at the head; an error is answered once
 * the (bounded) body has been read, so that the connection stays usable. */
typedef struct {
    int status;
    char allow[64];
} route_outcome_t;

static route_outcome_t route_request(ed_conn_t *conn, ed_request_t *req)
{
    route_outcome_t out = {0, ""};
    ed_server_t *server = conn->server;
    const ed_route_t *route = NULL;
    switch (ed_router_match(server->routes, server->n_routes, req->method, req->path, &route,
                            req->params, out.allow, sizeof out.allow)) {
    case ED_ROUTE_NOT_FOUND:
        out.status = 404;
        return out;
    case ED_ROUTE_BAD_METHOD:
        out.status = 405;
        return out;
    case ED_ROUTE_FOUND:
        break;
    }
    req->route = route;
    if (route->group != ED_GROUP_NONE && !ed_acl_allows(&server->acls[route->group], &req->peer))
        out.status = 403;
    return out;
}

static void answer_route_error(ed_request_t *req, const route_outcome_t *outcome)
{
    switch (outcome->status) {
    case 404:
        ed_http_error(req, 404, "not_found", "no such endpoint: %s", req->path);
        break;
    case 405:
        ed_http_add_header(req, "Allow", outcome->allow);
        ed_http_error(req, 405, "method_not_allowed", "%s is not allowed on %s; allowed: %s",
                      req->method_name, req->path, outcome->allow);
        break;
    default:
        ed_http_error(req, 403, "forbidden",
                      "uid %u is not allowed to use %s (access.%s in the configuration)",
                      (unsigned)req->peer.uid, req->path, ed_group_name(req->route->group));
        break;
    }
}

static int on_head(void *arg, ed_request_t *req)
{
    ed_conn_t *conn = arg;
    assign_request_id(req);
    route_outcome_t outcome = route_request(conn, req);
    if (req->route && req->route->large_body && outcome.status == 0)
        ed_http_parser_allow_large_body(conn->parser);
    const char *expect = ed_request_header(req, "Expect");
    int64_t content_length = ed_http_parser_content_length(conn->parser);
    if (expect) {
        if (strcasecmp(expect, "100-continue") != 0) {
            conn->close_after_response = true;
            conn->busy = true;
            ed_http_error(req, 417, "expectation_failed", "unsupported Expect value \"%s\"", expect);
            return 1;
        }
        if (outcome.status) {
            /* Refuse before the client sends its body. */
            conn->close_after_response = true;
            conn->busy = true;
            answer_route_error(req, &outcome);
            return 1;
        }
        /* a body over the limit is refused next (413), not invited */
        if (content_length != 0 && (content_length < 0 || (uint64_t)content_length <= ed_http_parser_body_limit(conn->parser))) {
            char *cont = strdup("HTTP/1.1 100 Continue\r\n\r\n");
            if (cont)
                ed__conn_write(conn, cont, strlen(cont), false);
        }
    }
    conn->route_status = outcome.status;
    memcpy(conn->route_allow, outcome.allow, sizeof conn->route_allow);
    set_timer(conn, content_length != 0 ? ED_TIMER_BODY : ED_TIMER_NONE);
    return 0;
}

static void dispatch(ed_conn_t *conn)
{
    ed_request_t *req = &conn->req;
    set_timer(conn, ED_TIMER_NONE);
    conn->busy = true;
    if (conn->server->draining)
        conn->close_after_response = true;
    if (conn->route_status) {
        route_outcome_t outcome = {conn->route_status, ""};
        memcpy(outcome.allow, conn->route_allow, sizeof outcome.allow);
        conn->route_status = 0;
        answer_route_error(req, &outcome);
        return;
    }
    req->route->handler(req);
}

static void finish_request(ed_conn_t *conn)
{
    ed_request_t *req = &conn->req;
    ed_server_t *server = conn->server;
    double seconds = ed_server_now() - (double)req->start_ns / 1e9;
    const char *route = req->route ? req->route->pattern : "unmatched";
    const char *method = req->method_name ? req->method_name : "-";
    ed_metrics_http_request(route, method, req->status, seconds);
    if (server->cfg.log.access_log)
        ed_log_info("access method=%s path=%s status=%d bytes=%llu duration_ms=%.2f uid=%u request_id=%s",
                    method, req->path ? req->path : "-", req->status,
                    (unsigned long long)req->bytes_out, seconds * 1e3,
                    (unsigned)conn->peer.uid, req->request_id[0] ? req->request_id : "-");
    conn->busy = false;
    conn->on_drain = NULL;
    req->on_abort = NULL;
    ed_http_parser_next(conn->parser);
    if (conn->closing) {
        if (conn->open_handles == 0)
            conn_free(conn);
        return;
    }
    if (conn->close_after_response) {
        conn_end(conn);
        return;
    }
    set_timer(conn, ED_TIMER_IDLE);
    if (!conn->processing)
        process_input(conn);
}

/* ---------------------------------------------------------------- reading --- */

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    ed_conn_t *conn = handle->data;
    if (conn->in_cap - conn->in_len < IN_CHUNK && conn->in_cap < IN_MAX) {
        size_t cap = conn->in_cap ? conn->in_cap * 2 : IN_CHUNK;
        if (cap > IN_MAX)
            cap = IN_MAX;
        char *in = realloc(conn->in, cap);
        if (in) {
            conn->in = in;
            conn->in_cap = cap;
        }
    }
    *buf = uv_buf_init(conn->in + conn->in_len, (unsigned)(conn->in_cap - conn->in_len));
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    ed_conn_t *conn = stream->data;
    if (nread == UV_ENOBUFS || (nread == 0 && conn->in_len == conn->in_cap)) {
        uv_read_stop(stream); /* input buffer full: wait for the handler */
        conn->reading = false;
        return;
    }
    if (nread < 0) {
        uv_read_stop(stream);
        conn->reading = false;
        if (nread != UV_EOF) {
            ed_conn_close(conn);
            return;
        }
        conn->eof = true;
        if (conn->busy) {
            /* The client is gone or half-closed: long work may cancel itself; the
             * response is still written if the socket takes it. */
            conn->close_after_response = true;
            if (conn->req.on_abort) {
                void (*fn)(ed_request_t *, void *) = conn->req.on_abort;
                conn->req.on_abort = NULL;
                fn(&conn->req, conn->req.on_abort_arg);
            }
            return;
        }
        process_input(conn);
        return;
    }
    conn->in_len += (size_t)nread;
    process_input(conn);
}

static void start_reading(ed_conn_t *conn)
{
    if (conn->reading || conn->closing || conn->eof || conn->close_after_response)
        return;
    if (uv_read_start((uv_stream_t *)&conn->pipe, on_alloc, on_read) == 0)
        conn->reading = true;
    else
        ed_conn_close(conn);
}

static void process_input(ed_conn_t *conn)
{
    conn->processing = true;
    while (!conn->busy && !conn->closing && !conn->close_after_response && conn->in_len > 0) {
        if (!ed_http_parser_in_request(conn->parser))
            begin_request(conn);
        size_t consumed = 0;
        ed_http_event_t ev = ed_http_parser_feed(conn->parser, &conn->req, conn->in, conn->in_len, &consumed);
        memmove(conn->in, conn->in + consumed, conn->in_len - consumed);
        conn->in_len -= consumed;
        if (ev == ED_HTTP_NEED_MORE)
            break;
        if (ev == ED_HTTP_MESSAGE) {
            dispatch(conn);
            continue;
        }
        if (ev == ED_HTTP_FAILED) {
            const char *code, *message;
            int status = ed_http_parser_error(conn->parser, &code, &message);
            conn->close_after_response = true;
            conn->busy = true;
            ed_http_error(&conn->req, status, code, "%s", message);
        }
        break; /* ED_HTTP_REFUSED: on_head answered; the connection ends after it */
    }
    conn->processing = false;
    if (conn->closing || conn->busy)
        return;
    if (conn->eof) {
        if (ed_http_parser_in_request(conn->parser) || conn->in_len == 0)
            conn_end(conn); /* a partial request can never complete */
        return;
    }
    start_reading(conn);
}

/* ---------------------------------------------------------------- writing --- */

static void on_write(uv_write_t *w, int status)
{
    write_req_t *wr = (write_req_t *)w;
    ed_conn_t *conn = wr->conn;
    conn->write_queued -= wr->len;
    free(wr->data);
    free(wr);
    if (status < 0) {
        ed_conn_close(conn);
        return;
    }
    if (conn->on_drain && conn->write_queued <= ED_CONN_HIGH_WATER / 4) {
        void (*fn)(ed_request_t *, void *) = conn->on_drain;
        conn->on_drain = NULL;
        fn(&conn->req, conn->on_drain_arg);
    }
}

int ed__conn_write(ed_conn_t *conn, char *data, size_t len, bool last)
{
    int rc = 0;
    if (conn->closing) {
        free(data);
        rc = ED_ECLOSED;
    } else {
        write_req_t *wr = malloc(sizeof *wr);
        uv_buf_t buf = uv_buf_init(data, (unsigned)len);
        if (!wr || uv_write(&wr->req, (uv_stream_t *)&conn->pipe, &buf, 1, on_write) != 0) {
            free(wr);
            free(data);
            ed_conn_close(conn);
            rc = ED_ECLOSED;
        } else {
            wr->conn = conn;
            wr->len = len;
            wr->data = data;
            conn->write_queued += len;
        }
    }
    if (last)
        finish_request(conn);
    return rc;
}

size_t ed__conn_queued(const ed_conn_t *conn) { return conn->write_queued; }
bool ed__conn_writable(const ed_conn_t *conn) { return conn->write_queued < ED_CONN_HIGH_WATER; }

void ed__conn_format_head(ed_conn_t *conn, ed_request_t *req, int status, const char *content_type,
                          long long content_length, ed_buf_t *out)
{
    if (!req->keep_alive || conn->eof || conn->server->draining)
        conn->close_after_response = true;
    ed_buf_printf(out, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n", status, ed_http_status_text(status),
                  content_type);
    if (content_length >= 0)
        ed_buf_printf(out, "Content-Length: %lld\r\n", content_length);
    else
        ed_buf_puts(out, "Transfer-Encoding: chunked\r\n");
    if (!req->request_id[0]) /* answered before its head was complete */
        assign_request_id(req);
    ed_buf_printf(out, "X-Request-Id: %s\r\n", req->request_id);
    for (int i = 0; i < req->n_extra_headers; i++)
        ed_buf_printf(out, "%s: %s\r\n", req->extra_headers[i][0], req->extra_headers[i][1]);
    if (conn->close_after_response)
        ed_buf_puts(out, "Connection: close\r\n");
    ed_buf_puts(out, "\r\n");
}

/* ------------------------------------------------------------- accepting --- */

static int conn_new(ed_server_t *server, ed_conn_t **out)
{
    ed_conn_t *conn = calloc(1, sizeof *conn);
    if (!conn)
        return ED_ENOMEM;
    conn->server = server;
    conn->parser = ed_http_parser_new(&server->limits, on_head, conn);
    if (!conn->parser) {
        free(conn);
        return ED_ENOMEM;
    }
    uv_pipe_init(server->loop, &conn->pipe, 0);
    uv_timer_init(server->loop, &conn->timer);
    conn->pipe.data = conn;
    conn->timer.data = conn;
    conn->open_handles = 2;
    conn->id = ++server->next_conn_id;
    conn->req.conn = conn;
    conn->next = server->conns;
    if (server->conns)
        server->conns->prev = conn;
    server->conns = conn;
    server->n_conns++;
    ed_metrics_conn_opened();
    *out = conn;
    return 0;
}

static void conn_start(ed_conn_t *conn)
{
    ed_server_t *server = conn->server;
    uv_os_fd_t fd;
    if (uv_fileno((uv_handle_t *)&conn->pipe, &fd) != 0 || ed_peer_read(fd, &conn->peer) != 0)
        conn->peer.known = false;
    if (server->n_conns > server->cfg.server.max_connections || server->draining) {
        begin_request(conn);
        conn->close_after_response = true;
        conn->busy = true;
        ed_http_add_header(&conn->req, "Retry-After", "1");
        if (server->draining)
            ed_http_error(&conn->req, 503, "shutting_down", "edged is shutting down");
        else
            ed_http_error(&conn->req, 503, "too_many_connections",
                          "%u connections are open; the limit is %u (server.max_connections)",
                          server->n_conns - 1, server->cfg.server.max_connections);
        return;
    }
    set_timer(conn, ED_TIMER_HEADER);
    start_reading(conn);
}

void ed_conn_accept(ed_server_t *server)
{
    ed_conn_t *conn;
    if (conn_new(server, &conn) != 0) {
        ed_log_error("out of memory accepting a connection");
        return;
    }
    if (uv_accept((uv_stream_t *)&server->listen_handle, (uv_stream_t *)&conn->pipe) != 0) {
        ed_conn_close(conn);
        return;
    }
    conn_start(conn);
}

int ed_conn_open_fd(ed_server_t *server, int fd)
{
    ed_conn_t *conn;
    int rc = conn_new(server, &conn);
    if (rc)
        return rc;
    if (uv_pipe_open(&conn->pipe, fd) != 0) {
        ed_conn_close(conn);
        return ED_EIO;
    }
    conn_start(conn);
    return 0;
}
