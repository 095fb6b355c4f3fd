/* backward_q8.c - dx = dy w through the op table's int8 batch products
 * (ed_matmul_backward_input_q8): w^T is a weight matrix of n_in rows of
 * n_out elements, re-quantized a strip of rows at a time to q8_0_r8 in
 * per-thread scratch, and dy is quantized once to its activation format
 * q8_0_x8; then k->gemm[ED_TYPE_Q8_0_R8] multiplies, as in prompt processing. */
#include "kernels/backward.h"
#include "kernels/error.h"
#include "kernels/repack.h"

#include <string.h>

#define Q8_STRIP 64      /* columns of dx (rows of w^T) per chunk, or one group of w's blocks when wider */
#define Q8_PANEL 64      /* dy rows per micro-kernel call: their quants stay in L2 while the strip passes */
#define Q8_QUANT_ROWS 8  /* dy rows quantized per chunk */

static int min_int(int a, int b)
{
    return a < b ? a : b;
}

static size_t align64(size_t n)
{
    return (n + 63) & ~(size_t)63;
}

/* Decoders of one row of w for the formats a model's products use (the
 * others take the traits' to_float): `width` elements of a row (src at the
 * strip's first column) to row[0, width), with the arithmetic of the traits'
 * dequantizer (the same values bit for bit: -std=c11 keeps a * b - c
 * unfused), 4 lanes at a time in GNU C vectors, which GCC and Clang lower to
 * SSE2 or NEON without a per-ISA file. width is a multiple of the type's
 * block (for the r8 layouts the last group may be partial). */
typedef void (*decode_fn)(const uint8_t *src, int width, float *row);

typedef int32_t v4i __attribute__((vector_size(16)));
typedef float v4f __attribute__((vector_size(16)));

typedef uint32_t v4u __attribute__((vector_size(16)));

static inline v4i bytes_u8(const uint8_t *p) /* 4 unsigned bytes, zero-extended */
{
    uint32_t w;
    memcpy(&w, p, 4);
    v4u x = {w, w, w, w};
    return (v4i)((x >> (v4u){0, 8, 16, 24}) & 255);
}

static inline v4i bytes_s8(const int8_t *p) /* 4 signed bytes, sign-extended */
{
    uint32_t w;
    memcpy(&w, p, 4);
    v4u x = {w, w, w, w};
    return (v4i)(x << (v4u){24, 16, 8, 0}) >> 24;
}

static inline void put4(float *dst, v4f v)
{
    memcpy(dst, &v, sizeof v);
}

static inline v4f to_v4f(v4i x)
{
    return __builtin_convertvector(x, v4f);
}

/* ed_fp16_to_fp32 inline for normal numbers (exact: the exponent is
 * rebiased and the mantissa widened); zero, subnormals, inf and NaN call it */
static inline float fp16_to_fp32(uint16_t h)
{
    uint32_t e = (h >> 10) & 0x1F;
    if (e == 0 || e == 31)
        return ed_fp16_to_fp32(h);
    uint32_t bits = ((uint32_t)(h & 0x8000) << 16) | ((e + 112) << 23) | ((uint32_t)(h & 0x3FF) << 13);
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static void decode_q8_0(const uint8_t *src, int width, float *row)
{
    const ed_block_q8_0_t *b = (const ed_block_q8_0_t *)src;
    for (int j = 0; j < width / ED_QK; j++) {
        v4f d = (v4f){0} + fp16_to_fp32(b[j].d);
        for (int e = 0; e < ED_QK; e += 4)
            put4(row + ED_QK * j + e, to_v4f(bytes_s8(b[j].qs + e)) * d);
    }
}

static void decode_q4_0(const uint8_t *src, int width, float *row)
{
    const ed_block_q4_0_t *b = (const ed_block_q4_0_t *)src;
    for (int j = 0; j < width / ED_QK; j++) {
        v4f d = (v4f){0} + fp16_to_fp32(b[j].d);
        for (int e = 0; e < ED_QK / 2; e += 4) {
            v4i q = bytes_u8(b[j].qs + e);
            put4(row + ED_QK * j + e, to_v4f((q & 0xF) - 8) * d);
            put4(row + ED_QK * j + e + ED_QK / 2, to_v4f((q >> 4) - 8) * d);
        }
    }
}

static void decode_q8_0_r8(const uint8_t *src, int width, float *row)
{
    int n_blocks = width / ED_QK;
    for (int g = 0; g < (n_blocks + ED_R8 - 1) / ED_R8; g++) {
        const ed_group_q8_0_r8_t *in = (const ed_group_q8_0_r8_t *)src + g;
        for (int j = 0; j < min_int(ED_R8, n_blocks - ED_R8 * g); j++) {
            v4f d = (v4f){0} + fp16_to_fp32(in->d[j]);
            float *out = row + ED_QK * (ED_R8 * g + j);
            for (int k = 0; k < ED_QK / 4; k++) /* qs[k][4j + i]: element 4k + i */
                put4(out + 4 * k, to_v4f(bytes_s8(&in->qs[k][4 * j])) * d);
        }
    }
}

static void decode_q4_0_r8(const uint8_t *src, int width, float *row)
{
    int n_blocks = width / ED_QK;
    for (int g = 0; g < (n_blocks + ED_R8 - 1) / ED_R8; g++) {
        const ed_group_q4_0_r8_t *in = (const ed_group_q4_0_r8_t *)src + g;
        for (int j = 0; j < min_int(ED_R8, n_blocks - ED_R8 * g); j++) {
            v4f d = (v4f){0} + fp16_to_fp32(in->d[j]);
            float *out = row + ED_QK * (ED_R8 * g + j);
            for (int m = 0; m < ED_QK / 8; m++) { /* qs[m][4j + i]: elements 8m + i (low), 8m + 4 + i (high) */
                v4i q = bytes_u8(&in->qs[m][4 * j]);
                put4(out + 8 * m, to_v4f((q & 0xF) - 8) * d);
                put4(out + 8 * m + 4, to_v4f((q >> 4) - 8) * d);
            }
        }
    }
}

static void decode_q4_K(const uint8_t *src, int width, float *row)
{
    const ed_block_q4_K_t *b = (const ed_block_q4_K_t *)src;
    uint8_t scale[8], min[8];
    for (int s = 0; s < width / ED_QK_K; s++) {
        float d = fp16_to_fp32(b[s].d), dmin = fp16_to_fp32(b[s].dmin);
        ed_k4_scales(b[s].scales, scale, min);
        for (int j = 0; j < 8; j++) {
            v4f sub_scale = (v4f){0} + d * (float)scale[j], sub_min = (v4f){0} + dmin * (float)min[j];
            const uint8_t *qs = b[s].qs + 32 * (j / 2);
            for (int l = 0; l < 32; l += 4)
                put4(row + ED_QK_K * s + 32 * j + l,
                     sub_scale * to_v4f((bytes_u8(qs + l) >> (4 * (j % 2))) & 0xF) - sub_min);
        }
    }
}

static void decode_q4_K_r8(const uint8_t *src, int width, float *row)
{
    const ed_block_q4_K_r8_t *b = (const ed_block_q4_K_r8_t *)src;
    uint8_t scale[8], min[8];
    for (int s = 0; s < width / ED_QK_K; s++) {
        float d = fp16_to_fp32(b[s].d), dmin = fp16_to_fp32(b[s].dmin);
        ed_k4_scales(b[s].scales, scale, min);
        for (int j = 0; j < ED_R8; j++) {
            v4f sub_scale = (v4f){0} + d * (float)scale[j], sub_min = (v4f){0} + dmin * (float)min[j];
            float *out = row + ED_QK_K * s + ED_QK * j;
            for (int m = 0; m < ED_QK / 8; m++) {
                v4i q = bytes_u8(&b[s].qs[m][4 * j]);
                put4(out + 8 * m, sub_scale * to_v4f(q & 0xF) - sub_min);
                put4(out + 8 * m + 4, sub_scale * to_v4f(q >> 4) - sub_min);
            }
        }
    }
}

static void decode_q6_K(const uint8_t *src, int width, float *row)
{
    const ed_block_q6_K_t *b = (const ed_block_q6_K_t *)src;
    for (int s = 0; s < width / ED_QK_K; s++) {
        float d = fp16_to_fp32(b[s].d);
        for (int half = 0; half < 2; half++)
            for (int q = 0; q < 4; q++) { /* element 128 half + 32 q + l */
                const uint8_t *ql = b[s].ql + 64 * half + 32 * (q & 1), *qh = b[s].qh + 32 * half;
                int e0 = 128 * half + 32 * q;
                for (int l = 0; l < 32; l += 4) {
                    v4i low = (bytes_u8(ql + l) >> (4 * (q >> 1))) & 0xF, high = (bytes_u8(qh + l) >> (2 * q)) & 3;
                    v4f scale = (v4f){0} + d * (float)b[s].scales[(e0 + l) / 16];
                    put4(row + ED_QK_K * s + e0 + l, scale * to_v4f((low | high << 4) - 32));
                }
            }
    }
}

/* tt (width, 32) = tile (32, width)^T; width is a multiple of 4 */
static void transpose_tile(const float *tile, int width, float *tt)
{
    for (int o = 0; o < ED_QK; o += 4)
        for (int c = 0; c < width; c += 4) {
            v4f r[4], t[4];
            for (int i = 0; i < 4; i++)
                memcpy(&r[i], tile + (size_t)(o + i) * width + c, sizeof r[i]);
            t[0] = __builtin_shufflevector(r[0], r[1], 0, 4, 1, 5); /* a0 b0 a1 b1 */
            t[1] = __builtin_shufflevector(r[2], r[3], 0, 4, 1, 5); /* c0 d0 c1 d1 */
            t[2] = __builtin_shufflevector(r[0], r[1], 2, 6, 3, 7); /* a2 b2 a3 b3 */
            t[3] = __builtin_shufflevector(r[2], r[3], 2, 6, 3, 7); /* c2 d2 c3 d3 */
            put4(tt + (size_t)c * ED_QK + o, __builtin_shufflevector(t[0], t[1], 0, 1, 4, 5));
            put4(tt + (size_t)(c + 1) * ED_QK + o, __builtin_shufflevector(t[0], t[1], 2, 3, 6, 7));
            put4(tt + (size_t)(c + 2) * ED_QK + o, __builtin_shufflevector(t[2], t[3], 0, 1, 4, 5));
            put4(tt + (size_t)(c + 3) * ED_QK + o, __builtin_shufflevector(t[2], t[3], 2, 3, 6, 7));
        }
}

static decode_fn decoder(int type)
{
    switch (type) {
    case ED_TYPE_Q8_0: return decode_q8_0;
    case ED_TYPE_Q4_0: return decode_q4_0;
    case ED_TYPE_Q8_0_R8: return decode_q8_0_r8;
    case ED_TYPE_Q4_0_R8: return decode_q4_0_r8;
    case ED_TYPE_Q4_K: return decode_q4_K;
    case ED_TYPE_Q4_K_R8: return decode_q4_K_r8;
    case ED_TYPE_Q6_K: return decode_q6_K;
    default: return NULL;
    }
}

/* The geometry both the size function and the driver derive from w_type and n_out. */
typedef struct {
    int strip;            /* columns of dx per chunk: a multiple of w's group of blocks */
    int n_out_pad;        /* n_out rounded up to whole q8_0 blocks (zeros past n_out) */
    size_t wt_row_bytes;  /* a row of w^T in q8_0_r8 (padded to whole groups) */
    size_t act_row_bytes; /* a row of dy in q8_0_x8 */
    size_t tile_bytes;    /* 32 dequantized rows of w, then the same transposed (floats) */
    size_t per_thread;    /* the tiles, the strip of w^T, a panel of partial sums, a padded dy row */
} q8_geometry_t;

static int q8_geometry(int w_type, int n_out, q8_geometry_t *g)
{
    const ed_type_info_t *info = ed_type_info(w_type);
    const ed_quant_traits_t *traits = ed_quant_traits(w_type);
    uint64_t wt = 0, act = 0;
    if (!info || !traits || !traits->to_float || n_out <= 0)
        return ED_KERR_EINVAL;
    int group_len = (int)(info->block_len * info->group);
    g->strip = group_len > Q8_STRIP ? group_len : Q8_STRIP;
    if (g->strip % group_len != 0)
        return ED_KERR_EINVAL;
    g->n_out_pad = (n_out + ED_QK - 1) / ED_QK * ED_QK;
    if (ed_type_row_size(ED_TYPE_Q8_0_R8, (uint64_t)g->n_out_pad, &wt) != 0 ||
        ed_type_row_size(ED_TYPE_Q8_0_X8, (uint64_t)g->n_out_pad, &act) != 0)
        return ED_KERR_EINVAL;
    g->wt_row_bytes = (size_t)wt;
    g->act_row_bytes = (size_t)act;
    g->tile_bytes = align64((size_t)ED_QK * g->strip * sizeof(float));
    g->per_thread = 2 * g->tile_bytes + align64((size_t)g->strip * g->wt_row_bytes) +
                    align64((size_t)Q8_PANEL * g->strip * sizeof(float)) +
                    align64((size_t)g->n_out_pad * sizeof(float));
    return 0;
}

size_t ed_matmul_backward_q8_scratch_size(int w_type, int n_out, int n_batch, int n_threads)
{
    q8_geometry_t g;
    if (n_batch <= 0 || n_threads < 1 || q8_geometry(w_type, n_out, &g) != 0)
        return 0;
    return align64((size_t)n_batch * g.act_row_bytes) + (size_t)n_threads * g.per_thread;
}

typedef struct {
    const ed_kernels_t *k;
    const ed_matmul_backward_t *m;
    q8_geometry_t g;
    ed_to_float_fn to_float;
    decode_fn decode;             /* NULL: to_float and a transpose */
    ed_from_float_fn quant_block; /* q8_0: the table's, bit-identical to the traits' */
    ed_from_float_fn quant_act;   /* q8_0_x8 */
    ed_gemm_fn gemm;              /* NULL: one vec_dot per output (the reference table) */
    ed_vec_dot_fn dot;
    size_t w_row_bytes, block_len, block_size; /* of w's group of blocks */
    uint8_t *act;                 /* (n_batch, act_row_bytes) dy in q8_0_x8 */
    uint8_t *thread_base;         /* per_thread bytes per pool thread */
} q8_job_t;

static void quantize_dy(void *arg, int chunk, int thread)
{
    const q8_job_t *job = arg;
    const ed_matmul_backward_t *m = job->m;
    float *pad = (float *)(job->thread_base + (size_t)thread * job->g.per_thread + job->g.per_thread -
                           align64((size_t)job->g.n_out_pad * sizeof(float)));
    int end = min_int((chunk + 1) * Q8_QUANT_ROWS, m->n_batch);
    for (int r = chunk * Q8_QUANT_ROWS; r < end; r++) {
        const float *src = m->dy + (size_t)r * m->n_out;
        if (m->n_out != job->g.n_out_pad) {
            memcpy(pad, src, sizeof(float) * (size_t)m->n_out);
            memset(pad + m->n_out, 0, sizeof(float) * (size_t)(job->g.n_out_pad - m->n_out));
            src = pad;
        }
        job->quant_act(src, job->act + (size_t)r * job->g.act_row_bytes, job->g.n_out_pad);
    }
}

/* Rows [o0, o0 + 32) of w, columns [c0, c0 + width), into q8_0 block o0 / 32
 * of w^T rows [0, width) of the strip: dequantize, transpose, quantize each
 * column's 32 values as one block, and put it in its lane of the group. */
static void requantize_block(const q8_job_t *job, int o0, int c0, int width, float *tile, float *tt, uint8_t *wt)
{
    const ed_matmul_backward_t *m = job->m;
    const uint8_t *w = m->w;
    size_t col_bytes = (size_t)c0 / job->block_len * job->block_size;
    int rows = min_int(ED_QK, m->n_out - o0);
    if (job->decode) {
        for (int o = 0; o < rows; o++)
            job->decode(w + (size_t)(o0 + o) * job->w_row_bytes + col_bytes, width, tile + (size_t)o * width);
        if (rows < ED_QK)
            memset(tile + (size_t)rows * width, 0, sizeof(float) * (size_t)(ED_QK - rows) * width);
        transpose_tile(tile, width, tt);
    } else {
        for (int o = 0; o < rows; o++)
            job->to_float(w + (size_t)(o0 + o) * job->w_row_bytes + col_bytes, tile + (size_t)o * width, width);
        for (int c = 0; c < width; c++) {
            float *col = tt + (size_t)c * ED_QK;
            for (int o = 0; o < rows; o++)
                col[o] = tile[(size_t)o * width + c];
            for (int o = rows; o < ED_QK; o++)
                col[o] = 0;
        }
    }
    ed_block_q8_0_t *blocks = (ed_block_q8_0_t *)tile; /* the dequantized rows are spent */
    job->quant_block(tt, blocks, (int64_t)width * ED_QK);
    int b = o0 / ED_QK, lane = b % ED_R8;
    for (int c = 0; c < width; c++) {
        ed_group_q8_0_r8_t *grp = (ed_group_q8_0_r8_t *)(wt + (size_t)c * job->g.wt_row_bytes) + b / ED_R8;
        grp->d[lane] = blocks[c].d;
        for (int q = 0; q < ED_QK / 4; q++)
            memcpy(&grp->qs[q][4 * lane], &blocks[c].qs[4 * q], 4);
    }
}

static void q8_strip(void *arg, int chunk, int thread)
{
    const q8_job_t *job = arg;
    const ed_matmul_backward_t *m = job->m;
    const q8_geometry_t *g = &job->g;
    int c0 = chunk * g->strip, width = min_int(g->strip, m->n_in - c0);
    uint8_t *base = job->thread_base + (size_t)thread * g->per_thread;
    float *tile = (float *)base, *tt = (float *)(base + g->tile_bytes);
    uint8_t *wt = base + 2 * g->tile_bytes;
    float *panel = (float *)(wt + align64((size_t)g->strip * g->wt_row_bytes));
    int n_blocks = g->n_out_pad / ED_QK;
    if (n_blocks % ED_R8 != 0) /* the last group's padding blocks: zero scales and quants */
        for (int c = 0; c < width; c++)
            memset(wt + (size_t)c * g->wt_row_bytes + (size_t)(n_blocks / ED_R8) * sizeof(ed_group_q8_0_r8_t), 0,
                   sizeof(ed_group_q8_0_r8_t));
    for (int o0 = 0; o0 < m->n_out; o0 += ED_QK)
        requantize_block(job, o0, c0, width, tile, tt, wt);
    for (int r0 = 0; r0 < m->n_batch; r0 += Q8_PANEL) {
        int cols = min_int(Q8_PANEL, m->n_batch - r0);
        const uint8_t *act = job->act + (size_t)r0 * g->act_row_bytes;
        float *dx = m->dx + (size_t)r0 * m->n_in + c0;
        float *y = m->accumulate ? panel : dx;
        size_t y_stride = m->accumulate ? (size_t)width : (size_t)m->n_in;
        if (job->gemm)
            job->gemm(n_blocks, wt, g->wt_row_bytes, width, act, g->act_row_bytes, cols, y, y_stride);
        else
            for (int r = 0; r < cols; r++)
                for (int c = 0; c < width; c++)
                    job->dot(g->n_out_pad, &y[(size_t)r * y_stride + c], wt + (size_t)c * g->wt_row_bytes,
                             act + (size_t)r * g->act_row_bytes);
        if (m->accumulate)
            for (int r = 0; r < cols; r++)
                for (int c = 0; c < width; c++)
                    dx[(size_t)r * m->n_in + c] += panel[(size_t)r * width + c];
    }
}

int ed_matmul_backward_input_q8(const ed_kernels_t *k, ed_pool_t *pool, ed_pool_prio_t prio,
                                const ed_matmul_backward_t *m, void *scratch, size_t scratch_size)
{
    q8_job_t job = {.k = k, .m = m};
    const ed_type_info_t *info = ed_type_info(m->w_type);
    const ed_quant_traits_t *q8 = ed_quant_traits(ED_TYPE_Q8_0), *x8 = ed_quant_traits(ED_TYPE_Q8_0_X8);
    uint64_t row_bytes = 0;
    if (q8_geometry(m->w_type, m->n_out, &job.g) != 0 || m->n_in <= 0 || m->n_batch <= 0 || !m->dy || !m->dx ||
        !m->w || ed_type_row_size(m->w_type, (uint64_t)m->n_in, &row_bytes) != 0 || !q8 || !x8 ||
        (!k->gemm[ED_TYPE_Q8_0_R8] && !k->vec_dot[ED_TYPE_Q8_0_R8]) || !scratch ||
        scratch_size < ed_matmul_backward_q8_scratch_size(m->w_type, m->n_out, m->n_batch, ed_pool_n_threads(pool)))
        return ED_KERR_EINVAL;
    job.to_float = ed_quant_traits(m->w_type)->to_float;
    job.decode = decoder(m->w_type);
    job.quant_block = k->quantize[ED_TYPE_Q8_0] ? k->quantize[ED_TYPE_Q8_0] : q8->from_float;
    job.quant_act = k->quantize[ED_TYPE_Q8_0_X8] ? k->quantize[ED_TYPE_Q8_0_X8] : x8->from_float;
    job.gemm = k->gemm[ED_TYPE_Q8_0_R8];
    job.dot = k->vec_dot[ED_TYPE_Q8_0_R8];
    /* a strip starts at a whole group of w's blocks (the repacked layouts
     * interleave ED_R8 blocks; file types have groups of one) */
    job.w_row_bytes = (size_t)row_bytes;
    job.block_len = (size_t)info->block_len * info->group;
    job.block_size = (size_t)info->block_size * info->group;
    job.act = scratch;
    job.thread_base = (uint8_t *)scratch + align64((size_t)m->n_batch * job.g.act_row_bytes);
    int n_quant = (m->n_batch + Q8_QUANT_ROWS - 1) / Q8_QUANT_ROWS;
    if (n_quant == 1) /* one chunk: not worth waking the pool */
        quantize_dy(&job, 0, 0);
    else
        ed_pool_run(pool, prio, n_quant, quantize_dy, &job);
    /* the strip width depends on w_type only, and each output is one
     * micro-kernel's: results do not depend on the thread count */
    ed_pool_run(pool, prio, (m->n_in + job.g.strip - 1) / job.g.strip, q8_strip, &job);
    return 0;
}
