/* forward.h - the forward pass of a Llama-family model (model.h) over one
 * sequence: token embeddings, n_layer blocks of RMS-norm, grouped-query
 * attention with RoPE over the f16 KV cache, and a SwiGLU feed-forward, then
 * the final norm and the output head. A prompt runs in batches through the
 * matrix-matrix kernels; a decode step is a batch of one. Every buffer is
 * allocated at init: evaluating tokens allocates nothing. */
#ifndef ED_MODEL_FORWARD_H
#define ED_MODEL_FORWARD_H

#include "core/error.h"
#include "kernels/kernels.h"
#include "kernels/pool.h"
#include "model/kvcache.h"
#include "model/model.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
    const ed_model_t *model;
    const ed_kernels_t *kernels;
    ed_pool_t *pool;
    ed_kvcache_t kv; /* the sequence so far; kv.n_used is the next position */
    int n_batch;     /* most tokens one batch computes at once */

    /* run state, sized for n_batch tokens */
    float *x;           /* (n_batch, n_embd) residual stream */
    float *xb;          /* (n_batch, n_embd) normalised input of a sublayer */
    float *xb2;         /* (n_batch, n_embd) output of a sublayer */
    float *q;           /* (n_batch, q_dim) queries */
    float *k;           /* (n_batch, kv_dim) keys of the batch */
    float *v;           /* (n_batch, kv_dim) values of the batch */
    float *att;         /* (n_batch, q_dim) attention output */
    float *hb;          /* (n_batch, n_ff) feed-forward gate, then silu(gate) * up */
    float *hb2;         /* (n_batch, n_ff) feed-forward up */
    float *logits;      /* (n_vocab) of the last position evaluated */
    float *att_scores;  /* (pool threads, n_ctx) one attention row per thread */
    void *mm_scratch;   /* quantized activations for the matrix products, 64-byte aligned */
    size_t mm_scratch_size;
} ed_forward_t;

/* Prepares a forward pass of `model` with a KV cache of n_ctx positions
 * (0: the model's training context) and batches of at most n_batch tokens
 * (0: 512). `kernels`, `pool` and `model` must outlive it. Returns 0, or
 * ED_EINVAL / ED_EUNSUPPORTED (a weight type these kernels lack) / ED_ENOMEM
 * with err filled. */
int ed_forward_init(ed_forward_t *f, const ed_model_t *model, const ed_kernels_t *kernels,
                    ed_pool_t *pool, int n_ctx, int n_batch, char err[ED_ERR_LEN]);
/* Accepts a zeroed or half-built forward pass. */
void ed_forward_free(ed_forward_t *f);

/* Appends tokens[0..n_tokens) to the sequence at positions kv.n_used.. and
 * computes their logits: the last position's always go to f->logits, and
 * with all_logits non-NULL every position's go there too, (n_tokens, n_vocab).
 * Returns 0, or ED_EINVAL (a token id outside the vocabulary, n_tokens < 1)
 * or ED_ERANGE (the context would overflow; nothing is evaluated) with err
 * giving the numbers. On error the cache is left as it was. */
int ed_forward_eval(ed_forward_t *f, const int32_t *tokens, int n_tokens, float *all_logits,
                    char err[ED_ERR_LEN]);

#endif
