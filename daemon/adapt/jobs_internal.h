/* jobs_internal.h - internal to adapt/jobs*.c: the queue's state (jobs.h's
 * opaque ed_jobs_t), a job's record in memory, and what jobs.c (the queue),
 * jobs_events.c, jobs_history.c, jobs_options.c, jobs_runner.c and
 * jobs_forget.c share. Lock order: gate_lock, then mu, then store_mu; none
 * is held across a training run nor a read of the store by mu's holder.
 * The store is opened and closed off the loop thread: opened by the runner
 * thread as it starts (callers of the store wait for it: ed__jobs_ready),
 * closed by ed_jobs_close's pool work after it joined the runner. */
#ifndef ED_ADAPT_JOBS_INTERNAL_H
#define ED_ADAPT_JOBS_INTERNAL_H

#include "adapt/jobs.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>

#define EVENT_RING 512
/* What a failed job's reason ends with while its checkpoint is kept (RUN_FAILED_KEEP). */
#define KEPT_NOTE "; its checkpoint is kept (the failure is not the training's)"
#define CHECKPOINT_NAME_OF(job) (job) /* a job's checkpoint is named by its id ("job-<hex>") */

/* Why the current job stops, weakest first: a stronger one is never
 * replaced by a weaker one (ed__jobs_stop_raise). */
typedef enum {
    STOP_NONE = 0,
    STOP_WINDOW,   /* the window closed: checkpoint, wait for it */
    STOP_SHUTDOWN, /* edged is stopping: checkpoint, resume at the next start */
    STOP_FORGET,   /* a document it trains on went: checkpoint deleted, start again */
    STOP_CANCEL,   /* DELETE: checkpoint deleted, cancelled */
} stop_t;

typedef struct {
    ed_adapt_job_t job;
    bool run_now;
    ed_run_point_t *history; /* (n_history) */
    int n_history, cap_history;
    bool history_loaded;     /* from the store, for a job not run since the start */
    int64_t *doc_ids;        /* (n_doc_ids) the documents of its last dataset (stored with its row before
                                its first checkpoint); NULL: unknown (not run since the start, not read back) */
    int n_doc_ids;
    bool docs_loaded;        /* the store's list was read (or there is none to read) */
} rec_t;

typedef struct {
    uint64_t seq;
    char job[ED_ADAPT_JOB_ID_LEN];
    char *json;
} event_t;

typedef struct {
    uint32_t max_queued_jobs, checkpoint_every_s, checkpoint_every_steps;
} settings_t;

/* The queue's store, as the runner thread opens it (calloc'd: open). */
typedef enum { QUEUE_OPEN = 0, QUEUE_OPENING, QUEUE_FAILED } queue_state_t;

struct ed_jobs {
    uv_loop_t *loop;
    uv_async_t async;
    ed_jobs_hooks_t hooks;
    ed_base_t *base;
    uv_work_t close_work;

    /* guards gate: held (read) around each call into it; ed_jobs_stop detaches
     * it (write) so that no call reaches it after (the scheduler frees it) */
    pthread_rwlock_t gate_lock;
    ed_gate_t *gate;

    pthread_mutex_t store_mu; /* guards store */
    ed_store_t *store;
    char state_dir[ED_CONFIG_PATH_MAX], key_file[ED_CONFIG_PATH_MAX]; /* where the runner opens it */

    pthread_mutex_t mu; /* guards everything below */
    pthread_cond_t cond;
    pthread_t thread;
    bool thread_started;
    bool closing;
    queue_state_t state;         /* QUEUE_OPENING until the runner opened the store */
    char open_failed[ED_ERR_LEN]; /* why, at QUEUE_FAILED */
    settings_t settings;
    bool have_prompt;
    ed_prompt_model_t prompt;
    char bos[64], eos[64];
    bool window_open, window_open_run_now;
    char window_why[256];
    rec_t *recs;
    int n, cap;
    int creating; /* ed_jobs_create calls between their check and their record (recs has room for them) */
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

/* ---- jobs.c: records and rows (mu held where a rec_t is passed) ---- */

/* The record of job id, or NULL (mu held). */
rec_t *ed__jobs_find(ed_jobs_t *jobs, const char *id);
/* The oldest unfinished job (mu held). */
rec_t *ed__jobs_next(ed_jobs_t *jobs);
/* Writes a job's row as memory has it now (takes mu, then store_mu). */
void ed__jobs_persist(ed_jobs_t *jobs, const char *id);
/* Job r starts again from nothing, queued (a document it learnt from was
 * deleted): its progress and curve go; the caller deletes its checkpoint
 * and stores its row and (empty) curve (mu held). */
void ed__jobs_restart(ed_jobs_t *jobs, rec_t *r);
/* A failed job's reason loses KEPT_NOTE (its checkpoint is being deleted);
 * whether it had it (mu held). */
bool ed__jobs_unkeep(rec_t *r);
/* Asks the current job to stop for `why` unless a stronger stop was asked
 * already (a cancel beats forgetting, which beats a shutdown, which beats
 * the window): the runner ends the job as the strongest asks. Any thread. */
void ed__jobs_stop_raise(ed_jobs_t *jobs, stop_t why);
/* Waits until the runner opened the store: 0, or ED_ESTATE with err when it
 * did not open (takes mu; no lock held on entry). */
int ed__jobs_ready(ed_jobs_t *jobs, char err[ED_ERR_LEN]);
/* The runner thread opens the store and reads the jobs (no lock held). */
int ed__jobs_load(ed_jobs_t *jobs, char err[ED_ERR_LEN]);
/* The gate, read-locked (NULL: none, or detached by ed_jobs_stop), and its
 * release; neither mu nor store_mu is held across hold. */
ed_gate_t *ed__jobs_gate_hold(ed_jobs_t *jobs);
void ed__jobs_gate_release(ed_jobs_t *jobs);
/* Deletes a job's checkpoint; a failure is logged (takes store_mu). */
void ed__jobs_checkpoint_delete(ed_jobs_t *jobs, const char *id);

/* ---- jobs_events.c ---- */

/* Appends an event (body is consumed; "job" is added) and wakes the loop
 * thread (mu held). */
void ed__jobs_emit(ed_jobs_t *jobs, const char *id, json_t *body);
/* Sets a job's state and reason and says so; a final state also emits
 * the "end" event (mu held). */
void ed__jobs_set_state(ed_jobs_t *jobs, rec_t *r, const char *state, const char *reason);
/* A JSON number, or null for NaN and infinities. */
json_t *ed__jobs_number_or_null(double v);
/* Loop thread, after a uv_async wake-up: announces stored adapters and
 * tells hooks.events. */
void ed__jobs_on_async(uv_async_t *async);

/* ---- jobs_history.c ---- */

/* Appends a point, or replaces the last one of the same step (mu held). */
int ed__jobs_history_push(rec_t *r, const ed_run_point_t *p);
/* A stored history back into memory unless it is there by then (takes
 * store_mu, then mu; neither held on entry). */
void ed__jobs_history_load(ed_jobs_t *jobs, const char *id);
/* Stores a job's history (takes mu, then store_mu). */
void ed__jobs_history_save(ed_jobs_t *jobs, const char *id);
/* Drops the points after step `steps` (takes mu). */
void ed__jobs_history_truncate(ed_jobs_t *jobs, const char *id, int64_t steps);
/* The history becomes the run's own (takes mu). */
void ed__jobs_history_replace(ed_jobs_t *jobs, const char *id, const ed_run_result_t *result);

/* ---- jobs_options.c ---- */

/* The job's options (validated by the API when it was queued) as configs. */
int ed__jobs_options_parse(const ed_adapt_job_t *job, const settings_t *s, ed_trainer_config_t *tc,
                           ed_run_config_t *rc, ed_dataset_config_t *dc, char err[ED_ERR_LEN]);
/* Whether the options (JSON text) say "run_now": true. */
bool ed__jobs_options_run_now(const char *options);
/* The target bits as "attn_q,attn_k,..." into out (cap bytes). */
void ed__jobs_targets_text(unsigned targets, char *out, size_t cap);

/* ---- jobs_runner.c ---- */

/* How a run of a job ended. */
typedef enum {
    RUN_DONE,        /* its adapter is stored (and served, or 10 s passed) */
    RUN_STOPPED,     /* stopped (ed__jobs_stop_raise) with a checkpoint, or before storing an adapter */
    RUN_FAILED,      /* the job's own data or training failed: its checkpoint is of no use */
    RUN_FAILED_KEEP, /* the device failed it (storage, the registry, memory, the model's load): its
                        checkpoint is kept, so that a retry resumes from it */
} run_outcome_t;

/* The state a job ends a run in, from how the run ended and the strongest
 * stop asked meanwhile; returns whether its checkpoint is to be deleted
 * (the caller deletes it and stores the row; mu held). An adapter stored
 * wins over a cancel or a forget that came after it: the job is done, as
 * the registry serves its adapter (a forget marks it stale by lineage). */
bool ed__jobs_finish(ed_jobs_t *jobs, rec_t *r, run_outcome_t outcome, stop_t stop, const char *reason);

/* The runner thread's body (arg: the ed_jobs_t). */
void *ed__jobs_runner_main(void *arg);

#endif
