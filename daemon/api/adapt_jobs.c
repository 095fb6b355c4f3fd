/* adapt_jobs.c - the adapt job routes (api/adapt.h): POST /v1/adapt (the
 * body is adapt_request.c's; the collections must be readable by the
 * caller), GET /v1/adapt/jobs, GET /v1/adapt/jobs/{id} and DELETE
 * /v1/adapt/jobs/{id}. A job's owner sees and cancels it; an admin sees
 * every job and may ask for run_now. */
#include "api/adapt_internal.h"

#include "api/documents.h"
#include "api/status.h"
#include "api/work.h"
#include "core/log.h"
#include "rag/rag.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HISTORY_POINTS 200 /* loss points a job's GET returns at most */

/* ---------------------------------------------------------- answers --- */

adapt_t *ed__adapt_require(ed_request_t *req)
{
    ed_app_t *app = req->app;
    char reason[ED_ERR_LEN];
    if (!app->adapt) {
        if (!app->rag || ed_rag_state(app->rag, reason) == ED_RAG_OPENING)
            ed_api_fail(req, ED_EAGAIN, ED_API_STORE, NULL, "the job queue opens with the personal store");
        else
            ed_api_fail(req, ED_ESTATE, ED_API_STORE, NULL,
                        "the job queue is not open: the personal store did not open (the daemon's log says why)");
        return NULL;
    }
    int rc = ed_jobs_state(app->adapt->jobs, reason);
    if (rc != 0) {
        ed_api_fail(req, rc, ED_API_STORE, NULL, "%s%s", reason,
                    rc == ED_EAGAIN ? "" : " (the daemon's log says why)");
        return NULL;
    }
    return app->adapt;
}

bool ed__adapt_is_admin(const ed_request_t *req)
{
    const ed_app_t *app = req->app;
    return ed_acl_allows(&app->server->acls[ED_GROUP_ADMIN], &req->peer);
}

static json_t *number_or_null(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

json_t *ed__adapt_job_json(const ed_adapt_job_t *j)
{
    json_t *collections = json_loads(j->collections, 0, NULL);
    json_t *options = json_loads(j->options, 0, NULL);
    double progress = j->max_steps > 0 ? (double)j->step / (double)j->max_steps : 0;
    if (strcmp(j->state, "done") == 0)
        progress = 1;
    json_t *o = json_pack("{s:s,s:s,s:s,s:I,s:o,s:o,s:s,s:s,s:I,s:I,s:f,s:I,s:I,s:I,s:f,s:o,s:o,s:o,s:I,s:o,s:s*}",
                          "id", j->id, "object", "adapt.job", "name", j->name, "owner_uid", (json_int_t)j->owner_uid,
                          "collections", collections ? collections : json_array(), "options",
                          options ? options : json_object(), "state", j->state, "reason", j->reason, "created",
                          (json_int_t)j->created, "updated", (json_int_t)j->updated, "progress",
                          progress > 1 ? 1.0 : progress, "step", (json_int_t)j->step, "max_steps",
                          (json_int_t)j->max_steps, "tokens", (json_int_t)j->tokens, "elapsed_s", j->elapsed_s,
                          "train_loss", number_or_null(j->train_loss), "heldout_loss",
                          number_or_null(j->heldout_loss), "best_heldout_loss", number_or_null(j->best_heldout_loss),
                          "best_step", (json_int_t)j->best_step, "eta_s", number_or_null(j->eta_s), "adapter_id",
                          j->adapter_id[0] ? j->adapter_id : NULL);
    return o;
}

/* A loss curve as the API shows it. */
static json_t *losses_json(const ed_run_point_t *points, int n)
{
    json_t *losses = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(losses, json_pack("{s:I,s:I,s:f,s:o,s:o}", "step", (json_int_t)points[i].step, "tokens",
                                                (json_int_t)points[i].tokens, "elapsed_s", points[i].elapsed_s,
                                                "train_loss", number_or_null(points[i].train_loss), "heldout_loss",
                                                number_or_null(points[i].heldout_loss)));
    return losses;
}

/* The job {id} names, if the caller may see it; else answers 404. */
bool ed__adapt_require_job(ed_request_t *req, adapt_t *a, ed_adapt_job_t *out)
{
    const ed_route_param_t *p = &req->params[0];
    char id[ED_ADAPT_JOB_ID_LEN];
    bool found = false;
    if (p->len < sizeof id) {
        memcpy(id, p->ptr, p->len);
        id[p->len] = '\0';
        found = ed_jobs_get(a->jobs, id, out) == 0 &&
                (out->owner_uid == (uint32_t)req->peer.uid || ed__adapt_is_admin(req));
    }
    if (!found)
        ed_api_fail(req, ED_ENOENT, ED_API_STORE, NULL, "job \"%.*s\" does not exist",
                    p->len > 64 ? 64 : (int)p->len, p->ptr);
    return found;
}

/* Answers pool work on a job (rc and err: its outcome): the job as it is
 * after it, with `status`. */
static void answer_job(ed_request_t *req, bool gone, int rc, const char *err, int status, const ed_adapt_job_t *job)
{
    ed_app_t *app = req->app;
    if (gone)
        ed_api_end_gone(req);
    else if (rc != 0)
        ed_api_fail(req, rc, ED_API_STORE, NULL, "%s", err);
    else if (!app->adapt)
        ed_api_fail(req, ED_ECANCELED, ED_API_STORE, NULL, "the daemon is stopping");
    else
        ed_http_respond_json(req, status, ed__adapt_job_json(job));
}

/* ------------------------------------------------------------ create --- */

typedef struct {
    ed_request_t *req;
    adapt_t *a;
    ed_adapt_request_t request;
    int rc;
    char err[ED_ERR_LEN];
} create_t;

static void create_free(create_t *c)
{
    ed__adapt_request_free(&c->request);
    free(c);
}

static void create_run(void *arg)
{
    create_t *c = arg;
    c->rc = ed_jobs_create(c->a->jobs, &c->request.job, c->request.examples, c->request.examples_len, c->err);
}

static void create_done(ed_request_t *req, void *arg, bool gone)
{
    create_t *c = arg;
    ed__adapt_unhold(c->a);
    const ed_adapt_job_t *job = &c->request.job;
    if (c->rc == 0)
        ed_log_info("adapt: %s queued: %s on %s for uid %u", job->id, job->name, job->collections, job->owner_uid);
    answer_job(req, gone, c->rc, c->err, 202, job);
    create_free(c);
}

/* The collections the caller may read came back: every one asked for must
 * be among them. */
static void on_readable(int rc, const char *err, const ed_rag_collection_t *colls, int n, void *arg)
{
    create_t *c = arg;
    ed_request_t *req = c->req;
    if (rc != 0) {
        ed_api_store_failed(req, rc, "collections", err);
        create_free(c);
        return;
    }
    for (int i = 0; i < c->request.n_collections; i++) {
        bool readable = false;
        for (int k = 0; k < n && !readable; k++)
            readable = strcmp(colls[k].name, c->request.collections[i]) == 0;
        if (!readable) {
            ed_api_fail(req, ED_EACCES, ED_API_STORE, "collections",
                        "collections[%d]: \"%s\" does not exist or you may not read it", i, c->request.collections[i]);
            create_free(c);
            return;
        }
    }
    ed_app_t *app = req->app;
    if (!app->adapt) {
        ed_api_fail(req, ED_ECANCELED, ED_API_STORE, NULL, "the daemon is stopping");
        create_free(c);
        return;
    }
    c->a = app->adapt;
    ed__adapt_hold(c->a);
    ed_api_offload(req, create_run, create_done, c);
}

void ed_api_adapt_create(ed_request_t *req)
{
    adapt_t *a = ed__adapt_require(req);
    struct ed_rag *rag = a ? ed_api_require_store(req) : NULL;
    if (!rag)
        return;
    ed_app_t *app = req->app;
    create_t *c = calloc(1, sizeof *c);
    if (!c) {
        ed_api_fail(req, ED_ENOMEM, ED_API_STORE, NULL, "out of memory");
        return;
    }
    c->req = req;
    c->a = a;
    c->request.job.owner_uid = (uint32_t)req->peer.uid;
    ed_param_error_t perr = {0};
    int rc = ed__adapt_request_read(req->body, req->body_len, &app->server->cfg, &c->request, &perr);
    if (rc != 0) {
        ed_params_refuse(req, rc, &perr);
        create_free(c);
        return;
    }
    if (c->request.run_now && !ed__adapt_is_admin(req)) {
        ed_api_fail(req, ED_EACCES, ED_API_STORE, "run_now",
                    "run_now: only an admin (access.admin) may train outside the window");
        create_free(c);
        return;
    }
    if (ed_jobs_full(a->jobs)) {
        ed_api_fail(req, ED_EBUSY, ED_API_STORE, NULL,
                    "%u adapt jobs are queued or running already (adapt.max_queued_jobs); retry later",
                    app->server->cfg.adapt.max_queued_jobs);
        create_free(c);
        return;
    }
    if (c->request.n_collections == 0) {
        ed__adapt_hold(a);
        ed_api_offload(req, create_run, create_done, c);
        return;
    }
    ed_rag_caller_t who = ed_api_caller(req);
    char detail[ED_ERR_LEN] = "";
    if ((rc = ed_rag_collections(rag, &who, on_readable, c, detail)) != 0) {
        ed_api_store_failed(req, rc, "collections", detail);
        create_free(c);
    }
}

/* -------------------------------------------------------------- reads --- */

void ed_api_adapt_jobs_list(ed_request_t *req)
{
    adapt_t *a = ed__adapt_require(req);
    if (!a)
        return;
    ed_adapt_job_t *jobs = NULL;
    int n = 0;
    if (ed_jobs_list(a->jobs, &jobs, &n) != 0) {
        ed_api_fail(req, ED_ENOMEM, ED_API_STORE, NULL, "out of memory");
        return;
    }
    bool admin = ed__adapt_is_admin(req);
    json_t *data = json_array();
    for (int i = 0; i < n; i++)
        if (admin || jobs[i].owner_uid == (uint32_t)req->peer.uid)
            json_array_append_new(data, ed__adapt_job_json(&jobs[i]));
    free(jobs);
    ed_http_respond_json(req, 200, json_pack("{s:s,s:o}", "object", "list", "data", data));
}

/* GET of one job: its loss curve may come from the store, so it is read
 * on a pool thread. */
typedef struct {
    adapt_t *a;
    ed_adapt_job_t job;
    ed_run_point_t *points; /* (n_points) */
    int n_points;
} get_t;

static void get_run(void *arg)
{
    get_t *g = arg;
    if (ed_jobs_history(g->a->jobs, g->job.id, HISTORY_POINTS, &g->points, &g->n_points) != 0) {
        g->points = NULL;
        g->n_points = 0;
    }
}

static void get_done(ed_request_t *req, void *arg, bool gone)
{
    get_t *g = arg;
    ed__adapt_unhold(g->a);
    if (gone) {
        ed_api_end_gone(req);
    } else {
        json_t *o = ed__adapt_job_json(&g->job);
        json_object_set_new(o, "losses", losses_json(g->points, g->n_points));
        ed_http_respond_json(req, 200, o);
    }
    free(g->points);
    free(g);
}

void ed_api_adapt_jobs_get(ed_request_t *req)
{
    adapt_t *a = ed__adapt_require(req);
    ed_adapt_job_t job;
    if (!a || !ed__adapt_require_job(req, a, &job))
        return;
    get_t *g = calloc(1, sizeof *g);
    if (!g) {
        ed_api_fail(req, ED_ENOMEM, ED_API_STORE, NULL, "out of memory");
        return;
    }
    g->a = a;
    g->job = job;
    ed__adapt_hold(a);
    ed_api_offload(req, get_run, get_done, g);
}

/* ------------------------------------------------------------- cancel --- */

typedef struct {
    adapt_t *a;
    char id[ED_ADAPT_JOB_ID_LEN];
    ed_adapt_job_t job;
    int rc;
    char err[ED_ERR_LEN];
} cancel_t;

static void cancel_run(void *arg)
{
    cancel_t *c = arg;
    c->rc = ed_jobs_cancel(c->a->jobs, c->id, &c->job, c->err);
}

static void cancel_done(ed_request_t *req, void *arg, bool gone)
{
    cancel_t *c = arg;
    ed__adapt_unhold(c->a);
    answer_job(req, gone, c->rc, c->err, 200, &c->job);
    free(c);
}

void ed_api_adapt_jobs_cancel(ed_request_t *req)
{
    adapt_t *a = ed__adapt_require(req);
    ed_adapt_job_t job;
    if (!a || !ed__adapt_require_job(req, a, &job))
        return;
    cancel_t *c = calloc(1, sizeof *c);
    if (!c) {
        ed_api_fail(req, ED_ENOMEM, ED_API_STORE, NULL, "out of memory");
        return;
    }
    c->a = a;
    snprintf(c->id, sizeof c->id, "%s", job.id);
    ed__adapt_hold(a);
    ed_api_offload(req, cancel_run, cancel_done, c);
}
