/* arm/backward.c - NEON versions of the training ops of kernels.h: the f32
 * products (register-tiled 4 rows x 8 columns), RMSNorm and SwiGLU backward,
 * the cross-entropy row and AdamW, the same algorithms as x86/backward.c.
 * Attention backward is attention_backward_impl.h over this file's dot and
 * axpy; RoPE backward stays the reference's. */
#include "kernels/dispatch.h"
#include "kernels/arm/vmath.h"

#include <arm_neon.h>
#include <math.h>
#include <string.h>

/* c (m, n) += A . b (k, n), A's element (i, p) at a[i * ai + p * ap]. */
static void gemm_rows(int m, int n, int k, const float *a, size_t ai, size_t ap, const float *b, size_t ldb,
                      float *c, size_t ldc)
{
    for (int i = 0; i < m; i += 4) {
        int rows = m - i < 4 ? m - i : 4;
        const float *a_rows = a + (size_t)i * ai;
        float *c_rows = c + (size_t)i * ldc;
        int j = 0;
        for (; j + 8 <= n; j += 8) {
            float32x4_t acc[4][2];
            for (int r = 0; r < 4; r++)
                acc[r][0] = acc[r][1] = vdupq_n_f32(0.0f);
            if (rows == 4) { /* named accumulators: an array of them ends up on the stack */
                float32x4_t c00 = acc[0][0], c01 = acc[0][1], c10 = acc[1][0], c11 = acc[1][1];
                float32x4_t c20 = acc[2][0], c21 = acc[2][1], c30 = acc[3][0], c31 = acc[3][1];
                const float *a0 = a_rows, *a1 = a_rows + ai, *a2 = a_rows + 2 * ai, *a3 = a_rows + 3 * ai;
                for (int p = 0; p < k; p++) {
                    const float *bp = b + (size_t)p * ldb + j;
                    size_t o = (size_t)p * ap;
                    float32x4_t b0 = vld1q_f32(bp), b1 = vld1q_f32(bp + 4);
                    c00 = vfmaq_n_f32(c00, b0, a0[o]), c01 = vfmaq_n_f32(c01, b1, a0[o]);
                    c10 = vfmaq_n_f32(c10, b0, a1[o]), c11 = vfmaq_n_f32(c11, b1, a1[o]);
                    c20 = vfmaq_n_f32(c20, b0, a2[o]), c21 = vfmaq_n_f32(c21, b1, a2[o]);
                    c30 = vfmaq_n_f32(c30, b0, a3[o]), c31 = vfmaq_n_f32(c31, b1, a3[o]);
                }
                acc[0][0] = c00, acc[0][1] = c01, acc[1][0] = c10, acc[1][1] = c11;
                acc[2][0] = c20, acc[2][1] = c21, acc[3][0] = c30, acc[3][1] = c31;
            } else {
                for (int p = 0; p < k; p++) {
                    const float *bp = b + (size_t)p * ldb + j;
                    float32x4_t b0 = vld1q_f32(bp), b1 = vld1q_f32(bp + 4);
                    for (int r = 0; r < rows; r++) {
                        float av = a_rows[(size_t)r * ai + (size_t)p * ap];
                        acc[r][0] = vfmaq_n_f32(acc[r][0], b0, av);
                        acc[r][1] = vfmaq_n_f32(acc[r][1], b1, av);
                    }
                }
            }
            for (int r = 0; r < rows; r++) {
                float *cr = c_rows + (size_t)r * ldc + j;
                vst1q_f32(cr, vaddq_f32(vld1q_f32(cr), acc[r][0]));
                vst1q_f32(cr + 4, vaddq_f32(vld1q_f32(cr + 4), acc[r][1]));
            }
        }
        for (; j + 4 <= n; j += 4) {
            float32x4_t acc[4];
            for (int r = 0; r < 4; r++)
                acc[r] = vdupq_n_f32(0.0f);
            for (int p = 0; p < k; p++) {
                float32x4_t b0 = vld1q_f32(b + (size_t)p * ldb + j);
                for (int r = 0; r < rows; r++)
                    acc[r] = vfmaq_n_f32(acc[r], b0, a_rows[(size_t)r * ai + (size_t)p * ap]);
            }
            for (int r = 0; r < rows; r++) {
                float *cr = c_rows + (size_t)r * ldc + j;
                vst1q_f32(cr, vaddq_f32(vld1q_f32(cr), acc[r]));
            }
        }
        for (; j < n; j++)
            for (int r = 0; r < rows; r++) {
                float sum = 0;
                for (int p = 0; p < k; p++)
                    sum += a_rows[(size_t)r * ai + (size_t)p * ap] * b[(size_t)p * ldb + j];
                c_rows[(size_t)r * ldc + j] += sum;
            }
    }
}

static void gemm_f32_nn(int m, int n, int k, const float *a, size_t lda, const float *b, size_t ldb, float *c,
                        size_t ldc)
{
    gemm_rows(m, n, k, a, lda, 1, b, ldb, c, ldc);
}

static void gemm_f32_tn(int m, int n, int k, const float *a, size_t lda, const float *b, size_t ldb, float *c,
                        size_t ldc)
{
    gemm_rows(m, n, k, a, 1, lda, b, ldb, c, ldc);
}

static inline float dot_f32(const float *x, const float *y, int k)
{
    float32x4_t acc0 = vdupq_n_f32(0.0f), acc1 = vdupq_n_f32(0.0f);
    int p = 0;
    for (; p + 8 <= k; p += 8) {
        acc0 = vfmaq_f32(acc0, vld1q_f32(x + p), vld1q_f32(y + p));
        acc1 = vfmaq_f32(acc1, vld1q_f32(x + p + 4), vld1q_f32(y + p + 4));
    }
    for (; p + 4 <= k; p += 4)
        acc0 = vfmaq_f32(acc0, vld1q_f32(x + p), vld1q_f32(y + p));
    float sum = vaddvq_f32(vaddq_f32(acc0, acc1));
    for (; p < k; p++)
        sum += x[p] * y[p];
    return sum;
}

static inline void axpy_f32(float *y, float a, const float *x, int n)
{
    int i = 0;
    for (; i + 4 <= n; i += 4)
        vst1q_f32(y + i, vfmaq_n_f32(vld1q_f32(y + i), vld1q_f32(x + i), a));
    for (; i < n; i++)
        y[i] += a * x[i];
}

#include "kernels/attention_backward_impl.h"

static void gemm_f32_nt(int m, int n, int k, const float *a, size_t lda, const float *b, size_t ldb, float *c,
                        size_t ldc)
{
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++)
            c[(size_t)i * ldc + j] += dot_f32(a + (size_t)i * lda, b + (size_t)j * ldb, k);
}

static void rmsnorm_backward(float *dx, float *dweight, const float *dy, const float *x, const float *weight,
                             int n, float eps)
{
    float32x4_t sq = vdupq_n_f32(0.0f), gx = vdupq_n_f32(0.0f);
    int i = 0;
    for (; i + 4 <= n; i += 4) {
        float32x4_t xv = vld1q_f32(x + i);
        sq = vfmaq_f32(sq, xv, xv);
        gx = vfmaq_f32(gx, vmulq_f32(vld1q_f32(dy + i), vld1q_f32(weight + i)), xv);
    }
    float sum_sq = vaddvq_f32(sq), sum_gx = vaddvq_f32(gx);
    for (; i < n; i++) {
        sum_sq += x[i] * x[i];
        sum_gx += dy[i] * weight[i] * x[i];
    }
    float r = 1.0f / sqrtf(sum_sq / (float)n + eps);
    float cf = r * r * r * sum_gx / (float)n;
    for (i = 0; i + 4 <= n; i += 4) {
        float32x4_t xv = vld1q_f32(x + i), dyv = vld1q_f32(dy + i);
        vst1q_f32(dweight + i, vfmaq_n_f32(vld1q_f32(dweight + i), vmulq_f32(dyv, xv), r));
        float32x4_t g = vmulq_f32(dyv, vld1q_f32(weight + i));
        vst1q_f32(dx + i, vfmsq_n_f32(vmulq_n_f32(g, r), xv, cf));
    }
    for (; i < n; i++) {
        float xi = x[i], dyi = dy[i];
        dweight[i] += dyi * xi * r;
        dx[i] = r * dyi * weight[i] - cf * xi;
    }
}

static void swiglu_backward(float *dgate, float *dup, const float *dy, const float *gate, const float *up, int n)
{
    float32x4_t one = vdupq_n_f32(1.0f);
    int i = 0;
    for (; i + 4 <= n; i += 4) {
        float32x4_t g = vld1q_f32(gate + i), u = vld1q_f32(up + i), d = vld1q_f32(dy + i);
        float32x4_t sig = sigmoid_ps(g);
        float32x4_t dg = vmulq_f32(vmulq_f32(d, u), vmulq_f32(sig, vfmaq_f32(one, g, vsubq_f32(one, sig))));
        float32x4_t du = vmulq_f32(d, vmulq_f32(g, sig));
        vst1q_f32(dgate + i, dg);
        vst1q_f32(dup + i, du);
    }
    for (; i < n; i++) {
        float g = gate[i], u = up[i], d = dy[i];
        float sig = 1.0f / (1.0f + expf(-g));
        dgate[i] = d * u * sig * (1.0f + g * (1.0f - sig));
        dup[i] = d * g * sig;
    }
}

static float cross_entropy_backward(float *dlogits, const float *logits, int n, int target, float scale)
{
    if (target < 0 || target >= n) {
        memset(dlogits, 0, sizeof(float) * (size_t)n);
        return 0.0f;
    }
    float max = logits[0];
    int i = 0;
    if (n >= 4) {
        float32x4_t mv = vld1q_f32(logits);
        for (i = 4; i + 4 <= n; i += 4)
            mv = vmaxq_f32(mv, vld1q_f32(logits + i));
        max = vmaxvq_f32(mv);
    }
    for (; i < n; i++)
        max = logits[i] > max ? logits[i] : max;
    float32x4_t maxv = vdupq_n_f32(max), sumv = vdupq_n_f32(0.0f);
    for (i = 0; i + 4 <= n; i += 4)
        sumv = vaddq_f32(sumv, exp_ps(vsubq_f32(vld1q_f32(logits + i), maxv)));
    double sum = vaddvq_f32(sumv);
    for (; i < n; i++)
        sum += expf(logits[i] - max);
    float lse = max + (float)log(sum);
    float loss = lse - logits[target];
    float32x4_t lsev = vdupq_n_f32(lse);
    for (i = 0; i + 4 <= n; i += 4)
        vst1q_f32(dlogits + i, vmulq_n_f32(exp_ps(vsubq_f32(vld1q_f32(logits + i), lsev)), scale));
    for (; i < n; i++)
        dlogits[i] = scale * expf(logits[i] - lse);
    dlogits[target] -= scale;
    return loss;
}

static void adamw_step(float *param, float *m, float *v, const float *grad, int n, const ed_adamw_t *h)
{
    float inv_bc1 = (float)(1.0 / (1.0 - pow(h->beta1, (double)h->step)));
    float inv_bc2 = (float)(1.0 / (1.0 - pow(h->beta2, (double)h->step)));
    float c1 = 1.0f - h->beta1, c2 = 1.0f - h->beta2;
    int i = 0;
    for (; i + 4 <= n; i += 4) {
        float32x4_t g = vld1q_f32(grad + i), p = vld1q_f32(param + i);
        float32x4_t mi = vfmaq_n_f32(vmulq_n_f32(g, c1), vld1q_f32(m + i), h->beta1);
        float32x4_t vi = vfmaq_n_f32(vmulq_n_f32(vmulq_f32(g, g), c2), vld1q_f32(v + i), h->beta2);
        vst1q_f32(m + i, mi);
        vst1q_f32(v + i, vi);
        float32x4_t denom = vaddq_f32(vsqrtq_f32(vmulq_n_f32(vi, inv_bc2)), vdupq_n_f32(h->eps));
        float32x4_t update = vfmaq_n_f32(vdivq_f32(vmulq_n_f32(mi, inv_bc1), denom), p, h->weight_decay);
        vst1q_f32(param + i, vfmsq_n_f32(p, update, h->lr));
    }
    for (; i < n; i++) {
        float g = grad[i];
        float mi = h->beta1 * m[i] + c1 * g;
        float vi = h->beta2 * v[i] + c2 * g * g;
        m[i] = mi;
        v[i] = vi;
        float update = mi * inv_bc1 / (sqrtf(vi * inv_bc2) + h->eps) + h->weight_decay * param[i];
        param[i] -= h->lr * update;
    }
}

void ed__kernels_fill_neon_backward(ed_kernels_t *k)
{
    k->gemm_f32_nn = gemm_f32_nn;
    k->gemm_f32_tn = gemm_f32_tn;
    k->gemm_f32_nt = gemm_f32_nt;
    k->rmsnorm_backward = rmsnorm_backward;
    k->swiglu_backward = swiglu_backward;
    k->cross_entropy_backward = cross_entropy_backward;
    k->adamw_step = adamw_step;
    k->attention_backward = attention_backward;
}
