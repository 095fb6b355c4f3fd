/* Tests daemon/http/sse.c through a real connection on a socketpair: a
 * producer faster than its reader never queues more than the high-water
 * mark, every event arrives in order, and a reader that goes away stops the
 * producer (ED_ECLOSED) and fires the request's abort callback. */
#include "core/log.h"
#include "core/metrics.h"
#include "http/conn.h"
#include "http/server.h"
#include "http/sse.h"
#include "../../test.h"

#include <sys/socket.h>

#define N_EVENTS 1500
#define EVENT_BYTES 1000

static int sent, eagains, aborted, closed_seen;
static size_t max_queued;
static ed_request_t *stream_req;

static void pump(ed_request_t *req, void *arg);

static void send_more(ed_request_t *req)
{
    char event[EVENT_BYTES + 16];
    while (sent < N_EVENTS) {
        snprintf(event, sizeof event, "event-%06d %0*d", sent, EVENT_BYTES - 14, 0);
        int rc = ed_sse_send(req, event, strlen(event));
        if (rc == ED_EAGAIN) {
            eagains++;
            ed_sse_on_drain(req, pump, NULL);
            return;
        }
        if (rc == ED_ECLOSED) {
            closed_seen = 1;
            ed_sse_end(req);
            return;
        }
        sent++;
        if (ed__conn_queued(req->conn) > max_queued)
            max_queued = ed__conn_queued(req->conn);
    }
    ed_sse_end(req);
}

static void pump(ed_request_t *req, void *arg)
{
    (void)arg;
    send_more(req);
}

static void on_abort(ed_request_t *req, void *arg)
{
    (void)req, (void)arg;
    aborted = 1;
}

static void stream_handler(ed_request_t *req)
{
    stream_req = req;
    ed_request_on_abort(req, on_abort, NULL);
    if (ed_sse_start(req) == 0)
        send_more(req);
}

static const ed_route_t routes[] = {{ED_HTTP_GET, "/stream", ED_GROUP_NONE, stream_handler, "", false}};

static void start(ed_server_t *server, int fds[2])
{
    ed_log_set_level(ED_LOG_ERROR);
    ed_metrics_init();
    ed_config_t cfg;
    char err[ED_ERR_LEN];
    ed_config_defaults(&cfg);
    cfg.log.access_log = false;
    ed_server_init(server, uv_default_loop(), &cfg, routes, 1, NULL, err);
    socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds);
    int small = 4096;
    setsockopt(fds[1], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    ed_conn_open_fd(server, fds[1]);
    const char *request = "GET /stream HTTP/1.1\r\n\r\n";
    send(fds[0], request, strlen(request), MSG_NOSIGNAL);
}

ED_TEST(slow_reader_gets_every_event_with_bounded_queue)
{
    ed_server_t server;
    int fds[2];
    start(&server, fds);
    size_t cap = 4u << 20, len = 0;
    char *got = malloc(cap);
    for (int spins = 0; spins < 200000 && len < cap - 1; spins++) {
        uv_run(uv_default_loop(), UV_RUN_NOWAIT);
        ssize_t n = read(fds[0], got + len, 2048 < cap - 1 - len ? 2048 : cap - 1 - len); /* slow reader */
        if (n > 0)
            len += (size_t)n;
        got[len] = '\0';
        if (len >= 5 && memcmp(got + len - 5, "0\r\n\r\n", 5) == 0)
            break;
    }
    ED_CHECK_INT(sent, N_EVENTS);
    ED_CHECK(eagains > 0); /* the reader really was slower than the producer */
    printf("# events %d, waits %d, max queued %zu bytes (high water %d)\n", sent, eagains, max_queued,
           ED_CONN_HIGH_WATER);
    ED_CHECK(max_queued <= ED_CONN_HIGH_WATER + EVENT_BYTES + 64);
    /* Every event arrived, in order, as an SSE data line. */
    const char *at = got;
    int in_order = 0;
    char want[32];
    for (int i = 0; i < N_EVENTS; i++) {
        snprintf(want, sizeof want, "data: event-%06d ", i);
        const char *found = strstr(at, want);
        if (!found)
            break;
        at = found + strlen(want);
        in_order++;
    }
    ED_CHECK_INT(in_order, N_EVENTS);
    ED_CHECK(strstr(got, "Content-Type: text/event-stream") != NULL);
    ED_CHECK(strstr(got, "Transfer-Encoding: chunked") != NULL);
    ED_CHECK(!aborted);
    free(got);
}

ED_TEST(reader_going_away_stops_the_producer)
{
    ed_server_t server;
    int fds[2];
    start(&server, fds);
    char buf[4096];
    for (int spins = 0; spins < 1000 && eagains == 0; spins++)
        uv_run(uv_default_loop(), UV_RUN_NOWAIT);
    ED_REQUIRE(eagains > 0);
    ssize_t n = read(fds[0], buf, sizeof buf);
    ED_CHECK(n > 0);
    close(fds[0]); /* the client disconnects mid-stream */
    for (int spins = 0; spins < 1000 && !aborted; spins++)
        uv_run(uv_default_loop(), UV_RUN_NOWAIT);
    ED_CHECK(aborted);
    ED_CHECK(sent < N_EVENTS);
}

ED_TEST_MAIN(slow_reader_gets_every_event_with_bounded_queue, reader_going_away_stops_the_producer)
