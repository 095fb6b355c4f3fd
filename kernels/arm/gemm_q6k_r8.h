/* arm/gemm_q6k_r8.h - the batch products of q6_K_r8 weights (kernels/repack.h)
 * against q8_K_x8 activations, for gemm.c (plain NEON, Pi 4: widening
 * multiplies, 4 products per int16 lane) and gemm_dotprod.c (SDOT, Pi 5),
 * after gemm_r8.h (R8_COLS, r8_hsum, gemm_passes). A 32-byte vector of the
 * layout is two 16-byte halves (sub-blocks 0-3, 4-7); the levels are made
 * signed (level - 32) once per weight vector, so no offset term is needed.
 * Every output takes ref/vec_dot.c's dot_q6_K_r8 steps per lane (exact
 * integer sums, the float steps in its order, sum_lanes at the end): a row
 * is bit for bit the same alone or in any batch, and as the reference. */

/* The signed values (level - 32) of elements 4k..4k+3 of sub-blocks
 * 4 half .. 4 half + 3, unit j in lane j, for k = 4h..4h+3 (w[0..3]). */
static inline __attribute__((always_inline)) void k6n_values(const ed_block_q6_K_r8_t *wb, int h, int half,
                                                             int8x16_t w[4])
{
    const uint8x16_t low = vdupq_n_u8(0x0F), bits45 = vdupq_n_u8(0x30), offset = vdupq_n_u8(32);
    uint8x16_t qh = vld1q_u8(wb->qh[h] + 16 * half);
    uint8x16_t ql0 = vld1q_u8(wb->ql[2 * h] + 16 * half), ql1 = vld1q_u8(wb->ql[2 * h + 1] + 16 * half);
    uint8x16_t level[4] = {
        vorrq_u8(vandq_u8(ql0, low), vandq_u8(vshlq_n_u8(qh, 4), bits45)),
        vorrq_u8(vshrq_n_u8(ql0, 4), vandq_u8(vshlq_n_u8(qh, 2), bits45)),
        vorrq_u8(vandq_u8(ql1, low), vandq_u8(qh, bits45)),
        vorrq_u8(vshrq_n_u8(ql1, 4), vandq_u8(vshrq_n_u8(qh, 2), bits45)),
    };
#pragma GCC unroll 4
    for (int k = 0; k < 4; k++)
        w[k] = vreinterpretq_s8_u8(vsubq_u8(level[k], offset));
}

/* The exact dots of w[0..3] with the activation halves at xq (the qs of
 * vectors k = 4h..4h+3, 32 bytes apart, already offset by 16 half): unit j
 * in lane j. Plain NEON: |value| <= 32 and |x| <= 128, so 4 products per
 * byte position add in 16 bits. */
static inline __attribute__((always_inline)) int32x4_t k6n_dot(const int8x16_t w[4], const int8_t *xq)
{
#if defined(__ARM_FEATURE_DOTPROD)
    int32x4_t even = vdotq_s32(vdupq_n_s32(0), w[0], vld1q_s8(xq));
    int32x4_t odd = vdotq_s32(vdupq_n_s32(0), w[1], vld1q_s8(xq + 32));
    even = vdotq_s32(even, w[2], vld1q_s8(xq + 64));
    odd = vdotq_s32(odd, w[3], vld1q_s8(xq + 96));
    return vaddq_s32(even, odd);
#else
    int8x16_t x0 = vld1q_s8(xq);
    int16x8_t lo = vmull_s8(vget_low_s8(w[0]), vget_low_s8(x0));
    int16x8_t hi = vmull_high_s8(w[0], x0);
#pragma GCC unroll 3
    for (int k = 1; k < 4; k++) {
        int8x16_t xk = vld1q_s8(xq + 32 * k);
        lo = vmlal_s8(lo, vget_low_s8(w[k]), vget_low_s8(xk));
        hi = vmlal_high_s8(hi, w[k], xk);
    }
    return vpaddq_s32(vpaddlq_s16(lo), vpaddlq_s16(hi));
#endif
}

/* y[c * y_stride] = dot(weight row, activation row c) for c < cols (a
 * constant after inlining). */
static inline __attribute__((always_inline)) void k6n_row(int type, int n_blocks, const uint8_t *row,
                                                          const uint8_t *x, size_t x_row_bytes, int cols, float *y,
                                                          size_t y_stride)
{
    (void)type;
    float32x4_t acc[R8_COLS][2]; /* [c][half]: lane j is sub-block 4 half + j */
#pragma GCC unroll 4
    for (int c = 0; c < cols; c++)
        acc[c][0] = acc[c][1] = vdupq_n_f32(0.0f);
    for (int b = 0; b < n_blocks; b++) {
        const ed_block_q6_K_r8_t *wb = (const ed_block_q6_K_r8_t *)row + b;
        float d = vgetq_lane_f32(vcvt_f32_f16(vreinterpret_f16_u16(vdup_n_u16(wb->d))), 0);
#pragma GCC unroll 2
        for (int half = 0; half < 2; half++)
#pragma GCC unroll 2
            for (int h = 0; h < 2; h++) {
                int8x16_t w[4];
                k6n_values(wb, h, half, w);
                int16x8_t sc16 = vmovl_s8(vld1_s8(wb->scales[h]));
                int32x4_t sc = half ? vmovl_high_s16(sc16) : vmovl_s16(vget_low_s16(sc16));
                float32x4_t ws = vmulq_n_f32(vcvtq_f32_s32(sc), d);
#pragma GCC unroll 4
                for (int c = 0; c < cols; c++) {
                    const ed_block_q8_K_x8_t *a = (const ed_block_q8_K_x8_t *)(x + (size_t)c * x_row_bytes) + b;
                    int32x4_t sum = k6n_dot(w, a->qs[4 * h] + 16 * half);
                    acc[c][half] = vfmaq_f32(acc[c][half], vcvtq_f32_s32(sum), vmulq_n_f32(ws, a->d));
                }
            }
    }
#pragma GCC unroll 4
    for (int c = 0; c < cols; c++)
        y[(size_t)c * y_stride] = r8_hsum(acc[c][0], acc[c][1]);
}

static void gemm_q6_K_r8(int n_blocks, const void *w, size_t w_row_bytes, int n_rows, const void *x,
                         size_t x_row_bytes, int n_cols, float *y, size_t y_stride)
{
    gemm_passes(k6n_row, R8_COLS, ED_TYPE_Q6_K_R8, n_blocks, w, w_row_bytes, n_rows, x, x_row_bytes, n_cols, y,
                y_stride);
}
