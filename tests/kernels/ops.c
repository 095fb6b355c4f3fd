/* tests/kernels/ops.c - every op of every op table this CPU runs against the
 * reference table on seeded random data (odd sizes included), each printing
 * "# <op> <isa> maxdiff=<x>" (the largest |arch - ref| / (1 + |ref|)); plus
 * properties of the reference itself and the table selection. */
#include "kernels/kernels.h"
#include "tests/test.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

static uint64_t rng_state;

static void rng_seed(uint64_t seed)
{
    rng_state = seed * 0x9E3779B97F4A7C15ULL + 1;
}

static float rng_uniform(float lo, float hi) /* [lo, hi) */
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return lo + (hi - lo) * (float)((rng_state >> 40) * (1.0 / 16777216.0));
}

static void fill(float *x, int n, float lo, float hi)
{
    for (int i = 0; i < n; i++)
        x[i] = rng_uniform(lo, hi);
}

static float rel_diff(const float *a, const float *ref, int n)
{
    float max = 0;
    for (int i = 0; i < n; i++) {
        float d = fabsf(a[i] - ref[i]) / (1.0f + fabsf(ref[i]));
        if (!(d <= max)) /* NaN counts as a failure */
            max = isnan(d) ? INFINITY : d;
    }
    return max;
}

static const ed_kernels_t *ref_table(void)
{
    return ed_kernels_by_name("ref");
}

/* Runs the body (the variadic part) with arch, ref and maxdiff in scope for every non-reference table,
 * then checks and prints maxdiff. */
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

static const int sizes[] = {1, 3, 7, 8, 9, 15, 16, 17, 31, 64, 100, 257, 2048, 5632};
#define N_SIZES ((int)(sizeof sizes / sizeof sizes[0]))
#define MAX_N 5632

static float buf_x[MAX_N], buf_w[MAX_N], buf_b[MAX_N], out_a[MAX_N], out_r[MAX_N];

static void keep_max(float *maxdiff, float d)
{
    if (!(d <= *maxdiff))
        *maxdiff = d;
}

ED_TEST(rmsnorm_matches_ref)
{
    FOR_EACH_ARCH("rmsnorm_forward", 1e-5, {
        for (int s = 0; s < N_SIZES; s++) {
            int n = sizes[s];
            fill(buf_x, n, -3, 3);
            fill(buf_w, n, -2, 2);
            arch->rmsnorm_forward(out_a, buf_x, buf_w, n, 1e-5f);
            ref->rmsnorm_forward(out_r, buf_x, buf_w, n, 1e-5f);
            keep_max(&maxdiff, rel_diff(out_a, out_r, n));
        }
    });
}

ED_TEST(layernorm_matches_ref)
{
    FOR_EACH_ARCH("layernorm_forward", 1e-5, {
        for (int s = 0; s < N_SIZES; s++) {
            int n = sizes[s];
            fill(buf_x, n, -3, 5);
            fill(buf_w, n, -2, 2);
            fill(buf_b, n, -1, 1);
            arch->layernorm_forward(out_a, buf_x, buf_w, s % 2 ? buf_b : NULL, n, 1e-5f);
            ref->layernorm_forward(out_r, buf_x, buf_w, s % 2 ? buf_b : NULL, n, 1e-5f);
            keep_max(&maxdiff, rel_diff(out_a, out_r, n));
        }
    });
}

ED_TEST(softmax_matches_ref)
{
    FOR_EACH_ARCH("softmax_forward", 1e-6, {
        for (int s = 0; s < N_SIZES; s++) {
            int n = sizes[s];
            int n_valid = s % 3 == 0 ? n : 1 + (n - 1) / 2;
            fill(buf_x, n, -20, 20);
            memcpy(out_a, buf_x, sizeof(float) * (size_t)n);
            memcpy(out_r, buf_x, sizeof(float) * (size_t)n);
            arch->softmax_forward(out_a, n, 0.125f * (float)(s + 1), n_valid);
            ref->softmax_forward(out_r, n, 0.125f * (float)(s + 1), n_valid);
            keep_max(&maxdiff, rel_diff(out_a, out_r, n));
        }
    });
}

ED_TEST(activations_match_ref)
{
    FOR_EACH_ARCH("silu_forward", 2e-6, {
        for (int s = 0; s < N_SIZES; s++) {
            fill(buf_x, sizes[s], -30, 30);
            arch->silu_forward(out_a, buf_x, sizes[s]);
            ref->silu_forward(out_r, buf_x, sizes[s]);
            keep_max(&maxdiff, rel_diff(out_a, out_r, sizes[s]));
        }
    });
    FOR_EACH_ARCH("gelu_forward", 2e-6, {
        for (int s = 0; s < N_SIZES; s++) {
            fill(buf_x, sizes[s], -12, 12);
            arch->gelu_forward(out_a, buf_x, sizes[s]);
            ref->gelu_forward(out_r, buf_x, sizes[s]);
            keep_max(&maxdiff, rel_diff(out_a, out_r, sizes[s]));
        }
    });
    FOR_EACH_ARCH("swiglu_forward", 2e-6, {
        for (int s = 0; s < N_SIZES; s++) {
            fill(buf_x, sizes[s], -10, 10);
            fill(buf_w, sizes[s], -3, 3);
            arch->swiglu_forward(out_a, buf_x, buf_w, sizes[s]);
            ref->swiglu_forward(out_r, buf_x, buf_w, sizes[s]);
            keep_max(&maxdiff, rel_diff(out_a, out_r, sizes[s]));
        }
    });
}

ED_TEST(add_mul_match_ref)
{
    FOR_EACH_ARCH("add", 0, {
        for (int s = 0; s < N_SIZES; s++) {
            fill(buf_x, sizes[s], -10, 10);
            fill(buf_w, sizes[s], -10, 10);
            arch->add(out_a, buf_x, buf_w, sizes[s]);
            ref->add(out_r, buf_x, buf_w, sizes[s]);
            keep_max(&maxdiff, rel_diff(out_a, out_r, sizes[s]));
        }
    });
    FOR_EACH_ARCH("mul", 0, {
        for (int s = 0; s < N_SIZES; s++) {
            fill(buf_x, sizes[s], -10, 10);
            fill(buf_w, sizes[s], -10, 10);
            arch->mul(out_a, buf_x, buf_w, sizes[s]);
            ref->mul(out_r, buf_x, buf_w, sizes[s]);
            keep_max(&maxdiff, rel_diff(out_a, out_r, sizes[s]));
        }
    });
}

ED_TEST(rope_matches_ref)
{
    static const float factors[32] = {1, 1, 1.5f, 2, 4, 8, 8, 8, 1, 1, 1, 1, 1, 1, 1, 1,
                                      1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    FOR_EACH_ARCH("rope_forward", 1e-6, {
        for (int variant = 0; variant < 4; variant++) {
            ed_rope_t rope = {.n_rot = variant == 3 ? 32 : 64, .neox = variant & 1,
                              .freq_base = variant >= 2 ? 1e6f : 1e4f,
                              .freq_scale = variant == 2 ? 0.25f : 1.0f,
                              .freq_factors = variant == 1 ? factors : NULL};
            for (int pos = 0; pos < 300; pos += 37) {
                int n = 5 * 64;
                fill(buf_x, n, -2, 2);
                memcpy(out_a, buf_x, sizeof(float) * (size_t)n);
                memcpy(out_r, buf_x, sizeof(float) * (size_t)n);
                arch->rope_forward(out_a, 5, 64, pos, &rope);
                ref->rope_forward(out_r, 5, 64, pos, &rope);
                keep_max(&maxdiff, rel_diff(out_a, out_r, n));
            }
        }
    });
}

ED_TEST(get_row_matches_ref)
{
    static const int types[] = {ED_TYPE_F32, ED_TYPE_F16, ED_TYPE_Q8_0, ED_TYPE_Q4_0, ED_TYPE_Q4_K,
                                ED_TYPE_Q6_K};
    static uint8_t table[7 * 512 * 4];
    FOR_EACH_ARCH("get_row", 0, {
        for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
            uint64_t row_bytes = 0;
            ED_REQUIRE(ed_type_row_size(types[t], 512, &row_bytes) == 0);
            for (int row = 0; row < 7; row++) {
                fill(buf_x, 512, -1, 1);
                ed_quant_traits(types[t])->from_float(buf_x, table + row * row_bytes, 512);
            }
            arch->get_row(out_a, table, types[t], 5, 512);
            ref->get_row(out_r, table, types[t], 5, 512);
            keep_max(&maxdiff, rel_diff(out_a, out_r, 512));
            ed_quant_traits(types[t])->to_float(table + 5 * row_bytes, out_r, 512);
            keep_max(&maxdiff, rel_diff(out_a, out_r, 512));
        }
    });
}

static void fill_f16(uint16_t *x, int n)
{
    for (int i = 0; i < n; i++)
        x[i] = ed_fp32_to_fp16(rng_uniform(-1, 1));
}

/* Head sizes through every path of the SIMD versions: 64-dim register
 * blocks, 8-dim chunks and a scalar tail (136 = 2 x 64 + 8; 68 = 64 + 4),
 * and the AVX-512 op's 16-dim ones (64; 144 = 2 x 64 + 16; the others go
 * to its AVX2 fallback); without soft-capping and with a cap (1.5) that the
 * scores of q in [-3, 3] reach (Gemma 2's 50 would leave them almost as they are). */
ED_TEST(attention_matches_ref)
{
    enum { N_HEAD = 6, N_KV_HEAD = 2, MAX_DIM = 144, MAX_KV = 75 };
    static uint16_t k[MAX_KV * (N_KV_HEAD * MAX_DIM + 4)], v[MAX_KV * (N_KV_HEAD * MAX_DIM + 4)];
    static float q[N_HEAD * MAX_DIM], scratch[MAX_KV];
    static const int n_kvs[] = {1, 2, 9, 33, 75}, head_dims[] = {68, 136, 64, 144};
    static const float softcaps[] = {0, 1.5f};
    FOR_EACH_ARCH("attention_forward", 1e-5, {
        for (size_t d = 0; d < 2 * sizeof head_dims / sizeof head_dims[0]; d++)
            for (size_t i = 0; i < sizeof n_kvs / sizeof n_kvs[0]; i++) {
                int head_dim = head_dims[d / 2];
                ed_attention_t shape = {N_HEAD, N_KV_HEAD, head_dim, n_kvs[i], (size_t)N_KV_HEAD * head_dim + 4,
                                        1.0f / sqrtf((float)head_dim), softcaps[d % 2]};
                fill_f16(k, (int)(sizeof k / sizeof k[0]));
                fill_f16(v, (int)(sizeof v / sizeof v[0]));
                fill(q, N_HEAD * head_dim, -3, 3);
                memset(out_a, 0, sizeof(float) * N_HEAD * head_dim);
                memset(out_r, 0, sizeof(float) * N_HEAD * head_dim);
                arch->attention_forward(out_a, q, k, v, &shape, 1, N_HEAD, scratch);
                ref->attention_forward(out_r, q, k, v, &shape, 1, N_HEAD, scratch);
                keep_max(&maxdiff, rel_diff(out_a, out_r, N_HEAD * head_dim));
                for (int j = 0; j < head_dim; j++) /* head 0 was outside the range */
                    ED_CHECK(out_a[j] == 0.0f && out_r[j] == 0.0f);
            }
    });
}

ED_TEST(argmax_matches_ref)
{
    FOR_EACH_ARCH("argmax", 0, {
        for (int s = 0; s < N_SIZES; s++) {
            int n = sizes[s];
            fill(buf_x, n, -5, 5);
            if (n > 4) /* a tie: the first index wins */
                buf_x[n - 1] = buf_x[n / 3] = 6.0f;
            int a = arch->argmax(buf_x, n), r = ref->argmax(buf_x, n);
            keep_max(&maxdiff, (float)abs(a - r));
            ED_CHECK_INT(a, r);
        }
    });
}

ED_TEST(l2_normalize_matches_ref)
{
    FOR_EACH_ARCH("l2_normalize", 1e-6, {
        for (int s = 0; s < N_SIZES; s++) {
            int n = sizes[s];
            fill(out_a, n, -4, 4);
            memcpy(out_r, out_a, sizeof(float) * (size_t)n);
            arch->l2_normalize(out_a, n);
            ref->l2_normalize(out_r, n);
            keep_max(&maxdiff, rel_diff(out_a, out_r, n));
        }
        memset(out_a, 0, sizeof(float) * 100);
        arch->l2_normalize(out_a, 100);
        for (int i = 0; i < 100; i++)
            ED_CHECK(out_a[i] == 0.0f);
    });
}

/* ---- properties of the reference (the specification itself) ---- */

/* The reference is the normalisation the embedders wrote by hand before it
 * became an op (double sum, float scale): bit for bit, unit norm, and a zero
 * vector stays zero. */
ED_TEST(ref_l2_normalize_is_unit_norm)
{
    const ed_kernels_t *ref = ref_table();
    for (int s = 0; s < N_SIZES; s++) {
        int n = sizes[s];
        fill(buf_x, n, -3, 3);
        double norm = 0;
        for (int i = 0; i < n; i++)
            norm += (double)buf_x[i] * buf_x[i];
        float scale = norm > 0 ? (float)(1.0 / sqrt(norm)) : 0.0f;
        for (int i = 0; i < n; i++)
            out_r[i] = buf_x[i] * scale;
        memcpy(out_a, buf_x, sizeof(float) * (size_t)n);
        ref->l2_normalize(out_a, n);
        ED_CHECK(memcmp(out_a, out_r, sizeof(float) * (size_t)n) == 0);
        double unit = 0;
        for (int i = 0; i < n; i++)
            unit += (double)out_a[i] * out_a[i];
        ED_CHECK_NEAR(unit, 1.0, 1e-6);
    }
    float zero[5] = {0};
    ref->l2_normalize(zero, 5);
    for (int i = 0; i < 5; i++)
        ED_CHECK(zero[i] == 0.0f);
}

ED_TEST(ref_rope_rotates_pairs)
{
    const ed_kernels_t *ref = ref_table();
    float x[8] = {1, 0, 0, 1, 1, 2, 3, 4}, y[8];
    ed_rope_t rope = {.n_rot = 4, .neox = 0, .freq_base = 10000, .freq_scale = 1};
    memcpy(y, x, sizeof x);
    ref->rope_forward(y, 1, 8, 0, &rope); /* position 0: identity */
    for (int i = 0; i < 8; i++)
        ED_CHECK_NEAR(y[i], x[i], 0);
    ref->rope_forward(y, 1, 8, 1, &rope); /* pair 0 turns by 1 rad, pair 1 by 0.01 rad */
    ED_CHECK_NEAR(y[0], cosf(1), 1e-6);
    ED_CHECK_NEAR(y[1], sinf(1), 1e-6);
    ED_CHECK_NEAR(y[2], -sinf(0.01f), 1e-6);
    ED_CHECK_NEAR(y[3], cosf(0.01f), 1e-6);
    for (int i = 4; i < 8; i++) /* beyond n_rot: untouched */
        ED_CHECK_NEAR(y[i], x[i], 0);
    /* NeoX pairs (i, i + n_rot/2) = normal pairs after interleaving */
    float neox[4] = {1, 0, 0, 1}, normal[4] = {1, 0, 0, 1};
    ed_rope_t rope_neox = rope;
    rope_neox.neox = 1;
    ref->rope_forward(neox, 1, 4, 3, &rope_neox);
    ref->rope_forward(normal, 1, 4, 3, &rope);
    ED_CHECK_NEAR(neox[0], normal[0], 1e-6);
    ED_CHECK_NEAR(neox[2], normal[1], 1e-6);
    ED_CHECK_NEAR(neox[1], normal[2], 1e-6);
    ED_CHECK_NEAR(neox[3], normal[3], 1e-6);
    /* linear scaling 0.5 at position 2 = no scaling at position 1; factor 2 likewise */
    float scaled[4] = {1, 0, 1, 0}, plain[4] = {1, 0, 1, 0}, factored[4] = {1, 0, 1, 0};
    const float factors[2] = {2, 2};
    ed_rope_t half = rope, with_factors = rope;
    half.freq_scale = 0.5f;
    with_factors.freq_factors = factors;
    ref->rope_forward(scaled, 1, 4, 2, &half);
    ref->rope_forward(plain, 1, 4, 1, &rope);
    ref->rope_forward(factored, 1, 4, 2, &with_factors);
    for (int i = 0; i < 4; i++) {
        ED_CHECK_NEAR(scaled[i], plain[i], 1e-6);
        ED_CHECK_NEAR(factored[i], plain[i], 1e-6);
    }
}

/* The decode loop computes a position's angles once for every layer: the
 * rotation by them is rope_forward's, bit for bit, for rotations longer
 * than the slice rope_forward holds at a time too. */
ED_TEST(rope_rotate_by_precomputed_angles_is_rope_forward)
{
    const ed_kernels_t *ref = ref_table();
    static float x[3 * 320], by_pos[3 * 320], by_angles[3 * 320], cos_sin[320];
    for (int variant = 0; variant < 3; variant++) {
        ed_rope_t rope = {.n_rot = variant == 2 ? 320 : 64, .neox = variant == 1, .freq_base = 1e4f,
                          .freq_scale = 1};
        int head_dim = variant == 2 ? 320 : 96;
        for (int pos = 0; pos < 5000; pos += 811) {
            fill(x, 3 * head_dim, -2, 2);
            memcpy(by_pos, x, sizeof(float) * 3 * (size_t)head_dim);
            memcpy(by_angles, x, sizeof(float) * 3 * (size_t)head_dim);
            ref->rope_forward(by_pos, 3, head_dim, pos, &rope);
            ed_rope_cos_sin(&rope, pos, cos_sin);
            for (const char *const *name = ed_kernels_names(); *name; name++) {
                const ed_kernels_t *k = ed_kernels_by_name(*name);
                if (!k)
                    continue;
                memcpy(by_angles, x, sizeof(float) * 3 * (size_t)head_dim);
                k->rope_rotate(by_angles, 3, head_dim, cos_sin, &rope);
                ED_CHECK(memcmp(by_angles, by_pos, sizeof(float) * 3 * (size_t)head_dim) == 0);
            }
        }
    }
}

ED_TEST(ref_softmax_masks_and_normalises)
{
    const ed_kernels_t *ref = ref_table();
    float x[5] = {1, 2, 3, 100, -7};
    ref->softmax_forward(x, 5, 0.5f, 3);
    float e0 = expf(-1.0f), e1 = expf(-0.5f), sum = e0 + e1 + 1;
    ED_CHECK_NEAR(x[0], e0 / sum, 1e-7);
    ED_CHECK_NEAR(x[1], e1 / sum, 1e-7);
    ED_CHECK_NEAR(x[2], 1 / sum, 1e-7);
    ED_CHECK(x[3] == 0 && x[4] == 0);
}

ED_TEST(ref_norms_and_activations)
{
    const ed_kernels_t *ref = ref_table();
    float x[4] = {1, -2, 3, -4}, w[4] = {1, 1, 2, 1}, b[4] = {0, 0, 0, 1}, y[4];
    ref->rmsnorm_forward(y, x, w, 4, 0);
    float rms = sqrtf(30.0f / 4);
    ED_CHECK_NEAR(y[2], 6 / rms, 1e-6);
    ref->layernorm_forward(y, x, w, b, 4, 0);
    float mean = -0.5f, sd = sqrtf((2.25f + 2.25f + 12.25f + 12.25f) / 4);
    ED_CHECK_NEAR(y[0], 1.5f / sd, 1e-6);
    ED_CHECK_NEAR(y[3], (-4 - mean) / sd + 1, 1e-6);
    float g[2] = {0, 20}, up[2] = {5, 2}, out[2];
    ref->swiglu_forward(out, g, up, 2);
    ED_CHECK_NEAR(out[0], 0, 0);
    ED_CHECK_NEAR(out[1], 40, 1e-5);
    float gx[2] = {1, -1}, gy[2];
    ref->gelu_forward(gy, gx, 2);
    ED_CHECK_NEAR(gy[0], 0.841192f, 1e-5); /* the tanh form at 1 */
    ED_CHECK_NEAR(gy[1], -0.158808f, 1e-5);
}

ED_TEST(ref_attention_groups_heads)
{
    /* 2 query heads over 1 KV head = each over its own copy of that head */
    const ed_kernels_t *ref = ref_table();
    enum { D = 4, T = 3 };
    uint16_t k1[T * D], v1[T * D], k2[T * 2 * D], v2[T * 2 * D];
    float q[2 * D], out_shared[2 * D], out_copied[2 * D], scratch[T];
    rng_seed(7);
    fill_f16(k1, T * D);
    fill_f16(v1, T * D);
    fill(q, 2 * D, -2, 2);
    for (int t = 0; t < T; t++)
        for (int h = 0; h < 2; h++) {
            memcpy(k2 + (t * 2 + h) * D, k1 + t * D, sizeof(uint16_t) * D);
            memcpy(v2 + (t * 2 + h) * D, v1 + t * D, sizeof(uint16_t) * D);
        }
    ed_attention_t shared = {2, 1, D, T, D, 0.5f, 0}, copied = {2, 2, D, T, 2 * D, 0.5f, 0};
    ref->attention_forward(out_shared, q, k1, v1, &shared, 0, 2, scratch);
    ref->attention_forward(out_copied, q, k2, v2, &copied, 0, 2, scratch);
    for (int i = 0; i < 2 * D; i++)
        ED_CHECK_NEAR(out_shared[i], out_copied[i], 1e-7);
    /* one position: the output is that position's value */
    ed_attention_t one = {2, 1, D, 1, D, 0.5f, 0};
    ref->attention_forward(out_shared, q, k1, v1, &one, 0, 2, scratch);
    for (int i = 0; i < D; i++)
        ED_CHECK_NEAR(out_shared[D + i], ed_fp16_to_fp32(v1[i]), 1e-7);
}

ED_TEST(select_honours_force_and_environment)
{
    const ed_kernels_t *forced = ed_kernels_select("ref");
    ED_REQUIRE(forced != NULL);
    ED_CHECK_STR(forced->name, "ref");
    ED_CHECK(ed_kernels_select("no-such-isa") == NULL);
    const ed_kernels_t *best = ed_kernels_select(NULL);
    ED_REQUIRE(best != NULL);
    printf("# selected table: %s\n", best->name);
    setenv("EDGED_KERNELS", "ref", 1);
    ED_CHECK(ed_kernels_select(NULL) == forced);
    ED_CHECK(ed_kernels_select("") == forced);
    for (const char *const *name = ed_kernels_names(); *name; name++) {
        const ed_kernels_t *k = ed_kernels_by_name(*name);
        if (!k)
            continue;
        ED_CHECK_STR(k->name, *name);
        ED_CHECK(k->rmsnorm_forward && k->layernorm_forward && k->rope_forward && k->rope_rotate &&
                 k->softmax_forward && k->silu_forward && k->gelu_forward && k->swiglu_forward &&
                 k->add && k->mul && k->get_row && k->attention_forward && k->argmax && k->l2_normalize);
        ED_CHECK(k->vec_dot[ED_TYPE_Q4_0] && k->vec_dot[ED_TYPE_Q8_0] && k->vec_dot[ED_TYPE_Q4_K]);
    }
}

ED_TEST_MAIN(rmsnorm_matches_ref, rope_rotate_by_precomputed_angles_is_rope_forward, layernorm_matches_ref, softmax_matches_ref, activations_match_ref,
             add_mul_match_ref, rope_matches_ref, get_row_matches_ref, attention_matches_ref,
             argmax_matches_ref, l2_normalize_matches_ref, ref_l2_normalize_is_unit_norm, ref_rope_rotates_pairs, ref_softmax_masks_and_normalises,
             ref_norms_and_activations, ref_attention_groups_heads,
             select_honours_force_and_environment)
