/* forward.c - the Llama-family forward pass, in the manner of llama2.c's
 * forward(): one residual stream per token, each block reading a normalised
 * copy and adding its output back (gemma: normalised again before the add).
 * Rows of a batch share every matrix product (ed_matmul_forward); attention
 * is split over (token, head) pairs on the pool, and so are the per-row and
 * elementwise ops of a batch longer than a chunk (run_rows). */
#include "model/forward.h"

#include "kernels/matmul.h"
#include "kernels/quant.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ED_FORWARD_DEFAULT_BATCH 512

/* ---------------------------------------------------------------- setup ---- */

static float *alloc_floats(size_t n)
{
    return malloc(n * sizeof(float));
}

/* Checks the kernels can multiply by `m` and grows *scratch to what a batch
 * of n_batch rows of n_in needs. */
static int plan_matrix(const ed_forward_t *f, const ed_matrix_t *m, const char *what, int n_in,
                       size_t *scratch, char err[ED_ERR_LEN])
{
    if (!f->kernels->vec_dot[m->type]) {
        const ed_type_info_t *info = ed_type_info(m->type);
        snprintf(err, ED_ERR_LEN, "%s: the %s kernels have no product for type %s", what,
                 f->kernels->name, info ? info->name : "unknown");
        return ED_EUNSUPPORTED;
    }
    int rows = f->n_batch > f->n_seq_max ? f->n_batch : f->n_seq_max;
    size_t need = ed_matmul_scratch_size(m->type, n_in, rows);
    if (need > *scratch)
        *scratch = need;
    return 0;
}

/* Both initialisers: own_kv gives f->kv n_ctx positions for ed_forward_eval. */
static int forward_init(ed_forward_t *f, const ed_model_t *model, const ed_kernels_t *kernels,
                        ed_pool_t *pool, int n_ctx, int n_batch, int n_seq_max, bool own_kv,
                        char err[ED_ERR_LEN])
{
    memset(f, 0, sizeof *f);
    f->model = model;
    f->kernels = kernels;
    f->pool = pool;
    f->n_batch = n_batch > 0 ? n_batch : ED_FORWARD_DEFAULT_BATCH;
    if (n_ctx <= 0)
        n_ctx = model->n_ctx_train;
    if (n_ctx <= 0 || n_batch < 0 || n_seq_max < 1) {
        snprintf(err, ED_ERR_LEN, "forward: n_ctx %d, n_batch %d and n_seq_max %d must be positive", n_ctx,
                 n_batch, n_seq_max);
        return ED_EINVAL;
    }
    if (own_kv && f->n_batch > n_ctx)
        f->n_batch = n_ctx;
    f->n_ctx = n_ctx;
    f->n_seq_max = n_seq_max;
    /* llama.cpp's get_rope_factors: rope_freqs when present, else phi3's long
     * factors when a sequence may outgrow the original context, else short */
    f->rope = model->rope;
    if (!f->rope.freq_factors && model->rope_long)
        f->rope.freq_factors = n_ctx > model->n_ctx_orig ? model->rope_long : model->rope_short;
    f->rope_swa = model->rope_swa;
    f->rope_swa.freq_factors = f->rope.freq_factors;
    /* gemma3's sliding layers rotate with their own base: a second table of angles */
    f->own_swa_angles = f->rope_swa.freq_base != f->rope.freq_base || f->rope_swa.freq_scale != f->rope.freq_scale;

    int rc = 0;
    size_t scratch = 0;
    for (int l = 0; l < model->n_layer && rc == 0; l++) {
        const ed_layer_t *L = &model->layers[l];
        if ((rc = plan_matrix(f, &L->wq, "attn_q", model->n_embd, &scratch, err)) ||
            (rc = plan_matrix(f, &L->wk, "attn_k", model->n_embd, &scratch, err)) ||
            (rc = plan_matrix(f, &L->wv, "attn_v", model->n_embd, &scratch, err)) ||
            (rc = plan_matrix(f, &L->wo, "attn_output", model->q_dim, &scratch, err)) ||
            (rc = plan_matrix(f, &L->w_gate, "ffn_gate", model->n_embd, &scratch, err)) ||
            (rc = plan_matrix(f, &L->w_up, "ffn_up", model->n_embd, &scratch, err)) ||
            (rc = plan_matrix(f, &L->w_down, "ffn_down", model->n_ff, &scratch, err)))
            return rc;
    }
    if ((rc = plan_matrix(f, &model->output, "output", model->n_embd, &scratch, err)) != 0)
        return rc;
    if (!kernels->get_row) {
        snprintf(err, ED_ERR_LEN, "forward: the %s kernels lack get_row", kernels->name);
        return ED_EUNSUPPORTED;
    }

    if (own_kv && (rc = ed_kvcache_init_model(&f->kv, model, n_ctx, f->n_batch, err)) != 0)
        goto fail;
    size_t B = (size_t)f->n_batch;
    f->x = alloc_floats(B * (size_t)model->n_embd);
    f->xb = alloc_floats(B * (size_t)model->n_embd);
    f->xb2 = alloc_floats(B * (size_t)model->n_embd);
    f->q = alloc_floats(B * (size_t)model->q_dim);
    f->k = alloc_floats(B * (size_t)model->kv_dim);
    f->v = alloc_floats(B * (size_t)model->kv_dim);
    f->att = alloc_floats(B * (size_t)model->q_dim);
    f->hb = alloc_floats(B * (size_t)model->n_ff);
    f->hb2 = alloc_floats(B * (size_t)model->n_ff);
    f->logits = alloc_floats((size_t)n_seq_max * (size_t)model->n_vocab);
    f->xg = alloc_floats((size_t)n_seq_max * (size_t)model->n_embd);
    f->row_kv = malloc(B * sizeof *f->row_kv);
    f->row_pos = malloc(B * sizeof *f->row_pos);
    f->row_lora = calloc(B, sizeof *f->row_lora);
    f->row_group = malloc(B * sizeof *f->row_group);
    f->lora_groups = malloc(B * sizeof *f->lora_groups);
    f->rope_cos_sin = alloc_floats(B * (size_t)model->rope.n_rot);
    f->rope_cos_sin_swa = f->own_swa_angles ? alloc_floats(B * (size_t)model->rope.n_rot) : f->rope_cos_sin;
    f->att_scores = alloc_floats((size_t)ed_pool_n_threads(pool) * (size_t)n_ctx);
    /* attention chunks: the query heads of a KV head together, split (by a
     * divisor of their count) while a token gives fewer than 2 per thread */
    int group = model->n_head / model->n_kv_head, target = model->n_head / (2 * ed_pool_n_threads(pool));
    f->att_heads_per_chunk = 1;
    for (int d = 1; d <= group; d++)
        if (group % d == 0 && d <= target)
            f->att_heads_per_chunk = d;
    f->mm_scratch_size = (scratch + 63) / 64 * 64;
    f->mm_scratch = f->mm_scratch_size ? aligned_alloc(64, f->mm_scratch_size) : NULL;
    if (!f->x || !f->xb || !f->xb2 || !f->q || !f->k || !f->v || !f->att || !f->hb || !f->hb2 ||
        !f->logits || !f->xg || !f->row_kv || !f->row_pos || !f->row_lora || !f->row_group || !f->lora_groups ||
        !f->rope_cos_sin || !f->rope_cos_sin_swa || !f->att_scores ||
        (f->mm_scratch_size && !f->mm_scratch)) {
        snprintf(err, ED_ERR_LEN, "forward: out of memory for the run state of %d tokens", f->n_batch);
        rc = ED_ENOMEM;
        goto fail;
    }
    return 0;

fail:
    ed_forward_free(f);
    return rc;
}

int ed_forward_init(ed_forward_t *f, const ed_model_t *model, const ed_kernels_t *kernels,
                    ed_pool_t *pool, int n_ctx, int n_batch, char err[ED_ERR_LEN])
{
    return forward_init(f, model, kernels, pool, n_ctx, n_batch, 1, true, err);
}

int ed_forward_init_multi(ed_forward_t *f, const ed_model_t *model, const ed_kernels_t *kernels,
                          ed_pool_t *pool, int n_ctx, int n_batch, int n_seq_max, char err[ED_ERR_LEN])
{
    return forward_init(f, model, kernels, pool, n_ctx, n_batch, n_seq_max, false, err);
}

static int max_int(int a, int b)
{
    return a > b ? a : b;
}

int ed_forward_reserve_lora(ed_forward_t *f, int max_rank, char err[ED_ERR_LEN])
{
    if (max_rank < 1 || max_rank > ED_LORA_MAX_RANK)
        return ed_errf(err, ED_EINVAL, "forward: adapter rank %d, expected 1 to %d", max_rank, ED_LORA_MAX_RANK);
    if (max_rank <= f->lora_max_rank)
        return 0;
    const ed_model_t *m = f->model;
    int max_in = max_int(max_int(m->n_embd, m->q_dim), m->n_ff);
    size_t widest = (size_t)max_int(max_in, m->kv_dim), rows = ED_FORWARD_LORA_ROWS;
    size_t u_cap = rows * widest > (size_t)m->n_vocab ? rows * widest : (size_t)m->n_vocab;
    int *lora_rows = malloc(rows * sizeof *lora_rows);
    float *x = alloc_floats(rows * (size_t)max_in), *t = alloc_floats(rows * (size_t)max_rank);
    float *u = alloc_floats(u_cap);
    if (!lora_rows || !x || !t || !u) {
        free(lora_rows), free(x), free(t), free(u);
        return ed_errf(err, ED_ENOMEM, "forward: out of memory for the scratch of rank-%d adapters", max_rank);
    }
    free(f->lora_rows), free(f->lora_x), free(f->lora_t), free(f->lora_u);
    f->lora_rows = lora_rows, f->lora_x = x, f->lora_t = t, f->lora_u = u;
    f->lora_u_cap = u_cap;
    f->lora_max_rank = max_rank;
    return 0;
}

void ed_forward_free(ed_forward_t *f)
{
    if (!f)
        return;
    ed_kvcache_free(&f->kv);
    free(f->x);
    free(f->xb);
    free(f->xb2);
    free(f->q);
    free(f->k);
    free(f->v);
    free(f->att);
    free(f->hb);
    free(f->hb2);
    free(f->logits);
    free(f->xg);
    free(f->row_kv);
    free(f->row_pos);
    free(f->row_lora);
    free(f->row_group);
    free(f->lora_groups);
    free(f->lora_rows);
    free(f->lora_x);
    free(f->lora_t);
    free(f->lora_u);
    if (f->own_swa_angles)
        free(f->rope_cos_sin_swa);
    free(f->rope_cos_sin);
    free(f->att_scores);
    free(f->mm_scratch);
    memset(f, 0, sizeof *f);
}

/* ---------------------------------------------------------------- steps ---- */

/* y (n, n_out) = x (n, n_in) w^T. The shapes were checked at load and the
 * scratch sized at init, so a failure here is a bug: it is returned anyway. */
static int matmul(ed_forward_t *f, const ed_matrix_t *w, const float *x, int n_in, float *y, int n_out,
                  int n)
{
    ed_matmul_t m = {
        .w = w->data, .w_type = w->type, .n_in = n_in, .n_out = n_out, .x = x, .y = y, .n_batch = n,
    };
    return ed_matmul_forward(f->kernels, f->pool, f->prio, &m, f->mm_scratch, f->mm_scratch_size);
}

/* y_i (n, n_out_i) = x (n, n_in) w_i^T for count products of the same x:
 * one pass over the pool when the weights want the same activation format,
 * else one after the other. */
static int matmul_many(ed_forward_t *f, const ed_matrix_t *const *w, const float *x, int n_in, float *const *y,
                       const int *n_out, int count, int n)
{
    ed_matmul_t ms[ED_MATMUL_MAX_MANY];
    bool shared = true;
    for (int i = 0; i < count; i++) {
        ms[i] = (ed_matmul_t){
            .w = w[i]->data, .w_type = w[i]->type, .n_in = n_in, .n_out = n_out[i], .x = x, .y = y[i], .n_batch = n,
        };
        shared = shared && ed_quant_traits(w[i]->type)->vec_dot_type == ed_quant_traits(w[0]->type)->vec_dot_type;
    }
    if (shared)
        return ed_matmul_forward_many(f->kernels, f->pool, f->prio, ms, count, f->mm_scratch,
                                      f->mm_scratch_size);
    int rc = 0;
    for (int i = 0; i < count && rc == 0; i++)
        rc = ed_matmul_forward(f->kernels, f->pool, f->prio, &ms[i], f->mm_scratch, f->mm_scratch_size);
    return rc;
}

/* ------------------------------------------------------------- adapters ---- */

/* 0 when `set` (may be NULL) can run on this pass, else ED_EINVAL with err. */
static int check_lora_set(const ed_forward_t *f, const ed_lora_set_t *set, char err[ED_ERR_LEN])
{
    if (!set)
        return 0;
    if (set->n < 0 || set->n > ED_LORA_MAX_SET)
        return ed_errf(err, ED_EINVAL, "forward: %d adapters in a set, at most %d", set->n, ED_LORA_MAX_SET);
    for (int i = 0; i < set->n; i++) {
        const ed_lora_t *a = set->adapters[i];
        if (!a || a->n_layer != f->model->n_layer)
            return ed_errf(err, ED_EINVAL, "forward: adapter %d of the set was not loaded for this model", i);
        if (a->max_rank > f->lora_max_rank)
            return ed_errf(err, ED_EINVAL, "forward: adapter %d has rank %d, the pass reserved %d", i, a->max_rank,
                           f->lora_max_rank);
    }
    return 0;
}

/* Groups rows [0, n) by their set (f->row_lora): row_group and the
 * distinct sets in order of first use. */
static void lora_group_rows(ed_forward_t *f, int n)
{
    f->n_lora_groups = 0;
    for (int t = 0; t < n; t++) {
        const ed_lora_set_t *set = f->row_lora[t];
        f->row_group[t] = -1;
        if (!set || set->n == 0)
            continue;
        int g = f->n_lora_groups - 1;
        while (g >= 0 && f->lora_groups[g] != set)
            g--;
        if (g < 0) {
            g = f->n_lora_groups++;
            f->lora_groups[g] = set;
        }
        f->row_group[t] = g;
    }
}

/* y (n, n_out) += s B (A x) for the rows whose adapters adapt the matrix
 * at pair index `target`, x (n, n_in). Rows go a chunk at a time, gathered
 * into a copy unless they are consecutive; every product is row by row (f32 weights have no
 * micro-kernel: one dot product per output), so a row's update does not
 * depend on the rows beside it. */
static int lora_apply(ed_forward_t *f, int target, const float *x, int n_in, float *y, int n_out, int n)
{
    int chunk_rows = (int)(f->lora_u_cap / (size_t)n_out);
    chunk_rows = chunk_rows < ED_FORWARD_LORA_ROWS ? chunk_rows : ED_FORWARD_LORA_ROWS;
    for (int g = 0; g < f->n_lora_groups; g++) {
        const ed_lora_set_t *set = f->lora_groups[g];
        for (int i = 0; i < set->n; i++) {
            const ed_lora_pair_t *p = &set->adapters[i]->pairs[target];
            if (p->rank == 0)
                continue;
            float s = ed_lora_scale(set->adapters[i], p, set->scales[i]);
            for (int t = 0; t < n;) {
                int m = 0;
                for (; t < n && m < chunk_rows; t++)
                    if (f->row_group[t] == g)
                        f->lora_rows[m++] = t;
                if (m == 0)
                    break;
                /* consecutive rows (one set for the whole batch) are read in place */
                const float *rows = x + (size_t)f->lora_rows[0] * n_in;
                if (f->lora_rows[m - 1] - f->lora_rows[0] != m - 1) {
                    for (int j = 0; j < m; j++)
                        memcpy(f->lora_x + (size_t)j * n_in, x + (size_t)f->lora_rows[j] * n_in,
                               (size_t)n_in * sizeof(float));
                    rows = f->lora_x;
                }
                ed_matmul_t down = {.w = p->a, .w_type = ED_TYPE_F32, .n_in = n_in, .n_out = p->rank,
                                    .x = rows, .y = f->lora_t, .n_batch = m};
                ed_matmul_t up = {.w = p->b, .w_type = ED_TYPE_F32, .n_in = p->rank, .n_out = n_out,
                                  .x = f->lora_t, .y = f->lora_u, .n_batch = m};
                int rc;
                if ((rc = ed_matmul_forward(f->kernels, f->pool, f->prio, &down, f->mm_scratch, f->mm_scratch_size)) ||
                    (rc = ed_matmul_forward(f->kernels, f->pool, f->prio, &up, f->mm_scratch, f->mm_scratch_size)))
                    return rc;
                for (int j = 0; j < m; j++) {
                    float *row = y + (size_t)f->lora_rows[j] * n_out;
                    const float *u = f->lora_u + (size_t)j * n_out;
                    for (int o = 0; o < n_out; o++)
                        row[o] += s * u[o];
                }
            }
        }
    }
    return 0;
}

/* Pair index of a block's matrix. */
static int block_target(int layer, ed_lora_role_t role)
{
    return layer * ED_LORA_PER_LAYER + (int)role;
}

/* x (n_embd) += s B a[token] for each adapter of `set` on token_embd (A is
 * the looked-up table there). */
static void lora_embed(const ed_forward_t *f, float *x, int32_t token, const ed_lora_set_t *set)
{
    for (int i = 0; set && i < set->n; i++) {
        const ed_lora_pair_t *p = ed_lora_token_embd(set->adapters[i]);
        if (!p)
            continue;
        float s = ed_lora_scale(set->adapters[i], p, set->scales[i]);
        const float *a = p->a + (size_t)token * p->rank;
        for (int o = 0; o < f->model->n_embd; o++) {
            const float *b = p->b + (size_t)o * p->rank;
            float sum = 0;
            for (int r = 0; r < p->rank; r++)
                sum += b[r] * a[r];
            x[o] += s * sum;
        }
    }
}

/* gemma: the looked-up embedding (with its adapters' part) times sqrt(n_embd) */
static void scale_embedding(const ed_forward_t *f, float *x)
{
    float s = f->model->embd_scale;
    for (int i = 0; s != 1.0f && i < f->model->n_embd; i++)
        x[i] *= s;
}

/* The output head over rows x (n, n_embd) whose sets are f->row_lora[0, n). */
static int output_rows(ed_forward_t *f, const float *x, float *logits, int n)
{
    const ed_model_t *m = f->model;
    int rc = matmul(f, &m->output, x, m->n_embd, logits, m->n_vocab, n);
    lora_group_rows(f, n);
    if (rc == 0 && f->n_lora_groups > 0)
        rc = lora_apply(f, m->n_layer * ED_LORA_PER_LAYER + 1, x, m->n_embd, logits, m->n_vocab, n);
    /* gemma2's final soft-capping, as llama.cpp: scale by 1/cap, tanh, scale by cap */
    for (size_t i = 0; m->final_softcap > 0 && i < (size_t)n * (size_t)m->n_vocab; i++)
        logits[i] = tanhf(logits[i] * (1.0f / m->final_softcap)) * m->final_softcap;
    return rc;
}

/* The per-row and elementwise steps of a batch, split over the pool: in a
 * long prompt they are a tenth of a thread's time, which would otherwise
 * leave the other threads waiting. Elementwise spans are cut at multiples
 * of ROWS_ALIGN elements, so every element takes the kernel's same vector
 * or tail step as in one call over the whole span: results are unchanged. */
#define ROWS_PER_CHUNK 16        /* rows of a per-row step per chunk */
#define ROWS_ELEMENTS (64 << 10) /* elements of an elementwise step per chunk */
#define ROWS_ALIGN 64

typedef enum { ROWS_RMSNORM, ROWS_ROPE, ROWS_ADD, ROWS_SWIGLU } rows_op_t;

typedef struct {
    ed_forward_t *f;
    rows_op_t op;
    int layer;       /* ROWS_ROPE */
    float *out;      /* RMSNORM: (n, n_embd); ADD, SWIGLU: n elements */
    const float *a;  /* RMSNORM: x, ADD: a, SWIGLU: gate */
    const float *b;  /* RMSNORM: weight, ADD: b, SWIGLU: up */
    size_t n;        /* rows (RMSNORM, ROPE) or elements (ADD, SWIGLU) */
} rows_job_t;

static void rope_rows(ed_forward_t *f, int l, size_t begin, size_t end);

static void rows_range(const rows_job_t *job, size_t begin, size_t end)
{
    ed_forward_t *f = job->f;
    const ed_kernels_t *k = f->kernels;
    int dim = f->model->n_embd;
    switch (job->op) {
    case ROWS_RMSNORM:
        for (size_t t = begin; t < end; t++)
            k->rmsnorm_forward(job->out + t * dim, job->a + t * dim, job->b, dim, f->model->rms_eps);
        break;
    case ROWS_ROPE: rope_rows(f, job->layer, begin, end); break;
    case ROWS_ADD: k->add(job->out + begin, job->a + begin, job->b + begin, (int)(end - begin)); break;
    case ROWS_SWIGLU: k->swiglu_forward(job->out + begin, job->a + begin, job->b + begin, (int)(end - begin)); break;
    }
}

static size_t rows_per_chunk(const rows_job_t *job)
{
    return job->op == ROWS_RMSNORM || job->op == ROWS_ROPE ? ROWS_PER_CHUNK : ROWS_ELEMENTS;
}

static void rows_chunk(void *arg, int chunk, int thread)
{
    const rows_job_t *job = arg;
    (void)thread;
    size_t begin = (size_t)chunk * rows_per_chunk(job), end = begin + rows_per_chunk(job);
    rows_range(job, begin, end < job->n ? end : job->n);
}

/* One chunk's worth or less runs here, more on the pool. */
static void run_rows(ed_forward_t *f, rows_op_t op, int layer, float *out, const float *a, const float *b, size_t n)
{
    rows_job_t job = {.f = f, .op = op, .layer = layer, .out = out, .a = a, .b = b, .n = n};
    size_t per = rows_per_chunk(&job);
    _Static_assert(ROWS_ELEMENTS % ROWS_ALIGN == 0, "elementwise chunks cut at vector-aligned elements");
    if (n <= per)
        rows_range(&job, 0, n);
    else
        ed_pool_run(f->pool, f->prio, (int)((n + per - 1) / per), rows_chunk, &job);
}

static void rmsnorm_rows(ed_forward_t *f, float *out, const float *x, const float *weight, int n)
{
    run_rows(f, ROWS_RMSNORM, 0, out, x, weight, (size_t)n);
}

static void add_bias_rows(ed_forward_t *f, float *x, const float *bias, int dim, int n)
{
    if (!bias)
        return;
    for (int t = 0; t < n; t++)
        f->kernels->add(x + (size_t)t * dim, x + (size_t)t * dim, bias, dim);
}

typedef struct {
    ed_forward_t *f;
    int layer;
    int heads_per_chunk; /* query heads of one KV head, all or a divisor of them */
} attention_job_t;

/* Chunk c: row c / (n_head / heads_per_chunk) of the batch, heads_per_chunk
 * query heads that share a KV head, attending to positions 0 .. row_pos of
 * the row's own sequence (read from memory once, then from L1/L2). */
static void attention_chunk(void *arg, int chunk, int thread)
{
    const attention_job_t *job = arg;
    ed_forward_t *f = job->f;
    const ed_model_t *m = f->model;
    int chunks_per_row = m->n_head / job->heads_per_chunk;
    int t = chunk / chunks_per_row, h = chunk % chunks_per_row * job->heads_per_chunk;
    const ed_kvcache_t *kv = f->row_kv[t];
    int window = m->layers[job->layer].sliding ? m->n_swa : 0, n_kv = 0;
    const uint16_t *k = ed_kvcache_k_span(kv, job->layer, f->row_pos[t], window, &n_kv);
    const uint16_t *v = ed_kvcache_v_span(kv, job->layer, f->row_pos[t], window, &n_kv);
    ed_attention_t shape = {
        .n_head = m->n_head,
        .n_kv_head = m->n_kv_head,
        .head_dim = m->head_dim,
        .n_kv = n_kv,
        .kv_row_stride = (size_t)m->kv_dim,
        .scale = m->attn_scale,
        .softcap = m->attn_softcap,
    };
    f->kernels->attention_forward(f->att + (size_t)t * m->q_dim, f->q + (size_t)t * m->q_dim, k, v, &shape, h,
                                  h + job->heads_per_chunk, f->att_scores + (size_t)thread * f->n_ctx);
}

/* Rows [begin, end) of q and k: qwen3's per-head norms, then RoPE. */
static void rope_rows(ed_forward_t *f, int l, size_t begin, size_t end)
{
    const ed_model_t *m = f->model;
    const ed_layer_t *L = &m->layers[l];
    const ed_kernels_t *k = f->kernels;
    for (size_t t = begin; t < end; t++) {
        float *q = f->q + t * m->q_dim, *key = f->k + t * m->kv_dim;
        const float *cos_sin = (L->sliding ? f->rope_cos_sin_swa : f->rope_cos_sin) + t * f->rope.n_rot;
        const ed_rope_t *rope = L->sliding ? &f->rope_swa : &f->rope;
        /* qwen3: every head of q and k RMS-normed (weight of head_dim) before RoPE */
        for (int h = 0; L->q_norm && h < m->n_head; h++)
            k->rmsnorm_forward(q + (size_t)h * m->head_dim, q + (size_t)h * m->head_dim, L->q_norm, m->head_dim,
                               m->rms_eps);
        for (int h = 0; L->k_norm && h < m->n_kv_head; h++)
            k->rmsnorm_forward(key + (size_t)h * m->head_dim, key + (size_t)h * m->head_dim, L->k_norm,
                               m->head_dim, m->rms_eps);
        if (L->rope) {
            k->rope_rotate(q, m->n_head, m->head_dim, cos_sin, rope);
            k->rope_rotate(key, m->n_kv_head, m->head_dim, cos_sin, rope);
        }
    }
}

/* One transformer block over the n rows of the batch in f->x; row t is at
 * position row_pos[t] of the sequence whose cache is row_kv[t]. */
static int block(ed_forward_t *f, int l, int n)
{
    const ed_model_t *m = f->model;
    const ed_layer_t *L = &m->layers[l];
    const ed_kernels_t *k = f->kernels;
    int rc;

    /* attention: qkv = norm(x) W^T (+ b), RoPE on q and k, k and v into the cache */
    rmsnorm_rows(f, f->xb, f->x, L->attn_norm, n);
    const ed_matrix_t *qkv[] = {&L->wq, &L->wk, &L->wv};
    float *qkv_out[] = {f->q, f->k, f->v};
    const int qkv_dims[] = {m->q_dim, m->kv_dim, m->kv_dim};
    if ((rc = matmul_many(f, qkv, f->xb, m->n_embd, qkv_out, qkv_dims, 3, n)) != 0)
        return rc;
    for (int i = 0; i < 3 && f->n_lora_groups > 0; i++)
        if ((rc = lora_apply(f, block_target(l, ED_LORA_ATTN_Q + i), f->xb, m->n_embd, qkv_out[i], qkv_dims[i], n)))
            return rc;
    add_bias_rows(f, f->q, L->bq, m->q_dim, n);
    add_bias_rows(f, f->k, L->bk, m->kv_dim, n);
    add_bias_rows(f, f->v, L->bv, m->kv_dim, n);
    run_rows(f, ROWS_ROPE, l, NULL, NULL, NULL, (size_t)n);
    for (int t = 0; t < n; t++) /* here: rows of one sequence share its cache's length */
        ed_kvcache_store(f->row_kv[t], l, f->row_pos[t], f->k + (size_t)t * m->kv_dim, f->v + (size_t)t * m->kv_dim);
    attention_job_t job = {.f = f, .layer = l, .heads_per_chunk = f->att_heads_per_chunk};
    ed_pool_run(f->pool, f->prio, n * (m->n_head / job.heads_per_chunk), attention_chunk, &job);
    if ((rc = matmul(f, &L->wo, f->att, m->q_dim, f->xb2, m->n_embd, n)) != 0 ||
        (f->n_lora_groups > 0 &&
         (rc = lora_apply(f, block_target(l, ED_LORA_ATTN_OUTPUT), f->att, m->q_dim, f->xb2, m->n_embd, n))))
        return rc;
    if (L->attn_post_norm)
        rmsnorm_rows(f, f->xb2, f->xb2, L->attn_post_norm, n);
    run_rows(f, ROWS_ADD, l, f->x, f->x, f->xb2, (size_t)n * m->n_embd);

    /* feed-forward: x += (silu(norm(x) Wg^T) * norm(x) Wu^T) Wd^T (gemma: gelu, and the sum normed) */
    rmsnorm_rows(f, f->xb, f->x, L->ffn_norm, n);
    const ed_matrix_t *gate_up[] = {&L->w_gate, &L->w_up};
    float *gate_up_out[] = {f->hb, f->hb2};
    const int ff_dims[] = {m->n_ff, m->n_ff};
    if ((rc = matmul_many(f, gate_up, f->xb, m->n_embd, gate_up_out, ff_dims, 2, n)) != 0)
        return rc;
    for (int i = 0; i < 2 && f->n_lora_groups > 0; i++)
        if ((rc = lora_apply(f, block_target(l, ED_LORA_FFN_GATE + i), f->xb, m->n_embd, gate_up_out[i], m->n_ff, n)))
            return rc;
    if (m->gelu_ffn) {
        k->gelu_forward(f->hb, f->hb, n * m->n_ff);
        k->mul(f->hb, f->hb, f->hb2, n * m->n_ff);
    } else {
        run_rows(f, ROWS_SWIGLU, l, f->hb, f->hb, f->hb2, (size_t)n * m->n_ff);
    }
    if ((rc = matmul(f, &L->w_down, f->hb, m->n_ff, f->xb2, m->n_embd, n)) != 0 ||
        (f->n_lora_groups > 0 &&
         (rc = lora_apply(f, block_target(l, ED_LORA_FFN_DOWN), f->hb, m->n_ff, f->xb2, m->n_embd, n))))
        return rc;
    if (L->ffn_post_norm)
        rmsnorm_rows(f, f->xb2, f->xb2, L->ffn_post_norm, n);
    run_rows(f, ROWS_ADD, l, f->x, f->x, f->xb2, (size_t)n * m->n_embd);
    return 0;
}

/* Every layer over the n rows of the batch, their RoPE angles computed once
 * and their adapter sets grouped once. */
static int layers(ed_forward_t *f, int n)
{
    const ed_model_t *m = f->model;
    int rc = 0;
    lora_group_rows(f, n);
    for (int t = 0; t < n; t++) {
        float *cos_sin = f->rope_cos_sin + (size_t)t * f->rope.n_rot;
        ed_rope_cos_sin(&f->rope, f->row_pos[t], cos_sin);
        /* <arch>.rope.scaling.attn_factor: ggml's rope multiplies cos and sin by it (phi3 LongRoPE) */
        for (int i = 0; m->rope_attn_factor > 0 && m->rope_attn_factor != 1.0f && i < f->rope.n_rot; i++)
            cos_sin[i] *= m->rope_attn_factor;
        if (f->own_swa_angles)
            ed_rope_cos_sin(&f->rope_swa, f->row_pos[t], f->rope_cos_sin_swa + (size_t)t * f->rope.n_rot);
    }
    for (int l = 0; l < m->n_layer && rc == 0; l++)
        rc = block(f, l, n);
    return rc;
}

/* One batch of n <= n_batch tokens at positions kv.n_used ...; logits of
 * every row into all_logits (n, n_vocab) when non-NULL, and of the last
 * row into f->logits when want_last (the last batch of a call). */
static int batch(ed_forward_t *f, const int32_t *tokens, int n, float *all_logits, bool want_last)
{
    const ed_model_t *m = f->model;
    int pos0 = f->kv.n_used, rc;
    for (int t = 0; t < n; t++) {
        f->kernels->get_row(f->x + (size_t)t * m->n_embd, m->token_embd.data, m->token_embd.type,
                            tokens[t], m->n_embd);
        lora_embed(f, f->x + (size_t)t * m->n_embd, tokens[t], f->lora);
        scale_embedding(f, f->x + (size_t)t * m->n_embd);
        f->row_kv[t] = &f->kv;
        f->row_pos[t] = pos0 + t;
        f->row_lora[t] = f->lora;
    }
    if ((rc = layers(f, n)) != 0)
        return rc;
    f->kv.n_used = pos0 + n;

    size_t last = (size_t)(n - 1) * m->n_embd;
    if (all_logits) {
        rmsnorm_rows(f, f->xb, f->x, m->output_norm, n);
        if ((rc = output_rows(f, f->xb, all_logits, n)) != 0)
            return rc;
        memcpy(f->logits, all_logits + (size_t)(n - 1) * m->n_vocab, (size_t)m->n_vocab * sizeof(float));
        return 0;
    }
    if (!want_last)
        return 0;
    rmsnorm_rows(f, f->xb + last, f->x + last, m->output_norm, 1);
    return output_rows(f, f->xb + last, f->logits, 1);
}

int ed_forward_eval(ed_forward_t *f, const int32_t *tokens, int n_tokens, float *all_logits,
                    char err[ED_ERR_LEN])
{
    const ed_model_t *m = f->model;
    if (n_tokens < 1) {
        snprintf(err, ED_ERR_LEN, "forward: %d tokens to evaluate, expected at least 1", n_tokens);
        return ED_EINVAL;
    }
    if (n_tokens > f->kv.n_ctx - f->kv.n_used) {
        snprintf(err, ED_ERR_LEN, "context overflow: %d cached + %d new tokens > n_ctx %d", f->kv.n_used,
                 n_tokens, f->kv.n_ctx);
        return ED_ERANGE;
    }
    for (int i = 0; i < n_tokens; i++)
        if (tokens[i] < 0 || tokens[i] >= m->n_vocab) {
            snprintf(err, ED_ERR_LEN, "token %d at index %d is outside the vocabulary of %d", tokens[i],
                     i, m->n_vocab);
            return ED_EINVAL;
        }
    int rc = check_lora_set(f, f->lora, err);
    if (rc != 0)
        return rc;
    int n_used = f->kv.n_used;
    for (int i = 0; i < n_tokens; i += f->n_batch) {
        int n = n_tokens - i < f->n_batch ? n_tokens - i : f->n_batch;
        rc = batch(f, tokens + i, n, all_logits ? all_logits + (size_t)i * m->n_vocab : NULL, i + n == n_tokens);
        if (rc != 0) {
            f->kv.n_used = n_used;
            snprintf(err, ED_ERR_LEN, "forward: matrix product failed: %s", ed_strerror(rc));
            return rc;
        }
    }
    return 0;
}

/* A ring holds the window of a sliding layer, never a layer that attends to all. */
static bool rings_fit(const ed_model_t *m, const ed_kvcache_t *kv)
{
    for (int l = 0; l < m->n_layer; l++)
        if (kv->layers[l].ring && (!m->layers[l].sliding || kv->layers[l].window != m->n_swa))
            return false;
    return true;
}

int ed_forward_eval_seqs(ed_forward_t *f, ed_forward_seq_t *seqs, int n_seqs, char err[ED_ERR_LEN])
{
    const ed_model_t *m = f->model;
    if (n_seqs < 1 || n_seqs > f->n_seq_max) {
        snprintf(err, ED_ERR_LEN, "forward: %d sequences in one pass, expected 1 to %d", n_seqs, f->n_seq_max);
        return ED_EINVAL;
    }
    int n = 0;
    for (int s = 0; s < n_seqs; s++) {
        const ed_forward_seq_t *q = &seqs[s];
        if (q->n_tokens < 1 || q->n_tokens > f->n_batch - n) {
            snprintf(err, ED_ERR_LEN, "forward: sequence %d brings %d tokens; the pass holds %d, %d taken",
                     s, q->n_tokens, f->n_batch, n);
            return ED_EINVAL;
        }
        if (q->kv->n_layer != m->n_layer || q->kv->kv_dim != m->kv_dim || q->kv->n_ctx > f->n_ctx ||
            !rings_fit(m, q->kv)) {
            snprintf(err, ED_ERR_LEN, "forward: sequence %d's cache does not fit this model", s);
            return ED_EINVAL;
        }
        if (q->kv->n_append > 0 && q->n_tokens > q->kv->n_append) {
            snprintf(err, ED_ERR_LEN, "forward: sequence %d brings %d tokens; its cache's rings take %d a pass", s,
                     q->n_tokens, q->kv->n_append);
            return ED_EINVAL;
        }
        if (q->n_tokens > q->kv->n_ctx - q->kv->n_used) {
            snprintf(err, ED_ERR_LEN, "context overflow: %d cached + %d new tokens > n_ctx %d", q->kv->n_used,
                     q->n_tokens, q->kv->n_ctx);
            return ED_ERANGE;
        }
        for (int r = 0; r < s; r++)
            if (seqs[r].kv == q->kv) {
                snprintf(err, ED_ERR_LEN, "forward: sequences %d and %d share a cache", r, s);
                return ED_EINVAL;
            }
        int rc = check_lora_set(f, q->lora, err);
        if (rc != 0)
            return rc;
        for (int i = 0; i < q->n_tokens; i++) {
            if (q->tokens[i] < 0 || q->tokens[i] >= m->n_vocab) {
                snprintf(err, ED_ERR_LEN, "token %d at index %d of sequence %d is outside the vocabulary of %d",
                         q->tokens[i], i, s, m->n_vocab);
                return ED_EINVAL;
            }
            f->kernels->get_row(f->x + (size_t)n * m->n_embd, m->token_embd.data, m->token_embd.type,
                                q->tokens[i], m->n_embd);
            lora_embed(f, f->x + (size_t)n * m->n_embd, q->tokens[i], q->lora);
            scale_embedding(f, f->x + (size_t)n * m->n_embd);
            f->row_kv[n] = q->kv;
            f->row_pos[n] = q->kv->n_used + i;
            f->row_lora[n] = q->lora;
            n++;
        }
    }

    int rc = layers(f, n);
    if (rc != 0) {
        snprintf(err, ED_ERR_LEN, "forward: matrix product failed: %s", ed_strerror(rc));
        return rc;
    }

    /* the final norm of every row a sequence pools, and of each last row
     * that wants logits, gathered so one product serves them all */
    int row = 0, n_want = 0;
    for (int s = 0; s < n_seqs; s++) {
        ed_forward_seq_t *q = &seqs[s];
        if (q->hidden_sum) {
            for (int i = 0; i < q->n_tokens; i++) {
                float *h = f->xb + (size_t)(row + i) * m->n_embd;
                rmsnorm_rows(f, h, f->x + (size_t)(row + i) * m->n_embd, m->output_norm, 1);
                f->kernels->add(q->hidden_sum, q->hidden_sum, h, m->n_embd);
            }
        }
        if (q->logits) {
            f->row_lora[n_want] = q->lora; /* the layers are done with the rows' sets */
            rmsnorm_rows(f, f->xg + (size_t)n_want++ * m->n_embd,
                         f->x + (size_t)(row + q->n_tokens - 1) * m->n_embd, m->output_norm, 1);
        }
        row += q->n_tokens;
        q->kv->n_used += q->n_tokens;
    }
    if (n_want > 0 && (rc = output_rows(f, f->xg, f->logits, n_want)) != 0) {
        snprintf(err, ED_ERR_LEN, "forward: output product failed: %s", ed_strerror(rc));
        return rc;
    }
    for (int s = 0, w = 0; s < n_seqs; s++)
        if (seqs[s].logits)
            memcpy(seqs[s].logits, f->logits + (size_t)w++ * m->n_vocab, (size_t)m->n_vocab * sizeof(float));
    return 0;
}
