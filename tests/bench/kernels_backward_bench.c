/* kernels_backward_bench - the training kernels of kernels/backward.h at
 * TinyLlama shapes (n_embd 2048, n_ff 5632, 32 query / 4 KV heads of 64,
 * vocab 32000) over a 256-token sequence: dX = dY W next to the forward
 * product of the same weights, LoRA rank 8 gradients, attention backward and
 * the chunked cross-entropy; 1 thread and 2 threads (the Pi-class budget).
 * EDGED_BENCH_QUICK=1: 64 tokens, one trial. EDGED_KERNELS picks the table. */
#include "kernels/backward.h"
#include "kernels/matmul.h"

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
