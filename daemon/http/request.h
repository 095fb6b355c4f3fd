/* request.h - one HTTP request as handlers see it, and the calls a handler
 * uses to answer it. A request belongs to its connection; it lives from the
 * end of its headers until its response is finished. Loop thread only.
 * Handlers answer exactly once, now or later (ed_http_respond*), or stream
 * (http/sse.h). Workers never call these: they hand results to the loop. */
#ifndef ED_HTTP_REQUEST_H
#define ED_HTTP_REQUEST_H

#include "http/peer.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    ED_HTTP_GET = 1 << 0,
    ED_HTTP_HEAD = 1 << 1,
    ED_HTTP_POST = 1 << 2,
    ED_HTTP_PUT = 1 << 3,
    ED_HTTP_DELETE = 1 << 4,
    ED_HTTP_PATCH = 1 << 5,
    ED_HTTP_OPTIONS = 1 << 6,
    ED_HTTP_OTHER = 1 << 7,
} ed_http_method_t;

#define ED_HTTP_MAX_EXTRA_HEADERS 8
#define ED_REQUEST_ID_MAX 128

typedef struct {
    const char *name; /* NUL-terminated, inside the request's header buffer */
    const char *value;
} ed_http_header_t;

typedef struct {
    const char *ptr; /* a {name} segment of the path, not NUL-terminated */
    size_t len;
} ed_route_param_t;

#define ED_ROUTE_MAX_PARAMS 4

typedef struct ed_conn ed_conn_t;
typedef struct ed_route ed_route_t;

typedef struct ed_request {
    ed_conn_t *conn;
    void *app;                /* the daemon's context (the server's app pointer) */
    ed_http_method_t method;
    const char *method_name;
    char *target;             /* as received: path and query */
    char *path;               /* target up to '?', NUL-terminated */
    char *query;              /* after '?', or "" */
    ed_http_header_t *headers; /* n_headers entries */
    uint32_t n_headers;
    char *body;               /* NUL-terminated for convenience; body_len bytes */
    size_t body_len;
    char request_id[ED_REQUEST_ID_MAX + 1];
    ed_peer_t peer;           /* the connection's credentials */
    const ed_route_t *route;  /* NULL until routed */
    ed_route_param_t params[ED_ROUTE_MAX_PARAMS]; /* the route's {name} segments, in order */
    uint64_t start_ns;        /* when its first byte arrived (monotonic) */
    bool keep_alive;          /* the client wants the connection kept */

    /* response state */
    int status;
    uint64_t bytes_out;       /* body bytes written */
    bool responded;           /* final response started */
    bool streaming;           /* SSE in progress */
    char extra_headers[ED_HTTP_MAX_EXTRA_HEADERS][2][96];
    int n_extra_headers;
    void (*on_abort)(struct ed_request *req, void *arg); /* client went away first */
    void *on_abort_arg;
} ed_request_t;

/* The value of header `name` (case-insensitive), or NULL. */
const char *ed_request_header(const ed_request_t *req, const char *name);

/* Adds a response header (e.g. Allow, Retry-After) before responding. */
void ed_http_add_header(ed_request_t *req, const char *name, const char *value);

/* Sends a complete response. `body` is copied. */
void ed_http_respond(ed_request_t *req, int status, const char *content_type, const char *body,
                     size_t len);
/* Sends `json` (a reference is stolen) as application/json. */
void ed_http_respond_json(ed_request_t *req, int status, json_t *json);
/* Sends the JSON error body {"error": {"message", "type", "code"}}. */
void ed_http_error(ed_request_t *req, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Called (loop thread) if the client disconnects before the response ends:
 * long work (generation) cancels itself here. The request stays valid until
 * the handler then calls ed_http_respond* or ed_sse_end (which are no-ops on
 * the wire by then). */
void ed_request_on_abort(ed_request_t *req, void (*fn)(ed_request_t *, void *), void *arg);

/* The reason phrase of `status`. */
const char *ed_http_status_text(int status);
/* The error "type" for a status (invalid_request_error, server_error, ...). */
const char *ed_http_error_type(int status);

#endif
