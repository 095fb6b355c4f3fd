/* arm/gemm_k.h - q4_K, q5_K, q6_K weights against q8_K activations, for
 * vec_dot_neon.h (the dot products) and gemm.c, gemm_dotprod.c (the batch
 * micro-kernels); SDOT where the includer's flags have it (Pi 5), widening
 * multiplies otherwise (Pi 4). A pass of up to K_COLS activation rows walks
 * the weight rows, unpacking each super-block once for all of them; an
 * output's float steps are its own, so it is the same bits in any batch or
 * alone (the dot product). ref/vec_dot.c is the specification. */
#ifndef ED_KERNELS_ARM_GEMM_K_H
#define ED_KERNELS_ARM_GEMM_K_H

#include "kernels/gemm_passes.h"
#include "kernels/quant.h"

#include <arm_neon.h>
#include <stdbool.h>
#include <string.h>

#define K_COLS 4 /* activation rows per pass over a weight row: 4 x 292 B per super-block stay in L1 */

static inline float fp16(uint16_t h)
{
    __fp16 half;
    memcpy(&half, &h, sizeof half);
    return (float)half;
}

/* Lanes adding up to the products of 16 (k_dot16) or 32 (k_dot32, as two
 * halves) signed bytes a[i] * b[i]; only the lane total is used. */
#if defined(__ARM_FEATURE_DOTPROD)

static inline int32x4_t k_dot16(int8x16_t a, int8x16_t b)
{
    return vdotq_s32(vdupq_n_s32(0), a, b);
}

static inline int32x4_t k_dot32(int8x16_t a0, int8x16_t a1, int8x16_t b0, int8x16_t b1)
{
    return vdotq_s32(vdotq_s32(vdupq_n_s32(0), a0, b0), a1, b1);
}

#else

/* Up to 4 products per int16 lane before widening: K-quant levels are
 * 0..63, so 4 * 63 * 128 < 2^15. */
static inline int32x4_t k_dot16(int8x16_t a, int8x16_t b)
{
    return vpaddlq_s16(vmlal_high_s8(vmull_s8(vget_low_s8(a), vget_low_s8(b)), a, b));
}

static inline int32x4_t k_dot32(int8x16_t a0, int8x16_t a1, int8x16_t b0, int8x16_t b1)
{
    int16x8_t p = vmlal_high_s8(vmull_s8(vget_low_s8(a0), vget_low_s8(b0)), a0, b0);
    p = vmlal_s8(p, vget_low_s8(a1), vget_low_s8(b1));
    return vpaddlq_s16(vmlal_high_s8(p, a1, b1));
}

#endif

/* The 8 scales and 8 mins of q4_K/q5_K's 12 packed bytes (ed_k4_scales_words). */
static inline uint8x8x2_t k4_scales_mins(const uint8_t packed[12])
{
    uint64_t first, second;
    ed_k4_scales_words(packed, &first, &second);
    uint32x2x2_t zipped = vzip_u32(vcreate_u32(first), vcreate_u32(second));
    return (uint8x8x2_t){{vreinterpret_u8_u32(zipped.val[0]), vreinterpret_u8_u32(zipped.val[1])}};
}

/* Activation row c's super-block i. */
static inline const ed_block_q8_K_t *k_act(const uint8_t *x, size_t x_row_bytes, int c, int i)
{
    return (const ed_block_q8_K_t *)(x + (size_t)c * x_row_bytes) + i;
}

/* The sums of sub-blocks are scaled as vectors: pairwise adds of the dot
 * products' lanes (any spread) leave 4 consecutive sub-blocks' sums in one
 * vector, multiplied by their int32 scales in one step. */

/* Super-block i of a q4_K (q5 false) or q5_K row against activation rows
 * 0..cols-1: acc[c] += act_d * (d * scaled level sums - dmin * mins times
 * the activations' sub-block sums). The integer sums are exact in any
 * order; the float steps are each output's own. */
static inline __attribute__((always_inline)) void k4_block(bool q5, const uint8_t *row, int i, const uint8_t *x,
                                                           size_t x_row_bytes, int cols, float acc[K_COLS])
{
    const ed_block_q4_K_t *b4 = (const ed_block_q4_K_t *)row + i;
    const ed_block_q5_K_t *b5 = (const ed_block_q5_K_t *)row + i;
    uint8x8x2_t scales_mins = k4_scales_mins(q5 ? b5->scales : b4->scales);
    uint16x8_t scales16 = vmovl_u8(scales_mins.val[0]);
    int32x4_t scales[2] = {vreinterpretq_s32_u32(vmovl_u16(vget_low_u16(scales16))),
                           vreinterpretq_s32_u32(vmovl_high_u16(scales16))}; /* sub-blocks 0-3, 4-7 */
    int16x8_t mins = vreinterpretq_s16_u16(vmovl_u8(scales_mins.val[1]));
    float d = fp16(q5 ? b5->d : b4->d), dmin = fp16(q5 ? b5->dmin : b4->dmin);
    const uint8_t *qs = q5 ? b5->qs : b4->qs;
    uint8x16_t qh0 = vdupq_n_u8(0), qh1 = vdupq_n_u8(0); /* q5: fifth bits of sub-blocks 2g, 2g+1 in bits 0, 1 */
    if (q5) {
        qh0 = vld1q_u8(b5->qh);
        qh1 = vld1q_u8(b5->qh + 16);
    }
    const uint8x16_t low_mask = vdupq_n_u8(0x0F), bit0 = vdupq_n_u8(1), bit1 = vdupq_n_u8(2);
    int32x4_t sumi[K_COLS], pair[K_COLS];
#pragma GCC unroll 4
    for (int g = 0; g < 4; g++) { /* sub-blocks 2g, 2g+1: the nibbles of qs[32g..32g+31] */
        uint8x16_t b0 = vld1q_u8(qs + 32 * g), b1 = vld1q_u8(qs + 32 * g + 16);
        uint8x16_t low0, low1, high0, high1;
        if (q5) { /* the fifth bit above each nibble: sli keeps b's low nibble, sri the fifth bit */
            low0 = vsliq_n_u8(b0, vandq_u8(qh0, bit0), 4);
            low1 = vsliq_n_u8(b1, vandq_u8(qh1, bit0), 4);
            high0 = vsriq_n_u8(vshlq_n_u8(vandq_u8(qh0, bit1), 3), b0, 4);
            high1 = vsriq_n_u8(vshlq_n_u8(vandq_u8(qh1, bit1), 3), b1, 4);
            qh0 = vshrq_n_u8(qh0, 2);
            qh1 = vshrq_n_u8(qh1, 2);
        } else {
            low0 = vandq_u8(b0, low_mask);
            low1 = vandq_u8(b1, low_mask);
            high0 = vshrq_n_u8(b0, 4);
            high1 = vshrq_n_u8(b1, 4);
        }
#pragma GCC unroll 4
        for (int c = 0; c < cols; c++) {
            const int8_t *y = k_act(x, x_row_bytes, c, i)->qs + 64 * g;
            int32x4_t low = k_dot32(vreinterpretq_s8_u8(low0), vreinterpretq_s8_u8(low1), vld1q_s8(y),
                                    vld1q_s8(y + 16));
            int32x4_t high = k_dot32(vreinterpretq_s8_u8(high0), vreinterpretq_s8_u8(high1), vld1q_s8(y + 32),
                                     vld1q_s8(y + 48));
            int32x4_t sums = vpaddq_s32(low, high); /* 2g, 2g, 2g+1, 2g+1 */
            if (g % 2 == 0) {
                pair[c] = sums;
            } else {
                int32x4_t quad = vpaddq_s32(pair[c], sums); /* sub-blocks 2g-2 .. 2g+1 */
                sumi[c] = g == 1 ? vmulq_s32(quad, scales[0]) : vmlaq_s32(sumi[c], quad, scales[1]);
            }
        }
    }
#pragma GCC unroll 4
    for (int c = 0; c < cols; c++) {
        const ed_block_q8_K_t *a = k_act(x, x_row_bytes, c, i);
        int16x8_t bsums = vpaddq_s16(vld1q_s16(a->bsums), vld1q_s16(a->bsums + 8)); /* per sub-block */
        int32x4_t min_sums = vmlal_high_s16(vmull_s16(vget_low_s16(mins), vget_low_s16(bsums)), mins, bsums);
        acc[c] += a->d * (d * (float)vaddvq_s32(sumi[c]) - dmin * (float)vaddvq_s32(min_sums));
    }
}

/* Super-block i of a q6_K row against activation rows 0..cols-1: acc[c] +=
 * act_d * d * sum(scale * (level - 32) * activation), the -32 bias taken
 * through the activations' sub-block sums. */
static inline __attribute__((always_inline)) void k6_block(const uint8_t *row, int i, const uint8_t *x,
                                                           size_t x_row_bytes, int cols, float acc[K_COLS])
{
    const ed_block_q6_K_t *b = (const ed_block_q6_K_t *)row + i;
    int8x16_t packed_scales = vld1q_s8(b->scales);
    int16x8_t scales16[2] = {vmovl_s8(vget_low_s8(packed_scales)), vmovl_high_s8(packed_scales)};
    int32x4_t scales[4] = {vmovl_s16(vget_low_s16(scales16[0])), vmovl_high_s16(scales16[0]),
                           vmovl_s16(vget_low_s16(scales16[1])), vmovl_high_s16(scales16[1])};
    float d = fp16(b->d);
    const uint8x16_t low_mask = vdupq_n_u8(0x3F), two_bits = vdupq_n_u8(0x30);
    int32x4_t sumi[K_COLS], pair[K_COLS];
#pragma GCC unroll 2
    for (int h = 0; h < 2; h++) {
        /* levels 0..63 of sub-blocks 8h + 2s + k (elements 128h + 32s + 16k ..):
         * the nibble of ql, then qh's bits 2s above it (sli/sri insert one
         * under or over the other in one step) */
        uint8x16_t q[2][4];
#pragma GCC unroll 2
        for (int k = 0; k < 2; k++) {
            uint8x16_t low01 = vld1q_u8(b->ql + 64 * h + 16 * k), low23 = vld1q_u8(b->ql + 64 * h + 32 + 16 * k);
            uint8x16_t high = vld1q_u8(b->qh + 32 * h + 16 * k), high_shifted = vshrq_n_u8(high, 2);
            q[k][0] = vandq_u8(vsliq_n_u8(low01, high, 4), low_mask);
            q[k][1] = vandq_u8(vsliq_n_u8(low23, high_shifted, 4), low_mask);
            q[k][2] = vsriq_n_u8(vandq_u8(high, two_bits), low01, 4);
            q[k][3] = vsriq_n_u8(vandq_u8(high_shifted, two_bits), low23, 4);
        }
#pragma GCC unroll 4
        for (int s = 0; s < 4; s++) {
#pragma GCC unroll 4
            for (int c = 0; c < cols; c++) {
                const int8_t *y = k_act(x, x_row_bytes, c, i)->qs + 128 * h + 32 * s;
                int32x4_t sums = vpaddq_s32(k_dot16(vreinterpretq_s8_u8(q[0][s]), vld1q_s8(y)),
                                            k_dot16(vreinterpretq_s8_u8(q[1][s]), vld1q_s8(y + 16)));
                if (s % 2 == 0) {
                    pair[c] = sums;
                } else {
                    int32x4_t quad = vpaddq_s32(pair[c], sums); /* sub-blocks 8h + 2s - 2 .. 8h + 2s + 1 */
                    int32x4_t scale = scales[2 * h + s / 2];
                    sumi[c] = h == 0 && s == 1 ? vmulq_s32(quad, scale) : vmlaq_s32(sumi[c], quad, scale);
                }
            }
        }
    }
#pragma GCC unroll 4
    for (int c = 0; c < cols; c++) {
        const ed_block_q8_K_t *a = k_act(x, x_row_bytes, c, i);
        /* the bias: 32 * sum_j scale_j * bsum_j */
        int16x8_t bsums0 = vld1q_s16(a->bsums), bsums1 = vld1q_s16(a->bsums + 8);
        int32x4_t bias = vmull_s16(vget_low_s16(scales16[0]), vget_low_s16(bsums0));
        bias = vmlal_high_s16(bias, scales16[0], bsums0);
        bias = vmlal_s16(bias, vget_low_s16(scales16[1]), vget_low_s16(bsums1));
        bias = vmlal_high_s16(bias, scales16[1], bsums1);
        int32x4_t sum = vsubq_s32(sumi[c], vshlq_n_s32(bias, 5));
        acc[c] += a->d * d * (float)vaddvq_s32(sum);
    }
}

/* y[c * y_stride] = dot(weight row, activation row c) for c < cols (a
 * constant after inlining), super-block by super-block. */
static inline __attribute__((always_inline)) void k_row(int type, int n_blocks, const uint8_t *row,
                                                        const uint8_t *x, size_t x_row_bytes, int cols, float *y,
                                                        size_t y_stride)
{
    float acc[K_COLS];
#pragma GCC unroll 4
    for (int c = 0; c < cols; c++)
        acc[c] = 0.0f;
    for (int i = 0; i < n_blocks; i++) {
        if (type == ED_TYPE_Q6_K)
            k6_block(row, i, x, x_row_bytes, cols, acc);
        else
            k4_block(type == ED_TYPE_Q5_K, row, i, x, x_row_bytes, cols, acc);
    }
#pragma GCC unroll 4
    for (int c = 0; c < cols; c++)
        y[(size_t)c * y_stride] = acc[c];
}

#include "kernels/gemm_k_blocks.h"

#endif
