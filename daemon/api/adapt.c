/* adapt.c - the glue between the job queue (adapt/jobs.h) and the rest of
 * the daemon (api/adapt.h): opening and closing the queue, the scheduler's
 * window and run_now forcing, the engine's prompt format, trained adapters
 * into the registry, and forgetting a deleted document. The routes are
 * adapt_jobs.c's; event streams adapt_events.c's. */
#include "api/adapt_internal.h"

#include "adapt/scheduler.h"
#include "api/adapters.h"
#include "core/log.h"
#include "core/metrics.h"
#include "engine/engine.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void on_timer_closed(uv_handle_t *handle);

void ed__adapt_hold(adapt_t *a)
{
    a->in_flight++;
}

void ed__adapt_unhold(adapt_t *a)
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

/* The queue appended events (its hooks.events): the next job may be a
 * run_now one, and subscribers read what is theirs. */
static void on_events(void *arg)
{
    adapt_t *a = arg;
    sync_force(a);
    ed__adapt_subs_publish(a);
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
    ed__adapt_unhold(s->a);
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
    ed__adapt_hold(a);
    ed_adapters_add_stored(a->app->adapters, adapter_id, on_adapter_served, s);
}

/* ------------------------------------------------------------- metrics --- */

/* One gauge line per value; NAN (no loss yet) is left out, as Prometheus
 * readers expect a series to be absent rather than NaN. */
static void gauge(ed_buf_t *out, const char *name, const char *help, double value)
{
    ed_buf_printf(out, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
    if (!isnan(value))
        ed_buf_printf(out, "%s %.6g\n", name, value);
}

/* /metrics: jobs by state, and the job that trains now (running or
 * paused): its step, losses, tokens and speed (the scheduler's writer has
 * the window, the trainer's state and its pauses). */
static void render_metrics(ed_buf_t *out, void *arg)
{
    adapt_t *a = arg;
    ed_adapt_job_t *jobs = NULL;
    int n = 0;
    if (ed_jobs_list(a->jobs, &jobs, &n) != 0)
        return;
    static const char *const states[] = {"queued", "waiting_for_window", "running", "paused", "done", "failed",
                                         "cancelled"};
    ed_buf_printf(out, "# HELP edged_adapt_jobs Adapt jobs, by state.\n# TYPE edged_adapt_jobs gauge\n");
    for (size_t k = 0; k < sizeof states / sizeof states[0]; k++) {
        int count = 0;
        for (int i = 0; i < n; i++)
            count += strcmp(jobs[i].state, states[k]) == 0;
        ed_buf_printf(out, "edged_adapt_jobs{state=\"%s\"} %d\n", states[k], count);
    }
    const ed_adapt_job_t *cur = NULL;
    for (int i = 0; i < n && !cur; i++)
        if (strcmp(jobs[i].state, "running") == 0 || strcmp(jobs[i].state, "paused") == 0)
            cur = &jobs[i];
    double nan = NAN;
    gauge(out, "edged_adapt_trainer_step", "Optimizer steps of the job training now.", cur ? (double)cur->step : nan);
    gauge(out, "edged_adapt_trainer_tokens", "Tokens the job training now has trained on.",
          cur ? (double)cur->tokens : nan);
    gauge(out, "edged_adapt_trainer_tokens_per_second", "Training tokens per second of training time, job training now.",
          cur && cur->elapsed_s > 0 ? (double)cur->tokens / cur->elapsed_s : nan);
    gauge(out, "edged_adapt_trainer_train_loss", "Latest train loss (nats per token) of the job training now.",
          cur ? cur->train_loss : nan);
    gauge(out, "edged_adapt_trainer_heldout_loss", "Latest held-out loss (nats per token) of the job training now.",
          cur ? cur->heldout_loss : nan);
    gauge(out, "edged_adapt_trainer_best_heldout_loss", "Best held-out loss so far of the job training now.",
          cur ? cur->best_heldout_loss : nan);
    free(jobs);
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
    ed_metrics_register(render_metrics, a);
    app->adapt = a;
}

bool ed_api_adapt_opening(const ed_app_t *app)
{
    char why[ED_ERR_LEN];
    return app->adapt && ed_jobs_state(app->adapt->jobs, why) == ED_EAGAIN;
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
    ed_metrics_unregister(render_metrics, a);
    if (app->scheduler) {
        ed_scheduler_on_change(app->scheduler, NULL, NULL);
        if (a->forced)
            ed_scheduler_force(app->scheduler, false);
    }
    while (a->subs)
        ed__adapt_sub_end(a, a->subs);
    ed_jobs_stop(a->jobs); /* the trainer checkpoints on its thread; work in flight ends before the queue goes */
    uv_timer_stop(&a->timer);
    a->closed = true;
    ed__adapt_hold(a);
    ed__adapt_unhold(a);
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
    ed__adapt_unhold(f->a);
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
    ed__adapt_hold(a);
    if (uv_queue_work(app->server->loop, &f->work, forget_run, forget_after) != 0) {
        forget_run(&f->work);
        forget_after(&f->work, 0);
    }
}
