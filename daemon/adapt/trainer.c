/* trainer.c - LoRA training over a frozen, mapped, possibly quantized base
 * (trainer.h): the adapter, its gradients and AdamW moments in one
 * contiguous f32 block each; one window's forward pass (only each layer's
 * input kept), its backward pass recomputing one layer at a time, and the
 * optimizer step with the learning-rate schedule. A window may pack several
 * segments, each with its own positions and attention. */
#include "adapt/trainer_internal.h"

#include "kernels/backward.h"
#include "kernels/matmul.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ------------------------------------------------------------- config ---- */

void ed_trainer_config_default(ed_trainer_config_t *c)
{
    memset(c, 0, sizeof *c);
    c->rank = 8;
    c->alpha = 16.0f;
    c->targets = ED_TRAIN_TARGETS_ATTN;
    c->seq_len = 256;
    c->lr = 5e-4f;
    c->lr_min = 5e-5f;
    c->warmup_steps = 10;
    c->decay_steps = 0;
    c->weight_decay = 0.0f;
    c->beta1 = 0.9f;
    c->beta2 = 0.999f;
    c->eps = 1e-8f;
    c->grad_clip = 1.0f;
    c->seed = 1;
}

int ed_trainer_config_check(const ed_trainer_config_t *c, const ed_model_t *model, char err[ED_ERR_LEN])
{
    int max_rank = model->n_embd < ED_LORA_MAX_RANK ? model->n_embd : ED_LORA_MAX_RANK;
    if (c->rank < 1 || c->rank > max_rank)
        return ed_errf(err, ED_EINVAL, "rank: %d, expected 1 to %d", c->rank, max_rank);
    if (!(c->alpha > 0) || !isfinite(c->alpha))
        return ed_errf(err, ED_EINVAL, "alpha: %g, expected a number above 0", (double)c->alpha);
    if (c->targets == 0 || (c->targets & ~(unsigned)ED_TRAIN_TARGETS_ALL))
        return ed_errf(err, ED_EINVAL, "targets: 0x%x, expected a non-empty set of bits 0x1 to 0x%x", c->targets,
                       (unsigned)ED_TRAIN_TARGETS_ALL);
    if (c->seq_len < 2 || c->seq_len > model->n_ctx_train)
        return ed_errf(err, ED_EINVAL, "seq_len: %d, expected 2 to %d (the model's training context)", c->seq_len,
                       model->n_ctx_train);
    if (!(c->lr > 0) || !isfinite(c->lr))
        return ed_errf(err, ED_EINVAL, "lr: %g, expected a number above 0", (double)c->lr);
    if (!(c->lr_min >= 0) || c->lr_min > c->lr)
        return ed_errf(err, ED_EINVAL, "lr_min: %g, expected 0 to lr (%g)", (double)c->lr_min, (double)c->lr);
    if (c->warmup_steps < 0)
        return ed_errf(err, ED_EINVAL, "warmup_steps: %d, expected 0 or more", c->warmup_steps);
    if (c->decay_steps < 0 || (c->decay_steps > 0 && c->decay_steps <= c->warmup_steps))
        return ed_errf(err, ED_EINVAL, "decay_steps: %d, expected 0 (no decay) or more than warmup_steps (%d)",
                       c->decay_steps, c->warmup_steps);
    if (!(c->weight_decay >= 0) || !isfinite(c->weight_decay))
        return ed_errf(err, ED_EINVAL, "weight_decay: %g, expected 0 or more", (double)c->weight_decay);
    if (!(c->beta1 >= 0 && c->beta1 < 1))
        return ed_errf(err, ED_EINVAL, "beta1: %g, expected 0 <= beta1 < 1", (double)c->beta1);
    if (!(c->beta2 >= 0 && c->beta2 < 1))
        return ed_errf(err, ED_EINVAL, "beta2: %g, expected 0 <= beta2 < 1", (double)c->beta2);
    if (!(c->eps > 0) || !isfinite(c->eps))
        return ed_errf(err, ED_EINVAL, "eps: %g, expected a number above 0", (double)c->eps);
    if (!(c->grad_clip >= 0) || !isfinite(c->grad_clip))
        return ed_errf(err, ED_EINVAL, "grad_clip: %g, expected 0 (none) or more", (double)c->grad_clip);
    return 0;
}

float ed_trainer_lr(const ed_trainer_config_t *c, int64_t step)
{
    if (step < 1)
        step = 1;
    if (c->warmup_steps > 0 && step <= c->warmup_steps)
        return (float)((double)c->lr * (double)step / (double)c->warmup_steps);
    if (c->decay_steps <= 0)
        return c->lr;
    if (step >= c->decay_steps)
        return c->lr_min;
    double progress = (double)(step - c->warmup_steps) / (double)(c->decay_steps - c->warmup_steps);
    return (float)(c->lr_min + 0.5 * ((double)c->lr - c->lr_min) * (1.0 + cos(M_PI * progress)));
}

/* ------------------------------------------------------------- helpers ---- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* splitmix64 and Box-Muller: the adapter's gaussian init, the same on every
 * platform for a seed */
static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double gaussian(uint64_t *s)
{
    double u1 = ((double)(splitmix64(s) >> 11) + 1.0) / 9007199254740993.0; /* (0, 1] */
    double u2 = (double)(splitmix64(s) >> 11) / 9007199254740992.0;
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

/* -------------------------------------------------------------- window ---- */

/* Checks the window and lays out its segments in t->seg. */
static int check_window(ed_trainer_t *t, const int32_t *tokens, const int32_t *targets, int n, const int *seg_len,
                        int n_seg, char err[ED_ERR_LEN])
{
    const ed_model_t *m = t->model;
    if (n < 1 || n > t->seq)
        return ed_errf(err, ED_EINVAL, "trainer: a window of %d tokens, expected 1 to %d", n, t->seq);
    if (n_seg < 0 || n_seg > n || (n_seg > 0 && !seg_len))
        return ed_errf(err, ED_EINVAL, "trainer: %d segments in a window of %d tokens", n_seg, n);
    t->seg[0] = 0;
    t->n_seg = n_seg > 0 ? n_seg : 1;
    for (int i = 0; i < t->n_seg; i++) {
        int len = n_seg > 0 ? seg_len[i] : n;
        if (len < 1 || len > n - t->seg[i])
            return ed_errf(err, ED_EINVAL, "trainer: segment %d of %d tokens, expected 1 to %d", i, len,
                           n - t->seg[i]);
        t->seg[i + 1] = t->seg[i] + len;
    }
    if (t->seg[t->n_seg] != n)
        return ed_errf(err, ED_EINVAL, "trainer: segments of %d tokens in all, the window has %d", t->seg[t->n_seg],
                       n);
    for (int i = 0; i < n; i++) {
        if (tokens[i] < 0 || tokens[i] >= m->n_vocab)
            return ed_errf(err, ED_EINVAL, "trainer: token %d at index %d is outside the vocabulary of %d", tokens[i],
                           i, m->n_vocab);
        if (targets[i] >= m->n_vocab)
            return ed_errf(err, ED_EINVAL, "trainer: target %d at index %d is outside the vocabulary of %d",
                           targets[i], i, m->n_vocab);
    }
    return 0;
}

typedef struct {
    const ed_trainer_t *t;
    const int32_t *targets;
    float scale;
} ce_job_t;

static void ce_row(void *arg, int r, int thread)
{
    const ce_job_t *j = arg;
    int nv = j->t->model->n_vocab;
    (void)thread;
    float *row = j->t->logits + (size_t)r * nv;
    j->t->ce_loss[r] = j->t->k->cross_entropy_backward(row, row, nv, j->targets[r], j->scale);
}

/* Embeddings, every layer (inputs kept in xs), the final norm into tmp and
 * the cross-entropy (dh into dx when want_grad, scaled by grad_scale). */
static int window_forward(ed_trainer_t *t, const int32_t *tokens, const int32_t *targets, int n, float grad_scale,
                          int want_grad, double *loss_sum, int *n_counted)
{
    const ed_model_t *m = t->model;
    size_t layer_floats = (size_t)t->seq * m->n_embd;
    memset(t->dnorm_w, 0, sizeof(float) * (size_t)(m->n_embd > m->head_dim ? m->n_embd : m->head_dim));
    for (int r = 0, g = 0; r < n; r++) {
        while (r >= t->seg[g + 1])
            g++;
        t->k->get_row(t->xs + (size_t)r * m->n_embd, m->token_embd.data, m->token_embd.type, tokens[r], m->n_embd);
        ed_rope_cos_sin(&t->rope, r - t->seg[g], t->cos_sin + (size_t)r * t->rope.n_rot); /* in-segment position */
        for (int i = 0; m->rope_attn_factor > 0 && m->rope_attn_factor != 1.0f && i < t->rope.n_rot; i++)
            t->cos_sin[(size_t)r * t->rope.n_rot + i] *= m->rope_attn_factor;
    }
    int rc;
    for (int l = 0; l < m->n_layer; l++)
        if ((rc = ed__trainer_block_forward(t, l, n, t->xs + (size_t)(l + 1) * layer_floats)) != 0)
            return rc;
    const float *x_last = t->xs + (size_t)m->n_layer * layer_floats;
    /* the final norm into tmp: the last layer's xn1 stays for its backward */
    float *h = t->tmp;
    ed__trainer_rmsnorm_rows(t, h, x_last, m->output_norm, m->n_embd, n);
    if (ed__trainer_gate(t))
        return ED_ECANCELED;
    if (t->int8_products) {
        ed_cross_entropy_t ce = {.h = h, .w = m->output.data, .w_type = m->output.type, .n_embd = m->n_embd,
                                 .n_vocab = m->n_vocab, .n_rows = n, .targets = targets, .grad_scale = grad_scale,
                                 .dh = want_grad ? t->dx : NULL, .chunk_rows = t->seq < 16 ? t->seq : 16};
        return ed_cross_entropy(t->k, t->pool, ED_POOL_LOW, &ce, t->ce_scratch, t->ce_size, loss_sum, n_counted);
    }
    /* the fused cross-entropy of backward.h over the f32 products: CE_ROWS
     * rows of logits at a time, their dlogits in place, dh before the next */
    double sum = 0;
    int counted = 0;
    for (int r0 = 0; r0 < n; r0 += CE_ROWS) {
        int rows = n - r0 < CE_ROWS ? n - r0 : CE_ROWS;
        if (ed__trainer_gate(t))
            return ED_ECANCELED;
        if ((rc = ed__trainer_product(t, &m->output, h + (size_t)r0 * m->n_embd, m->n_embd, t->logits, m->n_vocab,
                                      rows)))
            return rc;
        ce_job_t j = {t, targets + r0, grad_scale};
        ed_pool_run(t->pool, ED_POOL_LOW, rows, ce_row, &j);
        for (int r = 0; r < rows; r++)
            if (targets[r0 + r] >= 0) {
                sum += t->ce_loss[r];
                counted++;
            }
        if (want_grad) {
            if (ed__trainer_gate(t))
                return ED_ECANCELED;
            if ((rc = ed__trainer_product_back(t, &m->output, t->logits, m->n_vocab, t->dx + (size_t)r0 * m->n_embd,
                                               m->n_embd, rows, 0)))
                return rc;
        }
    }
    *loss_sum = sum;
    *n_counted = counted;
    return 0;
}

void ed_trainer_zero_grad(ed_trainer_t *t)
{
    memset(t->grads, 0, sizeof(float) * t->n_params);
}

int ed_trainer_accumulate(ed_trainer_t *t, const int32_t *tokens, const int32_t *targets, int n, float grad_scale,
                          double *loss_sum, int *n_counted, char err[ED_ERR_LEN])
{
    return ed_trainer_accumulate_packed(t, tokens, targets, n, NULL, 0, grad_scale, loss_sum, n_counted, err);
}

int ed_trainer_accumulate_packed(ed_trainer_t *t, const int32_t *tokens, const int32_t *targets, int n,
                                 const int *segment_len, int n_segments, float grad_scale, double *loss_sum,
                                 int *n_counted, char err[ED_ERR_LEN])
{
    const ed_model_t *m = t->model;
    *loss_sum = 0;
    *n_counted = 0;
    int rc = check_window(t, tokens, targets, n, segment_len, n_segments, err);
    if (rc != 0)
        return rc;
    double t0 = now_s();
    rc = window_forward(t, tokens, targets, n, grad_scale, 1, loss_sum, n_counted);
    double t1 = now_s();
    t->timing.forward_s = t1 - t0;
    if (rc == 0) {
        ed__trainer_rmsnorm_back_rows(t, t->dx, t->xs + (size_t)m->n_layer * t->seq * m->n_embd, m->output_norm,
                                      m->n_embd, n);
        for (int l = m->n_layer - 1; l >= 0 && rc == 0; l--)
            rc = ed__trainer_block_backward(t, l, n);
    }
    t->timing.backward_s = now_s() - t1;
    if (rc == ED_ECANCELED) {
        ed_trainer_zero_grad(t);
        *loss_sum = 0;
        *n_counted = 0;
        return ed_errf(err, ED_ECANCELED, "trainer: the window was stopped by its gate");
    }
    if (rc != 0)
        return ed_errf(err, rc, "trainer: a kernel refused its arguments (%s)", ed_strerror(rc));
    float inv = grad_scale != 0 ? 1.0f / grad_scale : 0.0f;
    for (size_t i = 0; i < (size_t)n * m->n_embd; i++)
        t->input_grad[i] = t->dx[i] * inv;
    return 0;
}

int ed_trainer_loss(ed_trainer_t *t, const int32_t *tokens, const int32_t *targets, int n, double *loss_sum,
                    int *n_counted, char err[ED_ERR_LEN])
{
    return ed_trainer_loss_packed(t, tokens, targets, n, NULL, 0, loss_sum, n_counted, err);
}

int ed_trainer_loss_packed(ed_trainer_t *t, const int32_t *tokens, const int32_t *targets, int n,
                           const int *segment_len, int n_segments, double *loss_sum, int *n_counted,
                           char err[ED_ERR_LEN])
{
    *loss_sum = 0;
    *n_counted = 0;
    int rc = check_window(t, tokens, targets, n, segment_len, n_segments, err);
    if (rc != 0)
        return rc;
    double t0 = now_s();
    rc = window_forward(t, tokens, targets, n, 1.0f, 0, loss_sum, n_counted);
    t->timing.forward_s = now_s() - t0;
    t->timing.backward_s = 0;
    if (rc == ED_ECANCELED) {
        *loss_sum = 0;
        *n_counted = 0;
        return ed_errf(err, ED_ECANCELED, "trainer: the evaluation was stopped by its gate");
    }
    if (rc != 0)
        return ed_errf(err, rc, "trainer: a kernel refused its arguments (%s)", ed_strerror(rc));
    return 0;
}

/* ----------------------------------------------------------- optimizer ---- */

#define ADAM_CHUNK 16384

typedef struct {
    const ed_trainer_t *t;
    ed_adamw_t h;
} adam_job_t;

static void adam_chunk(void *arg, int chunk, int thread)
{
    const adam_job_t *j = arg;
    const ed_trainer_t *t = j->t;
    (void)thread;
    size_t i0 = (size_t)chunk * ADAM_CHUNK, len = t->n_params - i0 < ADAM_CHUNK ? t->n_params - i0 : ADAM_CHUNK;
    t->k->adamw_step(t->params + i0, t->m + i0, t->v + i0, t->grads + i0, (int)len, &j->h);
}

int ed_trainer_step(ed_trainer_t *t, char err[ED_ERR_LEN])
{
    double t0 = now_s();
    if (ed__trainer_gate(t))
        return ed_errf(err, ED_ECANCELED, "trainer: the step was stopped by its gate");
    /* the global norm in one fixed order: the same for every thread count */
    if (t->cfg.grad_clip > 0) {
        double sq = 0;
        for (size_t i = 0; i < t->n_params; i++)
            sq += (double)t->grads[i] * t->grads[i];
        double norm = sqrt(sq);
        if (norm > t->cfg.grad_clip) {
            float s = (float)(t->cfg.grad_clip / norm);
            for (size_t i = 0; i < t->n_params; i++)
                t->grads[i] *= s;
        }
    }
    adam_job_t j = {t, {.lr = ed_trainer_lr(&t->cfg, t->steps + 1), .beta1 = t->cfg.beta1, .beta2 = t->cfg.beta2,
                        .eps = t->cfg.eps, .weight_decay = t->cfg.weight_decay, .step = t->steps + 1}};
    ed_pool_run(t->pool, ED_POOL_LOW, (int)((t->n_params + ADAM_CHUNK - 1) / ADAM_CHUNK), adam_chunk, &j);
    t->steps++;
    ed_trainer_zero_grad(t);
    t->timing.optimizer_s = now_s() - t0;
    return 0;
}

/* -------------------------------------------------------------- set-up ---- */

/* Lays out the pairs of `lora` over `buf` in pair order (a then b). */
static void layout_pairs(ed_lora_t *lora, ed_lora_pair_t *pairs, float *buf, const ed_trainer_t *t)
{
    lora->pairs = pairs;
    size_t off = 0;
    for (int i = 0; i < t->model->n_layer * ED_LORA_PER_LAYER + 2; i++) {
        ed_lora_pair_t *p = &pairs[i];
        memset(p, 0, sizeof *p);
        int layer = i / ED_LORA_PER_LAYER, role = i % ED_LORA_PER_LAYER;
        if (layer >= t->model->n_layer || !(t->cfg.targets & ED_TRAIN_TARGET(role)))
            continue;
        p->rank = t->cfg.rank;
        ed__trainer_role_shape(t->model, role, &p->n_in, &p->n_out);
        p->a_type = p->b_type = ED_TYPE_F32;
        if (buf) {
            p->a = buf + off;
            p->b = buf + off + (size_t)p->rank * p->n_in;
        }
        off += (size_t)p->rank * ((size_t)p->n_in + p->n_out);
    }
}

static size_t count_params(const ed_trainer_t *t)
{
    size_t n = 0;
    for (int l = 0; l < t->model->n_layer; l++)
        for (int role = 0; role < ED_LORA_PER_LAYER; role++)
            if (t->cfg.targets & ED_TRAIN_TARGET(role)) {
                int n_in, n_out;
                ed__trainer_role_shape(t->model, role, &n_in, &n_out);
                n += (size_t)t->cfg.rank * ((size_t)n_in + n_out);
            }
    return n;
}

static void *alloc_bytes(size_t n, int *ok)
{
    void *p = n ? aligned_alloc(64, (n + 63) / 64 * 64) : NULL;
    if (n && !p)
        *ok = 0;
    return p;
}

static float *alloc_f(size_t n, int *ok)
{
    return alloc_bytes(n * sizeof(float), ok);
}

int ed_trainer_create(ed_trainer_t **out, const ed_model_t *model, const ed_gguf_t *base_gguf,
                      const ed_kernels_t *kernels, ed_pool_t *pool, const ed_trainer_config_t *config,
                      char err[ED_ERR_LEN])
{
    *out = NULL;
    if (model->arch != ED_ARCH_LLAMA && model->arch != ED_ARCH_QWEN2 && model->arch != ED_ARCH_QWEN3 &&
        model->arch != ED_ARCH_SMOLLM3)
        return ed_errf(err, ED_EUNSUPPORTED,
                       "trainer: the %s architecture cannot be trained (llama, qwen2, qwen3 and smollm3 can)",
                       ed_model_arch_name(model->arch));
    if (model->rope.n_rot > model->head_dim || (model->rope.freq_factors == NULL && model->rope_long))
        return ed_errf(err, ED_EUNSUPPORTED, "trainer: this model's RoPE (LongRoPE factors) cannot be trained");
    int rc = ed_trainer_config_check(config, model, err);
    if (rc != 0)
        return rc;
    for (int l = 0; l < model->n_layer; l++)
        for (int role = 0; role < ED_LORA_PER_LAYER; role++) {
            const ed_matrix_t *w = ed__trainer_role_matrix(&model->layers[l], role);
            const ed_quant_traits_t *tr = ed_quant_traits(w->type);
            if (!tr || !tr->to_float || !kernels->vec_dot[w->type])
                return ed_errf(err, ED_EUNSUPPORTED, "trainer: layer %d's matrix %d has type %d, which has no "
                               "product and dequantizer", l, role, w->type);
        }
    ed_trainer_t *t = calloc(1, sizeof *t);
    if (!t)
        return ed_errf(err, ED_ENOMEM, "trainer: out of memory");
    t->model = model;
    t->k = kernels;
    t->pool = pool;
    t->cfg = *config;
    t->rope = model->rope;
    t->seq = config->seq_len;

    const ed_model_t *m = model;
    int ok = 1, n_pairs_total = m->n_layer * ED_LORA_PER_LAYER + 2, n_threads = ed_pool_n_threads(pool);
    size_t S = (size_t)t->seq, E = (size_t)m->n_embd;
    t->n_params = count_params(t);
    t->params = alloc_f(t->n_params, &ok);
    t->grads = alloc_f(t->n_params, &ok);
    t->m = alloc_f(t->n_params, &ok);
    t->v = alloc_f(t->n_params, &ok);
    ed_lora_pair_t *pairs = calloc((size_t)n_pairs_total, sizeof *pairs);
    ed_lora_pair_t *gpairs = calloc((size_t)n_pairs_total, sizeof *gpairs);
    t->xs = alloc_f(((size_t)m->n_layer + 1) * S * E, &ok);
    t->cos_sin = alloc_f(S * (size_t)(t->rope.n_rot > 0 ? t->rope.n_rot : 1), &ok);
    t->seg = alloc_bytes((S + 1) * sizeof(int), &ok);
    t->xn1 = alloc_f(S * E, &ok);
    t->q = alloc_f(S * m->q_dim, &ok);
    t->kk = alloc_f(S * m->kv_dim, &ok);
    t->vv = alloc_f(S * m->kv_dim, &ok);
    if (m->layers[0].q_norm || m->layers[0].k_norm) {
        t->qpre = alloc_f(S * m->q_dim, &ok);
        t->kpre = alloc_f(S * m->kv_dim, &ok);
    }
    t->att = alloc_f(S * m->q_dim, &ok);
    t->xmid = alloc_f(S * E, &ok);
    t->xn2 = alloc_f(S * E, &ok);
    t->gate_act = alloc_f(S * m->n_ff, &ok);
    t->up = alloc_f(S * m->n_ff, &ok);
    t->hact = alloc_f(S * m->n_ff, &ok);
    t->tmp = alloc_f(S * E, &ok);
    t->dx = alloc_f(S * E, &ok);
    t->dxmid = alloc_f(S * E, &ok);
    t->dxn = alloc_f(S * E, &ok);
    t->dh = alloc_f(S * m->n_ff, &ok);
    t->datt = alloc_f(S * m->q_dim, &ok);
    t->dq = alloc_f(S * m->q_dim, &ok);
    t->dk = alloc_f(S * m->kv_dim, &ok);
    t->dv = alloc_f(S * m->kv_dim, &ok);
    t->dnorm_w = alloc_f(E > (size_t)m->head_dim ? E : (size_t)m->head_dim, &ok);
    t->input_grad = alloc_f(S * E, &ok);
    const char *products = getenv("EDGED_TRAIN_PRODUCTS");
    t->int8_products = products && strcmp(products, "int8") == 0;
    /* the output matrix's input gradient (dh) too */
    size_t mm = 0, bwd = ed_matmul_backward_scratch_size(m->output.type, n_threads);
    for (int l = 0; l < m->n_layer; l++)
        for (int role = 0; role < ED_LORA_PER_LAYER; role++) {
            const ed_matrix_t *w = ed__trainer_role_matrix(&m->layers[l], role);
            int n_in, n_out;
            ed__trainer_role_shape(m, role, &n_in, &n_out);
            size_t a = ed_matmul_scratch_size(w->type, n_in, t->seq);
            size_t b = ed_matmul_backward_scratch_size(w->type, n_threads);
            if (t->int8_products) { /* the layers' dx through the int8 products too */
                size_t q = ed_matmul_backward_q8_scratch_size(w->type, n_out, t->seq, n_threads);
                b = q > b ? q : b;
            }
            mm = a > mm ? a : mm;
            bwd = b > bwd ? b : bwd;
        }
    t->bwd_size = (bwd + 63) / 64 * 64;
    t->bwd_scratch = alloc_bytes(t->bwd_size, &ok);
    if (t->int8_products) { /* ed_matmul_forward's quantized activations and ed_cross_entropy's scratch */
        t->mm_size = (mm + 63) / 64 * 64;
        t->mm_scratch = alloc_bytes(t->mm_size, &ok);
        ed_cross_entropy_t ce = {.w_type = m->output.type, .n_embd = m->n_embd, .n_vocab = m->n_vocab,
                                 .chunk_rows = t->seq < 16 ? t->seq : 16};
        t->ce_size = ed_cross_entropy_scratch_size(&ce, n_threads);
        t->ce_scratch = alloc_bytes(t->ce_size, &ok);
    }
    t->fwd_scratch = alloc_f((size_t)n_threads * 2 * FWD_ROWS * FWD_COLS, &ok);
    t->logits = alloc_f((size_t)CE_ROWS * m->n_vocab, &ok);
    t->ce_loss = alloc_f(CE_ROWS, &ok);
    t->lora_floats = ed_lora_backward_scratch_floats(config->rank, t->seq);
    t->lora_scratch = alloc_f(t->lora_floats, &ok);
    size_t att_f = (size_t)n_threads * ATT_FWD_FLOATS(S, m->head_dim), att_b = (size_t)n_threads * 2 * S;
    int widest = m->n_ff > m->n_embd ? m->n_ff : m->n_embd;
    widest = widest > m->q_dim ? widest : m->q_dim;
    t->lora_bt = alloc_f((size_t)config->rank * widest, &ok);
    t->att_floats = att_f > att_b ? att_f : att_b;
    t->att_scratch = alloc_f(t->att_floats, &ok);
    if (!ok || !pairs || !gpairs) {
        free(pairs);
        free(gpairs);
        ed_trainer_free(t);
        return ed_errf(err, ED_ENOMEM, "trainer: out of memory for %zu adapter parameters and a window of %d tokens",
                       t->n_params, t->seq);
    }

    /* the adapter: A gaussian with std 1/sqrt(n_in), B zero (PEFT's start:
     * the adapted model is the base until the first step) */
    layout_pairs(&t->lora, pairs, t->params, t);
    layout_pairs(&t->grad, gpairs, t->grads, t);
    uint64_t seed = config->seed;
    for (int i = 0; i < n_pairs_total; i++) {
        ed_lora_pair_t *p = &pairs[i];
        if (p->rank == 0)
            continue;
        double std = 1.0 / sqrt((double)p->n_in);
        for (size_t j = 0; j < (size_t)p->rank * p->n_in; j++)
            p->a[j] = (float)(std * gaussian(&seed));
        memset(p->b, 0, sizeof(float) * (size_t)p->n_out * p->rank);
    }
    memset(t->grads, 0, sizeof(float) * t->n_params);
    memset(t->m, 0, sizeof(float) * t->n_params);
    memset(t->v, 0, sizeof(float) * t->n_params);
    ed_lora_t *lo[] = {&t->lora, &t->grad};
    for (int i = 0; i < 2; i++) {
        snprintf(lo[i]->arch, sizeof lo[i]->arch, "%s", ed_model_arch_name(m->arch));
        lo[i]->has_alpha = true;
        lo[i]->alpha = config->alpha;
        lo[i]->n_layer = m->n_layer;
        lo[i]->max_rank = config->rank;
        lo[i]->n_pairs = 0;
        for (int j = 0; j < n_pairs_total; j++)
            lo[i]->n_pairs += lo[i]->pairs[j].rank > 0;
        lo[i]->bytes = t->n_params * sizeof(float);
        if (base_gguf)
            ed_lora_fingerprint(base_gguf, lo[i]->fingerprint);
    }
    *out = t;
    return 0;
}

void ed_trainer_free(ed_trainer_t *t)
{
    if (!t)
        return;
    free(t->lora.pairs);
    free(t->grad.pairs);
    free(t->lora.training);
    void *bufs[] = {t->params, t->grads, t->m, t->v, t->xs, t->cos_sin, t->xn1, t->q, t->kk, t->vv, t->qpre, t->kpre,
                    t->att, t->xmid, t->xn2, t->gate_act, t->up, t->hact, t->tmp, t->dx, t->dxmid, t->dxn, t->dh,
                    t->datt, t->dq, t->dk, t->dv, t->dnorm_w, t->input_grad, t->mm_scratch, t->bwd_scratch,
                    t->ce_scratch, t->lora_scratch, t->att_scratch, t->fwd_scratch, t->logits, t->ce_loss, t->lora_bt,
                    t->seg};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        free(bufs[i]);
    free(t);
}

void ed_trainer_set_gate(ed_trainer_t *t, ed_trainer_gate_fn g, void *arg)
{
    t->gate = g;
    t->gate_arg = arg;
}

int ed_trainer_set_adapter(ed_trainer_t *t, const ed_lora_t *from, char err[ED_ERR_LEN])
{
    if (!from || from->n_layer != t->model->n_layer)
        return ed_errf(err, ED_EINVAL, "trainer: the adapter was not loaded for this model");
    int n_pairs_total = t->model->n_layer * ED_LORA_PER_LAYER;
    for (int i = 0; i < n_pairs_total; i++) {
        const ed_lora_pair_t *p = &t->lora.pairs[i], *f = &from->pairs[i];
        if (p->rank == 0)
            continue;
        if (f->rank != p->rank || f->n_in != p->n_in || f->n_out != p->n_out)
            return ed_errf(err, ED_EINVAL, "trainer: pair %d (layer %d, matrix %d) has rank %d in the adapter, the "
                           "trainer's is %d", i, i / ED_LORA_PER_LAYER, i % ED_LORA_PER_LAYER, f->rank, p->rank);
    }
    for (int i = 0; i < n_pairs_total; i++) {
        const ed_lora_pair_t *p = &t->lora.pairs[i], *f = &from->pairs[i];
        if (p->rank == 0)
            continue;
        memcpy(p->a, f->a, sizeof(float) * (size_t)p->rank * p->n_in);
        memcpy(p->b, f->b, sizeof(float) * (size_t)p->n_out * p->rank);
    }
    float alpha = from->has_alpha ? from->alpha : (float)t->cfg.rank; /* no alpha: scale 1 */
    t->lora.has_alpha = t->grad.has_alpha = true;
    t->lora.alpha = t->grad.alpha = alpha;
    t->cfg.alpha = alpha;
    return 0;
}

int64_t ed_trainer_steps(const ed_trainer_t *t)
{
    return t->steps;
}

const ed_lora_t *ed_trainer_adapter(const ed_trainer_t *t)
{
    return &t->lora;
}

const ed_lora_t *ed_trainer_grad(const ed_trainer_t *t)
{
    return &t->grad;
}

const float *ed_trainer_input_grad(const ed_trainer_t *t)
{
    return t->input_grad;
}

size_t ed_trainer_n_params(const ed_trainer_t *t)
{
    return t->n_params;
}

void ed_trainer_state_export(const ed_trainer_t *t, float *params, float *m, float *v)
{
    memcpy(params, t->params, sizeof(float) * t->n_params);
    memcpy(m, t->m, sizeof(float) * t->n_params);
    memcpy(v, t->v, sizeof(float) * t->n_params);
}

void ed_trainer_state_import(ed_trainer_t *t, const float *params, const float *m, const float *v, int64_t steps)
{
    memcpy(t->params, params, sizeof(float) * t->n_params);
    memcpy(t->m, m, sizeof(float) * t->n_params);
    memcpy(t->v, v, sizeof(float) * t->n_params);
    t->steps = steps;
}

ed_trainer_timing_t ed_trainer_timing(const ed_trainer_t *t)
{
    return t->timing;
}
