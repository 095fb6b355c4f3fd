/* jobs.h - adapt jobs: the persistent queue (rows in the store, store.h's
 * ed_adapt_job_t) and the runner, one thread at SCHED_IDLE that trains one
 * job at a time on the daemon's one base model: the documents of the job's
 * collections and its examples become a dataset (dataset.h), run.h's loop
 * trains with sealed checkpoints in the store, the best adapter is stored in
 * the registry ("trained", with lineage rows) and its id reported on the job.
 * A job starts or resumes only while the window is open (the scheduler says
 * so through ed_jobs_window; run_now jobs only need the temperature); the
 * gate (gate.h) pauses it for inference; a closing window, a cancel, a
 * forgotten document or SIGTERM stop it at the next kernel call with a
 * checkpoint, from which it resumes (also after a restart). States: queued,
 * waiting_for_window, running, paused, done, failed, cancelled. */
#ifndef ED_ADAPT_JOBS_H
#define ED_ADAPT_JOBS_H

#include "adapt/gate.h"
#include "adapt/run.h"
#include "core/config.h"
#include "core/error.h"
#include "model/base.h"
#include "model/prompt.h"
#include "store/store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct ed_jobs ed_jobs_t;

/* What the runner tells the loop thread (called there; may be NULL). */
typedef struct {
    /* a job stored adapter_id in the registry (with its lineage); the job
     * is marked done after ed_jobs_adapter_served(adapter_id) (or 10 s), so
     * that a client that sees it done finds the adapter served */
    void (*adapter_added)(const char *adapter_id, void *arg);
    /* events were appended (ed_jobs_events reads them) */
    void (*events)(void *arg);
    void *arg;
} ed_jobs_hooks_t;

/* Opens the queue under cfg->state.directory (after the store opened once:
 * it made the data key and ran the migrations) and starts the runner
 * thread, which opens a store handle of the queue's own and reads every job
 * (a job that was running or paused when edged stopped waits for the window
 * again, to resume from its checkpoint): the loop thread never waits for the
 * disk. Until then ed_jobs_state says "opening", reads find no job and the
 * calls that need the store wait for it. base (NULL: jobs fail, "no model")
 * must outlive the queue; gate (NULL: no pauses) must outlive
 * ed_jobs_stop. Loop thread. 0 or an ED_E* code with err. */
int ed_jobs_open(ed_jobs_t **out, uv_loop_t *loop, const ed_config_t *cfg, ed_base_t *base, ed_gate_t *gate,
                 const ed_jobs_hooks_t *hooks, char err[ED_ERR_LEN]);
/* Stops the queue (ed_jobs_stop), calls no hook any more, and frees it once
 * the runner ended on a pool thread: a running trainer stops at its next
 * kernel call and writes its checkpoint (the job waits for the window at
 * the next start), the thread is joined and the store closed there; the
 * loop thread never waits for it, and uv_run returns only after it. Call
 * it after every call on other threads ended. Loop thread; accepts NULL. */
void ed_jobs_close(ed_jobs_t *jobs);
/* Asks the runner to stop (its trainer stops at its next kernel call and
 * checkpoints on the runner's thread) and detaches the gate: once this
 * returns no thread of the queue calls the gate, so its owner may free it.
 * Waits at most for a gate call to return, never for the disk. The queue
 * refuses new jobs (ED_ESTATE) but reads, cancels and forgets still work, so
 * that calls in flight on other threads end before ed_jobs_close.
 * Idempotent. Loop thread. */
void ed_jobs_stop(ed_jobs_t *jobs);
/* 0 when the queue's store is open; ED_EAGAIN while the runner opens it;
 * ED_ESTATE when it did not open; why says so. Any thread. */
int ed_jobs_state(ed_jobs_t *jobs, char why[ED_ERR_LEN]);
/* New [adapt] options (SIGHUP); a running job keeps its own. Loop thread. */
void ed_jobs_reconfigure(ed_jobs_t *jobs, const ed_config_t *cfg);

/* How prompts and examples are rendered for the served model (the engine's
 * once it loaded; copied). Until it is set jobs wait ("the model is
 * loading"). Loop thread. */
void ed_jobs_set_prompt(ed_jobs_t *jobs, const ed_prompt_model_t *prompt);

/* The registry serves adapter_id now (adapter_added's answer). Any thread. */
void ed_jobs_adapter_served(ed_jobs_t *jobs, const char *adapter_id);

/* The window (the scheduler's verdict): open lets jobs start or resume;
 * open_run_now is the same ignoring every constraint but temperature.
 * Closing it while a job runs stops that job with a checkpoint; it waits
 * for the window with `why` as its reason. Loop thread. */
void ed_jobs_window(ed_jobs_t *jobs, bool open, bool open_run_now, const char *why);

/* The role (ed_lora_role_t) of a target's name ("attn_q", "attn_k",
 * "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"); -1: none. */
int ed_jobs_target_bit(const char *name);

/* ---- the queue (any thread; the store calls block: use a pool thread) ---- */

/* Queues a job: job's owner_uid, name, collections and options (a JSON
 * object; "run_now": true marks an admin's job) are the caller's; examples
 * (a JSON array of chat-message arrays, len bytes; NULL: none) are sealed.
 * Fills the rest. ED_EBUSY when adapt.max_queued_jobs unfinished jobs
 * exist; ED_ESTATE while closing. */
int ed_jobs_create(ed_jobs_t *jobs, ed_adapt_job_t *job, const char *examples, size_t len, char err[ED_ERR_LEN]);
/* Cancels a job: a running one is stopped first (one kernel call); its
 * checkpoint is deleted; the row stays as cancelled (*out). A final job is
 * left as it is (0, *out), but for the checkpoint a failed one kept (a
 * failure of the device, not the training's, keeps it), which is deleted.
 * A cancel that comes once the job stored its adapter finds it done (the
 * registry serves the adapter). ED_ENOENT. */
int ed_jobs_cancel(ed_jobs_t *jobs, const char *id, ed_adapt_job_t *out, char err[ED_ERR_LEN]);
/* Document doc_id (of `collection`; NULL: unknown) was deleted or
 * replaced: the checkpoints of unfinished (and failed) jobs that trained
 * on it are deleted, since they hold what was learnt from it, and a
 * running or stopped one restarts without it. What a job trained on is its
 * last dataset's documents, stored with its row before its training began
 * (so known after a restart too); only for a job of an edged that did not
 * store them, its collections (every job when collection is NULL). The
 * datasets themselves live in memory only: no training windows are cached
 * on disk. */
void ed_jobs_forget(ed_jobs_t *jobs, int64_t doc_id, const char *collection);
/* The ids of the stored adapters marked stale (*ids malloc'd). */
int ed_jobs_stale_adapters(ed_jobs_t *jobs, char (**ids)[32], int *n, char err[ED_ERR_LEN]);
/* Queues a job retraining what made adapter_id (the same request, its
 * collections as they are now; options gain "retrains": adapter_id).
 * ED_ENOENT when no job made it; ED_EEXIST (*out: that job) when one
 * retrains it already. */
int ed_jobs_retrain(ed_jobs_t *jobs, const char *adapter_id, ed_adapt_job_t *out, char err[ED_ERR_LEN]);
/* Whether a job may be added now (fewer than max_queued_jobs unfinished). */
bool ed_jobs_full(ed_jobs_t *jobs);

/* ---- reading (any thread; memory only, never blocks on training) ---- */

/* One job's current row; ED_ENOENT. */
int ed_jobs_get(ed_jobs_t *jobs, const char *id, ed_adapt_job_t *out);
/* Every job, oldest first (*out malloc'd). 0 or ED_ENOMEM. */
int ed_jobs_list(ed_jobs_t *jobs, ed_adapt_job_t **out, int *n);
/* The loss history of a job (the running job's as it grows; a finished
 * one's as stored): at most max points, evenly thinned, newest kept. *out
 * malloc'd (NULL, 0: none). The first read of a job not run since the
 * start reads the store (no lock of the queue held meanwhile): call it on
 * a pool thread. */
int ed_jobs_history(ed_jobs_t *jobs, const char *id, int max, ed_run_point_t **out, int *n);
/* Whether the job the runner trains, or starts next, is an admin's run_now
 * (the scheduler is then forced: ed_scheduler_force). */
bool ed_jobs_run_now_next(ed_jobs_t *jobs);
/* Pauses the gate has seen while jobs ran (for GET and metrics). */
uint64_t ed_jobs_pauses(ed_jobs_t *jobs);

/* Events of job id after *cursor (0: from the oldest kept), oldest first:
 * fn gets each one's JSON text ({"type": "state"|"progress"|"paused"|
 * "resumed"|"end", "job": ID, ...}); *cursor moves past them. Returns false
 * when events were dropped meanwhile (the ring holds the latest 512). fn
 * runs without the queue's lock (the texts are copies), so a slow socket
 * never holds up the runner, and fn may call the queue. */
bool ed_jobs_events(ed_jobs_t *jobs, const char *id, uint64_t *cursor, void (*fn)(const char *json, void *arg),
                    void *arg);
/* The "end" event of a final job, as ed_jobs_events gives it (for a
 * subscriber that comes after the end); malloc'd, NULL when out of memory. */
char *ed_jobs_end_event(const ed_adapt_job_t *job);
/* The cursor of the newest event (a subscriber starts after it). */
uint64_t ed_jobs_events_head(ed_jobs_t *jobs);

#endif
