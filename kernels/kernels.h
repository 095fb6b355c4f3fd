/* kernels.h - the op table: one function pointer per op, filled once at
 * start-up for the CPU found (ref, avx2, avx512, neon, neon-dotprod), plus the
 * per-type dot products of quant.h and the batch (matrix-matrix) micro-kernels.
 * Ops here work on one thread; matmul.h and backward.h split products over
 * the pool. The *_backward ops and the f32 products below serve LoRA training
 * (backward.h holds their pooled drivers); a CUDA backend later fills a table
 * of the same shape. Kernels never log: callers report ed_kernels_t.name. */
#ifndef ED_KERNELS_KERNELS_H
#define ED_KERNELS_KERNELS_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "kernels/quant.h"
#include "kernels/types.h"

/* Rotary position embedding parameters, for one model. The angle of pair i
 * (0 <= i < n_rot/2) at position pos is
 *     freq_scale * pos * freq_base^(-2i/n_rot) / freq_factors[i]
 * (freq_factors NULL: all 1). "normal" layout rotates the pairs (2i, 2i+1)
 * of each head (Llama); NeoX layout rotates (i, i + n_rot/2) (Qwen2, GPT-NeoX).
 * Dimensions from n_rot to head_dim are left as they are. */
typedef struct {
    int n_rot;                 /* rotated dimensions per head, even, <= head_dim */
    int neox;                  /* 0: normal (adjacent pairs), 1: NeoX (split halves) */
    float freq_base;           /* theta base, e.g. 10000 */
    float freq_scale;          /* linear position scaling: 1 = none, 0.25 = 4x context */
    const float *freq_factors; /* (n_rot/2) divisors of the frequencies, or NULL */
} ed_rope_t;

/* Attention of one query token over an f16 KV cache, for heads
 * [head_begin, head_end) (callers split heads over threads). Query head h
 * reads KV head h / (n_head / n_kv_head) (grouped-query attention). */
typedef struct {
    int n_head;           /* query heads */
    int n_kv_head;        /* KV heads; divides n_head */
    int head_dim;         /* elements per head */
    int n_kv;             /* cached positions attended to: 0 .. n_kv-1 (causal: pos+1) */
    size_t kv_row_stride; /* elements between consecutive positions in k and v */
    float scale;          /* score scale, usually 1/sqrt(head_dim) */
    float softcap;        /* > 0: scaled scores become softcap tanh(scaled / softcap) before the
                             softmax (Gemma 2); 0: none */
} ed_attention_t;

/* The attention kernels' soft-capping of a row of n raw scores (q . k):
 * scores = softcap tanh(scores scale / softcap), as llama.cpp caps the scaled
 * scores. Returns the scale the softmax then applies: `scale` unchanged when
 * softcap is 0 (the row is left as it is), else 1. */
static inline float ed_attention_softcap(float *scores, int n, float scale, float softcap)
{
    if (!(softcap > 0))
        return scale;
    float inner = scale / softcap;
    for (int t = 0; t < n; t++)
        scores[t] = softcap * tanhf(scores[t] * inner);
    return 1.0f;
}

/* Causal self-attention of a training sequence, f32 throughout: token t's
 * query attends to keys 0..t. q (n_tok, n_head * head_dim); k, v (n_tok,
 * n_kv_head * head_dim); query head h reads KV head h / (n_head / n_kv_head). */
typedef struct {
    int n_tok;
    int n_head;
    int n_kv_head; /* divides n_head */
    int head_dim;
    float scale;   /* score scale, usually 1/sqrt(head_dim) */
} ed_attention_train_t;

/* AdamW with decoupled weight decay (Loshchilov & Hutter; PyTorch's AdamW):
 *   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
 *   p -= lr * (m / (1 - b1^step) / (sqrt(v / (1 - b2^step)) + eps) + weight_decay * p) */
typedef struct {
    float lr;
    float beta1;        /* e.g. 0.9 */
    float beta2;        /* e.g. 0.999 */
    float eps;          /* e.g. 1e-8 */
    float weight_decay; /* e.g. 0.01; 0: plain Adam */
    int64_t step;       /* 1 for the first update (bias correction) */
} ed_adamw_t;

/* y (n_cols, n_rows) = x (n_cols, K) . w (n_rows, K)^T over whole blocks:
 * w rows of a weight type, x rows already quantized to its vec_dot_type.
 * y[c * y_stride + r]. Any n_rows, n_cols >= 1. */
typedef void (*ed_gemm_fn)(int n_blocks, const void *w, size_t w_row_bytes, int n_rows,
                           const void *x, size_t x_row_bytes, int n_cols, float *y,
                           size_t y_stride);

typedef struct {
    const char *name; /* "ref", "avx2", "avx512", "neon", "neon-dotprod" */

    /* dot(w_row, act_row) per weight type, act_row in quant traits' vec_dot_type */
    ed_vec_dot_fn vec_dot[ED_TYPE_COUNT];
    /* matrix-matrix micro-kernels per weight type; NULL: matmul.c tiles vec_dot */
    ed_gemm_fn gemm[ED_TYPE_COUNT];
    /* activation quantizers per activation type, bit-identical to the quant
     * traits' from_float (which serve where this is NULL) */
    ed_from_float_fn quantize[ED_TYPE_COUNT];

    /* out = x / sqrt(mean(x^2) + eps) * weight; out may alias x */
    void (*rmsnorm_forward)(float *out, const float *x, const float *weight, int n, float eps);
    /* out = (x - mean) / sqrt(var + eps) * weight + bias; bias may be NULL */
    void (*layernorm_forward)(float *out, const float *x, const float *weight, const float *bias,
                              int n, float eps);
    /* rotates x (n_head, head_dim) in place for position pos */
    void (*rope_forward)(float *x, int n_head, int head_dim, int pos, const ed_rope_t *rope);
    /* the same with the angles of ed_rope_cos_sin(rope, pos, cos_sin),
     * which callers compute once per position for every layer */
    void (*rope_rotate)(float *x, int n_head, int head_dim, const float *cos_sin, const ed_rope_t *rope);
    /* x[i] = softmax(scale * x[0..n_valid))[i] for i < n_valid, 0 for
     * n_valid <= i < n (the causal mask of a row); 1 <= n_valid <= n */
    void (*softmax_forward)(float *x, int n, float scale, int n_valid);
    /* out = x * sigmoid(x) */
    void (*silu_forward)(float *out, const float *x, int n);
    /* out = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) (the tanh form GGUF models use) */
    void (*gelu_forward)(float *out, const float *x, int n);
    /* out = 0.5 x (1 + erf(x / sqrt(2))) (the exact form BERT models were trained with) */
    void (*gelu_erf_forward)(float *out, const float *x, int n);
    /* out = silu(gate) * up; out may alias gate or up */
    void (*swiglu_forward)(float *out, const float *gate, const float *up, int n);
    /* out = a + b, out = a * b (elementwise; out may alias a or b) */
    void (*add)(float *out, const float *a, const float *b, int n);
    void (*mul)(float *out, const float *a, const float *b, int n);
    /* out (n) = row `row` of an embedding table (rows of n elements of `type`) */
    void (*get_row)(float *out, const void *table, int type, int64_t row, int n);
    /* out (n_head, head_dim) for heads [head_begin, head_end) from q (n_head,
     * head_dim) and f16 caches k, v (n_kv, kv_row_stride) holding n_kv_head
     * heads per position; scratch holds n_kv floats */
    void (*attention_forward)(float *out, const float *q, const uint16_t *k, const uint16_t *v,
                              const ed_attention_t *shape, int head_begin, int head_end,
                              float *scratch);
    /* index of the largest element (the first one on ties) */
    int (*argmax)(const float *x, int n);
    /* x *= 1 / sqrt(sum(x^2)) in place: unit L2 norm, the sum of squares
     * accumulated in double, the scale rounded to float once (what every
     * embedding normalisation did before); a zero vector stays zero */
    void (*l2_normalize)(float *x, int n);

    /* ---- training (LoRA): f32 products, gradients, optimizer ---- */
    /* c (m, n) += a (m, k) . b (k, n); lda, ldb, ldc: row strides in elements */
    void (*gemm_f32_nn)(int m, int n, int k, const float *a, size_t lda, const float *b, size_t ldb,
                        float *c, size_t ldc);
    /* c (m, n) += a^T . b with a (k, m), b (k, n): sums of outer products of rows */
    void (*gemm_f32_tn)(int m, int n, int k, const float *a, size_t lda, const float *b, size_t ldb,
                        float *c, size_t ldc);
    /* c (m, n) += a (m, k) . b^T with b (n, k): dot products of rows */
    void (*gemm_f32_nt)(int m, int n, int k, const float *a, size_t lda, const float *b, size_t ldb,
                        float *c, size_t ldc);
    /* Gradients of out = rmsnorm_forward(x, weight): dx = d out/d x applied to
     * dy (written; may alias dy), dweight += dy * x / rms (accumulated) */
    void (*rmsnorm_backward)(float *dx, float *dweight, const float *dy, const float *x,
                             const float *weight, int n, float eps);
    /* Gradient of rope_forward at pos: rotates dx (n_head, head_dim) in place
     * by the opposite angles (a rotation's transpose is its inverse) */
    void (*rope_backward)(float *dx, int n_head, int head_dim, int pos, const ed_rope_t *rope);
    /* the same with the angles of ed_rope_cos_sin (as rope_rotate) */
    void (*rope_rotate_backward)(float *dx, int n_head, int head_dim, const float *cos_sin, const ed_rope_t *rope);
    /* Gradients of out = silu(gate) * up: dgate, dup (written; each may
     * alias dy, gate or up of the same index: every element is read first) */
    void (*swiglu_backward)(float *dgate, float *dup, const float *dy, const float *gate,
                            const float *up, int n);
    /* Gradients of causal attention (ed_attention_train_t) for KV heads
     * [kv_begin, kv_end) and the query heads that read them: dq of those query
     * heads, dk and dv of those KV heads (all written, not accumulated). The
     * softmax is recomputed from q and k (nothing of the forward is kept);
     * dout: the gradient of the attention output (n_tok, n_head * head_dim).
     * Threads split KV heads, so no two write the same dk/dv. scratch: 2 *
     * n_tok floats. */
    void (*attention_backward)(float *dq, float *dk, float *dv, const float *q, const float *k,
                               const float *v, const float *dout, const ed_attention_train_t *shape,
                               int kv_begin, int kv_end, float *scratch);
    /* One row of cross-entropy: returns logsumexp(logits) - logits[target]
     * (nats) and writes dlogits = scale * (softmax(logits) - onehot(target))
     * (dlogits may alias logits); target < 0: an ignored row, returns 0 and
     * zeroes dlogits */
    float (*cross_entropy_backward)(float *dlogits, const float *logits, int n, int target, float scale);
    /* One AdamW step (ed_adamw_t) of n parameters: updates param, m, v */
    void (*adamw_step)(float *param, float *m, float *v, const float *grad, int n, const ed_adamw_t *h);
} ed_kernels_t;

/* The table for this CPU, or the one named by `force` ("ref", "avx2",
 * "avx512", "neon", "neon-dotprod"); force NULL or "" reads the environment
 * variable EDGED_KERNELS, and when that is unset too picks the best table the
 * CPU runs. NULL when a forced table is unknown or this CPU cannot run it.
 * Tables are built once; the pointer stays valid for the process. */
/* cos_sin[2i], cos_sin[2i + 1] = the cosine and sine of pair i's angle at
 * position pos, for i < rope->n_rot / 2 (the angles rope_forward turns by). */
void ed_rope_cos_sin(const ed_rope_t *rope, int pos, float *cos_sin);

const ed_kernels_t *ed_kernels_select(const char *force);
/* The table named `name` if this CPU runs it, else NULL (tests compare every
 * available table against "ref"). */
const ed_kernels_t *ed_kernels_by_name(const char *name);
/* The names of all tables this build knows, NULL-terminated. */
const char *const *ed_kernels_names(void);

#endif
