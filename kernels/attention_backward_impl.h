/* attention_backward_impl.h - internal: the causal GQA attention backward of
 * kernels.h in f32 over two lane helpers that the including arch file
 * defines first: float dot_f32(const float *x, const float *y, int n) and
 * void axpy_f32(float *y, float a, const float *x, int n) (y += a x). The
 * algorithm is ref/backward.c's (softmax recomputed from q and k), with one
 * row of scores and one of dp per query. */
#ifndef ED_KERNELS_ATTENTION_BACKWARD_IMPL_H
#define ED_KERNELS_ATTENTION_BACKWARD_IMPL_H

#include <math.h>
#include <string.h>

static void attention_backward(float *dq, float *dk, float *dv, const float *q, const float *k, const float *v,
                               const float *dout, const ed_attention_train_t *s, int kv_begin, int kv_end,
                               float *scratch)
{
    int d = s->head_dim, group = s->n_head / s->n_kv_head;
    size_t q_stride = (size_t)s->n_head * d, kv_stride = (size_t)s->n_kv_head * d;
    float *p = scratch, *dp = scratch + s->n_tok;
    for (int kvh = kv_begin; kvh < kv_end; kvh++) {
        const float *k_head = k + (size_t)kvh * d, *v_head = v + (size_t)kvh * d;
        float *dk_head = dk + (size_t)kvh * d, *dv_head = dv + (size_t)kvh * d;
        for (int t = 0; t < s->n_tok; t++) {
            memset(dk_head + t * kv_stride, 0, sizeof(float) * (size_t)d);
            memset(dv_head + t * kv_stride, 0, sizeof(float) * (size_t)d);
        }
        for (int h = kvh * group; h < (kvh + 1) * group; h++)
            for (int t = 0; t < s->n_tok; t++) {
                const float *qt = q + t * q_stride + (size_t)h * d, *dot = dout + t * q_stride + (size_t)h * d;
                float max = -INFINITY;
                for (int j = 0; j <= t; j++) {
                    p[j] = dot_f32(qt, k_head + j * kv_stride, d) * s->scale;
                    dp[j] = dot_f32(dot, v_head + j * kv_stride, d);
                    max = p[j] > max ? p[j] : max;
                }
                double sum = 0;
                for (int j = 0; j <= t; j++) {
                    p[j] = expf(p[j] - max);
                    sum += p[j];
                }
                float inv = (float)(1.0 / sum);
                double pdp = 0;
                for (int j = 0; j <= t; j++) {
                    p[j] *= inv;
                    pdp += (double)p[j] * dp[j];
                }
                float *dqt = dq + t * q_stride + (size_t)h * d;
                memset(dqt, 0, sizeof(float) * (size_t)d);
                for (int j = 0; j <= t; j++) {
                    float ds = p[j] * (dp[j] - (float)pdp) * s->scale;
                    axpy_f32(dqt, ds, k_head + j * kv_stride, d);
                    axpy_f32(dk_head + j * kv_stride, ds, qt, d);
                    axpy_f32(dv_head + j * kv_stride, p[j], dot, d);
                }
            }
    }
}

#endif
