/* arm/gemm_r8.h - the batch products of the interleaved weights of
 * kernels/repack.h (q4_0_r8, q8_0_r8 against q8_0_x8 activations, q4_K_r8
 * against q8_K_x8), shared by gemm.c (plain NEON, Pi 4) and gemm_dotprod.c
 * (SDOT, Pi 5). The includer defines r8_sums_t, the integer sums in
 * progress of one activation row against 16-byte halves of a group's
 * vectors, and
 *   r8_sums_init(s)                  no products yet
 *   r8_sums_add(type, cols, s, k, w, x)  adds the products of vector k (k = 0..7 in order)
 *   r8_sums_get(type, cols, s)       the sum of each 4-byte unit over k, unit j in lane j
 * (cols: the activation rows of the pass, for the includer's choice of chains).
 * A 32-byte vector of the layout is two 16-byte halves here (blocks 0-3 and
 * 4-7): a group's integer products accumulate exactly per lane and are
 * scaled and added in float once per group, one fused multiply-add per half.
 * Every output is summed the same way, group by group in two 4-lane
 * accumulators and reduced as the reference's sum_lanes, whatever else is
 * computed beside it: a row's result is bit for bit the same alone or in
 * any batch (and the same as the reference dot product's). */
#include "kernels/arm/gemm_k.h" /* k4_scales_mins */
#include "kernels/dispatch.h"
#include "kernels/repack.h"

#include <arm_neon.h>
#include <stddef.h>

#define R8_COLS 4 /* activation rows per pass over a weight row */

/* The fp16 scales of a weight group's 8 blocks, widened: blocks 0-3, 4-7. */
static inline __attribute__((always_inline)) void r8_scales(const uint16_t d[ED_R8], float32x4_t *low,
                                                            float32x4_t *high)
{
    float16x8_t h = vreinterpretq_f16_u16(vld1q_u16(d));
    *low = vcvt_f32_f16(vget_low_f16(h));
    *high = vcvt_high_f32_f16(h);
}

/* ((a0 + a4) + (a2 + a6)) + ((a1 + a5) + (a3 + a7)): ref/vec_dot.c's sum_lanes. */
static inline float r8_hsum(float32x4_t low, float32x4_t high)
{
    float32x4_t s = vaddq_f32(low, high);
    float32x2_t t = vadd_f32(vget_low_f32(s), vget_high_f32(s));
    return vpadds_f32(t);
}

/* sum[c] = the exact integer sums of half `half` (blocks, or sub-blocks,
 * 0-3 or 4-7) of a weight group against activation rows c < cols, unit j's
 * in lane j. wq: the weights' qs, 4-bit levels packed as q4_0_r8 (q4_0_r8,
 * q4_K_r8) or q8_0_r8's bytes; xq: row 0's qs of the matching activation
 * group, the rows x_row_bytes apart. k runs outside the rows: each weight
 * vector is unpacked once and used by every row, and only the rows' sums
 * stay live. */
static inline __attribute__((always_inline)) void r8_half_sums(int type, int cols, const uint8_t *wq, int half,
                                                               const uint8_t *xq, size_t x_row_bytes,
                                                               int32x4_t sum[R8_COLS])
{
    r8_sums_t sums[R8_COLS];
#pragma GCC unroll 4
    for (int c = 0; c < cols; c++)
        r8_sums_init(&sums[c]);
    uint8x16_t packed = vdupq_n_u8(0);
#pragma GCC unroll 8
    for (int k = 0; k < 8; k++) {
        int8x16_t w; /* elements 4k..4k+3 of block 4 half + j in unit j */
        if (type != ED_TYPE_Q8_0_R8 && k % 2 == 0) {
            packed = vld1q_u8(wq + 32 * (k / 2) + 16 * half);
            w = vreinterpretq_s8_u8(vandq_u8(packed, vdupq_n_u8(0x0F)));
        } else if (type != ED_TYPE_Q8_0_R8) {
            w = vreinterpretq_s8_u8(vshrq_n_u8(packed, 4));
        } else {
            w = vld1q_s8((const int8_t *)wq + 32 * k + 16 * half);
        }
#pragma GCC unroll 4
        for (int c = 0; c < cols; c++)
            r8_sums_add(type, cols, &sums[c], k, w,
                        vld1q_s8((const int8_t *)(xq + (size_t)c * x_row_bytes) + 32 * k + 16 * half));
    }
#pragma GCC unroll 4
    for (int c = 0; c < cols; c++)
        sum[c] = r8_sums_get(type, cols, &sums[c]);
}

/* y[c * y_stride] = dot(weight row, activation row c) for c < cols (a
 * constant after inlining). A group is two independent halves (blocks 0-3,
 * 4-7), done one after the other. */
static inline __attribute__((always_inline)) void r8_row(int type, int n_blocks, const uint8_t *row,
                                                         const uint8_t *x, size_t x_row_bytes, int cols,
                                                         float *y, size_t y_stride)
{
    float32x4_t acc[R8_COLS][2]; /* [c][half]: lane j is block 4 half + j of every group */
#pragma GCC unroll 4
    for (int c = 0; c < cols; c++)
        acc[c][0] = acc[c][1] = vdupq_n_f32(0.0f);
    size_t group_bytes = type == ED_TYPE_Q4_0_R8 ? sizeof(ed_group_q4_0_r8_t) : sizeof(ed_group_q8_0_r8_t);
    for (int g = 0; g < (n_blocks + ED_R8 - 1) / ED_R8; g++) {
        const ed_group_q4_0_r8_t *w4 = (const ed_group_q4_0_r8_t *)(row + group_bytes * g);
        const ed_group_q8_0_r8_t *w8 = (const ed_group_q8_0_r8_t *)(row + group_bytes * g);
        const uint8_t *wq = type == ED_TYPE_Q4_0_R8 ? w4->qs[0] : (const uint8_t *)w8->qs[0];
        const uint8_t *xq = (const uint8_t *)((const ed_group_q8_0_x8_t *)x + g)->qs[0];
        float32x4_t dw[2];
        r8_scales(type == ED_TYPE_Q4_0_R8 ? w4->d : w8->d, &dw[0], &dw[1]);
#pragma GCC unroll 2
        for (int half = 0; half < 2; half++) {
            int32x4_t sums[R8_COLS];
            r8_half_sums(type, cols, wq, half, xq, x_row_bytes, sums);
#pragma GCC unroll 4
            for (int c = 0; c < cols; c++) {
                const ed_group_q8_0_x8_t *a = (const ed_group_q8_0_x8_t *)(x + (size_t)c * x_row_bytes) + g;
                int32x4_t sum = sums[c];
                if (type == ED_TYPE_Q4_0_R8) /* levels are the values + 8: minus 8 times each block's activation sum */
                    sum = vmlaq_n_s32(sum, vld1q_s32(a->sum + 4 * half), -8);
                float32x4_t scale = vmulq_f32(dw[half], vld1q_f32(a->d + 4 * half));
                acc[c][half] = vfmaq_f32(acc[c][half], vcvtq_f32_s32(sum), scale);
            }
        }
    }
#pragma GCC unroll 4
    for (int c = 0; c < cols; c++)
        y[(size_t)c * y_stride] = r8_hsum(acc[c][0], acc[c][1]);
}

/* q4_K_r8 (n_blocks super-blocks): lane j is sub-block j; its exact dot
 * times its scale, and its min times its activation sum, are scaled in
 * float once per super-block. Summed as ref/vec_dot.c's dot_q4_K_r8, in two
 * pairs of 4-lane accumulators (sub-blocks 0-3, 4-7). */
static inline __attribute__((always_inline)) void r8_k4_row(int type, int n_blocks, const uint8_t *row,
                                                            const uint8_t *x, size_t x_row_bytes, int cols,
                                                            float *y, size_t y_stride)
{
    float32x4_t acc[R8_COLS][2], acc_min[R8_COLS][2]; /* [c][half]: lane j is sub-block 4 half + j */
#pragma GCC unroll 4
    for (int c = 0; c < cols; c++)
        acc[c][0] = acc[c][1] = acc_min[c][0] = acc_min[c][1] = vdupq_n_f32(0.0f);
    for (int b = 0; b < n_blocks; b++) {
        const ed_block_q4_K_r8_t *wb = (const ed_block_q4_K_r8_t *)row + b;
        const uint8_t *xq = (const uint8_t *)((const ed_block_q8_K_x8_t *)x + b)->qs[0];
        uint8x8x2_t scales_mins = k4_scales_mins(wb->scales);
        /* scales 0-3 and mins 0-3, scales 4-7 and mins 4-7, as halfwords: few registers live across the sums */
        uint32x2_t scales = vreinterpret_u32_u8(scales_mins.val[0]), mins = vreinterpret_u32_u8(scales_mins.val[1]);
        int16x8_t scale_min[2] = {vreinterpretq_s16_u16(vmovl_u8(vreinterpret_u8_u32(vzip1_u32(scales, mins)))),
                                  vreinterpretq_s16_u16(vmovl_u8(vreinterpret_u8_u32(vzip2_u32(scales, mins))))};
        /* d and dmin in lanes 0 and 1 (with the first scale bytes, unused, past them) */
        float32x2_t d_dmin = vget_low_f32(vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(&wb->d))));
#pragma GCC unroll 2
        for (int half = 0; half < 2; half++) {
            int32x4_t sums[R8_COLS];
            r8_half_sums(type, cols, wb->qs[0], half, xq, x_row_bytes, sums);
#pragma GCC unroll 4
            for (int c = 0; c < cols; c++) {
                const ed_block_q8_K_x8_t *a = (const ed_block_q8_K_x8_t *)(x + (size_t)c * x_row_bytes) + b;
                int32x4_t scaled = vmulq_s32(sums[c], vmovl_s16(vget_low_s16(scale_min[half])));
                int32x4_t mins = vmulq_s32(vld1q_s32(a->sum + 4 * half), vmovl_high_s16(scale_min[half]));
                float32x2_t factors = vmul_n_f32(d_dmin, a->d); /* d * a->d, dmin * a->d */
                acc[c][half] = vfmaq_lane_f32(acc[c][half], vcvtq_f32_s32(scaled), factors, 0);
                acc_min[c][half] = vfmaq_lane_f32(acc_min[c][half], vcvtq_f32_s32(mins), factors, 1);
            }
        }
    }
#pragma GCC unroll 4
    for (int c = 0; c < cols; c++)
        y[(size_t)c * y_stride] = r8_hsum(acc[c][0], acc[c][1]) - r8_hsum(acc_min[c][0], acc_min[c][1]);
}

#include "kernels/gemm_r8_blocks.h"

static void gemm_q4_K_r8(int n_blocks, const void *w, size_t w_row_bytes, int n_rows, const void *x,
                         size_t x_row_bytes, int n_cols, float *y, size_t y_stride)
{
    gemm_passes(r8_k4_row, R8_COLS, ED_TYPE_Q4_K_R8, n_blocks, w, w_row_bytes, n_rows, x, x_row_bytes, n_cols, y,
                y_stride);
}
