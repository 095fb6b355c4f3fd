/* arm/quantize.c - NEON quantizers of the activations every matrix product
 * starts with (q8_0, q8_0_x8 for the interleaved weights, q8_K and q8_K_x8
 * for the K-quants), bit for bit what the scalar ones in quant.c and
 * repack.c write: the same max-abs scale, the same reciprocal, roundf's ties
 * away from zero (FCVTAS) and the fp16 scale rounded to nearest even
 * (FCVTN). Base Armv8-a: Pi 4 and Pi 5. */
#include "kernels/dispatch.h"
#include "kernels/repack.h"

#include <arm_neon.h>

/* max |x[i]| over n (a multiple of 4) floats; fmaxf's, so a NaN loses. */
static inline float max_abs(const float *x, int n)
{
    float32x4_t amax = vdupq_n_f32(0.0f);
    for (int i = 0; i < n; i += 4)
        amax = vmaxnmq_f32(amax, vabsq_f32(vld1q_f32(x + i)));
    return vmaxnmvq_f32(amax);
}

/* 32 quants roundf(x[i] * inverse) in element order, as two halves. */
static inline void quantize_32(const float *x, float inverse, int8x16_t *low, int8x16_t *high)
{
    int16x8_t halfwords[4];
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++)
        halfwords[i] = vcombine_s16(vqmovn_s32(vcvtaq_s32_f32(vmulq_n_f32(vld1q_f32(x + 8 * i), inverse))),
                                    vqmovn_s32(vcvtaq_s32_f32(vmulq_n_f32(vld1q_f32(x + 8 * i + 4), inverse))));
    *low = vcombine_s8(vqmovn_s16(halfwords[0]), vqmovn_s16(halfwords[1]));
    *high = vcombine_s8(vqmovn_s16(halfwords[2]), vqmovn_s16(halfwords[3]));
}

/* The scale the scalar code computes for n floats (amax / 127, before any
 * fp16 rounding), and the reciprocal it quantizes with. */
static inline float max_abs_scale(const float *x, int n, float *inverse)
{
    float d = max_abs(x, n) / 127.0f;
    *inverse = d != 0.0f ? 1.0f / d : 0.0f;
    return d;
}

/* One block of 32: its quants in element order as two halves, and its scale. */
static inline float quantize_block(const float *x, int8x16_t *low, int8x16_t *high)
{
    float inverse, d = max_abs_scale(x, ED_QK, &inverse);
    quantize_32(x, inverse, low, high);
    return d;
}

static inline uint16_t fp16_bits(float f)
{
    return vget_lane_u16(vreinterpret_u16_f16(vcvt_f16_f32(vdupq_n_f32(f))), 0);
}

static void quantize_q8_0(const float *src, void *dst, int64_t n)
{
    ed_block_q8_0_t *b = dst;
    for (int64_t i = 0; i < n / ED_QK; i++) {
        int8x16_t low, high;
        b[i].d = fp16_bits(quantize_block(src + ED_QK * i, &low, &high));
        vst1q_s8(b[i].qs, low);
        vst1q_s8(b[i].qs + 16, high);
    }
}

/* A 4 x 4 transpose of 32-bit units: out[k] holds unit k of rows[0..3]. */
static inline void transpose_units(const int8x16_t rows[4], int8x16_t out[4])
{
    int32x4_t r0 = vreinterpretq_s32_s8(rows[0]), r1 = vreinterpretq_s32_s8(rows[1]);
    int32x4_t r2 = vreinterpretq_s32_s8(rows[2]), r3 = vreinterpretq_s32_s8(rows[3]);
    int64x2_t t0 = vreinterpretq_s64_s32(vtrn1q_s32(r0, r1)), t1 = vreinterpretq_s64_s32(vtrn2q_s32(r0, r1));
    int64x2_t t2 = vreinterpretq_s64_s32(vtrn1q_s32(r2, r3)), t3 = vreinterpretq_s64_s32(vtrn2q_s32(r2, r3));
    out[0] = vreinterpretq_s8_s64(vtrn1q_s64(t0, t2));
    out[1] = vreinterpretq_s8_s64(vtrn1q_s64(t1, t3));
    out[2] = vreinterpretq_s8_s64(vtrn2q_s64(t0, t2));
    out[3] = vreinterpretq_s8_s64(vtrn2q_s64(t1, t3));
}

/* units[h][j] (units 4h..4h+3 of block j of a group) stored so that unit k
 * of block j lands at qs[k][4j]: the x8 activation order. */
static inline void store_units(int8x16_t units[2][ED_R8], int8_t qs[ED_QK / 4][4 * ED_R8])
{
#pragma GCC unroll 2
    for (int h = 0; h < 2; h++)
#pragma GCC unroll 2
        for (int half = 0; half < 2; half++) { /* blocks 0-3, 4-7 */
            int8x16_t rows[4];
            transpose_units(&units[h][4 * half], rows);
#pragma GCC unroll 4
            for (int i = 0; i < 4; i++)
                vst1q_s8(qs[4 * h + i] + 16 * half, rows[i]);
        }
}

/* A group at a time: block j's quants as units 0-3 and 4-7 (zero past the
 * row's last block), then transposed into place. */
static void quantize_q8_0_x8(const float *src, void *dst, int64_t n)
{
    int n_blocks = (int)(n / ED_QK);
    for (int g = 0; g < (n_blocks + ED_R8 - 1) / ED_R8; g++) {
        ed_group_q8_0_x8_t *out = (ed_group_q8_0_x8_t *)dst + g;
        int8x16_t units[2][ED_R8];
        for (int j = 0; j < ED_R8; j++) {
            if (ED_R8 * g + j >= n_blocks) {
                units[0][j] = units[1][j] = vdupq_n_s8(0);
                out->d[j] = 0.0f;
                out->sum[j] = 0;
                continue;
            }
            float d = quantize_block(src + (int64_t)ED_QK * (ED_R8 * g + j), &units[0][j], &units[1][j]);
            out->d[j] = vgetq_lane_f32(vcvt_f32_f16(vcvt_f16_f32(vdupq_n_f32(d))), 0);
            out->sum[j] = vaddlvq_s8(units[0][j]) + vaddlvq_s8(units[1][j]);
        }
        store_units(units, out->qs);
    }
}

/* The K-quants' activations: one f32 scale per 256, and the sum of every 16
 * quants (the min and bias terms of the dot products). */
static void quantize_q8_K(const float *src, void *dst, int64_t n)
{
    ed_block_q8_K_t *b = dst;
    for (int64_t i = 0; i < n / ED_QK_K; i++) {
        const float *x = src + ED_QK_K * i;
        float inverse;
        b[i].d = max_abs_scale(x, ED_QK_K, &inverse);
        for (int j = 0; j < ED_QK_K / ED_QK; j++) {
            int8x16_t low, high;
            quantize_32(x + ED_QK * j, inverse, &low, &high);
            vst1q_s8(b[i].qs + ED_QK * j, low);
            vst1q_s8(b[i].qs + ED_QK * j + 16, high);
            b[i].bsums[2 * j] = vaddlvq_s8(low);
            b[i].bsums[2 * j + 1] = vaddlvq_s8(high);
        }
    }
}

/* q8_K in q4_K_r8's order (sub-block j of 32 in the place of q8_0_x8's
 * block j), with sums per 32. */
static void quantize_q8_K_x8(const float *src, void *dst, int64_t n)
{
    for (int64_t i = 0; i < n / ED_QK_K; i++) {
        const float *x = src + ED_QK_K * i;
        ed_block_q8_K_x8_t *out = (ed_block_q8_K_x8_t *)dst + i;
        float inverse;
        out->d = max_abs_scale(x, ED_QK_K, &inverse);
        int8x16_t units[2][ED_R8];
        for (int j = 0; j < ED_R8; j++) {
            quantize_32(x + ED_QK * j, inverse, &units[0][j], &units[1][j]);
            out->sum[j] = vaddlvq_s8(units[0][j]) + vaddlvq_s8(units[1][j]);
        }
        store_units(units, out->qs);
    }
}

void ed__quantize_table_neon(ed_from_float_fn table[ED_TYPE_COUNT])
{
    table[ED_TYPE_Q8_0] = quantize_q8_0;
    table[ED_TYPE_Q8_0_X8] = quantize_q8_0_x8;
    table[ED_TYPE_Q8_K] = quantize_q8_K;
    table[ED_TYPE_Q8_K_X8] = quantize_q8_K_x8;
}
