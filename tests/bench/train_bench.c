/* train_bench - LoRA training throughput of adapt/trainer on the
 * TinyLlama-shaped Q4_0 and Q8_0 models of build/bench-models/ (2 threads,
 * windows of 256 tokens, rank 8 on q, k, v, o): tokens/s, the time of a step
 * split into forward, backward and optimizer, and the peak resident memory
 * beside the model file's size; then the same training in PyTorch on the
 * CPU over an f32 base of the same shapes (tests/bench/train_bench_torch.py,
 * run as a child), printed in one table. Each model gets its own process
 * (fork) so its peak RSS is its own. EDGED_BENCH_QUICK=1: one timed step;
 * TRAIN_BENCH_STEPS=N overrides (default 2, after one warm-up step). */
#include "adapt/trainer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SEQ 256
#define THREADS 2

typedef struct {
    double tok_s, cpu_s, fwd, bwd, opt, rss_mib, file_mib, loss0, loss1;
    int ok;
} result_t;

static double cpu_now(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int steps_wanted(void)
{
    const char *s = getenv("TRAIN_BENCH_STEPS");
    if (s && atoi(s) > 0)
        return atoi(s);
    return getenv("EDGED_BENCH_QUICK") ? 1 : 2;
}

/* In a child: one warm-up step and `steps` timed ones on random windows. */
static int bench_model(const char *path, result_t *r)
{
    char err[ED_ERR_LEN] = "";
    ed_gguf_t *gguf = NULL;
    ed_model_t model = {0};
    ed_pool_t *pool = NULL;
    ed_trainer_t *t = NULL;
    const ed_kernels_t *k = ed_kernels_select(NULL);
    ed_trainer_config_t c;
    ed_trainer_config_default(&c);
    c.seq_len = SEQ;
    int rc = ed_gguf_open(&gguf, path, err);
    if (rc == 0)
        rc = ed_model_load(&model, gguf, err);
    if (rc == 0)
        rc = ed_pool_open(&pool, THREADS, err);
    if (rc == 0)
        rc = ed_model_repack(&model, k, pool, err);
    if (rc == 0)
        rc = ed_trainer_create(&t, &model, gguf, k, pool, &c, err);
    int32_t tokens[SEQ], targets[SEQ];
    uint64_t s = 12345;
    int steps = steps_wanted();
    double fwd = 0, bwd = 0, opt = 0, t0 = 0, c0 = 0;
    for (int step = 0; rc == 0 && step <= steps; step++) {
        for (int i = 0; i < SEQ; i++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            tokens[i] = (int32_t)((s >> 33) % (uint64_t)model.n_vocab);
        }
        for (int i = 0; i < SEQ; i++)
            targets[i] = i + 1 < SEQ ? tokens[i + 1] : -1;
        if (step == 1)
            t0 = now_s(), c0 = cpu_now();
        double loss;
        int counted;
        rc = ed_trainer_accumulate(t, tokens, targets, SEQ, 1.0f / (SEQ - 1), &loss, &counted, err);
        if (rc == 0)
            rc = ed_trainer_step(t, err);
        if (rc == 0 && step == 0)
            r->loss0 = loss / counted;
        if (rc == 0 && step > 0) {
            ed_trainer_timing_t tm = ed_trainer_timing(t);
            fwd += tm.forward_s, bwd += tm.backward_s, opt += tm.optimizer_s;
            r->loss1 = loss / counted;
        }
    }
    if (rc == 0) {
        double total = now_s() - t0;
        r->tok_s = SEQ * steps / total;
        r->cpu_s = (cpu_now() - c0) / steps;
        r->fwd = fwd / steps, r->bwd = bwd / steps, r->opt = opt / steps;
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        r->rss_mib = ru.ru_maxrss / 1024.0;
        struct stat st;
        r->file_mib = stat(path, &st) == 0 ? st.st_size / 1048576.0 : 0;
        r->ok = 1;
    } else {
        fprintf(stderr, "train_bench: %s: %s\n", path, err);
    }
    ed_trainer_free(t);
    ed_pool_close(pool);
    ed_model_free(&model);
    ed_gguf_close(gguf);
    return rc;
}

static int run_child(const char *path, int int8, result_t *r)
{
    int fd[2];
    memset(r, 0, sizeof *r);
    if (pipe(fd) != 0)
        return -1;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        close(fd[0]);
        if (int8)
            setenv("EDGED_TRAIN_PRODUCTS", "int8", 1);
        result_t mine = {0};
        bench_model(path, &mine);
        ssize_t w = write(fd[1], &mine, sizeof mine);
        _exit(w == (ssize_t)sizeof mine ? 0 : 1);
    }
    close(fd[1]);
    ssize_t got = read(fd[0], r, sizeof *r);
    close(fd[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    return got == (ssize_t)sizeof *r && r->ok ? 0 : -1;
}

int main(void)
{
    const char *dir = getenv("EDGED_BENCH_MODELS") ? getenv("EDGED_BENCH_MODELS") : "build/bench-models";
    const char *names[] = {"tinyllama-1.1b-q4_0.gguf", "tinyllama-1.1b-q8_0.gguf"};
    int steps = steps_wanted();
    printf("LoRA training, TinyLlama shape (22 layers, 2048 wide, FFN 5632, 32/4 heads), %d threads, windows of %d "
           "tokens, rank 8 alpha 16 on q,k,v,o; %d timed step(s) after a warm-up\n\n",
           THREADS, SEQ, steps);
    printf("| trainer                 | tokens/s | step s | CPU s/step | forward s | backward s | optimizer s | peak "
           "RSS MiB | model MiB | RSS - model MiB | loss first -> last |\n");
    printf("|-------------------------|---------:|-------:|-----------:|----------:|-----------:|------------:|-----"
           "--------:|----------:|----------------:|-------------------|\n");
    int status = 0;
    /* TRAIN_BENCH_INT8=1 adds rows with forward.c's int8-activation products
     * (EDGED_TRAIN_PRODUCTS=int8: faster, gradients about 8% off on a quantized base) */
    int modes = getenv("TRAIN_BENCH_INT8") ? 2 : 1;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        for (int int8 = 0; int8 < modes; int8++) {
            char path[1024], label[64];
            snprintf(path, sizeof path, "%s/%s", dir, names[i]);
            snprintf(label, sizeof label, "edged %.4s%s", names[i] + 15, int8 ? " int8 act." : "");
            if (access(path, R_OK) != 0) {
                printf("| %-23s | (no %s: `make bench-models`) |\n", label, path);
                break;
            }
            result_t r;
            if (run_child(path, int8, &r) != 0) {
                printf("| %-23s | failed |\n", label);
                status = 1;
                continue;
            }
            printf("| %-23s | %8.1f | %6.2f | %10.2f | %9.2f | %10.2f | %11.3f | %12.0f | %9.0f | %15.0f | %.3f -> "
                   "%.3f |\n",
                   label, r.tok_s, r.fwd + r.bwd + r.opt, r.cpu_s, r.fwd, r.bwd, r.opt, r.rss_mib, r.file_mib,
                   r.rss_mib - r.file_mib, r.loss0, r.loss1);
            fflush(stdout);
        }
    /* PyTorch: prints its own row */
    const char *script = getenv("TRAIN_BENCH_TORCH") ? getenv("TRAIN_BENCH_TORCH") : "tests/bench/train_bench_torch.py";
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s %d %d %d", script, THREADS, SEQ, steps);
    fflush(stdout);
    if (getenv("TRAIN_BENCH_NO_TORCH") == NULL && system(cmd) != 0)
        printf("| pytorch f32             | failed (%s) |\n", cmd);
    return status;
}
