/* kernels_backward_bench - the training kernels of kernels/backward.h at
 * TinyLlama shapes (n_embd 2048, n_ff 5632, 32 query / 4 KV heads of 64,
 * vocab 32000) over a 256-token sequence: dX = dY W next to the forward
 * product of the same weights, LoRA rank 8 gradients, attention backward and
 * the chunked cross-entropy; 1 thread and 2 threads (the Pi-class budget).
 * Then the f32 products (gemm_f32_nn/tn/nt) at the trainer's shapes for every
 * x86/ARM table this CPU runs, in GFLOP/s and as a fraction of the FMA peak
 * the bench measures (256-bit and 512-bit chains on x86, 128-bit on ARM).
 * EDGED_BENCH_QUICK=1: 64 tokens, one trial. EDGED_KERNELS picks the table.
 * EDGED_BENCH_F32_ONLY=1: only the FMA peak, the f32 products and dX's table.
 * dX = dY W per weight format, f32 tiles against the int8 micro-kernels, next
 * to the int8 peak (tests/bench/int8_peak.h); EDGED_BENCH_DX_ONLY=1: only that. */
#include "kernels/backward.h"
#include "kernels/matmul.h"
#include "kernels/repack.h"
#include "tests/bench/int8_peak.h"

#if defined(__x86_64__)
#include <immintrin.h>
#elif defined(__aarch64__)
#include <arm_neon.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static float *rand_f(size_t n, float scale)
{
    float *p = malloc(sizeof(float) * (n ? n : 1));
    if (!p)
        exit(1);
    uint32_t s = 12345;
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        p[i] = scale * ((float)(s >> 8) / 16777216.0f - 0.5f);
    }
    return p;
}

#define TIME_BEST(trials, best, ...)                  \
    do {                                              \
        best = 1e30;                                  \
        for (int tr = 0; tr < (trials); tr++) {       \
            double t0 = now();                        \
            __VA_ARGS__;                              \
            double dt = now() - t0;                   \
            if (dt < best)                            \
                best = dt;                            \
        }                                             \
    } while (0)


/* ------------------------------------------------------------ FMA peak -- */
#define FMA_ITERS 4000000
#define FMA_CHAINS 12 /* independent accumulators: latency x ports of current cores */

#if defined(__x86_64__)
__attribute__((target("avx2,fma"))) static float fma_loop_256(float seed)
{
    __m256 a[FMA_CHAINS], m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
    for (int i = 0; i < FMA_CHAINS; i++)
        a[i] = _mm256_set1_ps(seed + (float)i);
    for (long it = 0; it < FMA_ITERS; it++)
#pragma GCC unroll 12
        for (int i = 0; i < FMA_CHAINS; i++)
            a[i] = _mm256_fmadd_ps(a[i], m, c);
    __m256 s = a[0];
    for (int i = 1; i < FMA_CHAINS; i++)
        s = _mm256_add_ps(s, a[i]);
    return _mm256_cvtss_f32(s);
}

__attribute__((target("avx512f"))) static float fma_loop_512(float seed)
{
    __m512 a[FMA_CHAINS], m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
    for (int i = 0; i < FMA_CHAINS; i++)
        a[i] = _mm512_set1_ps(seed + (float)i);
    for (long it = 0; it < FMA_ITERS; it++)
#pragma GCC unroll 12
        for (int i = 0; i < FMA_CHAINS; i++)
            a[i] = _mm512_fmadd_ps(a[i], m, c);
    __m512 s = a[0];
    for (int i = 1; i < FMA_CHAINS; i++)
        s = _mm512_add_ps(s, a[i]);
    return _mm512_reduce_add_ps(s);
}
#elif defined(__aarch64__)
static float fma_loop_128(float seed)
{
    float32x4_t a[FMA_CHAINS], m = vdupq_n_f32(0.999999f), c = vdupq_n_f32(1e-7f);
    for (int i = 0; i < FMA_CHAINS; i++)
        a[i] = vdupq_n_f32(seed + (float)i);
    for (long it = 0; it < FMA_ITERS; it++)
#pragma GCC unroll 12
        for (int i = 0; i < FMA_CHAINS; i++)
            a[i] = vfmaq_f32(c, a[i], m);
    float32x4_t s = a[0];
    for (int i = 1; i < FMA_CHAINS; i++)
        s = vaddq_f32(s, a[i]);
    return vgetq_lane_f32(s, 0);
}
#endif

static volatile float fma_sink;
static int fma_width; /* bits of the chains fma_chunk runs */

static void fma_chunk(void *arg, int chunk, int thread)
{
    (void)arg, (void)thread;
#if defined(__x86_64__)
    fma_sink = fma_width == 512 ? fma_loop_512((float)chunk) : fma_loop_256((float)chunk);
#elif defined(__aarch64__)
    fma_sink = fma_loop_128((float)chunk);
#else
    (void)chunk;
#endif
}

/* GFLOP/s of independent FMA chains of `width` bits on every pool thread */
static double fma_peak(ed_pool_t *pool, int width)
{
    int n = ed_pool_n_threads(pool);
    fma_width = width;
    double t0 = now();
    ed_pool_run(pool, ED_POOL_HIGH, n, fma_chunk, NULL);
    return (double)n * FMA_ITERS * FMA_CHAINS * (width / 32) * 2 / (now() - t0) / 1e9;
}

/* ------------------------------------------------------- f32 products -- */
typedef struct {
    const ed_kernels_t *k;
    int op; /* 0 nn, 1 tn, 2 nt */
    int m, n, kk, reps, chunks;
    const float *a, *b;
    float *c;
} gemm_job_t;

/* chunk c of the job's reps: rows [m c / chunks, m (c + 1) / chunks) of c */
static void gemm_chunk(void *arg, int chunk, int thread)
{
    (void)thread;
    gemm_job_t *j = arg;
    int r0 = (int)((long)j->m * chunk / j->chunks), r1 = (int)((long)j->m * (chunk + 1) / j->chunks);
    for (int rep = 0; rep < j->reps; rep++) {
        if (j->op == 0)
            j->k->gemm_f32_nn(r1 - r0, j->n, j->kk, j->a + (size_t)r0 * j->kk, (size_t)j->kk, j->b, (size_t)j->n,
                              j->c + (size_t)r0 * j->n, (size_t)j->n);
        else if (j->op == 1)
            j->k->gemm_f32_tn(r1 - r0, j->n, j->kk, j->a + r0, (size_t)j->m, j->b, (size_t)j->n,
                              j->c + (size_t)r0 * j->n, (size_t)j->n);
        else
            j->k->gemm_f32_nt(r1 - r0, j->n, j->kk, j->a + (size_t)r0 * j->kk, (size_t)j->kk, j->b, (size_t)j->kk,
                              j->c + (size_t)r0 * j->n, (size_t)j->n);
    }
}

/* the products the trainer and backward.c run, per 256-token sequence */
static void bench_f32_products(ed_pool_t *pool, int threads, int trials)
{
    static const struct {
        const char *what;
        int op, m, n, k;
    } shapes[] = {
        {"dX tile dy.Wt (backward.c)", 0, 256, 256, 32},
        {"forward tile x.Wt (trainer)", 0, 256, 64, 256},
        {"square", 0, 256, 256, 256},
        {"lora dy.B (rank 8)", 0, 256, 8, 2048},
        {"lora dA g^T.x (rank 8)", 1, 8, 2048, 256},
        {"lora x.A^T (rank 8)", 2, 256, 8, 2048},
        {"square", 2, 256, 256, 256},
    };
    static const char *const ops[3] = {"nn", "tn", "nt"};
    static const char *const tables[] = {"avx2", "avx512", "neon", "neon-dotprod"};
#if defined(__x86_64__)
    double p256 = fma_peak(pool, 256), p512 = fma_peak(pool, 512);
    printf("f32 FMA peak, %d thread%s: %.1f GFLOP/s (256-bit), %.1f GFLOP/s (512-bit)\n", threads,
           threads > 1 ? "s" : "", p256, p512);
#elif defined(__aarch64__)
    double p256 = fma_peak(pool, 128), p512 = p256;
    printf("f32 FMA peak, %d thread%s: %.1f GFLOP/s (128-bit)\n", threads, threads > 1 ? "s" : "", p256);
#else
    double p256 = 0, p512 = 0;
#endif
    printf("%-30s %-3s %-16s %-7s %10s %8s\n", "f32 product", "op", "m x n x k", "table", "GFLOP/s", "of peak");
    for (int s = 0; s < (int)(sizeof shapes / sizeof shapes[0]); s++) {
        int m = shapes[s].m, n = shapes[s].n, kk = shapes[s].k;
        float *a = rand_f((size_t)m * kk, 1), *b = rand_f((size_t)n * kk, 1), *c = rand_f((size_t)m * n, 0);
        for (int t = 0; t < (int)(sizeof tables / sizeof tables[0]); t++) {
            const ed_kernels_t *k = ed_kernels_by_name(tables[t]);
            if (!k)
                continue;
            double flops = 2.0 * m * n * kk;
            int reps = (int)(2e8 / flops) + 1;
            gemm_job_t j = {k, shapes[s].op, m, n, kk, reps, threads, a, b, c};
            double best;
            TIME_BEST(trials, best, ed_pool_run(pool, ED_POOL_HIGH, threads, gemm_chunk, &j));
            double gf = flops * reps / best * 1e-9, peak = strcmp(tables[t], "avx512") == 0 ? p512 : p256;
            char dims[32];
            snprintf(dims, sizeof dims, "%dx%dx%d", m, n, kk);
            printf("%-30s %-3s %-16s %-7s %10.1f %7.0f%%\n", shapes[s].what, ops[shapes[s].op], dims, tables[t], gf,
                   peak > 0 ? 100 * gf / peak : 0);
        }
        free(a), free(b), free(c);
    }
    printf("\n");
}

/* ------------------------------------------- dX = dY W: f32 tiles vs int8 -- */
/* GOP/s of ed_matmul_backward_input (f32 products over dequantized tiles,
 * the trainer's default) and ed_matmul_backward_input_q8 (the int8 batch
 * micro-kernels) at TinyLlama's shapes, and the int8 one as a fraction of
 * the table's int8 peak measured here; also per CPU-second of the process
 * (GOP per second of CPU time: what a shared, loaded machine still shows). */
static void bench_dx_int8(const ed_kernels_t *k, ed_pool_t *pool, int threads, int trials, int seq)
{
    static const int types[] = {ED_TYPE_Q4_0_R8, ED_TYPE_Q8_0_R8, ED_TYPE_Q4_K_R8, ED_TYPE_Q6_K};
    static const int shapes[][2] = {{2048, 2048}, {5632, 2048}, {2048, 5632}}; /* n_out, n_in */
    int which = table_peak(k);
    double peak = which >= 0 ? int8_peak(pool, which) : 0;
    printf("dX = dY.W, %d thread%s, batch %d, table %s: %s peak %.1f GOP/s\n", threads, threads > 1 ? "s" : "", seq,
           k->name, which >= 0 ? peak_names[which] : "int8", peak);
    printf("%-12s %-8s %12s %12s %8s %8s %10s %10s\n", "out x in", "type", "f32 GOP/s", "int8 GOP/s", "speedup",
           "of peak", "f32 /cpu-s", "int8 /cpu-s");
    for (int s = 0; s < 3; s++)
        for (int t = 0; t < (int)(sizeof types / sizeof types[0]); t++) {
            int n_out = shapes[s][0], n_in = shapes[s][1], type = types[t], base = type;
            for (int b = 0; b < ED_TYPE_COUNT; b++)
                if (ed_repack_type(b) == type)
                    base = b;
            uint64_t row_bytes = 0, w_row_bytes = 0;
            ed_type_row_size(base, (uint64_t)n_in, &row_bytes);
            ed_type_row_size(type, (uint64_t)n_in, &w_row_bytes);
            float *wf = rand_f((size_t)n_out * n_in, 0.1f), *dx = rand_f((size_t)seq * n_in, 0);
            float *dy = rand_f((size_t)seq * n_out, 1);
            uint8_t *w = malloc(row_bytes * (size_t)n_out), *wp = malloc(w_row_bytes * (size_t)n_out);
            for (int r = 0; r < n_out; r++)
                ed_quant_traits(base)->from_float(wf + (size_t)r * n_in, w + r * row_bytes, n_in);
            if (base != type)
                ed_repack_rows(base, w, wp, n_in, 0, n_out);
            else
                memcpy(wp, w, row_bytes * (size_t)n_out);
            size_t fs = ed_matmul_backward_scratch_size(type, threads);
            size_t qs = ed_matmul_backward_q8_scratch_size(type, n_out, seq, threads);
            void *fscr = malloc(fs + 64), *qscr = malloc(qs + 64);
            ed_matmul_backward_t b = {wp, type, n_in, n_out, dy, dx, seq, 0};
            /* A and B alternate, best of `trials` each, in wall and process CPU time */
            double tf = 1e30, tq = 1e30, cf = 1e30, cq = 1e30;
            for (int tr = 0; tr < trials; tr++) {
                double t0 = now(), c0 = cpu_now();
                ed_matmul_backward_input(k, pool, ED_POOL_LOW, &b, fscr, fs);
                double t1 = now(), c1 = cpu_now();
                ed_matmul_backward_input_q8(k, pool, ED_POOL_LOW, &b, qscr, qs);
                double t2 = now(), c2 = cpu_now();
                tf = t1 - t0 < tf ? t1 - t0 : tf, cf = c1 - c0 < cf ? c1 - c0 : cf;
                tq = t2 - t1 < tq ? t2 - t1 : tq, cq = c2 - c1 < cq ? c2 - c1 : cq;
            }
            double ops = 2.0 * n_out * n_in * seq, gf = ops / tf * 1e-9, gq = ops / tq * 1e-9;
            char dims[32];
            snprintf(dims, sizeof dims, "%dx%d", n_out, n_in);
            printf("%-12s %-8s %12.1f %12.1f %7.2fx %7.0f%% %10.1f %10.1f\n", dims, ed_type_info(type)->name, gf, gq,
                   gq / gf, peak > 0 ? 100 * gq / peak : 0, ops / cf * 1e-9, ops / cq * 1e-9);
            free(wf), free(dx), free(dy), free(w), free(wp), free(fscr), free(qscr);
        }
    printf("\n");
}

int main(void)
{
    int quick = getenv("EDGED_BENCH_QUICK") && atoi(getenv("EDGED_BENCH_QUICK"));
    int seq = quick ? 64 : 256, trials = quick ? 1 : 3;
    const ed_kernels_t *k = ed_kernels_select(NULL);
    if (!k) {
        fprintf(stderr, "kernels_backward_bench: EDGED_KERNELS names a table this CPU cannot run\n");
        return 1;
    }
    printf("kernels_backward_bench: op table %s, %d-token sequence, best of %d\n\n", k->name, seq, trials);
    static const int types[] = {ED_TYPE_Q4_0, ED_TYPE_Q8_0, ED_TYPE_Q4_K};
    static const int shapes[][2] = {{2048, 2048}, {5632, 2048}, {2048, 5632}}; /* n_out, n_in */
    for (int threads = 1; threads <= 2; threads++) {
        char err[ED_KERR_LEN];
        ed_pool_t *pool = NULL;
        if (ed_pool_open(&pool, threads, err) != 0)
            return 1;
        if (getenv("EDGED_BENCH_DX_ONLY") && atoi(getenv("EDGED_BENCH_DX_ONLY"))) {
            bench_dx_int8(k, pool, threads, trials, seq);
            ed_pool_close(pool);
            continue;
        }
        bench_f32_products(pool, threads, trials);
        bench_dx_int8(k, pool, threads, trials, seq);
        if (getenv("EDGED_BENCH_F32_ONLY") && atoi(getenv("EDGED_BENCH_F32_ONLY"))) {
            ed_pool_close(pool);
            continue;
        }
        printf("%d thread%s\n%-12s %-6s %14s %14s\n", threads, threads > 1 ? "s" : "", "out x in", "type",
               "forward GF/s", "dX=dY.W GF/s");
        for (int s = 0; s < 3; s++)
            for (int t = 0; t < 3; t++) {
                int n_out = shapes[s][0], n_in = shapes[s][1], type = types[t];
                uint64_t row_bytes = 0;
                ed_type_row_size(type, (uint64_t)n_in, &row_bytes);
                float *wf = rand_f((size_t)n_out * n_in, 0.1f), *x = rand_f((size_t)seq * n_in, 2);
                float *y = rand_f((size_t)seq * n_out, 1);
                uint8_t *w = malloc(row_bytes * (size_t)n_out);
                for (int r = 0; r < n_out; r++)
                    ed_quant_traits(type)->from_float(wf + (size_t)r * n_in, w + r * row_bytes, n_in);
                size_t fs = ed_matmul_scratch_size(type, n_in, seq);
                size_t bs = ed_matmul_backward_scratch_size(type, threads);
                void *fscr = malloc(fs + 64), *bscr = malloc(bs + 64);
                ed_matmul_t m = {w, type, n_in, n_out, x, y, seq};
                ed_matmul_backward_t b = {w, type, n_in, n_out, y, x, seq, 0};
                double tf, tb;
                TIME_BEST(trials, tf, ed_matmul_forward(k, pool, ED_POOL_LOW, &m, fscr, fs));
                TIME_BEST(trials, tb, ed_matmul_backward_input(k, pool, ED_POOL_LOW, &b, bscr, bs));
                double flops = 2.0 * n_out * n_in * seq;
                printf("%5dx%-6d %-6s %14.1f %14.1f\n", n_out, n_in, ed_type_info(type)->name, flops / tf * 1e-9,
                       flops / tb * 1e-9);
                free(wf), free(x), free(y), free(w), free(fscr), free(bscr);
            }
        /* LoRA rank 8 on a 2048 x 2048 product */
        {
            int n = 2048, r = 8;
            float *x = rand_f((size_t)seq * n, 1), *a = rand_f((size_t)r * n, 0.1f), *bb = rand_f((size_t)n * r, 0.1f);
            float *dy = rand_f((size_t)seq * n, 1), *da = rand_f((size_t)r * n, 0), *db = rand_f((size_t)n * r, 0);
            float *dx = rand_f((size_t)seq * n, 0), *scr = rand_f(ed_lora_backward_scratch_floats(r, seq), 0);
            ed_lora_backward_t l = {x, a, bb, dy, 2.0f, n, n, r, seq, da, db, dx};
            double t;
            size_t nf = ed_lora_backward_scratch_floats(r, seq);
            TIME_BEST(trials, t, ed_lora_backward(k, pool, ED_POOL_LOW, &l, scr, nf));
            printf("lora backward 2048x2048 rank 8: %.2f ms\n", t * 1e3);
            free(x), free(a), free(bb), free(dy), free(da), free(db), free(dx), free(scr);
        }
        /* attention, 32 query / 4 KV heads of 64 */
        {
            ed_attention_train_t sh = {seq, 32, 4, 64, 0.125f};
            size_t nq = (size_t)seq * 32 * 64, nkv = (size_t)seq * 4 * 64;
            float *q = rand_f(nq, 1), *kk = rand_f(nkv, 1), *v = rand_f(nkv, 1), *dout = rand_f(nq, 1);
            float *dq = rand_f(nq, 0), *dk = rand_f(nkv, 0), *dv = rand_f(nkv, 0);
            float *scr = rand_f((size_t)threads * 2 * seq, 0);
            double t;
            TIME_BEST(trials, t, ed_attention_backward(k, pool, ED_POOL_LOW, dq, dk, dv, q, kk, v, dout, &sh, scr,
                                                       (size_t)threads * 2 * seq));
            printf("attention backward 32/4 heads x 64: %.2f ms\n", t * 1e3);
            free(q), free(kk), free(v), free(dout), free(dq), free(dk), free(dv), free(scr);
        }
        /* cross-entropy over a q8_0 32000 x 2048 output matrix, 32 rows at a time */
        {
            int n_embd = 2048, n_vocab = 32000;
            uint64_t row_bytes = 0;
            ed_type_row_size(ED_TYPE_Q8_0, (uint64_t)n_embd, &row_bytes);
            float *wf = rand_f((size_t)n_vocab * n_embd, 0.1f), *h = rand_f((size_t)seq * n_embd, 1);
            float *dh = rand_f((size_t)seq * n_embd, 0);
            uint8_t *w = malloc(row_bytes * (size_t)n_vocab);
            for (int r = 0; r < n_vocab; r++)
                ed_quant_traits(ED_TYPE_Q8_0)->from_float(wf + (size_t)r * n_embd, w + r * row_bytes, n_embd);
            free(wf);
            int32_t *targets = malloc(sizeof(int32_t) * (size_t)seq);
            for (int i = 0; i < seq; i++)
                targets[i] = (i * 7919) % n_vocab;
            ed_cross_entropy_t c = {h, w, ED_TYPE_Q8_0, n_embd, n_vocab, seq, targets, 1.0f / seq, dh, 32};
            size_t ss = ed_cross_entropy_scratch_size(&c, threads);
            void *scr = malloc(ss);
            double loss = 0, t;
            int n = 0;
            TIME_BEST(trials, t, ed_cross_entropy(k, pool, ED_POOL_LOW, &c, scr, ss, &loss, &n));
            printf("cross-entropy q8_0 32000 x 2048, 32-row chunks (%.1f MiB scratch): %.2f ms\n\n",
                   (double)ss / (1 << 20), t * 1e3);
            free(h), free(dh), free(w), free(targets), free(scr);
        }
        ed_pool_close(pool);
    }
    return 0;
}
