/* x86/gemm_r8_zmm.h - AVX-512 batch products of the interleaved layouts
 * (q4_0_r8, q8_0_r8, q4_K_r8) with two weight rows per zmm register: row r
 * in the low 8 lanes, row r+1 in the high 8, each activation vector
 * broadcast to both halves. Every lane does the float steps of gemm_r8.h's
 * ymm kernels (r8_row, r8_k4_row) in the same order, and each half is reduced
 * by tile_hsum, so an output is bit for bit what the ymm kernel (the
 * matrix-vector path) gives: rows stay identical in any batch. The integer
 * sums are exact in any order, so they are regrouped freely. Included by
 * gemm_avx512.c after gemm_r8.h. */
/* (needs gemm_r8.h included before it: r8_row, r8_k4_row, tile_hsum) */

#define R8Z_PAIRS 2 /* row pairs per tile: 4 weight rows */
#define R8Z_COLS 4  /* activation rows per tile: 8 int + 8 float accumulators */

/* 32 bytes at a (row r) in the low half and at b (row r+1) in the high. */
static inline __m512i r8z_load2(const void *a, const void *b)
{
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)a)),
                              _mm256_loadu_si256((const __m256i *)b), 1);
}

/* The fp16 scales d[8] of rows r (at a) and r+1 (at b) as 16 floats. */
static inline __m512 r8z_scales2(const uint16_t *a, const uint16_t *b)
{
    __m256i h = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)a)),
                                        _mm_loadu_si128((const __m128i *)b), 1);
    return _mm512_cvtph_ps(h);
}

static inline __m512i r8z_bcast(const void *p)
{
    return _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)p));
}

/* Rows [2 pairs) x cols (constants after inlining) of q4_0_r8 / q8_0_r8:
 * y[c * y_stride + r]. rows_w[p] is the first row of pair p. */
static inline __attribute__((always_inline)) void r8z_tile(int type, int n_blocks, const uint8_t *w,
                                                           size_t w_row_bytes, int pairs, const uint8_t *x,
                                                           size_t x_row_bytes, int cols, float *y,
                                                           size_t y_stride)
{
    __m512 acc[R8Z_PAIRS][R8Z_COLS];
#pragma GCC unroll 2
    for (int p = 0; p < pairs; p++)
#pragma GCC unroll 4
        for (int c = 0; c < cols; c++)
            acc[p][c] = _mm512_setzero_ps();
    const __m512i low = _mm512_set1_epi8(0x0F);
    for (int g = 0; g < (n_blocks + ED_R8 - 1) / ED_R8; g++) {
        __m512i sum[R8Z_PAIRS][R8Z_COLS];
        const ed_group_q8_0_x8_t *a[R8Z_COLS];
#pragma GCC unroll 4
        for (int c = 0; c < cols; c++) {
            a[c] = (const ed_group_q8_0_x8_t *)(x + (size_t)c * x_row_bytes) + g;
            __m512i start = _mm512_sub_epi32(_mm512_setzero_si512(),
                                             _mm512_slli_epi32(r8z_bcast(a[c]->sum), type == ED_TYPE_Q4_0_R8 ? 3 : 7));
#pragma GCC unroll 2
            for (int p = 0; p < pairs; p++)
                sum[p][c] = start;
        }
#pragma GCC unroll 4
        for (int m = 0; m < 4; m++) { /* elements 8m..8m+7 of every block: k = 2m, 2m + 1 */
            __m512i v[R8Z_PAIRS][2];
#pragma GCC unroll 2
            for (int p = 0; p < pairs; p++) {
                const uint8_t *r0 = w + (size_t)(2 * p) * w_row_bytes, *r1 = r0 + w_row_bytes;
                if (type == ED_TYPE_Q4_0_R8) {
                    const ed_group_q4_0_r8_t *g0 = (const ed_group_q4_0_r8_t *)r0 + g;
                    const ed_group_q4_0_r8_t *g1 = (const ed_group_q4_0_r8_t *)r1 + g;
                    __m512i packed = r8z_load2(g0->qs[m], g1->qs[m]);
                    v[p][0] = _mm512_and_si512(packed, low);
                    v[p][1] = _mm512_and_si512(_mm512_srli_epi16(packed, 4), low);
                } else {
                    const ed_group_q8_0_r8_t *g0 = (const ed_group_q8_0_r8_t *)r0 + g;
                    const ed_group_q8_0_r8_t *g1 = (const ed_group_q8_0_r8_t *)r1 + g;
                    const __m512i flip = _mm512_set1_epi8((char)0x80);
                    v[p][0] = _mm512_xor_si512(r8z_load2(g0->qs[2 * m], g1->qs[2 * m]), flip);
                    v[p][1] = _mm512_xor_si512(r8z_load2(g0->qs[2 * m + 1], g1->qs[2 * m + 1]), flip);
                }
            }
#pragma GCC unroll 2
            for (int h = 0; h < 2; h++)
#pragma GCC unroll 4
                for (int c = 0; c < cols; c++) {
                    __m512i xv = r8z_bcast(a[c]->qs[2 * m + h]);
#pragma GCC unroll 2
                    for (int p = 0; p < pairs; p++)
                        sum[p][c] = _mm512_dpbusd_epi32(sum[p][c], v[p][h], xv);
                }
        }
#pragma GCC unroll 2
        for (int p = 0; p < pairs; p++) {
            const uint8_t *r0 = w + (size_t)(2 * p) * w_row_bytes, *r1 = r0 + w_row_bytes;
            __m512 dw = type == ED_TYPE_Q4_0_R8
                            ? r8z_scales2(((const ed_group_q4_0_r8_t *)r0 + g)->d, ((const ed_group_q4_0_r8_t *)r1 + g)->d)
                            : r8z_scales2(((const ed_group_q8_0_r8_t *)r0 + g)->d, ((const ed_group_q8_0_r8_t *)r1 + g)->d);
#pragma GCC unroll 4
            for (int c = 0; c < cols; c++) {
                __m512 scale = _mm512_mul_ps(dw, _mm512_broadcast_f32x8(_mm256_loadu_ps(a[c]->d)));
                acc[p][c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum[p][c]), scale, acc[p][c]);
            }
        }
    }
#pragma GCC unroll 2
    for (int p = 0; p < pairs; p++)
#pragma GCC unroll 4
        for (int c = 0; c < cols; c++) {
            y[(size_t)c * y_stride + 2 * p] = tile_hsum(_mm512_castps512_ps256(acc[p][c]));
            y[(size_t)c * y_stride + 2 * p + 1] = tile_hsum(_mm512_extractf32x8_ps(acc[p][c], 1));
        }
}

/* The same for q4_K_r8 (n_blocks super-blocks), r8_k4_row's steps per lane. */
static inline __attribute__((always_inline)) void r8z_k4_tile(int type, int n_blocks, const uint8_t *w,
                                                              size_t w_row_bytes, int pairs, const uint8_t *x,
                                                              size_t x_row_bytes, int cols, float *y,
                                                              size_t y_stride)
{
    (void)type;
    __m512 acc[R8Z_PAIRS][R8Z_COLS], acc_min[R8Z_PAIRS][R8Z_COLS];
#pragma GCC unroll 2
    for (int p = 0; p < pairs; p++)
#pragma GCC unroll 4
        for (int c = 0; c < cols; c++)
            acc[p][c] = acc_min[p][c] = _mm512_setzero_ps();
    const __m512i low = _mm512_set1_epi8(0x0F);
    for (int b = 0; b < n_blocks; b++) {
        __m512i sum[R8Z_PAIRS][R8Z_COLS];
        const ed_block_q8_K_x8_t *a[R8Z_COLS];
#pragma GCC unroll 4
        for (int c = 0; c < cols; c++) {
            a[c] = (const ed_block_q8_K_x8_t *)(x + (size_t)c * x_row_bytes) + b;
#pragma GCC unroll 2
            for (int p = 0; p < pairs; p++)
                sum[p][c] = _mm512_setzero_si512();
        }
#pragma GCC unroll 4
        for (int m = 0; m < 4; m++) {
            __m512i v[R8Z_PAIRS][2];
#pragma GCC unroll 2
            for (int p = 0; p < pairs; p++) {
                const ed_block_q4_K_r8_t *b0 = (const ed_block_q4_K_r8_t *)(w + (size_t)(2 * p) * w_row_bytes) + b;
                const ed_block_q4_K_r8_t *b1 = (const ed_block_q4_K_r8_t *)(w + (size_t)(2 * p + 1) * w_row_bytes) + b;
                __m512i packed = r8z_load2(b0->qs[m], b1->qs[m]);
                v[p][0] = _mm512_and_si512(packed, low);
                v[p][1] = _mm512_and_si512(_mm512_srli_epi16(packed, 4), low);
            }
#pragma GCC unroll 2
            for (int h = 0; h < 2; h++)
#pragma GCC unroll 4
                for (int c = 0; c < cols; c++) {
                    __m512i xv = r8z_bcast(a[c]->qs[2 * m + h]);
#pragma GCC unroll 2
                    for (int p = 0; p < pairs; p++)
                        sum[p][c] = _mm512_dpbusd_epi32(sum[p][c], v[p][h], xv);
                }
        }
#pragma GCC unroll 2
        for (int p = 0; p < pairs; p++) {
            const ed_block_q4_K_r8_t *b0 = (const ed_block_q4_K_r8_t *)(w + (size_t)(2 * p) * w_row_bytes) + b;
            const ed_block_q4_K_r8_t *b1 = (const ed_block_q4_K_r8_t *)(w + (size_t)(2 * p + 1) * w_row_bytes) + b;
            __m128i sm0 = k4_scales_mins(b0->scales), sm1 = k4_scales_mins(b1->scales);
            __m512i scale = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_cvtepu8_epi32(sm0)),
                                               _mm256_cvtepu8_epi32(sm1), 1);
            __m512i min = _mm512_inserti64x4(
                _mm512_castsi256_si512(_mm256_cvtepu8_epi32(_mm_unpackhi_epi64(sm0, sm0))),
                _mm256_cvtepu8_epi32(_mm_unpackhi_epi64(sm1, sm1)), 1);
            __m512 d = _mm512_insertf32x8(_mm512_set1_ps(fp16_scalar(b0->d)), _mm256_set1_ps(fp16_scalar(b1->d)), 1);
            __m512 dmin =
                _mm512_insertf32x8(_mm512_set1_ps(fp16_scalar(b0->dmin)), _mm256_set1_ps(fp16_scalar(b1->dmin)), 1);
#pragma GCC unroll 4
            for (int c = 0; c < cols; c++) {
                __m512 ad = _mm512_set1_ps(a[c]->d);
                __m512i scaled = _mm512_mullo_epi32(sum[p][c], scale);
                __m512i mins = _mm512_mullo_epi32(r8z_bcast(a[c]->sum), min);
                acc[p][c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(scaled), _mm512_mul_ps(d, ad), acc[p][c]);
                acc_min[p][c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(mins), _mm512_mul_ps(dmin, ad), acc_min[p][c]);
            }
        }
    }
#pragma GCC unroll 2
    for (int p = 0; p < pairs; p++)
#pragma GCC unroll 4
        for (int c = 0; c < cols; c++) {
            y[(size_t)c * y_stride + 2 * p] =
                tile_hsum(_mm512_castps512_ps256(acc[p][c])) - tile_hsum(_mm512_castps512_ps256(acc_min[p][c]));
            y[(size_t)c * y_stride + 2 * p + 1] = tile_hsum(_mm512_extractf32x8_ps(acc[p][c], 1)) -
                                                  tile_hsum(_mm512_extractf32x8_ps(acc_min[p][c], 1));
        }
}

typedef void (*r8z_tile_fn)(int type, int n_blocks, const uint8_t *w, size_t w_row_bytes, int pairs,
                            const uint8_t *x, size_t x_row_bytes, int cols, float *y, size_t y_stride);

/* The ed_gemm_fn contract: up to R8_COLS activation rows go the ymm
 * passes (the matrix-vector path, which streams one weight row at a time
 * from memory); more go in tiles of 2 row pairs x R8Z_COLS, then the edges
 * (one pair, fewer columns, a last odd row by the ymm kernel). */
static inline __attribute__((always_inline)) void r8z_gemm(r8z_tile_fn tile, gemm_row_fn row_fn, int type,
                                                           int n_blocks, const void *w_v, size_t w_row_bytes,
                                                           int n_rows, const void *x_v, size_t x_row_bytes,
                                                           int n_cols, float *y, size_t y_stride)
{
    const uint8_t *w = w_v, *x = x_v;
    if (n_cols <= R8_COLS) {
        gemm_passes(row_fn, R8_COLS, type, n_blocks, w, w_row_bytes, n_rows, x, x_row_bytes, n_cols, y, y_stride);
        return;
    }
    for (int c = 0; c < n_cols; c += R8Z_COLS) {
        const uint8_t *xc = x + (size_t)c * x_row_bytes;
        float *yc = y + (size_t)c * y_stride;
        int cols = n_cols - c < R8Z_COLS ? n_cols - c : R8Z_COLS;
        int r = 0;
        for (; r + 2 * R8Z_PAIRS <= n_rows; r += 2 * R8Z_PAIRS) {
            const uint8_t *wr = w + (size_t)r * w_row_bytes;
            switch (cols) {
            case 1: tile(type, n_blocks, wr, w_row_bytes, R8Z_PAIRS, xc, x_row_bytes, 1, yc + r, y_stride); break;
            case 2: tile(type, n_blocks, wr, w_row_bytes, R8Z_PAIRS, xc, x_row_bytes, 2, yc + r, y_stride); break;
            case 3: tile(type, n_blocks, wr, w_row_bytes, R8Z_PAIRS, xc, x_row_bytes, 3, yc + r, y_stride); break;
            default: tile(type, n_blocks, wr, w_row_bytes, R8Z_PAIRS, xc, x_row_bytes, 4, yc + r, y_stride); break;
            }
        }
        for (; r + 2 <= n_rows; r += 2) {
            const uint8_t *wr = w + (size_t)r * w_row_bytes;
            switch (cols) {
            case 1: tile(type, n_blocks, wr, w_row_bytes, 1, xc, x_row_bytes, 1, yc + r, y_stride); break;
            case 2: tile(type, n_blocks, wr, w_row_bytes, 1, xc, x_row_bytes, 2, yc + r, y_stride); break;
            case 3: tile(type, n_blocks, wr, w_row_bytes, 1, xc, x_row_bytes, 3, yc + r, y_stride); break;
            default: tile(type, n_blocks, wr, w_row_bytes, 1, xc, x_row_bytes, 4, yc + r, y_stride); break;
            }
        }
        if (r < n_rows)
            gemm_passes(row_fn, R8_COLS, type, n_blocks, w + (size_t)r * w_row_bytes, w_row_bytes, 1, xc,
                        x_row_bytes, cols, yc + r, y_stride);
    }
}

static void gemm_q4_0_r8_zmm(int n_blocks, const void *w, size_t w_row_bytes, int n_rows, const void *x,
                             size_t x_row_bytes, int n_cols, float *y, size_t y_stride)
{
    r8z_gemm(r8z_tile, r8_row, ED_TYPE_Q4_0_R8, n_blocks, w, w_row_bytes, n_rows, x, x_row_bytes, n_cols, y,
             y_stride);
}

static void gemm_q8_0_r8_zmm(int n_blocks, const void *w, size_t w_row_bytes, int n_rows, const void *x,
                             size_t x_row_bytes, int n_cols, float *y, size_t y_stride)
{
    r8z_gemm(r8z_tile, r8_row, ED_TYPE_Q8_0_R8, n_blocks, w, w_row_bytes, n_rows, x, x_row_bytes, n_cols, y,
             y_stride);
}

static void gemm_q4_K_r8_zmm(int n_blocks, const void *w, size_t w_row_bytes, int n_rows, const void *x,
                             size_t x_row_bytes, int n_cols, float *y, size_t y_stride)
{
    r8z_gemm(r8z_k4_tile, r8_k4_row, ED_TYPE_Q4_K_R8, n_blocks, w, w_row_bytes, n_rows, x, x_row_bytes, n_cols, y,
             y_stride);
}
