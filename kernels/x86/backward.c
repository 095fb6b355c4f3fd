/* x86/backward.c - AVX2+FMA versions of the training ops of kernels.h: the
 * f32 products (register-tiled: 6 rows x 16 columns, nt 2 x 4 dot products), RMSNorm and SwiGLU
 * backward, the cross-entropy row and AdamW. Attention backward is
 * attention_backward_impl.h over this file's dot and axpy; RoPE backward
 * stays the reference's (its cost is the angles). */
#include "kernels/dispatch.h"
#include "kernels/x86/vmath.h"

#include <immintrin.h>
#include <math.h>
#include <string.h>

/* c (m, n) += A . b (k, n) where A's element (i, p) is a[i * ai + p * ap]:
 * nn passes (lda, 1), tn passes (1, lda). GEMM_MR rows of c at a time, 16
 * then 8 columns in registers (12 of the 16 ymm registers accumulate), the
 * column tail scalar. */
#define GEMM_MR 6
static void gemm_rows(int m, int n, int k, const float *a, size_t ai, size_t ap, const float *b, size_t ldb,
                      float *c, size_t ldc)
{
    for (int i = 0; i < m; i += GEMM_MR) {
        int rows = m - i < GEMM_MR ? m - i : GEMM_MR;
        const float *a_rows = a + (size_t)i * ai;
        float *c_rows = c + (size_t)i * ldc;
        int j = 0;
        for (; j + 16 <= n; j += 16) {
            __m256 acc[GEMM_MR][2];
            for (int r = 0; r < GEMM_MR; r++)
                acc[r][0] = acc[r][1] = _mm256_setzero_ps();
            if (rows == GEMM_MR) { /* named accumulators: an array of them ends up on the stack */
                __m256 c00 = acc[0][0], c01 = acc[0][1], c10 = acc[1][0], c11 = acc[1][1];
                __m256 c20 = acc[2][0], c21 = acc[2][1], c30 = acc[3][0], c31 = acc[3][1];
                __m256 c40 = acc[4][0], c41 = acc[4][1], c50 = acc[5][0], c51 = acc[5][1];
                const float *a0 = a_rows, *a1 = a_rows + ai, *a2 = a_rows + 2 * ai, *a3 = a_rows + 3 * ai;
                const float *a4 = a_rows + 4 * ai, *a5 = a_rows + 5 * ai;
                for (int p = 0; p < k; p++) {
                    const float *bp = b + (size_t)p * ldb + j;
                    size_t o = (size_t)p * ap;
                    __m256 b0 = _mm256_loadu_ps(bp), b1 = _mm256_loadu_ps(bp + 8);
                    __m256 av = _mm256_broadcast_ss(a0 + o);
                    c00 = _mm256_fmadd_ps(av, b0, c00), c01 = _mm256_fmadd_ps(av, b1, c01);
                    av = _mm256_broadcast_ss(a1 + o);
                    c10 = _mm256_fmadd_ps(av, b0, c10), c11 = _mm256_fmadd_ps(av, b1, c11);
                    av = _mm256_broadcast_ss(a2 + o);
                    c20 = _mm256_fmadd_ps(av, b0, c20), c21 = _mm256_fmadd_ps(av, b1, c21);
                    av = _mm256_broadcast_ss(a3 + o);
                    c30 = _mm256_fmadd_ps(av, b0, c30), c31 = _mm256_fmadd_ps(av, b1, c31);
                    av = _mm256_broadcast_ss(a4 + o);
                    c40 = _mm256_fmadd_ps(av, b0, c40), c41 = _mm256_fmadd_ps(av, b1, c41);
                    av = _mm256_broadcast_ss(a5 + o);
                    c50 = _mm256_fmadd_ps(av, b0, c50), c51 = _mm256_fmadd_ps(av, b1, c51);
                }
                acc[0][0] = c00, acc[0][1] = c01, acc[1][0] = c10, acc[1][1] = c11;
                acc[2][0] = c20, acc[2][1] = c21, acc[3][0] = c30, acc[3][1] = c31;
                acc[4][0] = c40, acc[4][1] = c41, acc[5][0] = c50, acc[5][1] = c51;
            } else {
                for (int p = 0; p < k; p++) {
                    const float *bp = b + (size_t)p * ldb + j;
                    __m256 b0 = _mm256_loadu_ps(bp), b1 = _mm256_loadu_ps(bp + 8);
                    for (int r = 0; r < rows; r++) {
                        __m256 av = _mm256_broadcast_ss(a_rows + (size_t)r * ai + (size_t)p * ap);
                        acc[r][0] = _mm256_fmadd_ps(av, b0, acc[r][0]);
                        acc[r][1] = _mm256_fmadd_ps(av, b1, acc[r][1]);
                    }
                }
            }
            for (int r = 0; r < rows; r++) {
                float *cr = c_rows + (size_t)r * ldc + j;
                _mm256_storeu_ps(cr, _mm256_add_ps(_mm256_loadu_ps(cr), acc[r][0]));
                _mm256_storeu_ps(cr + 8, _mm256_add_ps(_mm256_loadu_ps(cr + 8), acc[r][1]));
            }
        }
        for (; j + 8 <= n; j += 8) {
            __m256 acc[GEMM_MR];
            for (int r = 0; r < GEMM_MR; r++)
                acc[r] = _mm256_setzero_ps();
            for (int p = 0; p < k; p++) {
                __m256 b0 = _mm256_loadu_ps(b + (size_t)p * ldb + j);
                for (int r = 0; r < rows; r++)
                    acc[r] = _mm256_fmadd_ps(_mm256_broadcast_ss(a_rows + (size_t)r * ai + (size_t)p * ap), b0,
                                             acc[r]);
            }
            for (int r = 0; r < rows; r++) {
                float *cr = c_rows + (size_t)r * ldc + j;
                _mm256_storeu_ps(cr, _mm256_add_ps(_mm256_loadu_ps(cr), acc[r]));
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
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int p = 0;
    for (; p + 16 <= k; p += 16) {
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + p), _mm256_loadu_ps(y + p), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + p + 8), _mm256_loadu_ps(y + p + 8), acc1);
    }
    for (; p + 8 <= k; p += 8)
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + p), _mm256_loadu_ps(y + p), acc0);
    float sum = hsum_ps(_mm256_add_ps(acc0, acc1));
    for (; p < k; p++)
        sum += x[p] * y[p];
    return sum;
}

static inline void axpy_f32(float *y, float a, const float *x, int n)
{
    __m256 av = _mm256_set1_ps(a);
    int i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(av, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++)
        y[i] += a * x[i];
}

#include "kernels/attention_backward_impl.h"

/* c (2, 4) += a (2, k) . b (4, k)^T: eight dot products side by side, 8
 * lanes each (8 accumulators cover the FMA latency), the k tail scalar. */
static void dots_2x4(int k, const float *a, size_t lda, const float *b, size_t ldb, float *c, size_t ldc)
{
    const float *a0 = a, *a1 = a + lda;
    const float *b0 = b, *b1 = b + ldb, *b2 = b + 2 * ldb, *b3 = b + 3 * ldb;
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c02 = c00, c03 = c00, c10 = c00, c11 = c00, c12 = c00, c13 = c00;
    int p = 0;
    for (; p + 8 <= k; p += 8) {
        __m256 x0 = _mm256_loadu_ps(a0 + p), x1 = _mm256_loadu_ps(a1 + p), y;
        y = _mm256_loadu_ps(b0 + p), c00 = _mm256_fmadd_ps(x0, y, c00), c10 = _mm256_fmadd_ps(x1, y, c10);
        y = _mm256_loadu_ps(b1 + p), c01 = _mm256_fmadd_ps(x0, y, c01), c11 = _mm256_fmadd_ps(x1, y, c11);
        y = _mm256_loadu_ps(b2 + p), c02 = _mm256_fmadd_ps(x0, y, c02), c12 = _mm256_fmadd_ps(x1, y, c12);
        y = _mm256_loadu_ps(b3 + p), c03 = _mm256_fmadd_ps(x0, y, c03), c13 = _mm256_fmadd_ps(x1, y, c13);
    }
    float s[2][4] = {{hsum_ps(c00), hsum_ps(c01), hsum_ps(c02), hsum_ps(c03)},
                     {hsum_ps(c10), hsum_ps(c11), hsum_ps(c12), hsum_ps(c13)}};
    for (; p < k; p++) {
        s[0][0] += a0[p] * b0[p], s[0][1] += a0[p] * b1[p], s[0][2] += a0[p] * b2[p], s[0][3] += a0[p] * b3[p];
        s[1][0] += a1[p] * b0[p], s[1][1] += a1[p] * b1[p], s[1][2] += a1[p] * b2[p], s[1][3] += a1[p] * b3[p];
    }
    for (int r = 0; r < 2; r++)
        for (int j = 0; j < 4; j++)
            c[(size_t)r * ldc + j] += s[r][j];
}

/* c (m, n) += a (m, k) . b (n, k)^T: 2 x 4 tiles of dot products, the edges
 * one dot product per output */
static void gemm_f32_nt(int m, int n, int k, const float *a, size_t lda, const float *b, size_t ldb, float *c,
                        size_t ldc)
{
    int m2 = m & ~1, n4 = n & ~3;
    for (int i = 0; i < m2; i += 2)
        for (int j = 0; j < n4; j += 4)
            dots_2x4(k, a + (size_t)i * lda, lda, b + (size_t)j * ldb, ldb, c + (size_t)i * ldc + j, ldc);
    for (int i = 0; i < m; i++)
        for (int j = i < m2 ? n4 : 0; j < n; j++)
            c[(size_t)i * ldc + j] += dot_f32(a + (size_t)i * lda, b + (size_t)j * ldb, k);
}

static void rmsnorm_backward(float *dx, float *dweight, const float *dy, const float *x, const float *weight,
                             int n, float eps)
{
    __m256 sq = _mm256_setzero_ps(), gx = _mm256_setzero_ps();
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 xv = _mm256_loadu_ps(x + i);
        sq = _mm256_fmadd_ps(xv, xv, sq);
        gx = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_loadu_ps(dy + i), _mm256_loadu_ps(weight + i)), xv, gx);
    }
    float sum_sq = hsum_ps(sq), sum_gx = hsum_ps(gx);
    for (; i < n; i++) {
        sum_sq += x[i] * x[i];
        sum_gx += dy[i] * weight[i] * x[i];
    }
    float r = 1.0f / sqrtf(sum_sq / (float)n + eps);
    float cf = r * r * r * sum_gx / (float)n;
    __m256 rv = _mm256_set1_ps(r), cv = _mm256_set1_ps(cf);
    for (i = 0; i + 8 <= n; i += 8) {
        __m256 xv = _mm256_loadu_ps(x + i), dyv = _mm256_loadu_ps(dy + i);
        _mm256_storeu_ps(dweight + i, _mm256_fmadd_ps(_mm256_mul_ps(dyv, xv), rv, _mm256_loadu_ps(dweight + i)));
        __m256 g = _mm256_mul_ps(dyv, _mm256_loadu_ps(weight + i));
        _mm256_storeu_ps(dx + i, _mm256_fnmadd_ps(cv, xv, _mm256_mul_ps(rv, g)));
    }
    for (; i < n; i++) {
        float xi = x[i], dyi = dy[i];
        dweight[i] += dyi * xi * r;
        dx[i] = r * dyi * weight[i] - cf * xi;
    }
}

static void swiglu_backward(float *dgate, float *dup, const float *dy, const float *gate, const float *up, int n)
{
    __m256 one = _mm256_set1_ps(1.0f);
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 g = _mm256_loadu_ps(gate + i), u = _mm256_loadu_ps(up + i), d = _mm256_loadu_ps(dy + i);
        __m256 sig = sigmoid_ps(g);
        __m256 dg = _mm256_mul_ps(_mm256_mul_ps(d, u),
                                  _mm256_mul_ps(sig, _mm256_fmadd_ps(g, _mm256_sub_ps(one, sig), one)));
        __m256 du = _mm256_mul_ps(d, _mm256_mul_ps(g, sig));
        _mm256_storeu_ps(dgate + i, dg);
        _mm256_storeu_ps(dup + i, du);
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
    if (n >= 8) {
        __m256 mv = _mm256_loadu_ps(logits);
        for (i = 8; i + 8 <= n; i += 8)
            mv = _mm256_max_ps(mv, _mm256_loadu_ps(logits + i));
        max = hmax_ps(mv);
    }
    for (; i < n; i++)
        max = logits[i] > max ? logits[i] : max;
    __m256 maxv = _mm256_set1_ps(max), sumv = _mm256_setzero_ps();
    for (i = 0; i + 8 <= n; i += 8)
        sumv = _mm256_add_ps(sumv, exp_ps(_mm256_sub_ps(_mm256_loadu_ps(logits + i), maxv)));
    double sum = hsum_ps(sumv);
    for (; i < n; i++)
        sum += expf(logits[i] - max);
    float lse = max + (float)log(sum);
    float loss = lse - logits[target];
    __m256 lsev = _mm256_set1_ps(lse), sv = _mm256_set1_ps(scale);
    for (i = 0; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dlogits + i, _mm256_mul_ps(sv, exp_ps(_mm256_sub_ps(_mm256_loadu_ps(logits + i), lsev))));
    for (; i < n; i++)
        dlogits[i] = scale * expf(logits[i] - lse);
    dlogits[target] -= scale;
    return loss;
}

static void adamw_step(float *param, float *m, float *v, const float *grad, int n, const ed_adamw_t *h)
{
    float inv_bc1 = (float)(1.0 / (1.0 - pow(h->beta1, (double)h->step)));
    float inv_bc2 = (float)(1.0 / (1.0 - pow(h->beta2, (double)h->step)));
    __m256 b1 = _mm256_set1_ps(h->beta1), b2 = _mm256_set1_ps(h->beta2);
    __m256 c1 = _mm256_set1_ps(1.0f - h->beta1), c2 = _mm256_set1_ps(1.0f - h->beta2);
    __m256 ibc1 = _mm256_set1_ps(inv_bc1), ibc2 = _mm256_set1_ps(inv_bc2), eps = _mm256_set1_ps(h->eps);
    __m256 lr = _mm256_set1_ps(h->lr), wd = _mm256_set1_ps(h->weight_decay);
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 g = _mm256_loadu_ps(grad + i), p = _mm256_loadu_ps(param + i);
        __m256 mi = _mm256_fmadd_ps(b1, _mm256_loadu_ps(m + i), _mm256_mul_ps(c1, g));
        __m256 vi = _mm256_fmadd_ps(b2, _mm256_loadu_ps(v + i), _mm256_mul_ps(c2, _mm256_mul_ps(g, g)));
        _mm256_storeu_ps(m + i, mi);
        _mm256_storeu_ps(v + i, vi);
        __m256 denom = _mm256_add_ps(_mm256_sqrt_ps(_mm256_mul_ps(vi, ibc2)), eps);
        __m256 update = _mm256_fmadd_ps(wd, p, _mm256_div_ps(_mm256_mul_ps(mi, ibc1), denom));
        _mm256_storeu_ps(param + i, _mm256_fnmadd_ps(lr, update, p));
    }
    for (; i < n; i++) {
        float g = grad[i];
        float mi = h->beta1 * m[i] + (1.0f - h->beta1) * g;
        float vi = h->beta2 * v[i] + (1.0f - h->beta2) * g * g;
        m[i] = mi;
        v[i] = vi;
        float update = mi * inv_bc1 / (sqrtf(vi * inv_bc2) + h->eps) + h->weight_decay * param[i];
        param[i] -= h->lr * update;
    }
}

void ed__kernels_fill_avx2_backward(ed_kernels_t *k)
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
