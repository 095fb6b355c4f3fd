/* jobs_runner.c - the runner thread (jobs_internal.h): at SCHED_IDLE it
 * takes the oldest unfinished job while the window allows it, builds its
 * dataset from the store, trains it with run.h (checkpoints in the store,
 * pauses through the gate) and stores the best adapter with its lineage.
 * The queue's mu is never held across training. */

#include "adapt/jobs_internal.h"

#include "adapt/dataset_source.h"
#include "core/log.h"
#include "model/lora.h"

#include <errno.h>
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The documents of the job's collections (store_mu taken) and its examples
 * (sealed JSONL of {"messages": [...]} lines), each a source that wipes
 * its text when freed. */
static int sources_load(ed_jobs_t *jobs, const ed_adapt_job_t *job, ed_dataset_source_t **docs,
                        ed_dataset_source_t **examples, char err[ED_ERR_LEN])
{
    *docs = *examples = NULL;
    json_t *names = json_loads(job->collections, 0, NULL);
    size_t n = json_array_size(names);
    const char **list = calloc(n ? n : 1, sizeof *list);
    if (!list) {
        json_decref(names);
        return ed_errf(err, ED_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++)
        list[i] = json_string_value(json_array_get(names, i));
    void *data = NULL;
    size_t len = 0;
    pthread_mutex_lock(&jobs->store_mu);
    int rc = ed_store_job_examples(jobs->store, job->id, &data, &len, err);
    if (rc == 0 && n > 0)
        rc = ed_dataset_source_store(docs, jobs->store, list, (int)n, err);
    pthread_mutex_unlock(&jobs->store_mu);
    free(list);
    json_decref(names);
    if (rc == ED_EINVAL && data && n > 0) /* no documents, but examples: they train alone */
        rc = 0;
    if (rc == 0 && data)
        rc = ed_dataset_source_jsonl_parse(examples, "examples", data, len, err);
    if (data)
        explicit_bzero(data, len);
    free(data);
    if (rc != 0) {
        ed_dataset_source_free(*docs);
        *docs = NULL;
    }
    return rc;
}

/* ------------------------------------------------------------- runner --- */

typedef struct {
    ed_jobs_t *jobs;
    char id[ED_ADAPT_JOB_ID_LEN];
    bool run_now; /* the scheduler's stop (a constraint failed) does not stop it; the window push does */
    double last_persist_s;
    bool store_failed; /* a checkpoint was not stored: the run's failure is the store's */
} run_ctx_t;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void on_progress(const ed_run_point_t *p, double eta_s, void *arg)
{
    run_ctx_t *ctx = arg;
    ed_jobs_t *jobs = ctx->jobs;
    pthread_mutex_lock(&jobs->mu);
    rec_t *r = ed__jobs_find(jobs, ctx->id);
    if (r) {
        ed__jobs_history_push(r, p);
        r->job.step = p->step;
        r->job.tokens = p->tokens;
        r->job.elapsed_s = p->elapsed_s;
        r->job.eta_s = eta_s;
        if (isfinite(p->train_loss))
            r->job.train_loss = p->train_loss;
        if (isfinite(p->heldout_loss)) {
            r->job.heldout_loss = p->heldout_loss;
            if (!isfinite(r->job.best_heldout_loss) || p->heldout_loss < r->job.best_heldout_loss) {
                r->job.best_heldout_loss = p->heldout_loss;
                r->job.best_step = p->step;
            }
        }
        ed__jobs_emit(jobs, ctx->id,
                      json_pack("{s:s,s:I,s:I,s:I,s:f,s:o,s:o,s:o,s:o}", "type", "progress", "step",
                                (json_int_t)p->step, "max_steps", (json_int_t)r->job.max_steps, "tokens",
                                (json_int_t)p->tokens, "elapsed_s", p->elapsed_s, "train_loss",
                                ed__jobs_number_or_null(p->train_loss), "heldout_loss",
                                ed__jobs_number_or_null(p->heldout_loss), "best_heldout_loss",
                                ed__jobs_number_or_null(r->job.best_heldout_loss), "eta_s",
                                ed__jobs_number_or_null(eta_s)));
    }
    pthread_mutex_unlock(&jobs->mu);
    double now = now_s();
    if (now - ctx->last_persist_s >= 1.0) { /* the row, not every step: each commit is an fsync */
        ctx->last_persist_s = now;
        ed__jobs_persist(jobs, ctx->id);
    }
}

static int on_checkpoint(const void *data, size_t len, void *arg, char err[ED_ERR_LEN])
{
    run_ctx_t *ctx = arg;
    ed_jobs_t *jobs = ctx->jobs;
    if (atomic_load(&jobs->stop) == STOP_CANCEL || atomic_load(&jobs->stop) == STOP_FORGET)
        return 0; /* its checkpoints are being deleted: write none */
    pthread_mutex_lock(&jobs->store_mu);
    int rc = ed_store_checkpoint_save(jobs->store, CHECKPOINT_NAME_OF(ctx->id), data, len, err);
    pthread_mutex_unlock(&jobs->store_mu);
    ctx->store_failed = rc != 0;
    if (rc == 0) {
        ed__jobs_persist(jobs, ctx->id);
        ed__jobs_history_save(jobs, ctx->id);
    }
    return rc;
}

/* The job's state and events around a pause, whether the trainer waits at
 * its gate or the pool holds it inside a product. */
static void job_paused(run_ctx_t *ctx, bool paused)
{
    ed_jobs_t *jobs = ctx->jobs;
    pthread_mutex_lock(&jobs->mu);
    rec_t *r = ed__jobs_find(jobs, ctx->id);
    jobs->paused = paused;
    if (r && paused) {
        jobs->pauses++;
        ed__jobs_set_state(jobs, r, "paused", "an inference request is being served");
        ed__jobs_emit(jobs, ctx->id, json_pack("{s:s}", "type", "paused"));
    } else if (r) {
        ed__jobs_set_state(jobs, r, "running", "");
        ed__jobs_emit(jobs, ctx->id, json_pack("{s:s}", "type", "resumed"));
    }
    pthread_mutex_unlock(&jobs->mu);
}

/* The pool's hold hook (ed_pool_set_hold_hook), on the trainer's thread. */
static void job_held(void *arg, int held)
{
    job_paused(arg, held != 0);
}

/* The trainer's gate: our own stop first (cancel, shutdown, window,
 * forgetting), then the scheduler's gate, which blocks while paused. */
static int job_gate(void *arg)
{
    run_ctx_t *ctx = arg;
    ed_jobs_t *jobs = ctx->jobs;
    if (atomic_load(&jobs->stop) != STOP_NONE)
        return 1;
    ed_gate_t *gate = ed__jobs_gate_hold(jobs);
    if (!gate || (ctx->run_now && ed_gate_command(gate) == ED_GATE_STOP)) {
        ed__jobs_gate_release(jobs);
        return atomic_load(&jobs->stop) != STOP_NONE; /* detached: edged is stopping */
    }
    bool pausing = ed_gate_command(gate) == ED_GATE_PAUSE;
    if (pausing)
        job_paused(ctx, true);
    int stop = ed_gate_wait(gate);
    ed__jobs_gate_release(jobs);
    if (pausing)
        job_paused(ctx, false);
    return stop || atomic_load(&jobs->stop) != STOP_NONE;
}

/* Whether a failure is the device's (memory, disk, the store) rather than
 * the job's own data or training: its checkpoint is then worth keeping. */
static bool device_fault(int rc)
{
    return rc == ED_ENOMEM || rc == ED_EIO || rc == ED_ENOSPC || rc == ED_EREADONLY || rc == ED_ECORRUPT ||
           rc == ED_EACCES;
}

/* Which documents a job's checkpoints learn from, for forgetting: stored
 * with its row before training (so before any checkpoint of this dataset,
 * and a restarted edged knows them too), then kept in memory. A failure
 * fails the run: its checkpoints could not be forgotten by document. */
static int remember_documents(ed_jobs_t *jobs, const char *id, const ed_dataset_t *ds, char err[ED_ERR_LEN])
{
    int n = ds->n_train_docs + ds->n_heldout_docs;
    int64_t *ids = malloc((size_t)(n ? n : 1) * sizeof *ids);
    if (!ids)
        return ed_errf(err, ED_ENOMEM, "out of memory");
    memcpy(ids, ds->train_doc_ids, (size_t)ds->n_train_docs * sizeof *ids);
    memcpy(ids + ds->n_train_docs, ds->heldout_doc_ids, (size_t)ds->n_heldout_docs * sizeof *ids);
    pthread_mutex_lock(&jobs->store_mu);
    int rc = ed_store_job_set_docs(jobs->store, id, ids, n, err);
    pthread_mutex_unlock(&jobs->store_mu);
    if (rc != 0) {
        free(ids);
        return rc;
    }
    pthread_mutex_lock(&jobs->mu);
    rec_t *r = ed__jobs_find(jobs, id);
    if (r) {
        free(r->doc_ids);
        r->doc_ids = ids;
        r->n_doc_ids = n;
        r->docs_loaded = true;
        ids = NULL;
    }
    pthread_mutex_unlock(&jobs->mu);
    free(ids);
    return 0;
}

/* Stores the best adapter with its lineage (store_mu taken). A train
 * document deleted meanwhile has no lineage row to mark the adapter stale
 * with, so the adapter is deleted again and *forgotten set. */
static int store_adapter(ed_jobs_t *jobs, const char *id, const char *name, const ed_trainer_config_t *tc,
                         ed_lora_t *best, const ed_dataset_t *ds, char adapter_id[32], bool *forgotten,
                         char err[ED_ERR_LEN])
{
    *forgotten = false;
    snprintf(best->name, sizeof best->name, "%s", name);
    void *gguf = NULL;
    size_t len = 0;
    int rc = ed_lora_serialize(best, &gguf, &len, err);
    if (rc != 0)
        return rc;
    ed_adapter_row_t row = {.rank = best->max_rank, .has_alpha = best->has_alpha, .alpha = best->alpha};
    snprintf(row.name, sizeof row.name, "%s", name);
    snprintf(row.fingerprint, sizeof row.fingerprint, "%s", best->fingerprint);
    ed__jobs_targets_text(tc->targets, row.targets, sizeof row.targets);
    snprintf(row.source, sizeof row.source, "trained");
    snprintf(row.status, sizeof row.status, "ready");
    pthread_mutex_lock(&jobs->store_mu);
    rc = ed_store_adapter_add(jobs->store, &row, gguf, len, err);
    bool missing = false;
    for (int i = 0; rc == 0 && i < ds->n_train_docs; i++) {
        rc = ed_store_lineage_add(jobs->store, row.id, ds->train_doc_ids[i], err);
        if (rc == ED_ENOENT) { /* deleted while it trained: no lineage row can mark this adapter stale */
            missing = true;
            rc = 0;
        }
    }
    if (rc == 0 && missing) {
        /* so it must not exist: the job starts again without the document */
        char sub[ED_ERR_LEN];
        if (ed_store_adapter_delete(jobs->store, row.id, sub) != 0)
            ed_log_warn("adapt: %s: deleting adapter %s: %s", id, row.id, sub);
        *forgotten = true;
    }
    pthread_mutex_unlock(&jobs->store_mu);
    explicit_bzero(gguf, len);
    free(gguf);
    if (rc == 0 && !*forgotten)
        snprintf(adapter_id, 32, "%s", row.id);
    return rc;
}

/* Trains job id until it ends or is stopped; reason says how it went. */
static run_outcome_t run_job(ed_jobs_t *jobs, const char *id, char reason[256])
{
    char err[ED_ERR_LEN] = "";
    pthread_mutex_lock(&jobs->mu);
    rec_t *r = ed__jobs_find(jobs, id);
    ed_adapt_job_t job = r->job;
    bool run_now = r->run_now;
    settings_t settings = jobs->settings;
    ed_prompt_model_t prompt = jobs->prompt;
    pthread_mutex_unlock(&jobs->mu);

    ed_trainer_config_t tc;
    ed_run_config_t rc_cfg;
    ed_dataset_config_t dc;
    ed_dataset_source_t *docs = NULL, *examples = NULL;
    ed_dataset_t *ds = NULL;
    ed_trainer_t *trainer = NULL;
    void *resume = NULL;
    size_t resume_len = 0;
    ed_run_result_t result = {0};
    run_outcome_t outcome = RUN_FAILED;
    bool keep = false; /* a failure keeps the checkpoint (device_fault) */
    int rc;
    if (!jobs->base) {
        snprintf(reason, 256, "no model is served (model.path is empty)");
        return RUN_FAILED_KEEP;
    }
    if ((rc = ed_base_load(jobs->base, &jobs->shutting_down, err)) != 0) {
        if (rc == ED_ECANCELED)
            return RUN_STOPPED;
        snprintf(reason, 256, "the model did not load: %.200s", err);
        return RUN_FAILED_KEEP;
    }
    if ((rc = ed__jobs_options_parse(&job, &settings, &tc, &rc_cfg, &dc, err)) != 0)
        goto end;
    if ((rc = sources_load(jobs, &job, &docs, &examples, err)) != 0) {
        keep = device_fault(rc);
        goto end;
    }
    rc = ed_dataset_build(&ds, &prompt, docs ? docs->docs : NULL, docs ? docs->n_docs : 0,
                          examples ? examples->examples : NULL, examples ? examples->n_examples : 0, &dc, err);
    ed_dataset_source_free(docs); /* the dataset holds tokens; the text goes now */
    ed_dataset_source_free(examples);
    docs = examples = NULL;
    if (rc != 0) {
        keep = rc == ED_ENOMEM;
        goto end;
    }
    if ((rc = remember_documents(jobs, id, ds, err)) != 0) {
        keep = true; /* the store's failure; its checkpoint is of the documents stored before */
        goto end;
    }
    if ((rc = ed_trainer_create(&trainer, ed_base_model(jobs->base), ed_base_gguf(jobs->base),
                                ed_base_kernels(jobs->base), ed_base_pool(jobs->base), &tc, err)) != 0) {
        keep = rc == ED_ENOMEM;
        goto end;
    }
    pthread_mutex_lock(&jobs->store_mu);
    rc = ed_store_checkpoint_load(jobs->store, CHECKPOINT_NAME_OF(id), &resume, &resume_len, err);
    pthread_mutex_unlock(&jobs->store_mu);
    if (rc == ED_ENOENT)
        rc = 0;
    else if (rc != 0)
        ed_log_warn("adapt: %s: its checkpoint does not load (%s); starting again", id, err);
    ed_run_checkpoint_info_t info;
    if (resume && ed_run_checkpoint_info(resume, resume_len, &info, err) == 0)
        ed__jobs_history_truncate(jobs, id, info.steps); /* the stored curve may lag or lead the checkpoint */
    run_ctx_t ctx = {.jobs = jobs, .run_now = run_now, .last_persist_s = now_s()};
    snprintf(ctx.id, sizeof ctx.id, "%s", id);
    ed_run_hooks_t hooks = {.progress = on_progress, .checkpoint = on_checkpoint, .arg = &ctx, .gate = job_gate,
                            .gate_arg = &ctx};
    ed_gate_t *gate = ed__jobs_gate_hold(jobs);
    if (gate)
        ed_gate_begin(gate);
    ed__jobs_gate_release(jobs);
    ed_pool_set_hold_hook(ed_base_pool(jobs->base), job_held, &ctx); /* this thread's products */
    ed_log_info("adapt: %s: %s training %s on %d windows (%d held out) of %s", id, resume ? "resumes" : "starts",
                job.name, ds->n_train, ds->n_heldout, job.collections);
    rc = ed_run_train(trainer, ds, &rc_cfg, &hooks, resume, resume_len, &result, err);
    if (rc == ED_EINVAL && resume) {
        /* a checkpoint of another dataset (documents were added): start again */
        ed_log_warn("adapt: %s: its checkpoint does not fit the data any more (%s); starting again", id, err);
        ed_run_result_free(&result);
        memset(&result, 0, sizeof result);
        ed_trainer_free(trainer);
        trainer = NULL;
        if ((rc = ed_trainer_create(&trainer, ed_base_model(jobs->base), ed_base_gguf(jobs->base),
                                    ed_base_kernels(jobs->base), ed_base_pool(jobs->base), &tc, err)) == 0) {
            pthread_mutex_lock(&jobs->mu);
            r = ed__jobs_find(jobs, id);
            if (r)
                r->n_history = 0;
            pthread_mutex_unlock(&jobs->mu);
            rc = ed_run_train(trainer, ds, &rc_cfg, &hooks, NULL, 0, &result, err);
        }
    }
    ed_pool_set_hold_hook(ed_base_pool(jobs->base), NULL, NULL);
    if ((gate = ed__jobs_gate_hold(jobs)) != NULL)
        ed_gate_end(gate);
    ed__jobs_gate_release(jobs);
    if (rc != 0) {
        keep = ctx.store_failed || rc == ED_ENOMEM;
        goto end;
    }
    ed__jobs_history_replace(jobs, id, &result); /* the run's own curve, whole across resumptions */
    if (result.end == ED_RUN_STOPPED || atomic_load(&jobs->stop) == STOP_CANCEL) {
        /* a cancel that came as the last step ended wins: no adapter is stored (one that comes after
         * this check loses to the stored adapter: the job is done, ed__jobs_finish) */
        outcome = RUN_STOPPED;
        goto end;
    }
    char adapter_id[32] = "";
    bool forgotten = false;
    rc = store_adapter(jobs, id, job.name, &tc, result.best, ds, adapter_id, &forgotten, err);
    if (rc == 0 && forgotten) {
        ed__jobs_stop_raise(jobs, STOP_FORGET);
        outcome = RUN_STOPPED;
        goto end;
    }
    if (rc != 0) {
        keep = true; /* the training went well: storing its adapter did not */
        snprintf(reason, 256, "storing its adapter failed: %.200s", err);
        goto end;
    }
    pthread_mutex_lock(&jobs->mu);
    r = ed__jobs_find(jobs, id);
    if (r) {
        snprintf(r->job.adapter_id, sizeof r->job.adapter_id, "%s", adapter_id);
        r->job.step = result.steps;
        if (result.best_step > 0) {
            r->job.best_step = result.best_step;
            r->job.best_heldout_loss = result.best_heldout_loss;
        }
        r->job.eta_s = 0;
    }
    char (*added)[32] = realloc(jobs->added, (size_t)(jobs->n_added + 1) * sizeof *jobs->added);
    if (added) {
        jobs->added = added;
        snprintf(jobs->added[jobs->n_added++], 32, "%s", adapter_id);
        uv_async_send(&jobs->async);
        if (jobs->hooks.adapter_added) {
            /* done once the registry serves it (a bounded wait: a stuck registry delays no job for long) */
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_sec += 10;
            while (!jobs->closing && strcmp(jobs->served, adapter_id) != 0 &&
                   pthread_cond_timedwait(&jobs->cond, &jobs->mu, &until) != ETIMEDOUT) {
            }
        }
    }
    pthread_mutex_unlock(&jobs->mu);
    snprintf(reason, 256, "%s after %lld steps", ed_run_end_name(result.end), (long long)result.steps);
    outcome = RUN_DONE;
    ed_log_info("adapt: %s: done (%s): adapter %s", id, reason, adapter_id);
end:
    if (outcome == RUN_FAILED && !reason[0])
        snprintf(reason, 256, "%.250s", err);
    if (outcome == RUN_FAILED && keep)
        outcome = RUN_FAILED_KEEP;
    ed_run_result_free(&result);
    ed_trainer_free(trainer);
    ed_dataset_free(ds);
    ed_dataset_source_free(docs);
    ed_dataset_source_free(examples);
    if (resume)
        explicit_bzero(resume, resume_len);
    free(resume);
    return outcome;
}

bool ed__jobs_finish(ed_jobs_t *jobs, rec_t *r, run_outcome_t outcome, stop_t stop, const char *reason)
{
    if (outcome == RUN_DONE) {
        ed__jobs_set_state(jobs, r, "done", reason);
        return true;
    }
    if (stop == STOP_CANCEL) {
        ed__jobs_set_state(jobs, r, "cancelled", "cancelled by its owner");
        return true;
    }
    if (stop == STOP_FORGET) {
        ed__jobs_restart(jobs, r);
        return true;
    }
    if (outcome == RUN_FAILED || outcome == RUN_FAILED_KEEP) {
        char why[sizeof r->job.reason];
        bool kept = outcome == RUN_FAILED_KEEP && r->job.step > 0;
        snprintf(why, sizeof why, "%.190s%s", reason, kept ? KEPT_NOTE : "");
        ed__jobs_set_state(jobs, r, "failed", why);
        ed_log_warn("adapt: %s failed: %s", r->job.id, why);
        return outcome == RUN_FAILED;
    }
    ed__jobs_set_state(jobs, r, "waiting_for_window",
                       stop == STOP_SHUTDOWN  ? "edged stopped; it resumes from its checkpoint"
                       : jobs->window_why[0] ? jobs->window_why
                                             : "the training window closed");
    return false;
}

/* Whether rec may start now; else why not (mu held; gate_stopped: the
 * scheduler's gate said stop, read before mu was taken). */
static bool may_start(const ed_jobs_t *jobs, const rec_t *r, bool gate_stopped, char why[256])
{
    if (!jobs->base)
        return true; /* and fails at once: no model is served */
    if (!jobs->have_prompt) {
        snprintf(why, 256, "the model is loading");
        return false;
    }
    bool open = r->run_now ? jobs->window_open_run_now : jobs->window_open;
    if (!open) {
        snprintf(why, 256, "%s", jobs->window_why[0] ? jobs->window_why : "the training window is closed");
        return false;
    }
    if (!r->run_now && gate_stopped) {
        snprintf(why, 256, "the scheduler stopped training");
        return false;
    }
    return true;
}

/* Whether the scheduler's gate says stop (no lock held). */
static bool gate_stopped(ed_jobs_t *jobs)
{
    ed_gate_t *gate = ed__jobs_gate_hold(jobs);
    bool stopped = gate && ed_gate_command(gate) == ED_GATE_STOP;
    ed__jobs_gate_release(jobs);
    return stopped;
}

void *ed__jobs_runner_main(void *arg)
{
    ed_jobs_t *jobs = arg;
    char err[ED_ERR_LEN];
    if (ed__jobs_load(jobs, err) != 0) { /* here, not on the loop thread: it reads the disk */
        ed_log_error("adapt: the job queue did not open: %s", err);
        return NULL;
    }
    struct sched_param param = {0};
    if (sched_setscheduler(0, SCHED_IDLE, &param) != 0)
        ed_log_warn("adapt: the job runner stays at normal priority: sched_setscheduler(SCHED_IDLE): %s",
                    strerror(errno));
    pthread_mutex_lock(&jobs->mu);
    while (!jobs->closing) {
        rec_t *r = ed__jobs_next(jobs);
        char why[256];
        if (!r) {
            pthread_cond_wait(&jobs->cond, &jobs->mu);
            continue;
        }
        char next[ED_ADAPT_JOB_ID_LEN];
        snprintf(next, sizeof next, "%s", r->job.id);
        pthread_mutex_unlock(&jobs->mu); /* gate_lock comes before mu */
        bool stopped = gate_stopped(jobs);
        pthread_mutex_lock(&jobs->mu);
        r = ed__jobs_next(jobs);
        if (jobs->closing || !r || strcmp(r->job.id, next) != 0)
            continue; /* it changed meanwhile */
        if (!may_start(jobs, r, stopped, why)) {
            if (strcmp(r->job.state, "waiting_for_window") != 0 || strcmp(r->job.reason, why) != 0) {
                char id[ED_ADAPT_JOB_ID_LEN];
                snprintf(id, sizeof id, "%s", r->job.id);
                ed__jobs_set_state(jobs, r, "waiting_for_window", why);
                pthread_mutex_unlock(&jobs->mu);
                ed__jobs_persist(jobs, id);
                pthread_mutex_lock(&jobs->mu);
                continue;
            }
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_sec += 1; /* the gate's command is polled: the scheduler may clear a stop without a call here */
            pthread_cond_timedwait(&jobs->cond, &jobs->mu, &until);
            continue;
        }
        char id[ED_ADAPT_JOB_ID_LEN];
        snprintf(id, sizeof id, "%s", r->job.id);
        snprintf(jobs->current, sizeof jobs->current, "%s", id);
        atomic_store(&jobs->stop, STOP_NONE);
        bool load_history = !r->history_loaded && r->job.step > 0;
        if (!load_history)
            r->history_loaded = true;
        ed__jobs_set_state(jobs, r, "running", "");
        pthread_mutex_unlock(&jobs->mu);
        if (load_history)
            ed__jobs_history_load(jobs, id); /* before training: its points follow the stored ones */
        ed__jobs_persist(jobs, id);

        char reason[256] = "";
        run_outcome_t outcome = run_job(jobs, id, reason);

        pthread_mutex_lock(&jobs->mu);
        int stop = atomic_load(&jobs->stop); /* under mu: a cancel or forget sets it there while current is id */
        r = ed__jobs_find(jobs, id);
        jobs->current[0] = '\0';
        jobs->paused = false;
        if (!r) {
            pthread_cond_broadcast(&jobs->cond);
            continue;
        }
        bool drop_checkpoint = ed__jobs_finish(jobs, r, outcome, (stop_t)stop, reason);
        pthread_cond_broadcast(&jobs->cond); /* a cancel waits for this */
        pthread_mutex_unlock(&jobs->mu);
        if (drop_checkpoint)
            ed__jobs_checkpoint_delete(jobs, id);
        ed__jobs_history_save(jobs, id);
        ed__jobs_persist(jobs, id);
        pthread_mutex_lock(&jobs->mu);
    }
    pthread_mutex_unlock(&jobs->mu);
    return NULL;
}
