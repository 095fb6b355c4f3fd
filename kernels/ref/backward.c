/* ref/backward.c - the scalar reference of the training ops of kernels.h
 * (f32 products, the *_backward gradients, cross-entropy and AdamW): the
 * specification the arch versions are tested against and that
 * tests/reference/test_backward.py checks against PyTorch autograd. Written
 * for clarity, reductions in double. */
#include "kernels/dispatch.h"

#include <math.h>
#include <string.h>

static void gemm_f32_nn(int m, int n, int k, const float *a, size_t lda, const float *b, size_t ldb, float *c,
                        size_t ldc)
{
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double sum = 0;
            for (int p = 0; p < k; p++)
                sum += (double)a[(size_t)i * lda + p] * b[(size_t)p * ldb + j];
            c[(size_t)i * ldc + j] += (float)sum;
        }
}

static void gemm_f32_tn(int m, int n, int k, const float *a, size_t lda, const float *b, size_t ldb, float *c,
                        size_t ldc)
{
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double sum = 0;
            for (int p = 0; p < k; p++)
                sum += (double)a[(size_t)p * lda + i] * b[(size_t)p * ldb + j];
            c[(size_t)i * ldc + j] += (float)sum;
        }
}

static void gemm_f32_nt(int m, int n, int k, const float *a, size_t lda, const float *b, size_t ldb, float *c,
                        size_t ldc)
{
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double sum = 0;
            for (int p = 0; p < k; p++)
                sum += (double)a[(size_t)i * lda + p] * b[(size_t)j * ldb + p];
            c[(size_t)i * ldc + j] += (float)sum;
        }
}

/* y_i = x_i r w_i with r = 1/sqrt(mean(x^2) + eps):
 *   dw_i += dy_i x_i r;  dx_i = r g_i - r^3 x_i (sum_j g_j x_j) / n,  g = dy * w */
static void rmsnorm_backward(float *dx, float *dweight, const float *dy, const float *x, const float *weight,
                             int n, float eps)
{
    double sum_sq = 0, sum_gx = 0;
    for (int i = 0; i < n; i++) {
        sum_sq += (double)x[i] * x[i];
        sum_gx += (double)dy[i] * weight[i] * x[i];
    }
    double r = 1.0 / sqrt(sum_sq / n + eps);
    double c = r * r * r * sum_gx / n;
    for (int i = 0; i < n; i++) {
        float g = dy[i] * weight[i], xi = x[i];
        dweight[i] += (float)((double)dy[i] * xi * r);
        dx[i] = (float)(r * g - c * xi);
    }
}

/* The forward's angle of pair i (ref/ops.c rope_angles), turned backwards. */
static void rope_backward(float *dx, int n_head, int head_dim, int pos, const ed_rope_t *rope)
{
    int half = rope->n_rot / 2;
    for (int i = 0; i < half; i++) {
        double theta = (double)rope->freq_scale * pos * pow(rope->freq_base, -2.0 * i / rope->n_rot);
        if (rope->freq_factors)
            theta /= rope->freq_factors[i];
        float cos_t = (float)cos(theta), sin_t = (float)sin(theta);
        for (int h = 0; h < n_head; h++) {
            float *head = dx + (size_t)h * head_dim;
            int a = rope->neox ? i : 2 * i;
            int b = rope->neox ? i + half : 2 * i + 1;
            float d0 = head[a], d1 = head[b];
            head[a] = d0 * cos_t + d1 * sin_t;
            head[b] = -d0 * sin_t + d1 * cos_t;
        }
    }
}

static void rope_rotate_backward(float *dx, int n_head, int head_dim, const float *cos_sin, const ed_rope_t *rope)
{
    int half = rope->n_rot / 2;
    for (int i = 0; i < half; i++) {
        float cos_t = cos_sin[2 * i], sin_t = cos_sin[2 * i + 1];
        for (int h = 0; h < n_head; h++) {
            float *head = dx + (size_t)h * head_dim;
            int a = rope->neox ? i : 2 * i;
            int b = rope->neox ? i + half : 2 * i + 1;
            float d0 = head[a], d1 = head[b];
            head[a] = d0 * cos_t + d1 * sin_t;
            head[b] = -d0 * sin_t + d1 * cos_t;
        }
    }
}

/* out = silu(g) u: dup = dy silu(g); dgate = dy u sig(g) (1 + g (1 - sig(g))) */
static void swiglu_backward(float *dgate, float *dup, const float *dy, const float *gate, const float *up, int n)
{
    for (int i = 0; i < n; i++) {
        double g = gate[i], u = up[i], d = dy[i];
        double sig = 1.0 / (1.0 + exp(-g));
        dgate[i] = (float)(d * u * sig * (1.0 + g * (1.0 - sig)));
        dup[i] = (float)(d * g * sig);
    }
}

/* Per query head h and token t, with p = softmax(scale q_t . k_j, j <= t):
 *   dp_j = dout_t . v_j;  ds_j = p_j (dp_j - sum_l p_l dp_l)
 *   dq_t = scale sum_j ds_j k_j;  dk_j += scale ds_j q_t;  dv_j += p_j dout_t */
static void attention_backward(float *dq, float *dk, float *dv, const float *q, const float *k, const float *v,
                               const float *dout, const ed_attention_train_t *s, int kv_begin, int kv_end,
                               float *scratch)
{
    int d = s->head_dim, group = s->n_head / s->n_kv_head;
    size_t q_stride = (size_t)s->n_head * d, kv_stride = (size_t)s->n_kv_head * d;
    float *p = scratch, *dp = scratch + s->n_tok;
    for (int kvh = kv_begin; kvh < kv_end; kvh++) {
        for (int t = 0; t < s->n_tok; t++) {
            memset(dk + t * kv_stride + (size_t)kvh * d, 0, sizeof(float) * (size_t)d);
            memset(dv + t * kv_stride + (size_t)kvh * d, 0, sizeof(float) * (size_t)d);
        }
        for (int h = kvh * group; h < (kvh + 1) * group; h++)
            for (int t = 0; t < s->n_tok; t++) {
                const float *qt = q + t * q_stride + (size_t)h * d, *dot = dout + t * q_stride + (size_t)h * d;
                double max = -INFINITY;
                for (int j = 0; j <= t; j++) {
                    const float *kj = k + j * kv_stride + (size_t)kvh * d, *vj = v + j * kv_stride + (size_t)kvh * d;
                    double sc = 0, dd = 0;
                    for (int i = 0; i < d; i++) {
                        sc += (double)qt[i] * kj[i];
                        dd += (double)dot[i] * vj[i];
                    }
                    p[j] = (float)(sc * s->scale);
                    dp[j] = (float)dd;
                    if (p[j] > max)
                        max = p[j];
                }
                double sum = 0;
                for (int j = 0; j <= t; j++)
                    sum += exp(p[j] - max);
                double pdp = 0;
                for (int j = 0; j <= t; j++) {
                    p[j] = (float)(exp(p[j] - max) / sum);
                    pdp += (double)p[j] * dp[j];
                }
                float *dqt = dq + t * q_stride + (size_t)h * d;
                for (int i = 0; i < d; i++) {
                    double acc = 0;
                    for (int j = 0; j <= t; j++)
                        acc += ((double)p[j] * (dp[j] - pdp)) * k[j * kv_stride + (size_t)kvh * d + i];
                    dqt[i] = (float)(acc * s->scale);
                }
                for (int j = 0; j <= t; j++) {
                    float ds = (float)(p[j] * (dp[j] - pdp) * s->scale);
                    float *dkj = dk + j * kv_stride + (size_t)kvh * d, *dvj = dv + j * kv_stride + (size_t)kvh * d;
                    for (int i = 0; i < d; i++) {
                        dkj[i] += ds * qt[i];
                        dvj[i] += p[j] * dot[i];
                    }
                }
            }
    }
}

static float cross_entropy_backward(float *dlogits, const float *logits, int n, int target, float scale)
{
    if (target < 0 || target >= n) {
        memset(dlogits, 0, sizeof(float) * (size_t)n);
        return 0.0f;
    }
    float max = logits[0];
    for (int i = 1; i < n; i++)
        if (logits[i] > max)
            max = logits[i];
    double sum = 0;
    for (int i = 0; i < n; i++)
        sum += exp((double)logits[i] - max);
    double lse = max + log(sum);
    float loss = (float)(lse - logits[target]);
    for (int i = 0; i < n; i++)
        dlogits[i] = (float)(scale * exp((double)logits[i] - lse));
    dlogits[target] -= scale;
    return loss;
}

static void adamw_step(float *param, float *m, float *v, const float *grad, int n, const ed_adamw_t *h)
{
    double bc1 = 1.0 - pow(h->beta1, (double)h->step), bc2 = 1.0 - pow(h->beta2, (double)h->step);
    for (int i = 0; i < n; i++) {
        double g = grad[i];
        double mi = h->beta1 * (double)m[i] + (1.0 - h->beta1) * g;
        double vi = h->beta2 * (double)v[i] + (1.0 - h->beta2) * g * g;
        m[i] = (float)mi;
        v[i] = (float)vi;
        double update = (mi / bc1) / (sqrt(vi / bc2) + h->eps);
        param[i] = (float)(param[i] - (double)h->lr * (update + (double)h->weight_decay * param[i]));
    }
}

void ed__kernels_fill_ref_backward(ed_kernels_t *k)
{
    k->gemm_f32_nn = gemm_f32_nn;
    k->gemm_f32_tn = gemm_f32_tn;
    k->gemm_f32_nt = gemm_f32_nt;
    k->rmsnorm_backward = rmsnorm_backward;
    k->rope_backward = rope_backward;
    k->rope_rotate_backward = rope_rotate_backward;
    k->swiglu_backward = swiglu_backward;
    k->attention_backward = attention_backward;
    k->cross_entropy_backward = cross_entropy_backward;
    k->adamw_step = adamw_step;
}
