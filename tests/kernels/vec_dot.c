/* vec_dot.c - every dot-product table entry of every ISA the running CPU has
 * (x86: AVX2, AVX-512 VNNI; aarch64: NEON, NEON dotprod) against the scalar
 * reference on seeded random data, for many lengths including odd block
 * counts. Prints `# <isa> <type> maxdiff=<x>` per pair (relative to the sum
 * of |w*a|, the scale of the rounding error). */
#include "kernels/quant.h"
#include "tests/test.h"

#if defined(__x86_64__)
#include <cpuid.h>
#endif
#if defined(__aarch64__)
#include <asm/hwcap.h>
#include <sys/auxv.h>
#endif

static uint64_t rng_state;

static float rng_uniform(void) /* [-1, 1) */
{
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)((rng_state >> 40) & 0xFFFFFF) / (float)(1 << 23) - 1.0f;
}

static const int weight_types[] = {
    ED_TYPE_F32, ED_TYPE_F16, ED_TYPE_BF16, ED_TYPE_Q4_0, ED_TYPE_Q4_1, ED_TYPE_Q5_0, ED_TYPE_Q5_1,
    ED_TYPE_Q8_0, ED_TYPE_Q2_K, ED_TYPE_Q3_K, ED_TYPE_Q4_K, ED_TYPE_Q5_K, ED_TYPE_Q6_K,
    ED_TYPE_Q6_K_R8, /* the reference in every table: its SIMD kernels are the batch products (matmul.c) */
};
enum { N_TYPES = sizeof weight_types / sizeof weight_types[0] };

/* Relative tolerance of an ISA against the reference: both sum the same
 * integers, so only the float accumulation order may differ. */
#define ISA_TOLERANCE 1e-6

/* Relative tolerance of the reference against the float dot of the
 * dequantized rows: q4_1/q5_1 take the activation sum from Q8_1's fp16 field
 * s = fp16(d * sum(q)), whose rounding (2^-11) enters the min term. */
static double dequantized_tolerance(int type)
{
    return type == ED_TYPE_Q4_1 || type == ED_TYPE_Q5_1 ? 1e-3 : 1e-6;
}

typedef struct {
    const char *name;
    void (*fill)(ed_vec_dot_fn table[ED_TYPE_COUNT]);
    void (*base)(ed_vec_dot_fn table[ED_TYPE_COUNT]); /* layered on this one, as dispatch does; or NULL */
} isa_t;

static int cpu_has(const char *isa)
{
#if defined(__x86_64__)
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return 0;
    int fma = (c >> 12) & 1, f16c = (c >> 29) & 1, osxsave = (c >> 27) & 1;
    if (!osxsave || !__get_cpuid_count(7, 0, &a, &b, &c, &d))
        return 0;
    unsigned xcr0_low, xcr0_high;
    __asm__("xgetbv" : "=a"(xcr0_low), "=d"(xcr0_high) : "c"(0));
    int ymm = (xcr0_low & 6) == 6, zmm = (xcr0_low & 0xE6) == 0xE6;
    int avx2 = (b >> 5) & 1;
    int avx512 = ((b >> 16) & 1) && ((b >> 17) & 1) && ((b >> 30) & 1) && ((b >> 31) & 1) &&
                 ((c >> 11) & 1); /* F, DQ, BW, VL, VNNI */
    if (strcmp(isa, "avx2") == 0)
        return ymm && avx2 && fma && f16c;
    if (strcmp(isa, "avx512") == 0)
        return ymm && zmm && avx2 && fma && f16c && avx512;
    return 0;
#elif defined(__aarch64__)
    unsigned long hwcap = getauxval(AT_HWCAP);
    if (strcmp(isa, "neon") == 0)
        return (hwcap & HWCAP_ASIMD) != 0;
    if (strcmp(isa, "neon_dotprod") == 0)
        return (hwcap & HWCAP_ASIMD) && (hwcap & HWCAP_ASIMDDP) && (hwcap & HWCAP_FPHP) &&
               (hwcap & HWCAP_ASIMDHP);
    return 0;
#else
    (void)isa;
    return 0;
#endif
}

static const isa_t isas[] = {
#if defined(__x86_64__)
    {"avx2", ed_vec_dot_table_avx2, NULL},
    {"avx512", ed_vec_dot_table_avx512, ed_vec_dot_table_avx2},
#endif
#if defined(__aarch64__)
    {"neon", ed_vec_dot_table_neon, NULL},
    {"neon_dotprod", ed_vec_dot_table_neon_dotprod, ed_vec_dot_table_neon},
#endif
};
enum { N_ISAS = sizeof isas / sizeof isas[0] };

/* Fills w (in `type`) and a (in its vec_dot_type) from seeded data with a
 * few large outliers; returns the sum of |w_i * a_i| from the dequantized rows. */
static double make_rows(int type, int n, void *w, void *a, float *scratch_w, float *scratch_a)
{
    const ed_quant_traits_t *wt = ed_quant_traits(type);
    const ed_quant_traits_t *at = ed_quant_traits(wt->vec_dot_type);
    for (int i = 0; i < n; i++) {
        scratch_w[i] = rng_uniform() * (i % 97 == 5 ? 8.0f : 1.0f);
        scratch_a[i] = rng_uniform() * (i % 61 == 3 ? 10.0f : 1.0f);
    }
    wt->from_float(scratch_w, w, n);
    at->from_float(scratch_a, a, n);
    wt->to_float(w, scratch_w, n);
    at->to_float(a, scratch_a, n);
    double magnitude = 0.0;
    for (int i = 0; i < n; i++)
        magnitude += fabs((double)scratch_w[i] * scratch_a[i]);
    return magnitude;
}

ED_TEST(reference_matches_dequantized_dot)
{
    /* the reference integer dot equals the float dot of the dequantized rows */
    ed_vec_dot_fn ref[ED_TYPE_COUNT] = {0};
    ed_vec_dot_table_ref(ref);
    enum { N = 1024 };
    static float wf[N], af[N];
    static uint8_t w[N * 4], a[N * 4];
    rng_state = 42;
    for (int t = 0; t < N_TYPES; t++) {
        int type = weight_types[t];
        ED_CHECK(ref[type] != NULL);
        if (!ref[type])
            continue;
        double magnitude = make_rows(type, N, w, a, wf, af);
        double expected = 0.0;
        for (int i = 0; i < N; i++)
            expected += (double)wf[i] * af[i];
        float got;
        ref[type](N, &got, w, a);
        double diff = fabs(got - expected) / magnitude;
        printf("# ref %s vs dequantized maxdiff=%.3g\n", ed_type_info(type)->name, diff);
        ED_CHECK(diff <= dequantized_tolerance(type));
    }
}

ED_TEST(isa_matches_reference)
{
    ed_vec_dot_fn ref[ED_TYPE_COUNT] = {0};
    ed_vec_dot_table_ref(ref);
    static const int lengths_in_blocks[] = {1, 2, 3, 5, 7, 8, 16, 17, 31, 64};
    enum { MAX_N = 64 * ED_QK_K + 13 };
    static float wf[MAX_N], af[MAX_N];
    static uint8_t w[MAX_N * 4], a[MAX_N * 4];
    int tested = 0;
    for (int k = 0; k < N_ISAS; k++) {
        if (!cpu_has(isas[k].name)) {
            printf("# %s: not on this CPU, skipped\n", isas[k].name);
            continue;
        }
        ed_vec_dot_fn table[ED_TYPE_COUNT];
        memcpy(table, ref, sizeof table);
        if (isas[k].base)
            isas[k].base(table);
        isas[k].fill(table);
        for (int t = 0; t < N_TYPES; t++) {
            int type = weight_types[t];
            int block_len = (int)ed_type_info(type)->block_len;
            /* the float formats take any length: add a ragged tail */
            int tail = block_len == 1 ? 13 : 0;
            double max_diff = 0.0;
            rng_state = 1234 + (uint64_t)type;
            for (size_t l = 0; l < sizeof lengths_in_blocks / sizeof lengths_in_blocks[0]; l++) {
                int blocks = lengths_in_blocks[l];
                int n = blocks * (block_len == 1 ? 32 : block_len) + tail;
                double magnitude = make_rows(type, n, w, a, wf, af);
                float want, got;
                ref[type](n, &want, w, a);
                table[type](n, &got, w, a);
                double diff = fabs((double)got - want) / (magnitude > 0 ? magnitude : 1.0);
                if (diff > max_diff)
                    max_diff = diff;
            }
            printf("# %s %s maxdiff=%.3g%s\n", isas[k].name, ed_type_info(type)->name, max_diff,
                   table[type] == ref[type] ? " (reference)" : "");
            ED_CHECK(max_diff <= ISA_TOLERANCE);
            tested++;
        }
    }
    printf("# %d ISA/type pairs tested\n", tested);
}

ED_TEST(all_zero_rows_give_zero)
{
    ed_vec_dot_fn ref[ED_TYPE_COUNT] = {0};
    ed_vec_dot_table_ref(ref);
    static uint8_t w[ED_QK_K * 8 * 4], a[ED_QK_K * 8 * 4];
    static float zeros[ED_QK_K * 8];
    for (int k = -1; k < N_ISAS; k++) {
        if (k >= 0 && !cpu_has(isas[k].name))
            continue;
        ed_vec_dot_fn table[ED_TYPE_COUNT];
        memcpy(table, ref, sizeof table);
        if (k >= 0 && isas[k].base)
            isas[k].base(table);
        if (k >= 0)
            isas[k].fill(table);
        for (int t = 0; t < N_TYPES; t++) {
            int type = weight_types[t];
            const ed_quant_traits_t *wt = ed_quant_traits(type);
            wt->from_float(zeros, w, ED_QK_K * 8);
            ed_quant_traits(wt->vec_dot_type)->from_float(zeros, a, ED_QK_K * 8);
            float got = 1.0f;
            table[type](ED_QK_K * 8, &got, w, a);
            ED_CHECK(got == 0.0f);
        }
    }
}

ED_TEST_MAIN(reference_matches_dequantized_dot, isa_matches_reference, all_zero_rows_give_zero)
