/* x86/ops.c - AVX2+FMA(+F16C) versions of the row ops of kernels.h, and the
 * "avx2" table (also the base of "avx512", which swaps in VNNI dot products
 * and micro-kernels). RoPE and get_row stay the reference's: their cost is
 * the angles and the dequantizer, not the arithmetic here. */
#include "kernels/dispatch.h"

#include "kernels/x86/vmath.h"

#include <immintrin.h>
#include <math.h>

static float exp_scalar(float x)
{
    return _mm256_cvtss_f32(exp_ps(_mm256_set1_ps(x)));
}

static void rmsnorm_forward(float *out, const float *x, const float *weight, int n, float eps)
{
    __m256 acc = _mm256_setzero_ps();
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        acc = _mm256_fmadd_ps(v, v, acc);
    }
    float sum_sq = hsum_ps(acc);
    for (; i < n; i++)
        sum_sq += x[i] * x[i];
    float inv_rms = 1.0f / sqrtf(sum_sq / n + eps);
    __m256 scale = _mm256_set1_ps(inv_rms);
    for (i = 0; i + 8 <= n; i += 8)
        _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(x + i), scale),
                                                _mm256_loadu_ps(weight + i)));
    for (; i < n; i++)
        out[i] = x[i] * inv_rms * weight[i];
}

static void layernorm_forward(float *out, const float *x, const float *weight, const float *bias,
                              int n, float eps)
{
    __m256 acc = _mm256_setzero_ps();
    int i = 0;
    for (; i + 8 <= n; i += 8)
        acc = _mm256_add_ps(acc, _mm256_loadu_ps(x + i));
    float sum = hsum_ps(acc);
    for (; i < n; i++)
        sum += x[i];
    float mean = sum / n;
    __m256 mean_v = _mm256_set1_ps(mean);
    acc = _mm256_setzero_ps();
    for (i = 0; i + 8 <= n; i += 8) {
        __m256 d = _mm256_sub_ps(_mm256_loadu_ps(x + i), mean_v);
        acc = _mm256_fmadd_ps(d, d, acc);
    }
    float sum_sq = hsum_ps(acc);
    for (; i < n; i++)
        sum_sq += (x[i] - mean) * (x[i] - mean);
    float inv_std = 1.0f / sqrtf(sum_sq / n + eps);
    __m256 inv_v = _mm256_set1_ps(inv_std);
    for (i = 0; i + 8 <= n; i += 8) {
        __m256 v = _mm256_mul_ps(_mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), mean_v), inv_v),
                                 _mm256_loadu_ps(weight + i));
        if (bias)
            v = _mm256_add_ps(v, _mm256_loadu_ps(bias + i));
        _mm256_storeu_ps(out + i, v);
    }
    for (; i < n; i++)
        out[i] = (x[i] - mean) * inv_std * weight[i] + (bias ? bias[i] : 0.0f);
}

static void softmax_forward(float *x, int n, float scale, int n_valid)
{
    __m256 scale_v = _mm256_set1_ps(scale);
    __m256 max_v = _mm256_set1_ps(-INFINITY);
    int i = 0;
    for (; i + 8 <= n_valid; i += 8)
        max_v = _mm256_max_ps(max_v, _mm256_mul_ps(_mm256_loadu_ps(x + i), scale_v));
    float max = hmax_ps(max_v);
    for (; i < n_valid; i++)
        max = fmaxf(max, scale * x[i]);
    __m256 neg_max = _mm256_set1_ps(-max);
    __m256 sum_v = _mm256_setzero_ps();
    for (i = 0; i + 8 <= n_valid; i += 8) {
        __m256 e = exp_ps(_mm256_fmadd_ps(_mm256_loadu_ps(x + i), scale_v, neg_max));
        _mm256_storeu_ps(x + i, e);
        sum_v = _mm256_add_ps(sum_v, e);
    }
    float sum = hsum_ps(sum_v);
    for (; i < n_valid; i++) {
        x[i] = exp_scalar(scale * x[i] - max);
        sum += x[i];
    }
    __m256 inv = _mm256_set1_ps(1.0f / sum);
    for (i = 0; i + 8 <= n_valid; i += 8)
        _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), inv));
    for (; i < n_valid; i++)
        x[i] *= 1.0f / sum;
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
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        _mm256_storeu_ps(out + i, _mm256_mul_ps(v, sigmoid_ps(v)));
    }
    for (; i < n; i++)
        out[i] = silu_scalar(x[i]);
}

/* 0.5 x (1 + tanh(u)) = x * sigmoid(2u), u = sqrt(2/pi) (x + 0.044715 x^3) */
static void gelu_forward(float *out, const float *x, int n)
{
    const float two_c = 2.0f * 0.79788456080286535588f, two_c_a = two_c * 0.044715f;
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        __m256 u = _mm256_mul_ps(v, _mm256_fmadd_ps(_mm256_mul_ps(v, v), _mm256_set1_ps(two_c_a),
                                                    _mm256_set1_ps(two_c)));
        _mm256_storeu_ps(out + i, _mm256_mul_ps(v, sigmoid_ps(u)));
    }
    for (; i < n; i++) {
        float v = x[i], u = v * (two_c + two_c_a * v * v);
        out[i] = v / (1.0f + exp_scalar(-u));
    }
}

static void swiglu_forward(float *out, const float *gate, const float *up, int n)
{
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 g = _mm256_loadu_ps(gate + i);
        _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_mul_ps(g, sigmoid_ps(g)), _mm256_loadu_ps(up + i)));
    }
    for (; i < n; i++)
        out[i] = silu_scalar(gate[i]) * up[i];
}

static void add(float *out, const float *a, const float *b, int n)
{
    int i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(out + i, _mm256_add_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i)));
    for (; i < n; i++)
        out[i] = a[i] + b[i];
}

static void mul(float *out, const float *a, const float *b, int n)
{
    int i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i)));
    for (; i < n; i++)
        out[i] = a[i] * b[i];
}

static inline __m256 load_f16(const uint16_t *p)
{
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
}

/* The 4 dot products of q with k rows t..t+3 (dims i < dim8, a multiple of
 * 8): four independent chains, reduced together. */
static inline __m128 dot4_f16(const float *q, const uint16_t *k, size_t stride, int dim8)
{
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    for (int i = 0; i < dim8; i += 8) {
        __m256 qv = _mm256_loadu_ps(q + i);
        a0 = _mm256_fmadd_ps(qv, load_f16(k + i), a0);
        a1 = _mm256_fmadd_ps(qv, load_f16(k + stride + i), a1);
        a2 = _mm256_fmadd_ps(qv, load_f16(k + 2 * stride + i), a2);
        a3 = _mm256_fmadd_ps(qv, load_f16(k + 3 * stride + i), a3);
    }
    __m256 s = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));
    return _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
}

/* Per head: the scores four cached positions at a time, softmax, then the
 * weighted sum of v rows with 64 output dims in registers across all
 * positions (one position at a time would be a chain of dependent FMAs). */
static void attention_forward(float *out, const float *q, const uint16_t *k, const uint16_t *v,
                              const ed_attention_t *shape, int head_begin, int head_end,
                              float *scratch)
{
    int head_dim = shape->head_dim, group = shape->n_head / shape->n_kv_head, dim8 = head_dim / 8 * 8;
    size_t stride = shape->kv_row_stride;
    for (int h = head_begin; h < head_end; h++) {
        const float *q_head = q + (size_t)h * head_dim;
        size_t kv_offset = (size_t)(h / group) * head_dim;
        int t = 0;
        for (; t + 4 <= shape->n_kv; t += 4)
            _mm_storeu_ps(scratch + t, dot4_f16(q_head, k + (size_t)t * stride + kv_offset, stride, dim8));
        for (; t < shape->n_kv; t++) {
            const uint16_t *k_row = k + (size_t)t * stride + kv_offset;
            __m256 acc = _mm256_setzero_ps();
            for (int i = 0; i < dim8; i += 8)
                acc = _mm256_fmadd_ps(_mm256_loadu_ps(q_head + i), load_f16(k_row + i), acc);
            scratch[t] = hsum_ps(acc);
        }
        for (t = 0; t < shape->n_kv && dim8 < head_dim; t++)
            for (int i = dim8; i < head_dim; i++)
                scratch[t] += q_head[i] * ed_fp16_to_fp32(k[(size_t)t * stride + kv_offset + i]);
        softmax_forward(scratch, shape->n_kv, ed_attention_softcap(scratch, shape->n_kv, shape->scale, shape->softcap),
                        shape->n_kv);
        float *out_head = out + (size_t)h * head_dim;
        int i = 0;
        for (; i + 64 <= head_dim; i += 64) {
            __m256 acc[8];
            for (int j = 0; j < 8; j++)
                acc[j] = _mm256_setzero_ps();
            for (t = 0; t < shape->n_kv; t++) {
                __m256 p = _mm256_set1_ps(scratch[t]);
                const uint16_t *v_row = v + (size_t)t * stride + kv_offset + i;
#pragma GCC unroll 8
                for (int j = 0; j < 8; j++)
                    acc[j] = _mm256_fmadd_ps(p, load_f16(v_row + 8 * j), acc[j]);
            }
            for (int j = 0; j < 8; j++)
                _mm256_storeu_ps(out_head + i + 8 * j, acc[j]);
        }
        for (; i + 8 <= head_dim; i += 8) {
            __m256 acc = _mm256_setzero_ps();
            for (t = 0; t < shape->n_kv; t++)
                acc = _mm256_fmadd_ps(_mm256_set1_ps(scratch[t]), load_f16(v + (size_t)t * stride + kv_offset + i),
                                      acc);
            _mm256_storeu_ps(out_head + i, acc);
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
    if (n >= 8) {
        __m256 max_v = _mm256_loadu_ps(x);
        for (i = 8; i + 8 <= n; i += 8)
            max_v = _mm256_max_ps(max_v, _mm256_loadu_ps(x + i));
        float max = hmax_ps(max_v);
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
    __m256d acc_lo = _mm256_setzero_pd(), acc_hi = _mm256_setzero_pd();
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        __m256d lo = _mm256_cvtps_pd(_mm256_castps256_ps128(v));
        __m256d hi = _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));
        acc_lo = _mm256_fmadd_pd(lo, lo, acc_lo);
        acc_hi = _mm256_fmadd_pd(hi, hi, acc_hi);
    }
    __m256d acc = _mm256_add_pd(acc_lo, acc_hi);
    __m128d pair = _mm_add_pd(_mm256_castpd256_pd128(acc), _mm256_extractf128_pd(acc, 1));
    double norm = _mm_cvtsd_f64(_mm_add_sd(pair, _mm_unpackhi_pd(pair, pair)));
    for (; i < n; i++)
        norm += (double)x[i] * x[i];
    if (!(norm > 0))
        return;
    float scale = (float)(1.0 / sqrt(norm));
    __m256 scale_v = _mm256_set1_ps(scale);
    for (i = 0; i + 8 <= n; i += 8)
        _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), scale_v));
    for (; i < n; i++)
        x[i] *= scale;
}

void ed__kernels_fill_avx2(ed_kernels_t *k)
{
    ed__kernels_fill_ref(k);
    ed_vec_dot_table_avx2(k->vec_dot);
    ed__gemm_table_avx2(k->gemm);
    ed__quantize_table_avx2(k->quantize);
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
    ed__kernels_fill_avx2_backward(k);
}
