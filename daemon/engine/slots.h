/* slots.h - the engine's slots: each runs one job at a time over its own KV
 * cache, which it keeps after the job so that the next job can reuse the
 * prefix they share. Admission, one continuous-batching step over every
 * runnable slot, sampling, stop strings and the flush of finished text to the
 * job's outbox. Engine thread only; internal to engine/. */
#ifndef ED_ENGINE_SLOTS_H
#define ED_ENGINE_SLOTS_H

#include "engine/engine.h"
#include "model/forward.h"
#include "model/kvcache.h"
#include "model/sampler.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { ED__SLOT_FREE = 0, ED__SLOT_PROMPT, ED__SLOT_DECODE } ed__slot_state_t;

typedef struct {
    ed__slot_state_t state;
    ed_job_t *job;
    ed_kvcache_t kv;
    int32_t *cached;   /* (n_ctx) the tokens whose keys and values kv holds, kv.n_used of them */
    uint64_t cached_adapter; /* the adapter (serial; 0: none) and scale they were computed with: */
    float cached_scale;      /* another job reuses them only with the same */
    int n_evaluated;   /* prompt tokens evaluated so far (cached ones included) */
    int32_t next;      /* ED__SLOT_DECODE: the token to feed */
    ed_sampler_t sampler;
    bool sampler_ready;
    float *logits;     /* (n_vocab) */
    float *hidden;     /* (n_embd) pooled hidden states of an embedding job */
    char *text;        /* generated text not yet sent: held back for stop strings and cut characters */
    size_t text_len, text_cap, checked;
    int n_generated;
    double t_start, t_first, t_last; /* ms */
    ed_forward_seq_t *seq; /* this step's share of the pass, or NULL */
    bool runnable;         /* this step: busy, not held, not cancelled */
} ed__slot_t;

/* Allocates e->n_slots slots with caches of n_ctx positions, and e->seqs.
 * 0, or ED_ENOMEM / the cache's code with err. */
int ed__slots_init(ed_engine_t *e, int n_ctx, char err[ED_ERR_LEN]);
/* Frees them; accepts half-built slots. */
void ed__slots_free(ed_engine_t *e);

/* Whether a slot is free / has a job that may step (not held, or cancelled).
 * Mutex held. */
bool ed__slots_any_free(const ed_engine_t *e);
bool ed__slots_any_runnable(const ed_engine_t *e);
/* Gives the first queued job the free slot sharing the longest prefix with
 * its prompt. Returns false when there is no job or no free slot. Mutex held
 * (dropped and retaken when the job fails at once). */
bool ed__slot_admit(ed_engine_t *e, char err[ED_ERR_LEN]);
/* One forward pass over every runnable slot, then sampling and hand-back.
 * Mutex not held. Returns false when nothing could run. */
bool ed__step(ed_engine_t *e);
/* Ends the slot's job with `finish` (and for errors, code and message),
 * hands the result to the loop thread and frees the slot. Mutex not held. */
void ed__slot_finish(ed_engine_t *e, ed__slot_t *slot, ed_finish_t finish, int code, const char *error);

#endif
