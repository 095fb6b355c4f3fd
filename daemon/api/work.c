/* work.c - see work.h. */
#include "api/work.h"
#include "api/api.h"

#include <stdlib.h>
#include <uv.h>

typedef struct {
    uv_work_t work; /* first: the uv_work_t * is the offload_t * */
    ed_request_t *req;
    void (*run)(void *arg);
    void (*done)(ed_request_t *req, void *arg, bool gone);
    void *arg;
    bool gone;
} offload_t;

static void on_abort(ed_request_t *req, void *arg)
{
    (void)req;
    ((offload_t *)arg)->gone = true;
}

static void work_cb(uv_work_t *work)
{
    offload_t *o = (offload_t *)work;
    o->run(o->arg);
}

static void after_work_cb(uv_work_t *work, int status)
{
    offload_t *o = (offload_t *)work;
    (void)status; /* nothing cancels the work: it always ran */
    ed_request_on_abort(o->req, NULL, NULL);
    o->done(o->req, o->arg, o->gone);
    free(o);
}

void ed_api_offload(ed_request_t *req, void (*run)(void *arg), void (*done)(ed_request_t *req, void *arg, bool gone),
                    void *arg)
{
    const ed_app_t *app = req->app;
    offload_t *o = malloc(sizeof *o);
    if (o) {
        *o = (offload_t){.req = req, .run = run, .done = done, .arg = arg};
        if (uv_queue_work(app->server->loop, &o->work, work_cb, after_work_cb) == 0) {
            ed_request_on_abort(req, on_abort, o);
            return;
        }
        free(o);
    }
    run(arg);
    done(req, arg, false);
}

void ed_api_end_gone(ed_request_t *req)
{
    ed_http_error(req, 400, "cancelled", "the client closed the connection before the answer");
}
