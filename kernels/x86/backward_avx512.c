/* x86/backward_avx512.c - AVX-512 versions of the training f32 products of
 * kernels.h (gemm_f32_nn, gemm_f32_tn, gemm_f32_nt), layered on the AVX2
 * table (dispatch fills AVX2 first, then this file swaps the three in).
 * nn/tn: register tiles of up to 24 zmm accumulators (6 rows x 64 columns
 * down to 12 x 16), k blocked by 256; nt: 6 x 4 tiles of dot products. */
#include "kernels/dispatch.h"

#include <immintrin.h>

#define KC 256 /* k block: a 64-column B panel of KC rows (64 KiB) stays in L2 next to A's rows */

/* mask of the first n (1..16) lanes */
static inline __mmask16 lanes(int n)
{
    return (__mmask16)(n >= 16 ? 0xFFFF : (1u << n) - 1);
}

/* c (MR, 16 NV) += A (MR, k) . b (k, 16 NV), A's element (r, p) at
 * a[r * ai + p * ap]; the last vector of columns loads and stores under the
 * mask `last`. MR and NV are constants at every call, so the accumulators
 * stay in registers once the loops are unrolled. */
static inline __attribute__((always_inline)) void tile_rows(const int MR, const int NV, int k, const float *a,
                                                             size_t ai, size_t ap, const float *b, size_t ldb,
                                                             float *c, size_t ldc, __mmask16 last)
{
    __m512 acc[12][4]; /* only [MR][NV] used: fixed bounds, no VLA */
#pragma GCC unroll 16
    for (int r = 0; r < MR; r++)
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++)
            acc[r][v] = _mm512_setzero_ps();
    for (int p = 0; p < k; p++) {
        const float *bp = b + (size_t)p * ldb;
        const float *ap_ = a + (size_t)p * ap;
        __m512 bv[4];
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++)
            bv[v] = v == NV - 1 ? _mm512_maskz_loadu_ps(last, bp + 16 * v) : _mm512_loadu_ps(bp + 16 * v);
#pragma GCC unroll 16
        for (int r = 0; r < MR; r++) {
            __m512 av = _mm512_set1_ps(ap_[(size_t)r * ai]);
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++)
                acc[r][v] = _mm512_fmadd_ps(av, bv[v], acc[r][v]);
        }
    }
#pragma GCC unroll 16
    for (int r = 0; r < MR; r++) {
        float *cr = c + (size_t)r * ldc;
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) {
            if (v == NV - 1)
                _mm512_mask_storeu_ps(cr + 16 * v, last,
                                      _mm512_add_ps(_mm512_maskz_loadu_ps(last, cr + 16 * v), acc[r][v]));
            else
                _mm512_storeu_ps(cr + 16 * v, _mm512_add_ps(_mm512_loadu_ps(cr + 16 * v), acc[r][v]));
        }
    }
}

typedef void (*tile_fn)(int k, const float *a, size_t ai, size_t ap, const float *b, size_t ldb, float *c,
                        size_t ldc, __mmask16 last);

#define TILE(MR, NV)                                                                                          \
    static void tile_##MR##_##NV(int k, const float *a, size_t ai, size_t ap, const float *b, size_t ldb,    \
                                 float *c, size_t ldc, __mmask16 last)                                        \
    {                                                                                                         \
        tile_rows(MR, NV, k, a, ai, ap, b, ldb, c, ldc, last);                                                \
    }
#define TILES_6(NV) TILE(1, NV) TILE(2, NV) TILE(3, NV) TILE(4, NV) TILE(5, NV) TILE(6, NV)
#define TILES_8(NV) TILES_6(NV) TILE(7, NV) TILE(8, NV)
#define TILES_12(NV) TILES_8(NV) TILE(9, NV) TILE(10, NV) TILE(11, NV) TILE(12, NV)
TILES_12(1)
TILES_12(2)
TILES_8(3)
TILES_6(4)

/* tiles[NV - 1][MR - 1]; rows_for[NV - 1]: the full tile height for NV
 * column vectors (24 accumulators, 12 for one vector: the broadcasts bound it) */
static const int rows_for[4] = {12, 12, 8, 6};
static const tile_fn tiles[4][12] = {
    {tile_1_1, tile_2_1, tile_3_1, tile_4_1, tile_5_1, tile_6_1, tile_7_1, tile_8_1, tile_9_1, tile_10_1,
     tile_11_1, tile_12_1},
    {tile_1_2, tile_2_2, tile_3_2, tile_4_2, tile_5_2, tile_6_2, tile_7_2, tile_8_2, tile_9_2, tile_10_2,
     tile_11_2, tile_12_2},
    {tile_1_3, tile_2_3, tile_3_3, tile_4_3, tile_5_3, tile_6_3, tile_7_3, tile_8_3},
    {tile_1_4, tile_2_4, tile_3_4, tile_4_4, tile_5_4, tile_6_4},
};

/* c (m, n) += A . b (k, n), A's element (i, p) at a[i * ai + p * ap]: nn
 * passes (lda, 1), tn (1, lda). k in blocks of KC; within one, 64-column
 * panels of b (the last one narrower, masked) against every row block. */
static void gemm_rows(int m, int n, int k, const float *a, size_t ai, size_t ap, const float *b, size_t ldb,
                      float *c, size_t ldc)
{
    for (int p0 = 0; p0 < k; p0 += KC) {
        int kc = k - p0 < KC ? k - p0 : KC;
        const float *ak = a + (size_t)p0 * ap, *bk = b + (size_t)p0 * ldb;
        for (int j = 0; j < n; j += 64) {
            int cols = n - j < 64 ? n - j : 64;
            int nv = (cols + 15) / 16;
            __mmask16 last = lanes(cols - 16 * (nv - 1));
            int mr = rows_for[nv - 1];
            for (int i = 0; i < m; i += mr) {
                int rows = m - i < mr ? m - i : mr;
                tiles[nv - 1][rows - 1](kc, ak + (size_t)i * ai, ai, ap, bk + j, ldb, c + (size_t)i * ldc + j, ldc,
                                        last);
            }
        }
    }
}

static void gemm_f32_nn(int m, int n, int k, const float *a, size_t lda, const float *b, size_t ldb, float *c,
                        size_t ldc)
{
    gemm_rows(m, n, k, a, lda, 1, b, ldb, c, ldc);
}

static void gemm_f32_tn(int m, int n, int k, const float *a, size_t lda, const float *b, size_t ldb, float *c,
                        size_t ldc)
{
    gemm_rows(m, n, k, a, 1, lda, b, ldb, c, ldc);
}

/* c (MR, NR) += a (MR, k) . b (NR, k)^T, MR <= 6, NR <= 4: MR x NR dot
 * products side by side (24 accumulators, 10 loads per 24 FMAs),
 * 16 lanes each, the k tail under a mask, each reduced once at the end. */
static inline __attribute__((always_inline)) void tile_dots(const int MR, const int NR, int k, const float *a,
                                                             size_t lda, const float *b, size_t ldb, float *c,
                                                             size_t ldc)
{
    __m512 acc[6][4];
#pragma GCC unroll 6
    for (int r = 0; r < MR; r++)
#pragma GCC unroll 4
        for (int s = 0; s < NR; s++)
            acc[r][s] = _mm512_setzero_ps();
    for (int p = 0; p < k; p += 16) {
        __mmask16 mk = p + 16 <= k ? 0xFFFF : lanes(k - p); /* one masked step at the end */
        __m512 av[6];
#pragma GCC unroll 6
        for (int r = 0; r < MR; r++)
            av[r] = _mm512_maskz_loadu_ps(mk, a + (size_t)r * lda + p);
#pragma GCC unroll 4
        for (int s = 0; s < NR; s++) {
            __m512 bv = _mm512_maskz_loadu_ps(mk, b + (size_t)s * ldb + p);
#pragma GCC unroll 6
            for (int r = 0; r < MR; r++)
                acc[r][s] = _mm512_fmadd_ps(av[r], bv, acc[r][s]);
        }
    }
#pragma GCC unroll 6
    for (int r = 0; r < MR; r++)
#pragma GCC unroll 4
        for (int s = 0; s < NR; s++)
            c[(size_t)r * ldc + s] += _mm512_reduce_add_ps(acc[r][s]);
}

typedef void (*dots_fn)(int k, const float *a, size_t lda, const float *b, size_t ldb, float *c, size_t ldc);

#define DOTS(MR, NR)                                                                                          \
    static void dots_##MR##_##NR(int k, const float *a, size_t lda, const float *b, size_t ldb, float *c,    \
                                 size_t ldc)                                                                  \
    {                                                                                                         \
        tile_dots(MR, NR, k, a, lda, b, ldb, c, ldc);                                                         \
    }
#define DOTS_4(MR) DOTS(MR, 1) DOTS(MR, 2) DOTS(MR, 3) DOTS(MR, 4)
DOTS_4(1)
DOTS_4(2)
DOTS_4(3)
DOTS_4(4)
DOTS_4(5)
DOTS_4(6)

static const dots_fn dots[6][4] = {
    {dots_1_1, dots_1_2, dots_1_3, dots_1_4},
    {dots_2_1, dots_2_2, dots_2_3, dots_2_4},
    {dots_3_1, dots_3_2, dots_3_3, dots_3_4},
    {dots_4_1, dots_4_2, dots_4_3, dots_4_4},
    {dots_5_1, dots_5_2, dots_5_3, dots_5_4},
    {dots_6_1, dots_6_2, dots_6_3, dots_6_4},
};

static void gemm_f32_nt(int m, int n, int k, const float *a, size_t lda, const float *b, size_t ldb, float *c,
                        size_t ldc)
{
    if (k <= 0)
        return;
    for (int i = 0; i < m; i += 6) {
        int rows = m - i < 6 ? m - i : 6;
        for (int j = 0; j < n; j += 4) {
            int cols = n - j < 4 ? n - j : 4;
            dots[rows - 1][cols - 1](k, a + (size_t)i * lda, lda, b + (size_t)j * ldb, ldb, c + (size_t)i * ldc + j,
                                     ldc);
        }
    }
}

void ed__kernels_fill_avx512_backward(ed_kernels_t *k)
{
    k->gemm_f32_nn = gemm_f32_nn;
    k->gemm_f32_tn = gemm_f32_tn;
    k->gemm_f32_nt = gemm_f32_nt;
}
