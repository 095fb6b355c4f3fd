/* tests/bench/int8_peak.h - the machine's int8 dot-product peak, measured
 * by register-only loops of each op table's instruction on every thread of a
 * pool, for the benches that hold batched int8 products against it
 * (kernels_bench, kernels_backward_bench). Static functions: include it in
 * one translation unit per program. */
#ifndef ED_TESTS_BENCH_INT8_PEAK_H
#define ED_TESTS_BENCH_INT8_PEAK_H

#include "kernels/kernels.h"
#include "kernels/pool.h"

#include <string.h>
#include <time.h>

#if defined(__x86_64__)
#include <immintrin.h>
#elif defined(__aarch64__)
#include <arm_neon.h>
#endif

static double int8_peak_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---------------------------------------------------------- int8 peak -- */

/* Register-only loops of the int8 dot-product instruction of each table:
 * 10 independent accumulators, 2 operations (multiply, add) per byte pair.
 * AVX-512 VNNI: vpdpbusd (zmm: the machine's widest; ymm: what the
 * micro-kernels use); AVX2: vpmaddubsw + vpmaddwd + vpaddd (3 instructions
 * per 32 byte pairs, 5 accumulators); NEON dotprod: sdot; plain NEON: smull + sadalp. */
#define INT8_ITERS 20000000

enum { PEAK_AVX512_ZMM, PEAK_AVX512_YMM, PEAK_AVX2, PEAK_SDOT, PEAK_NEON, N_PEAKS };
static const char *const peak_names[N_PEAKS] = {
    "int8 vpdpbusd zmm", "int8 vpdpbusd ymm", "int8 AVX2 maddubs", "int8 sdot", "int8 NEON smull"};

#if defined(__x86_64__)
__attribute__((target("avx512f,avx512bw,avx512vnni"))) static int int8_loop_zmm(int seed)
{
    __m512i a[10], u = _mm512_set1_epi8(3), s = _mm512_set1_epi8((char)-2);
    for (int i = 0; i < 10; i++)
        a[i] = _mm512_set1_epi32(seed + i);
    for (long it = 0; it < INT8_ITERS; it++)
#pragma GCC unroll 10
        for (int i = 0; i < 10; i++)
            a[i] = _mm512_dpbusd_epi32(a[i], u, s);
    for (int i = 1; i < 10; i++)
        a[0] = _mm512_add_epi32(a[0], a[i]);
    return _mm512_reduce_add_epi32(a[0]);
}

__attribute__((target("avx2,avx512f,avx512vl,avx512vnni"))) static int int8_loop_ymm(int seed)
{
    __m256i a[10], u = _mm256_set1_epi8(3), s = _mm256_set1_epi8((char)-2);
    for (int i = 0; i < 10; i++)
        a[i] = _mm256_set1_epi32(seed + i);
    for (long it = 0; it < INT8_ITERS; it++)
#pragma GCC unroll 10
        for (int i = 0; i < 10; i++)
            a[i] = _mm256_dpbusd_epi32(a[i], u, s);
    for (int i = 1; i < 10; i++)
        a[0] = _mm256_add_epi32(a[0], a[i]);
    return _mm256_extract_epi32(a[0], 0);
}

__attribute__((target("avx2"))) static int int8_loop_avx2(int seed)
{
    /* 5 chains, each with its own unsigned operand that an empty asm makes
     * opaque every step, so the products cannot be hoisted or merged
     * (named variables: an array of them stays in memory) */
    __m256i s = _mm256_set1_epi8((char)-2), ones = _mm256_set1_epi16(1);
    __m256i a0 = _mm256_set1_epi32(seed), a1 = a0, a2 = a0, a3 = a0, a4 = a0;
    __m256i u0 = _mm256_set1_epi8(3), u1 = _mm256_set1_epi8(4), u2 = _mm256_set1_epi8(5),
            u3 = _mm256_set1_epi8(6), u4 = _mm256_set1_epi8(7);
#define INT8_AVX2_STEP(a, u)                                                                                       \
    __asm__("" : "+x"(u));                                                                                         \
    a = _mm256_add_epi32(a, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), ones))
    for (long it = 0; it < INT8_ITERS; it++) {
        INT8_AVX2_STEP(a0, u0);
        INT8_AVX2_STEP(a1, u1);
        INT8_AVX2_STEP(a2, u2);
        INT8_AVX2_STEP(a3, u3);
        INT8_AVX2_STEP(a4, u4);
    }
#undef INT8_AVX2_STEP
    a0 = _mm256_add_epi32(_mm256_add_epi32(a0, a1), _mm256_add_epi32(_mm256_add_epi32(a2, a3), a4));
    return _mm256_extract_epi32(a0, 0);
}
#define INT8_OPS_PER_ITER_X86 (10 * 32 * 2) /* per ymm step; zmm twice, AVX2 (5 chains) half */
#elif defined(__aarch64__)
__attribute__((target("arch=armv8.2-a+dotprod"))) static int int8_loop_sdot(int seed)
{
    int32x4_t a[10];
    int8x16_t u = vdupq_n_s8(3), s = vdupq_n_s8(-2);
    for (int i = 0; i < 10; i++)
        a[i] = vdupq_n_s32(seed + i);
    for (long it = 0; it < INT8_ITERS; it++)
#pragma GCC unroll 10
        for (int i = 0; i < 10; i++)
            a[i] = vdotq_s32(a[i], u, s);
    for (int i = 1; i < 10; i++)
        a[0] = vaddq_s32(a[0], a[i]);
    return vgetq_lane_s32(a[0], 0);
}

static int int8_loop_neon(int seed)
{
    int32x4_t a[10];
    int8x8_t u = vdup_n_s8(3), s = vdup_n_s8(-2);
    for (int i = 0; i < 10; i++)
        a[i] = vdupq_n_s32(seed + i);
    for (long it = 0; it < INT8_ITERS; it++)
#pragma GCC unroll 10
        for (int i = 0; i < 10; i++)
            a[i] = vpadalq_s16(a[i], vmull_s8(u, s)); /* 8 byte pairs, 2 instructions */
    for (int i = 1; i < 10; i++)
        a[0] = vaddq_s32(a[0], a[i]);
    return vgetq_lane_s32(a[0], 0);
}
#endif

static volatile int int8_sink;

static void int8_chunk(void *arg, int chunk, int thread)
{
    int which = *(const int *)arg;
    (void)thread;
#if defined(__x86_64__)
    int8_sink = which == PEAK_AVX512_ZMM ? int8_loop_zmm(chunk)
              : which == PEAK_AVX512_YMM ? int8_loop_ymm(chunk)
                                         : int8_loop_avx2(chunk);
#elif defined(__aarch64__)
    int8_sink = which == PEAK_SDOT ? int8_loop_sdot(chunk) : int8_loop_neon(chunk);
#else
    (void)which, (void)chunk;
#endif
}

static int int8_peak_available(int which)
{
#if defined(__x86_64__)
    if (which == PEAK_AVX512_ZMM || which == PEAK_AVX512_YMM)
        return ed_kernels_by_name("avx512") != NULL;
    return which == PEAK_AVX2 && ed_kernels_by_name("avx2") != NULL;
#elif defined(__aarch64__)
    if (which == PEAK_SDOT)
        return ed_kernels_by_name("neon-dotprod") != NULL;
    return which == PEAK_NEON;
#else
    (void)which;
    return 0;
#endif
}

/* GOP/s (multiplies and adds of byte pairs) of loop `which` on every
 * thread of the pool; 0 where this CPU lacks it. */
static double int8_peak(ed_pool_t *pool, int which)
{
    if (!int8_peak_available(which))
        return 0;
    int n = ed_pool_n_threads(pool);
    double t0 = int8_peak_now();
    ed_pool_run(pool, ED_POOL_HIGH, n, int8_chunk, &which);
    double ops = 0;
#if defined(__x86_64__)
    ops = (double)INT8_ITERS * INT8_OPS_PER_ITER_X86 * (which == PEAK_AVX512_ZMM ? 2 : which == PEAK_AVX2 ? 0.5 : 1);
#elif defined(__aarch64__)
    ops = (double)INT8_ITERS * 10 * (which == PEAK_SDOT ? 16 * 2 : 8 * 2);
#endif
    return (double)n * ops / (int8_peak_now() - t0) / 1e9;
}

/* The int8 peak a table's batch products are held against: the widest
 * instruction of its instruction set this CPU has. */
static int table_peak(const ed_kernels_t *table)
{
    if (strcmp(table->name, "avx512") == 0)
        return PEAK_AVX512_ZMM;
    if (strcmp(table->name, "avx2") == 0)
        return PEAK_AVX2;
    if (strcmp(table->name, "neon-dotprod") == 0)
        return PEAK_SDOT;
    if (strcmp(table->name, "neon") == 0)
        return PEAK_NEON;
    return -1;
}

#endif
