/* arm/gemm_tile.h - the register-tiled micro-kernel of the batch products
 * for q8_0 and q4_0 weights against q8_0 activations, shared by gemm.c
 * (plain NEON, Pi 4) and gemm_dotprod.c (SDOT, Pi 5). The includer defines
 *   GEMM_TILE_ROWS, GEMM_TILE_COLS  the register tile (weight rows x activation rows)
 *   gemm_block_dot(a0, a1, b0, b1)  int32x4 sums of the 32 products of two
 *                                  signed 32-byte blocks given as 16-byte halves
 * Each weight block is unpacked to signed bytes once per C activation blocks.
 * A few activation rows take gemv_cols, the same arithmetic a weight row at
 * a time. */
#include "kernels/dispatch.h"

#include <arm_neon.h>

static inline float fp16_scalar(uint16_t h)
{
    return vgetq_lane_f32(vcvt_f32_f16(vreinterpret_f16_u16(vdup_n_u16(h))), 0);
}

/* One weight block as two halves of 16 signed bytes, and its scale. */
static inline __attribute__((always_inline)) void weight_block(int type, const uint8_t *row, int block,
                                                               int8x16_t *q0, int8x16_t *q1, float *d)
{
    if (type == ED_TYPE_Q8_0) {
        const ed_block_q8_0_t *b = (const ed_block_q8_0_t *)row + block;
        *d = fp16_scalar(b->d);
        *q0 = vld1q_s8(b->qs);
        *q1 = vld1q_s8(b->qs + 16);
        return;
    }
    const ed_block_q4_0_t *b = (const ed_block_q4_0_t *)row + block;
    *d = fp16_scalar(b->d);
    uint8x16_t packed = vld1q_u8(b->qs);
    int8x16_t eight = vdupq_n_s8(8);
    *q0 = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(packed, vdupq_n_u8(0x0F))), eight);
    *q1 = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(packed, 4)), eight);
}

/* y[c * y_stride + r] = dot(w row r, x row c) for r < rows, c < cols
 * (compile-time constants after inlining, at most the tile size). */
static inline __attribute__((always_inline)) void gemm_tile(int type, int rows, int cols, int n_blocks,
                                                            const uint8_t *w, size_t w_row_bytes,
                                                            const uint8_t *x, size_t x_row_bytes,
                                                            float *y, size_t y_stride)
{
    float32x4_t acc[GEMM_TILE_ROWS][GEMM_TILE_COLS];
#pragma GCC unroll 8
    for (int r = 0; r < rows; r++)
#pragma GCC unroll 8
        for (int c = 0; c < cols; c++)
            acc[r][c] = vdupq_n_f32(0.0f);
    for (int block = 0; block < n_blocks; block++) {
        float dx[GEMM_TILE_COLS];
        int8x16_t x0[GEMM_TILE_COLS], x1[GEMM_TILE_COLS];
#pragma GCC unroll 8
        for (int c = 0; c < cols; c++) {
            const ed_block_q8_0_t *xb = (const ed_block_q8_0_t *)(x + (size_t)c * x_row_bytes) + block;
            dx[c] = fp16_scalar(xb->d);
            x0[c] = vld1q_s8(xb->qs);
            x1[c] = vld1q_s8(xb->qs + 16);
        }
#pragma GCC unroll 8
        for (int r = 0; r < rows; r++) {
            float dw;
            int8x16_t w0, w1;
            weight_block(type, w + (size_t)r * w_row_bytes, block, &w0, &w1, &dw);
#pragma GCC unroll 8
            for (int c = 0; c < cols; c++) {
                int32x4_t sums = gemm_block_dot(w0, w1, x0[c], x1[c]);
                acc[r][c] = vfmaq_n_f32(acc[r][c], vcvtq_f32_s32(sums), dw * dx[c]);
            }
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < rows; r++)
#pragma GCC unroll 8
        for (int c = 0; c < cols; c++)
            y[(size_t)c * y_stride + r] = vaddvq_f32(acc[r][c]);
}

#define GEMV_MAX_BLOCKS 512 /* K up to 16384 */
#define GEMV_MAX_COLS 4      /* activation rows the small-batch path takes (decode steps of a few slots) */

/* The product for a few activation rows (one decode token, or one per busy
 * slot), one weight row at a time: reading rows side by side measured much
 * slower from DRAM on x86 (see x86/gemm_tile.h), and each weight block is
 * unpacked once for every activation row. The activation scales are
 * converted once for all weight rows. Each output is one accumulator summed
 * block by block as the tile sums it, so a row's result is bit for bit the
 * same alone, beside other rows or inside a large batch. */
static inline __attribute__((always_inline)) void gemv_cols(int type, int n_blocks, const uint8_t *w,
                                                            size_t w_row_bytes, int n_rows, const uint8_t *x,
                                                            size_t x_row_bytes, int cols, float *y,
                                                            size_t y_stride)
{
    float dx[GEMV_MAX_COLS][GEMV_MAX_BLOCKS];
    for (int c = 0; c < cols; c++) {
        const ed_block_q8_0_t *xb = (const ed_block_q8_0_t *)(x + (size_t)c * x_row_bytes);
        for (int block = 0; block < n_blocks; block++)
            dx[c][block] = fp16_scalar(xb[block].d);
    }
    for (int r = 0; r < n_rows; r++) {
        const uint8_t *row = w + (size_t)r * w_row_bytes;
        float32x4_t acc[GEMV_MAX_COLS];
#pragma GCC unroll 4
        for (int c = 0; c < cols; c++)
            acc[c] = vdupq_n_f32(0.0f);
        for (int block = 0; block < n_blocks; block++) {
            float dw;
            int8x16_t w0, w1;
            weight_block(type, row, block, &w0, &w1, &dw);
#pragma GCC unroll 4
            for (int c = 0; c < cols; c++) {
                const ed_block_q8_0_t *xb = (const ed_block_q8_0_t *)(x + (size_t)c * x_row_bytes) + block;
                int32x4_t sums = gemm_block_dot(w0, w1, vld1q_s8(xb->qs), vld1q_s8(xb->qs + 16));
                acc[c] = vfmaq_n_f32(acc[c], vcvtq_f32_s32(sums), dw * dx[c][block]);
            }
        }
#pragma GCC unroll 4
        for (int c = 0; c < cols; c++)
            y[(size_t)c * y_stride + r] = vaddvq_f32(acc[c]);
    }
}

#include "kernels/gemm_blocks.h"
