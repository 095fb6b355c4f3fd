/* jobs.c - the adapt jobs' queue and runner (jobs.h). The rows live in the
 * store (one handle of the queue's own, behind store_mu) and in memory
 * (behind mu, so that reads never wait for training); the runner thread
 * takes the oldest unfinished job while the window allows it, builds its
 * dataset from the store, trains it with run.h and stores the best adapter.
 * Events (state, progress, pauses, the end) go to a ring the loop thread
 * reads after a uv_async wake-up. Lock order: mu, then store_mu; neither is
 * held across a training run. */

#include "adapt/jobs.h"

#include "adapt/dataset_source.h"
#include "core/log.h"
#include "model/lora.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EVENT_RING 512
#define CHECKPOINT_NAME_OF(job) (job) /* a job's checkpoint is named by its id ("job-<hex>") */

typedef enum {
    STOP_NONE = 0,
    STOP_SHUTDOWN, /* edged is stopping: checkpoint, resume at the next start */
    STOP_CANCEL,   /* DELETE: checkpoint deleted, cancelled */
    STOP_FORGET,   /* a document it trains on went: checkpoint deleted, start again */
    STOP_WINDOW,   /* the window closed: checkpoint, wait for it */
} stop_t;

typedef struct {
    ed_adapt_job_t job;
    bool run_now;
    ed_run_point_t *history; /* (n_history) */
    int n_history, cap_history;
    bool history_loaded;     /* from the store, for a job not run since the start */
    int64_t *doc_ids;        /* (n_doc_ids) the documents of its last dataset; NULL: unknown (not run since
                                the start) */
    int n_doc_ids;
} rec_t;

typedef struct {
    uint64_t seq;
    char job[ED_ADAPT_JOB_ID_LEN];
    char *json;
} event_t;

typedef struct {
    uint32_t max_queued_jobs, checkpoint_every_s, checkpoint_every_steps;
} settings_t;

struct ed_jobs {
    uv_loop_t *loop;
    uv_async_t async;
    ed_jobs_hooks_t hooks;
    ed_base_t *base;
    ed_gate_t *gate;

    pthread_mutex_t store_mu; /* guards store */
    ed_store_t *store;

    pthread_mutex_t mu; /* guards everything below */
    pthread_cond_t cond;
    pthread_t thread;
    bool thread_started;
    bool closing;
    settings_t settings;
    bool have_prompt;
    ed_prompt_model_t prompt;
    char bos[64], eos[64];
    bool window_open, window_open_run_now;
    char window_why[256];
    rec_t *recs;
    int n, cap;
    char current[ED_ADAPT_JOB_ID_LEN]; /* the job the runner trains ("" none) */
    _Atomic int stop;                  /* stop_t for the current job */
    _Atomic bool shutting_down;        /* ed_base_load's cancel flag */
    bool paused;                       /* the current job waits in the gate */
    uint64_t pauses;
    event_t events[EVENT_RING];
    uint64_t next_seq;                 /* the next event's seq (the first is 1) */
    char (*added)[32];                 /* adapter ids for hooks.adapter_added */
    int n_added;
    char served[32];                   /* the last adapter ed_jobs_adapter_served named */
};

/* ------------------------------------------------------------ records --- */

static rec_t *find(ed_jobs_t *jobs, const char *id)
{
    for (int i = 0; i < jobs->n; i++)
        if (strcmp(jobs->recs[i].job.id, id) == 0)
            return &jobs->recs[i];
    return NULL;
}

static int append(ed_jobs_t *jobs, const ed_adapt_job_t *job, bool run_now)
{
    if (jobs->n == jobs->cap) {
        int cap = jobs->cap ? jobs->cap * 2 : 8;
        rec_t *grown = realloc(jobs->recs, (size_t)cap * sizeof *grown);
        if (!grown)
            return ED_ENOMEM;
        jobs->recs = grown;
        jobs->cap = cap;
    }
    jobs->recs[jobs->n++] = (rec_t){.job = *job, .run_now = run_now};
    return 0;
}

static bool options_run_now(const char *options)
{
    json_t *o = json_loads(options, 0, NULL);
    bool run_now = o && json_is_true(json_object_get(o, "run_now"));
    json_decref(o);
    return run_now;
}

static int unfinished(const ed_jobs_t *jobs)
{
    int n = 0;
    for (int i = 0; i < jobs->n; i++)
        n += !ed_adapt_job_final(jobs->recs[i].job.state);
    return n;
}

/* ------------------------------------------------------------- events --- */

/* Appends an event (mu held); wakes the loop thread. */
static void emit(ed_jobs_t *jobs, const char *id, json_t *body)
{
    if (!body)
        return;
    json_object_set_new(body, "job", json_string(id));
    char *text = json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(6));
    json_decref(body);
    if (!text)
        return;
    uint64_t seq = ++jobs->next_seq;
    event_t *e = &jobs->events[seq % EVENT_RING];
    free(e->json);
    e->seq = seq;
    snprintf(e->job, sizeof e->job, "%s", id);
    e->json = text;
    uv_async_send(&jobs->async);
}

static json_t *number_or_null(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

/* Sets a job's state and reason (mu held) and says so. */
static void set_state(ed_jobs_t *jobs, rec_t *r, const char *state, const char *reason)
{
    snprintf(r->job.state, sizeof r->job.state, "%s", state);
    snprintf(r->job.reason, sizeof r->job.reason, "%s", reason ? reason : "");
    emit(jobs, r->job.id, json_pack("{s:s,s:s,s:s}", "type", "state", "state", state, "reason", r->job.reason));
    if (ed_adapt_job_final(state))
        emit(jobs, r->job.id,
             json_pack("{s:s,s:s,s:s,s:s*,s:I,s:o}", "type", "end", "state", state, "reason", r->job.reason,
                       "adapter_id", r->job.adapter_id[0] ? r->job.adapter_id : NULL, "step", (json_int_t)r->job.step,
                       "best_heldout_loss", number_or_null(r->job.best_heldout_loss)));
}

bool ed_jobs_events(ed_jobs_t *jobs, const char *id, uint64_t *cursor, void (*fn)(const char *json, void *arg),
                    void *arg)
{
    pthread_mutex_lock(&jobs->mu);
    uint64_t oldest = jobs->next_seq >= EVENT_RING ? jobs->next_seq - EVENT_RING + 1 : 1;
    bool complete = *cursor + 1 >= oldest;
    for (uint64_t s = *cursor + 1 > oldest ? *cursor + 1 : oldest; s <= jobs->next_seq; s++) {
        const event_t *e = &jobs->events[s % EVENT_RING];
        if (e->seq == s && e->json && strcmp(e->job, id) == 0)
            fn(e->json, arg);
    }
    *cursor = jobs->next_seq;
    pthread_mutex_unlock(&jobs->mu);
    return complete;
}

uint64_t ed_jobs_events_head(ed_jobs_t *jobs)
{
    pthread_mutex_lock(&jobs->mu);
    uint64_t head = jobs->next_seq;
    pthread_mutex_unlock(&jobs->mu);
    return head;
}

/* Loop thread: adapters to announce, events to read. */
static void on_async(uv_async_t *async)
{
    ed_jobs_t *jobs = async->data;
    pthread_mutex_lock(&jobs->mu);
    char (*added)[32] = jobs->added;
    int n_added = jobs->n_added;
    jobs->added = NULL;
    jobs->n_added = 0;
    pthread_mutex_unlock(&jobs->mu);
    for (int i = 0; i < n_added; i++)
        if (jobs->hooks.adapter_added)
            jobs->hooks.adapter_added(added[i], jobs->hooks.arg);
    free(added);
    if (jobs->hooks.events)
        jobs->hooks.events(jobs->hooks.arg);
}

/* -------------------------------------------------------------- store --- */

/* Writes a job's row as memory has it now (takes mu, then store_mu). */
static void persist(ed_jobs_t *jobs, const char *id)
{
    pthread_mutex_lock(&jobs->mu);
    rec_t *r = find(jobs, id);
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

/* The history as JSON (a compact array of [step, tokens, elapsed_s,
 * train_loss, heldout_loss|null]); mu held. */
static char *history_json(const rec_t *r)
{
    json_t *a = json_array();
    for (int i = 0; a && i < r->n_history; i++) {
        const ed_run_point_t *p = &r->history[i];
        json_array_append_new(a, json_pack("[I,I,f,o,o]", (json_int_t)p->step, (json_int_t)p->tokens, p->elapsed_s,
                                           number_or_null(p->train_loss), number_or_null(p->heldout_loss)));
    }
    char *text = a ? json_dumps(a, JSON_COMPACT | JSON_REAL_PRECISION(7)) : NULL;
    json_decref(a);
    return text;
}

static void save_history(ed_jobs_t *jobs, const char *id)
{
    pthread_mutex_lock(&jobs->mu);
    rec_t *r = find(jobs, id);
    char *text = r ? history_json(r) : NULL;
    pthread_mutex_unlock(&jobs->mu);
    if (!text)
        return;
    char err[ED_ERR_LEN];
    pthread_mutex_lock(&jobs->store_mu);
    int rc = ed_store_job_set_history(jobs->store, id, text, strlen(text), err);
    pthread_mutex_unlock(&jobs->store_mu);
    if (rc != 0 && rc != ED_ENOENT)
        ed_log_warn("adapt: %s: %s", id, err);
    free(text);
}

static int history_push(rec_t *r, const ed_run_point_t *p)
{
    if (r->n_history > 0 && r->history[r->n_history - 1].step == p->step) {
        r->history[r->n_history - 1] = *p; /* an evaluation after its step's point */
        return 0;
    }
    if (r->n_history == r->cap_history) {
        int cap = r->cap_history ? r->cap_history * 2 : 64;
        ed_run_point_t *grown = realloc(r->history, (size_t)cap * sizeof *grown);
        if (!grown)
            return ED_ENOMEM;
        r->history = grown;
        r->cap_history = cap;
    }
    r->history[r->n_history++] = *p;
    return 0;
}

/* A stored history back into memory (mu held; store_mu taken). */
static void load_history(ed_jobs_t *jobs, rec_t *r)
{
    r->history_loaded = true;
    void *data = NULL;
    size_t len = 0;
    char err[ED_ERR_LEN];
    pthread_mutex_lock(&jobs->store_mu);
    int rc = ed_store_job_history(jobs->store, r->job.id, &data, &len, err);
    pthread_mutex_unlock(&jobs->store_mu);
    json_t *a = rc == 0 && data ? json_loadb(data, len, 0, NULL) : NULL;
    free(data);
    size_t i;
    json_t *v;
    json_array_foreach(a, i, v)
    {
        ed_run_point_t p = {
            .step = json_integer_value(json_array_get(v, 0)),
            .tokens = json_integer_value(json_array_get(v, 1)),
            .elapsed_s = json_number_value(json_array_get(v, 2)),
            .train_loss = json_is_number(json_array_get(v, 3)) ? json_number_value(json_array_get(v, 3)) : NAN,
            .heldout_loss = json_is_number(json_array_get(v, 4)) ? json_number_value(json_array_get(v, 4)) : NAN,
        };
        if (history_push(r, &p) != 0)
            break;
    }
    json_decref(a);
}

static void delete_checkpoint(ed_jobs_t *jobs, const char *id)
{
    char err[ED_ERR_LEN];
    pthread_mutex_lock(&jobs->store_mu);
    int rc = ed_store_checkpoint_delete(jobs->store, CHECKPOINT_NAME_OF(id), err);
    pthread_mutex_unlock(&jobs->store_mu);
    if (rc != 0 && rc != ED_ENOENT)
        ed_log_warn("adapt: %s: deleting its checkpoint: %s", id, err);
}

/* ------------------------------------------------------------ options --- */

static const char *const TARGET_NAMES[ED_LORA_PER_LAYER] = {"attn_q",   "attn_k", "attn_v",  "attn_output",
                                                             "ffn_gate", "ffn_up", "ffn_down"};

int ed_jobs_target_bit(const char *name)
{
    for (int r = 0; r < ED_LORA_PER_LAYER; r++)
        if (strcmp(TARGET_NAMES[r], name) == 0)
            return r;
    return -1;
}

static void targets_text(unsigned targets, char *out, size_t cap)
{
    size_t at = 0;
    out[0] = '\0';
    for (int r = 0; r < ED_LORA_PER_LAYER; r++)
        if (targets & ED_TRAIN_TARGET(r))
            at += (size_t)snprintf(out + at, at < cap ? cap - at : 0, "%s%s", at ? "," : "", TARGET_NAMES[r]);
}

/* The job's options (validated by the API when it was queued) as configs. */
static int parse_options(const ed_adapt_job_t *job, const settings_t *s, ed_trainer_config_t *tc, ed_run_config_t *rc,
                         ed_dataset_config_t *dc, char err[ED_ERR_LEN])
{
    ed_trainer_config_default(tc);
    ed_run_config_default(rc);
    ed_dataset_config_default(dc);
    json_t *o = json_loads(job->options, 0, NULL);
    if (!json_is_object(o)) {
        json_decref(o);
        return ed_errf(err, ED_ECORRUPT, "the job's options are not a JSON object");
    }
    json_t *v;
    if ((v = json_object_get(o, "rank")))
        tc->rank = (int)json_integer_value(v);
    if ((v = json_object_get(o, "alpha")))
        tc->alpha = (float)json_number_value(v);
    if ((v = json_object_get(o, "seq_len")))
        tc->seq_len = (int)json_integer_value(v);
    if ((v = json_object_get(o, "learning_rate"))) {
        tc->lr = (float)json_number_value(v);
        tc->lr_min = tc->lr * 0.1f;
    }
    if ((v = json_object_get(o, "targets")) && json_array_size(v) > 0) {
        tc->targets = 0;
        size_t i;
        json_t *t;
        json_array_foreach(v, i, t)
        {
            int bit = json_is_string(t) ? ed_jobs_target_bit(json_string_value(t)) : -1;
            if (bit >= 0)
                tc->targets |= ED_TRAIN_TARGET(bit);
        }
    }
    if ((v = json_object_get(o, "budget_s")))
        rc->budget_s = json_number_value(v);
    if ((v = json_object_get(o, "max_steps")))
        rc->max_steps = (int)json_integer_value(v);
    if ((v = json_object_get(o, "heldout_fraction")))
        dc->heldout_fraction = json_number_value(v);
    if ((v = json_object_get(o, "seed")))
        tc->seed = rc->seed = dc->seed = (uint64_t)json_integer_value(v);
    json_decref(o);
    dc->seq_len = tc->seq_len;
    tc->warmup_steps = rc->max_steps >= 20 ? 10 : rc->max_steps / 2 > 0 ? rc->max_steps / 2 : 1;
    tc->decay_steps = rc->max_steps;
    rc->ckpt_every_steps = (int)s->checkpoint_every_steps;
    rc->ckpt_every_s = s->checkpoint_every_s;
    if (rc->ckpt_every_steps == 0 && rc->ckpt_every_s == 0)
        rc->ckpt_every_steps = 50;
    return ed_run_config_check(rc, err);
}

/* ------------------------------------------------------------ dataset --- */

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
    rec_t *r = find(jobs, ctx->id);
    if (r) {
        history_push(r, p);
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
        emit(jobs, ctx->id,
             json_pack("{s:s,s:I,s:I,s:I,s:f,s:o,s:o,s:o,s:o}", "type", "progress", "step", (json_int_t)p->step,
                       "max_steps", (json_int_t)r->job.max_steps, "tokens", (json_int_t)p->tokens, "elapsed_s",
                       p->elapsed_s, "train_loss", number_or_null(p->train_loss), "heldout_loss",
                       number_or_null(p->heldout_loss), "best_heldout_loss", number_or_null(r->job.best_heldout_loss),
                       "eta_s", number_or_null(eta_s)));
    }
    pthread_mutex_unlock(&jobs->mu);
    double now = now_s();
    if (now - ctx->last_persist_s >= 1.0) { /* the row, not every step: each commit is an fsync */
        ctx->last_persist_s = now;
        persist(jobs, ctx->id);
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
    if (rc == 0) {
        persist(jobs, ctx->id);
        save_history(jobs, ctx->id);
    }
    return rc;
}

/* The trainer's gate: our own stop first (cancel, shutdown, window,
 * forgetting), then the scheduler's gate, which blocks while paused. */
static int job_gate(void *arg)
{
    run_ctx_t *ctx = arg;
    ed_jobs_t *jobs = ctx->jobs;
    if (atomic_load(&jobs->stop) != STOP_NONE)
        return 1;
    if (!jobs->gate || (ctx->run_now && ed_gate_command(jobs->gate) == ED_GATE_STOP))
        return 0;
    bool pausing = ed_gate_command(jobs->gate) == ED_GATE_PAUSE;
    if (pausing) {
        pthread_mutex_lock(&jobs->mu);
        rec_t *r = find(jobs, ctx->id);
        if (r) {
            jobs->paused = true;
            jobs->pauses++;
            set_state(jobs, r, "paused", "an inference request is being served");
            emit(jobs, ctx->id, json_pack("{s:s}", "type", "paused"));
        }
        pthread_mutex_unlock(&jobs->mu);
    }
    int stop = ed_gate_wait(jobs->gate);
    if (pausing) {
        pthread_mutex_lock(&jobs->mu);
        rec_t *r = find(jobs, ctx->id);
        jobs->paused = false;
        if (r) {
            set_state(jobs, r, "running", "");
            emit(jobs, ctx->id, json_pack("{s:s}", "type", "resumed"));
        }
        pthread_mutex_unlock(&jobs->mu);
    }
    return stop || atomic_load(&jobs->stop) != STOP_NONE;
}

typedef enum { RUN_DONE, RUN_STOPPED, RUN_FAILED } run_outcome_t;

/* Drops the points after step `steps` (a resumed run reports them again). */
static void truncate_history(ed_jobs_t *jobs, const char *id, int64_t steps)
{
    pthread_mutex_lock(&jobs->mu);
    rec_t *r = find(jobs, id);
    while (r && r->n_history > 0 && r->history[r->n_history - 1].step > steps)
        r->n_history--;
    pthread_mutex_unlock(&jobs->mu);
}

static void replace_history(ed_jobs_t *jobs, const char *id, const ed_run_result_t *result)
{
    pthread_mutex_lock(&jobs->mu);
    rec_t *r = find(jobs, id);
    if (r) {
        r->n_history = 0;
        for (int i = 0; i < result->n_history; i++)
            if (history_push(r, &result->history[i]) != 0)
                break;
    }
    pthread_mutex_unlock(&jobs->mu);
}

/* Which documents a job's checkpoints learnt from, for forgetting. */
static void remember_documents(ed_jobs_t *jobs, const char *id, const ed_dataset_t *ds)
{
    int n = ds->n_train_docs + ds->n_heldout_docs;
    int64_t *ids = malloc((size_t)(n ? n : 1) * sizeof *ids);
    if (ids) {
        memcpy(ids, ds->train_doc_ids, (size_t)ds->n_train_docs * sizeof *ids);
        memcpy(ids + ds->n_train_docs, ds->heldout_doc_ids, (size_t)ds->n_heldout_docs * sizeof *ids);
    }
    pthread_mutex_lock(&jobs->mu);
    rec_t *r = find(jobs, id);
    if (r && ids) {
        free(r->doc_ids);
        r->doc_ids = ids;
        r->n_doc_ids = n;
        ids = NULL;
    }
    pthread_mutex_unlock(&jobs->mu);
    free(ids);
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
    targets_text(tc->targets, row.targets, sizeof row.targets);
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
    rec_t *r = find(jobs, id);
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
    int rc;
    if (!jobs->base) {
        snprintf(reason, 256, "no model is served (model.path is empty)");
        return RUN_FAILED;
    }
    if ((rc = ed_base_load(jobs->base, &jobs->shutting_down, err)) != 0) {
        if (rc == ED_ECANCELED)
            return RUN_STOPPED;
        snprintf(reason, 256, "the model did not load: %.200s", err);
        return RUN_FAILED;
    }
    if ((rc = parse_options(&job, &settings, &tc, &rc_cfg, &dc, err)) != 0)
        goto end;
    if ((rc = sources_load(jobs, &job, &docs, &examples, err)) != 0)
        goto end;
    rc = ed_dataset_build(&ds, &prompt, docs ? docs->docs : NULL, docs ? docs->n_docs : 0,
                          examples ? examples->examples : NULL, examples ? examples->n_examples : 0, &dc, err);
    ed_dataset_source_free(docs); /* the dataset holds tokens; the text goes now */
    ed_dataset_source_free(examples);
    docs = examples = NULL;
    if (rc != 0)
        goto end;
    remember_documents(jobs, id, ds);
    if ((rc = ed_trainer_create(&trainer, ed_base_model(jobs->base), ed_base_gguf(jobs->base),
                                ed_base_kernels(jobs->base), ed_base_pool(jobs->base), &tc, err)) != 0)
        goto end;
    pthread_mutex_lock(&jobs->store_mu);
    rc = ed_store_checkpoint_load(jobs->store, CHECKPOINT_NAME_OF(id), &resume, &resume_len, err);
    pthread_mutex_unlock(&jobs->store_mu);
    if (rc == ED_ENOENT)
        rc = 0;
    else if (rc != 0)
        ed_log_warn("adapt: %s: its checkpoint does not load (%s); starting again", id, err);
    ed_run_checkpoint_info_t info;
    if (resume && ed_run_checkpoint_info(resume, resume_len, &info, err) == 0)
        truncate_history(jobs, id, info.steps); /* the stored curve may lag or lead the checkpoint */
    run_ctx_t ctx = {.jobs = jobs, .run_now = run_now, .last_persist_s = now_s()};
    snprintf(ctx.id, sizeof ctx.id, "%s", id);
    ed_run_hooks_t hooks = {.progress = on_progress, .checkpoint = on_checkpoint, .arg = &ctx, .gate = job_gate,
                            .gate_arg = &ctx};
    if (jobs->gate)
        ed_gate_begin(jobs->gate);
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
            r = find(jobs, id);
            if (r)
                r->n_history = 0;
            pthread_mutex_unlock(&jobs->mu);
            rc = ed_run_train(trainer, ds, &rc_cfg, &hooks, NULL, 0, &result, err);
        }
    }
    if (jobs->gate)
        ed_gate_end(jobs->gate);
    if (rc != 0)
        goto end;
    replace_history(jobs, id, &result); /* the run's own curve, whole across resumptions */
    if (result.end == ED_RUN_STOPPED) {
        outcome = RUN_STOPPED;
        goto end;
    }
    char adapter_id[32] = "";
    bool forgotten = false;
    rc = store_adapter(jobs, id, job.name, &tc, result.best, ds, adapter_id, &forgotten, err);
    if (rc == 0 && forgotten) {
        atomic_store(&jobs->stop, STOP_FORGET);
        outcome = RUN_STOPPED;
        goto end;
    }
    if (rc != 0)
        goto end;
    pthread_mutex_lock(&jobs->mu);
    r = find(jobs, id);
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

/* The oldest unfinished job (mu held). */
static rec_t *next_job(ed_jobs_t *jobs)
{
    for (int i = 0; i < jobs->n; i++)
        if (!ed_adapt_job_final(jobs->recs[i].job.state))
            return &jobs->recs[i];
    return NULL;
}

/* Whether rec may start now; else why not (mu held). */
static bool may_start(const ed_jobs_t *jobs, const rec_t *r, char why[256])
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
    if (!r->run_now && jobs->gate && ed_gate_command(jobs->gate) == ED_GATE_STOP) {
        snprintf(why, 256, "the scheduler stopped training");
        return false;
    }
    return true;
}

static void *runner_main(void *arg)
{
    ed_jobs_t *jobs = arg;
    struct sched_param param = {0};
    if (sched_setscheduler(0, SCHED_IDLE, &param) != 0)
        ed_log_warn("adapt: the job runner stays at normal priority: sched_setscheduler(SCHED_IDLE): %s",
                    strerror(errno));
    pthread_mutex_lock(&jobs->mu);
    while (!jobs->closing) {
        rec_t *r = next_job(jobs);
        char why[256];
        if (!r) {
            pthread_cond_wait(&jobs->cond, &jobs->mu);
            continue;
        }
        if (!may_start(jobs, r, why)) {
            if (strcmp(r->job.state, "waiting_for_window") != 0 || strcmp(r->job.reason, why) != 0) {
                char id[ED_ADAPT_JOB_ID_LEN];
                snprintf(id, sizeof id, "%s", r->job.id);
                set_state(jobs, r, "waiting_for_window", why);
                pthread_mutex_unlock(&jobs->mu);
                persist(jobs, id);
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
        if (!r->history_loaded && r->job.step > 0)
            load_history(jobs, r);
        r->history_loaded = true;
        set_state(jobs, r, "running", "");
        pthread_mutex_unlock(&jobs->mu);
        persist(jobs, id);

        char reason[256] = "";
        run_outcome_t outcome = run_job(jobs, id, reason);

        pthread_mutex_lock(&jobs->mu);
        int stop = atomic_load(&jobs->stop); /* under mu: a cancel or forget sets it there while current is id */
        r = find(jobs, id);
        jobs->current[0] = '\0';
        jobs->paused = false;
        if (!r) {
            pthread_cond_broadcast(&jobs->cond);
            continue;
        }
        if (stop == STOP_CANCEL) {
            set_state(jobs, r, "cancelled", "cancelled by its owner");
        } else if (stop == STOP_FORGET && outcome != RUN_DONE) {
            r->job.step = r->job.tokens = r->job.best_step = 0;
            r->job.train_loss = r->job.heldout_loss = r->job.best_heldout_loss = r->job.eta_s = NAN;
            r->n_history = 0;
            set_state(jobs, r, "queued", "a document it trained on was deleted: starting again without it");
        } else if (outcome == RUN_DONE) {
            set_state(jobs, r, "done", reason);
        } else if (outcome == RUN_FAILED) {
            set_state(jobs, r, "failed", reason);
            ed_log_warn("adapt: %s failed: %s", id, reason);
        } else {
            snprintf(why, sizeof why, "%s",
                     stop == STOP_SHUTDOWN ? "edged stopped; it resumes from its checkpoint"
                     : jobs->window_why[0] ? jobs->window_why
                                           : "the training window closed");
            set_state(jobs, r, "waiting_for_window", why);
        }
        bool drop_checkpoint = stop == STOP_CANCEL || stop == STOP_FORGET || outcome != RUN_STOPPED;
        pthread_cond_broadcast(&jobs->cond); /* a cancel waits for this */
        pthread_mutex_unlock(&jobs->mu);
        if (drop_checkpoint)
            delete_checkpoint(jobs, id);
        save_history(jobs, id);
        persist(jobs, id);
        pthread_mutex_lock(&jobs->mu);
    }
    pthread_mutex_unlock(&jobs->mu);
    return NULL;
}

/* -------------------------------------------------------------- queue --- */

static void apply_settings(ed_jobs_t *jobs, const ed_config_t *cfg)
{
    jobs->settings = (settings_t){cfg->adapt.max_queued_jobs, cfg->adapt.checkpoint_every_s,
                                  cfg->adapt.checkpoint_every_steps};
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
    pthread_mutex_init(&jobs->mu, NULL);
    pthread_mutex_init(&jobs->store_mu, NULL);
    pthread_cond_init(&jobs->cond, NULL);
    int rc = ed_store_open_adapters(&jobs->store, cfg->state.directory, cfg->store.key_file, err);
    ed_adapt_job_t *rows = NULL;
    int n = 0;
    if (rc == 0)
        rc = ed_store_jobs_list(jobs->store, &rows, &n, err);
    for (int i = 0; rc == 0 && i < n; i++) {
        ed_adapt_job_t *j = &rows[i];
        if (strcmp(j->state, "running") == 0 || strcmp(j->state, "paused") == 0) {
            snprintf(j->state, sizeof j->state, "waiting_for_window");
            snprintf(j->reason, sizeof j->reason, "edged restarted; it resumes from its checkpoint");
            char sub[ED_ERR_LEN];
            if (ed_store_job_update(jobs->store, j, sub) != 0)
                ed_log_warn("adapt: %s: %s", j->id, sub);
        }
        if ((rc = append(jobs, j, options_run_now(j->options))) != 0)
            ed_errf(err, rc, "out of memory reading jobs");
    }
    free(rows);
    if (rc == 0 && (rc = uv_async_init(loop, &jobs->async, on_async)) != 0)
        rc = ed_errf(err, ED_ENOMEM, "uv_async_init: %s", uv_strerror(rc));
    if (rc != 0) {
        ed_store_close(jobs->store);
        free(jobs->recs);
        free(jobs);
        return rc;
    }
    jobs->async.data = jobs;
    if (pthread_create(&jobs->thread, NULL, runner_main, jobs) != 0) {
        ed_jobs_close(jobs);
        return ed_errf(err, ED_ENOMEM, "could not start the job runner thread");
    }
    jobs->thread_started = true;
    int waiting = unfinished(jobs);
    if (waiting)
        ed_log_info("adapt: %d job%s waiting", waiting, waiting == 1 ? "" : "s");
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
    pthread_cond_destroy(&jobs->cond);
    free(jobs);
}

void ed_jobs_stop(ed_jobs_t *jobs)
{
    if (!jobs)
        return;
    pthread_mutex_lock(&jobs->mu);
    if (jobs->closing && !jobs->thread_started) {
        pthread_mutex_unlock(&jobs->mu);
        return;
    }
    jobs->closing = true;
    atomic_store(&jobs->shutting_down, true);
    if (jobs->current[0])
        atomic_store(&jobs->stop, STOP_SHUTDOWN);
    pthread_cond_broadcast(&jobs->cond);
    pthread_mutex_unlock(&jobs->mu);
    if (jobs->gate)
        ed_gate_stop(jobs->gate); /* releases a paused trainer */
    if (jobs->thread_started)
        pthread_join(jobs->thread, NULL);
    jobs->thread_started = false;
}

void ed_jobs_close(ed_jobs_t *jobs)
{
    if (!jobs)
        return;
    ed_jobs_stop(jobs);
    ed_store_close(jobs->store);
    jobs->store = NULL;
    uv_close((uv_handle_t *)&jobs->async, on_async_closed);
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
        rec_t *r = find(jobs, jobs->current);
        if (r && !(r->run_now ? open_run_now : open))
            atomic_store(&jobs->stop, STOP_WINDOW);
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
    pthread_mutex_lock(&jobs->mu);
    int rc = jobs->closing ? ed_errf(err, ED_ESTATE, "edged is stopping")
             : unfinished(jobs) >= (int)jobs->settings.max_queued_jobs
                 ? ed_errf(err, ED_EBUSY, "%u jobs are queued or running already (adapt.max_queued_jobs)",
                           jobs->settings.max_queued_jobs)
                 : 0;
    pthread_mutex_unlock(&jobs->mu);
    if (rc != 0)
        return rc;
    snprintf(job->state, sizeof job->state, "queued");
    job->reason[0] = '\0';
    pthread_mutex_lock(&jobs->store_mu);
    rc = ed_store_job_create(jobs->store, job, examples, len, err);
    pthread_mutex_unlock(&jobs->store_mu);
    if (rc != 0)
        return rc;
    pthread_mutex_lock(&jobs->mu);
    rc = append(jobs, job, options_run_now(job->options));
    if (rc == 0) {
        emit(jobs, job->id, json_pack("{s:s,s:s,s:s}", "type", "state", "state", "queued", "reason", ""));
        pthread_cond_broadcast(&jobs->cond);
    }
    pthread_mutex_unlock(&jobs->mu);
    return rc != 0 ? ed_errf(err, rc, "out of memory") : 0;
}

int ed_jobs_cancel(ed_jobs_t *jobs, const char *id, ed_adapt_job_t *out, char err[ED_ERR_LEN])
{
    pthread_mutex_lock(&jobs->mu);
    rec_t *r = find(jobs, id);
    if (!r) {
        pthread_mutex_unlock(&jobs->mu);
        return ed_errf(err, ED_ENOENT, "no job %.40s", id);
    }
    if (ed_adapt_job_final(r->job.state)) {
        *out = r->job;
        pthread_mutex_unlock(&jobs->mu);
        return 0;
    }
    if (strcmp(jobs->current, id) == 0) {
        atomic_store(&jobs->stop, STOP_CANCEL);
        bool woke = jobs->gate && (jobs->paused || ed_gate_blocked(jobs->gate));
        if (woke)
            ed_gate_stop(jobs->gate); /* a paused trainer wakes and stops */
        while (strcmp(jobs->current, id) == 0)
            pthread_cond_wait(&jobs->cond, &jobs->mu);
        if (woke)
            ed_gate_run(jobs->gate); /* the scheduler pauses again for the next request */
        r = find(jobs, id);
    } else {
        set_state(jobs, r, "cancelled", "cancelled by its owner");
    }
    *out = r->job;
    pthread_mutex_unlock(&jobs->mu);
    delete_checkpoint(jobs, id);
    persist(jobs, id);
    return 0;
}

/* Whether job r may have learnt from document doc_id of `collection` (mu held). */
static bool trained_on(const rec_t *r, int64_t doc_id, const char *collection)
{
    if (r->doc_ids) {
        for (int i = 0; i < r->n_doc_ids; i++)
            if (r->doc_ids[i] == doc_id)
                return true;
    } else if (!collection) {
        return true; /* not run since the start: its collections are all we know */
    }
    if (!collection)
        return false;
    json_t *names = json_loads(r->job.collections, 0, NULL);
    bool hit = false;
    size_t k;
    json_t *v;
    json_array_foreach(names, k, v) hit = hit || (json_is_string(v) && strcmp(json_string_value(v), collection) == 0);
    json_decref(names);
    return hit;
}

void ed_jobs_forget(ed_jobs_t *jobs, int64_t doc_id, const char *collection)
{
    pthread_mutex_lock(&jobs->mu);
    int n = 0;
    char (*ids)[ED_ADAPT_JOB_ID_LEN] = calloc((size_t)jobs->n + 1, sizeof *ids);
    for (int i = 0; ids && i < jobs->n; i++) {
        rec_t *r = &jobs->recs[i];
        if (ed_adapt_job_final(r->job.state) || !trained_on(r, doc_id, collection))
            continue;
        snprintf(ids[n++], ED_ADAPT_JOB_ID_LEN, "%s", r->job.id);
        if (strcmp(jobs->current, r->job.id) == 0) {
            atomic_store(&jobs->stop, STOP_FORGET);
        } else if (r->job.step > 0) {
            r->job.step = r->job.tokens = r->job.best_step = 0;
            r->job.train_loss = r->job.heldout_loss = r->job.best_heldout_loss = r->job.eta_s = NAN;
            r->n_history = 0;
            set_state(jobs, r, "queued", "a document it trained on was deleted: it starts again without it");
        }
    }
    pthread_mutex_unlock(&jobs->mu);
    for (int i = 0; i < n; i++) {
        delete_checkpoint(jobs, ids[i]);
        persist(jobs, ids[i]);
    }
    free(ids);
}

int ed_jobs_stale_adapters(ed_jobs_t *jobs, char (**ids)[32], int *n, char err[ED_ERR_LEN])
{
    *ids = NULL;
    *n = 0;
    ed_adapter_row_t *rows = NULL;
    int n_rows = 0;
    pthread_mutex_lock(&jobs->store_mu);
    int rc = ed_store_adapters_list(jobs->store, &rows, &n_rows, err);
    if (rc == 0 && n_rows > 0 && !(*ids = calloc((size_t)n_rows, sizeof **ids)))
        rc = ed_errf(err, ED_ENOMEM, "out of memory");
    for (int i = 0; rc == 0 && i < n_rows; i++) {
        bool stale = false;
        if ((rc = ed_store_adapter_stale(jobs->store, rows[i].id, &stale, err)) == 0 && stale)
            snprintf((*ids)[(*n)++], 32, "%s", rows[i].id);
    }
    pthread_mutex_unlock(&jobs->store_mu);
    free(rows);
    if (rc != 0) {
        free(*ids);
        *ids = NULL;
        *n = 0;
    }
    return rc;
}

int ed_jobs_retrain(ed_jobs_t *jobs, const char *adapter_id, ed_adapt_job_t *out, char err[ED_ERR_LEN])
{
    pthread_mutex_lock(&jobs->mu);
    rec_t *r = NULL;
    for (int i = jobs->n - 1; i >= 0 && !r; i--)
        if (strcmp(jobs->recs[i].job.adapter_id, adapter_id) == 0)
            r = &jobs->recs[i];
    ed_adapt_job_t job = {0};
    bool already = false;
    if (r) {
        job.owner_uid = r->job.owner_uid;
        snprintf(job.name, sizeof job.name, "%s", r->job.name);
        snprintf(job.collections, sizeof job.collections, "%s", r->job.collections);
        job.max_steps = r->job.max_steps;
        json_t *o = json_loads(r->job.options, 0, NULL);
        json_object_set_new(o, "retrains", json_string(adapter_id));
        char *text = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        snprintf(job.options, sizeof job.options, "%s", text ? text : r->job.options);
        free(text);
        json_decref(o);
        /* one retraining per stale adapter */
        for (int i = 0; i < jobs->n && !already; i++) {
            json_t *other = json_loads(jobs->recs[i].job.options, 0, NULL);
            const char *of = json_string_value(json_object_get(other, "retrains"));
            already = of && strcmp(of, adapter_id) == 0 && strcmp(jobs->recs[i].job.state, "failed") != 0 &&
                      strcmp(jobs->recs[i].job.state, "cancelled") != 0;
            if (already)
                job = jobs->recs[i].job;
            json_decref(other);
        }
    }
    pthread_mutex_unlock(&jobs->mu);
    if (!r)
        return ed_errf(err, ED_ENOENT, "no job made adapter %.40s", adapter_id);
    if (already) {
        *out = job;
        return ED_EEXIST;
    }
    void *examples = NULL;
    size_t len = 0;
    pthread_mutex_lock(&jobs->store_mu);
    int rc = ed_store_job_examples(jobs->store, r->job.id, &examples, &len, err);
    pthread_mutex_unlock(&jobs->store_mu);
    if (rc == 0)
        rc = ed_jobs_create(jobs, &job, examples, len, err);
    if (examples)
        explicit_bzero(examples, len);
    free(examples);
    if (rc == 0)
        *out = job;
    return rc;
}

/* ------------------------------------------------------------ reading --- */

int ed_jobs_get(ed_jobs_t *jobs, const char *id, ed_adapt_job_t *out)
{
    pthread_mutex_lock(&jobs->mu);
    rec_t *r = find(jobs, id);
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

int ed_jobs_history(ed_jobs_t *jobs, const char *id, int max, ed_run_point_t **out, int *n)
{
    *out = NULL;
    *n = 0;
    pthread_mutex_lock(&jobs->mu);
    rec_t *r = find(jobs, id);
    if (r && !r->history_loaded && strcmp(jobs->current, id) != 0)
        load_history(jobs, r);
    r = find(jobs, id);
    int rc = r ? 0 : ED_ENOENT;
    if (r && r->n_history > 0 && max > 0) {
        int take = r->n_history < max ? r->n_history : max;
        *out = malloc((size_t)take * sizeof **out);
        if (!*out) {
            rc = ED_ENOMEM;
        } else {
            /* evenly thinned; the newest point is always the last */
            for (int i = 0; i < take; i++) {
                int src = take == 1 ? r->n_history - 1
                                    : (int)((int64_t)i * (r->n_history - 1) / (take - 1));
                (*out)[i] = r->history[src];
            }
            *n = take;
        }
    }
    pthread_mutex_unlock(&jobs->mu);
    return rc;
}

bool ed_jobs_run_now_next(ed_jobs_t *jobs)
{
    pthread_mutex_lock(&jobs->mu);
    rec_t *r = jobs->current[0] ? find(jobs, jobs->current) : next_job(jobs);
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
