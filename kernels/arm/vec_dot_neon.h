/* vec_dot_neon.h - the NEON dot products, compiled twice: by vec_dot.c for
 * plain ARMv8 NEON (Pi 4) and by vec_dot_dotprod.c with the dotprod extension
 * (Pi 5). The includer first defines dot_i8x16(acc, a, b), which adds the
 * 16 products a[i]*b[i] into the four int32 lanes of acc (how they spread
 * over the lanes is its own business: only the lane total is used).
 * q4_K, q5_K and q6_K come from gemm_k.h, which picks SDOT by the flags.
 * Covered: f32, f16, q4_0, q8_0, q4_K, q5_K, q6_K; the other types keep the
 * reference. ref/vec_dot.c is the specification. */
#ifndef ED_KERNELS_ARM_VEC_DOT_NEON_H
#define ED_KERNELS_ARM_VEC_DOT_NEON_H

#include "kernels/arm/gemm_k.h"
#include "kernels/quant.h"

#include <arm_neon.h>

static void neon_dot_f32(int n, float *out, const void *w_row, const void *act_row)
{
    const float *w = w_row, *a = act_row;
    float32x4_t acc0 = vdupq_n_f32(0.0f), acc1 = vdupq_n_f32(0.0f);
    float32x4_t acc2 = vdupq_n_f32(0.0f), acc3 = vdupq_n_f32(0.0f);
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        acc0 = vfmaq_f32(acc0, vld1q_f32(w + i), vld1q_f32(a + i));
        acc1 = vfmaq_f32(acc1, vld1q_f32(w + i + 4), vld1q_f32(a + i + 4));
        acc2 = vfmaq_f32(acc2, vld1q_f32(w + i + 8), vld1q_f32(a + i + 8));
        acc3 = vfmaq_f32(acc3, vld1q_f32(w + i + 12), vld1q_f32(a + i + 12));
    }
    for (; i + 4 <= n; i += 4)
        acc0 = vfmaq_f32(acc0, vld1q_f32(w + i), vld1q_f32(a + i));
    float sum = vaddvq_f32(vaddq_f32(vaddq_f32(acc0, acc1), vaddq_f32(acc2, acc3)));
    for (; i < n; i++)
        sum += w[i] * a[i];
    *out = sum;
}

static inline float32x4_t load_f16x4(const uint16_t *w)
{
    return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(w)));
}

static void neon_dot_f16(int n, float *out, const void *w_row, const void *act_row)
{
    const uint16_t *w = w_row;
    const float *a = act_row;
    float32x4_t acc0 = vdupq_n_f32(0.0f), acc1 = vdupq_n_f32(0.0f);
    float32x4_t acc2 = vdupq_n_f32(0.0f), acc3 = vdupq_n_f32(0.0f);
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        acc0 = vfmaq_f32(acc0, load_f16x4(w + i), vld1q_f32(a + i));
        acc1 = vfmaq_f32(acc1, load_f16x4(w + i + 4), vld1q_f32(a + i + 4));
        acc2 = vfmaq_f32(acc2, load_f16x4(w + i + 8), vld1q_f32(a + i + 8));
        acc3 = vfmaq_f32(acc3, load_f16x4(w + i + 12), vld1q_f32(a + i + 12));
    }
    for (; i + 4 <= n; i += 4)
        acc0 = vfmaq_f32(acc0, load_f16x4(w + i), vld1q_f32(a + i));
    float sum = vaddvq_f32(vaddq_f32(vaddq_f32(acc0, acc1), vaddq_f32(acc2, acc3)));
    for (; i < n; i++)
        sum += fp16(w[i]) * a[i];
    *out = sum;
}

static void neon_dot_q4_0(int n, float *out, const void *w_row, const void *act_row)
{
    const ed_block_q4_0_t *w = w_row;
    const ed_block_q8_0_t *a = act_row;
    const uint8x16_t low_mask = vdupq_n_u8(0x0F);
    const int8x16_t eight = vdupq_n_s8(8);
    float32x4_t acc = vdupq_n_f32(0.0f);
    for (int i = 0; i < n / ED_QK; i++) {
        uint8x16_t packed = vld1q_u8(w[i].qs);
        int8x16_t low = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(packed, low_mask)), eight);
        int8x16_t high = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(packed, 4)), eight);
        int32x4_t sumi = dot_i8x16(vdupq_n_s32(0), low, vld1q_s8(a[i].qs));
        sumi = dot_i8x16(sumi, high, vld1q_s8(a[i].qs + 16));
        acc = vmlaq_n_f32(acc, vcvtq_f32_s32(sumi), fp16(w[i].d) * fp16(a[i].d));
    }
    *out = vaddvq_f32(acc);
}

static void neon_dot_q8_0(int n, float *out, const void *w_row, const void *act_row)
{
    const ed_block_q8_0_t *w = w_row;
    const ed_block_q8_0_t *a = act_row;
    float32x4_t acc = vdupq_n_f32(0.0f);
    for (int i = 0; i < n / ED_QK; i++) {
        int32x4_t sumi = dot_i8x16(vdupq_n_s32(0), vld1q_s8(w[i].qs), vld1q_s8(a[i].qs));
        sumi = dot_i8x16(sumi, vld1q_s8(w[i].qs + 16), vld1q_s8(a[i].qs + 16));
        acc = vmlaq_n_f32(acc, vcvtq_f32_s32(sumi), fp16(w[i].d) * fp16(a[i].d));
    }
    *out = vaddvq_f32(acc);
}

static void neon_fill_table(ed_vec_dot_fn table[ED_TYPE_COUNT])
{
    table[ED_TYPE_F32] = neon_dot_f32;
    table[ED_TYPE_F16] = neon_dot_f16;
    table[ED_TYPE_Q4_0] = neon_dot_q4_0;
    table[ED_TYPE_Q8_0] = neon_dot_q8_0;
    table[ED_TYPE_Q4_K] = k_dot_q4_K; /* gemm_k_blocks.h */
    table[ED_TYPE_Q5_K] = k_dot_q5_K;
    table[ED_TYPE_Q6_K] = k_dot_q6_K;
}

#endif
