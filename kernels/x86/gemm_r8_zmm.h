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

#define R8Z_PAIRS 2 /* row pairs per tile of r8z_gemm (q6_K): 4 weight rows */
#define R8Z_COLS 4  /* activation rows per tile of r8z_gemm */

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

/* k4_r8_scales for two q4_K_r8 super-blocks at once (b0: the low half, b1:
 * the high): ed_k4_scales_words in 128-bit lanes, the same values. Reads
 * 16 bytes from each scales array (its 12 and 4 of qs, in the block). */
static inline __attribute__((always_inline)) void k4z_pair_scales(const ed_block_q4_K_r8_t *b0,
                                                                  const ed_block_q4_K_r8_t *b1, __m512 *ds,
                                                                  __m512 *dm)
{
    __m256i x = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)b0->scales)),
                                        _mm_loadu_si128((const __m128i *)b1->scales), 1);
    /* per lane: first = bytes 0..7 & 0x3F; second = nibbles of bytes 8..11
     * (low, then high) | bits 6-7 of bytes 0..7 moved to 4-5 */
    __m256i first = _mm256_and_si256(x, _mm256_set1_epi8(0x3F));
    __m256i nib = _mm256_srli_si256(x, 8);
    __m256i nibbles = _mm256_and_si256(_mm256_unpacklo_epi32(nib, _mm256_srli_epi32(nib, 4)), _mm256_set1_epi8(0x0F));
    __m256i second = _mm256_or_si256(nibbles, _mm256_and_si256(_mm256_srli_epi64(x, 2), _mm256_set1_epi8(0x30)));
    /* [scales (8), mins (8)] per row, then [row 0 scales, row 1 scales, row 0 mins, row 1 mins] */
    __m256i sm = _mm256_permute4x64_epi64(_mm256_unpacklo_epi32(first, second), 0xD8);
    __m512 scale = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm256_castsi256_si128(sm)));
    __m512 min = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm256_extracti128_si256(sm, 1)));
    uint32_t h0, h1; /* d, dmin of each */
    __builtin_memcpy(&h0, &b0->d, 4);
    __builtin_memcpy(&h1, &b1->d, 4);
    __m512 f = _mm512_castps128_ps512(_mm_cvtph_ps(_mm_set_epi32(0, 0, (int)h1, (int)h0))); /* d0 dmin0 d1 dmin1 */
    __m512 d = _mm512_permutexvar_ps(_mm512_set_epi32(2, 2, 2, 2, 2, 2, 2, 2, 0, 0, 0, 0, 0, 0, 0, 0), f);
    __m512 dmin = _mm512_permutexvar_ps(_mm512_set_epi32(3, 3, 3, 3, 3, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1), f);
    *ds = _mm512_mul_ps(d, scale);
    *dm = _mm512_mul_ps(dmin, min);
}

typedef void (*r8z_tile_fn)(int type, int n_blocks, const uint8_t *w, size_t w_row_bytes, int pairs,
                            const uint8_t *x, size_t x_row_bytes, int cols, float *y, size_t y_stride);

/* Bytes the matrix-vector pass prefetches ahead of the row it reads. A
 * core's read bandwidth is bound by its misses in flight, and the hardware
 * prefetcher stops at every 4 KiB page: one thread streaming weights from
 * memory measured 10-20% more GB/s (q4_0_r8, q8_0_r8, q4_K_r8) with 1 or
 * 2 KiB ahead than with none, and less again at 4 and 8 KiB; into L2 (T1)
 * a little more than into L1, and no more with a second, farther one. */
#define R8P_AHEAD 2048

/* gemm_pass (one weight row at a time by the ymm kernel) with the weights
 * R8P_AHEAD bytes on prefetched, a row's worth before each row. */
static inline __attribute__((always_inline)) void r8p_pass(gemm_row_fn row_fn, int type, int n_blocks,
                                                           const uint8_t *w, size_t w_row_bytes, int n_rows,
                                                           const uint8_t *x, size_t x_row_bytes, int cols, float *y,
                                                           size_t y_stride)
{
    const uint8_t *end = w + (size_t)n_rows * w_row_bytes;
    for (int r = 0; r < n_rows; r++) {
        const uint8_t *row = w + (size_t)r * w_row_bytes;
        for (const uint8_t *p = row + R8P_AHEAD; p < row + R8P_AHEAD + w_row_bytes && p < end; p += 64)
            _mm_prefetch((const char *)p, _MM_HINT_T1);
        row_fn(type, n_blocks, row, x, x_row_bytes, cols, y + r, y_stride);
    }
}

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

/* ---- Wide tiles: R8W_PAIRS row pairs x R8W_COLS activation rows. The
 * 512-bit ports run vpdpbusd and every other vector op alike, so a tile's
 * cost is its dot products plus its overhead: unpacking a weight vector
 * (shared by the tile's columns), the float steps (one conversion, scale
 * product and fused add per output and group, fixed by the ymm kernel's
 * rounding) and each column's start value. More columns per weight vector
 * and the columns' start values (and q4_K's activation sums) formed once
 * per column block instead of once per tile cut the overhead; the integer
 * sums and float steps per lane are unchanged, so outputs stay bit for bit
 * the ymm kernel's. */

/* Measured on a Xeon with AVX-512 VNNI, 64x64 blocks of 2048-element rows:
 * 2 x 6 beat 2 x 4, 1 x 8 and 1 x 12 by 10-20% (1 x n: one dot product per
 * activation load; 3 x 4 would not fit the 32 registers). Row pairs
 * unpacked once per call into a stack buffer (no insert or nibble steps in
 * the tile) measured no faster at 2048 and slower at 5632-element rows. */
#define R8W_PAIRS 2 /* row pairs per tile */
#define R8W_COLS 6  /* activation rows per tile (at most 12): 12 int + 12 float accumulators */
#define R8W_PRE_GROUPS 64 /* groups (super-blocks) of per-column values a column block holds: 16 KiB */

/* The ymm start of each (group g, column c) of a column block: pre[g * R8W_COLS + c]. */
static inline __attribute__((always_inline)) void r8w_starts(int type, int n_groups, const uint8_t *x,
                                                             size_t x_row_bytes, int cols, __m256i *pre)
{
    for (int g = 0; g < n_groups; g++)
        for (int c = 0; c < cols; c++)
            _mm256_store_si256(pre + (size_t)g * R8W_COLS + c,
                               r8_start(type, (const ed_group_q8_0_x8_t *)(x + (size_t)c * x_row_bytes) + g));
}

/* Rows [2 pairs) x cols (constants after inlining) of q4_0_r8 / q8_0_r8;
 * pre: r8w_starts of these columns, or NULL (formed here). */
static inline __attribute__((always_inline)) void r8w_tile(int type, int n_groups, const uint8_t *w,
                                                           size_t w_row_bytes, int pairs, const uint8_t *x,
                                                           size_t x_row_bytes, int cols, const __m256i *pre,
                                                           float *y, size_t y_stride)
{
    __m512 acc[R8W_PAIRS][R8W_COLS];
#pragma GCC unroll 4
    for (int p = 0; p < pairs; p++)
#pragma GCC unroll 16
        for (int c = 0; c < cols; c++)
            acc[p][c] = _mm512_setzero_ps();
    const __m512i low = _mm512_set1_epi8(0x0F);
    for (int g = 0; g < n_groups; g++) {
        __m512i sum[R8W_PAIRS][R8W_COLS];
#pragma GCC unroll 16
        for (int c = 0; c < cols; c++) {
            const ed_group_q8_0_x8_t *a = (const ed_group_q8_0_x8_t *)(x + (size_t)c * x_row_bytes) + g;
            __m512i start = pre ? r8z_bcast(pre + (size_t)g * R8W_COLS + c)
                                : _mm512_broadcast_i64x4(r8_start(type, a));
#pragma GCC unroll 4
            for (int p = 0; p < pairs; p++)
                sum[p][c] = start;
        }
#pragma GCC unroll 4
        for (int m = 0; m < 4; m++) { /* elements 8m..8m+7 of every block: k = 2m, 2m + 1 */
            __m512i v[R8W_PAIRS][2];
#pragma GCC unroll 4
            for (int p = 0; p < pairs; p++) {
                const uint8_t *r0 = w + (size_t)(2 * p) * w_row_bytes, *r1 = r0 + w_row_bytes;
                if (type == ED_TYPE_Q4_0_R8) {
                    __m512i packed = r8z_load2(((const ed_group_q4_0_r8_t *)r0 + g)->qs[m],
                                               ((const ed_group_q4_0_r8_t *)r1 + g)->qs[m]);
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
#pragma GCC unroll 16
                for (int c = 0; c < cols; c++) {
                    const ed_group_q8_0_x8_t *a = (const ed_group_q8_0_x8_t *)(x + (size_t)c * x_row_bytes) + g;
                    __m512i xv = r8z_bcast(a->qs[2 * m + h]);
#pragma GCC unroll 4
                    for (int p = 0; p < pairs; p++)
                        sum[p][c] = _mm512_dpbusd_epi32(sum[p][c], v[p][h], xv);
                }
        }
#pragma GCC unroll 4
        for (int p = 0; p < pairs; p++) {
            const uint8_t *r0 = w + (size_t)(2 * p) * w_row_bytes, *r1 = r0 + w_row_bytes;
            __m512 dw = type == ED_TYPE_Q4_0_R8
                            ? r8z_scales2(((const ed_group_q4_0_r8_t *)r0 + g)->d, ((const ed_group_q4_0_r8_t *)r1 + g)->d)
                            : r8z_scales2(((const ed_group_q8_0_r8_t *)r0 + g)->d, ((const ed_group_q8_0_r8_t *)r1 + g)->d);
#pragma GCC unroll 16
            for (int c = 0; c < cols; c++) {
                const ed_group_q8_0_x8_t *a = (const ed_group_q8_0_x8_t *)(x + (size_t)c * x_row_bytes) + g;
                __m512 scale = _mm512_mul_ps(dw, _mm512_broadcast_f32x8(_mm256_loadu_ps(a->d)));
                acc[p][c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum[p][c]), scale, acc[p][c]);
            }
        }
    }
#pragma GCC unroll 4
    for (int p = 0; p < pairs; p++)
#pragma GCC unroll 16
        for (int c = 0; c < cols; c++) {
            y[(size_t)c * y_stride + 2 * p] = tile_hsum(_mm512_castps512_ps256(acc[p][c]));
            y[(size_t)c * y_stride + 2 * p + 1] = tile_hsum(_mm512_extractf32x8_ps(acc[p][c], 1));
        }
}

/* Each (super-block b, column c)'s sub-block sums times its d, r8_k4_row_pre's act_sum. */
static inline __attribute__((always_inline)) void r8w_k4_sums(int n_blocks, const uint8_t *x, size_t x_row_bytes,
                                                              int cols, __m256i *pre)
{
    for (int b = 0; b < n_blocks; b++)
        for (int c = 0; c < cols; c++) {
            const ed_block_q8_K_x8_t *a = (const ed_block_q8_K_x8_t *)(x + (size_t)c * x_row_bytes) + b;
            _mm256_store_ps((float *)(pre + (size_t)b * R8W_COLS + c),
                            _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_loadu_si256((const __m256i *)a->sum)),
                                          _mm256_set1_ps(a->d)));
        }
}

/* The same for q4_K_r8 (n_blocks super-blocks), r8_k4_row's steps per lane. */
static inline __attribute__((always_inline)) void r8w_k4_tile(int type, int n_blocks, const uint8_t *w,
                                                              size_t w_row_bytes, int pairs, const uint8_t *x,
                                                              size_t x_row_bytes, int cols, const __m256i *pre,
                                                              float *y, size_t y_stride)
{
    (void)type;
    __m512 acc[R8W_PAIRS][R8W_COLS];
#pragma GCC unroll 4
    for (int p = 0; p < pairs; p++)
#pragma GCC unroll 16
        for (int c = 0; c < cols; c++)
            acc[p][c] = _mm512_setzero_ps();
    const __m512i low = _mm512_set1_epi8(0x0F);
    for (int b = 0; b < n_blocks; b++) {
        __m512i sum[R8W_PAIRS][R8W_COLS];
#pragma GCC unroll 4
        for (int p = 0; p < pairs; p++)
#pragma GCC unroll 16
            for (int c = 0; c < cols; c++)
                sum[p][c] = _mm512_setzero_si512();
#pragma GCC unroll 4
        for (int m = 0; m < 4; m++) {
            __m512i v[R8W_PAIRS][2];
#pragma GCC unroll 4
            for (int p = 0; p < pairs; p++) {
                const ed_block_q4_K_r8_t *b0 = (const ed_block_q4_K_r8_t *)(w + (size_t)(2 * p) * w_row_bytes) + b;
                const ed_block_q4_K_r8_t *b1 = (const ed_block_q4_K_r8_t *)(w + (size_t)(2 * p + 1) * w_row_bytes) + b;
                __m512i packed = r8z_load2(b0->qs[m], b1->qs[m]);
                v[p][0] = _mm512_and_si512(packed, low);
                v[p][1] = _mm512_and_si512(_mm512_srli_epi16(packed, 4), low);
            }
#pragma GCC unroll 2
            for (int h = 0; h < 2; h++)
#pragma GCC unroll 16
                for (int c = 0; c < cols; c++) {
                    const ed_block_q8_K_x8_t *a = (const ed_block_q8_K_x8_t *)(x + (size_t)c * x_row_bytes) + b;
                    __m512i xv = r8z_bcast(a->qs[2 * m + h]);
#pragma GCC unroll 4
                    for (int p = 0; p < pairs; p++)
                        sum[p][c] = _mm512_dpbusd_epi32(sum[p][c], v[p][h], xv);
                }
        }
#pragma GCC unroll 4
        for (int p = 0; p < pairs; p++) {
            __m512 ds, dm;
            k4z_pair_scales((const ed_block_q4_K_r8_t *)(w + (size_t)(2 * p) * w_row_bytes) + b,
                            (const ed_block_q4_K_r8_t *)(w + (size_t)(2 * p + 1) * w_row_bytes) + b, &ds, &dm);
#pragma GCC unroll 16
            for (int c = 0; c < cols; c++) {
                const ed_block_q8_K_x8_t *a = (const ed_block_q8_K_x8_t *)(x + (size_t)c * x_row_bytes) + b;
                __m512 ad = _mm512_set1_ps(a->d);
                __m512 act_sum = pre ? _mm512_castsi512_ps(r8z_bcast(pre + (size_t)b * R8W_COLS + c))
                                     : _mm512_mul_ps(_mm512_cvtepi32_ps(r8z_bcast(a->sum)), ad);
                acc[p][c] = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(sum[p][c]), ad), ds, acc[p][c]);
                acc[p][c] = _mm512_fnmadd_ps(act_sum, dm, acc[p][c]);
            }
        }
    }
#pragma GCC unroll 4
    for (int p = 0; p < pairs; p++)
#pragma GCC unroll 16
        for (int c = 0; c < cols; c++) {
            y[(size_t)c * y_stride + 2 * p] = tile_hsum(_mm512_castps512_ps256(acc[p][c]));
            y[(size_t)c * y_stride + 2 * p + 1] = tile_hsum(_mm512_extractf32x8_ps(acc[p][c], 1));
        }
}

typedef void (*r8w_tile_fn)(int type, int n_groups, const uint8_t *w, size_t w_row_bytes, int pairs,
                            const uint8_t *x, size_t x_row_bytes, int cols, const __m256i *pre, float *y,
                            size_t y_stride);

/* The rows of one column block (cols, a constant after inlining): tiles of
 * R8W_PAIRS pairs, then single pairs, then a last odd row by the ymm kernel. */
static inline __attribute__((always_inline)) void r8w_rows(r8w_tile_fn tile, gemm_row_fn row_fn, int type,
                                                           int n_blocks, int n_groups, const uint8_t *w,
                                                           size_t w_row_bytes, int n_rows, const uint8_t *x,
                                                           size_t x_row_bytes, int cols, const __m256i *pre,
                                                           float *y, size_t y_stride)
{
    int r = 0;
    for (; r + 2 * R8W_PAIRS <= n_rows; r += 2 * R8W_PAIRS)
        tile(type, n_groups, w + (size_t)r * w_row_bytes, w_row_bytes, R8W_PAIRS, x, x_row_bytes, cols, pre, y + r,
             y_stride);
    for (; r + 2 <= n_rows; r += 2)
        tile(type, n_groups, w + (size_t)r * w_row_bytes, w_row_bytes, 1, x, x_row_bytes, cols, pre, y + r, y_stride);
    if (r < n_rows)
        gemm_passes(row_fn, R8_COLS, type, n_blocks, w + (size_t)r * w_row_bytes, w_row_bytes, 1, x, x_row_bytes,
                    cols, y + r, y_stride);
}

/* The ed_gemm_fn contract: up to R8_COLS activation rows go the ymm
 * passes (the matrix-vector path, which streams one weight row at a time
 * from memory, prefetched); more go in column blocks of R8W_COLS, each forming its
 * per-column values once (k4: the activation sums, else the start values). */
static inline __attribute__((always_inline)) void r8w_gemm(r8w_tile_fn tile, gemm_row_fn row_fn, int type, int k4,
                                                           int n_blocks, const void *w_v, size_t w_row_bytes,
                                                           int n_rows, const void *x_v, size_t x_row_bytes,
                                                           int n_cols, float *y, size_t y_stride)
{
    const uint8_t *w = w_v, *x = x_v;
    if (n_cols <= R8_COLS) {
        switch (n_cols) {
        case 1: r8p_pass(row_fn, type, n_blocks, w, w_row_bytes, n_rows, x, x_row_bytes, 1, y, y_stride); break;
        case 2: r8p_pass(row_fn, type, n_blocks, w, w_row_bytes, n_rows, x, x_row_bytes, 2, y, y_stride); break;
        case 3: r8p_pass(row_fn, type, n_blocks, w, w_row_bytes, n_rows, x, x_row_bytes, 3, y, y_stride); break;
        default: r8p_pass(row_fn, type, n_blocks, w, w_row_bytes, n_rows, x, x_row_bytes, 4, y, y_stride); break;
        }
        return;
    }
    int n_groups = k4 ? n_blocks : (n_blocks + ED_R8 - 1) / ED_R8;
    __m256i pre_buf[R8W_PRE_GROUPS * R8W_COLS];
    const __m256i *pre = n_groups <= R8W_PRE_GROUPS ? pre_buf : NULL;
    for (int c = 0; c < n_cols; c += R8W_COLS) {
        const uint8_t *xc = x + (size_t)c * x_row_bytes;
        float *yc = y + (size_t)c * y_stride;
        int cols = n_cols - c < R8W_COLS ? n_cols - c : R8W_COLS;
        if (pre && k4)
            r8w_k4_sums(n_groups, xc, x_row_bytes, cols, pre_buf);
        else if (pre)
            r8w_starts(type, n_groups, xc, x_row_bytes, cols, pre_buf);
#define R8W_CASE(n)                                                                                                  \
    case n:                                                                                                          \
        r8w_rows(tile, row_fn, type, n_blocks, n_groups, w, w_row_bytes, n_rows, xc, x_row_bytes, n, pre, yc,        \
                 y_stride);                                                                                          \
        break
        switch (cols) {
            R8W_CASE(1); R8W_CASE(2); R8W_CASE(3); R8W_CASE(4); R8W_CASE(5);
#if R8W_COLS > 6
            R8W_CASE(6); R8W_CASE(7);
#endif
#if R8W_COLS > 8
            R8W_CASE(8); R8W_CASE(9); R8W_CASE(10); R8W_CASE(11);
#endif
        default:
            r8w_rows(tile, row_fn, type, n_blocks, n_groups, w, w_row_bytes, n_rows, xc, x_row_bytes, R8W_COLS, pre,
                     yc, y_stride);
            break;
        }
#undef R8W_CASE
    }
}

static void gemm_q4_0_r8_zmm(int n_blocks, const void *w, size_t w_row_bytes, int n_rows, const void *x,
                             size_t x_row_bytes, int n_cols, float *y, size_t y_stride)
{
    r8w_gemm(r8w_tile, r8_row, ED_TYPE_Q4_0_R8, 0, n_blocks, w, w_row_bytes, n_rows, x, x_row_bytes, n_cols, y,
             y_stride);
}

static void gemm_q8_0_r8_zmm(int n_blocks, const void *w, size_t w_row_bytes, int n_rows, const void *x,
                             size_t x_row_bytes, int n_cols, float *y, size_t y_stride)
{
    r8w_gemm(r8w_tile, r8_row, ED_TYPE_Q8_0_R8, 0, n_blocks, w, w_row_bytes, n_rows, x, x_row_bytes, n_cols, y,
             y_stride);
}

static void gemm_q4_K_r8_zmm(int n_blocks, const void *w, size_t w_row_bytes, int n_rows, const void *x,
                             size_t x_row_bytes, int n_cols, float *y, size_t y_stride)
{
    r8w_gemm(r8w_k4_tile, r8_k4_row, ED_TYPE_Q4_K_R8, 1, n_blocks, w, w_row_bytes, n_rows, x, x_row_bytes, n_cols,
             y, y_stride);
}

/* ---- q6_K (the file layout) in zmm row pairs: gemm_k.h's k6_block per
 * lane, row r in the low half, row r+1 in the high. vpshufb, packs and the
 * ternary logic work within 128-bit lanes, so each half does what the ymm
 * kernel does; the float steps of an output are k_row's. */

#define K6Z_PAIRS 2
#define K6Z_COLS 4

/* The 0..63 levels of sub-blocks 4h..4h+3 of two rows (k6_levels in zmm). */
static inline void k6z_levels(__m512i q[4], const uint8_t *ql0, const uint8_t *qh0, const uint8_t *ql1,
                              const uint8_t *qh1)
{
    const __m512i low_mask = _mm512_set1_epi8(0x0F);
    const __m512i two_bits = _mm512_set1_epi8(0x33);
    __m512i low01 = r8z_load2(ql0, ql1);
    __m512i low23 = r8z_load2(ql0 + 32, ql1 + 32);
    __m512i high = r8z_load2(qh0, qh1);
    __m512i high02 = _mm512_and_si512(high, two_bits);
    __m512i high13 = _mm512_and_si512(_mm512_srli_epi16(high, 2), two_bits);
    q[0] = _mm512_ternarylogic_epi32(low01, _mm512_slli_epi16(high02, 4), low_mask, TERN_MUX);
    q[1] = _mm512_ternarylogic_epi32(low23, _mm512_slli_epi16(high13, 4), low_mask, TERN_MUX);
    q[2] = _mm512_ternarylogic_epi32(_mm512_srli_epi16(low01, 4), high02, low_mask, TERN_MUX);
    q[3] = _mm512_ternarylogic_epi32(_mm512_srli_epi16(low23, 4), high13, low_mask, TERN_MUX);
}

static inline __m512i k6z_pair_scales(__m512i scales, int p)
{
    long long first = 0x0100010001000100LL + 0x0202020202020202LL * p;
    long long second = first + 0x0202020202020202LL;
    return _mm512_shuffle_epi8(scales, _mm512_set_epi64(second, first, second, first, second, first, second, first));
}

/* Rows [2 pairs) x cols of q6_K against q8_K: y[c * y_stride + r]. */
static inline __attribute__((always_inline)) void k6z_tile(int type, int n_blocks, const uint8_t *w,
                                                           size_t w_row_bytes, int pairs, const uint8_t *x,
                                                           size_t x_row_bytes, int cols, float *y,
                                                           size_t y_stride)
{
    (void)type;
    __m512 acc[K6Z_PAIRS][K6Z_COLS];
#pragma GCC unroll 2
    for (int p = 0; p < pairs; p++)
#pragma GCC unroll 4
        for (int c = 0; c < cols; c++)
            acc[p][c] = _mm512_setzero_ps();
    const __m128i even_odd = _mm_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
    for (int i = 0; i < n_blocks; i++) {
        const ed_block_q6_K_t *b[2 * K6Z_PAIRS];
        __m512i scales[K6Z_PAIRS], sumi[K6Z_PAIRS][K6Z_COLS];
#pragma GCC unroll 2
        for (int p = 0; p < pairs; p++) {
            b[2 * p] = (const ed_block_q6_K_t *)(w + (size_t)(2 * p) * w_row_bytes) + i;
            b[2 * p + 1] = (const ed_block_q6_K_t *)(w + (size_t)(2 * p + 1) * w_row_bytes) + i;
            __m256i s0 = _mm256_cvtepi8_epi16(_mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)b[2 * p]->scales), even_odd));
            __m256i s1 =
                _mm256_cvtepi8_epi16(_mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)b[2 * p + 1]->scales), even_odd));
            scales[p] = _mm512_inserti64x4(_mm512_castsi256_si512(s0), s1, 1);
#pragma GCC unroll 4
            for (int c = 0; c < cols; c++)
                sumi[p][c] = _mm512_setzero_si512();
        }
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            __m512i q[K6Z_PAIRS][4];
#pragma GCC unroll 2
            for (int p = 0; p < pairs; p++)
                k6z_levels(q[p], b[2 * p]->ql + 64 * h, b[2 * p]->qh + 32 * h, b[2 * p + 1]->ql + 64 * h,
                           b[2 * p + 1]->qh + 32 * h);
#pragma GCC unroll 2
            for (int s = 0; s < 4; s += 2) {
                __m512i sc[K6Z_PAIRS];
#pragma GCC unroll 2
                for (int p = 0; p < pairs; p++)
                    sc[p] = k6z_pair_scales(scales[p], 4 * h + s);
#pragma GCC unroll 4
                for (int c = 0; c < cols; c++) {
                    const int8_t *ya = k_act(x, x_row_bytes, c, i)->qs + 128 * h + 32 * s;
                    __m512i y0 = r8z_bcast(ya), y1 = r8z_bcast(ya + 32);
#pragma GCC unroll 2
                    for (int p = 0; p < pairs; p++) {
                        __m512i dot0 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q[p][s], y0);
                        __m512i dot1 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q[p][s + 1], y1);
                        sumi[p][c] = _mm512_dpwssd_epi32(sumi[p][c], _mm512_packs_epi32(dot0, dot1), sc[p]);
                    }
                }
            }
        }
#pragma GCC unroll 2
        for (int p = 0; p < pairs; p++) {
            __m512i in_order = _mm512_inserti64x4(
                _mm512_castsi256_si512(_mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)b[2 * p]->scales))),
                _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)b[2 * p + 1]->scales)), 1);
            __m512 d = _mm512_insertf32x8(_mm512_set1_ps(_cvtsh_ss(b[2 * p]->d)), _mm256_set1_ps(_cvtsh_ss(b[2 * p + 1]->d)), 1);
#pragma GCC unroll 4
            for (int c = 0; c < cols; c++) {
                const ed_block_q8_K_t *a = k_act(x, x_row_bytes, c, i);
                __m512i bias = _mm512_madd_epi16(in_order, r8z_bcast(a->bsums));
                __m512i sum = _mm512_sub_epi32(sumi[p][c], _mm512_slli_epi32(bias, 5));
                acc[p][c] = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_set1_ps(a->d), d), _mm512_cvtepi32_ps(sum), acc[p][c]);
            }
        }
    }
#pragma GCC unroll 2
    for (int p = 0; p < pairs; p++)
#pragma GCC unroll 4
        for (int c = 0; c < cols; c++) {
            y[(size_t)c * y_stride + 2 * p] = hsum_ps(_mm512_castps512_ps256(acc[p][c]));
            y[(size_t)c * y_stride + 2 * p + 1] = hsum_ps(_mm512_extractf32x8_ps(acc[p][c], 1));
        }
}

static void gemm_q6_K_zmm(int n_blocks, const void *w, size_t w_row_bytes, int n_rows, const void *x,
                          size_t x_row_bytes, int n_cols, float *y, size_t y_stride)
{
    r8z_gemm(k6z_tile, k_row, ED_TYPE_Q6_K, n_blocks, w, w_row_bytes, n_rows, x, x_row_bytes, n_cols, y, y_stride);
}
