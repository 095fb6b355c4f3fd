/* adapt.c - the adapt endpoints (api/adapt.h): POST /v1/adapt, GET
 * /v1/adapt/jobs, GET /v1/adapt/jobs/{id}, GET /v1/adapt/jobs/{id}/events
 * (SSE) and DELETE /v1/adapt/jobs/{id}; and the glue between the job queue
 * (adapt/jobs.h) and the rest of the daemon: the scheduler's window, the
 * engine's prompt format, the adapter registry, forgetting. A job's owner
 * sees and cancels it; an admin sees every job and may ask for run_now. */
#include "api/adapt.h"

#include "adapt/jobs.h"
#include "adapt/scheduler.h"
#include "api/adapters.h"
#include "api/documents.h"
#include "api/params.h"
#include "api/status.h"
#include "api/work.h"
#include "core/log.h"
#include "engine/engine.h"
#include "http/sse.h"
#include "rag/rag.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_COLLECTIONS 16
#define MAX_EXAMPLES 10000
#define NAME_MAX_LEN 64
#define HISTORY_POINTS 200 /* loss points a job's GET returns at most */

typedef struct sub {
    ed_request_t *req;
    char id[ED_ADAPT_JOB_ID_LEN];
    uint64_t cursor;
    bool ended;       /* its job's end was sent */
    char *pending_end; /* the end, waiting for the client to drain the stream */
    struct sub *next;
} sub_t;

typedef struct ed_adapt {
    ed_app_t *app;
    ed_jobs_t *jobs;
    uv_timer_t timer;
    bool prompt_set;
    sub_t *subs;
    int in_flight; /* pool work using jobs: the queue is freed after the last */
    bool closed;
    bool forced;   /* the scheduler is forced for a run_now job */
} adapt_t;

static void on_timer_closed(uv_handle_t *handle);

/* Pool work that uses a->jobs starts (hold) and ends on the loop thread
 * (unhold); a closed queue is freed after the last. */
static void hold(adapt_t *a)
{
    a->in_flight++;
}

static void unhold(adapt_t *a)
{
    if (--a->in_flight == 0 && a->closed) {
        ed_jobs_close(a->jobs);
        uv_close((uv_handle_t *)&a->timer, on_timer_closed);
    }
}

/* ------------------------------------------------------------ the glue --- */

/* The scheduler's verdict for the queue: the window, the window ignoring
 * every constraint but temperature (run_now), and why it is closed. */
static void push_window(adapt_t *a)
{
    ed_scheduler_t *s = a->app->scheduler;
    if (!s) {
        ed_jobs_window(a->jobs, false, true, "the scheduler did not start (the daemon's log says why)");
        return;
    }
    ed_scheduler_status_t st;
    ed_scheduler_status(s, &st);
    char why[256] = "";
    size_t at = 0;
    for (int i = 0; i < ED_SCHED_N; i++) {
        const ed_sched_check_t *c = &st.eval.checks[i];
        if (!c->holds && at < sizeof why)
            at += (size_t)snprintf(why + at, sizeof why - at, "%s%s: %s", at ? "; " : "", c->name, c->reason);
    }
    ed_jobs_window(a->jobs, st.eval.window_open, st.eval.checks[ED_SCHED_TEMPERATURE].holds,
                   why[0] ? why : "the training window is closed");
}

/* An admin's run_now job trains (or is next): the scheduler keeps the gate
 * running (so requests still pause it) and stops it only for heat. */
static void sync_force(adapt_t *a)
{
    bool want = a->app->scheduler && ed_jobs_run_now_next(a->jobs);
    if (want != a->forced) {
        a->forced = want;
        ed_scheduler_force(a->app->scheduler, want);
    }
}

static void on_window_change(void *arg, bool open)
{
    (void)open;
    push_window(arg);
}

static void on_tick(uv_timer_t *timer)
{
    adapt_t *a = timer->data;
    if (!a->prompt_set && a->app->engine) {
        const ed_engine_model_t *m = ed_engine_model(a->app->engine);
        if (m) {
            ed_prompt_model_t pm = {m->vocab, m->chat, m->bos_text, m->eos_text, m->n_ctx};
            ed_jobs_set_prompt(a->jobs, &pm);
            a->prompt_set = true;
        }
    }
    sync_force(a);
    push_window(a);
}

typedef struct {
    adapt_t *a;
    char id[32];
} served_t;


static void on_adapter_served(void *arg)
{
    served_t *s = arg;
    ed_jobs_adapter_served(s->a->jobs, s->id);
    unhold(s->a);
    free(s);
}

/* A job stored an adapter: the registry loads it, then the job is done. */
static void on_adapter_added(const char *adapter_id, void *arg)
{
    adapt_t *a = arg;
    served_t *s = malloc(sizeof *s);
    if (!s) {
        ed_jobs_adapter_served(a->jobs, adapter_id);
        return;
    }
    s->a = a;
    snprintf(s->id, sizeof s->id, "%s", adapter_id);
    hold(a);
    ed_adapters_add_stored(a->app->adapters, adapter_id, on_adapter_served, s);
}

static void sub_unlink(adapt_t *a, sub_t *sub)
{
    for (sub_t **p = &a->subs; *p; p = &(*p)->next)
        if (*p == sub) {
            *p = sub->next;
            return;
        }
}

/* Ends one event stream and frees its subscriber. */
static void sub_end(adapt_t *a, sub_t *sub)
{
    sub_unlink(a, sub);
    ed_request_on_abort(sub->req, NULL, NULL);
    ed_sse_end(sub->req);
    free(sub->pending_end);
    free(sub);
}

static void on_sub_drain(ed_request_t *req, void *arg)
{
    ed_app_t *app = req->app;
    sub_t *sub = arg;
    int rc = ed_sse_send(req, sub->pending_end, strlen(sub->pending_end));
    if (rc == ED_EAGAIN) {
        ed_sse_on_drain(req, on_sub_drain, sub);
        return;
    }
    sub->ended = true;
    if (app->adapt)
        sub_end(app->adapt, sub);
}

static void sub_send(const char *json, void *arg)
{
    sub_t *sub = arg;
    if (sub->ended)
        return;
    if (sub->pending_end)
        return;
    /* progress is lossy under backpressure (the next one says more); the end is not: it waits for a drain */
    int rc = ed_sse_send(sub->req, json, strlen(json));
    if (strstr(json, "\"type\":\"end\"")) {
        if (rc == ED_EAGAIN && (sub->pending_end = strdup(json)))
            ed_sse_on_drain(sub->req, on_sub_drain, sub);
        else
            sub->ended = true;
    }
}

static void on_events(void *arg)
{
    adapt_t *a = arg;
    sync_force(a);
    for (sub_t *sub = a->subs, *next; sub; sub = next) {
        next = sub->next;
        ed_jobs_events(a->jobs, sub->id, &sub->cursor, sub_send, sub);
        if (sub->ended)
            sub_end(a, sub);
    }
}

void ed_api_adapt_open(ed_app_t *app, uv_loop_t *loop, const ed_config_t *cfg, ed_base_t *base)
{
    adapt_t *a = calloc(1, sizeof *a);
    if (!a) {
        ed_log_error("adapt: out of memory");
        return;
    }
    a->app = app;
    char err[ED_ERR_LEN];
    ed_jobs_hooks_t hooks = {on_adapter_added, on_events, a};
    ed_gate_t *gate = app->scheduler ? ed_scheduler_gate(app->scheduler) : NULL;
    if (ed_jobs_open(&a->jobs, loop, cfg, base, gate, &hooks, err) != 0) {
        ed_log_error("adapt: the job queue did not open: %s", err);
        free(a);
        return;
    }
    uv_timer_init(loop, &a->timer);
    a->timer.data = a;
    uv_timer_start(&a->timer, on_tick, 0, 1000);
    if (app->scheduler)
        ed_scheduler_on_change(app->scheduler, on_window_change, a);
    app->adapt = a;
}

static void on_timer_closed(uv_handle_t *handle)
{
    free(handle->data);
}

void ed_api_adapt_close(ed_app_t *app)
{
    adapt_t *a = app->adapt;
    if (!a)
        return;
    app->adapt = NULL;
    if (app->scheduler) {
        ed_scheduler_on_change(app->scheduler, NULL, NULL);
        if (a->forced)
            ed_scheduler_force(app->scheduler, false);
    }
    while (a->subs)
        sub_end(a, a->subs);
    ed_jobs_stop(a->jobs); /* the trainer checkpoints now; work in flight ends before the queue goes */
    uv_timer_stop(&a->timer);
    a->closed = true;
    hold(a);
    unhold(a);
}

void ed_api_adapt_reconfigure(ed_app_t *app, const ed_config_t *cfg)
{
    if (app->adapt)
        ed_jobs_reconfigure(app->adapt->jobs, cfg);
}

/* ---------------------------------------------------------- forgetting --- */

typedef struct {
    uv_work_t work;
    adapt_t *a;
    int64_t doc_id;
    char collection[ED_STORE_NAME_MAX];
    bool has_collection;
    char policy[16];
    char (*stale)[32];
    int n_stale;
    int n_retrained;
} forget_t;

static void forget_run(uv_work_t *work)
{
    forget_t *f = work->data;
    ed_jobs_t *jobs = f->a->jobs;
    ed_jobs_forget(jobs, f->doc_id, f->has_collection ? f->collection : NULL);
    char err[ED_ERR_LEN];
    if (ed_jobs_stale_adapters(jobs, &f->stale, &f->n_stale, err) != 0) {
        ed_log_warn("adapt: stale adapters: %s", err);
        return;
    }
    if (strcmp(f->policy, "retrain") != 0)
        return;
    for (int i = 0; i < f->n_stale; i++) {
        ed_adapt_job_t job;
        int rc = ed_jobs_retrain(jobs, f->stale[i], &job, err);
        if (rc == 0) {
            f->n_retrained++;
            ed_log_info("adapt: %s retrains stale adapter %s without the deleted document", job.id, f->stale[i]);
        } else if (rc != ED_EEXIST && rc != ED_ENOENT) {
            ed_log_warn("adapt: retraining %s: %s", f->stale[i], err);
        }
    }
}

static void forget_after(uv_work_t *work, int status)
{
    (void)status;
    forget_t *f = work->data;
    ed_app_t *app = f->a->app;
    bool unserve = strcmp(f->policy, "keep") != 0;
    for (int i = 0; i < f->n_stale; i++)
        ed_adapters_mark_stale(app->adapters, f->stale[i], unserve);
    free(f->stale);
    unhold(f->a);
    free(f);
}

void ed_api_adapt_forget(ed_app_t *app, int64_t doc_id, const char *collection)
{
    adapt_t *a = app->adapt;
    if (!a)
        return;
    forget_t *f = calloc(1, sizeof *f);
    if (!f)
        return;
    f->a = a;
    f->doc_id = doc_id;
    if (collection) {
        f->has_collection = true;
        snprintf(f->collection, sizeof f->collection, "%s", collection);
    }
    snprintf(f->policy, sizeof f->policy, "%s", app->server->cfg.adapt.on_stale);
    f->work.data = f;
    hold(a);
    if (uv_queue_work(app->server->loop, &f->work, forget_run, forget_after) != 0) {
        forget_run(&f->work);
        forget_after(&f->work, 0);
    }
}

/* ---------------------------------------------------------- answers --- */

static adapt_t *require(ed_request_t *req)
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
    return app->adapt;
}

static bool is_admin(const ed_request_t *req)
{
    const ed_app_t *app = req->app;
    return ed_acl_allows(&app->server->acls[ED_GROUP_ADMIN], &req->peer);
}

static json_t *number_or_null(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

static json_t *job_json(adapt_t *a, const ed_adapt_job_t *j, bool with_losses)
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
    if (o && with_losses) {
        ed_run_point_t *points = NULL;
        int n = 0;
        json_t *losses = json_array();
        if (ed_jobs_history(a->jobs, j->id, HISTORY_POINTS, &points, &n) == 0)
            for (int i = 0; i < n; i++)
                json_array_append_new(losses, json_pack("{s:I,s:I,s:f,s:o,s:o}", "step", (json_int_t)points[i].step,
                                                        "tokens", (json_int_t)points[i].tokens, "elapsed_s",
                                                        points[i].elapsed_s, "train_loss",
                                                        number_or_null(points[i].train_loss), "heldout_loss",
                                                        number_or_null(points[i].heldout_loss)));
        free(points);
        json_object_set_new(o, "losses", losses);
    }
    return o;
}

/* The job {id} names, if the caller may see it; else answers 404. */
static bool require_job(ed_request_t *req, adapt_t *a, ed_adapt_job_t *out)
{
    const ed_route_param_t *p = &req->params[0];
    char id[ED_ADAPT_JOB_ID_LEN];
    bool found = false;
    if (p->len < sizeof id) {
        memcpy(id, p->ptr, p->len);
        id[p->len] = '\0';
        found = ed_jobs_get(a->jobs, id, out) == 0 && (out->owner_uid == (uint32_t)req->peer.uid || is_admin(req));
    }
    if (!found)
        ed_api_fail(req, ED_ENOENT, ED_API_STORE, NULL, "job \"%.*s\" does not exist",
                    p->len > 64 ? 64 : (int)p->len, p->ptr);
    return found;
}

/* ------------------------------------------------------------ create --- */

typedef struct {
    ed_request_t *req;
    adapt_t *a;
    ed_adapt_job_t job;
    char **collections; /* (n_collections) */
    int n_collections;
    char *examples;     /* JSONL, or NULL */
    size_t examples_len;
    int rc;
    char err[ED_ERR_LEN];
} create_t;

static void create_free(create_t *c)
{
    for (int i = 0; i < c->n_collections; i++)
        free(c->collections[i]);
    free(c->collections);
    if (c->examples)
        explicit_bzero(c->examples, c->examples_len);
    free(c->examples);
    free(c);
}

static bool name_valid(const char *name, size_t n)
{
    if (n == 0 || n > NAME_MAX_LEN)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '-'))
            return false;
    }
    return !(n == 4 && memcmp(name, "none", 4) == 0) && !(n == 10 && memcmp(name, "deactivate", 10) == 0) &&
           !(n == 15 && memcmp(name, "ad-", 3) == 0);
}

/* examples: an array of conversations, each an array of {role, content}
 * with at least one assistant turn; written as JSONL lines
 * {"messages": [...]} (dataset_source's format). */
static int read_examples(const json_t *root, create_t *c, ed_param_error_t *err)
{
    const json_t *v = json_object_get(root, "examples");
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_array(v))
        return ed_params_fail(err, "invalid_type", "examples", "examples: expected an array of message arrays");
    if (json_array_size(v) > MAX_EXAMPLES)
        return ed_params_fail(err, "invalid_value", "examples", "examples: %zu of them, at most %d",
                              json_array_size(v), MAX_EXAMPLES);
    json_t *lines = json_array();
    size_t i, k;
    json_t *conv, *m;
    char param[96];
    int rc = 0;
    json_array_foreach(v, i, conv)
    {
        snprintf(param, sizeof param, "examples[%zu]", i);
        if (!json_is_array(conv) || json_array_size(conv) == 0) {
            rc = ed_params_fail(err, "invalid_type", param, "%s: expected a non-empty array of messages", param);
            break;
        }
        bool assistant = false;
        json_t *messages = json_array();
        json_array_foreach(conv, k, m)
        {
            snprintf(param, sizeof param, "examples[%zu][%zu]", i, k);
            const char *role = json_string_value(json_object_get(m, "role"));
            const json_t *content = json_object_get(m, "content");
            if (!json_is_object(m) || !role ||
                (strcmp(role, "system") != 0 && strcmp(role, "user") != 0 && strcmp(role, "assistant") != 0)) {
                rc = ed_params_fail(err, "invalid_value", param,
                                    "%s.role: expected \"system\", \"user\" or \"assistant\"", param);
                break;
            }
            if (!json_is_string(content)) {
                rc = ed_params_fail(err, "invalid_type", param, "%s.content: expected a string", param);
                break;
            }
            assistant |= strcmp(role, "assistant") == 0;
            json_array_append_new(messages, json_pack("{s:s,s:O}", "role", role, "content", content));
        }
        if (rc == 0 && !assistant) {
            snprintf(param, sizeof param, "examples[%zu]", i);
            rc = ed_params_fail(err, "invalid_value", param, "%s: no assistant turn to learn from", param);
        }
        if (rc != 0) {
            json_decref(messages);
            break;
        }
        json_array_append_new(lines, json_pack("{s:o}", "messages", messages));
    }
    if (rc == 0 && json_array_size(lines) > 0) {
        /* one compact object per line: JSON escapes every newline inside strings */
        size_t cap = 0;
        char **texts = calloc(json_array_size(lines), sizeof *texts);
        json_array_foreach(lines, i, m)
        {
            texts[i] = texts ? json_dumps(m, JSON_COMPACT) : NULL;
            cap += texts && texts[i] ? strlen(texts[i]) + 1 : 0;
        }
        c->examples = texts ? malloc(cap + 1) : NULL;
        for (i = 0; texts && i < json_array_size(lines); i++) {
            if (c->examples && texts[i]) {
                size_t n = strlen(texts[i]);
                memcpy(c->examples + c->examples_len, texts[i], n);
                c->examples_len += n;
                c->examples[c->examples_len++] = '\n';
            }
            if (texts[i])
                explicit_bzero(texts[i], strlen(texts[i]));
            free(texts[i]);
        }
        free(texts);
        if (!c->examples)
            rc = ED_ENOMEM;
    }
    json_decref(lines);
    return rc;
}

/* Reads and checks the body into c (job row and examples); ED_EINVAL with
 * err naming the field. */
static int read_request(ed_request_t *req, const ed_config_t *cfg, create_t *c, bool *run_now, ed_param_error_t *err)
{
    json_t *root = NULL;
    int rc = ed_params_load(req->body, req->body_len, &root, err);
    if (rc != 0)
        return rc;
    const char *method = "lora", *name = NULL;
    size_t method_len = 4, name_len = 0;
    int64_t rank = cfg->adapt.rank, seq_len = cfg->adapt.seq_len, max_steps = cfg->adapt.max_steps, seed = 1;
    double alpha = 16, lr = 5e-4, budget_s = cfg->adapt.budget_s, heldout = 0.1;
    *run_now = false;
    json_t *options = json_object();
    const json_t *v;
    if ((rc = ed_params_string(root, "method", false, &method, &method_len, err)) != 0)
        goto out;
    if (method_len != 4 || memcmp(method, "lora", 4) != 0) {
        rc = ed_params_fail(err, "invalid_value", "method", "method: only \"lora\" is supported");
        goto out;
    }
    if ((rc = ed_params_integer(root, "rank", 1, 64, &rank, err)) != 0 ||
        (rc = ed_params_number(root, "alpha", 0, 4096, true, &alpha, err)) != 0 ||
        (rc = ed_params_integer(root, "seq_len", 8, 8192, &seq_len, err)) != 0 ||
        (rc = ed_params_number(root, "learning_rate", 0, 1, true, &lr, err)) != 0 ||
        (rc = ed_params_number(root, "budget_s", 0, 604800, true, &budget_s, err)) != 0 ||
        (rc = ed_params_integer(root, "max_steps", 1, 10000000, &max_steps, err)) != 0 ||
        (rc = ed_params_number(root, "heldout_fraction", 0, 1, true, &heldout, err)) != 0 ||
        (rc = ed_params_integer(root, "seed", 0, INT64_MAX, &seed, err)) != 0 ||
        (rc = ed_params_bool(root, "run_now", run_now, err)) != 0 ||
        (rc = ed_params_string(root, "name", false, &name, &name_len, err)) != 0)
        goto out;
    if (heldout >= 1) {
        rc = ed_params_fail(err, "invalid_value", "heldout_fraction",
                            "heldout_fraction: expected a number above 0 and below 1, got %g", heldout);
        goto out;
    }
    json_t *targets = json_array();
    json_object_set_new(options, "targets", targets);
    v = json_object_get(root, "targets");
    if (v && !json_is_null(v)) {
        if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > ED_LORA_PER_LAYER) {
            rc = ed_params_fail(err, "invalid_type", "targets",
                                "targets: expected an array of 1 to %d of attn_q, attn_k, attn_v, attn_output, "
                                "ffn_gate, ffn_up, ffn_down",
                                ED_LORA_PER_LAYER);
            goto out;
        }
        size_t i;
        json_t *t;
        json_array_foreach(v, i, t)
        {
            if (!json_is_string(t) || ed_jobs_target_bit(json_string_value(t)) < 0) {
                char got[64];
                ed_params_describe(t, got, sizeof got);
                rc = ed_params_fail(err, "invalid_value", "targets",
                                    "targets[%zu]: %s is not one of attn_q, attn_k, attn_v, attn_output, ffn_gate, "
                                    "ffn_up, ffn_down",
                                    i, got);
                goto out;
            }
            json_array_append(targets, t);
        }
    } else {
        static const char *const attn[] = {"attn_q", "attn_k", "attn_v", "attn_output"};
        for (int i = 0; i < 4; i++)
            json_array_append_new(targets, json_string(attn[i]));
    }
    /* collections */
    v = json_object_get(root, "collections");
    json_t *names = json_array();
    if (v && !json_is_null(v)) {
        if (!json_is_array(v) || json_array_size(v) > MAX_COLLECTIONS) {
            json_decref(names);
            rc = ed_params_fail(err, "invalid_type", "collections",
                                "collections: expected an array of 1 to %d collection names", MAX_COLLECTIONS);
            goto out;
        }
        c->collections = calloc(json_array_size(v) + 1, sizeof *c->collections);
        size_t i;
        json_t *n;
        json_array_foreach(v, i, n)
        {
            const char *s = json_string_value(n);
            if (!s || !*s || json_string_length(n) >= ED_STORE_NAME_MAX) {
                json_decref(names);
                rc = ed_params_fail(err, "invalid_value", "collections",
                                    "collections[%zu]: expected a collection name of 1 to %d bytes", i,
                                    ED_STORE_NAME_MAX - 1);
                goto out;
            }
            if (c->collections && !(c->collections[c->n_collections] = strdup(s))) {
                json_decref(names);
                rc = ED_ENOMEM;
                goto out;
            }
            c->n_collections += c->collections != NULL;
            json_array_append(names, n);
        }
    }
    if ((rc = read_examples(root, c, err)) != 0) {
        json_decref(names);
        goto out;
    }
    if (json_array_size(names) == 0 && !c->examples) {
        json_decref(names);
        rc = ed_params_fail(err, "missing_field", "collections",
                            "collections: name at least one collection to train on (or give examples)");
        goto out;
    }
    char default_name[NAME_MAX_LEN + 1] = "adapter";
    if (!name && c->n_collections > 0 && name_valid(c->collections[0], strlen(c->collections[0])))
        snprintf(default_name, sizeof default_name, "%s", c->collections[0]);
    if (name && !name_valid(name, name_len)) {
        json_decref(names);
        rc = ed_params_fail(err, "invalid_value", "name",
                            "name: 1 to %d of letters, digits, '.', '_' and '-' (not \"none\", \"deactivate\" nor "
                            "an adapter id)",
                            NAME_MAX_LEN);
        goto out;
    }
    snprintf(c->job.name, sizeof c->job.name, "%.*s", name ? (int)name_len : (int)strlen(default_name),
             name ? name : default_name);
    char *text = json_dumps(names, JSON_COMPACT);
    json_decref(names);
    if (!text || strlen(text) >= sizeof c->job.collections) {
        free(text);
        rc = ed_params_fail(err, "invalid_value", "collections", "collections: the names are too long together");
        goto out;
    }
    snprintf(c->job.collections, sizeof c->job.collections, "%s", text);
    free(text);
    json_object_set_new(options, "method", json_string("lora"));
    json_object_set_new(options, "rank", json_integer(rank));
    json_object_set_new(options, "alpha", json_real(alpha));
    json_object_set_new(options, "seq_len", json_integer(seq_len));
    json_object_set_new(options, "learning_rate", json_real(lr));
    json_object_set_new(options, "budget_s", json_real(budget_s));
    json_object_set_new(options, "max_steps", json_integer(max_steps));
    json_object_set_new(options, "heldout_fraction", json_real(heldout));
    json_object_set_new(options, "seed", json_integer(seed));
    json_object_set_new(options, "run_now", json_boolean(*run_now));
    text = json_dumps(options, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(9));
    snprintf(c->job.options, sizeof c->job.options, "%s", text ? text : "{}");
    free(text);
    c->job.max_steps = max_steps;
out:
    json_decref(options);
    json_decref(root);
    return rc;
}

static void create_run(void *arg)
{
    create_t *c = arg;
    c->rc = ed_jobs_create(c->a->jobs, &c->job, c->examples, c->examples_len, c->err);
}

static void create_done(ed_request_t *req, void *arg, bool gone)
{
    create_t *c = arg;
    ed_app_t *app = req->app;
    unhold(c->a);
    if (gone) {
        ed_api_end_gone(req);
    } else if (c->rc != 0) {
        ed_api_fail(req, c->rc, ED_API_STORE, NULL, "%s", c->err);
    } else if (!app->adapt) {
        ed_api_fail(req, ED_ECANCELED, ED_API_STORE, NULL, "the daemon is stopping");
    } else {
        ed_log_info("adapt: %s queued: %s on %s for uid %u", c->job.id, c->job.name, c->job.collections,
                    c->job.owner_uid);
        ed_http_respond_json(req, 202, job_json(app->adapt, &c->job, false));
    }
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
    for (int i = 0; i < c->n_collections; i++) {
        bool readable = false;
        for (int k = 0; k < n && !readable; k++)
            readable = strcmp(colls[k].name, c->collections[i]) == 0;
        if (!readable) {
            ed_api_fail(req, ED_EACCES, ED_API_STORE, "collections",
                        "collections[%d]: \"%s\" does not exist or you may not read it", i, c->collections[i]);
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
    hold(c->a);
    ed_api_offload(req, create_run, create_done, c);
}

void ed_api_adapt_create(ed_request_t *req)
{
    adapt_t *a = require(req);
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
    c->job.owner_uid = (uint32_t)req->peer.uid;
    ed_param_error_t perr = {0};
    bool run_now = false;
    int rc = read_request(req, &app->server->cfg, c, &run_now, &perr);
    if (rc != 0) {
        ed_params_refuse(req, rc, &perr);
        create_free(c);
        return;
    }
    if (run_now && !is_admin(req)) {
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
    if (c->n_collections == 0) {
        hold(a);
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
    adapt_t *a = require(req);
    if (!a)
        return;
    ed_adapt_job_t *jobs = NULL;
    int n = 0;
    if (ed_jobs_list(a->jobs, &jobs, &n) != 0) {
        ed_api_fail(req, ED_ENOMEM, ED_API_STORE, NULL, "out of memory");
        return;
    }
    bool admin = is_admin(req);
    json_t *data = json_array();
    for (int i = 0; i < n; i++)
        if (admin || jobs[i].owner_uid == (uint32_t)req->peer.uid)
            json_array_append_new(data, job_json(a, &jobs[i], false));
    free(jobs);
    ed_http_respond_json(req, 200, json_pack("{s:s,s:o}", "object", "list", "data", data));
}

void ed_api_adapt_jobs_get(ed_request_t *req)
{
    adapt_t *a = require(req);
    ed_adapt_job_t job;
    if (a && require_job(req, a, &job))
        ed_http_respond_json(req, 200, job_json(a, &job, true));
}

static void on_sub_abort(ed_request_t *req, void *arg)
{
    (void)req;
    ed_app_t *app = req->app;
    sub_t *sub = arg;
    if (app->adapt)
        sub_unlink(app->adapt, sub);
    ed_sse_end(sub->req);
    free(sub->pending_end);
    free(sub);
}

void ed_api_adapt_jobs_events(ed_request_t *req)
{
    adapt_t *a = require(req);
    ed_adapt_job_t job;
    if (!a || !require_job(req, a, &job))
        return;
    sub_t *sub = calloc(1, sizeof *sub);
    if (!sub) {
        ed_api_fail(req, ED_ENOMEM, ED_API_STORE, NULL, "out of memory");
        return;
    }
    sub->req = req;
    snprintf(sub->id, sizeof sub->id, "%s", job.id);
    sub->cursor = ed_jobs_events_head(a->jobs);
    ed_jobs_get(a->jobs, job.id, &job); /* after the cursor: nothing between them is lost */
    if (ed_sse_start(req) != 0) {
        free(sub);
        return;
    }
    json_t *first = job_json(a, &job, false);
    json_object_set_new(first, "type", json_string("snapshot"));
    ed_sse_send_json(req, first);
    if (ed_adapt_job_final(job.state)) {
        json_t *end = json_pack("{s:s,s:s,s:s,s:s,s:s*}", "type", "end", "job", job.id, "state", job.state, "reason",
                                job.reason, "adapter_id", job.adapter_id[0] ? job.adapter_id : NULL);
        ed_sse_send_json(req, end);
        ed_sse_end(req);
        free(sub);
        return;
    }
    sub->next = a->subs;
    a->subs = sub;
    ed_request_on_abort(req, on_sub_abort, sub);
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
    ed_app_t *app = req->app;
    unhold(c->a);
    if (gone)
        ed_api_end_gone(req);
    else if (c->rc != 0)
        ed_api_fail(req, c->rc, ED_API_STORE, NULL, "%s", c->err);
    else if (!app->adapt)
        ed_api_fail(req, ED_ECANCELED, ED_API_STORE, NULL, "the daemon is stopping");
    else
        ed_http_respond_json(req, 200, job_json(app->adapt, &c->job, false));
    free(c);
}

void ed_api_adapt_jobs_cancel(ed_request_t *req)
{
    adapt_t *a = require(req);
    ed_adapt_job_t job;
    if (!a || !require_job(req, a, &job))
        return;
    cancel_t *c = calloc(1, sizeof *c);
    if (!c) {
        ed_api_fail(req, ED_ENOMEM, ED_API_STORE, NULL, "out of memory");
        return;
    }
    c->a = a;
    snprintf(c->id, sizeof c->id, "%s", job.id);
    hold(a);
    ed_api_offload(req, cancel_run, cancel_done, c);
}
