/* matmul.c - the product drivers of matmul.h: quantize the activations once
 * (in parallel for a batch), then split the weight rows into chunks over the
 * pool. A chunk of a batch product walks panels of ED_MATMUL_PANEL_COLS
 * activation rows, so its weight rows stay in L1/L2 while every panel streams
 * past them; the op table's micro-kernel does the register tiling inside. */
#include "kernels/matmul.h"
#include "kernels/error.h"

#include <stdint.h>

#define ED_MATMUL_PANEL_COLS 64   /* activation rows per panel: 64 x 2 KiB fits in L2 */
#define ED_MATMUL_PANEL_ROWS 64   /* weight rows per batch chunk */
#define ED_MATMUL_QUANT_ROWS 8    /* activation rows quantized per chunk */
#define ED_MATMUL_CHUNKS_PER_THREAD 8 /* matrix-vector: chunks per thread, for balance */
#define ED_MATMUL_MIN_CHUNK_BYTES (128 << 10) /* matrix-vector: weights a chunk streams at least (a chunk
                                                * starts a new stream, which the prefetcher has to pick up) */
#define ED_MATMUL_FEW_ROWS 4      /* up to this many activation rows split like a matrix-vector product */

typedef struct {
    const ed_kernels_t *k;
    const ed_matmul_t *m;     /* (count) products of the same x */
    int count;
    const uint8_t *act;       /* (n_batch, act_row_bytes): x in vec_dot_type */
    size_t act_row_bytes;
    size_t w_row_bytes[ED_MATMUL_MAX_MANY];
    int n_blocks[ED_MATMUL_MAX_MANY];       /* blocks per weight row */
    int rows_per_chunk[ED_MATMUL_MAX_MANY];
    int first_chunk[ED_MATMUL_MAX_MANY + 1]; /* product i owns chunks [first_chunk[i], first_chunk[i + 1]) */
    ed_from_float_fn quantize; /* NULL when the activations stay f32 */
    uint8_t *scratch;
} matmul_job_t;

static int min_int(int a, int b)
{
    return a < b ? a : b;
}

static void quantize_chunk(void *arg, int chunk, int thread)
{
    matmul_job_t *job = arg;
    const ed_matmul_t *m = job->m;
    (void)thread;
    int end = min_int((chunk + 1) * ED_MATMUL_QUANT_ROWS, m->n_batch);
    for (int row = chunk * ED_MATMUL_QUANT_ROWS; row < end; row++)
        job->quantize(m->x + (size_t)row * m->n_in, job->scratch + (size_t)row * job->act_row_bytes,
                      m->n_in);
}

/* Rows [begin, end) of y for activation rows [col_begin, col_end), one dot
 * product at a time: the path of types without a micro-kernel. */
static void dot_tile(const matmul_job_t *job, const ed_matmul_t *m, size_t w_row_bytes, int begin, int end,
                     int col_begin, int col_end)
{
    ed_vec_dot_fn dot = job->k->vec_dot[m->w_type];
    const uint8_t *w = m->w;
    for (int col = col_begin; col < col_end; col++) {
        const uint8_t *act = job->act + (size_t)col * job->act_row_bytes;
        float *y = m->y + (size_t)col * m->n_out;
        for (int row = begin; row < end; row++)
            dot(m->n_in, &y[row], w + (size_t)row * w_row_bytes, act);
    }
}

static void product_chunk(void *arg, int chunk, int thread)
{
    const matmul_job_t *job = arg;
    int i = 0;
    while (chunk >= job->first_chunk[i + 1])
        i++;
    const ed_matmul_t *m = &job->m[i];
    size_t w_row_bytes = job->w_row_bytes[i];
    ed_gemm_fn gemm = job->k->gemm[m->w_type];
    (void)thread;
    int begin = (chunk - job->first_chunk[i]) * job->rows_per_chunk[i];
    int end = min_int(begin + job->rows_per_chunk[i], m->n_out);
    for (int col = 0; col < m->n_batch; col += ED_MATMUL_PANEL_COLS) {
        int col_end = min_int(col + ED_MATMUL_PANEL_COLS, m->n_batch);
        if (gemm)
            gemm(job->n_blocks[i], (const uint8_t *)m->w + (size_t)begin * w_row_bytes, w_row_bytes, end - begin,
                 job->act + (size_t)col * job->act_row_bytes, job->act_row_bytes, col_end - col,
                 m->y + (size_t)col * m->n_out + begin, (size_t)m->n_out);
        else
            dot_tile(job, m, w_row_bytes, begin, end, col, col_end);
    }
}

size_t ed_matmul_scratch_size(int w_type, int n_in, int n_batch)
{
    const ed_quant_traits_t *traits = ed_quant_traits(w_type);
    uint64_t row_bytes = 0;
    if (!traits || traits->vec_dot_type == ED_TYPE_F32 || n_in <= 0 || n_batch <= 0 ||
        ed_type_row_size(traits->vec_dot_type, (uint64_t)n_in, &row_bytes) != 0)
        return 0;
    return (size_t)row_bytes * (size_t)n_batch;
}

int ed_matmul_forward_many(const ed_kernels_t *k, ed_pool_t *pool, ed_pool_prio_t prio, const ed_matmul_t *ms,
                           int count, void *scratch, size_t scratch_size)
{
    if (count < 1 || count > ED_MATMUL_MAX_MANY)
        return ED_KERR_EINVAL;
    const ed_quant_traits_t *traits = ed_quant_traits(ms[0].w_type);
    matmul_job_t job = {.k = k, .m = ms, .count = count, .act = (const uint8_t *)ms[0].x};
    int n_threads = ed_pool_n_threads(pool);
    for (int i = 0; i < count; i++) {
        const ed_matmul_t *m = &ms[i];
        const ed_quant_traits_t *t = ed_quant_traits(m->w_type);
        const ed_type_info_t *info = ed_type_info(m->w_type);
        uint64_t w_row_bytes = 0;
        if (!traits || !t || !info || t->vec_dot_type != traits->vec_dot_type || !k->vec_dot[m->w_type] ||
            m->n_in <= 0 || m->n_out <= 0 || m->n_batch <= 0 || m->x != ms[0].x || m->n_in != ms[0].n_in ||
            m->n_batch != ms[0].n_batch || ed_type_row_size(m->w_type, (uint64_t)m->n_in, &w_row_bytes) != 0)
            return ED_KERR_EINVAL;
        job.w_row_bytes[i] = (size_t)w_row_bytes;
        job.n_blocks[i] = m->n_in / (int)info->block_len;
        if (m->n_batch <= ED_MATMUL_FEW_ROWS) {
            int n_chunks = n_threads * ED_MATMUL_CHUNKS_PER_THREAD;
            int min_rows = (int)((ED_MATMUL_MIN_CHUNK_BYTES + w_row_bytes - 1) / w_row_bytes);
            job.rows_per_chunk[i] = (m->n_out + n_chunks - 1) / n_chunks;
            if (job.rows_per_chunk[i] < min_rows)
                job.rows_per_chunk[i] = min_rows;
        } else {
            job.rows_per_chunk[i] = ED_MATMUL_PANEL_ROWS;
            while (job.rows_per_chunk[i] > 8 && m->n_out / job.rows_per_chunk[i] < 2 * n_threads)
                job.rows_per_chunk[i] /= 2;
        }
        job.first_chunk[i + 1] = job.first_chunk[i] + (m->n_out + job.rows_per_chunk[i] - 1) / job.rows_per_chunk[i];
    }
    const ed_matmul_t *m = &ms[0];
    uint64_t act_row_bytes = (uint64_t)m->n_in * sizeof(float);
    if (traits->vec_dot_type != ED_TYPE_F32) {
        const ed_quant_traits_t *act_traits = ed_quant_traits(traits->vec_dot_type);
        if (!act_traits || ed_type_row_size(traits->vec_dot_type, (uint64_t)m->n_in, &act_row_bytes) != 0 ||
            scratch_size < ed_matmul_scratch_size(m->w_type, m->n_in, m->n_batch))
            return ED_KERR_EINVAL;
        job.quantize = k->quantize[traits->vec_dot_type] ? k->quantize[traits->vec_dot_type] : act_traits->from_float;
        job.scratch = scratch;
        job.act = scratch;
    }
    job.act_row_bytes = (size_t)act_row_bytes;

    if (job.quantize && m->n_batch <= ED_MATMUL_QUANT_ROWS) /* one chunk: not worth waking the pool */
        quantize_chunk(&job, 0, 0);
    else if (job.quantize)
        ed_pool_run(pool, prio, (m->n_batch + ED_MATMUL_QUANT_ROWS - 1) / ED_MATMUL_QUANT_ROWS,
                    quantize_chunk, &job);
    ed_pool_run(pool, prio, job.first_chunk[count], product_chunk, &job);
    return 0;
}

int ed_matmul_forward(const ed_kernels_t *k, ed_pool_t *pool, ed_pool_prio_t prio,
                      const ed_matmul_t *m, void *scratch, size_t scratch_size)
{
    return ed_matmul_forward_many(k, pool, prio, m, 1, scratch, scratch_size);
}
