/* arm/ops.c - NEON versions of the row ops of kernels.h, and the "neon"
 * table (Pi 4; the base of "neon-dotprod" for the Pi 5, which swaps in SDOT
 * dot products and micro-kernels). RoPE and get_row stay the reference's. */
#include "kernels/dispatch.h"

#include "kernels/arm/vmath.h"

#include <arm_neon.h>
#include <math.h>

static float exp_scalar(float x)
{
    return vgetq_lane_f32(exp_ps(vdupq_n_f32(x)), 0);
}

static void rmsnorm_forward(float *out, const float *x, const float *weight, int n, float eps)
{
    float32x4_t acc = vdupq_n_f32(0.0f);
    int i = 0;
    for (; i + 4 <= n; i += 4) {
        float32x4_t v = vld1q_f32(x + i);
        acc = vfmaq_f32(acc, v, v);
    }
    float sum_sq = vaddvq_f32(acc);
    for (; i < n; i++)
        sum_sq += x[i] * x[i];
    float inv_rms = 1.0f / sqrtf(sum_sq / n + eps);
    for (i = 0; i + 4 <= n; i += 4)
        vst1q_f32(out + i, vmulq_f32(vmulq_n_f32(vld1q_f32(x + i), inv_rms), vld1q_f32(weight + i)));
    for (; i < n; i++)
        out[i] = x[i] * inv_rms * weight[i];
}

static void layernorm_forward(float *out, const float *x, const float *weight, const float *bias,
                              int n, float eps)
{
    float32x4_t acc = vdupq_n_f32(0.0f);
    int i = 0;
    for (; i + 4 <= n; i += 4)
        acc = vaddq_f32(acc, vld1q_f32(x + i));
    float sum = vaddvq_f32(acc);
    for (; i < n; i++)
        sum += x[i];
    float mean = sum / n;
    float32x4_t mean_v = vdupq_n_f32(mean);
    acc = vdupq_n_f32(0.0f);
    for (i = 0; i + 4 <= n; i += 4) {
        float32x4_t d = vsubq_f32(vld1q_f32(x + i), mean_v);
        acc = vfmaq_f32(acc, d, d);
    }
    float sum_sq = vaddvq_f32(acc);
    for (; i < n; i++)
        sum_sq += (x[i] - mean) * (x[i] - mean);
    float inv_std = 1.0f / sqrtf(sum_sq / n + eps);
    for (i = 0; i + 4 <= n; i += 4) {
        float32x4_t v = vmulq_f32(vmulq_n_f32(vsubq_f32(vld1q_f32(x + i), mean_v), inv_std),
                                  vld1q_f32(weight + i));
        if (bias)
            v = vaddq_f32(v, vld1q_f32(bias + i));
        vst1q_f32(out + i, v);
    }
    for (; i < n; i++)
        out[i] = (x[i] - mean) * inv_std * weight[i] + (bias ? bias[i] : 0.0f);
}

static void softmax_forward(float *x, int n, float scale, int n_valid)
{
    float32x4_t max_v = vdupq_n_f32(-INFINITY);
    int i = 0;
    for (; i + 4 <= n_valid; i += 4)
        max_v = vmaxq_f32(max_v, vmulq_n_f32(vld1q_f32(x + i), scale));
    float max = vmaxvq_f32(max_v);
    for (; i < n_valid; i++)
        max = fmaxf(max, scale * x[i]);
    float32x4_t neg_max = vdupq_n_f32(-max), scale_v = vdupq_n_f32(scale);
    float32x4_t sum_v = vdupq_n_f32(0.0f);
    for (i = 0; i + 4 <= n_valid; i += 4) {
        float32x4_t e = exp_ps(vfmaq_f32(neg_max, vld1q_f32(x + i), scale_v));
        vst1q_f32(x + i, e);
        sum_v = vaddq_f32(sum_v, e);
    }
    float sum = vaddvq_f32(sum_v);
    for (; i < n_valid; i++) {
        x[i] = exp_scalar(scale * x[i] - max);
        sum += x[i];
    }
    float inv = 1.0f / sum;
    for (i = 0; i + 4 <= n_valid; i += 4)
        vst1q_f32(x + i, vmulq_n_f32(vld1q_f32(x + i), inv));
    for (; i < n_valid; i++)
        x[i] *= inv;
    for (i = n_valid; i < n; i++)
        x[i] = 0.0f;
}

static float silu_scalar(float v)
{
    return v / (1.0f + exp_scalar(-v));
}

static void silu_forward(float *out, const float *x, int n)
{
    int i = 0;
    for (; i + 4 <= n; i += 4) {
        float32x4_t v = vld1q_f32(x + i);
        vst1q_f32(out + i, vmulq_f32(v, sigmoid_ps(v)));
    }
    for (; i < n; i++)
        out[i] = silu_scalar(x[i]);
}

/* 0.5 x (1 + tanh(u)) = x * sigmoid(2u), u = sqrt(2/pi) (x + 0.044715 x^3) */
static void gelu_forward(float *out, const float *x, int n)
{
    const float two_c = 2.0f * 0.79788456080286535588f, two_c_a = two_c * 0.044715f;
    int i = 0;
    for (; i + 4 <= n; i += 4) {
        float32x4_t v = vld1q_f32(x + i);
        float32x4_t u = vmulq_f32(v, vfmaq_f32(vdupq_n_f32(two_c), vmulq_f32(v, v), vdupq_n_f32(two_c_a)));
        vst1q_f32(out + i, vmulq_f32(v, sigmoid_ps(u)));
    }
    for (; i < n; i++) {
        float v = x[i], u = v * (two_c + two_c_a * v * v);
        out[i] = v / (1.0f + exp_scalar(-u));
    }
}

static void swiglu_forward(float *out, const float *gate, const float *up, int n)
{
    int i = 0;
    for (; i + 4 <= n; i += 4) {
        float32x4_t g = vld1q_f32(gate + i);
        vst1q_f32(out + i, vmulq_f32(vmulq_f32(g, sigmoid_ps(g)), vld1q_f32(up + i)));
    }
    for (; i < n; i++)
        out[i] = silu_scalar(gate[i]) * up[i];
}

static void add(float *out, const float *a, const float *b, int n)
{
    int i = 0;
    for (; i + 4 <= n; i += 4)
        vst1q_f32(out + i, vaddq_f32(vld1q_f32(a + i), vld1q_f32(b + i)));
    for (; i < n; i++)
        out[i] = a[i] + b[i];
}

static void mul(float *out, const float *a, const float *b, int n)
{
    int i = 0;
    for (; i + 4 <= n; i += 4)
        vst1q_f32(out + i, vmulq_f32(vld1q_f32(a + i), vld1q_f32(b + i)));
    for (; i < n; i++)
        out[i] = a[i] * b[i];
}

static inline float32x4_t load_f16(const uint16_t *p)
{
    return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p)));
}

/* The 4 dot products of q with k rows t..t+3 (dims i < dim4, a multiple of
 * 4): four independent chains. */
static inline float32x4_t dot4_f16(const float *q, const uint16_t *k, size_t stride, int dim4)
{
    float32x4_t a0 = vdupq_n_f32(0.0f), a1 = a0, a2 = a0, a3 = a0;
    for (int i = 0; i < dim4; i += 4) {
        float32x4_t qv = vld1q_f32(q + i);
        a0 = vfmaq_f32(a0, qv, load_f16(k + i));
        a1 = vfmaq_f32(a1, qv, load_f16(k + stride + i));
        a2 = vfmaq_f32(a2, qv, load_f16(k + 2 * stride + i));
        a3 = vfmaq_f32(a3, qv, load_f16(k + 3 * stride + i));
    }
    return vpaddq_f32(vpaddq_f32(a0, a1), vpaddq_f32(a2, a3));
}

/* Per head: the scores four cached positions at a time, softmax, then the
 * weighted sum of v rows with 32 output dims in registers across all
 * positions (one position at a time would be a chain of dependent FMAs). */
static void attention_forward(float *out, const float *q, const uint16_t *k, const uint16_t *v,
                              const ed_attention_t *shape, int head_begin, int head_end,
                              float *scratch)
{
    int head_dim = shape->head_dim, group = shape->n_head / shape->n_kv_head, dim4 = head_dim / 4 * 4;
    size_t stride = shape->kv_row_stride;
    for (int h = head_begin; h < head_end; h++) {
        const float *q_head = q + (size_t)h * head_dim;
        size_t kv_offset = (size_t)(h / group) * head_dim;
        int t = 0;
        for (; t + 4 <= shape->n_kv; t += 4)
            vst1q_f32(scratch + t, dot4_f16(q_head, k + (size_t)t * stride + kv_offset, stride, dim4));
        for (; t < shape->n_kv; t++) {
            const uint16_t *k_row = k + (size_t)t * stride + kv_offset;
            float32x4_t acc = vdupq_n_f32(0.0f);
            for (int i = 0; i < dim4; i += 4)
                acc = vfmaq_f32(acc, vld1q_f32(q_head + i), load_f16(k_row + i));
            scratch[t] = vaddvq_f32(acc);
        }
        for (t = 0; t < shape->n_kv && dim4 < head_dim; t++)
            for (int i = dim4; i < head_dim; i++)
                scratch[t] += q_head[i] * ed_fp16_to_fp32(k[(size_t)t * stride + kv_offset + i]);
        softmax_forward(scratch, shape->n_kv, ed_attention_softcap(scratch, shape->n_kv, shape->scale, shape->softcap),
                        shape->n_kv);
        float *out_head = out + (size_t)h * head_dim;
        int i = 0;
        for (; i + 32 <= head_dim; i += 32) {
            float32x4_t acc[8];
            for (int j = 0; j < 8; j++)
                acc[j] = vdupq_n_f32(0.0f);
            for (t = 0; t < shape->n_kv; t++) {
                const uint16_t *v_row = v + (size_t)t * stride + kv_offset + i;
#pragma GCC unroll 8
                for (int j = 0; j < 8; j++)
                    acc[j] = vfmaq_n_f32(acc[j], load_f16(v_row + 4 * j), scratch[t]);
            }
            for (int j = 0; j < 8; j++)
                vst1q_f32(out_head + i + 4 * j, acc[j]);
        }
        for (; i + 4 <= head_dim; i += 4) {
            float32x4_t acc = vdupq_n_f32(0.0f);
            for (t = 0; t < shape->n_kv; t++)
                acc = vfmaq_n_f32(acc, load_f16(v + (size_t)t * stride + kv_offset + i), scratch[t]);
            vst1q_f32(out_head + i, acc);
        }
        for (; i < head_dim; i++) {
            float sum = 0;
            for (t = 0; t < shape->n_kv; t++)
                sum += scratch[t] * ed_fp16_to_fp32(v[(size_t)t * stride + kv_offset + i]);
            out_head[i] = sum;
        }
    }
}

static int argmax(const float *x, int n)
{
    int i = 0, best = 0;
    if (n >= 4) {
        float32x4_t max_v = vld1q_f32(x);
        for (i = 4; i + 4 <= n; i += 4)
            max_v = vmaxq_f32(max_v, vld1q_f32(x + i));
        float max = vmaxvq_f32(max_v);
        for (int j = 0; j < i; j++)
            if (x[j] == max) {
                best = j;
                break;
            }
    }
    for (; i < n; i++)
        if (x[i] > x[best])
            best = i;
    return best;
}

/* The reference's contract: the squares summed in double (a float's square
 * is exact in double, so only the order of the additions differs). */
static void l2_normalize(float *x, int n)
{
    float64x2_t acc_lo = vdupq_n_f64(0), acc_hi = vdupq_n_f64(0);
    int i = 0;
    for (; i + 4 <= n; i += 4) {
        float32x4_t v = vld1q_f32(x + i);
        float64x2_t lo = vcvt_f64_f32(vget_low_f32(v));
        float64x2_t hi = vcvt_high_f64_f32(v);
        acc_lo = vfmaq_f64(acc_lo, lo, lo);
        acc_hi = vfmaq_f64(acc_hi, hi, hi);
    }
    double norm = vaddvq_f64(vaddq_f64(acc_lo, acc_hi));
    for (; i < n; i++)
        norm += (double)x[i] * x[i];
    if (!(norm > 0))
        return;
    float scale = (float)(1.0 / sqrt(norm));
    float32x4_t scale_v = vdupq_n_f32(scale);
    for (i = 0; i + 4 <= n; i += 4)
        vst1q_f32(x + i, vmulq_f32(vld1q_f32(x + i), scale_v));
    for (; i < n; i++)
        x[i] *= scale;
}

void ed__kernels_fill_neon(ed_kernels_t *k)
{
    ed__kernels_fill_ref(k);
    ed_vec_dot_table_neon(k->vec_dot);
    ed__gemm_table_neon(k->gemm);
    ed__quantize_table_neon(k->quantize);
    k->rmsnorm_forward = rmsnorm_forward;
    k->layernorm_forward = layernorm_forward;
    k->softmax_forward = softmax_forward;
    k->silu_forward = silu_forward;
    k->gelu_forward = gelu_forward;
    k->swiglu_forward = swiglu_forward;
    k->add = add;
    k->mul = mul;
    k->attention_forward = attention_forward;
    k->argmax = argmax;
    k->l2_normalize = l2_normalize;
    ed__kernels_fill_neon_backward(k);
}
