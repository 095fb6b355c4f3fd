/* trainer_block.c - one layer of the trainer (trainer_internal.h): the
 * frozen products in f32 over dequantized tiles and their input gradients,
 * the LoRA updates and their gradients, causal attention over the window,
 * and a block's forward (intermediates kept for one layer) and backward.
 * Attention runs per segment of a packed window (trainer.h). */
#include "adapt/trainer_internal.h"

#include "kernels/backward.h"
#include "kernels/matmul.h"

#include <math.h>
#include <string.h>

/* ------------------------------------------------------------ products ---- */

typedef struct {
    const ed_kernels_t *k;
    const ed_matrix_t *w;
    const float *x;
    float *y;
    int n_in, n_out, n;
    size_t w_row_bytes, block_len, block_size; /* of a group of blocks */
    float *scratch; /* 2 * FWD_ROWS * FWD_COLS floats per thread */
} fwd_job_t;

/* Output columns [FWD_ROWS c, FWD_ROWS (c + 1)) of y = x w^T in f32: the
 * rows of w dequantized a tile of FWD_COLS columns at a time with the
 * traits' reference dequantizer (the values the backward pass and PyTorch
 * multiply by), transposed, and multiplied in by the register-tiled gemm_f32_nn. */
static void fwd_strip(void *arg, int chunk, int thread)
{
    const fwd_job_t *j = arg;
    const ed_quant_traits_t *tr = ed_quant_traits(j->w->type);
    int o0 = chunk * FWD_ROWS, rows = j->n_out - o0 < FWD_ROWS ? j->n_out - o0 : FWD_ROWS;
    float *tile = j->scratch + (size_t)thread * 2 * FWD_ROWS * FWD_COLS, *tt = tile + FWD_ROWS * FWD_COLS;
    for (int r = 0; r < j->n; r++)
        memset(j->y + (size_t)r * j->n_out + o0, 0, sizeof(float) * (size_t)rows);
    const uint8_t *w = j->w->data;
    for (int c0 = 0; c0 < j->n_in; c0 += FWD_COLS) {
        int width = j->n_in - c0 < FWD_COLS ? j->n_in - c0 : FWD_COLS;
        size_t col_bytes = (size_t)c0 / j->block_len * j->block_size;
        for (int o = 0; o < rows; o++)
            tr->to_float(w + (size_t)(o0 + o) * j->w_row_bytes + col_bytes, tile + (size_t)o * width, width);
        for (int o = 0; o < rows; o++)
            for (int c = 0; c < width; c++)
                tt[(size_t)c * rows + o] = tile[(size_t)o * width + c];
        j->k->gemm_f32_nn(j->n, rows, width, j->x + c0, (size_t)j->n_in, tt, (size_t)rows, j->y + o0,
                          (size_t)j->n_out);
    }
}

/* y (n, n_out) = x (n, n_in) w^T. In f32 over dequantized tiles by default,
 * so the loss and gradients are those of the dequantized weights (the int8
 * activations of ed_matmul_forward put the gradients of a quantized base
 * about 8% off, tests/reference/test_train.py's models); EDGED_TRAIN_PRODUCTS=int8
 * at create multiplies as forward.c does instead (faster, for comparison). */
int ed__trainer_product(ed_trainer_t *t, const ed_matrix_t *w, const float *x, int n_in, float *y, int n_out, int n)
{
    if (t->int8_products) {
        ed_matmul_t mm = {.w = w->data, .w_type = w->type, .n_in = n_in, .n_out = n_out, .x = x, .y = y, .n_batch = n};
        return ed_matmul_forward(t->k, t->pool, ED_POOL_LOW, &mm, t->mm_scratch, t->mm_size);
    }
    const ed_type_info_t *info = ed_type_info(w->type);
    uint64_t row_bytes = 0;
    if (!info || ed_type_row_size(w->type, (uint64_t)n_in, &row_bytes) != 0 ||
        FWD_COLS % (info->block_len * info->group) != 0)
        return ED_EINVAL;
    fwd_job_t j = {.k = t->k, .w = w, .x = x, .y = y, .n_in = n_in, .n_out = n_out, .n = n,
                   .w_row_bytes = (size_t)row_bytes, .block_len = (size_t)info->block_len * info->group,
                   .block_size = (size_t)info->block_size * info->group, .scratch = t->fwd_scratch};
    ed_pool_run(t->pool, ED_POOL_LOW, (n_out + FWD_ROWS - 1) / FWD_ROWS, fwd_strip, &j);
    return 0;
}

/* dx (n, n_in) (+)= dy (n, n_out) w; EDGED_TRAIN_PRODUCTS=int8: through the
 * int8 micro-kernels (the layers' products; the output matrix's stays in
 * ed_cross_entropy, whose 16-row chunks would re-quantize it each time) */
int ed__trainer_product_back(ed_trainer_t *t, const ed_matrix_t *w, const float *dy, int n_out, float *dx, int n_in,
                        int n, int accumulate)
{
    ed_matmul_backward_t b = {.w = w->data, .w_type = w->type, .n_in = n_in, .n_out = n_out, .dy = dy, .dx = dx,
                              .n_batch = n, .accumulate = accumulate};
    if (t->int8_products)
        return ed_matmul_backward_input_q8(t->k, t->pool, ED_POOL_LOW, &b, t->bwd_scratch, t->bwd_size);
    return ed_matmul_backward_input(t->k, t->pool, ED_POOL_LOW, &b, t->bwd_scratch, t->bwd_size);
}

typedef struct {
    const ed_kernels_t *k;
    const ed_lora_pair_t *p;
    float scale;
    const float *x, *bt; /* bt: B transposed, (rank, n_out) */
    float *y, *u;
    int n;
} lora_fwd_job_t;

/* rows [16 c, 16 c + 16): u = s x A^T, y += u B^T (B^T given) */
static void lora_fwd_rows(void *arg, int chunk, int thread)
{
    const lora_fwd_job_t *j = arg;
    const ed_lora_pair_t *p = j->p;
    (void)thread;
    int r0 = chunk * LORA_ROWS, rows = j->n - r0 < LORA_ROWS ? j->n - r0 : LORA_ROWS;
    float *u = j->u + (size_t)r0 * p->rank;
    memset(u, 0, sizeof(float) * (size_t)rows * p->rank);
    j->k->gemm_f32_nt(rows, p->rank, p->n_in, j->x + (size_t)r0 * p->n_in, (size_t)p->n_in, p->a, (size_t)p->n_in,
                      u, (size_t)p->rank);
    for (int i = 0; i < rows * p->rank; i++)
        u[i] *= j->scale;
    j->k->gemm_f32_nn(rows, p->n_out, p->rank, u, (size_t)p->rank, j->bt, (size_t)p->n_out,
                      j->y + (size_t)r0 * p->n_out, (size_t)p->n_out);
}

/* y (n, n_out) += s B (A x) when the pair is trained; 1 when the gate stops. */
static int lora_forward(ed_trainer_t *t, int layer, int role, const float *x, float *y, int n)
{
    const ed_lora_pair_t *p = &t->lora.pairs[ed__trainer_pair(layer, role)];
    if (p->rank == 0)
        return 0;
    if (ed__trainer_gate(t))
        return 1;
    /* B^T once, so the update is the register-tiled nn product rather than
     * n_out dot products of rank elements per row */
    for (int o = 0; o < p->n_out; o++)
        for (int r = 0; r < p->rank; r++)
            t->lora_bt[(size_t)r * p->n_out + o] = p->b[(size_t)o * p->rank + r];
    lora_fwd_job_t j = {t->k, p, ed_lora_scale(&t->lora, p, 1.0f), x, t->lora_bt, y, t->lora_scratch, n};
    ed_pool_run(t->pool, ED_POOL_LOW, (n + LORA_ROWS - 1) / LORA_ROWS, lora_fwd_rows, &j);
    return 0;
}

/* da, db += the pair's gradients; dx += its input-gradient share. */
static int lora_backward(ed_trainer_t *t, int layer, int role, const float *x, const float *dy, float *dx, int n)
{
    int i = ed__trainer_pair(layer, role);
    const ed_lora_pair_t *p = &t->lora.pairs[i], *g = &t->grad.pairs[i];
    if (p->rank == 0)
        return 0;
    if (ed__trainer_gate(t))
        return ED_ECANCELED;
    ed_lora_backward_t lb = {.x = x, .a = p->a, .b = p->b, .dy = dy, .scale = ed_lora_scale(&t->lora, p, 1.0f),
                             .n_in = p->n_in, .n_out = p->n_out, .rank = p->rank, .n_batch = n,
                             .da = g->a, .db = g->b, .dx = dx};
    return ed_lora_backward(t->k, t->pool, ED_POOL_LOW, &lb, t->lora_scratch, t->lora_floats);
}

/* ----------------------------------------------------------- attention ---- */

typedef struct {
    const ed_trainer_t *t;
    int n;
} attn_fwd_job_t;

/* Query head `h` over each segment of the window (a segment attends only
 * to itself): scores = q_h k^T (len, len) with the nn gemm op over k_h
 * transposed, the causal softmax row by row, out_h = P v. The upper triangle
 * is computed and masked (a segment is short; the products stay in the tuned
 * f32 kernels). Each head writes only its own columns of att. */
static void attn_fwd_head(void *arg, int h, int thread)
{
    const attn_fwd_job_t *j = arg;
    const ed_trainer_t *t = j->t;
    const ed_model_t *m = t->model;
    int d = m->head_dim, kvh = h / (m->n_head / m->n_kv_head);
    float *s = t->att_scratch + (size_t)thread * ATT_FWD_FLOATS(t->seq, d), *kt = s + (size_t)t->seq * t->seq;
    float scale = 1.0f / sqrtf((float)d);
    for (int g = 0; g < t->n_seg; g++) {
        int r0 = t->seg[g], n = t->seg[g + 1] - r0;
        const float *kk = t->kk + (size_t)r0 * m->kv_dim, *q = t->q + (size_t)r0 * m->q_dim;
        for (int r = 0; r < n; r++)
            for (int e = 0; e < d; e++)
                kt[(size_t)e * n + r] = kk[(size_t)r * m->kv_dim + (size_t)kvh * d + e];
        memset(s, 0, sizeof(float) * (size_t)n * n);
        t->k->gemm_f32_nn(n, n, d, q + (size_t)h * d, (size_t)m->q_dim, kt, (size_t)n, s, (size_t)n);
        for (int r = 0; r < n; r++)
            t->k->softmax_forward(s + (size_t)r * n, n, scale, r + 1);
        float *out = t->att + (size_t)r0 * m->q_dim + (size_t)h * d;
        for (int r = 0; r < n; r++)
            memset(out + (size_t)r * m->q_dim, 0, sizeof(float) * (size_t)d);
        t->k->gemm_f32_nn(n, d, n, s, (size_t)n, t->vv + (size_t)r0 * m->kv_dim + (size_t)kvh * d, (size_t)m->kv_dim,
                          out, (size_t)m->q_dim);
    }
}

/* -------------------------------------------------------------- blocks ---- */

void ed__trainer_rmsnorm_rows(ed_trainer_t *t, float *out, const float *x, const float *w, int dim, int n)
{
    for (int r = 0; r < n; r++)
        t->k->rmsnorm_forward(out + (size_t)r * dim, x + (size_t)r * dim, w, dim, t->model->rms_eps);
}

/* dx (n, dim) = rmsnorm's input gradient of dy, in place (the frozen
 * weight's gradient goes to a scratch row that is never read) */
void ed__trainer_rmsnorm_back_rows(ed_trainer_t *t, float *dy, const float *x, const float *w, int dim, int n)
{
    for (int r = 0; r < n; r++)
        t->k->rmsnorm_backward(dy + (size_t)r * dim, t->dnorm_w, dy + (size_t)r * dim, x + (size_t)r * dim, w, dim,
                               t->model->rms_eps);
}

static void add_bias_rows(ed_trainer_t *t, float *x, const float *bias, int dim, int n)
{
    for (int r = 0; bias && r < n; r++)
        t->k->add(x + (size_t)r * dim, x + (size_t)r * dim, bias, dim);
}

/* Layer l's forward from xs[l] over n rows: its intermediates in the layer
 * scratch and its output in `out` (n, n_embd); out NULL: it stops at
 * down's input (the recompute of the backward). ED_ECANCELED for the gate. */
int ed__trainer_block_forward(ed_trainer_t *t, int l, int n, float *out)
{
    const ed_model_t *m = t->model;
    const ed_layer_t *L = &m->layers[l];
    const ed_kernels_t *k = t->k;
    const float *x = t->xs + (size_t)l * t->seq * m->n_embd;
    int rc;
#define CHECK(expr)                                                                                                \
    do {                                                                                                           \
        if (ed__trainer_gate(t))                                                                                   \
            return ED_ECANCELED;                                                                                   \
        if ((rc = (expr)) != 0)                                                                                    \
            return rc;                                                                                             \
    } while (0)
#define LORA_F(role, in, y)                                                                                        \
    do {                                                                                                           \
        if (lora_forward(t, l, role, in, y, n))                                                                    \
            return ED_ECANCELED;                                                                                   \
    } while (0)

    ed__trainer_rmsnorm_rows(t, t->xn1, x, L->attn_norm, m->n_embd, n);
    CHECK(ed__trainer_product(t, &L->wq, t->xn1, m->n_embd, t->q, m->q_dim, n));
    CHECK(ed__trainer_product(t, &L->wk, t->xn1, m->n_embd, t->kk, m->kv_dim, n));
    CHECK(ed__trainer_product(t, &L->wv, t->xn1, m->n_embd, t->vv, m->kv_dim, n));
    LORA_F(ED_LORA_ATTN_Q, t->xn1, t->q);
    LORA_F(ED_LORA_ATTN_K, t->xn1, t->kk);
    LORA_F(ED_LORA_ATTN_V, t->xn1, t->vv);
    add_bias_rows(t, t->q, L->bq, m->q_dim, n);
    add_bias_rows(t, t->kk, L->bk, m->kv_dim, n);
    add_bias_rows(t, t->vv, L->bv, m->kv_dim, n);
    if (L->q_norm) {
        memcpy(t->qpre, t->q, sizeof(float) * (size_t)n * m->q_dim);
        ed__trainer_rmsnorm_rows(t, t->q, t->q, L->q_norm, m->head_dim, n * m->n_head);
    }
    if (L->k_norm) {
        memcpy(t->kpre, t->kk, sizeof(float) * (size_t)n * m->kv_dim);
        ed__trainer_rmsnorm_rows(t, t->kk, t->kk, L->k_norm, m->head_dim, n * m->n_kv_head);
    }
    if (L->rope)
        for (int r = 0; r < n; r++) {
            const float *cs = t->cos_sin + (size_t)r * t->rope.n_rot;
            k->rope_rotate(t->q + (size_t)r * m->q_dim, m->n_head, m->head_dim, cs, &t->rope);
            k->rope_rotate(t->kk + (size_t)r * m->kv_dim, m->n_kv_head, m->head_dim, cs, &t->rope);
        }
    if (ed__trainer_gate(t))
        return ED_ECANCELED;
    attn_fwd_job_t aj = {t, n};
    ed_pool_run(t->pool, ED_POOL_LOW, m->n_head, attn_fwd_head, &aj);
    CHECK(ed__trainer_product(t, &L->wo, t->att, m->q_dim, t->tmp, m->n_embd, n));
    LORA_F(ED_LORA_ATTN_OUTPUT, t->att, t->tmp);
    k->add(t->xmid, x, t->tmp, n * m->n_embd);

    ed__trainer_rmsnorm_rows(t, t->xn2, t->xmid, L->ffn_norm, m->n_embd, n);
    CHECK(ed__trainer_product(t, &L->w_gate, t->xn2, m->n_embd, t->gate_act, m->n_ff, n));
    CHECK(ed__trainer_product(t, &L->w_up, t->xn2, m->n_embd, t->up, m->n_ff, n));
    LORA_F(ED_LORA_FFN_GATE, t->xn2, t->gate_act);
    LORA_F(ED_LORA_FFN_UP, t->xn2, t->up);
    k->swiglu_forward(t->hact, t->gate_act, t->up, n * m->n_ff);
    if (!out)
        return 0;
    CHECK(ed__trainer_product(t, &L->w_down, t->hact, m->n_ff, t->tmp, m->n_embd, n));
    LORA_F(ED_LORA_FFN_DOWN, t->hact, t->tmp);
    k->add(out, t->xmid, t->tmp, n * m->n_embd);
    return 0;
#undef LORA_F
}

/* Layer l's backward: t->dx holds the gradient of its output on entry and
 * of its input on return. Its forward is recomputed first. */
int ed__trainer_block_backward(ed_trainer_t *t, int l, int n)
{
    const ed_model_t *m = t->model;
    const ed_layer_t *L = &m->layers[l];
    const ed_kernels_t *k = t->k;
    const float *x = t->xs + (size_t)l * t->seq * m->n_embd;
    int rc;
    /* the last layer's intermediates are still in the scratch from the
     * forward pass; the others are recomputed up to down's input (the
     * layer's output is not needed) */
    if (l != m->n_layer - 1 && (rc = ed__trainer_block_forward(t, l, n, NULL)) != 0)
        return rc;

    /* feed-forward */
    CHECK(ed__trainer_product_back(t, &L->w_down, t->dx, m->n_embd, t->dh, m->n_ff, n, 0));
    CHECK(lora_backward(t, l, ED_LORA_FFN_DOWN, t->hact, t->dx, t->dh, n));
    k->swiglu_backward(t->gate_act, t->up, t->dh, t->gate_act, t->up, n * m->n_ff); /* now dgate, dup */
    CHECK(ed__trainer_product_back(t, &L->w_gate, t->gate_act, m->n_ff, t->dxn, m->n_embd, n, 0));
    CHECK(ed__trainer_product_back(t, &L->w_up, t->up, m->n_ff, t->dxn, m->n_embd, n, 1));
    CHECK(lora_backward(t, l, ED_LORA_FFN_GATE, t->xn2, t->gate_act, t->dxn, n));
    CHECK(lora_backward(t, l, ED_LORA_FFN_UP, t->xn2, t->up, t->dxn, n));
    ed__trainer_rmsnorm_back_rows(t, t->dxn, t->xmid, L->ffn_norm, m->n_embd, n);
    k->add(t->dxmid, t->dx, t->dxn, n * m->n_embd);

    /* attention */
    CHECK(ed__trainer_product_back(t, &L->wo, t->dxmid, m->n_embd, t->datt, m->q_dim, n, 0));
    CHECK(lora_backward(t, l, ED_LORA_ATTN_OUTPUT, t->att, t->dxmid, t->datt, n));
    for (int g = 0; g < t->n_seg; g++) { /* each segment attends only to itself: rows [r0, r0 + len) */
        size_t qo = (size_t)t->seg[g] * m->q_dim, ko = (size_t)t->seg[g] * m->kv_dim;
        ed_attention_train_t shape = {.n_tok = t->seg[g + 1] - t->seg[g], .n_head = m->n_head,
                                      .n_kv_head = m->n_kv_head, .head_dim = m->head_dim,
                                      .scale = 1.0f / sqrtf((float)m->head_dim)};
        CHECK(ed_attention_backward(k, t->pool, ED_POOL_LOW, t->dq + qo, t->dk + ko, t->dv + ko, t->q + qo,
                                    t->kk + ko, t->vv + ko, t->datt + qo, &shape, t->att_scratch, t->att_floats));
    }
    if (L->rope)
        for (int r = 0; r < n; r++) {
            const float *cs = t->cos_sin + (size_t)r * t->rope.n_rot;
            k->rope_rotate_backward(t->dq + (size_t)r * m->q_dim, m->n_head, m->head_dim, cs, &t->rope);
            k->rope_rotate_backward(t->dk + (size_t)r * m->kv_dim, m->n_kv_head, m->head_dim, cs, &t->rope);
        }
    if (L->q_norm)
        ed__trainer_rmsnorm_back_rows(t, t->dq, t->qpre, L->q_norm, m->head_dim, n * m->n_head);
    if (L->k_norm)
        ed__trainer_rmsnorm_back_rows(t, t->dk, t->kpre, L->k_norm, m->head_dim, n * m->n_kv_head);
    CHECK(ed__trainer_product_back(t, &L->wq, t->dq, m->q_dim, t->dxn, m->n_embd, n, 0));
    CHECK(ed__trainer_product_back(t, &L->wk, t->dk, m->kv_dim, t->dxn, m->n_embd, n, 1));
    CHECK(ed__trainer_product_back(t, &L->wv, t->dv, m->kv_dim, t->dxn, m->n_embd, n, 1));
    CHECK(lora_backward(t, l, ED_LORA_ATTN_Q, t->xn1, t->dq, t->dxn, n));
    CHECK(lora_backward(t, l, ED_LORA_ATTN_K, t->xn1, t->dk, t->dxn, n));
    CHECK(lora_backward(t, l, ED_LORA_ATTN_V, t->xn1, t->dv, t->dxn, n));
    ed__trainer_rmsnorm_back_rows(t, t->dxn, x, L->attn_norm, m->n_embd, n);
    k->add(t->dx, t->dxmid, t->dxn, n * m->n_embd);
    return 0;
#undef CHECK
}
