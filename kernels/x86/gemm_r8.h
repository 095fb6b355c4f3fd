/* x86/gemm_r8.h - the batch products of the interleaved weights of
 * kernels/repack.h (q4_0_r8, q8_0_r8) against q8_0_x8 activations, shared by
 * gemm.c (AVX2) and gemm_avx512.c (AVX-512 VNNI) after gemm_tile.h (which
 * gives gemm_block_dot, GEMM_Q8_OFFSET, fp16 helpers and tile_hsum).
 * Lane j of every vector is block j of a group of 8, so a group's integer
 * products accumulate exactly, per lane, and are scaled and added in float
 * once per group: one fused multiply-add per 8 blocks instead of one per
 * block. Every output is summed the same way, group by group in one 8-lane
 * accumulator and reduced by tile_hsum, whatever else is computed beside
 * it: a row's result is bit for bit the same alone or in any batch. The
 * AVX2 table takes the kernels at the end (k outermost, up to 8 rows a
 * pass): r8x_ computes r8_row's values in its order; k4x_ (q4_K_r8) applies
 * the scales in integer and does 4 rows' float steps at once, so its bits
 * differ from r8_k4_row_pre's (within the forward tests' tolerance). */
#include "kernels/repack.h"
#include "kernels/x86/gemm_k.h"

#define R8_COLS 4 /* activation rows per pass over a weight row */

/* Minus the weights' level offset times each block's activation sum: q4_0
 * levels are the values + 8; q8_0 goes to the unsigned operand as w + 128
 * when GEMM_Q8_OFFSET, else it keeps its sign (no offset). */
static inline __attribute__((always_inline)) __m256i r8_start(int type, const ed_group_q8_0_x8_t *a)
{
    __m256i sum = _mm256_loadu_si256((const __m256i *)a->sum);
    if (type == ED_TYPE_Q4_0_R8)
        return _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(sum, 3));
    if (GEMM_Q8_OFFSET)
        return _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(sum, 7));
    return _mm256_setzero_si256();
}

/* The 8 vectors of 4-bit levels packed two per byte in qs (q4_0_r8,
 * q4_K_r8): v[2m] the low nibbles of qs[m], v[2m + 1] the high ones. */
static inline __attribute__((always_inline)) void r8_nibbles(const uint8_t qs[4][32], __m256i v[8])
{
    const __m256i low = _mm256_set1_epi8(0x0F);
#pragma GCC unroll 4
    for (int m = 0; m < 4; m++) {
        __m256i packed = _mm256_loadu_si256((const __m256i *)qs[m]);
        /* in a register: GCC would fold this load into both of its uses, and
         * a matrix-vector product is bound by the load ports (each group
         * also loads 8 activation vectors) */
        __asm__("" : "+v"(packed));
        v[2 * m] = _mm256_and_si256(packed, low);
        /* with sums free of 16-bit saturation (GEMM_Q8_OFFSET: VNNI) the high
         * nibble stays in place, 16 x its level, one op fewer: R8_HIGH_SHIFT */
        v[2 * m + 1] = GEMM_Q8_OFFSET ? _mm256_andnot_si256(low, packed)
                                      : _mm256_and_si256(_mm256_srli_epi16(packed, 4), low);
    }
}

/* What the high-nibble sums are to be shifted right by. */
#define R8_HIGH_SHIFT (GEMM_Q8_OFFSET ? 4 : 0)

/* AVX2 (no GEMM_Q8_OFFSET): start plus the 8 dots of 4-bit levels v[k]
 * (0..15) with activations qs[k], per lane. maddubs gives exact int16 pair
 * sums of at most 2 * 15 * 128 = 3840, so the 8 of them add in int16
 * without overflow (30720 < 32767) and widen once: 8 maddubs, 7 adds and
 * one madd where the block dot takes 8 of each. The same exact sums. */
static inline __attribute__((always_inline)) __m256i r8_dot_levels16(__m256i start, const __m256i v[8],
                                                                     const int8_t qs[8][32])
{
    __m256i even = _mm256_maddubs_epi16(v[0], _mm256_loadu_si256((const __m256i *)qs[0]));
    __m256i odd = _mm256_maddubs_epi16(v[1], _mm256_loadu_si256((const __m256i *)qs[1]));
#pragma GCC unroll 4
    for (int k = 2; k < 8; k += 2) {
        even = _mm256_add_epi16(even, _mm256_maddubs_epi16(v[k], _mm256_loadu_si256((const __m256i *)qs[k])));
        odd = _mm256_add_epi16(odd, _mm256_maddubs_epi16(v[k + 1], _mm256_loadu_si256((const __m256i *)qs[k + 1])));
    }
    return _mm256_add_epi32(start, _mm256_madd_epi16(_mm256_add_epi16(even, odd), _mm256_set1_epi16(1)));
}

/* y[c * y_stride] = dot(weight row, activation row c) for c < cols (a
 * constant after inlining): each weight group is unpacked once for all cols. */
static inline __attribute__((always_inline)) void r8_row(int type, int n_blocks, const uint8_t *row,
                                                         const uint8_t *x, size_t x_row_bytes, int cols,
                                                         float *y, size_t y_stride)
{
    __m256 acc[R8_COLS];
#pragma GCC unroll 4
    for (int c = 0; c < cols; c++)
        acc[c] = _mm256_setzero_ps();
    for (int g = 0; g < (n_blocks + ED_R8 - 1) / ED_R8; g++) {
        __m256i v[8]; /* v[k]: elements 4k..4k+3 of block j in lane j */
        __m256 dw;
        if (type == ED_TYPE_Q4_0_R8) {
            const ed_group_q4_0_r8_t *wg = (const ed_group_q4_0_r8_t *)row + g;
            dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)wg->d));
            r8_nibbles(wg->qs, v);
        } else {
            const ed_group_q8_0_r8_t *wg = (const ed_group_q8_0_r8_t *)row + g;
            dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)wg->d));
#pragma GCC unroll 8
            for (int k = 0; k < 8; k++) {
                v[k] = _mm256_loadu_si256((const __m256i *)wg->qs[k]);
                if (GEMM_Q8_OFFSET)
                    v[k] = _mm256_xor_si256(v[k], _mm256_set1_epi8((char)0x80));
            }
        }
#pragma GCC unroll 4
        for (int c = 0; c < cols; c++) {
            const ed_group_q8_0_x8_t *a = (const ed_group_q8_0_x8_t *)(x + (size_t)c * x_row_bytes) + g;
            __m256 scale = _mm256_mul_ps(dw, _mm256_loadu_ps(a->d));
            if (type == ED_TYPE_Q4_0_R8 && !GEMM_Q8_OFFSET) {
                __m256i sum = r8_dot_levels16(r8_start(type, a), v, a->qs);
                acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum), scale, acc[c]);
                continue;
            }
            __m256i even = r8_start(type, a), odd = _mm256_setzero_si256(); /* two chains */
#pragma GCC unroll 8
            for (int k = 0; k < 8; k += 2) {
                __m256i x0 = _mm256_loadu_si256((const __m256i *)a->qs[k]);
                __m256i x1 = _mm256_loadu_si256((const __m256i *)a->qs[k + 1]);
                if (type == ED_TYPE_Q4_0_R8 || GEMM_Q8_OFFSET) {
                    even = gemm_block_dot(even, v[k], x0);
                    odd = gemm_block_dot(odd, v[k + 1], x1);
                } else {
                    even = gemm_block_dot(even, _mm256_sign_epi8(v[k], v[k]), _mm256_sign_epi8(x0, v[k]));
                    odd = gemm_block_dot(odd, _mm256_sign_epi8(v[k + 1], v[k + 1]),
                                         _mm256_sign_epi8(x1, v[k + 1]));
                }
            }
            if (type == ED_TYPE_Q4_0_R8)
                odd = _mm256_srai_epi32(odd, R8_HIGH_SHIFT); /* exact: every product was 16 x the level's */
            acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(even, odd)), scale, acc[c]);
        }
    }
#pragma GCC unroll 4
    for (int c = 0; c < cols; c++)
        y[(size_t)c * y_stride] = tile_hsum(acc[c]);
}

/* q4_K_r8 super-block wb's d * scale_j (ds) and dmin * min_j (dm), lane j. */
static inline __attribute__((always_inline)) void k4_r8_scales(const ed_block_q4_K_r8_t *wb, __m256 *ds, __m256 *dm)
{
    __m128i scales_mins = k4_scales_mins(wb->scales);
    __m256 scale = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(scales_mins));
    __m256 min = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_unpackhi_epi64(scales_mins, scales_mins)));
    *ds = _mm256_mul_ps(_mm256_set1_ps(fp16_scalar(wb->d)), scale);
    *dm = _mm256_mul_ps(_mm256_set1_ps(fp16_scalar(wb->dmin)), min);
}

/* q4_K_r8 (n_blocks super-blocks): lane j is sub-block j. Per super-block
 * the weights' d * scale_j and dmin * min_j are formed once (ds, dm); each
 * activation row adds (sum_j * act_d) * ds_j and subtracts
 * (act_sum_j * act_d) * dm_j into one accumulator. The x86 tables and
 * gemm_r8_zmm.h's tile take exactly these steps per lane. */
/* pre: NULL, or each activation row's sub-block sums times its d, as
 * r8_k4_act_sums lays them out (the same floats this computes otherwise). */
static inline __attribute__((always_inline)) void r8_k4_row_pre(int n_blocks, const uint8_t *row, const uint8_t *x,
                                                                size_t x_row_bytes, int cols, float *y,
                                                                size_t y_stride, const float *pre)
{
    __m256 acc[R8_COLS];
#pragma GCC unroll 4
    for (int c = 0; c < cols; c++)
        acc[c] = _mm256_setzero_ps();
    for (int b = 0; b < n_blocks; b++) {
        const ed_block_q4_K_r8_t *wb = (const ed_block_q4_K_r8_t *)row + b;
        __m256i v[8];
        r8_nibbles(wb->qs, v);
        __m256 ds, dm;
        k4_r8_scales(wb, &ds, &dm);
#pragma GCC unroll 4
        for (int c = 0; c < cols; c++) {
            const ed_block_q8_K_x8_t *a = (const ed_block_q8_K_x8_t *)(x + (size_t)c * x_row_bytes) + b;
            __m256i sums;
            if (!GEMM_Q8_OFFSET) {
                sums = r8_dot_levels16(_mm256_setzero_si256(), v, a->qs);
            } else {
                __m256i even = _mm256_setzero_si256(), odd = _mm256_setzero_si256();
#pragma GCC unroll 8
                for (int k = 0; k < 8; k += 2) {
                    even = gemm_block_dot(even, v[k], _mm256_loadu_si256((const __m256i *)a->qs[k]));
                    odd = gemm_block_dot(odd, v[k + 1], _mm256_loadu_si256((const __m256i *)a->qs[k + 1]));
                }
                sums = _mm256_add_epi32(even, _mm256_srai_epi32(odd, R8_HIGH_SHIFT));
            }
            __m256 ad = _mm256_set1_ps(a->d);
            __m256 act_sum = pre ? _mm256_loadu_ps(pre + ((size_t)b * R8_COLS + c) * ED_R8)
                                 : _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_loadu_si256((const __m256i *)a->sum)), ad);
            acc[c] = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(sums), ad), ds, acc[c]);
            acc[c] = _mm256_fnmadd_ps(act_sum, dm, acc[c]);
        }
    }
#pragma GCC unroll 4
    for (int c = 0; c < cols; c++)
        y[(size_t)c * y_stride] = tile_hsum(acc[c]);
}

static inline __attribute__((always_inline)) void r8_k4_row(int type, int n_blocks, const uint8_t *row,
                                                            const uint8_t *x, size_t x_row_bytes, int cols,
                                                            float *y, size_t y_stride)
{
    (void)type;
    r8_k4_row_pre(n_blocks, row, x, x_row_bytes, cols, y, y_stride, NULL);
}

#define R8_K4_PRE_BLOCKS 64 /* super-blocks of precomputed activation sums a pass holds (16 KiB) */

/* pre[(b * R8_COLS + c) * 8 + j] = sub-block j's sum times d, super-block b
 * of activation row c: what every weight row of a pass would recompute. */
static inline __attribute__((always_inline)) void r8_k4_act_sums(int n_blocks, const uint8_t *x, size_t x_row_bytes,
                                                                 int cols, float *pre)
{
    for (int b = 0; b < n_blocks; b++)
#pragma GCC unroll 4
        for (int c = 0; c < cols; c++) {
            const ed_block_q8_K_x8_t *a = (const ed_block_q8_K_x8_t *)(x + (size_t)c * x_row_bytes) + b;
            _mm256_storeu_ps(pre + ((size_t)b * R8_COLS + c) * ED_R8,
                             _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_loadu_si256((const __m256i *)a->sum)),
                                           _mm256_set1_ps(a->d)));
        }
}

/* One pass of cols activation rows over n_rows weight rows of q4_K_r8. */
static inline __attribute__((always_inline)) void r8_k4_pass(int n_blocks, const uint8_t *w, size_t w_row_bytes,
                                                             int n_rows, const uint8_t *x, size_t x_row_bytes,
                                                             int cols, float *y, size_t y_stride)
{
    float pre[R8_K4_PRE_BLOCKS * R8_COLS * ED_R8];
    if (n_rows < 2 || n_blocks > R8_K4_PRE_BLOCKS) {
        for (int r = 0; r < n_rows; r++)
            r8_k4_row_pre(n_blocks, w + (size_t)r * w_row_bytes, x, x_row_bytes, cols, y + r, y_stride, NULL);
        return;
    }
    r8_k4_act_sums(n_blocks, x, x_row_bytes, cols, pre);
    for (int r = 0; r < n_rows; r++)
        r8_k4_row_pre(n_blocks, w + (size_t)r * w_row_bytes, x, x_row_bytes, cols, y + r, y_stride, pre);
}

#include "kernels/gemm_r8_blocks.h"

/* Passes of R8_COLS activation rows (gemm_passes' loop), each computing its
 * rows' activation sums once for all the weight rows. */
static void gemm_q4_K_r8(int n_blocks, const void *w_v, size_t w_row_bytes, int n_rows, const void *x_v,
                         size_t x_row_bytes, int n_cols, float *y, size_t y_stride)
{
    const uint8_t *w = w_v, *x = x_v;
    for (int c = 0; c < n_cols; c += R8_COLS) {
        const uint8_t *xc = x + (size_t)c * x_row_bytes;
        float *yc = y + (size_t)c * y_stride;
        switch (n_cols - c < R8_COLS ? n_cols - c : R8_COLS) {
        case 1: r8_k4_pass(n_blocks, w, w_row_bytes, n_rows, xc, x_row_bytes, 1, yc, y_stride); break;
        case 2: r8_k4_pass(n_blocks, w, w_row_bytes, n_rows, xc, x_row_bytes, 2, yc, y_stride); break;
        case 3: r8_k4_pass(n_blocks, w, w_row_bytes, n_rows, xc, x_row_bytes, 3, yc, y_stride); break;
        default: r8_k4_pass(n_blocks, w, w_row_bytes, n_rows, xc, x_row_bytes, 4, yc, y_stride); break;
        }
    }
}

#if !GEMM_Q8_OFFSET
/* AVX2 kernels of q4_0_r8 and q4_K_r8, k outermost: each 32-byte vector of
 * packed levels is loaded and split into its two nibble vectors once, then
 * meets every activation row of the pass while it is in a register, so the
 * live set is one int16 sum per activation row (not the 8 unpacked vectors
 * of r8_row, which spilled the accumulators at 16 ymm registers). The
 * integer sums are the same exact values as r8_dot_levels16's (any subset
 * of the 8 pair sums fits int16, see there). q4_0_r8's float steps per
 * output are r8_row's, so its results are the same bits; q4_K_r8's are
 * k4x_row's (below). Either way a row is the same bits alone or in any
 * batch. */
#define R8X_COLS 8 /* activation rows per pass (at most; see r8x_gemm) */

/* A matrix-vector product (one activation row) streams the weights from
 * memory: it asks for the 192 bytes R8X_PREFETCH ahead of each group or
 * super-block it reads (144 or 272 bytes), so the stream runs on across the
 * 4 KiB pages where the hardware prefetcher stops. Batches read the weights
 * from L2 and skip this. */
#define R8X_PREFETCH 1024

static inline __attribute__((always_inline)) void r8x_prefetch(int cols, const void *at)
{
    if (cols != 1)
        return;
    const char *p = (const char *)at + R8X_PREFETCH;
    _mm_prefetch(p, _MM_HINT_T0);
    _mm_prefetch(p + 64, _MM_HINT_T0);
    _mm_prefetch(p + 128, _MM_HINT_T0);
}

/* s16[c] = per lane j, the int16 pair sums of the 4-bit levels of qs (lane
 * j: block j) times activation row c's quants, which start at x + c *
 * x_row_bytes in the qs[8][32] order of the x8 formats. */
static inline __attribute__((always_inline)) void r8x_dot16(const uint8_t qs[4][32], const uint8_t *x,
                                                            size_t x_row_bytes, int cols, __m256i s16[R8X_COLS])
{
    const __m256i low = _mm256_set1_epi8(0x0F);
#pragma GCC unroll 4
    for (int m = 0; m < 4; m++) {
        __m256i packed = _mm256_loadu_si256((const __m256i *)qs[m]);
        __m256i lo = _mm256_and_si256(packed, low);
        __m256i hi = _mm256_and_si256(_mm256_srli_epi16(packed, 4), low);
#pragma GCC unroll 8
        for (int c = 0; c < cols; c++) {
            const int8_t(*q)[32] = (const int8_t(*)[32])(x + (size_t)c * x_row_bytes);
            __m256i p = _mm256_add_epi16(_mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)q[2 * m])),
                                         _mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *)q[2 * m + 1])));
            s16[c] = m == 0 ? p : _mm256_add_epi16(s16[c], p);
            /* in a register: GCC would regroup the 8 sums of all rows and
             * spill the products (as k_pair_dot says) */
            __asm__("" : "+x"(s16[c]));
        }
    }
}

/* r8_row for q4_0_r8 with up to R8X_COLS activation rows; start: NULL, or
 * each row's r8_start per group as r8x_starts lays them out. */
static inline __attribute__((always_inline)) void r8x_row(int n_blocks, const uint8_t *row, const uint8_t *x,
                                                          size_t x_row_bytes, int cols, float *y, size_t y_stride,
                                                          const int32_t *start)
{
    __m256 acc[R8X_COLS];
#pragma GCC unroll 8
    for (int c = 0; c < cols; c++)
        acc[c] = _mm256_setzero_ps();
    for (int g = 0; g < (n_blocks + ED_R8 - 1) / ED_R8; g++) {
        const ed_group_q4_0_r8_t *wg = (const ed_group_q4_0_r8_t *)row + g;
        r8x_prefetch(cols, wg);
        __m256i s16[R8X_COLS];
        r8x_dot16(wg->qs, (const uint8_t *)((const ed_group_q8_0_x8_t *)x + g)->qs, x_row_bytes, cols, s16);
        __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)wg->d));
#pragma GCC unroll 8
        for (int c = 0; c < cols; c++) {
            const ed_group_q8_0_x8_t *a = (const ed_group_q8_0_x8_t *)(x + (size_t)c * x_row_bytes) + g;
            __m256 scale = _mm256_mul_ps(dw, _mm256_loadu_ps(a->d));
            __m256i off = start ? _mm256_loadu_si256((const __m256i *)(start + ((size_t)g * R8X_COLS + c) * ED_R8))
                                : r8_start(ED_TYPE_Q4_0_R8, a);
            __m256i sum = _mm256_add_epi32(off, _mm256_madd_epi16(s16[c], _mm256_set1_epi16(1)));
            acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum), scale, acc[c]);
        }
    }
#pragma GCC unroll 8
    for (int c = 0; c < cols; c++)
        y[(size_t)c * y_stride] = tile_hsum(acc[c]);
}

/* r8_row for q8_0_r8 with up to R8X_COLS activation rows: each weight
 * vector's magnitudes (|w|, the unsigned operand) are taken once for all
 * rows, and each row's activations get the weights' signs. maddubs' pair
 * sums reach 2 * 127 * 127, so every one widens (madd) before it is added. */
static inline __attribute__((always_inline)) void r8x_q8_row(int n_blocks, const uint8_t *row, const uint8_t *x,
                                                             size_t x_row_bytes, int cols, float *y, size_t y_stride)
{
    __m256 acc[R8X_COLS];
#pragma GCC unroll 8
    for (int c = 0; c < cols; c++)
        acc[c] = _mm256_setzero_ps();
    for (int g = 0; g < (n_blocks + ED_R8 - 1) / ED_R8; g++) {
        const ed_group_q8_0_r8_t *wg = (const ed_group_q8_0_r8_t *)row + g;
        r8x_prefetch(cols, wg);
        r8x_prefetch(cols, (const char *)wg + 128);
        const uint8_t *xq = (const uint8_t *)((const ed_group_q8_0_x8_t *)x + g)->qs;
        __m256i sum[R8X_COLS];
#pragma GCC unroll 8
        for (int k = 0; k < 8; k++) {
            __m256i v = _mm256_loadu_si256((const __m256i *)wg->qs[k]);
            __m256i v_abs = _mm256_sign_epi8(v, v);
#pragma GCC unroll 8
            for (int c = 0; c < cols; c++) {
                __m256i q = _mm256_loadu_si256((const __m256i *)(xq + (size_t)c * x_row_bytes + 32 * k));
                __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(v_abs, _mm256_sign_epi8(q, v)),
                                              _mm256_set1_epi16(1));
                sum[c] = k == 0 ? p : _mm256_add_epi32(sum[c], p);
                __asm__("" : "+x"(sum[c])); /* as in r8x_dot16 */
            }
        }
        __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)wg->d));
#pragma GCC unroll 8
        for (int c = 0; c < cols; c++) {
            const ed_group_q8_0_x8_t *a = (const ed_group_q8_0_x8_t *)(x + (size_t)c * x_row_bytes) + g;
            __m256 scale = _mm256_mul_ps(dw, _mm256_loadu_ps(a->d));
            acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum[c]), scale, acc[c]);
        }
    }
#pragma GCC unroll 8
    for (int c = 0; c < cols; c++)
        y[(size_t)c * y_stride] = tile_hsum(acc[c]);
}

/* The AVX2 q4_K_r8 kernel applies the sub-block scales in integer and does
 * the float steps for 4 activation rows at once. Per super-block b, row c:
 * the int16 pair sums of sub-block j (lane j of s16[c]) times scale_j
 * (vpmaddwd against the scales as int16 pairs) are exact int32; two rounds
 * of vphaddd fold 4 rows' vectors into one, lane k holding row k's sub-blocks
 * 0-3 and lane k + 4 its sub-blocks 4-7 (integer, exact); that one vector is
 * converted and multiplied into the accumulator with d * d_act of each row:
 * 3 float-side instructions per 4 rows where one row alone took 4 (the adds
 * are what limits this loop, as many as the maddubs). The mins' term
 * dmin * min_j * (sum_j * d_act) is summed per lane in its own loop after the
 * super-blocks, then folded the same way (vhaddps). Every lane's steps are
 * the same whichever rows share the vector: a row's result is the same bits
 * alone or in any batch. */

/* Per (weight row, super-block), what every pass reuses: the scales as int16
 * pairs (scale_j in both halves of lane j), dmin * min_j, and d. */
typedef struct {
    __m256i sc16;
    __m256 dm;
    float d;
} k4x_wscale_t;

static inline __attribute__((always_inline)) k4x_wscale_t k4x_wscale(const ed_block_q4_K_r8_t *wb)
{
    __m128i scales_mins = k4_scales_mins(wb->scales);
    __m256i sc = _mm256_cvtepu8_epi32(scales_mins);
    __m256 min = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_unpackhi_epi64(scales_mins, scales_mins)));
    k4x_wscale_t ws = {_mm256_or_si256(sc, _mm256_slli_epi32(sc, 16)),
                       _mm256_mul_ps(_mm256_set1_ps(fp16_scalar(wb->dmin)), min), fp16_scalar(wb->d)};
    return ws;
}

/* The d of q8_K_x8 super-block b of activation rows 4g..4g+3 in the lanes
 * the folded vectors put them (lanes k and k + 4: row 4g + k; rows past
 * cols repeat row 4g, as k4x_fold does). */
static inline __attribute__((always_inline)) __m256 x8_group_d(const uint8_t *x, size_t x_row_bytes, int b, int g,
                                                               int cols)
{
    float d[4];
#pragma GCC unroll 4
    for (int k = 0; k < 4; k++)
        d[k] = ((const ed_block_q8_K_x8_t *)(x + (size_t)(4 * g + (4 * g + k < cols ? k : 0)) * x_row_bytes) + b)->d;
    return _mm256_setr_ps(d[0], d[1], d[2], d[3], d[0], d[1], d[2], d[3]);
}

/* Per (super-block, pass), what every weight row of the AVX2 K-quant
 * kernels reuses: a vector per activation row (q4_K_r8: its sub-block sums
 * times its d, k4x_pre; q6_K_r8: its level offsets, k6x_offsets) and the
 * rows' d in the lanes the folded vectors put them (x8_group_d). */
typedef struct {
    union {
        __m256 pre[R8X_COLS];
        __m256i off[R8X_COLS];
    };
    __m256 ad[R8X_COLS / 4];
} x8_act_t;

/* act[b] for the super-blocks b < n_blocks of activation rows c < cols:
 * row_vec(block) is each row's vector, as bits. */
static inline __attribute__((always_inline)) void x8_act(int n_blocks, const uint8_t *x, size_t x_row_bytes, int cols,
                                                         __m256i (*row_vec)(const ed_block_q8_K_x8_t *),
                                                         x8_act_t *act)
{
    for (int b = 0; b < n_blocks; b++) {
#pragma GCC unroll 8
        for (int c = 0; c < cols; c++)
            act[b].off[c] = row_vec((const ed_block_q8_K_x8_t *)(x + (size_t)c * x_row_bytes) + b);
#pragma GCC unroll 2
        for (int g = 0; g < (cols + 3) / 4; g++)
            act[b].ad[g] = x8_group_d(x, x_row_bytes, b, g, cols);
    }
}

/* q4_K_r8's per-row vector: the sub-block sums of block a times its d. */
static inline __attribute__((always_inline)) __m256 k4x_pre(const ed_block_q8_K_x8_t *a)
{
    return _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_loadu_si256((const __m256i *)a->sum)), _mm256_set1_ps(a->d));
}

static inline __attribute__((always_inline)) __m256i k4x_pre_bits(const ed_block_q8_K_x8_t *a)
{
    return _mm256_castps_si256(k4x_pre(a));
}

/* Rows 4g..4g+3 of v folded: lane k the sum of row 4g+k's lanes 0-3, lane
 * k + 4 that of its lanes 4-7 (rows past cols repeat row 4g). */
static inline __attribute__((always_inline)) __m256i k4x_fold(const __m256i *v, int g, int cols)
{
    int n = cols - 4 * g;
    __m256i v0 = v[4 * g], v1 = n > 1 ? v[4 * g + 1] : v0, v2 = n > 2 ? v[4 * g + 2] : v0,
            v3 = n > 3 ? v[4 * g + 3] : v0;
    return _mm256_hadd_epi32(_mm256_hadd_epi32(v0, v1), _mm256_hadd_epi32(v2, v3));
}

static inline __attribute__((always_inline)) __m256 k4x_fold_ps(const __m256 *v, int g, int cols)
{
    int n = cols - 4 * g;
    __m256 v0 = v[4 * g], v1 = n > 1 ? v[4 * g + 1] : v0, v2 = n > 2 ? v[4 * g + 2] : v0,
           v3 = n > 3 ? v[4 * g + 3] : v0;
    return _mm256_hadd_ps(_mm256_hadd_ps(v0, v1), _mm256_hadd_ps(v2, v3));
}

/* y[c * y_stride] for the rows 4g + k < cols of folded group g: lane k
 * plus lane k + 4. */
static inline __attribute__((always_inline)) void k4x_store(__m256 sum, int g, int cols, float *y, size_t y_stride)
{
    float out[4];
    _mm_storeu_ps(out, _mm_add_ps(_mm256_castps256_ps128(sum), _mm256_extractf128_ps(sum, 1)));
    for (int k = 0; k < 4 && 4 * g + k < cols; k++)
        y[(size_t)(4 * g + k) * y_stride] = out[k];
}

/* y[c * y_stride] = dot(q4_K_r8 weight row, activation row c), c < cols <=
 * R8X_COLS. ws: the row's k4x_wscale per super-block, or NULL (computed
 * here); act: the pass's x8_act per super-block, or NULL (one row alone). */
static inline __attribute__((always_inline)) void k4x_row(int n_blocks, const uint8_t *row, const uint8_t *x,
                                                          size_t x_row_bytes, int cols, float *y, size_t y_stride,
                                                          const k4x_wscale_t *ws, const x8_act_t *act)
{
    enum { GROUPS = R8X_COLS / 4 };
    const int groups = (cols + 3) / 4;
    /* registers to spare for the mins' lanes beside the sums, or nothing kept */
    const bool mins_inline = cols <= 4 || !ws || !act;
    __m256 acc[GROUPS], mins[R8X_COLS];
#pragma GCC unroll 2
    for (int g = 0; g < groups; g++)
        acc[g] = _mm256_setzero_ps();
#pragma GCC unroll 8
    for (int c = 0; c < cols; c++)
        mins[c] = _mm256_setzero_ps();
    for (int b = 0; b < n_blocks; b++) {
        const ed_block_q4_K_r8_t *wb = (const ed_block_q4_K_r8_t *)row + b;
        r8x_prefetch(cols, wb);
        __m256i s[R8X_COLS];
        r8x_dot16(wb->qs, (const uint8_t *)((const ed_block_q8_K_x8_t *)x + b)->qs, x_row_bytes, cols, s);
        k4x_wscale_t w = ws ? ws[b] : k4x_wscale(wb);
#pragma GCC unroll 8
        for (int c = 0; c < cols; c++)
            s[c] = _mm256_madd_epi16(s[c], w.sc16);
#pragma GCC unroll 2
        for (int g = 0; g < groups; g++) {
            __m256 ad = act ? act[b].ad[g] : x8_group_d(x, x_row_bytes, b, g, cols);
            acc[g] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(k4x_fold(s, g, cols)), _mm256_mul_ps(_mm256_set1_ps(w.d), ad),
                                     acc[g]);
        }
        if (mins_inline) {
#pragma GCC unroll 4
            for (int c = 0; c < cols; c++) {
                __m256 pre =
                    act ? act[b].pre[c] : k4x_pre((const ed_block_q8_K_x8_t *)(x + (size_t)c * x_row_bytes) + b);
                mins[c] = _mm256_fnmadd_ps(w.dm, pre, mins[c]);
            }
        }
    }
    if (!mins_inline)
        for (int b = 0; b < n_blocks; b++)
#pragma GCC unroll 8
            for (int c = 0; c < cols; c++)
                mins[c] = _mm256_fnmadd_ps(ws[b].dm, act[b].pre[c], mins[c]);
#pragma GCC unroll 2
    for (int g = 0; g < groups; g++)
        k4x_store(_mm256_add_ps(acc[g], k4x_fold_ps(mins, g, cols)), g, cols, y, y_stride);
}

/* What a pass computes once for all its weight rows: q4_0_r8's offset terms
 * or q4_K_r8's activation sums (one buffer for all the inlined passes). */
typedef union {
    int32_t start[R8_K4_PRE_BLOCKS * R8X_COLS * ED_R8];
    x8_act_t act[R8_K4_PRE_BLOCKS];
} r8x_pass_buf_t;

/* One pass of cols activation rows over n_rows weight rows. */
static inline __attribute__((always_inline)) void r8x_pass(int type, int n_blocks, const uint8_t *w,
                                                           size_t w_row_bytes, int n_rows, const uint8_t *x,
                                                           size_t x_row_bytes, int cols, float *y, size_t y_stride,
                                                           r8x_pass_buf_t *buf, const k4x_wscale_t *ws)
{
    if (type == ED_TYPE_Q8_0_R8) {
        for (int r = 0; r < n_rows; r++)
            r8x_q8_row(n_blocks, w + (size_t)r * w_row_bytes, x, x_row_bytes, cols, y + r, y_stride);
        return;
    }
    if (type == ED_TYPE_Q4_0_R8) {
        int32_t *start = buf->start;
        int n_groups = (n_blocks + ED_R8 - 1) / ED_R8;
        bool keep = n_rows >= 2 && n_groups <= R8_K4_PRE_BLOCKS;
        for (int g = 0; keep && g < n_groups; g++)
#pragma GCC unroll 8
            for (int c = 0; c < cols; c++)
                _mm256_storeu_si256((__m256i *)(start + ((size_t)g * R8X_COLS + c) * ED_R8),
                                    r8_start(type, (const ed_group_q8_0_x8_t *)(x + (size_t)c * x_row_bytes) + g));
        for (int r = 0; r < n_rows; r++)
            r8x_row(n_blocks, w + (size_t)r * w_row_bytes, x, x_row_bytes, cols, y + r, y_stride,
                    keep ? start : NULL);
        return;
    }
    x8_act_t *act = cols > 1 && n_blocks <= R8_K4_PRE_BLOCKS ? buf->act : NULL;
    if (act)
        x8_act(n_blocks, x, x_row_bytes, cols, k4x_pre_bits, act);
    for (int r = 0; r < n_rows; r++)
        k4x_row(n_blocks, w + (size_t)r * w_row_bytes, x, x_row_bytes, cols, y + r, y_stride,
                ws ? ws + (size_t)r * n_blocks : NULL, act);
}

/* The ed_gemm_fn contract over passes of up to R8X_COLS activation rows,
 * or half that many where so many rows would not stay in L1 beside the
 * weights (R8X_PASS_BYTES): 8 rows of 2048 q8_K_x8 activations take
 * 18 KiB and measured 10% faster than 4; 8 of 5632 (50 KiB) 5-10% slower. */
#define R8X_PASS_BYTES (24 << 10)

#define K4X_WSCALES 320 /* q4_K_r8 (row, super-block) scales a call keeps at a time (30 KiB) */

static inline __attribute__((always_inline)) void r8x_gemm(int type, int n_blocks, const void *w_v,
                                                           size_t w_row_bytes, int n_rows, const void *x_v,
                                                           size_t x_row_bytes, int n_cols, float *y, size_t y_stride)
{
    const uint8_t *w = w_v, *x = x_v;
    r8x_pass_buf_t buf;
    k4x_wscale_t ws[K4X_WSCALES];
    const int max_cols = R8X_COLS * x_row_bytes <= R8X_PASS_BYTES ? R8X_COLS : R8X_COLS / 2;
    /* q4_K_r8 batches: the weights' scales are unpacked once for all the
     * passes over a slice of rows */
    const bool keep = type == ED_TYPE_Q4_K_R8 && n_cols > 1 && n_blocks <= K4X_WSCALES;
    const int slice = keep ? (K4X_WSCALES / n_blocks < n_rows ? K4X_WSCALES / n_blocks : n_rows) : n_rows;
    for (int r0 = 0; r0 < n_rows; r0 += slice) {
        const int rows = n_rows - r0 < slice ? n_rows - r0 : slice;
        const uint8_t *wr = w + (size_t)r0 * w_row_bytes;
        for (int r = 0; keep && r < rows; r++)
            for (int b = 0; b < n_blocks; b++)
                ws[r * n_blocks + b] = k4x_wscale((const ed_block_q4_K_r8_t *)(wr + (size_t)r * w_row_bytes) + b);
        for (int c = 0; c < n_cols; c += max_cols) {
            const uint8_t *xc = x + (size_t)c * x_row_bytes;
            float *yc = y + (size_t)c * y_stride + r0;
            switch (n_cols - c < max_cols ? n_cols - c : max_cols) {
#define R8X_CASE(n)                                                                                                \
    case n: r8x_pass(type, n_blocks, wr, w_row_bytes, rows, xc, x_row_bytes, n, yc, y_stride, &buf, keep ? ws : NULL); \
        break;
                R8X_CASE(1)
                R8X_CASE(2)
                R8X_CASE(3)
                R8X_CASE(4)
                R8X_CASE(5)
                R8X_CASE(6)
                R8X_CASE(7)
#undef R8X_CASE
            default:
                r8x_pass(type, n_blocks, wr, w_row_bytes, rows, xc, x_row_bytes, R8X_COLS, yc, y_stride, &buf,
                         keep ? ws : NULL);
                break;
            }
        }
    }
}

static void gemm_q4_0_r8_avx2(int n_blocks, const void *w, size_t w_row_bytes, int n_rows, const void *x,
                              size_t x_row_bytes, int n_cols, float *y, size_t y_stride)
{
    r8x_gemm(ED_TYPE_Q4_0_R8, n_blocks, w, w_row_bytes, n_rows, x, x_row_bytes, n_cols, y, y_stride);
}

static void gemm_q8_0_r8_avx2(int n_blocks, const void *w, size_t w_row_bytes, int n_rows, const void *x,
                              size_t x_row_bytes, int n_cols, float *y, size_t y_stride)
{
    r8x_gemm(ED_TYPE_Q8_0_R8, n_blocks, w, w_row_bytes, n_rows, x, x_row_bytes, n_cols, y, y_stride);
}

static void gemm_q4_K_r8_avx2(int n_blocks, const void *w, size_t w_row_bytes, int n_rows, const void *x,
                              size_t x_row_bytes, int n_cols, float *y, size_t y_stride)
{
    r8x_gemm(ED_TYPE_Q4_K_R8, n_blocks, w, w_row_bytes, n_rows, x, x_row_bytes, n_cols, y, y_stride);
}
#endif
