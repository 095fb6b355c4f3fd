/* libFuzzer driver: request bodies -> the inference and personal-store
 * endpoints of a daemon with the shared tiny Llama loaded (engine thread,
 * real vocabulary) and a store in a temporary directory. The first byte picks
 * the endpoint (and for documents the content type), the rest is the body,
 * sent over a socketpair connection; the loop runs until the answer (whole or
 * streamed) is complete. Generation is capped at a few tokens so valid
 * requests stay cheap. Run from the repository root. */
#include "api/api.h"
#include "core/log.h"
#include "core/metrics.h"
#include "engine/engine.h"
#include "kernels/kernels.h"
#include "kernels/pool.h"
#include "model/base.h"
#include "rag/rag.h"
#include "http/conn.h"
#include "http/server.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <ftw.h>
#include <time.h>
#include <unistd.h>

#define MODEL "../shared/testdata/models/tiny-llama-Q8_0.gguf"

static uv_loop_t *loop;
static ed_server_t server;
static ed_app_t app;

static const struct {
    const char *method, *target, *type;
} endpoints[] = {
    {"POST", "/v1/chat/completions", "application/json"},
    {"POST", "/v1/completions", "application/json"},
    {"POST", "/v1/embeddings", "application/json"},
    {"POST", "/v1/tokenize", "application/json"},
    {"POST", "/v1/detokenize", "application/json"},
    {"POST", "/v1/documents", "application/json"},
    {"POST", "/v1/documents?collection=fz&title=a%20b&source=x", "text/markdown"},
    {"POST", "/v1/documents?collection=fz", "text/html; charset=utf-8"},
    {"POST", "/v1/search", "application/json"},
    {"PUT", "/v1/collections/fz", "application/json"},
};
static char state_dir[] = "/tmp/edged-fuzz-XXXXXX";

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void remove_state(void)
{
    nftw(state_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void on_store_open(int rc, const char *err, void *arg)
{
    (void)arg;
    if (rc != 0) {
        fprintf(stderr, "api_infer: the store did not open: %s\n", err);
        abort();
    }
}

static void setup(void)
{
    ed_log_set_level(ED_LOG_ERROR);
    ed_metrics_init();
    loop = uv_default_loop();
    ed_config_t cfg;
    char err[ED_ERR_LEN];
    ed_config_defaults(&cfg);
    cfg.log.access_log = false;
    cfg.server.max_body_bytes = 65536;
    snprintf(cfg.model.path, sizeof cfg.model.path, "%s", MODEL);
    if (!mkdtemp(state_dir)) {
        perror("api_infer: mkdtemp");
        abort();
    }
    atexit(remove_state);
    snprintf(cfg.state.directory, sizeof cfg.state.directory, "%s", state_dir);
    cfg.rag.max_batch_documents = 4;
    cfg.model.context = 64;
    cfg.model.threads = 1;
    cfg.engine.parallel = 1;
    cfg.engine.queue_length = 1;
    cfg.engine.max_tokens_default = 2;
    cfg.engine.max_tokens_limit = 4;
    static ed_pool_t *pool; /* lent for the process's life, as edged lends them */
    static ed_base_t *base;
    if (ed_server_init(&server, loop, &cfg, ed_api_routes, ed_api_n_routes, &app, err) != 0 ||
        ed_pool_open(&pool, 1, err) != 0 ||
        ed_base_open(&base, MODEL, ed_kernels_select(getenv("EDGED_KERNELS")), pool, err) != 0 ||
        ed_engine_start(&app.engine, loop, &cfg, base, err) != 0) {
        fprintf(stderr, "api_infer: %s\n", err);
        abort();
    }
    if (ed_rag_open(&app.rag, loop, &cfg, base, pool, on_store_open, NULL, err) != 0) {
        fprintf(stderr, "api_infer: the store did not open: %s\n", err);
        abort();
    }
    app.server = &server;
    server.ready = true;
    while (ed_engine_state(app.engine, NULL) == ED_ENGINE_LOADING || ed_rag_state(app.rag, err) == ED_RAG_OPENING)
        uv_run(loop, UV_RUN_NOWAIT);
    if (ed_engine_state(app.engine, NULL) != ED_ENGINE_READY) {
        fprintf(stderr, "api_infer: %s did not load (run from the repository root)\n", MODEL);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!loop)
        setup();
    if (size < 1 || size > 60000)
        return 0;
    const size_t which = data[0] % (sizeof endpoints / sizeof endpoints[0]);
    char head[512];
    int n_head = snprintf(head, sizeof head,
                          "%s %s HTTP/1.1\r\nHost: edged\r\nContent-Type: %s\r\n"
                          "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                          endpoints[which].method, endpoints[which].target, endpoints[which].type, size - 1);
    int fds[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0)
        return 0;
    if (ed_conn_open_fd(&server, fds[1]) != 0) {
        close(fds[0]);
        return 0;
    }
    char sink[65536];
    const uint8_t *parts[2] = {(const uint8_t *)head, data + 1};
    size_t lens[2] = {(size_t)n_head, size - 1};
    for (int part = 0; part < 2; part++) {
        const uint8_t *p = parts[part];
        size_t n = lens[part];
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
    }
    /* the answer ends with the server closing the connection */
    double deadline = now_s() + 5.0;
    while (now_s() < deadline) {
        uv_run(loop, UV_RUN_NOWAIT);
        ssize_t r = read(fds[0], sink, sizeof sink);
        if (r == 0)
            break;
        if (r < 0)
            usleep(200);
    }
    close(fds[0]);
    while (server.conns)
        ed_conn_close(server.conns);
    for (int i = 0; i < 4; i++)
        uv_run(loop, UV_RUN_NOWAIT);
    return 0;
}
