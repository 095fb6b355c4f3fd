/* libFuzzer driver: bytes -> a connection (socketpair, no listener) ->
 * HTTP parser -> router -> handlers -> response. The input is split in two
 * writes at a point chosen by its first byte, to exercise resumed parsing. */
#include "api/api.h"
#include "core/log.h"
#include "core/metrics.h"
#include "http/conn.h"
#include "http/server.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static uv_loop_t *loop;
static ed_server_t server;
static ed_app_t app;

static void setup(void)
{
    ed_log_set_level(ED_LOG_ERROR);
    ed_metrics_init();
    loop = uv_default_loop();
    ed_config_t cfg;
    char err[ED_ERR_LEN];
    ed_config_defaults(&cfg);
    cfg.log.access_log = false;
    cfg.server.max_body_bytes = 4096;
    ed_server_init(&server, loop, &cfg, ed_api_routes, ed_api_n_routes, &app, err);
    app.server = &server;
    server.ready = true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!loop)
        setup();
    int fds[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0)
        return 0;
    if (ed_conn_open_fd(&server, fds[1]) != 0) {
        close(fds[0]);
        return 0;
    }
    size_t split = size ? data[0] % (size + 1) : 0;
    char sink[65536];
    for (int part = 0; part < 2; part++) {
        const uint8_t *p = part ? data + split : data;
        size_t n = part ? size - split : split;
        while (n > 0) {
            ssize_t w = send(fds[0], p, n, MSG_NOSIGNAL);
            if (w <= 0)
                break;
            p += w;
            n -= (size_t)w;
            uv_run(loop, UV_RUN_NOWAIT);
            while (read(fds[0], sink, sizeof sink) > 0) {
            }
        }
        uv_run(loop, UV_RUN_NOWAIT);
    }
    shutdown(fds[0], SHUT_WR);
    for (int i = 0; i < 8; i++) {
        uv_run(loop, UV_RUN_NOWAIT);
        while (read(fds[0], sink, sizeof sink) > 0) {
        }
    }
    close(fds[0]);
    while (server.conns)
        ed_conn_close(server.conns);
    uv_run(loop, UV_RUN_NOWAIT);
    return 0;
}
