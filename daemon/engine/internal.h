/* internal.h - the engine's state, shared by its files and by nothing else:
 * the engine (engine.c: the thread, start/stop, the submit API), its jobs
 * and their hand-back to the loop thread (queue.c), its slots (slots.c) and
 * the model it serves (load.c). The mutex guards the queue, the outboxes and
 * the job flags; the model, the slots and the forward pass belong to the
 * engine thread alone. */
#ifndef ED_ENGINE_INTERNAL_H
#define ED_ENGINE_INTERNAL_H

#include "engine/engine.h"
#include "engine/queue.h"
#include "engine/slots.h"

#include "core/histogram.h"
#include "kernels/kernels.h"
#include "kernels/pool.h"
#include "model/base.h"
#include "model/forward.h"

#include <pthread.h>
#include <stdatomic.h>

struct ed_engine {
    uv_async_t async;
    pthread_t thread;
    bool thread_started;
    ed_config_t cfg; /* copy taken at start */

    pthread_mutex_t mutex;
    pthread_cond_t cond;
    ed_engine_state_t state;
    /* the reason of each state, written once before the state is set to it
     * (under mutex) and never again: a reader of one never races a writer */
    char reason[ED_ENGINE_FAILED + 1][ED_ERR_LEN];
    bool stopping;
    ed__queue_t queue;

    /* engine thread (read-only for others once READY) */
    ed_base_t *base;             /* lent by the caller of ed_engine_start; NULL: no model configured */
    const ed_model_t *model;     /* the base's, once loaded */
    const ed_vocab_t *vocab;
    const ed_kernels_t *kernels;
    ed_forward_t fw;             /* on the base's pool, at ED_POOL_HIGH */
    ed__slot_t *slots;
    int n_slots;
    ed_forward_seq_t *seqs; /* (n_slots) */
    ed_engine_model_t info;
    char name[128];
    char general_name[128]; /* GGUF general.name; "" when absent */
    char bos_text[64], eos_text[64];

    /* metrics (atomics: the engine thread writes, a scrape reads) */
    _Atomic uint64_t prompt_tokens, cached_tokens, generated_tokens, jobs_done, jobs_cancelled,
        jobs_rejected, steps;
    _Atomic int busy_slots;
    _Atomic int64_t last_activity_us; /* ed_engine_activity: the last submit or hand-back, CLOCK_MONOTONIC */
    void (*on_submit)(void *arg);     /* loop thread: ed_engine_on_submit's hook */
    void *on_submit_arg;
    ed_histogram_t ttft, itl, step_time; /* the engine thread observes, a scrape renders */
};

/* Milliseconds on the monotonic clock. */
double ed__now_ms(void);

/* load.c, engine thread: loads (or waits for) the base model and sizes every
 * buffer the loop needs (forward pass, slots, e->info). 0, or an ED_E* code
 * with err; ed__engine_unload then frees the half-built state. */
int ed__engine_load(ed_engine_t *e, char err[ED_ERR_LEN]);
/* Frees what ed__engine_load built (not the base); accepts a half-built engine. */
void ed__engine_unload(ed_engine_t *e);

#endif
