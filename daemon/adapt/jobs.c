/* jobs.c - the adapt jobs' queue (jobs.h): its lifecycle (open, stop, close,
 * settings, the window and prompt the runner waits for), the rows in the store
 * (a handle of the queue's own behind store_mu, opened and closed off the loop)
 * and in memory (behind mu, so that reads never wait for training), adding,
 * cancelling and reading jobs. Training is jobs_runner.c's. */

#include "adapt/jobs_internal.h"

#include "core/log.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ records --- */

rec_t *ed__jobs_find(ed_jobs_t *jobs, const char *id)
{
    for (int i = 0; i < jobs->n; i++)
        if (strcmp(jobs->recs[i].job.id, id) == 0)
            return &jobs->recs[i];
    return NULL;
}

/* Room for `more` records past n and those being created (mu held). */
static int reserve(ed_jobs_t *jobs, int more)
{
    if (jobs->n + jobs->creating + more <= jobs->cap)
        return 0;
    int cap = jobs->cap ? jobs->cap * 2 : 8;
    while (cap < jobs->n + jobs->creating + more)
        cap *= 2;
    rec_t *grown = realloc(jobs->recs, (size_t)cap * sizeof *grown);
    if (!grown)
        return ED_ENOMEM;
    jobs->recs = grown;
    jobs->cap = cap;
    return 0;
}

/* Unfinished jobs, with those being created (mu held). */
static int unfinished(const ed_jobs_t *jobs)
{
    int n = jobs->creating;
    for (int i = 0; i < jobs->n; i++)
        n += !ed_adapt_job_final(jobs->recs[i].job.state);
    return n;
}

/* The oldest unfinished job (mu held). */
rec_t *ed__jobs_next(ed_jobs_t *jobs)
{
    for (int i = 0; i < jobs->n; i++)
        if (!ed_adapt_job_final(jobs->recs[i].job.state))
            return &jobs->recs[i];
    return NULL;
}

void ed__jobs_restart(ed_jobs_t *jobs, rec_t *r)
{
    r->job.step = r->job.tokens = r->job.best_step = 0;
    r->job.train_loss = r->job.heldout_loss = r->job.best_heldout_loss = r->job.eta_s = NAN;
    r->n_history = 0;
    r->history_loaded = true; /* the curve is empty now: the stored one is the old run's */
    ed__jobs_set_state(jobs, r, "queued", "a document it trained on was deleted: it starts again without it");
}

bool ed__jobs_unkeep(rec_t *r)
{
    size_t len = strlen(r->job.reason), note = strlen(KEPT_NOTE);
    if (len < note || strcmp(r->job.reason + len - note, KEPT_NOTE) != 0)
        return false;
    r->job.reason[len - note] = '\0';
    return true;
}

void ed__jobs_stop_raise(ed_jobs_t *jobs, stop_t why)
{
    int asked = atomic_load(&jobs->stop);
    while (asked < (int)why && !atomic_compare_exchange_weak(&jobs->stop, &asked, (int)why)) {
    }
}

/* -------------------------------------------------------------- store --- */

/* Writes a job's row as memory has it now (takes mu, then store_mu). */
void ed__jobs_persist(ed_jobs_t *jobs, const char *id)
{
    pthread_mutex_lock(&jobs->mu);
    rec_t *r = ed__jobs_find(jobs, id);
    ed_adapt_job_t copy;
    if (r)
        copy = r->job;
    pthread_mutex_unlock(&jobs->mu);
    if (!r)
        return;
    char err[ED_ERR_LEN];
    pthread_mutex_lock(&jobs->store_mu);
    int rc = ed_store_job_update(jobs->store, &copy, err);
    pthread_mutex_unlock(&jobs->store_mu);
    if (rc != 0 && rc != ED_ENOENT)
        ed_log_warn("adapt: %s: %s", id, err);
}

void ed__jobs_checkpoint_delete(ed_jobs_t *jobs, const char *id)
{
    char err[ED_ERR_LEN];
    pthread_mutex_lock(&jobs->store_mu);
    int rc = ed_store_checkpoint_delete(jobs->store, CHECKPOINT_NAME_OF(id), err);
    pthread_mutex_unlock(&jobs->store_mu);
    if (rc != 0 && rc != ED_ENOENT)
        ed_log_warn("adapt: %s: deleting its checkpoint: %s", id, err);
}

/* -------------------------------------------------------------- queue --- */

static void apply_settings(ed_jobs_t *jobs, const ed_config_t *cfg)
{
    jobs->settings = (settings_t){cfg->adapt.max_queued_jobs, cfg->adapt.checkpoint_every_s,
                                  cfg->adapt.checkpoint_every_steps};
}

int ed__jobs_load(ed_jobs_t *jobs, char err[ED_ERR_LEN])
{
    ed_store_t *store = NULL;
    int rc = ed_store_open_adapters(&store, jobs->state_dir, jobs->key_file, err);
    ed_adapt_job_t *rows = NULL;
    int n = 0;
    if (rc == 0)
        rc = ed_store_jobs_list(store, &rows, &n, err);
    for (int i = 0; rc == 0 && i < n; i++) {
        ed_adapt_job_t *j = &rows[i];
        if (strcmp(j->state, "running") == 0 || strcmp(j->state, "paused") == 0) {
            snprintf(j->state, sizeof j->state, "waiting_for_window");
            snprintf(j->reason, sizeof j->reason, "edged restarted; it resumes from its checkpoint");
            char sub[ED_ERR_LEN];
            if (ed_store_job_update(store, j, sub) != 0)
                ed_log_warn("adapt: %s: %s", j->id, sub);
        }
    }
    pthread_mutex_lock(&jobs->store_mu);
    jobs->store = store;
    pthread_mutex_unlock(&jobs->store_mu);
    pthread_mutex_lock(&jobs->mu);
    /* jobs created meanwhile wait for this (ed__jobs_ready): the stored rows come first, oldest first */
    if (rc == 0 && (rc = reserve(jobs, n)) != 0)
        ed_errf(err, rc, "out of memory reading jobs");
    if (rc == 0) {
        if (jobs->n > 0)
            memmove(jobs->recs + n, jobs->recs, (size_t)jobs->n * sizeof *jobs->recs);
        for (int i = 0; i < n; i++)
            jobs->recs[i] = (rec_t){.job = rows[i], .run_now = ed__jobs_options_run_now(rows[i].options)};
        jobs->n += n;
    }
    jobs->state = rc == 0 ? QUEUE_OPEN : QUEUE_FAILED;
    if (rc != 0)
        snprintf(jobs->open_failed, sizeof jobs->open_failed, "%s", err);
    int waiting = unfinished(jobs);
    pthread_cond_broadcast(&jobs->cond);
    pthread_mutex_unlock(&jobs->mu);
    free(rows);
    if (rc == 0 && waiting)
        ed_log_info("adapt: %d job%s waiting", waiting, waiting == 1 ? "" : "s");
    return rc;
}

int ed__jobs_ready(ed_jobs_t *jobs, char err[ED_ERR_LEN])
{
    pthread_mutex_lock(&jobs->mu);
    while (jobs->state == QUEUE_OPENING)
        pthread_cond_wait(&jobs->cond, &jobs->mu);
    int rc = jobs->state == QUEUE_OPEN ? 0 : ed_errf(err, ED_ESTATE, "the job queue did not open: %s", jobs->open_failed);
    pthread_mutex_unlock(&jobs->mu);
    return rc;
}

int ed_jobs_state(ed_jobs_t *jobs, char why[ED_ERR_LEN])
{
    pthread_mutex_lock(&jobs->mu);
    int rc = jobs->state == QUEUE_OPEN      ? 0
             : jobs->state == QUEUE_OPENING ? ed_errf(why, ED_EAGAIN, "the job queue is opening")
                                            : ed_errf(why, ED_ESTATE, "the job queue did not open: %s", jobs->open_failed);
    pthread_mutex_unlock(&jobs->mu);
    return rc;
}

ed_gate_t *ed__jobs_gate_hold(ed_jobs_t *jobs)
{
    pthread_rwlock_rdlock(&jobs->gate_lock);
    return jobs->gate;
}

void ed__jobs_gate_release(ed_jobs_t *jobs)
{
    pthread_rwlock_unlock(&jobs->gate_lock);
}

int ed_jobs_open(ed_jobs_t **out, uv_loop_t *loop, const ed_config_t *cfg, ed_base_t *base, ed_gate_t *gate,
                 const ed_jobs_hooks_t *hooks, char err[ED_ERR_LEN])
{
    *out = NULL;
    ed_jobs_t *jobs = calloc(1, sizeof *jobs);
    if (!jobs)
        return ed_errf(err, ED_ENOMEM, "out of memory for the job queue");
    jobs->loop = loop;
    jobs->base = base;
    jobs->gate = gate;
    if (hooks)
        jobs->hooks = *hooks;
    apply_settings(jobs, cfg);
    snprintf(jobs->state_dir, sizeof jobs->state_dir, "%s", cfg->state.directory);
    snprintf(jobs->key_file, sizeof jobs->key_file, "%s", cfg->store.key_file);
    jobs->state = QUEUE_OPENING; /* the runner opens the store: the loop never waits for the disk */
    pthread_mutex_init(&jobs->mu, NULL);
    pthread_mutex_init(&jobs->store_mu, NULL);
    pthread_rwlock_init(&jobs->gate_lock, NULL);
    pthread_cond_init(&jobs->cond, NULL);
    int rc = uv_async_init(loop, &jobs->async, ed__jobs_on_async);
    if (rc != 0) {
        rc = ed_errf(err, ED_ENOMEM, "uv_async_init: %s", uv_strerror(rc));
        pthread_mutex_destroy(&jobs->mu);
        pthread_mutex_destroy(&jobs->store_mu);
        pthread_rwlock_destroy(&jobs->gate_lock);
        pthread_cond_destroy(&jobs->cond);
        free(jobs);
        return rc;
    }
    jobs->async.data = jobs;
    if (pthread_create(&jobs->thread, NULL, ed__jobs_runner_main, jobs) != 0) {
        jobs->state = QUEUE_FAILED;
        snprintf(jobs->open_failed, sizeof jobs->open_failed, "could not start the job runner thread");
        ed_jobs_close(jobs);
        return ed_errf(err, ED_ENOMEM, "could not start the job runner thread");
    }
    jobs->thread_started = true;
    *out = jobs;
    return 0;
}

static void on_async_closed(uv_handle_t *handle)
{
    ed_jobs_t *jobs = handle->data;
    for (int i = 0; i < jobs->n; i++) {
        free(jobs->recs[i].history);
        free(jobs->recs[i].doc_ids);
    }
    free(jobs->recs);
    for (int i = 0; i < EVENT_RING; i++)
        free(jobs->events[i].json);
    free(jobs->added);
    pthread_mutex_destroy(&jobs->mu);
    pthread_mutex_destroy(&jobs->store_mu);
    pthread_rwlock_destroy(&jobs->gate_lock);
    pthread_cond_destroy(&jobs->cond);
    free(jobs);
}

void ed_jobs_stop(ed_jobs_t *jobs)
{
    if (!jobs)
        return;
    pthread_mutex_lock(&jobs->mu);
    jobs->closing = true;
    atomic_store(&jobs->shutting_down, true);
    if (jobs->current[0])
        ed__jobs_stop_raise(jobs, STOP_SHUTDOWN);
    pthread_cond_broadcast(&jobs->cond);
    pthread_mutex_unlock(&jobs->mu);
    /* the trainer stops at its next gate call; a paused one is released;
     * then the gate is detached: the runner finishes (its checkpoint) on
     * its own thread without it, and the scheduler may free it */
    ed_gate_t *gate = ed__jobs_gate_hold(jobs);
    if (gate)
        ed_gate_stop(gate);
    ed__jobs_gate_release(jobs);
    pthread_rwlock_wrlock(&jobs->gate_lock); /* waits for a gate call to return, never for the disk */
    jobs->gate = NULL;
    pthread_rwlock_unlock(&jobs->gate_lock);
}

/* Pool thread: the runner ends (its checkpoint written), then the store closes. */
static void close_run(uv_work_t *work)
{
    ed_jobs_t *jobs = work->data;
    if (jobs->thread_started)
        pthread_join(jobs->thread, NULL);
    jobs->thread_started = false;
    ed_store_close(jobs->store);
    jobs->store = NULL;
}

static void close_after(uv_work_t *work, int status)
{
    (void)status;
    ed_jobs_t *jobs = work->data;
    uv_close((uv_handle_t *)&jobs->async, on_async_closed);
}

void ed_jobs_close(ed_jobs_t *jobs)
{
    if (!jobs)
        return;
    ed_jobs_stop(jobs);
    pthread_mutex_lock(&jobs->mu); /* the runner reads them under mu; the loop thread calls them */
    jobs->hooks = (ed_jobs_hooks_t){0}; /* none is called from now on: their arg may go */
    pthread_mutex_unlock(&jobs->mu);
    jobs->close_work.data = jobs;
    if (uv_queue_work(jobs->loop, &jobs->close_work, close_run, close_after) != 0) {
        close_run(&jobs->close_work);
        close_after(&jobs->close_work, 0);
    }
}

void ed_jobs_reconfigure(ed_jobs_t *jobs, const ed_config_t *cfg)
{
    pthread_mutex_lock(&jobs->mu);
    apply_settings(jobs, cfg);
    pthread_mutex_unlock(&jobs->mu);
}

void ed_jobs_set_prompt(ed_jobs_t *jobs, const ed_prompt_model_t *prompt)
{
    pthread_mutex_lock(&jobs->mu);
    jobs->prompt = *prompt;
    snprintf(jobs->bos, sizeof jobs->bos, "%s", prompt->bos_text ? prompt->bos_text : "");
    snprintf(jobs->eos, sizeof jobs->eos, "%s", prompt->eos_text ? prompt->eos_text : "");
    jobs->prompt.bos_text = jobs->bos;
    jobs->prompt.eos_text = jobs->eos;
    jobs->have_prompt = true;
    pthread_cond_broadcast(&jobs->cond);
    pthread_mutex_unlock(&jobs->mu);
}

void ed_jobs_adapter_served(ed_jobs_t *jobs, const char *adapter_id)
{
    pthread_mutex_lock(&jobs->mu);
    snprintf(jobs->served, sizeof jobs->served, "%s", adapter_id);
    pthread_cond_broadcast(&jobs->cond);
    pthread_mutex_unlock(&jobs->mu);
}

void ed_jobs_window(ed_jobs_t *jobs, bool open, bool open_run_now, const char *why)
{
    pthread_mutex_lock(&jobs->mu);
    jobs->window_open = open;
    jobs->window_open_run_now = open_run_now;
    snprintf(jobs->window_why, sizeof jobs->window_why, "%s", why ? why : "");
    if (jobs->current[0]) {
        rec_t *r = ed__jobs_find(jobs, jobs->current);
        if (r && !(r->run_now ? open_run_now : open))
            ed__jobs_stop_raise(jobs, STOP_WINDOW);
    }
    pthread_cond_broadcast(&jobs->cond);
    pthread_mutex_unlock(&jobs->mu);
}

bool ed_jobs_full(ed_jobs_t *jobs)
{
    pthread_mutex_lock(&jobs->mu);
    bool full = unfinished(jobs) >= (int)jobs->settings.max_queued_jobs;
    pthread_mutex_unlock(&jobs->mu);
    return full;
}

int ed_jobs_create(ed_jobs_t *jobs, ed_adapt_job_t *job, const char *examples, size_t len, char err[ED_ERR_LEN])
{
    /* the job's place is taken before its row is written: concurrent creates
     * cannot pass max_queued_jobs, and a stored row always finds its record */
    int rc = ed__jobs_ready(jobs, err);
    if (rc != 0)
        return rc;
    pthread_mutex_lock(&jobs->mu);
    rc = jobs->closing ? ed_errf(err, ED_ESTATE, "edged is stopping")
             : unfinished(jobs) >= (int)jobs->settings.max_queued_jobs
                 ? ed_errf(err, ED_EBUSY, "%u jobs are queued or running already (adapt.max_queued_jobs)",
                           jobs->settings.max_queued_jobs)
             : reserve(jobs, 1) != 0 ? ed_errf(err, ED_ENOMEM, "out of memory")
                                     : 0;
    if (rc == 0)
        jobs->creating++;
    pthread_mutex_unlock(&jobs->mu);
    if (rc != 0)
        return rc;
    snprintf(job->state, sizeof job->state, "queued");
    job->reason[0] = '\0';
    pthread_mutex_lock(&jobs->store_mu);
    rc = ed_store_job_create(jobs->store, job, examples, len, err);
    pthread_mutex_unlock(&jobs->store_mu);
    pthread_mutex_lock(&jobs->mu);
    jobs->creating--;
    if (rc == 0) {
        jobs->recs[jobs->n++] = (rec_t){.job = *job, .run_now = ed__jobs_options_run_now(job->options)};
        ed__jobs_emit(jobs, job->id, json_pack("{s:s,s:s,s:s}", "type", "state", "state", "queued", "reason", ""));
        pthread_cond_broadcast(&jobs->cond);
    }
    pthread_mutex_unlock(&jobs->mu);
    return rc;
}

int ed_jobs_cancel(ed_jobs_t *jobs, const char *id, ed_adapt_job_t *out, char err[ED_ERR_LEN])
{
    int rc = ed__jobs_ready(jobs, err);
    if (rc != 0)
        return rc;
    pthread_mutex_lock(&jobs->mu);
    rec_t *r = ed__jobs_find(jobs, id);
    if (!r) {
        pthread_mutex_unlock(&jobs->mu);
        return ed_errf(err, ED_ENOENT, "no job %.40s", id);
    }
    if (ed_adapt_job_final(r->job.state)) {
        /* a failed job may have kept its checkpoint (RUN_FAILED_KEEP): a cancel deletes it */
        bool failed = strcmp(r->job.state, "failed") == 0;
        bool kept = failed && ed__jobs_unkeep(r);
        *out = r->job;
        pthread_mutex_unlock(&jobs->mu);
        if (failed)
            ed__jobs_checkpoint_delete(jobs, id);
        if (kept)
            ed__jobs_persist(jobs, id);
        return 0;
    }
    if (strcmp(jobs->current, id) == 0) {
        ed__jobs_stop_raise(jobs, STOP_CANCEL);
        bool paused = jobs->paused;
        pthread_mutex_unlock(&jobs->mu); /* gate_lock comes before mu */
        ed_gate_t *gate = ed__jobs_gate_hold(jobs);
        /* a paused trainer waits at its gate or inside a product the pool
         * holds: either way it must be woken to see the cancel */
        bool woke = gate && (paused || ed_gate_command(gate) == ED_GATE_PAUSE);
        if (woke)
            ed_gate_stop(gate); /* a paused trainer wakes and stops */
        ed__jobs_gate_release(jobs);
        pthread_mutex_lock(&jobs->mu);
        while (strcmp(jobs->current, id) == 0)
            pthread_cond_wait(&jobs->cond, &jobs->mu);
        if (woke) {
            pthread_mutex_unlock(&jobs->mu);
            if ((gate = ed__jobs_gate_hold(jobs)) != NULL)
                ed_gate_run(gate); /* the scheduler pauses again for the next request */
            ed__jobs_gate_release(jobs);
            pthread_mutex_lock(&jobs->mu);
        }
        r = ed__jobs_find(jobs, id);
    } else {
        ed__jobs_set_state(jobs, r, "cancelled", "cancelled by its owner");
    }
    *out = r->job;
    pthread_mutex_unlock(&jobs->mu);
    ed__jobs_checkpoint_delete(jobs, id);
    ed__jobs_persist(jobs, id);
    return 0;
}


/* ------------------------------------------------------------ reading --- */

int ed_jobs_get(ed_jobs_t *jobs, const char *id, ed_adapt_job_t *out)
{
    pthread_mutex_lock(&jobs->mu);
    rec_t *r = ed__jobs_find(jobs, id);
    if (r)
        *out = r->job;
    pthread_mutex_unlock(&jobs->mu);
    return r ? 0 : ED_ENOENT;
}

int ed_jobs_list(ed_jobs_t *jobs, ed_adapt_job_t **out, int *n)
{
    pthread_mutex_lock(&jobs->mu);
    *n = jobs->n;
    *out = malloc((size_t)(jobs->n ? jobs->n : 1) * sizeof **out);
    for (int i = 0; *out && i < jobs->n; i++)
        (*out)[i] = jobs->recs[i].job;
    pthread_mutex_unlock(&jobs->mu);
    if (!*out)
        *n = 0;
    return *out ? 0 : ED_ENOMEM;
}


bool ed_jobs_run_now_next(ed_jobs_t *jobs)
{
    pthread_mutex_lock(&jobs->mu);
    rec_t *r = jobs->current[0] ? ed__jobs_find(jobs, jobs->current) : ed__jobs_next(jobs);
    bool run_now = r && r->run_now;
    pthread_mutex_unlock(&jobs->mu);
    return run_now;
}

uint64_t ed_jobs_pauses(ed_jobs_t *jobs)
{
    pthread_mutex_lock(&jobs->mu);
    uint64_t n = jobs->pauses;
    pthread_mutex_unlock(&jobs->mu);
    return n;
}
