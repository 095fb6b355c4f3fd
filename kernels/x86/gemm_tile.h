/* x86/gemm_tile.h - the register-tiled micro-kernel of the batch products
 * for q8_0 and q4_0 weights against q8_0 activations, shared by gemm.c
 * (AVX2) and gemm_avx512.c (AVX-512 VNNI). The includer defines
 *   GEMM_TILE_ROWS, GEMM_TILE_COLS  the register tile (weight rows x activation rows)
 *   gemm_block_dot(acc, u, s)      acc + 8 int32 sums of 4 products of unsigned u
 *                                  and signed s bytes
 *   GEMM_Q8_OFFSET                 1: q8_0 as unsigned w + 128 (needs sums without
 *                                  16-bit saturation: VNNI); 0: as |w| times x * sign(w)
 * A tile of R x C accumulators walks all K blocks: each weight block is
 * unpacked once and used against C activation blocks. The ISA multiplies
 * unsigned by signed bytes, so weights are offset to unsigned (q4_0: its
 * nibbles, w + 8) and the offset's share, offset * sum(x), is computed once
 * per activation block and starts the sum. A few activation rows take
 * gemv_cols, the same arithmetic one weight row at a time. */
#include "kernels/dispatch.h"

#include <immintrin.h>

static inline float fp16_scalar(uint16_t h)
{
    return _cvtsh_ss(h);
}

/* One weight block as 32 bytes and its scale: q4_0 as its nibbles 0..15
 * (elements + 8), q8_0 as elements + 128 (GEMM_Q8_OFFSET) or signed. */
static inline __attribute__((always_inline)) __m256i weight_block(int type, const uint8_t *row,
                                                                  int block, float *d)
{
    if (type == ED_TYPE_Q8_0) {
        const ed_block_q8_0_t *b = (const ed_block_q8_0_t *)row + block;
        *d = fp16_scalar(b->d);
        __m256i q = _mm256_loadu_si256((const __m256i *)b->qs);
        return GEMM_Q8_OFFSET ? _mm256_xor_si256(q, _mm256_set1_epi8((char)0x80)) : q;
    }
    const ed_block_q4_0_t *b = (const ed_block_q4_0_t *)row + block;
    *d = fp16_scalar(b->d);
    __m128i packed = _mm_loadu_si128((const __m128i *)b->qs);
    __m256i both = _mm256_set_m128i(_mm_srli_epi16(packed, 4), packed);
    return _mm256_and_si256(both, _mm256_set1_epi8(0x0F));
}

static inline float tile_hsum(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* y[c * y_stride + r] = dot(w row r, x row c) for r < rows, c < cols
 * (compile-time constants after inlining, at most the tile size). */
static inline __attribute__((always_inline)) void gemm_tile(int type, int rows, int cols, int n_blocks,
                                                            const uint8_t *w, size_t w_row_bytes,
                                                            const uint8_t *x, size_t x_row_bytes,
                                                            float *y, size_t y_stride)
{
    __m256 acc[GEMM_TILE_ROWS][GEMM_TILE_COLS];
#pragma GCC unroll 8
    for (int r = 0; r < rows; r++)
#pragma GCC unroll 8
        for (int c = 0; c < cols; c++)
            acc[r][c] = _mm256_setzero_ps();
    for (int block = 0; block < n_blocks; block++) {
        float dx[GEMM_TILE_COLS];
        __m256i xq[GEMM_TILE_COLS], start[GEMM_TILE_COLS];
        const int offset = type == ED_TYPE_Q4_0 ? 8 : GEMM_Q8_OFFSET ? 128 : 0;
#pragma GCC unroll 8
        for (int c = 0; c < cols; c++) {
            const ed_block_q8_0_t *xb = (const ed_block_q8_0_t *)(x + (size_t)c * x_row_bytes) + block;
            dx[c] = fp16_scalar(xb->d);
            xq[c] = _mm256_loadu_si256((const __m256i *)xb->qs);
            start[c] = _mm256_setzero_si256(); /* -offset * x, summed as the block dot sums */
            if (offset)
                start[c] = _mm256_sub_epi32(
                    start[c], gemm_block_dot(_mm256_setzero_si256(), _mm256_set1_epi8((char)offset), xq[c]));
        }
#pragma GCC unroll 8
        for (int r = 0; r < rows; r++) {
            float dw;
            __m256i wq = weight_block(type, w + (size_t)r * w_row_bytes, block, &dw);
            __m256i w_abs = offset ? wq : _mm256_sign_epi8(wq, wq);
#pragma GCC unroll 8
            for (int c = 0; c < cols; c++) {
                __m256i sums = offset ? gemm_block_dot(start[c], w_abs, xq[c])
                                      : gemm_block_dot(start[c], w_abs, _mm256_sign_epi8(xq[c], wq));
                acc[r][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums), _mm256_set1_ps(dw * dx[c]),
                                            acc[r][c]);
            }
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < rows; r++)
#pragma GCC unroll 8
        for (int c = 0; c < cols; c++)
            y[(size_t)c * y_stride + r] = tile_hsum(acc[r][c]);
}

#define GEMV_MAX_BLOCKS 512 /* K up to 16384 */
#define GEMV_MAX_COLS 4      /* activation rows the small-batch path takes (decode steps of a few slots) */

/* The product for a few activation rows (one decode token, or one per busy
 * slot), one weight row at a time: reading several weight rows side by side
 * measured 2-3x slower from DRAM (short interleaved streams defeat the
 * hardware prefetcher), and each weight block is unpacked once for every
 * activation row. The activations' share of each block (scale, offset term)
 * is computed once for all weight rows. Each output is one accumulator
 * summed block by block exactly as the tile sums it, so a row's result is
 * bit for bit the same alone, beside other rows, or inside a large batch
 * (continuous batching relies on that; four chains per output measured
 * about 4% faster on one thread and 1% on two). */
static inline __attribute__((always_inline)) void gemv_cols(int type, int n_blocks, const uint8_t *w,
                                                            size_t w_row_bytes, int n_rows, const uint8_t *x,
                                                            size_t x_row_bytes, int cols, float *y,
                                                            size_t y_stride)
{
    __m256i start[GEMV_MAX_COLS][GEMV_MAX_BLOCKS];
    float dx[GEMV_MAX_COLS][GEMV_MAX_BLOCKS];
    const int offset = type == ED_TYPE_Q4_0 ? 8 : GEMM_Q8_OFFSET ? 128 : 0;
    for (int c = 0; c < cols; c++) {
        const ed_block_q8_0_t *xb = (const ed_block_q8_0_t *)(x + (size_t)c * x_row_bytes);
        for (int block = 0; block < n_blocks; block++) {
            dx[c][block] = fp16_scalar(xb[block].d);
            start[c][block] = _mm256_setzero_si256();
            if (offset)
                start[c][block] = _mm256_sub_epi32(
                    start[c][block], gemm_block_dot(_mm256_setzero_si256(), _mm256_set1_epi8((char)offset),
                                                    _mm256_loadu_si256((const __m256i *)xb[block].qs)));
        }
    }
    for (int r = 0; r < n_rows; r++) {
        const uint8_t *row = w + (size_t)r * w_row_bytes;
        __m256 acc[GEMV_MAX_COLS];
#pragma GCC unroll 4
        for (int c = 0; c < cols; c++)
            acc[c] = _mm256_setzero_ps();
        for (int block = 0; block < n_blocks; block++) {
            float dw;
            __m256i wq = weight_block(type, row, block, &dw);
            __m256i w_abs = offset ? wq : _mm256_sign_epi8(wq, wq);
#pragma GCC unroll 4
            for (int c = 0; c < cols; c++) {
                const ed_block_q8_0_t *xb = (const ed_block_q8_0_t *)(x + (size_t)c * x_row_bytes);
                __m256i xq = _mm256_loadu_si256((const __m256i *)xb[block].qs);
                __m256i sums = offset ? gemm_block_dot(start[c][block], w_abs, xq)
                                      : gemm_block_dot(start[c][block], w_abs, _mm256_sign_epi8(xq, wq));
                acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums), _mm256_set1_ps(dw * dx[c][block]), acc[c]);
            }
        }
#pragma GCC unroll 4
        for (int c = 0; c < cols; c++)
            y[(size_t)c * y_stride + r] = tile_hsum(acc[c]);
    }
}

#include "kernels/gemm_blocks.h"
