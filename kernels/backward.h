/* backward.h - the pooled drivers of LoRA training's backward pass over the
 * op table's training ops: the input gradient of a product with a frozen
 * weight of any block format (dequantized tile by tile, never a full f32
 * copy; or through the int8 batch micro-kernels, backward_q8.c), the
 * gradients of a LoRA pair, causal attention split over KV heads, and a
 * fused cross-entropy over the vocabulary computed chunk by chunk. */
#ifndef ED_KERNELS_BACKWARD_H
#define ED_KERNELS_BACKWARD_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/kernels.h"
#include "kernels/pool.h"

/* dx = dy . w (the input gradient of y = x w^T) */
typedef struct {
    const void *w;   /* (n_out, n_in) of w_type, rows contiguous (as in a GGUF tensor) */
    int w_type;      /* a type with quant traits: f32, f16, bf16, q4_0 ... q8_0, q2_K ... q6_K, or the
                      * layouts the model repacks them to at load (q4_0_r8, q8_0_r8, q4_K_r8, q6_K_r8) */
    int n_in;        /* a multiple of w_type's block length */
    int n_out;
    const float *dy; /* (n_batch, n_out) */
    float *dx;       /* (n_batch, n_in); must not overlap dy */
    int n_batch;
    int accumulate;  /* 0: dx = dy w; 1: dx += dy w */
} ed_matmul_backward_t;

/* Bytes of scratch ed_matmul_backward_input needs with a pool of n_threads:
 * one tile of dequantized weights per thread (tens of KiB, whatever the
 * matrix size); 0 for f32 weights, which are read in place. */
size_t ed_matmul_backward_scratch_size(int w_type, int n_threads);

/* Splits dx's columns over the pool in strips of at most ED_BWD_TILE_COLS
 * (narrower where a strip would be long work: see backward.c); each strip
 * dequantizes ED_BWD_TILE_ROWS rows of w at a time (with the traits'
 * reference dequantizer, the exact values inference uses) and multiplies
 * the tile into every row of the batch, so each weight is dequantized once
 * per call whatever n_batch is. Returns 0, or ED_KERR_EINVAL for an unknown
 * type, a bad shape or too little scratch. */
#define ED_BWD_TILE_ROWS 32
#define ED_BWD_TILE_COLS 256
int ed_matmul_backward_input(const ed_kernels_t *k, ed_pool_t *pool, ed_pool_prio_t prio,
                             const ed_matmul_backward_t *m, void *scratch, size_t scratch_size);

/* The same product through the int8 batch micro-kernels of prompt
 * processing (backward_q8.c): dy is quantized once per call to q8_0 (the
 * q8_0_x8 activations of k->gemm[ED_TYPE_Q8_0_R8]); w^T is taken as a weight
 * matrix of n_in rows of n_out elements, and each strip of its rows is
 * dequantized (traits' dequantizer) and re-quantized along n_out to q8_0_r8
 * in per-thread scratch once per call, whatever n_batch is. The result is
 * the exact product of those two quantized operands up to float summation
 * order (about 1e-2 relative off the f32 product, like the forward int8
 * products); the same on any thread count. Any n_out >= 1 (dy is padded to
 * whole blocks with zeros). Returns 0, or ED_KERR_EINVAL for an unknown type,
 * a bad shape or too little scratch. */
size_t ed_matmul_backward_q8_scratch_size(int w_type, int n_out, int n_batch, int n_threads);
int ed_matmul_backward_input_q8(const ed_kernels_t *k, ed_pool_t *pool, ed_pool_prio_t prio,
                                const ed_matmul_backward_t *m, void *scratch, size_t scratch_size);

/* The gradients of y = W x + scale * B (A x), f32 throughout. da and db are
 * accumulated (+=), so micro-batches add up; dx, when not NULL, gets the
 * adapter's share of the input gradient added: dx += scale (dy B) A (the
 * frozen W's share comes from ed_matmul_backward_input). */
typedef struct {
    const float *x;  /* (n_batch, n_in) the product's input */
    const float *a;  /* (rank, n_in)  lora_a */
    const float *b;  /* (n_out, rank) lora_b */
    const float *dy; /* (n_batch, n_out) */
    float scale;     /* alpha / rank * user scale */
    int n_in, n_out, rank, n_batch;
    float *da;       /* (rank, n_in) += scale ((dy B)^T x) */
    float *db;       /* (n_out, rank) += scale (dy^T (x A^T)) */
    float *dx;       /* (n_batch, n_in) += scale (dy B) A, or NULL */
} ed_lora_backward_t;

/* Floats of scratch ed_lora_backward needs: 2 * n_batch * rank. */
size_t ed_lora_backward_scratch_floats(int rank, int n_batch);
int ed_lora_backward(const ed_kernels_t *k, ed_pool_t *pool, ed_pool_prio_t prio, const ed_lora_backward_t *l,
                     float *scratch, size_t scratch_floats);

/* ed_kernels_t.attention_backward over the pool, one chunk per KV head.
 * scratch: 2 * n_tok floats per pool thread. */
int ed_attention_backward(const ed_kernels_t *k, ed_pool_t *pool, ed_pool_prio_t prio, float *dq, float *dk,
                          float *dv, const float *q, const float *kk, const float *v, const float *dout,
                          const ed_attention_train_t *shape, float *scratch, size_t scratch_floats);

/* Fused cross-entropy over the vocabulary: the logits of chunk_rows rows at
 * a time (h . w^T with ed_matmul_forward), their loss and dlogits, and
 * dh = dlogits . w (ed_matmul_backward_input) before the next chunk: the
 * (n_rows, n_vocab) logits of a sequence never exist. */
typedef struct {
    const float *h;          /* (n_rows, n_embd) hidden states after the final norm */
    const void *w;           /* (n_vocab, n_embd) output matrix of w_type */
    int w_type;
    int n_embd, n_vocab, n_rows;
    const int32_t *targets;  /* (n_rows) next tokens; < 0: no loss on that row */
    float grad_scale;        /* dh is scaled by it, e.g. 1 / (rows with a target) for a mean */
    float *dh;               /* (n_rows, n_embd), written; NULL: loss only */
    int chunk_rows;          /* rows of logits at a time, >= 1 */
} ed_cross_entropy_t;

/* Bytes of scratch ed_cross_entropy needs: chunk_rows x n_vocab logits plus
 * the two products' scratch. */
size_t ed_cross_entropy_scratch_size(const ed_cross_entropy_t *c, int n_threads);
/* *loss_sum = the sum of the rows' losses (nats), *n_counted = rows with a target. */
int ed_cross_entropy(const ed_kernels_t *k, ed_pool_t *pool, ed_pool_prio_t prio, const ed_cross_entropy_t *c,
                     void *scratch, size_t scratch_size, double *loss_sum, int *n_counted);

#endif
