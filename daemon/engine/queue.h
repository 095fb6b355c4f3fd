/* queue.h - the engine's jobs: their lifetime (built at submit, freed after
 * on_done), the bounded queue of jobs waiting for a slot, and the hand-back
 * to the loop thread: text and results wait in each job's outbox until the
 * loop thread's uv_async_t callback delivers them. Internal to engine/. */
#ifndef ED_ENGINE_QUEUE_H
#define ED_ENGINE_QUEUE_H

#include "engine/engine.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ed_job {
    ed_job_kind_t kind;
    int32_t *prompt; /* (n_prompt) */
    int n_prompt;
    ed_sampler_params_t sampling;
    ed_logit_bias_t *bias; /* (sampling.n_bias) */
    int max_tokens;
    char *stops[ED_ENGINE_MAX_STOPS];
    size_t n_stops;
    ed_job_callbacks_t cb;
    void *user;
    double t_submit; /* ms, monotonic */
    ed_engine_adapter_t *adapter; /* retained; NULL: none */
    ed_lora_set_t lora;           /* the adapter and its scale, as the forward pass takes them */

    /* guarded by engine->mutex */
    bool cancel, hold;
    struct ed_job *next;  /* queue link */
    bool ready;           /* in the ready list (has something for the loop thread) */
    struct ed_job *next_ready;
    /* Text not yet given to on_text, double-buffered so that the token loop
     * never allocates: the engine appends to outbox[fill] while the loop
     * thread reads the other buffer, and a delivery swaps them. Both are
     * sized at submit and grow only when a backlog outgrows them. */
    char *outbox[2];
    size_t outbox_cap[2];
    int fill;             /* the buffer the engine appends to */
    size_t outbox_len;    /* bytes in outbox[fill] */
    bool finished;        /* result is final; on_done is due */
    ed_job_result_t result;
    float *embedding;     /* (n_embd) ED_JOB_EMBED */
};

/* Jobs waiting for a slot, and jobs with something for the loop thread.
 * Every field is guarded by the engine's mutex. */
typedef struct {
    ed_job_t *head, *tail; /* waiting for a slot, in submit order */
    int n_queued;          /* jobs in head..tail */
    int n_active;          /* jobs submitted whose on_done is not yet due */
    ed_job_t *ready;       /* jobs with outbox text or a result for the loop thread */
} ed__queue_t;

/* A job for `p` (already validated), copying what it points to. Loop thread.
 * NULL when memory ran out, or ED_EINVAL for a stop string too long: *rc and
 * err say which. */
ed_job_t *ed__job_new(const ed_job_params_t *p, const ed_job_callbacks_t *cb, void *user, int n_embd,
                      int *rc, char err[ED_ERR_LEN]);
void ed__job_free(ed_job_t *job); /* accepts NULL */

/* Appends a job / takes the first one. Mutex held. */
void ed__queue_push(ed__queue_t *q, ed_job_t *job);
ed_job_t *ed__queue_pop(ed__queue_t *q);

/* Puts `job` on the ready list and wakes the loop thread. Mutex held. */
void ed__job_mark_ready(ed__queue_t *q, uv_async_t *async, ed_job_t *job);
/* Appends text to the job's outbox. Mutex held. Returns false when memory
 * ran out (the text is dropped and the job ends in an error). */
bool ed__outbox_append(ed_job_t *job, const char *text, size_t len);
/* Ends queued jobs that were cancelled (as ED_FINISH_CANCELLED, counted in
 * *n_cancelled). Mutex held. */
void ed__queue_reap(ed__queue_t *q, uv_async_t *async, _Atomic uint64_t *n_cancelled);
/* Loop thread: gives every ready job's text to on_text, and to finished jobs
 * their on_done, then frees them. Takes and drops `mutex` itself. */
void ed__queue_deliver(ed__queue_t *q, pthread_mutex_t *mutex);

#endif
