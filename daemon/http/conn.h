/* conn.h - one client connection: reading, the request parser, timeouts,
 * routing and authorisation, writing responses in order, keep-alive and
 * pipelining (one request at a time; later ones wait in the input buffer),
 * and write backpressure for streams. Loop thread only. */
#ifndef ED_HTTP_CONN_H
#define ED_HTTP_CONN_H

#include "core/buf.h"
#include "http/request.h"
#include "http/server.h"

#include <uv.h>

/* A stream writer waits (ed_sse_send: ED_EAGAIN) while this many bytes are queued. */
#define ED_CONN_HIGH_WATER (256 * 1024)

typedef enum {
    ED_TIMER_NONE,
    ED_TIMER_HEADER, /* waiting for a request's head */
    ED_TIMER_BODY,   /* waiting for its body */
    ED_TIMER_IDLE,   /* keep-alive, nothing in progress */
} ed_conn_timer_t;

struct ed_conn {
    uv_pipe_t pipe;
    uv_timer_t timer;
    int open_handles;          /* handles not yet closed; the conn is freed at 0 */
    ed_server_t *server;
    ed_conn_t *prev, *next;    /* in server->conns */
    uint64_t id;
    ed_peer_t peer;

    ed_http_parser_t *parser;
    ed_request_t req;          /* the request being received or answered */
    bool busy;                 /* req is complete and handed to its handler */
    bool processing;           /* process_input is on the stack (no re-entry) */
    int route_status;          /* 403/404/405 decided at the head, answered after the body */
    char route_allow[64];      /* the Allow header of a 405 */
    ed_conn_timer_t timer_kind;

    char *in;                  /* received bytes not yet parsed (pipelined requests) */
    size_t in_len, in_cap;
    bool reading;
    bool eof;                  /* the client closed its side */

    size_t write_queued;       /* bytes handed to uv_write and not yet written */
    bool close_after_response;
    bool closing;              /* uv_close called */

    void (*on_drain)(ed_request_t *req, void *arg); /* stream writer waiting for room */
    void *on_drain_arg;
};

/* Accepts a pending connection from the listening handle. */
void ed_conn_accept(ed_server_t *server);
/* Takes an already connected socket (tests, fuzzing). Returns 0 or ED_E*. */
int ed_conn_open_fd(ed_server_t *server, int fd);
/* Closes the connection now; a handler still holding its request keeps it
 * until it responds (its responses are then dropped). */
void ed_conn_close(ed_conn_t *conn);
/* Closes it if no request is in progress (shutdown). */
void ed_conn_close_if_idle(ed_conn_t *conn);

/* Internal to http/: queue bytes on the wire. `data` is taken (freed after
 * the write). `last` ends the current response. Returns 0, or ED_ECLOSED
 * when the connection is gone (data freed). */
int ed__conn_write(ed_conn_t *conn, char *data, size_t len, bool last);
/* Bytes queued and not yet written; whether a stream may write more now. */
size_t ed__conn_queued(const ed_conn_t *conn);
bool ed__conn_writable(const ed_conn_t *conn);
/* The response header block for req (status line, standard headers, extras). */
void ed__conn_format_head(ed_conn_t *conn, ed_request_t *req, int status, const char *content_type,
                          long long content_length, ed_buf_t *out);

#endif
