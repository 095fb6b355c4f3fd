/* trainer_internal.h - internal to adapt/trainer*.c: the trainer's state
 * (trainer.h's opaque ed_trainer_t) and what trainer.c (config, windows,
 * optimizer, set-up) calls in trainer_block.c (the products and one
 * layer's forward and backward). */
#ifndef ED_ADAPT_TRAINER_INTERNAL_H
#define ED_ADAPT_TRAINER_INTERNAL_H

#include "adapt/trainer.h"

#include <stddef.h>
#include <stdint.h>

#define LORA_ROWS 16 /* rows of a window per chunk of the LoRA forward */
#define FWD_ROWS 64  /* output columns per chunk of an f32 product */
#define FWD_COLS 256 /* weight columns dequantized at a time */
#define CE_ROWS 64   /* rows of logits at a time in the cross-entropy */
#define ATT_FWD_FLOATS(seq, d) ((size_t)(seq) * (seq) + (size_t)(d) * (seq)) /* scores and k^T, per thread */

struct ed_trainer {
    const ed_model_t *model;
    const ed_kernels_t *k;
    ed_pool_t *pool;
    ed_trainer_config_t cfg;
    ed_rope_t rope;
    int seq;

    ed_lora_t lora, grad;       /* pairs point into params and grads */
    float *params, *grads, *m, *v; /* n_params each */
    size_t n_params;
    int64_t steps;

    ed_trainer_gate_fn gate;
    void *gate_arg;
    ed_trainer_timing_t timing;

    /* kept over a window: every layer's input, then the last layer's output */
    float *xs;      /* (n_layer + 1, seq, n_embd) */
    float *cos_sin; /* (seq, n_rot) of every row's position within its segment */
    int *seg;       /* (seq + 1) the window's segments: rows [seg[i], seg[i + 1]), seg[n_seg] = n */
    int n_seg;      /* segments of the current window: attention stays within one */
    /* one layer's forward intermediates, rows of the window */
    float *xn1;      /* (seq, n_embd) attn_norm(x): the input of q, k, v */
    float *q, *kk;   /* (seq, q_dim), (seq, kv_dim) after biases, qwen3 norms and RoPE */
    float *vv;       /* (seq, kv_dim) */
    float *qpre, *kpre; /* (seq, q_dim), (seq, kv_dim) before qwen3's norms; NULL on other archs */
    float *att;      /* (seq, q_dim) attention output: the input of attn_output */
    float *xmid;     /* (seq, n_embd) the residual after attention */
    float *xn2;      /* (seq, n_embd) ffn_norm(xmid): the input of gate and up */
    float *gate_act, *up; /* (seq, n_ff) products (dgate, dup in the backward) */
    float *hact;     /* (seq, n_ff) silu(gate) * up: the input of down */
    float *tmp;      /* (seq, n_embd) a product's output; the final norm's */
    /* backward: gradients of the window's rows */
    float *dx;       /* (seq, n_embd) of the current layer's output, then input */
    float *dxmid, *dxn; /* (seq, n_embd) of xmid; of a norm's output, then input */
    float *dh;       /* (seq, n_ff) of hact */
    float *datt, *dq; /* (seq, q_dim) */
    float *dk, *dv;  /* (seq, kv_dim) */
    float *dnorm_w;  /* (max(n_embd, head_dim)) the frozen norm weights' gradient, never read */
    float *input_grad; /* (seq, n_embd) of the input embeddings, before grad_scale */
    void *mm_scratch, *bwd_scratch, *ce_scratch;
    size_t mm_size, bwd_size, ce_size;
    float *fwd_scratch;  /* the f32 products' tiles */
    float *logits, *ce_loss; /* (CE_ROWS, n_vocab), (CE_ROWS) */
    int int8_products;   /* EDGED_TRAIN_PRODUCTS=int8: ed_matmul_forward and ed_matmul_backward_input_q8 */
    float *lora_scratch; /* (seq, rank) x 2 */
    float *lora_bt;      /* (rank, widest n_out) */
    size_t lora_floats;
    float *att_scratch;  /* forward: seq * seq per thread; backward: 2 * seq per thread */
    size_t att_floats;
};

/* 1 when the gate asks to stop */
static inline int ed__trainer_gate(ed_trainer_t *t)
{
    return t->gate && t->gate(t->gate_arg) != 0;
}

static inline int ed__trainer_pair(int layer, int role)
{
    return layer * ED_LORA_PER_LAYER + role;
}

/* The (n_in, n_out) of matrix `role` of a block. */
static inline void ed__trainer_role_shape(const ed_model_t *m, int role, int *n_in, int *n_out)
{
    switch (role) {
    case ED_LORA_ATTN_Q: *n_in = m->n_embd, *n_out = m->q_dim; break;
    case ED_LORA_ATTN_K:
    case ED_LORA_ATTN_V: *n_in = m->n_embd, *n_out = m->kv_dim; break;
    case ED_LORA_ATTN_OUTPUT: *n_in = m->q_dim, *n_out = m->n_embd; break;
    case ED_LORA_FFN_GATE:
    case ED_LORA_FFN_UP: *n_in = m->n_embd, *n_out = m->n_ff; break;
    default: *n_in = m->n_ff, *n_out = m->n_embd; break;
    }
}

static inline const ed_matrix_t *ed__trainer_role_matrix(const ed_layer_t *L, int role)
{
    const ed_matrix_t *ms[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down};
    return ms[role];
}

/* trainer_block.c: y (n, n_out) = x (n, n_in) w^T; dx (n, n_in) (+)= dy w */
int ed__trainer_product(ed_trainer_t *t, const ed_matrix_t *w, const float *x, int n_in, float *y, int n_out, int n);
int ed__trainer_product_back(ed_trainer_t *t, const ed_matrix_t *w, const float *dy, int n_out, float *dx, int n_in,
                             int n, int accumulate);
/* out (n, dim) = rmsnorm of x's rows; dy (n, dim) = rmsnorm's input gradient, in place */
void ed__trainer_rmsnorm_rows(ed_trainer_t *t, float *out, const float *x, const float *w, int dim, int n);
void ed__trainer_rmsnorm_back_rows(ed_trainer_t *t, float *dy, const float *x, const float *w, int dim, int n);
/* Layer l's forward from xs[l] over n rows (intermediates in the layer
 * scratch, output into out; out NULL: it stops at down's input); its backward (t->dx: the output's gradient in,
 * the input's out), recomputing the forward first except for the last
 * layer. 0, ED_ECANCELED (the gate) or a kernel's error. */
int ed__trainer_block_forward(ed_trainer_t *t, int l, int n, float *out);
int ed__trainer_block_backward(ed_trainer_t *t, int l, int n);

#endif
