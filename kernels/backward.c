/* backward.c - the pooled drivers of backward.h: the input gradient of a
 * frozen quantized product by dequantized tiles, LoRA pair gradients,
 * attention backward over KV heads and the chunked fused cross-entropy. Each
 * splits its work so that no two chunks write the same output element, so
 * results do not depend on the thread count. */
#include "kernels/backward.h"
#include "kernels/error.h"
#include "kernels/matmul.h"

#include <string.h>

#define ED_LORA_ROWS 16     /* batch rows per chunk of the LoRA products */
#define ED_LORA_OUT_ROWS 64 /* rows of db per chunk */
/* multiply-adds per chunk of dx = dy w, about a millisecond on a small core:
 * a training chunk running on a worker when inference arrives holds that
 * core until it ends, so no chunk may be long (the vocabulary's product has
 * 32k+ rows) */
#define ED_BWD_CHUNK_MACS (1 << 22)

static int min_int(int a, int b)
{
    return a < b ? a : b;
}

static size_t align64(size_t n)
{
    return (n + 63) & ~(size_t)63;
}

/* ---- dx = dy w ---- */

typedef struct {
    const ed_kernels_t *k;
    const ed_matmul_backward_t *m;
    ed_to_float_fn to_float; /* NULL: f32 weights, read in place */
    size_t w_row_bytes;
    size_t block_len, block_size; /* of a group of blocks */
    float *scratch;          /* ED_BWD_TILE_ROWS * ED_BWD_TILE_COLS floats per thread */
    int strip;               /* columns of dx per chunk: a multiple of block_len, <= ED_BWD_TILE_COLS */
} bwd_job_t;

static void bwd_strip(void *arg, int chunk, int thread)
{
    const bwd_job_t *job = arg;
    const ed_matmul_backward_t *m = job->m;
    int c0 = chunk * job->strip, width = min_int(job->strip, m->n_in - c0);
    float *dx = m->dx + c0;
    if (!m->accumulate)
        for (int r = 0; r < m->n_batch; r++)
            memset(dx + (size_t)r * m->n_in, 0, sizeof(float) * (size_t)width);
    float *tile = job->scratch ? job->scratch + (size_t)thread * ED_BWD_TILE_ROWS * ED_BWD_TILE_COLS : NULL;
    const uint8_t *w = m->w;
    size_t col_bytes = (size_t)c0 / job->block_len * job->block_size;
    for (int o0 = 0; o0 < m->n_out; o0 += ED_BWD_TILE_ROWS) {
        int rows = min_int(ED_BWD_TILE_ROWS, m->n_out - o0);
        const float *b;
        size_t ldb;
        if (job->to_float) {
            for (int o = 0; o < rows; o++)
                job->to_float(w + (size_t)(o0 + o) * job->w_row_bytes + col_bytes, tile + (size_t)o * width, width);
            b = tile;
            ldb = (size_t)width;
        } else {
            b = (const float *)m->w + (size_t)o0 * m->n_in + c0;
            ldb = (size_t)m->n_in;
        }
        job->k->gemm_f32_nn(m->n_batch, width, rows, m->dy + o0, (size_t)m->n_out, b, ldb, dx, (size_t)m->n_in);
    }
}

size_t ed_matmul_backward_scratch_size(int w_type, int n_threads)
{
    if (w_type == ED_TYPE_F32 || n_threads < 1)
        return 0;
    return (size_t)n_threads * ED_BWD_TILE_ROWS * ED_BWD_TILE_COLS * sizeof(float);
}

int ed_matmul_backward_input(const ed_kernels_t *k, ed_pool_t *pool, ed_pool_prio_t prio,
                             const ed_matmul_backward_t *m, void *scratch, size_t scratch_size)
{
    const ed_quant_traits_t *traits = ed_quant_traits(m->w_type);
    const ed_type_info_t *info = ed_type_info(m->w_type);
    uint64_t row_bytes = 0;
    if (!traits || !traits->to_float || !info || m->n_in <= 0 || m->n_out <= 0 || m->n_batch <= 0 ||
        ED_BWD_TILE_COLS % (info->block_len * info->group) != 0 ||
        ed_type_row_size(m->w_type, (uint64_t)m->n_in, &row_bytes) != 0 || !m->dy || !m->dx)
        return ED_KERR_EINVAL;
    /* a strip starts at a whole group of blocks (the repacked layouts
     * interleave ED_R8 blocks; file types have groups of one) */
    bwd_job_t job = {.k = k, .m = m, .w_row_bytes = (size_t)row_bytes,
                     .block_len = (size_t)info->block_len * info->group,
                     .block_size = (size_t)info->block_size * info->group};
    if (m->w_type != ED_TYPE_F32) {
        if (!scratch || scratch_size < ed_matmul_backward_scratch_size(m->w_type, ed_pool_n_threads(pool)))
            return ED_KERR_EINVAL;
        job.to_float = traits->to_float;
        job.scratch = scratch;
    }
    /* strips as wide as the tile, narrowed (down to one group of blocks)
     * while a chunk would exceed ED_BWD_CHUNK_MACS; the split only decides
     * which thread computes a column, so results do not change */
    long long per_col = (long long)m->n_out * m->n_batch;
    job.strip = ED_BWD_TILE_COLS;
    while (job.strip > 32 && job.strip > (int)job.block_len && job.strip % (2 * (int)job.block_len) == 0 &&
           per_col * job.strip > ED_BWD_CHUNK_MACS)
        job.strip /= 2;
    ed_pool_run(pool, prio, (m->n_in + job.strip - 1) / job.strip, bwd_strip, &job);
    return 0;
}

/* ---- LoRA ---- */

typedef struct {
    const ed_kernels_t *k;
    const ed_lora_backward_t *l;
    float *u; /* (n_batch, rank) scale * x A^T */
    float *g; /* (n_batch, rank) scale * dy B */
    int n_db_chunks;
} lora_job_t;

static void lora_rows(void *arg, int chunk, int thread)
{
    const lora_job_t *job = arg;
    const ed_lora_backward_t *l = job->l;
    (void)thread;
    int r0 = chunk * ED_LORA_ROWS, rows = min_int(ED_LORA_ROWS, l->n_batch - r0);
    float *u = job->u + (size_t)r0 * l->rank, *g = job->g + (size_t)r0 * l->rank;
    size_t n = (size_t)rows * l->rank;
    memset(u, 0, sizeof(float) * n);
    memset(g, 0, sizeof(float) * n);
    job->k->gemm_f32_nt(rows, l->rank, l->n_in, l->x + (size_t)r0 * l->n_in, (size_t)l->n_in, l->a,
                        (size_t)l->n_in, u, (size_t)l->rank);
    job->k->gemm_f32_nn(rows, l->rank, l->n_out, l->dy + (size_t)r0 * l->n_out, (size_t)l->n_out, l->b,
                        (size_t)l->rank, g, (size_t)l->rank);
    for (size_t i = 0; i < n; i++) {
        u[i] *= l->scale;
        g[i] *= l->scale;
    }
}

static void lora_grads(void *arg, int chunk, int thread)
{
    const lora_job_t *job = arg;
    const ed_lora_backward_t *l = job->l;
    (void)thread;
    if (chunk < job->n_db_chunks) {
        int o0 = chunk * ED_LORA_OUT_ROWS, rows = min_int(ED_LORA_OUT_ROWS, l->n_out - o0);
        job->k->gemm_f32_tn(rows, l->rank, l->n_batch, l->dy + o0, (size_t)l->n_out, job->u, (size_t)l->rank,
                            l->db + (size_t)o0 * l->rank, (size_t)l->rank);
        return;
    }
    int c0 = (chunk - job->n_db_chunks) * ED_BWD_TILE_COLS, width = min_int(ED_BWD_TILE_COLS, l->n_in - c0);
    job->k->gemm_f32_tn(l->rank, width, l->n_batch, job->g, (size_t)l->rank, l->x + c0, (size_t)l->n_in,
                        l->da + c0, (size_t)l->n_in);
    if (l->dx)
        job->k->gemm_f32_nn(l->n_batch, width, l->rank, job->g, (size_t)l->rank, l->a + c0, (size_t)l->n_in,
                            l->dx + c0, (size_t)l->n_in);
}

size_t ed_lora_backward_scratch_floats(int rank, int n_batch)
{
    return rank > 0 && n_batch > 0 ? 2 * (size_t)rank * (size_t)n_batch : 0;
}

int ed_lora_backward(const ed_kernels_t *k, ed_pool_t *pool, ed_pool_prio_t prio, const ed_lora_backward_t *l,
                     float *scratch, size_t scratch_floats)
{
    if (l->n_in <= 0 || l->n_out <= 0 || l->rank <= 0 || l->n_batch <= 0 || !l->x || !l->a || !l->b || !l->dy ||
        !l->da || !l->db || !scratch || scratch_floats < ed_lora_backward_scratch_floats(l->rank, l->n_batch))
        return ED_KERR_EINVAL;
    lora_job_t job = {.k = k, .l = l, .u = scratch, .g = scratch + (size_t)l->n_batch * l->rank,
                      .n_db_chunks = (l->n_out + ED_LORA_OUT_ROWS - 1) / ED_LORA_OUT_ROWS};
    ed_pool_run(pool, prio, (l->n_batch + ED_LORA_ROWS - 1) / ED_LORA_ROWS, lora_rows, &job);
    ed_pool_run(pool, prio, job.n_db_chunks + (l->n_in + ED_BWD_TILE_COLS - 1) / ED_BWD_TILE_COLS, lora_grads,
                &job);
    return 0;
}

/* ---- attention ---- */

typedef struct {
    const ed_kernels_t *k;
    float *dq, *dk, *dv;
    const float *q, *kk, *v, *dout;
    const ed_attention_train_t *shape;
    float *scratch;
} attn_job_t;

static void attn_head(void *arg, int chunk, int thread)
{
    const attn_job_t *job = arg;
    job->k->attention_backward(job->dq, job->dk, job->dv, job->q, job->kk, job->v, job->dout, job->shape, chunk,
                               chunk + 1, job->scratch + (size_t)thread * 2 * job->shape->n_tok);
}

int ed_attention_backward(const ed_kernels_t *k, ed_pool_t *pool, ed_pool_prio_t prio, float *dq, float *dk,
                          float *dv, const float *q, const float *kk, const float *v, const float *dout,
                          const ed_attention_train_t *shape, float *scratch, size_t scratch_floats)
{
    if (shape->n_tok <= 0 || shape->n_head <= 0 || shape->n_kv_head <= 0 || shape->head_dim <= 0 ||
        shape->n_head % shape->n_kv_head != 0 || !scratch ||
        scratch_floats < (size_t)ed_pool_n_threads(pool) * 2 * (size_t)shape->n_tok)
        return ED_KERR_EINVAL;
    attn_job_t job = {k, dq, dk, dv, q, kk, v, dout, shape, scratch};
    ed_pool_run(pool, prio, shape->n_kv_head, attn_head, &job);
    return 0;
}

/* ---- fused cross-entropy ---- */

typedef struct {
    const ed_kernels_t *k;
    const ed_cross_entropy_t *c;
    float *logits; /* (rows, n_vocab), turned into dlogits in place */
    float *losses; /* (rows) */
    int r0;
} ce_job_t;

static void ce_row(void *arg, int chunk, int thread)
{
    const ce_job_t *job = arg;
    (void)thread;
    float *row = job->logits + (size_t)chunk * job->c->n_vocab;
    job->losses[chunk] =
        job->k->cross_entropy_backward(row, row, job->c->n_vocab, job->c->targets[job->r0 + chunk], job->c->grad_scale);
}

size_t ed_cross_entropy_scratch_size(const ed_cross_entropy_t *c, int n_threads)
{
    if (c->chunk_rows < 1 || c->n_vocab < 1 || c->n_embd < 1)
        return 0;
    return align64((size_t)c->chunk_rows * c->n_vocab * sizeof(float)) +
           align64((size_t)c->chunk_rows * sizeof(float)) +
           align64(ed_matmul_scratch_size(c->w_type, c->n_embd, c->chunk_rows)) +
           ed_matmul_backward_scratch_size(c->w_type, n_threads);
}

int ed_cross_entropy(const ed_kernels_t *k, ed_pool_t *pool, ed_pool_prio_t prio, const ed_cross_entropy_t *c,
                     void *scratch, size_t scratch_size, double *loss_sum, int *n_counted)
{
    if (c->chunk_rows < 1 || c->n_rows < 1 || c->n_vocab < 1 || c->n_embd < 1 || !c->h || !c->w || !c->targets ||
        !scratch || scratch_size < ed_cross_entropy_scratch_size(c, ed_pool_n_threads(pool)))
        return ED_KERR_EINVAL;
    uint8_t *base = scratch;
    float *logits = (float *)base;
    size_t off = align64((size_t)c->chunk_rows * c->n_vocab * sizeof(float));
    float *losses = (float *)(base + off);
    off += align64((size_t)c->chunk_rows * sizeof(float));
    size_t fwd_size = align64(ed_matmul_scratch_size(c->w_type, c->n_embd, c->chunk_rows));
    void *fwd = base + off, *bwd = base + off + fwd_size;
    size_t bwd_size = scratch_size - off - fwd_size;
    double sum = 0;
    int counted = 0;
    for (int r0 = 0; r0 < c->n_rows; r0 += c->chunk_rows) {
        int rows = min_int(c->chunk_rows, c->n_rows - r0);
        ed_matmul_t m = {c->w, c->w_type, c->n_embd, c->n_vocab, c->h + (size_t)r0 * c->n_embd, logits, rows};
        int rc = ed_matmul_forward(k, pool, prio, &m, fwd, fwd_size);
        if (rc != 0)
            return rc;
        ce_job_t job = {k, c, logits, losses, r0};
        ed_pool_run(pool, prio, rows, ce_row, &job);
        for (int r = 0; r < rows; r++)
            if (c->targets[r0 + r] >= 0 && c->targets[r0 + r] < c->n_vocab) {
                sum += losses[r];
                counted++;
            }
        if (c->dh) {
            ed_matmul_backward_t b = {c->w, c->w_type, c->n_embd, c->n_vocab, logits,
                                      c->dh + (size_t)r0 * c->n_embd, rows, 0};
            rc = ed_matmul_backward_input(k, pool, prio, &b, bwd, bwd_size);
            if (rc != 0)
                return rc;
        }
    }
    *loss_sum = sum;
    *n_counted = counted;
    return 0;
}
