/* ref/ops.c - the scalar reference of every op in kernels.h: the
 * specification the arch folders are tested against. Written for clarity,
 * reductions in double; the vec_dot table comes from quant.h's reference. */
#include "kernels/dispatch.h"

#include <math.h>
#include <string.h>

static void rmsnorm_forward(float *out, const float *x, const float *weight, int n, float eps)
{
    double sum_sq = 0;
    for (int i = 0; i < n; i++)
        sum_sq += (double)x[i] * x[i];
    float inv_rms = (float)(1.0 / sqrt(sum_sq / n + eps));
    for (int i = 0; i < n; i++)
        out[i] = x[i] * inv_rms * weight[i];
}

static void layernorm_forward(float *out, const float *x, const float *weight, const float *bias,
                              int n, float eps)
{
    double sum = 0, sum_sq = 0;
    for (int i = 0; i < n; i++)
        sum += x[i];
    double mean = sum / n;
    for (int i = 0; i < n; i++)
        sum_sq += (x[i] - mean) * (x[i] - mean);
    float inv_std = (float)(1.0 / sqrt(sum_sq / n + eps));
    float mean_f = (float)mean;
    for (int i = 0; i < n; i++)
        out[i] = (x[i] - mean_f) * inv_std * weight[i] + (bias ? bias[i] : 0.0f);
}

/* The angles of pairs [begin, end) into cos_sin[2(i - begin)], [2(i - begin) + 1]. */
static void rope_angles(const ed_rope_t *rope, int pos, int begin, int end, float *cos_sin)
{
    for (int i = begin; i < end; i++) {
        double inv_freq = pow(rope->freq_base, -2.0 * i / rope->n_rot);
        double theta = (double)rope->freq_scale * pos * inv_freq;
        if (rope->freq_factors)
            theta /= rope->freq_factors[i];
        cos_sin[2 * (i - begin)] = (float)cos(theta);
        cos_sin[2 * (i - begin) + 1] = (float)sin(theta);
    }
}

void ed_rope_cos_sin(const ed_rope_t *rope, int pos, float *cos_sin)
{
    rope_angles(rope, pos, 0, rope->n_rot / 2, cos_sin);
}

/* Rotates pairs [begin, end) of every head by the angles in cos_sin (pair i at 2(i - begin)). */
static void rope_rotate_pairs(float *x, int n_head, int head_dim, const float *cos_sin, const ed_rope_t *rope,
                              int begin, int end)
{
    int half = rope->n_rot / 2;
    for (int i = begin; i < end; i++) {
        float cos_t = cos_sin[2 * (i - begin)], sin_t = cos_sin[2 * (i - begin) + 1];
        for (int h = 0; h < n_head; h++) {
            float *head = x + (size_t)h * head_dim;
            int a = rope->neox ? i : 2 * i;
            int b = rope->neox ? i + half : 2 * i + 1;
            float x0 = head[a], x1 = head[b];
            head[a] = x0 * cos_t - x1 * sin_t;
            head[b] = x0 * sin_t + x1 * cos_t;
        }
    }
}

static void rope_rotate(float *x, int n_head, int head_dim, const float *cos_sin, const ed_rope_t *rope)
{
    rope_rotate_pairs(x, n_head, head_dim, cos_sin, rope, 0, rope->n_rot / 2);
}

#define ROPE_SLICE 64 /* pairs whose angles rope_forward holds at a time */

static void rope_forward(float *x, int n_head, int head_dim, int pos, const ed_rope_t *rope)
{
    float cos_sin[2 * ROPE_SLICE];
    for (int begin = 0; begin < rope->n_rot / 2; begin += ROPE_SLICE) {
        int end = begin + ROPE_SLICE < rope->n_rot / 2 ? begin + ROPE_SLICE : rope->n_rot / 2;
        rope_angles(rope, pos, begin, end, cos_sin);
        rope_rotate_pairs(x, n_head, head_dim, cos_sin, rope, begin, end);
    }
}

static void softmax_forward(float *x, int n, float scale, int n_valid)
{
    float max = scale * x[0];
    for (int i = 1; i < n_valid; i++)
        if (scale * x[i] > max)
            max = scale * x[i];
    double sum = 0;
    for (int i = 0; i < n_valid; i++) {
        x[i] = expf(scale * x[i] - max);
        sum += x[i];
    }
    float inv_sum = (float)(1.0 / sum);
    for (int i = 0; i < n_valid; i++)
        x[i] *= inv_sum;
    for (int i = n_valid; i < n; i++)
        x[i] = 0.0f;
}

static float silu(float x)
{
    return x / (1.0f + expf(-x));
}

static void silu_forward(float *out, const float *x, int n)
{
    for (int i = 0; i < n; i++)
        out[i] = silu(x[i]);
}

static void gelu_forward(float *out, const float *x, int n)
{
    const float sqrt_2_over_pi = 0.79788456080286535588f;
    for (int i = 0; i < n; i++) {
        float v = x[i];
        out[i] = 0.5f * v * (1.0f + tanhf(sqrt_2_over_pi * (v + 0.044715f * v * v * v)));
    }
}

static void gelu_erf_forward(float *out, const float *x, int n)
{
    for (int i = 0; i < n; i++)
        out[i] = (float)(0.5 * x[i] * (1.0 + erf(x[i] * 0.70710678118654752440)));
}

static void swiglu_forward(float *out, const float *gate, const float *up, int n)
{
    for (int i = 0; i < n; i++)
        out[i] = silu(gate[i]) * up[i];
}

static void add(float *out, const float *a, const float *b, int n)
{
    for (int i = 0; i < n; i++)
        out[i] = a[i] + b[i];
}

static void mul(float *out, const float *a, const float *b, int n)
{
    for (int i = 0; i < n; i++)
        out[i] = a[i] * b[i];
}

static void get_row(float *out, const void *table, int type, int64_t row, int n)
{
    uint64_t row_bytes = 0;
    if (ed_type_row_size(type, (uint64_t)n, &row_bytes) != 0)
        return; /* the model validated the table's type and shape at load */
    ed_quant_traits(type)->to_float((const uint8_t *)table + (uint64_t)row * row_bytes, out, n);
}

static void attention_forward(float *out, const float *q, const uint16_t *k, const uint16_t *v,
                              const ed_attention_t *shape, int head_begin, int head_end,
                              float *scratch)
{
    int head_dim = shape->head_dim, group = shape->n_head / shape->n_kv_head;
    for (int h = head_begin; h < head_end; h++) {
        const float *q_head = q + (size_t)h * head_dim;
        size_t kv_offset = (size_t)(h / group) * head_dim;
        for (int t = 0; t < shape->n_kv; t++) {
            const uint16_t *k_row = k + (size_t)t * shape->kv_row_stride + kv_offset;
            double dot = 0;
            for (int i = 0; i < head_dim; i++)
                dot += (double)q_head[i] * ed_fp16_to_fp32(k_row[i]);
            scratch[t] = (float)dot;
        }
        softmax_forward(scratch, shape->n_kv, ed_attention_softcap(scratch, shape->n_kv, shape->scale, shape->softcap),
                        shape->n_kv);
        float *out_head = out + (size_t)h * head_dim;
        for (int i = 0; i < head_dim; i++) {
            double sum = 0;
            for (int t = 0; t < shape->n_kv; t++)
                sum += (double)scratch[t] *
                       ed_fp16_to_fp32(v[(size_t)t * shape->kv_row_stride + kv_offset + i]);
            out_head[i] = (float)sum;
        }
    }
}

static int argmax(const float *x, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best])
            best = i;
    return best;
}

static void l2_normalize(float *x, int n)
{
    double norm = 0;
    for (int i = 0; i < n; i++)
        norm += (double)x[i] * x[i];
    if (!(norm > 0))
        return;
    float scale = (float)(1.0 / sqrt(norm));
    for (int i = 0; i < n; i++)
        x[i] *= scale;
}

void ed__kernels_fill_ref(ed_kernels_t *k)
{
    memset(k, 0, sizeof *k);
    ed_vec_dot_table_ref(k->vec_dot);
    k->rmsnorm_forward = rmsnorm_forward;
    k->layernorm_forward = layernorm_forward;
    k->rope_forward = rope_forward;
    k->rope_rotate = rope_rotate;
    k->softmax_forward = softmax_forward;
    k->silu_forward = silu_forward;
    k->gelu_forward = gelu_forward;
    k->gelu_erf_forward = gelu_erf_forward;
    k->swiglu_forward = swiglu_forward;
    k->add = add;
    k->mul = mul;
    k->get_row = get_row;
    k->attention_forward = attention_forward;
    k->argmax = argmax;
    k->l2_normalize = l2_normalize;
    ed__kernels_fill_ref_backward(k);
}
