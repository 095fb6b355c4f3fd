/* tests/kernels/backward.c - the training ops of every op table this CPU
 * runs against the reference table on seeded data (odd sizes included), each
 * printing "# <op> <isa> maxdiff=<x>" (largest |arch - ref| / (1 + |ref|)),
 * the reference ops against central finite differences of their forward
 * twins, and the pooled drivers of backward.h (dx = dy W for every weight
 * format, LoRA gradients, attention, chunked cross-entropy) against plain
 * float computations, on 1 and 3 threads. */
#include "kernels/backward.h"
#include "kernels/repack.h"
#include "tests/test.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng_state;

static void rng_seed(uint64_t seed)
{
    rng_state = seed * 0x9E3779B97F4A7C15ULL + 1;
}

static float rng_uniform(float lo, float hi)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return lo + (hi - lo) * (float)((rng_state >> 40) * (1.0 / 16777216.0));
}

static void fill(float *x, size_t n, float lo, float hi)
{
    for (size_t i = 0; i < n; i++)
        x[i] = rng_uniform(lo, hi);
}

static float *alloc_f(size_t n)
{
    float *p = calloc(n ? n : 1, sizeof(float));
    if (!p)
        abort();
    return p;
}

static float rel_diff(const float *a, const float *ref, size_t n)
{
    float max = 0;
    for (size_t i = 0; i < n; i++) {
        float d = fabsf(a[i] - ref[i]) / (1.0f + fabsf(ref[i]));
        if (!(d <= max))
            max = isnan(d) ? INFINITY : d;
    }
    return max;
}

static void keep_max(float *maxdiff, float d)
{
    if (!(d <= *maxdiff))
        *maxdiff = d;
}

static const ed_kernels_t *ref_table(void)
{
    return ed_kernels_by_name("ref");
}

#define FOR_EACH_ARCH(op, tol, ...)                                                    \
    do {                                                                               \
        const ed_kernels_t *ref = ref_table();                                         \
        ED_REQUIRE(ref != NULL);                                                       \
        int ed__tested = 0;                                                            \
        for (const char *const *name = ed_kernels_names(); *name; name++) {            \
            const ed_kernels_t *arch = ed_kernels_by_name(*name);                      \
            if (!arch || arch == ref)                                                  \
                continue;                                                              \
            float maxdiff = 0;                                                         \
            rng_seed(42);                                                              \
            __VA_ARGS__;                                                               \
            printf("# %s %s maxdiff=%.3g\n", op, arch->name, maxdiff);                 \
            ED_CHECK(maxdiff <= (tol));                                                \
            ed__tested++;                                                              \
        }                                                                              \
        if (!ed__tested)                                                               \
            printf("# %s: no arch table on this CPU, reference only\n", op);           \
    } while (0)

static const int sizes[] = {1, 3, 7, 8, 9, 15, 16, 17, 31, 64, 100, 257, 2048};
#define N_SIZES ((int)(sizeof sizes / sizeof sizes[0]))

ED_TEST(gemm_f32_matches_ref)
{
    static const int shapes[][3] = {{1, 1, 1}, {3, 5, 7}, {4, 16, 8}, {5, 17, 9}, {9, 33, 31},
                                    {8, 256, 32}, {37, 100, 64}, {64, 8, 300}, {13, 61, 40},
                                    {7, 130, 17}, {25, 120, 290}};
    /* f32 sums of up to 300 products against double ones */
    FOR_EACH_ARCH("gemm_f32 nn/tn/nt", 1e-5, {
        for (int s = 0; s < (int)(sizeof shapes / sizeof shapes[0]); s++) {
            int m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
            size_t lda = (size_t)k + 3, ldb = (size_t)n + 1, ldc = (size_t)n + 2;
            float *a = alloc_f((size_t)m * lda + (size_t)k * (m + 3));
            float *b = alloc_f((size_t)k * ldb + (size_t)n * (k + 1));
            float *c_a = alloc_f((size_t)m * ldc), *c_r = alloc_f((size_t)m * ldc);
            fill(a, (size_t)m * lda + (size_t)k * (m + 3), -1, 1);
            fill(b, (size_t)k * ldb + (size_t)n * (k + 1), -1, 1);
            fill(c_a, (size_t)m * ldc, -1, 1);
            memcpy(c_r, c_a, sizeof(float) * (size_t)m * ldc);
            arch->gemm_f32_nn(m, n, k, a, lda, b, ldb, c_a, ldc);
            ref->gemm_f32_nn(m, n, k, a, lda, b, ldb, c_r, ldc);
            keep_max(&maxdiff, rel_diff(c_a, c_r, (size_t)m * ldc));
            /* tn: a is (k, m) with row stride m + 3 */
            arch->gemm_f32_tn(m, n, k, a, (size_t)m + 3, b, ldb, c_a, ldc);
            ref->gemm_f32_tn(m, n, k, a, (size_t)m + 3, b, ldb, c_r, ldc);
            keep_max(&maxdiff, rel_diff(c_a, c_r, (size_t)m * ldc));
            /* nt: b is (n, k) with row stride k + 1 */
            arch->gemm_f32_nt(m, n, k, a, lda, b, (size_t)k + 1, c_a, ldc);
            ref->gemm_f32_nt(m, n, k, a, lda, b, (size_t)k + 1, c_r, ldc);
            keep_max(&maxdiff, rel_diff(c_a, c_r, (size_t)m * ldc));
            free(a), free(b), free(c_a), free(c_r);
        }
    });
}

ED_TEST(row_backward_ops_match_ref)
{
    enum { MAX = 2048 };
    static float x[MAX], w[MAX], dy[MAX], u[MAX], a1[MAX], a2[MAX], r1[MAX], r2[MAX];
    FOR_EACH_ARCH("rmsnorm_backward", 2e-5, {
        for (int s = 0; s < N_SIZES; s++) {
            int n = sizes[s];
            fill(x, n, -3, 3), fill(w, n, -2, 2), fill(dy, n, -1, 1), fill(a2, n, -1, 1);
            memcpy(r2, a2, sizeof(float) * n);
            arch->rmsnorm_backward(a1, a2, dy, x, w, n, 1e-5f);
            ref->rmsnorm_backward(r1, r2, dy, x, w, n, 1e-5f);
            keep_max(&maxdiff, rel_diff(a1, r1, n));
            keep_max(&maxdiff, rel_diff(a2, r2, n));
        }
    });
    FOR_EACH_ARCH("swiglu_backward", 2e-6, {
        for (int s = 0; s < N_SIZES; s++) {
            int n = sizes[s];
            fill(x, n, -10, 10), fill(u, n, -3, 3), fill(dy, n, -1, 1);
            arch->swiglu_backward(a1, a2, dy, x, u, n);
            ref->swiglu_backward(r1, r2, dy, x, u, n);
            keep_max(&maxdiff, rel_diff(a1, r1, n));
            keep_max(&maxdiff, rel_diff(a2, r2, n));
        }
    });
    FOR_EACH_ARCH("rope_backward", 1e-6, {
        ed_rope_t rope = {32, 1, 1e4f, 1.0f, NULL};
        fill(x, 4 * 64, -2, 2);
        memcpy(a1, x, sizeof(float) * 4 * 64), memcpy(r1, x, sizeof(float) * 4 * 64);
        arch->rope_backward(a1, 4, 64, 17, &rope);
        ref->rope_backward(r1, 4, 64, 17, &rope);
        keep_max(&maxdiff, rel_diff(a1, r1, 4 * 64));
    });
    FOR_EACH_ARCH("cross_entropy_backward", 2e-6, {
        for (int s = 0; s < N_SIZES; s++) {
            int n = sizes[s];
            fill(x, n, -15, 15);
            float la = arch->cross_entropy_backward(a1, x, n, n / 2, 0.5f);
            float lr = ref->cross_entropy_backward(r1, x, n, n / 2, 0.5f);
            keep_max(&maxdiff, rel_diff(a1, r1, n));
            keep_max(&maxdiff, fabsf(la - lr) / (1 + fabsf(lr)));
            ED_CHECK(arch->cross_entropy_backward(a1, x, n, -1, 1.0f) == 0.0f && a1[0] == 0.0f);
        }
    });
    FOR_EACH_ARCH("adamw_step", 2e-6, {
        for (int s = 0; s < N_SIZES; s++) {
            int n = sizes[s];
            ed_adamw_t h = {1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, 1 + s};
            fill(x, n, -1, 1), fill(dy, n, -1, 1), fill(a1, n, -0.1f, 0.1f), fill(a2, n, 0, 0.01f);
            memcpy(w, x, sizeof(float) * n), memcpy(r1, a1, sizeof(float) * n), memcpy(r2, a2, sizeof(float) * n);
            arch->adamw_step(x, a1, a2, dy, n, &h);
            ref->adamw_step(w, r1, r2, dy, n, &h);
            keep_max(&maxdiff, rel_diff(x, w, n));
            keep_max(&maxdiff, rel_diff(a1, r1, n));
            keep_max(&maxdiff, rel_diff(a2, r2, n));
        }
    });
}

ED_TEST(attention_backward_matches_ref)
{
    static const ed_attention_train_t shapes[] = {
        {13, 4, 2, 16, 0.25f}, {70, 4, 1, 20, 0.2236f}, {33, 2, 2, 64, 0.125f}};
    for (int si = 0; si < 3; si++) {
        const ed_attention_train_t *shape = &shapes[si];
        size_t nq = (size_t)shape->n_tok * shape->n_head * shape->head_dim;
        size_t nkv = (size_t)shape->n_tok * shape->n_kv_head * shape->head_dim;
        float *q = alloc_f(nq), *k = alloc_f(nkv), *v = alloc_f(nkv), *dout = alloc_f(nq);
        float *scratch = alloc_f(2 * (size_t)shape->n_tok);
        float *g[2][3];
        for (int i = 0; i < 2; i++)
            g[i][0] = alloc_f(nq), g[i][1] = alloc_f(nkv), g[i][2] = alloc_f(nkv);
        FOR_EACH_ARCH("attention_backward", 2e-5, {
            fill(q, nq, -1, 1), fill(k, nkv, -1, 1), fill(v, nkv, -1, 1), fill(dout, nq, -1, 1);
            arch->attention_backward(g[0][0], g[0][1], g[0][2], q, k, v, dout, shape, 0, shape->n_kv_head, scratch);
            ref->attention_backward(g[1][0], g[1][1], g[1][2], q, k, v, dout, shape, 0, shape->n_kv_head, scratch);
            keep_max(&maxdiff, rel_diff(g[0][0], g[1][0], nq));
            keep_max(&maxdiff, rel_diff(g[0][1], g[1][1], nkv));
            keep_max(&maxdiff, rel_diff(g[0][2], g[1][2], nkv));
        });
        free(q), free(k), free(v), free(dout), free(scratch);
        for (int i = 0; i < 2; i++)
            free(g[i][0]), free(g[i][1]), free(g[i][2]);
    }
}

/* ---- the reference against finite differences of the forward ops ---- */

static double rms_loss(const ed_kernels_t *t, const float *x, const float *w, const float *dy, int n)
{
    float out[64];
    t->rmsnorm_forward(out, x, w, n, 1e-5f);
    double s = 0;
    for (int i = 0; i < n; i++)
        s += (double)out[i] * dy[i];
    return s;
}

ED_TEST(ref_backward_matches_finite_differences)
{
    const ed_kernels_t *ref = ref_table();
    enum { N = 24 };
    float x[N], w[N], dy[N], dx[N], dw[N] = {0}, u[N], dg[N], du[N];
    rng_seed(3);
    fill(x, N, -2, 2), fill(w, N, -2, 2), fill(dy, N, -1, 1), fill(u, N, -2, 2);
    ref->rmsnorm_backward(dx, dw, dy, x, w, N, 1e-5f);
    const float h = 1e-2f;
    float maxd = 0;
    for (int i = 0; i < N; i++) {
        float save = x[i];
        x[i] = save + h;
        double lp = rms_loss(ref, x, w, dy, N);
        x[i] = save - h;
        double lm = rms_loss(ref, x, w, dy, N);
        x[i] = save;
        keep_max(&maxd, (float)fabs((lp - lm) / (2 * h) - dx[i]));
        save = w[i];
        w[i] = save + h;
        lp = rms_loss(ref, x, w, dy, N);
        w[i] = save - h;
        lm = rms_loss(ref, x, w, dy, N);
        w[i] = save;
        keep_max(&maxd, (float)fabs((lp - lm) / (2 * h) - dw[i]));
    }
    printf("# rmsnorm_backward finite differences maxdiff=%.3g\n", maxd);
    ED_CHECK(maxd < 2e-3f);
    /* swiglu: d/dgate and d/dup of sum(dy * silu(g) u) */
    ref->swiglu_backward(dg, du, dy, x, u, N);
    maxd = 0;
    for (int i = 0; i < N; i++) {
        float op[1], om[1], gp = x[i] + h, gm = x[i] - h;
        ref->swiglu_forward(op, &gp, &u[i], 1);
        ref->swiglu_forward(om, &gm, &u[i], 1);
        keep_max(&maxd, fabsf((op[0] - om[0]) / (2 * h) * dy[i] - dg[i]));
    }
    printf("# swiglu_backward finite differences maxdiff=%.3g\n", maxd);
    ED_CHECK(maxd < 2e-3f);
    /* rope: backward then forward is the identity (an orthogonal map's gradient is its transpose) */
    static const float factors[8] = {1, 2, 1.5f, 4, 1, 1, 8, 1};
    for (int neox = 0; neox < 2; neox++) {
        ed_rope_t rope = {16, neox, 1e4f, 0.5f, factors};
        float r[3 * 20], orig[3 * 20];
        fill(r, 60, -2, 2);
        memcpy(orig, r, sizeof r);
        ref->rope_backward(r, 3, 20, 29, &rope);
        ref->rope_forward(r, 3, 20, 29, &rope);
        ED_CHECK(rel_diff(r, orig, 60) < 1e-5f);
        /* by precomputed angles: the same as rope_backward */
        float cs[16], r2[60];
        fill(r, 60, -2, 2);
        memcpy(r2, r, sizeof r);
        ed_rope_cos_sin(&rope, 29, cs);
        ref->rope_backward(r, 3, 20, 29, &rope);
        ref->rope_rotate_backward(r2, 3, 20, cs, &rope);
        ED_CHECK(rel_diff(r, r2, 60) < 1e-6f);
    }
    /* cross-entropy: the gradient's rows sum to zero and the loss is logsumexp - logits[target] */
    float logits[N], dl[N];
    fill(logits, N, -4, 4);
    float loss = ref->cross_entropy_backward(dl, logits, N, 5, 1.0f);
    double sum = 0;
    for (int i = 0; i < N; i++)
        sum += dl[i];
    ED_CHECK(fabs(sum) < 1e-6);
    double lse = 0;
    for (int i = 0; i < N; i++)
        lse += exp((double)logits[i]);
    ED_CHECK_NEAR(log(lse) - logits[5], loss, 1e-5);
}

/* ---- pooled drivers ---- */

static const int wtypes[] = {ED_TYPE_F32, ED_TYPE_F16, ED_TYPE_BF16, ED_TYPE_Q4_0, ED_TYPE_Q4_1, ED_TYPE_Q5_0,
                             ED_TYPE_Q5_1, ED_TYPE_Q8_0, ED_TYPE_Q2_K, ED_TYPE_Q3_K, ED_TYPE_Q4_K, ED_TYPE_Q5_K,
                             ED_TYPE_Q6_K};

ED_TEST(matmul_backward_input_every_type)
{
    char err[ED_KERR_LEN];
    enum { N_IN = 768, N_OUT = 70, N_BATCH = 19 };
    float *w_f = alloc_f((size_t)N_IN * N_OUT), *dy = alloc_f((size_t)N_BATCH * N_OUT);
    float *dx = alloc_f((size_t)N_BATCH * N_IN), *expect = alloc_f((size_t)N_BATCH * N_IN);
    uint8_t *w = malloc((size_t)N_IN * N_OUT * 4);
    ED_REQUIRE(w != NULL);
    rng_seed(11);
    fill(dy, (size_t)N_BATCH * N_OUT, -1, 1);
    for (int t = 0; t < (int)(sizeof wtypes / sizeof wtypes[0]); t++) {
        int type = wtypes[t];
        const ed_quant_traits_t *traits = ed_quant_traits(type);
        uint64_t row_bytes = 0;
        ED_REQUIRE(traits && ed_type_row_size(type, N_IN, &row_bytes) == 0);
        fill(w_f, (size_t)N_IN * N_OUT, -1, 1);
        for (int r = 0; r < N_OUT; r++) {
            traits->from_float(w_f + (size_t)r * N_IN, w + r * row_bytes, N_IN);
            traits->to_float(w + r * row_bytes, w_f + (size_t)r * N_IN, N_IN);
        }
        for (int b = 0; b < N_BATCH; b++)
            for (int i = 0; i < N_IN; i++) {
                double s = 0;
                for (int o = 0; o < N_OUT; o++)
                    s += (double)dy[(size_t)b * N_OUT + o] * w_f[(size_t)o * N_IN + i];
                expect[(size_t)b * N_IN + i] = (float)s + 0.5f; /* accumulate onto 0.5 */
            }
        for (const char *const *name = ed_kernels_names(); *name; name++) {
            const ed_kernels_t *k = ed_kernels_by_name(*name);
            if (!k)
                continue;
            for (int n_threads = 1; n_threads <= 3; n_threads += 2) {
                ed_pool_t *pool = NULL;
                ED_REQUIRE(ed_pool_open(&pool, n_threads, err) == 0);
                size_t ss = ed_matmul_backward_scratch_size(type, n_threads);
                void *scratch = malloc(ss + 1);
                for (size_t i = 0; i < (size_t)N_BATCH * N_IN; i++)
                    dx[i] = 0.5f;
                ed_matmul_backward_t m = {w, type, N_IN, N_OUT, dy, dx, N_BATCH, 1};
                ED_CHECK_INT(ed_matmul_backward_input(k, pool, ED_POOL_LOW, &m, scratch, ss), 0);
                float d = rel_diff(dx, expect, (size_t)N_BATCH * N_IN);
                if (n_threads == 3)
                    printf("# matmul_backward_input %s %s maxdiff=%.3g\n", ed_type_info(type)->name, k->name, d);
                ED_CHECK(d < 2e-5f);
                if (type != ED_TYPE_F32)
                    ED_CHECK_INT(ed_matmul_backward_input(k, pool, ED_POOL_LOW, &m, scratch, ss - 1), ED_KERR_EINVAL);
                free(scratch);
                ed_pool_close(pool);
            }
        }
    }
    ed_matmul_backward_t bad = {w, ED_TYPE_Q4_K, 100, 4, dy, dx, 1, 0};
    ED_CHECK_INT(ed_matmul_backward_input(ref_table(), NULL, ED_POOL_LOW, &bad, w, 1 << 20), ED_KERR_EINVAL);
    free(w_f), free(dy), free(dx), free(expect), free(w);
}

ED_TEST(matmul_backward_input_repacked_layouts)
{
    /* the layouts the model repacks q4_0, q8_0 and q4_K to at load; 800 =
     * 25 blocks of 32, so the last group of 8 blocks is partial */
    static const int cases[][2] = {{ED_TYPE_Q4_0, 800}, {ED_TYPE_Q8_0, 800}, {ED_TYPE_Q4_K, 768}};
    char err[ED_KERR_LEN];
    enum { N_OUT = 40, N_BATCH = 9 };
    rng_seed(17);
    for (int c = 0; c < 3; c++) {
        int type = cases[c][0], n_in = cases[c][1], packed = ed_repack_type(type);
        const ed_quant_traits_t *traits = ed_quant_traits(type);
        uint64_t row_bytes = 0, packed_row = 0;
        ED_REQUIRE(packed >= 0 && ed_type_row_size(type, (uint64_t)n_in, &row_bytes) == 0 &&
                   ed_type_row_size(packed, (uint64_t)n_in, &packed_row) == 0);
        float *w_f = alloc_f((size_t)n_in * N_OUT), *dy = alloc_f((size_t)N_BATCH * N_OUT);
        float *dx = alloc_f((size_t)N_BATCH * n_in), *expect = alloc_f((size_t)N_BATCH * n_in);
        uint8_t *w = malloc(row_bytes * N_OUT), *wp = malloc(packed_row * N_OUT);
        ED_REQUIRE(w && wp);
        fill(w_f, (size_t)n_in * N_OUT, -1, 1);
        fill(dy, (size_t)N_BATCH * N_OUT, -1, 1);
        for (int r = 0; r < N_OUT; r++) {
            traits->from_float(w_f + (size_t)r * n_in, w + r * row_bytes, n_in);
            traits->to_float(w + r * row_bytes, w_f + (size_t)r * n_in, n_in);
        }
        ed_repack_rows(type, w, wp, n_in, 0, N_OUT);
        for (int b = 0; b < N_BATCH; b++)
            for (int i = 0; i < n_in; i++) {
                double s = 0;
                for (int o = 0; o < N_OUT; o++)
                    s += (double)dy[(size_t)b * N_OUT + o] * w_f[(size_t)o * n_in + i];
                expect[(size_t)b * n_in + i] = (float)s;
            }
        const ed_kernels_t *k = ed_kernels_select(NULL);
        ed_pool_t *pool = NULL;
        ED_REQUIRE(ed_pool_open(&pool, 2, err) == 0);
        size_t ss = ed_matmul_backward_scratch_size(packed, 2);
        void *scratch = malloc(ss);
        ed_matmul_backward_t m = {wp, packed, n_in, N_OUT, dy, dx, N_BATCH, 0};
        ED_CHECK_INT(ed_matmul_backward_input(k, pool, ED_POOL_LOW, &m, scratch, ss), 0);
        float d = rel_diff(dx, expect, (size_t)N_BATCH * n_in);
        printf("# matmul_backward_input %s n_in %d %s maxdiff=%.3g\n", ed_type_info(packed)->name, n_in, k->name, d);
        ED_CHECK(d < 2e-5f);
        ed_pool_close(pool);
        free(scratch), free(w_f), free(dy), free(dx), free(expect), free(w), free(wp);
    }
}

/* dx = dy w through the int8 micro-kernels (ed_matmul_backward_input_q8).
 * The reference is the float product of the operands it multiplies: dy
 * quantized to q8_0 per row, and w dequantized then quantized to q8_0 along
 * n_out per column (w^T's rows), both dequantized again; its error is held
 * to the forward int8 products' tolerance (1e-5 of the sum of |products|,
 * tests/kernels/matmul.c). The distance to the exact f32 product (w's
 * dequantized values, dy as given; |error| / |product| over the whole
 * result) is printed and held to 2e-2. Every table
 * (the reference one included), 1 and 2 threads bit-identical. */
static void check_backward_q8(int type, int n_in, int n_out, int n_batch, int accumulate)
{
    char err[ED_KERR_LEN];
    int base = type, packed = -1;
    for (int t = 0; t < ED_TYPE_COUNT; t++)
        if (ed_repack_type(t) == type)
            base = t, packed = type;
    const ed_quant_traits_t *traits = ed_quant_traits(base), *q8 = ed_quant_traits(ED_TYPE_Q8_0);
    uint64_t row_bytes = 0, w_row_bytes = 0;
    ED_REQUIRE(traits && ed_type_row_size(base, (uint64_t)n_in, &row_bytes) == 0 &&
               ed_type_row_size(type, (uint64_t)n_in, &w_row_bytes) == 0);
    int n_pad = (n_out + 31) / 32 * 32;
    float *w_f = alloc_f((size_t)n_in * n_out), *dy = alloc_f((size_t)n_batch * n_out);
    float *wt_seen = alloc_f((size_t)n_in * n_pad), *dy_seen = alloc_f((size_t)n_batch * n_pad);
    float *col = alloc_f((size_t)n_pad), *dx = alloc_f((size_t)n_batch * n_in), *dx1 = alloc_f((size_t)n_batch * n_in);
    double *expect = calloc((size_t)n_batch * n_in, sizeof(double));
    double *mag = calloc((size_t)n_batch * n_in, sizeof(double));
    double *exact = calloc((size_t)n_batch * n_in, sizeof(double));
    uint8_t *w = malloc(row_bytes * n_out), *wp = malloc(w_row_bytes * n_out);
    ed_block_q8_0_t *blocks = malloc(sizeof(ed_block_q8_0_t) * (size_t)(n_pad / 32));
    ED_REQUIRE(expect && mag && exact && w && wp && blocks);
    for (int r = 0; r < n_out; r++) { /* rows of different scales, like real weights */
        for (int i = 0; i < n_in; i++)
            w_f[(size_t)r * n_in + i] = rng_uniform(-1, 1) * (1.0f + (float)(r % 5));
        traits->from_float(w_f + (size_t)r * n_in, w + r * row_bytes, n_in);
        traits->to_float(w + r * row_bytes, w_f + (size_t)r * n_in, n_in);
    }
    if (packed >= 0)
        ed_repack_rows(base, w, wp, n_in, 0, n_out);
    else
        memcpy(wp, w, row_bytes * n_out);
    fill(dy, (size_t)n_batch * n_out, -1, 1);
    for (int b = 0; b < n_batch; b++) {
        for (int o = 0; o < n_pad; o++)
            col[o] = o < n_out ? dy[(size_t)b * n_out + o] : 0;
        q8->from_float(col, blocks, n_pad);
        q8->to_float(blocks, dy_seen + (size_t)b * n_pad, n_pad);
    }
    for (int i = 0; i < n_in; i++) {
        for (int o = 0; o < n_pad; o++)
            col[o] = o < n_out ? w_f[(size_t)o * n_in + i] : 0;
        q8->from_float(col, blocks, n_pad);
        q8->to_float(blocks, wt_seen + (size_t)i * n_pad, n_pad);
    }
    for (int b = 0; b < n_batch; b++)
        for (int i = 0; i < n_in; i++) {
            double s = 0, m = 0, e = 0;
            for (int o = 0; o < n_pad; o++) {
                double p = (double)dy_seen[(size_t)b * n_pad + o] * wt_seen[(size_t)i * n_pad + o];
                s += p;
                m += fabs(p);
                if (o < n_out)
                    e += (double)dy[(size_t)b * n_out + o] * w_f[(size_t)o * n_in + i];
            }
            expect[(size_t)b * n_in + i] = s;
            mag[(size_t)b * n_in + i] = m;
            exact[(size_t)b * n_in + i] = e;
        }
    for (const char *const *name = ed_kernels_names(); *name; name++) {
        const ed_kernels_t *k = ed_kernels_by_name(*name);
        if (!k)
            continue;
        for (int n_threads = 1; n_threads <= 2; n_threads++) {
            ed_pool_t *pool = NULL;
            ED_REQUIRE(ed_pool_open(&pool, n_threads, err) == 0);
            size_t ss = ed_matmul_backward_q8_scratch_size(type, n_out, n_batch, n_threads);
            void *scratch = malloc(ss);
            ED_REQUIRE(ss > 0 && scratch);
            float *out = n_threads == 1 ? dx1 : dx;
            for (size_t i = 0; i < (size_t)n_batch * n_in; i++)
                out[i] = accumulate ? 0.5f : NAN;
            ed_matmul_backward_t m = {wp, type, n_in, n_out, dy, out, n_batch, accumulate};
            ED_CHECK_INT(ed_matmul_backward_input_q8(k, pool, ED_POOL_LOW, &m, scratch, ss), 0);
            double maxdiff = 0, err2 = 0, norm2 = 0;
            for (size_t i = 0; i < (size_t)n_batch * n_in; i++) {
                double v = out[i] - (accumulate ? 0.5 : 0.0);
                double d = fabs(v - expect[i]) / (mag[i] + 1e-30);
                if (!(d <= maxdiff))
                    maxdiff = isnan(d) ? INFINITY : d;
                err2 += (v - exact[i]) * (v - exact[i]);
                norm2 += exact[i] * exact[i];
            }
            double exactdiff = sqrt(err2 / (norm2 + 1e-30));
            if (n_threads == 2) {
                printf("# matmul_backward_input_q8 %s %s %dx%d batch %d%s maxdiff=%.3g off f32 %.3g\n",
                       ed_type_info(type)->name, k->name, n_out, n_in, n_batch, accumulate ? " +=" : "", maxdiff,
                       exactdiff);
                if (memcmp(dx, dx1, sizeof(float) * (size_t)n_batch * n_in) != 0) {
                    printf("#   %s %s: 2 threads differ from 1\n", ed_type_info(type)->name, k->name);
                    ED_CHECK(0);
                }
            }
            ED_CHECK(maxdiff <= 1e-5);
            ED_CHECK(exactdiff <= 2e-2);
            ED_CHECK_INT(ed_matmul_backward_input_q8(k, pool, ED_POOL_LOW, &m, scratch, ss - 1), ED_KERR_EINVAL);
            free(scratch);
            ed_pool_close(pool);
        }
    }
    free(w_f), free(dy), free(wt_seen), free(dy_seen), free(col), free(dx), free(dx1), free(expect), free(mag);
    free(exact), free(w), free(wp), free(blocks);
}

static const int q8_types[] = {ED_TYPE_F32,  ED_TYPE_F16,  ED_TYPE_BF16, ED_TYPE_Q4_0,    ED_TYPE_Q4_1,
                               ED_TYPE_Q5_0, ED_TYPE_Q5_1, ED_TYPE_Q8_0, ED_TYPE_Q2_K,    ED_TYPE_Q3_K,
                               ED_TYPE_Q4_K, ED_TYPE_Q5_K, ED_TYPE_Q6_K, ED_TYPE_Q4_0_R8, ED_TYPE_Q8_0_R8,
                               ED_TYPE_Q4_K_R8};

ED_TEST(matmul_backward_input_q8_every_type)
{
    rng_seed(23);
    for (int t = 0; t < (int)(sizeof q8_types / sizeof q8_types[0]); t++) {
        int type = q8_types[t], block_len = (int)ed_type_info(type)->block_len;
        /* n_in: 3 strips of 256 for the K-quants; else a partial last strip
         * (and for the r8 layouts a partial last group); n_out 70: whole
         * blocks padded with zeros and a partial group of 8 */
        int n_in = block_len == 256 ? 768 : type == ED_TYPE_Q4_0_R8 || type == ED_TYPE_Q8_0_R8 ? 800 : 160;
        check_backward_q8(type, n_in, 70, 17, 1);
    }
}

ED_TEST(matmul_backward_input_q8_shapes)
{
    /* batch 1 and 3, a batch past one panel of 64; n_out of whole groups,
     * of whole blocks with a partial group, and of one partial block */
    static const int cases[][5] = {
        {ED_TYPE_Q4_0, 160, 512, 1, 0},    {ED_TYPE_Q4_0, 160, 288, 3, 1},    {ED_TYPE_Q8_0_R8, 800, 5, 17, 0},
        {ED_TYPE_Q4_K_R8, 512, 256, 70, 0}, {ED_TYPE_Q6_K, 256, 33, 3, 1},   {ED_TYPE_Q4_0_R8, 256, 96, 1, 1},
    };
    rng_seed(29);
    for (int c = 0; c < (int)(sizeof cases / sizeof cases[0]); c++)
        check_backward_q8(cases[c][0], cases[c][1], cases[c][2], cases[c][3], cases[c][4]);
    float dy[4] = {0}, dx[256];
    uint8_t scratch[1 << 12];
    ed_matmul_backward_t bad = {scratch, ED_TYPE_Q4_K, 100, 4, dy, dx, 1, 0};
    ED_CHECK_INT(ed_matmul_backward_input_q8(ref_table(), NULL, ED_POOL_LOW, &bad, scratch, sizeof scratch),
                 ED_KERR_EINVAL);
    ED_CHECK(ed_matmul_backward_q8_scratch_size(ED_TYPE_Q4_0, 0, 1, 1) == 0);
}

ED_TEST(lora_backward_matches_plain_products)
{
    char err[ED_KERR_LEN];
    enum { N_IN = 300, N_OUT = 130, R = 8, B = 21 };
    const float s = 2.0f;
    float *x = alloc_f((size_t)B * N_IN), *a = alloc_f((size_t)R * N_IN), *b = alloc_f((size_t)N_OUT * R);
    float *dy = alloc_f((size_t)B * N_OUT), *da = alloc_f((size_t)R * N_IN), *db = alloc_f((size_t)N_OUT * R);
    float *dx = alloc_f((size_t)B * N_IN);
    double *u = calloc((size_t)B * R, sizeof(double)), *g = calloc((size_t)B * R, sizeof(double));
    float *e_da = alloc_f((size_t)R * N_IN), *e_db = alloc_f((size_t)N_OUT * R), *e_dx = alloc_f((size_t)B * N_IN);
    rng_seed(5);
    fill(x, (size_t)B * N_IN, -1, 1), fill(a, (size_t)R * N_IN, -0.3f, 0.3f), fill(b, (size_t)N_OUT * R, -0.3f, 0.3f);
    fill(dy, (size_t)B * N_OUT, -1, 1);
    for (int t = 0; t < B; t++)
        for (int j = 0; j < R; j++) {
            for (int i = 0; i < N_IN; i++)
                u[t * R + j] += (double)x[(size_t)t * N_IN + i] * a[(size_t)j * N_IN + i];
            for (int o = 0; o < N_OUT; o++)
                g[t * R + j] += (double)dy[(size_t)t * N_OUT + o] * b[(size_t)o * R + j];
        }
    for (int o = 0; o < N_OUT; o++)
        for (int j = 0; j < R; j++) {
            double acc = 0;
            for (int t = 0; t < B; t++)
                acc += (double)dy[(size_t)t * N_OUT + o] * u[t * R + j];
            e_db[o * R + j] = (float)(s * acc) + 1.0f;
        }
    for (int j = 0; j < R; j++)
        for (int i = 0; i < N_IN; i++) {
            double acc = 0;
            for (int t = 0; t < B; t++)
                acc += g[t * R + j] * x[(size_t)t * N_IN + i];
            e_da[(size_t)j * N_IN + i] = (float)(s * acc) + 1.0f;
        }
    for (int t = 0; t < B; t++)
        for (int i = 0; i < N_IN; i++) {
            double acc = 0;
            for (int j = 0; j < R; j++)
                acc += g[t * R + j] * a[(size_t)j * N_IN + i];
            e_dx[(size_t)t * N_IN + i] = (float)(s * acc) + 1.0f;
        }
    for (const char *const *name = ed_kernels_names(); *name; name++) {
        const ed_kernels_t *k = ed_kernels_by_name(*name);
        if (!k)
            continue;
        ed_pool_t *pool = NULL;
        ED_REQUIRE(ed_pool_open(&pool, 3, err) == 0);
        for (size_t i = 0; i < (size_t)R * N_IN; i++)
            da[i] = 1.0f;
        for (size_t i = 0; i < (size_t)N_OUT * R; i++)
            db[i] = 1.0f;
        for (size_t i = 0; i < (size_t)B * N_IN; i++)
            dx[i] = 1.0f;
        size_t nf = ed_lora_backward_scratch_floats(R, B);
        float *scratch = alloc_f(nf);
        ed_lora_backward_t l = {x, a, b, dy, s, N_IN, N_OUT, R, B, da, db, dx};
        ED_CHECK_INT(ed_lora_backward(k, pool, ED_POOL_LOW, &l, scratch, nf), 0);
        float d = rel_diff(da, e_da, (size_t)R * N_IN);
        keep_max(&d, rel_diff(db, e_db, (size_t)N_OUT * R));
        keep_max(&d, rel_diff(dx, e_dx, (size_t)B * N_IN));
        printf("# lora_backward %s maxdiff=%.3g\n", k->name, d);
        ED_CHECK(d < 2e-5f);
        ED_CHECK_INT(ed_lora_backward(k, pool, ED_POOL_LOW, &l, scratch, nf - 1), ED_KERR_EINVAL);
        free(scratch);
        ed_pool_close(pool);
    }
    free(x), free(a), free(b), free(dy), free(da), free(db), free(dx), free(u), free(g);
    free(e_da), free(e_db), free(e_dx);
}

ED_TEST(attention_driver_is_the_op_per_kv_head)
{
    char err[ED_KERR_LEN];
    ed_attention_train_t shape = {9, 6, 3, 8, 0.35f};
    size_t nq = (size_t)9 * 6 * 8, nkv = (size_t)9 * 3 * 8;
    float *q = alloc_f(nq), *k = alloc_f(nkv), *v = alloc_f(nkv), *dout = alloc_f(nq);
    float *g1[3] = {alloc_f(nq), alloc_f(nkv), alloc_f(nkv)}, *g2[3] = {alloc_f(nq), alloc_f(nkv), alloc_f(nkv)};
    float *scratch = alloc_f(3 * 2 * 9);
    rng_seed(9);
    fill(q, nq, -1, 1), fill(k, nkv, -1, 1), fill(v, nkv, -1, 1), fill(dout, nq, -1, 1);
    const ed_kernels_t *kt = ed_kernels_select(NULL);
    ed_pool_t *pool = NULL;
    ED_REQUIRE(ed_pool_open(&pool, 3, err) == 0);
    ED_CHECK_INT(ed_attention_backward(kt, pool, ED_POOL_LOW, g1[0], g1[1], g1[2], q, k, v, dout, &shape, scratch,
                                       3 * 2 * 9), 0);
    kt->attention_backward(g2[0], g2[1], g2[2], q, k, v, dout, &shape, 0, 3, scratch);
    for (int i = 0; i < 3; i++)
        ED_CHECK(rel_diff(g1[i], g2[i], i ? nkv : nq) == 0.0f);
    ED_CHECK_INT(ed_attention_backward(kt, pool, ED_POOL_LOW, g1[0], g1[1], g1[2], q, k, v, dout, &shape, scratch,
                                       3 * 2 * 9 - 1), ED_KERR_EINVAL);
    ed_pool_close(pool);
    free(q), free(k), free(v), free(dout), free(scratch);
    for (int i = 0; i < 3; i++)
        free(g1[i]), free(g2[i]);
}

ED_TEST(cross_entropy_chunks_match_full_logits)
{
    char err[ED_KERR_LEN];
    enum { E = 64, V = 333, N = 23 };
    float *h = alloc_f((size_t)N * E), *w = alloc_f((size_t)V * E), *dh = alloc_f((size_t)N * E);
    float *e_dh = alloc_f((size_t)N * E), *logits = alloc_f(V), *dl = alloc_f(V);
    int32_t targets[N];
    rng_seed(13);
    fill(h, (size_t)N * E, -1, 1), fill(w, (size_t)V * E, -0.5f, 0.5f);
    int counted = 0;
    for (int r = 0; r < N; r++) {
        targets[r] = r % 7 == 3 ? -1 : (int32_t)((r * 37) % V);
        counted += targets[r] >= 0;
    }
    const ed_kernels_t *ref = ref_table();
    double e_loss = 0;
    for (int r = 0; r < N; r++) {
        for (int o = 0; o < V; o++) {
            double s = 0;
            for (int i = 0; i < E; i++)
                s += (double)h[(size_t)r * E + i] * w[(size_t)o * E + i];
            logits[o] = (float)s;
        }
        e_loss += ref->cross_entropy_backward(dl, logits, V, targets[r], 1.0f / counted);
        for (int i = 0; i < E; i++) {
            double s = 0;
            for (int o = 0; o < V; o++)
                s += (double)dl[o] * w[(size_t)o * E + i];
            e_dh[(size_t)r * E + i] = (float)s;
        }
    }
    for (const char *const *name = ed_kernels_names(); *name; name++) {
        const ed_kernels_t *k = ed_kernels_by_name(*name);
        if (!k)
            continue;
        for (int chunk = 1; chunk <= 16; chunk *= 4) {
            ed_pool_t *pool = NULL;
            ED_REQUIRE(ed_pool_open(&pool, 2, err) == 0);
            ed_cross_entropy_t c = {h, w, ED_TYPE_F32, E, V, N, targets, 1.0f / counted, dh, chunk};
            size_t ss = ed_cross_entropy_scratch_size(&c, 2);
            void *scratch = malloc(ss);
            double loss = 0;
            int n = 0;
            ED_CHECK_INT(ed_cross_entropy(k, pool, ED_POOL_LOW, &c, scratch, ss, &loss, &n), 0);
            ED_CHECK_INT(n, counted);
            float d = rel_diff(dh, e_dh, (size_t)N * E);
            keep_max(&d, (float)(fabs(loss - e_loss) / (1 + fabs(e_loss))));
            printf("# cross_entropy %s chunk %d loss=%.6f maxdiff=%.3g\n", k->name, chunk, loss / n, d);
            ED_CHECK(d < 1e-5f);
            free(scratch);
            ed_pool_close(pool);
        }
    }
    free(h), free(w), free(dh), free(e_dh), free(logits), free(dl);
}

ED_TEST(every_table_has_the_training_ops)
{
    for (const char *const *name = ed_kernels_names(); *name; name++) {
        const ed_kernels_t *k = ed_kernels_by_name(*name);
        if (!k)
            continue;
        ED_CHECK(k->gemm_f32_nn && k->gemm_f32_tn && k->gemm_f32_nt && k->rmsnorm_backward && k->rope_backward &&
                 k->rope_rotate_backward &&
                 k->swiglu_backward && k->attention_backward && k->cross_entropy_backward && k->adamw_step);
    }
}

ED_TEST_MAIN(gemm_f32_matches_ref, row_backward_ops_match_ref, attention_backward_matches_ref,
             ref_backward_matches_finite_differences, matmul_backward_input_every_type,
             matmul_backward_input_repacked_layouts,
             matmul_backward_input_q8_every_type, matmul_backward_input_q8_shapes,
             lora_backward_matches_plain_products, attention_driver_is_the_op_per_kv_head,
             cross_entropy_chunks_match_full_logits, every_table_has_the_training_ops)
