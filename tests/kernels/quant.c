/* quant.c - tests of kernels/quant.c: fp16/bf16 conversion edge cases, block
 * sizes against types.c, and quantize-then-dequantize round trips of every
 * format on seeded data, each within a per-format RMS bound. (Bit-exactness
 * against the reference's vectors is tests/model/quant_vectors.c.) */
#include "kernels/quant.h"
#include "kernels/repack.h" /* ed_block_q6_K_r8_t */
#include "tests/test.h"

#include <stdint.h>

static uint32_t bits_of(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float float_of(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

ED_TEST(fp16_exact_values)
{
    ED_CHECK_INT(ed_fp32_to_fp16(0.0f), 0x0000);
    ED_CHECK_INT(ed_fp32_to_fp16(-0.0f), 0x8000);
    ED_CHECK_INT(ed_fp32_to_fp16(1.0f), 0x3C00);
    ED_CHECK_INT(ed_fp32_to_fp16(-2.0f), 0xC000);
    ED_CHECK_INT(ed_fp32_to_fp16(65504.0f), 0x7BFF);
    ED_CHECK_INT(ed_fp32_to_fp16(0x1p-14f), 0x0400);   /* smallest normal */
    ED_CHECK_INT(ed_fp32_to_fp16(0x1p-24f), 0x0001);   /* smallest subnormal */
    ED_CHECK_INT(ed_fp32_to_fp16(0x3FFp-24f), 0x03FF); /* largest subnormal */
    ED_CHECK(ed_fp16_to_fp32(0x3C00) == 1.0f);
    ED_CHECK(ed_fp16_to_fp32(0x7BFF) == 65504.0f);
    ED_CHECK(ed_fp16_to_fp32(0x0001) == 0x1p-24f);
    ED_CHECK(ed_fp16_to_fp32(0x83FF) == -0x3FFp-24f);
    ED_CHECK_INT(bits_of(ed_fp16_to_fp32(0x8000)), 0x80000000u);
}

ED_TEST(fp16_inf_nan_overflow)
{
    ED_CHECK_INT(ed_fp32_to_fp16(INFINITY), 0x7C00);
    ED_CHECK_INT(ed_fp32_to_fp16(-INFINITY), 0xFC00);
    ED_CHECK_INT(ed_fp32_to_fp16(1e6f), 0x7C00);
    ED_CHECK_INT(ed_fp32_to_fp16(65519.0f), 0x7BFF); /* below the halfway point */
    ED_CHECK_INT(ed_fp32_to_fp16(65520.0f), 0x7C00); /* halfway: ties to even = inf */
    ED_CHECK(isinf(ed_fp16_to_fp32(0x7C00)) && ed_fp16_to_fp32(0x7C00) > 0);
    ED_CHECK(isinf(ed_fp16_to_fp32(0xFC00)) && ed_fp16_to_fp32(0xFC00) < 0);
    uint16_t nan = ed_fp32_to_fp16(NAN);
    ED_CHECK((nan & 0x7C00) == 0x7C00 && (nan & 0x3FF) != 0);
    /* a NaN whose payload sits only in the low bits stays a NaN */
    uint16_t low_nan = ed_fp32_to_fp16(float_of(0x7F800001));
    ED_CHECK((low_nan & 0x7C00) == 0x7C00 && (low_nan & 0x3FF) != 0);
    ED_CHECK(isnan(ed_fp16_to_fp32(0x7E00)));
}

ED_TEST(fp16_rounds_to_nearest_even)
{
    /* 1 + 2^-11 is halfway between 1 and 1 + 2^-10: ties to even (1) */
    ED_CHECK_INT(ed_fp32_to_fp16(1.0f + 0x1p-11f), 0x3C00);
    /* 1 + 3*2^-11 is halfway between 1+2^-10 (odd) and 1+2^-9: goes up */
    ED_CHECK_INT(ed_fp32_to_fp16(1.0f + 3 * 0x1p-11f), 0x3C02);
    /* just above halfway goes up */
    ED_CHECK_INT(ed_fp32_to_fp16(1.0f + 0x1p-11f + 0x1p-20f), 0x3C01);
    /* subnormal ties: 2.5 * 2^-24 -> 2, 3.5 * 2^-24 -> 4, 0.5 * 2^-24 -> 0 */
    ED_CHECK_INT(ed_fp32_to_fp16(2.5f * 0x1p-24f), 0x0002);
    ED_CHECK_INT(ed_fp32_to_fp16(3.5f * 0x1p-24f), 0x0004);
    ED_CHECK_INT(ed_fp32_to_fp16(0.5f * 0x1p-24f), 0x0000);
    ED_CHECK_INT(ed_fp32_to_fp16(0.51f * 0x1p-24f), 0x0001);
    ED_CHECK_INT(ed_fp32_to_fp16(1e-30f), 0x0000);
    /* rounding up out of the subnormals gives the smallest normal */
    ED_CHECK_INT(ed_fp32_to_fp16(0x7FF8p-29f), 0x0400);
    /* every half survives a round trip through f32 */
    int failures = 0;
    for (uint32_t h = 0; h < 0x10000; h++) {
        float f = ed_fp16_to_fp32((uint16_t)h);
        if (isnan(f))
            continue;
        failures += ed_fp32_to_fp16(f) != h;
    }
    ED_CHECK_INT(failures, 0);
    /* and every f32 midpoint between neighbouring halves rounds to the even one */
    int midpoint_failures = 0;
    for (uint32_t h = 0; h < 0x7BFF; h++) {
        double mid = ((double)ed_fp16_to_fp32((uint16_t)h) + ed_fp16_to_fp32((uint16_t)(h + 1))) / 2;
        uint16_t want = (h & 1) ? (uint16_t)(h + 1) : (uint16_t)h;
        midpoint_failures += ed_fp32_to_fp16((float)mid) != want;
    }
    ED_CHECK_INT(midpoint_failures, 0);
}

ED_TEST(bf16_conversion)
{
    ED_CHECK_INT(ed_fp32_to_bf16(1.0f), 0x3F80);
    ED_CHECK_INT(ed_fp32_to_bf16(-0.0f), 0x8000);
    ED_CHECK_INT(ed_fp32_to_bf16(INFINITY), 0x7F80);
    ED_CHECK_INT(ed_fp32_to_bf16(-INFINITY), 0xFF80);
    ED_CHECK(ed_bf16_to_fp32(0x3F80) == 1.0f);
    /* ties to even: 1 + 2^-8 is halfway between 1 and 1 + 2^-7 */
    ED_CHECK_INT(ed_fp32_to_bf16(1.0f + 0x1p-8f), 0x3F80);
    ED_CHECK_INT(ed_fp32_to_bf16(1.0f + 3 * 0x1p-8f), 0x3F82);
    ED_CHECK_INT(ed_fp32_to_bf16(1.0f + 0x1p-8f + 0x1p-20f), 0x3F81);
    /* the largest finite f32 rounds to inf; subnormals keep their top bits */
    ED_CHECK_INT(ed_fp32_to_bf16(float_of(0x7F7FFFFF)), 0x7F80);
    ED_CHECK_INT(ed_fp32_to_bf16(float_of(0x00010000)), 0x0001);
    uint16_t nan = ed_fp32_to_bf16(float_of(0x7F800001));
    ED_CHECK(isnan(ed_bf16_to_fp32(nan)));
    ED_CHECK(isnan(ed_bf16_to_fp32(ed_fp32_to_bf16(NAN))));
}

ED_TEST(block_sizes_match_types)
{
    static const struct {
        int type;
        size_t size;
    } blocks[] = {
        {ED_TYPE_Q4_0, sizeof(ed_block_q4_0_t)}, {ED_TYPE_Q4_1, sizeof(ed_block_q4_1_t)},
        {ED_TYPE_Q5_0, sizeof(ed_block_q5_0_t)}, {ED_TYPE_Q5_1, sizeof(ed_block_q5_1_t)},
        {ED_TYPE_Q8_0, sizeof(ed_block_q8_0_t)}, {ED_TYPE_Q8_1, sizeof(ed_block_q8_1_t)},
        {ED_TYPE_Q2_K, sizeof(ed_block_q2_K_t)}, {ED_TYPE_Q3_K, sizeof(ed_block_q3_K_t)},
        {ED_TYPE_Q4_K, sizeof(ed_block_q4_K_t)}, {ED_TYPE_Q5_K, sizeof(ed_block_q5_K_t)},
        {ED_TYPE_Q6_K, sizeof(ed_block_q6_K_t)}, {ED_TYPE_Q8_K, sizeof(ed_block_q8_K_t)},
        {ED_TYPE_Q6_K_R8, sizeof(ed_block_q6_K_r8_t)},
    };
    for (size_t i = 0; i < sizeof blocks / sizeof blocks[0]; i++) {
        const ed_type_info_t *info = ed_type_info(blocks[i].type);
        ED_REQUIRE(info);
        ED_CHECK_INT(blocks[i].size, info->block_size);
    }
    ED_CHECK(ed_quant_traits(ED_TYPE_I8) == NULL);
    ED_CHECK(ed_quant_traits(4) == NULL);
    ED_CHECK(ed_quant_traits(-1) == NULL);
    ED_CHECK(ed_quant_traits(ED_TYPE_COUNT) == NULL);
    ED_CHECK_INT(ed_quant_traits(ED_TYPE_Q4_0)->vec_dot_type, ED_TYPE_Q8_0);
    ED_CHECK_INT(ed_quant_traits(ED_TYPE_Q5_0)->vec_dot_type, ED_TYPE_Q8_0);
    ED_CHECK_INT(ed_quant_traits(ED_TYPE_Q8_0)->vec_dot_type, ED_TYPE_Q8_0);
    ED_CHECK_INT(ed_quant_traits(ED_TYPE_Q4_1)->vec_dot_type, ED_TYPE_Q8_1);
    ED_CHECK_INT(ed_quant_traits(ED_TYPE_Q5_1)->vec_dot_type, ED_TYPE_Q8_1);
    ED_CHECK_INT(ed_quant_traits(ED_TYPE_Q4_K)->vec_dot_type, ED_TYPE_Q8_K);
    ED_CHECK_INT(ed_quant_traits(ED_TYPE_Q6_K)->vec_dot_type, ED_TYPE_Q8_K);
    ED_CHECK_INT(ed_quant_traits(ED_TYPE_Q6_K_R8)->vec_dot_type, ED_TYPE_Q8_K_X8);
    ED_CHECK_INT(ed_quant_traits(ED_TYPE_F16)->vec_dot_type, ED_TYPE_F32);
    ED_CHECK_INT(ed_quant_traits(ED_TYPE_BF16)->vec_dot_type, ED_TYPE_F32);
}

static uint64_t rng_state;

static float rng_gaussian(void)
{
    float sum = 0.0f; /* Irwin-Hall: good enough for a bell shape */
    for (int k = 0; k < 4; k++) {
        rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
        sum += (float)((rng_state >> 40) & 0xFFFFFF) / (float)(1 << 24);
    }
    return (sum - 2.0f) * 1.7320508f;
}

/* RMS error of a round trip over n samples of roughly unit variance, as a
 * fraction of the data's RMS. Bounds: a b-bit format's uniform error is
 * about range / 2^b / sqrt(12); these sit 10-30% above what the quantizers reach (q8_K has one scale per 256). */
ED_TEST(round_trips_within_bounds)
{
    static const struct {
        int type;
        double bound;
    } formats[] = {
        {ED_TYPE_F32, 0.0},     {ED_TYPE_F16, 0.0004},  {ED_TYPE_BF16, 0.003},
        {ED_TYPE_Q8_0, 0.006},  {ED_TYPE_Q8_1, 0.006},  {ED_TYPE_Q8_K, 0.009},
        {ED_TYPE_Q6_K, 0.02},   {ED_TYPE_Q6_K_R8, 0.02}, {ED_TYPE_Q5_1, 0.04},   {ED_TYPE_Q5_0, 0.045},
        {ED_TYPE_Q5_K, 0.042},  {ED_TYPE_Q4_1, 0.08},   {ED_TYPE_Q4_0, 0.095},
        {ED_TYPE_Q4_K, 0.085},  {ED_TYPE_Q3_K, 0.17},   {ED_TYPE_Q2_K, 0.3},
    };
    enum { N = 16 * ED_QK_K };
    static float source[N], back[N];
    static uint8_t blocks[N * sizeof(float)];
    for (size_t f = 0; f < sizeof formats / sizeof formats[0]; f++) {
        int type = formats[f].type;
        const ed_quant_traits_t *traits = ed_quant_traits(type);
        ED_REQUIRE(traits);
        rng_state = 7 + (uint64_t)type;
        double energy = 0.0;
        for (int i = 0; i < N; i++) {
            /* vary the magnitude per 64 elements, as real weight rows do */
            source[i] = rng_gaussian() * (0.02f + 0.01f * (float)((i / 64) % 5));
            energy += (double)source[i] * source[i];
        }
        traits->from_float(source, blocks, N);
        traits->to_float(blocks, back, N);
        double error = 0.0;
        for (int i = 0; i < N; i++)
            error += ((double)back[i] - source[i]) * ((double)back[i] - source[i]);
        double relative = sqrt(error / energy);
        printf("# %s: relative rms error %.5f (bound %.5f)\n", ed_type_info(type)->name, relative,
               formats[f].bound);
        ED_CHECK(relative <= formats[f].bound);
    }
}

ED_TEST(zeros_and_constants_survive)
{
    /* all-zero blocks must give exact zeros; a constant block must come back
     * close (the min formats exactly up to fp16 rounding of the min) */
    static const int types[] = {ED_TYPE_Q4_0, ED_TYPE_Q4_1, ED_TYPE_Q5_0, ED_TYPE_Q5_1, ED_TYPE_Q8_0,
                                ED_TYPE_Q2_K, ED_TYPE_Q3_K, ED_TYPE_Q4_K, ED_TYPE_Q5_K, ED_TYPE_Q6_K,
                                ED_TYPE_Q8_K, ED_TYPE_Q6_K_R8};
    enum { N = 2 * ED_QK_K };
    static float source[N], back[N];
    static uint8_t blocks[N * sizeof(float)];
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        const ed_quant_traits_t *traits = ed_quant_traits(types[t]);
        memset(source, 0, sizeof source);
        traits->from_float(source, blocks, N);
        traits->to_float(blocks, back, N);
        int nonzero = 0;
        for (int i = 0; i < N; i++)
            nonzero += back[i] != 0.0f;
        ED_CHECK_INT(nonzero, 0);
        for (int i = 0; i < N; i++)
            source[i] = -0.75f;
        traits->from_float(source, blocks, N);
        traits->to_float(blocks, back, N);
        double worst = 0.0;
        for (int i = 0; i < N; i++)
            worst = fmax(worst, fabs((double)back[i] - source[i]));
        if (worst > 0.01)
            printf("# %s: constant block off by %g\n", ed_type_info(types[t])->name, worst);
        ED_CHECK(worst <= 0.01);
    }
}

ED_TEST_MAIN(fp16_exact_values, fp16_inf_nan_overflow, fp16_rounds_to_nearest_even, bf16_conversion,
             block_sizes_match_types, round_trips_within_bounds, zeros_and_constants_survive)
