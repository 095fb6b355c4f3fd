/* forward.h - the forward pass of a Llama-family model (model.h): token
 * embeddings, n_layer blocks of RMS-norm, grouped-query attention with RoPE
 * (qwen3: q and k heads RMS-normed first; smollm3: none on its NoPE layers)
 * over an f16 KV cache, and a SwiGLU feed-forward, then the final norm and
 * the output head (gemma: scaled embeddings, post-norms, a GELU feed-forward,
 * soft-capping, sliding-window layers over ring caches). A prompt runs in batches through the matrix-matrix
 * kernels. One pass can also carry several sequences at once, each with its
 * own KV cache (continuous batching: prompt chunks and decode tokens of
 * different requests share every weight read). LoRA adapters (lora.h) are
 * applied per row: the base products run once for the whole batch, each
 * adapter set's low-rank updates only for its own rows. Every buffer is
 * allocated at init (the adapters' at ed_forward_reserve_lora): evaluating
 * tokens allocates nothing. */
#ifndef ED_MODEL_FORWARD_H
#define ED_MODEL_FORWARD_H

#include "core/error.h"
#include "kernels/kernels.h"
#include "kernels/pool.h"
#include "model/kvcache.h"
#include "model/lora.h"
#include "model/model.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    const ed_model_t *model;
    const ed_kernels_t *kernels;
    ed_pool_t *pool;
    ed_pool_prio_t prio; /* the pool priority its products run at: ED_POOL_HIGH (init's) for inference,
                            ED_POOL_LOW for background work; set after init */
    ed_kvcache_t kv; /* ed_forward_init's own sequence; kv.n_used is the next position */
    int n_batch;     /* most tokens one batch computes at once */
    int n_ctx;       /* longest sequence attention is sized for */
    int n_seq_max;   /* sequences one ed_forward_eval_seqs call may carry */
    ed_rope_t rope;  /* the model's, with phi3's long or short factors chosen for n_ctx */
    ed_rope_t rope_swa; /* the model's rope_swa for sliding layers, with the same factors */
    bool own_swa_angles; /* rope_swa differs from rope: sliding layers have their own angles */
    const ed_lora_set_t *lora; /* the adapters ed_forward_eval applies; NULL: none; set between calls */

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
    float *logits;      /* (n_seq_max, n_vocab): row 0 holds the last position's of ed_forward_eval */
    float *xg;          /* (n_seq_max, n_embd) gathered last rows of sequences that want logits */
    ed_kvcache_t **row_kv; /* (n_batch) the cache each row of the batch belongs to */
    int *row_pos;       /* (n_batch) the position of each row in its sequence */
    float *rope_cos_sin; /* (n_batch, rope.n_rot) each row's RoPE angles (ed_rope_cos_sin) */
    float *rope_cos_sin_swa; /* (n_batch, rope.n_rot) the same with rope_swa when own_swa_angles, else
                                rope_cos_sin */
    float *att_scores;  /* (pool threads, n_ctx) one attention row per thread */
    int att_heads_per_chunk; /* query heads per attention chunk (they share a KV head) */
    void *mm_scratch;   /* quantized activations for the matrix products, 64-byte aligned */
    size_t mm_scratch_size;

    /* adapters: which rows use which set, and the low-rank updates' scratch */
    const ed_lora_set_t **row_lora; /* (n_batch) each row's adapters, NULL: none */
    int *row_group;     /* (n_batch) index into lora_groups, -1: no adapter */
    const ed_lora_set_t **lora_groups; /* (n_batch) the distinct sets of the rows */
    int n_lora_groups;
    int lora_max_rank;  /* the rank the scratch below holds; 0: none reserved */
    int *lora_rows;     /* (ED_FORWARD_LORA_ROWS) the rows of the chunk being updated */
    float *lora_x;      /* (ED_FORWARD_LORA_ROWS, max n_in) their inputs, gathered */
    float *lora_t;      /* (ED_FORWARD_LORA_ROWS, lora_max_rank) A x */
    float *lora_u;      /* (lora_u_cap) B (A x) */
    size_t lora_u_cap;  /* floats: ED_FORWARD_LORA_ROWS rows of the widest block matrix, at least n_vocab */
} ed_forward_t;

#define ED_FORWARD_LORA_ROWS 64 /* rows one low-rank update takes at a time */

/* Prepares a forward pass of `model` with a KV cache of n_ctx positions
 * (0: the model's training context) and batches of at most n_batch tokens
 * (0: 512). `kernels`, `pool` and `model` must outlive it. Returns 0, or
 * ED_EINVAL / ED_EUNSUPPORTED (a weight type these kernels lack) / ED_ENOMEM
 * with err filled. */
int ed_forward_init(ed_forward_t *f, const ed_model_t *model, const ed_kernels_t *kernels,
                    ed_pool_t *pool, int n_ctx, int n_batch, char err[ED_ERR_LEN]);
/* Prepares a forward pass for several sequences whose caches the caller owns
 * (ed_kvcache_init with n_layer and kv_dim of the model, or
 * ed_kvcache_init_model with the model and at most n_batch; at most n_ctx
 * positions): batches of at most n_batch tokens from at most n_seq_max
 * sequences. f->kv stays empty; use ed_forward_eval_seqs. Same returns. */
int ed_forward_init_multi(ed_forward_t *f, const ed_model_t *model, const ed_kernels_t *kernels,
                          ed_pool_t *pool, int n_ctx, int n_batch, int n_seq_max, char err[ED_ERR_LEN]);
/* Sizes the adapters' scratch for ranks up to max_rank (1 ..
 * ED_LORA_MAX_RANK); before it, evaluating with an adapter fails. Call
 * between evaluations, never from the token loop; a smaller rank than the
 * one reserved keeps the scratch. Returns 0, ED_EINVAL or ED_ENOMEM with err. */
int ed_forward_reserve_lora(ed_forward_t *f, int max_rank, char err[ED_ERR_LEN]);
/* Accepts a zeroed or half-built forward pass. */
void ed_forward_free(ed_forward_t *f);

/* Appends tokens[0..n_tokens) to the sequence at positions kv.n_used.. and
 * computes their logits: the last position's always go to f->logits, and
 * with all_logits non-NULL every position's go there too, (n_tokens, n_vocab).
 * The adapters of f->lora apply to every token.
 * Returns 0, or ED_EINVAL (a token id outside the vocabulary, n_tokens < 1, a bad f->lora)
 * or ED_ERANGE (the context would overflow; nothing is evaluated) with err
 * giving the numbers. On error the cache is left as it was. */
int ed_forward_eval(ed_forward_t *f, const int32_t *tokens, int n_tokens, float *all_logits,
                    char err[ED_ERR_LEN]);

/* One sequence's share of a multi-sequence pass. */
typedef struct {
    ed_kvcache_t *kv;      /* its cache: the tokens go at positions kv->n_used.. */
    const int32_t *tokens; /* (n_tokens) */
    int n_tokens;          /* >= 1 */
    float *logits;         /* (n_vocab) receives its last token's logits, or NULL */
    float *hidden_sum;     /* (n_embd) += each token's final normalised hidden state, or NULL */
    const ed_lora_set_t *lora; /* the adapters its rows use (loaded against this model); NULL: none */
} ed_forward_seq_t;

/* Evaluates every sequence's tokens in one pass: at most n_seq_max
 * sequences (distinct caches) and n_batch tokens in all. A row's result does
 * not depend on the other rows of the pass. Each cache's n_used advances by
 * its n_tokens. Returns 0, ED_EINVAL (bad counts, tokens or adapter sets:
 * an adapter of a rank above the reserved one, of another model; a cache
 * whose rings take fewer tokens a pass, or made for another model) or ED_ERANGE (a
 * sequence would overflow its cache; nothing is evaluated), with err. */
int ed_forward_eval_seqs(ed_forward_t *f, ed_forward_seq_t *seqs, int n_seqs, char err[ED_ERR_LEN]);

#endif
