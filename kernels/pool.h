/* pool.h - the compute thread pool: created once, persistent workers that
 * spin briefly and then sleep between jobs. A job is a parallel loop over
 * chunks (e.g. row ranges); its submitter runs chunks too and returns when
 * every chunk is done, which is the barrier between the phases of an op.
 * Two priorities, each with its own n_threads-1 workers: HIGH (inference)
 * workers run at the process's priority and only HIGH chunks, LOW (LoRA
 * training, background embedding) workers run at idle scheduling priority
 * (SCHED_IDLE) and only LOW chunks, so a HIGH chunk never waits for a LOW
 * chunk to end and the OS gives training's cores to inference at once. A
 * LOW thread not at idle priority (a LOW worker where SCHED_IDLE is refused,
 * or a submitter at normal priority) yields between chunks while HIGH work
 * is waiting; a LOW submitter should run at idle priority (as the trainer's
 * thread does) for LOW to stay out of inference's way. */
#ifndef ED_KERNELS_POOL_H
#define ED_KERNELS_POOL_H

#include "kernels/error.h"

typedef enum {
    ED_POOL_HIGH = 0, /* inference */
    ED_POOL_LOW = 1,  /* training */
    ED_POOL_PRIO_COUNT
} ed_pool_prio_t;

/* One chunk of a job. thread: 0 .. n_threads-1, distinct among the threads
 * that run chunks of the same job at the same time (index per-thread scratch
 * with it); the submitting thread is n_threads-1. */
typedef void (*ed_pool_fn)(void *arg, int chunk, int thread);

typedef struct ed_pool ed_pool_t;

/* Starts n_threads-1 workers per priority (the submitter is the n-th
 * thread of a job); n_threads in 1..256. Returns 0, or ED_KERR_EINVAL / ED_KERR_ENOMEM / ED_KERR_EAGAIN with err filled. */
int ed_pool_open(ed_pool_t **out, int n_threads, char err[ED_KERR_LEN]);
/* Stops and joins the workers; no job may be running. NULL is fine. */
void ed_pool_close(ed_pool_t *pool);
int ed_pool_n_threads(const ed_pool_t *pool);

/* Runs fn(arg, chunk, thread) for chunk = 0 .. n_chunks-1 on the pool and
 * the calling thread; returns when all have finished (their writes are then
 * visible to the caller). One job per priority runs at a time: a second
 * submitter of the same priority waits for the first. Any thread may call;
 * fn must not submit to the pool itself. */
void ed_pool_run(ed_pool_t *pool, ed_pool_prio_t prio, int n_chunks, ed_pool_fn fn, void *arg);

/* Holds back (hold 1) or releases (hold 0) LOW jobs from submitters at idle
 * priority (training): while held, no thread starts another of their chunks
 * (a chunk already running finishes) and their submitter waits inside
 * ed_pool_run, so a paused trainer stops within one chunk even in the middle
 * of a long product, instead of at its next call between products. LOW work
 * from submitters at normal priority (background embedding) is not held.
 * Any thread; idempotent. */
void ed_pool_hold_low(ed_pool_t *pool, int hold);
/* Called on the submitter's own thread when a hold stops it inside
 * ed_pool_run: held 1 before it waits for the release, 0 after (a trainer
 * reports its pause this way, as it does at its gate between products). */
typedef void (*ed_pool_hold_fn)(void *arg, int held);
/* Sets the hook for idle-priority LOW jobs submitted from the calling
 * thread from now on (NULL: none); only that thread reads it. */
void ed_pool_set_hold_hook(ed_pool_t *pool, ed_pool_hold_fn fn, void *arg);
/* While held: the CLOCK_MONOTONIC time (ns) at which held work became quiet
 * (its submitter waits for the release and none of its chunks runs), or 0
 * when it has not yet or nothing was held inside a product. */
long long ed_pool_low_quiet_ns(const ed_pool_t *pool);

#endif
