/* server.h - the HTTP server on the Unix socket: accepts connections
 * (bounded by server.max_connections), owns them, applies limits and allow
 * lists from the config, and drains on shutdown. Runs on the loop thread;
 * connections live in conn.c. */
#ifndef ED_HTTP_SERVER_H
#define ED_HTTP_SERVER_H

#include "core/config.h"
#include "http/http.h"
#include "http/listener.h"
#include "http/peer.h"
#include "http/router.h"

#include <stdbool.h>
#include <uv.h>

typedef struct ed_server ed_server_t;
typedef void (*ed_server_drained_fn)(ed_server_t *server);

struct ed_server {
    uv_loop_t *loop;
    ed_config_t cfg;                /* the live configuration */
    ed_http_limits_t limits;
    ed_acl_t acls[ED_GROUP_COUNT];
    const ed_route_t *routes;
    size_t n_routes;
    void *app;                      /* the daemon's context, for handlers */

    ed_listener_t listener;
    uv_pipe_t listen_handle;
    bool listening;

    ed_conn_t *conns;               /* doubly linked list of open connections */
    uint32_t n_conns;
    uint64_t next_conn_id;

    bool ready;                     /* /health says 200 */
    char not_ready_reason[160];
    double start_time;              /* monotonic seconds */

    bool draining;
    uv_timer_t drain_timer;
    bool drain_timer_open;
    ed_server_drained_fn on_drained;
};

/* Prepares the server (no socket yet). Returns 0 or an ED_E* code + err. */
int ed_server_init(ed_server_t *server, uv_loop_t *loop, const ed_config_t *cfg,
                   const ed_route_t *routes, size_t n_routes, void *app, char err[ED_ERR_LEN]);
/* Opens the socket (or takes systemd's) and starts accepting. */
int ed_server_listen(ed_server_t *server, char err[ED_ERR_LEN]);
/* Applies the reloadable options of `cfg` (limits, timeouts, allow lists, log). */
void ed_server_reconfigure(ed_server_t *server, const ed_config_t *cfg);
/* Stops accepting, closes idle connections, lets requests in flight finish
 * until server.shutdown_timeout_ms, then closes the rest; calls `done` once
 * no connection is left. */
void ed_server_shutdown(ed_server_t *server, ed_server_drained_fn done);
/* Closes the server's own handles (after shutdown). */
void ed_server_close(ed_server_t *server);

/* Seconds on the monotonic clock. */
double ed_server_now(void);

#endif
