/* engine.c - the inference thread: loads the model, then loops: admit queued
 * jobs into free slots, step every runnable slot (slots.c), and hand text
 * back to the loop thread through each job's outbox and one uv_async_t
 * (queue.c). Here: the thread, start and stop, the state, the submit API and
 * the engine's metrics. */
#include "engine/internal.h"

#include "core/log.h"
#include "core/metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* seconds: the latencies of a token stream, from milliseconds to a slow first token */
static const double latency_bounds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
enum { N_LATENCY_BOUNDS = sizeof latency_bounds / sizeof latency_bounds[0] };

static void render_histogram(ed_buf_t *out, const char *name, const char *help, const ed_histogram_t *h)
{
    ed_histogram_render_header(out, name, help);
    ed_histogram_render(out, name, NULL, h);
}

double ed__now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* --------------------------------------------------------------- thread ---- */

/* Sets the state with its reason (NULL: keep the one written at start). */
static void set_state(ed_engine_t *e, ed_engine_state_t state, const char *reason)
{
    pthread_mutex_lock(&e->mutex);
    if (reason)
        ed_errf(e->reason[state], 0, "%s", reason);
    e->state = state;
    pthread_mutex_unlock(&e->mutex);
}

static void *engine_main(void *arg)
{
    ed_engine_t *e = arg;
    char err[ED_ERR_LEN] = "";
    set_state(e, ED_ENGINE_LOADING, NULL); /* its reason was written by ed_engine_start */
    double t0 = ed__now_ms();
    int rc = ed__engine_load(e, err);
    if (rc != 0) {
        ed_log_error("engine: the model did not load: %s", err);
        ed__engine_unload(e);
        set_state(e, ED_ENGINE_FAILED, err);
        return NULL;
    }
    ed_log_info("engine: loaded in %.0f ms", ed__now_ms() - t0);
    set_state(e, ED_ENGINE_READY, "");

    pthread_mutex_lock(&e->mutex);
    while (!e->stopping) {
        ed__queue_reap(&e->queue, &e->async, &e->jobs_cancelled);
        while (e->queue.head && ed__slots_any_free(e))
            ed__slot_admit(e, err);
        if (!ed__slots_any_runnable(e)) {
            pthread_cond_wait(&e->cond, &e->mutex);
            continue;
        }
        pthread_mutex_unlock(&e->mutex);
        ed__step(e);
        pthread_mutex_lock(&e->mutex);
    }
    pthread_mutex_unlock(&e->mutex);

    /* stopping: every job in a slot ends as cancelled */
    for (int s = 0; s < e->n_slots; s++)
        if (e->slots[s].state != ED__SLOT_FREE)
            ed__slot_finish(e, &e->slots[s], ED_FINISH_CANCELLED, 0, NULL);
    return NULL;
}

/* ------------------------------------------------------- loop thread ---- */

/* Delivers outbox text and results to the callbacks. */
static void on_async(uv_async_t *handle)
{
    ed_engine_t *e = handle->data;
    atomic_store_explicit(&e->last_activity_us, (int64_t)(ed__now_ms() * 1e3), memory_order_relaxed);
    ed__queue_deliver(&e->queue, &e->mutex);
}

static void render_metrics(ed_buf_t *out, void *arg)
{
    ed_engine_t *e = arg;
    ed_engine_stats_t st;
    ed_engine_stats(e, &st);
    const char *state_names[] = {"none", "loading", "ready", "failed"};
    ed_buf_printf(out, "# HELP edged_engine_state The model's state (1 for the current one).\n"
                       "# TYPE edged_engine_state gauge\n");
    ed_engine_state_t state = ed_engine_state(e, NULL);
    for (int i = 0; i < 4; i++)
        ed_buf_printf(out, "edged_engine_state{state=\"%s\"} %d\n", state_names[i], (int)state == i);
    struct {
        const char *name, *help;
        _Atomic uint64_t *v;
    } counters[] = {
        {"edged_prompt_tokens_total", "Prompt tokens evaluated.", &e->prompt_tokens},
        {"edged_prompt_tokens_cached_total", "Prompt tokens reused from a slot's KV cache.", &e->cached_tokens},
        {"edged_generated_tokens_total", "Tokens generated.", &e->generated_tokens},
        {"edged_engine_jobs_total", "Jobs the engine finished (not cancelled).", &e->jobs_done},
        {"edged_engine_jobs_cancelled_total", "Jobs cancelled (client gone, shutdown).", &e->jobs_cancelled},
        {"edged_engine_jobs_rejected_total", "Jobs refused because the queue was full.", &e->jobs_rejected},
        {"edged_engine_steps_total", "Forward passes run.", &e->steps},
    };
    for (size_t i = 0; i < sizeof counters / sizeof counters[0]; i++)
        ed_buf_printf(out, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", counters[i].name, counters[i].help,
                      counters[i].name, counters[i].name,
                      (unsigned long long)atomic_load_explicit(counters[i].v, memory_order_relaxed));
    ed_buf_printf(out,
                  "# HELP edged_engine_queue_depth Jobs waiting for a slot.\n"
                  "# TYPE edged_engine_queue_depth gauge\nedged_engine_queue_depth %d\n"
                  "# HELP edged_engine_busy_slots Slots running a job.\n"
                  "# TYPE edged_engine_busy_slots gauge\nedged_engine_busy_slots %d\n"
                  "# HELP edged_engine_slots Slots configured.\n"
                  "# TYPE edged_engine_slots gauge\nedged_engine_slots %d\n",
                  st.queued, st.busy_slots, st.n_slots);
    render_histogram(out, "edged_time_to_first_token_seconds", "Submit to first generated token.", &e->ttft);
    render_histogram(out, "edged_inter_token_latency_seconds", "Time between generated tokens of a stream.", &e->itl);
    render_histogram(out, "edged_engine_step_seconds", "Duration of one forward pass over the active slots.",
                &e->step_time);
}

int ed_engine_start(ed_engine_t **out, uv_loop_t *loop, const ed_config_t *cfg, ed_base_t *base,
                    char err[ED_ERR_LEN])
{
    *out = NULL;
    ed_engine_t *e = calloc(1, sizeof *e);
    if (!e)
        return ed_errf(err, ED_ENOMEM, "out of memory for the engine");
    e->cfg = *cfg;
    e->base = base;
    ed_histogram_init(&e->ttft, latency_bounds, N_LATENCY_BOUNDS);
    ed_histogram_init(&e->itl, latency_bounds, N_LATENCY_BOUNDS);
    ed_histogram_init(&e->step_time, latency_bounds, N_LATENCY_BOUNDS);
    pthread_mutex_init(&e->mutex, NULL);
    pthread_cond_init(&e->cond, NULL);
    uv_async_init(loop, &e->async, on_async);
    e->async.data = e;
    ed_metrics_register(render_metrics, e);
    if (!base) {
        e->state = ED_ENGINE_EMPTY;
        ed_errf(e->reason[ED_ENGINE_EMPTY], 0, "no model is configured: set [model] path");
        *out = e;
        return 0;
    }
    e->state = ED_ENGINE_LOADING;
    ed_errf(e->reason[ED_ENGINE_LOADING], 0, "loading %s", ed_base_path(base));
    int rc = pthread_create(&e->thread, NULL, engine_main, e);
    if (rc != 0) {
        ed_errf(err, 0, "cannot start the engine thread: %s", strerror(rc));
        uv_close((uv_handle_t *)&e->async, NULL);
        e->state = ED_ENGINE_FAILED;
        ed_errf(e->reason[ED_ENGINE_FAILED], 0, "%s", err);
        *out = e;
        return ED_EIO;
    }
    e->thread_started = true;
    *out = e;
    return 0;
}

static void free_after_close(uv_handle_t *handle)
{
    ed_engine_t *e = handle->data;
    pthread_mutex_destroy(&e->mutex);
    pthread_cond_destroy(&e->cond);
    free(e);
}

void ed_engine_stop(ed_engine_t *e)
{
    if (!e)
        return;
    pthread_mutex_lock(&e->mutex);
    e->stopping = true;
    for (ed_job_t *job = e->queue.head; job; job = job->next)
        job->cancel = true;
    pthread_cond_signal(&e->cond);
    pthread_mutex_unlock(&e->mutex);
    if (e->thread_started)
        pthread_join(e->thread, NULL);
    e->thread_started = false;
    pthread_mutex_lock(&e->mutex);
    ed__queue_reap(&e->queue, &e->async, &e->jobs_cancelled);
    pthread_mutex_unlock(&e->mutex);
    on_async(&e->async); /* every on_done runs now */
    ed_metrics_unregister(render_metrics, e);
    ed__engine_unload(e);
    if (!uv_is_closing((uv_handle_t *)&e->async))
        uv_close((uv_handle_t *)&e->async, free_after_close);
    else
        free_after_close((uv_handle_t *)&e->async);
}

ed_engine_state_t ed_engine_state(const ed_engine_t *engine, const char **reason)
{
    ed_engine_t *e = (ed_engine_t *)engine;
    pthread_mutex_lock(&e->mutex);
    ed_engine_state_t state = e->state;
    pthread_mutex_unlock(&e->mutex);
    if (reason)
        *reason = e->reason[state]; /* written once, before the state became `state` */
    return state;
}

const ed_engine_model_t *ed_engine_model(const ed_engine_t *engine)
{
    return ed_engine_state(engine, NULL) == ED_ENGINE_READY ? &engine->info : NULL;
}

int ed_engine_submit(ed_engine_t *e, const ed_job_params_t *p, const ed_job_callbacks_t *cb, void *user,
                     ed_job_t **out, char err[ED_ERR_LEN])
{
    *out = NULL;
    const char *reason;
    ed_engine_state_t state = ed_engine_state(e, &reason);
    if (state != ED_ENGINE_READY)
        return ed_errf(err, ED_EAGAIN, "%s", state == ED_ENGINE_FAILED ? "the model failed to load" : reason);
    if (p->n_prompt < 1 || !p->prompt)
        return ed_errf(err, ED_EINVAL, "the prompt is empty");
    if (p->n_prompt >= e->info.n_ctx)
        return ed_errf(err, ED_ERANGE, "the prompt has %d tokens; the context holds %d", p->n_prompt,
                       e->info.n_ctx);
    if (p->kind == ED_JOB_GENERATE) {
        if (p->max_tokens < 1)
            return ed_errf(err, ED_EINVAL, "max_tokens must be at least 1, got %d", p->max_tokens);
        if (p->n_prompt + p->max_tokens > e->info.n_ctx)
            return ed_errf(err, ED_ERANGE, "%d prompt tokens + %d max_tokens exceed the context of %d tokens",
                           p->n_prompt, p->max_tokens, e->info.n_ctx);
        if (p->n_stops > ED_ENGINE_MAX_STOPS)
            return ed_errf(err, ED_EINVAL, "%zu stop strings; at most %d", p->n_stops, ED_ENGINE_MAX_STOPS);
        if (p->sampling.n_bias > ED_SAMPLER_MAX_BIAS)
            return ed_errf(err, ED_EINVAL, "%zu logit_bias entries; at most %d", p->sampling.n_bias,
                           ED_SAMPLER_MAX_BIAS);
    }
    if (p->adapter) {
        const ed_lora_t *lora = ed_engine_adapter_lora(p->adapter);
        if (lora->n_layer != e->model->n_layer || lora->max_rank > ED_ENGINE_ADAPTER_MAX_RANK)
            return ed_errf(err, ED_EINVAL, "adapter %s: rank %d (at most %d served) or %d layers (the model has %d)",
                           ed_engine_adapter_label(p->adapter), lora->max_rank, ED_ENGINE_ADAPTER_MAX_RANK,
                           lora->n_layer, e->model->n_layer);
        if (!(p->adapter_scale >= -1e4f && p->adapter_scale <= 1e4f))
            return ed_errf(err, ED_EINVAL, "adapter_scale %g is not a finite number within +-10000",
                           (double)p->adapter_scale);
    }
    for (int i = 0; i < p->n_prompt; i++)
        if (p->prompt[i] < 0 || p->prompt[i] >= e->info.n_vocab)
            return ed_errf(err, ED_EINVAL, "prompt token %d at index %d is outside the vocabulary of %d",
                           p->prompt[i], i, e->info.n_vocab);

    int rc;
    ed_job_t *job = ed__job_new(p, cb, user, e->info.n_embd, &rc, err);
    if (!job)
        return rc;
    job->t_submit = ed__now_ms();
    atomic_store_explicit(&e->last_activity_us, (int64_t)(job->t_submit * 1e3), memory_order_relaxed);
    if (e->on_submit)
        e->on_submit(e->on_submit_arg);

    pthread_mutex_lock(&e->mutex);
    if (e->stopping || e->queue.n_active >= e->n_slots + (int)e->cfg.engine.queue_length) {
        bool stopping = e->stopping;
        pthread_mutex_unlock(&e->mutex);
        atomic_fetch_add_explicit(&e->jobs_rejected, 1, memory_order_relaxed);
        ed__job_free(job);
        return ed_errf(err, ED_EBUSY,
                       stopping ? "edged is shutting down"
                                : "every slot is busy and the queue is full (engine.parallel %u, "
                                  "engine.queue_length %u)",
                       e->cfg.engine.parallel, e->cfg.engine.queue_length);
    }
    ed__queue_push(&e->queue, job);
    pthread_cond_signal(&e->cond);
    pthread_mutex_unlock(&e->mutex);
    *out = job;
    return 0;
}

void ed_engine_cancel(ed_engine_t *e, ed_job_t *job)
{
    pthread_mutex_lock(&e->mutex);
    job->cancel = true;
    pthread_cond_signal(&e->cond);
    pthread_mutex_unlock(&e->mutex);
}

void ed_engine_hold(ed_engine_t *e, ed_job_t *job, bool hold)
{
    pthread_mutex_lock(&e->mutex);
    job->hold = hold;
    if (!hold)
        pthread_cond_signal(&e->cond);
    pthread_mutex_unlock(&e->mutex);
}

void ed_engine_stats(const ed_engine_t *engine, ed_engine_stats_t *out)
{
    ed_engine_t *e = (ed_engine_t *)engine;
    pthread_mutex_lock(&e->mutex);
    out->queued = e->queue.n_queued;
    out->n_slots = e->state == ED_ENGINE_READY ? e->n_slots : 0;
    pthread_mutex_unlock(&e->mutex);
    out->busy_slots = atomic_load_explicit(&e->busy_slots, memory_order_relaxed);
}

void ed_engine_activity(const ed_engine_t *engine, bool *busy, double *last_activity_s)
{
    ed_engine_t *e = (ed_engine_t *)engine;
    pthread_mutex_lock(&e->mutex);
    *busy = e->queue.n_active > 0;
    pthread_mutex_unlock(&e->mutex);
    *last_activity_s = (double)atomic_load_explicit(&e->last_activity_us, memory_order_relaxed) / 1e6;
}

void ed_engine_on_submit(ed_engine_t *engine, void (*fn)(void *arg), void *arg)
{
    engine->on_submit = fn;
    engine->on_submit_arg = arg;
}
