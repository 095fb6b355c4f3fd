/* tests/bench/kernels_bench.c - the kernels' benchmark (make bench): this
 * machine's memory read bandwidth (buffers far larger than the caches) and
 * f32 FMA peak and int8 dot-product peak, then matrix-vector products of a
 * 1B model's shapes in GB/s and as a fraction of that bandwidth (weights
 * rotate over copies filling the arena, so they are never in cache), and
 * 512-row matrix-matrix products in GOP/s and as fractions of both peaks,
 * for the selected op table and (on AVX-512 machines) the AVX2 one too.
 * Prints tables.
 * Environment: EDGED_BENCH_QUICK=1 (fewer shapes, shorter runs),
 * EDGED_BENCH_ARENA_MIB (default 2048), EDGED_KERNELS (force a table). */
#include "kernels/bandwidth.h"
#include "kernels/memory.h"
#include "kernels/matmul.h"
#include "tests/bench/int8_peak.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__)
#include <immintrin.h>
#elif defined(__aarch64__)
#include <arm_neon.h>
#endif

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---------------------------------------------------------------- FMA peak -- */

#define FMA_ITERS 20000000

#if defined(__x86_64__)
__attribute__((target("avx2,fma"))) static float fma_loop_avx2(float seed)
{
    __m256 a[10], m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
    for (int i = 0; i < 10; i++)
        a[i] = _mm256_set1_ps(seed + (float)i);
    for (long it = 0; it < FMA_ITERS; it++)
#pragma GCC unroll 10
        for (int i = 0; i < 10; i++)
            a[i] = _mm256_fmadd_ps(a[i], m, c);
    float out[8];
    __m256 s = a[0];
    for (int i = 1; i < 10; i++)
        s = _mm256_add_ps(s, a[i]);
    _mm256_storeu_ps(out, s);
    return out[0];
}
#define FMA_FLOPS_PER_ITER (10 * 8 * 2)
#elif defined(__aarch64__)
static float fma_loop_neon(float seed)
{
    float32x4_t a[10], m = vdupq_n_f32(0.999999f), c = vdupq_n_f32(1e-7f);
    for (int i = 0; i < 10; i++)
        a[i] = vdupq_n_f32(seed + (float)i);
    for (long it = 0; it < FMA_ITERS; it++)
#pragma GCC unroll 10
        for (int i = 0; i < 10; i++)
            a[i] = vfmaq_f32(c, a[i], m);
    float32x4_t s = a[0];
    for (int i = 1; i < 10; i++)
        s = vaddq_f32(s, a[i]);
    return vgetq_lane_f32(s, 0);
}
#define FMA_FLOPS_PER_ITER (10 * 4 * 2)
#endif

static volatile float fma_sink;

static void fma_chunk(void *arg, int chunk, int thread)
{
    (void)arg, (void)thread;
#if defined(__x86_64__)
    fma_sink = fma_loop_avx2((float)chunk);
#elif defined(__aarch64__)
    fma_sink = fma_loop_neon((float)chunk);
#endif
}

/* GFLOP/s of independent f32 FMA chains on every thread of the pool (the
 * widest vectors the micro-kernels use: 256-bit on x86, 128-bit on ARM). */
static double fma_peak(ed_pool_t *pool, double scale)
{
#if defined(__x86_64__) || defined(__aarch64__)
    int n = ed_pool_n_threads(pool);
    double t0 = now_s();
    ed_pool_run(pool, ED_POOL_HIGH, n, fma_chunk, NULL);
    return (double)n * FMA_ITERS * FMA_FLOPS_PER_ITER / (now_s() - t0) / 1e9 * scale;
#else
    (void)pool, (void)scale;
    return 0;
#endif
}

/* int8 dot-product peak: tests/bench/int8_peak.h */

/* ---------------------------------------------------------------- products -- */

typedef struct {
    int n_out, n_in;
} shape_t;

static const shape_t shapes[] = {{2048, 2048}, {2048, 5632}, {5632, 2048}, {32000, 2048}};
/* q4_0_r8 / q8_0_r8 / q4_K_r8 / q6_K_r8: the layouts the model repacks
 * q4_0 / q8_0 / q4_K / q6_K into at load */
static const int types[] = {ED_TYPE_F16,  ED_TYPE_Q8_0,    ED_TYPE_Q8_0_R8, ED_TYPE_Q4_0, ED_TYPE_Q4_0_R8,
                            ED_TYPE_Q4_K, ED_TYPE_Q4_K_R8, ED_TYPE_Q5_K,    ED_TYPE_Q6_K, ED_TYPE_Q6_K_R8};
#define N_SHAPES ((int)(sizeof shapes / sizeof shapes[0]))
#define N_TYPES ((int)(sizeof types / sizeof types[0]))
#define MATMUL_BATCH 512

static uint64_t rng_state = 88172645463325252ULL;

static float rng_normal(void) /* roughly N(0, 1): a sum of uniforms */
{
    float s = 0;
    for (int i = 0; i < 4; i++) {
        rng_state ^= rng_state << 13;
        rng_state ^= rng_state >> 7;
        rng_state ^= rng_state << 17;
        s += (float)((rng_state >> 40) * (1.0 / 16777216.0)) - 0.5f;
    }
    return s * 1.7f;
}

/* Fills `bytes` of dst with quantized rows: 64 distinct random rows, tiled. */
static void fill_weights(uint8_t *dst, size_t bytes, int type, int n_in, size_t row_bytes)
{
    enum { DISTINCT = 64 };
    float *row = malloc(sizeof(float) * (size_t)n_in);
    for (int r = 0; r < DISTINCT && (size_t)(r + 1) * row_bytes <= bytes; r++) {
        for (int i = 0; i < n_in; i++)
            row[i] = rng_normal() * 0.02f;
        ed_quant_traits(type)->from_float(row, dst + (size_t)r * row_bytes, n_in);
    }
    free(row);
    size_t filled = DISTINCT * row_bytes;
    while (filled < bytes) {
        size_t n = filled < bytes - filled ? filled : bytes - filled;
        memcpy(dst + filled, dst, n);
        filled += n;
    }
}

typedef struct {
    double gbs;    /* weight bytes read per second / 1e9 */
    double gflops;
} result_t;

static const ed_kernels_t *kernels;
static double min_seconds = 0.3;

/* Weight GB/s of matrix-vector products rotating over the copies: the best
 * of 5 slices of the measuring time (the least disturbed by other load). */
static double matvec_gbs(ed_pool_t *pool, const uint8_t *arena, int n_copies, size_t matrix_bytes,
                         ed_matmul_t *m, void *scratch, size_t scratch_size)
{
    double best = 0;
    int copy = 0;
    for (int slice = 0; slice < 5; slice++) {
        int calls = 0;
        double t0 = now_s(), elapsed = 0;
        while (elapsed < min_seconds / 5 || calls < 4) {
            m->w = arena + (size_t)copy * matrix_bytes;
            copy = (copy + 1) % n_copies;
            if (ed_matmul_forward(kernels, pool, ED_POOL_HIGH, m, scratch, scratch_size) != 0)
                return 0;
            calls++;
            elapsed = now_s() - t0;
        }
        double gbs = (double)matrix_bytes * calls / elapsed / 1e9;
        best = gbs > best ? gbs : best;
    }
    return best;
}

/* GFLOP/s of the batch product: the best of its calls after a warm-up. */
static double matmul_gflops(ed_pool_t *pool, ed_matmul_t *m, void *scratch, size_t scratch_size)
{
    if (ed_matmul_forward(kernels, pool, ED_POOL_HIGH, m, scratch, scratch_size) != 0) /* warm-up */
        return 0;
    double best_s = 1e30, t_start = now_s();
    for (int calls = 0; calls < 3 || now_s() - t_start < min_seconds; calls++) {
        double t0 = now_s();
        ed_matmul_forward(kernels, pool, ED_POOL_HIGH, m, scratch, scratch_size);
        double t = now_s() - t0;
        best_s = t < best_s ? t : best_s;
    }
    return 2.0 * m->n_out * m->n_in * (double)m->n_batch / best_s / 1e9;
}

/* The machine's bandwidth and FMA peak per thread count: the best of
 * several trials, taken before and after the products (noise only lowers). */
static void measure_machine(ed_pool_t **pools, int n_counts, const void *arena, size_t arena_bytes,
                            double *bandwidth, double *peak, double int8[N_PEAKS][2])
{
    for (int c = 0; c < n_counts; c++)
        for (int trial = 0; trial < 3; trial++) {
            double gbs = ed_bandwidth_read_gbps(pools[c], arena, arena_bytes, 3);
            double gflops = fma_peak(pools[c], 1.0);
            bandwidth[c] = gbs > bandwidth[c] ? gbs : bandwidth[c];
            peak[c] = gflops > peak[c] ? gflops : peak[c];
            for (int p = 0; p < N_PEAKS; p++) {
                double gops = int8_peak(pools[c], p);
                int8[p][c] = gops > int8[p][c] ? gops : int8[p][c];
            }
        }
}

typedef struct {
    int shape, type;
    double value[2]; /* per thread count */
} row_t;

#define N_TABLES 2 /* the selected table, and AVX2 beside AVX-512 */
static row_t matvec_rows[N_SHAPES * N_TYPES], matmul_rows[N_TABLES][N_SHAPES * N_TYPES];

/* second: a second denominator (the int8 peak), printed as another fraction when given */
static void print_rows(const ed_kernels_t *table, const row_t *rows, int n_rows, int n_counts,
                       const double *denominator, const double *second, int mark)
{
    for (int i = 0; i < n_rows; i++) {
        const shape_t *shape = &shapes[rows[i].shape];
        printf("%5dx%-8d %-7s%c", shape->n_out, shape->n_in, ed_type_info(rows[i].type)->name,
               mark && table->gemm[rows[i].type] ? '*' : ' ');
        for (int c = 0; c < n_counts; c++) {
            printf(" %10.1f (%3.0f%%", rows[i].value[c], 100 * rows[i].value[c] / denominator[c]);
            if (second && second[c] > 0)
                printf(", %3.0f%%", 100 * rows[i].value[c] / second[c]);
            printf(")");
        }
        printf("\n");
    }
}

/* The 512-row batch products of every type and shape with `table`, into
 * rows; returns their count. */
static int measure_matmuls(const ed_kernels_t *table, ed_pool_t **pools, int n_counts, int quick, uint8_t *arena,
                           float *x, float *y, void *scratch, size_t scratch_size, row_t *rows)
{
    int n = 0;
    kernels = table;
    for (int s = 0; s < N_SHAPES; s++) {
        if (quick && s != 0)
            continue;
        for (int t = 0; t < N_TYPES; t++) {
            int type = types[t];
            if (s != 0 && !table->gemm[type]) /* dot-product fallbacks: one shape is enough */
                continue;
            uint64_t row_bytes = 0;
            ed_type_row_size(type, (uint64_t)shapes[s].n_in, &row_bytes);
            fill_weights(arena, row_bytes * (size_t)shapes[s].n_out, type, shapes[s].n_in, row_bytes);
            ed_matmul_t m = {arena, type, shapes[s].n_in, shapes[s].n_out, x, y, MATMUL_BATCH};
            row_t *row = &rows[n++];
            *row = (row_t){s, type, {0, 0}};
            for (int c = 0; c < n_counts; c++)
                row->value[c] = matmul_gflops(pools[c], &m, scratch, scratch_size);
        }
    }
    return n;
}

int main(void)
{
    int quick = getenv("EDGED_BENCH_QUICK") && atoi(getenv("EDGED_BENCH_QUICK")) != 0;
    const char *arena_env = getenv("EDGED_BENCH_ARENA_MIB");
    size_t arena_bytes = (size_t)(arena_env ? atol(arena_env) : 2048) << 20;
    int n_cpus = (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (n_cpus < 1)
        n_cpus = 1;
    int thread_counts[2] = {1, n_cpus}, n_counts = n_cpus > 1 ? 2 : 1;
    if (quick)
        min_seconds = 0.1;

    kernels = ed_kernels_select(NULL);
    if (!kernels) {
        fprintf(stderr, "kernels_bench: EDGED_KERNELS names a table this CPU cannot run\n");
        return 1;
    }
    uint8_t *arena = ed_alloc_streamed(arena_bytes); /* huge pages, as the model's weights */
    float *x = malloc(sizeof(float) * 5632 * MATMUL_BATCH);
    float *y = malloc(sizeof(float) * 32000 * MATMUL_BATCH);
    size_t scratch_size = 0; /* the largest quantized activations of any type and shape */
    for (int t = 0; t < N_TYPES; t++) {
        size_t size = ed_matmul_scratch_size(types[t], 5632, MATMUL_BATCH);
        scratch_size = size > scratch_size ? size : scratch_size;
    }
    void *scratch = aligned_alloc(64, scratch_size);
    ed_pool_t *pools[2] = {NULL, NULL};
    char err[ED_KERR_LEN];
    if (!arena || !x || !y || !scratch) {
        fprintf(stderr, "kernels_bench: out of memory (arena %zu MiB)\n", arena_bytes >> 20);
        return 1;
    }
    for (int c = 0; c < n_counts; c++)
        if (ed_pool_open(&pools[c], thread_counts[c], err) != 0) {
            fprintf(stderr, "kernels_bench: %s\n", err);
            return 1;
        }
    memset(arena, 1, arena_bytes);
    for (size_t i = 0; i < (size_t)5632 * MATMUL_BATCH; i++)
        x[i] = rng_normal();
    double bandwidth[2] = {0, 0}, peak[2] = {0, 0}, int8[N_PEAKS][2] = {{0}};
    measure_machine(pools, n_counts, arena, arena_bytes, bandwidth, peak, int8);

    const ed_kernels_t *selected = kernels, *tables[N_TABLES] = {kernels, NULL};
    int n_tables = 1, n_matvec = 0, n_matmul[N_TABLES] = {0, 0};
    if (strcmp(kernels->name, "avx512") == 0 && ed_kernels_by_name("avx2"))
        tables[n_tables++] = ed_kernels_by_name("avx2");
    for (int s = 0; s < N_SHAPES; s++) {
        if (quick && s != 0 && s != 3)
            continue;
        for (int t = 0; t < N_TYPES; t++) {
            int type = types[t];
            uint64_t row_bytes = 0;
            ed_type_row_size(type, (uint64_t)shapes[s].n_in, &row_bytes);
            size_t matrix_bytes = row_bytes * (size_t)shapes[s].n_out;
            int n_copies = (int)(arena_bytes / matrix_bytes);
            if (n_copies < 2) {
                fprintf(stderr, "kernels_bench: arena too small for two copies of %dx%d %s\n",
                        shapes[s].n_out, shapes[s].n_in, ed_type_info(type)->name);
                continue;
            }
            fill_weights(arena, matrix_bytes * (size_t)n_copies, type, shapes[s].n_in, row_bytes);
            ed_matmul_t m = {arena, type, shapes[s].n_in, shapes[s].n_out, x, y, 1};
            row_t *row = &matvec_rows[n_matvec++];
            *row = (row_t){s, type, {0, 0}};
            for (int c = 0; c < n_counts; c++)
                row->value[c] = matvec_gbs(pools[c], arena, n_copies, matrix_bytes, &m, scratch, scratch_size);
        }
    }
    for (int i = 0; i < n_tables; i++)
        n_matmul[i] = measure_matmuls(tables[i], pools, n_counts, quick, arena, x, y, scratch, scratch_size,
                                      matmul_rows[i]);
    kernels = selected;
    measure_machine(pools, n_counts, arena, arena_bytes, bandwidth, peak, int8);

    printf("kernels_bench: op table %s, %d CPUs, arena %zu MiB%s\n", kernels->name, n_cpus,
           arena_bytes >> 20, quick ? ", quick mode" : "");
    printf("(best of several trials; a shared machine still gives noisy numbers)\n\n");
    printf("%-28s %14s %14s\n", "machine", "1 thread", n_counts > 1 ? "all threads" : "");
    printf("%-28s %14.1f", "read bandwidth GB/s", bandwidth[0]);
    if (n_counts > 1)
        printf(" %14.1f", bandwidth[1]);
    printf("\n%-28s %14.1f", "f32 FMA peak GFLOP/s", peak[0]);
    if (n_counts > 1)
        printf(" %14.1f", peak[1]);
    for (int p = 0; p < N_PEAKS; p++) {
        if (int8[p][0] <= 0)
            continue;
        printf("\n%-22s GOP/s %14.1f", peak_names[p], int8[p][0]);
        if (n_counts > 1)
            printf(" %14.1f", int8[p][1]);
    }
    printf("\n\nmatrix-vector (1 token): weight GB/s (fraction of read bandwidth)\n");
    printf("%-14s %-8s %18s %18s\n", "shape out x in", "type", "1 thread", n_counts > 1 ? "all threads" : "");
    print_rows(kernels, matvec_rows, n_matvec, n_counts, bandwidth, NULL, 0);
    for (int i = 0; i < n_tables; i++) {
        int which = table_peak(tables[i]);
        printf("\nmatrix-matrix (%d-row batch), table %s: GOP/s (fraction of the f32 FMA peak, of the %s"
               " peak); * = micro-kernel\n",
               MATMUL_BATCH, tables[i]->name, which >= 0 ? peak_names[which] : "int8");
        printf("%-14s %-8s %24s %24s\n", "shape out x in", "type", "1 thread", n_counts > 1 ? "all threads" : "");
        print_rows(tables[i], matmul_rows[i], n_matmul[i], n_counts, peak, which >= 0 ? int8[which] : NULL, 1);
    }

    for (int c = 0; c < n_counts; c++)
        ed_pool_close(pools[c]);
    free(scratch), free(y), free(x), free(arena);
    return 0;
}
