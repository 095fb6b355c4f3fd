/* bench.c - `edged bench`: opens the model, times pp<N> (one batched prompt
 * of N tokens from an empty cache) and tg<N> (N single-token decode steps
 * after a short prompt), and sets generation against the memory-bandwidth
 * bound: bandwidth / bytes read per generated token. The bandwidth is read
 * by a probe process (its buffer stays out of the peak RSS) between every
 * TG_SEGMENT decode steps, and each segment is set against the mean of the
 * readings just before and just after it: on a virtual machine the
 * bandwidth switches between levels within seconds. */
#include "cli/bench.h"

#include "kernels/bandwidth.h"
#include "kernels/memory.h"
#include "cli/run.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define TG_PROMPT 8          /* tokens evaluated before a generation test */
#define TG_SEGMENT 16        /* decode steps between two bandwidth readings */
#define PROBE_PASSES 2       /* a reading: the best of this many passes over the probe's buffer */
#define RSS_SLACK (64 << 20) /* what the process may hold beyond model + KV cache */

typedef struct {
    const char *model_path;
    long n_prompt; /* -p: pp test size; 0: none */
    long n_gen;    /* -n: tg test size; 0: none */
    long n_threads;
    long reps;
    bool json;
    bool verbose; /* -v: each tg segment's bandwidth and fraction of the bound on stderr */
    ed_run_lora_args_t lora;
} bench_options_t;

/* What the bound is made of. */
typedef struct {
    uint64_t model_bytes;     /* the GGUF file, all of it mapped */
    uint64_t lora_bytes;      /* the adapters' f32 matrices, all read by a decode step */
    uint64_t n_params;        /* elements of every tensor */
    uint64_t weight_bytes;    /* weights one decode step reads */
    uint64_t kv_bytes;        /* the KV cache allocated */
    uint64_t kv_read_bytes;   /* KV cache one decode step reads at the tg test's mean position */
    uint64_t kv_row_bytes;    /* KV cache a step reads per position attended to (K and V, every layer) */
    const char *weight_type;  /* the type holding the most bytes of the layers' tensors */
    double bandwidth_gbps;    /* mean of the read bandwidth readings */
    double bandwidth_min, bandwidth_max; /* their range, GB/s */
    int n_readings;           /* around every segment of the tg repetitions (one in all without a tg test) */
    double bound_tokens_per_s; /* bandwidth_gbps / (weight_bytes + kv_read_bytes) */
} bench_model_t;

typedef struct {
    char name[32]; /* "pp512", "tg128" */
    int n_tokens;
    double mean, sd; /* tokens/s */
    bool generation;
    double fraction; /* generation: mean over repetitions of (time at the bound) / (time taken), segment by segment */
} bench_result_t;

static void bench_usage(FILE *out)
{
    fprintf(out,
            "usage: edged bench -m FILE [-p 512] [-n 128] [-t THREADS] [-r REPS] [--json] [-v]\n"
            "                   [--lora FILE]... [--lora-scale S]\n"
            "Measures a GGUF model's prompt processing (ppN: N tokens in batches) and\n"
            "generation (tgN: N single-token steps) in tokens/s, mean +- sd over REPS, and\n"
            "sets generation against the memory-bandwidth bound: read bandwidth / bytes one\n"
            "decode step reads. The bandwidth is read with the same threads between every\n"
            "%d decode steps, and each stretch is compared with the mean of the readings\n"
            "just before and after it (a shared machine's bandwidth drifts).\n"
            "  -m, --model FILE     the GGUF model\n"
            "  -p, --n-prompt N     prompt tokens of the pp test (default 512; 0: skip)\n"
            "  -n, --n-gen N        generated tokens of the tg test (default 128; 0: skip)\n"
            "  -t, --threads N      compute threads (default: the CPUs online, here %d)\n"
            "  -r, --repetitions N  runs of each test (default 3)\n"
            "      --json           one JSON object per test per line\n"
            "  -v, --verbose        each stretch of generation steps on stderr: the GB/s it\n"
            "                       read, the bandwidth around it and its fraction of the bound\n"
            ED_RUN_LORA_USAGE
            "  -h, --help           this help\n"
            "Exit status: 0 done, 1 a bad model file or a failed evaluation, 2 bad arguments.\n",
            TG_SEGMENT, ed_run_default_threads());
}

/* 0 to go on, 1 when --help was printed, ED_EINVAL (message printed) on bad arguments. */
static int parse_options(int argc, char **argv, bench_options_t *o)
{
    *o = (bench_options_t){.n_prompt = 512, .n_gen = 128, .n_threads = ed_run_default_threads(), .reps = 3,
                           .lora.scale = 1.0f};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int rc = 0;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            bench_usage(stdout);
            return 1;
        } else if (strcmp(a, "--json") == 0) {
            o->json = true;
            continue;
        } else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
            o->verbose = true;
            continue;
        }
        bool takes_value = strcmp(a, "-m") == 0 || strcmp(a, "--model") == 0 || strcmp(a, "-p") == 0 ||
                           strcmp(a, "--n-prompt") == 0 || strcmp(a, "-n") == 0 || strcmp(a, "--n-gen") == 0 ||
                           strcmp(a, "-t") == 0 || strcmp(a, "--threads") == 0 || strcmp(a, "-r") == 0 ||
                           strcmp(a, "--repetitions") == 0 || strcmp(a, "--lora") == 0 ||
                           strcmp(a, "--lora-scale") == 0;
        if (!takes_value) {
            fprintf(stderr, "edged bench: unexpected argument \"%s\" (see edged bench --help)\n", a);
            return ED_EINVAL;
        }
        if (!v) {
            fprintf(stderr, "edged bench: %s needs a value (see edged bench --help)\n", a);
            return ED_EINVAL;
        }
        int lora = ed_run_parse_lora("bench", a, v, &o->lora);
        if (lora < 0)
            return lora;
        if (lora == 0)
            ;
        else if (strcmp(a, "-m") == 0 || strcmp(a, "--model") == 0)
            o->model_path = v;
        else if (strcmp(a, "-p") == 0 || strcmp(a, "--n-prompt") == 0)
            rc = ed_run_parse_long("bench", a, v, 0, 1 << 20, &o->n_prompt);
        else if (strcmp(a, "-n") == 0 || strcmp(a, "--n-gen") == 0)
            rc = ed_run_parse_long("bench", a, v, 0, 1 << 20, &o->n_gen);
        else if (strcmp(a, "-t") == 0 || strcmp(a, "--threads") == 0)
            rc = ed_run_parse_long("bench", a, v, 1, ED_RUN_MAX_THREADS, &o->n_threads);
        else
            rc = ed_run_parse_long("bench", a, v, 1, 1000, &o->reps);
        if (rc != 0)
            return rc;
        i++;
    }
    const char *problem = !o->model_path                     ? "-m FILE is required"
                          : o->n_prompt == 0 && o->n_gen == 0 ? "-p 0 and -n 0 leave nothing to measure"
                                                              : NULL;
    if (problem) {
        fprintf(stderr, "edged bench: %s (see edged bench --help)\n", problem);
        return ED_EINVAL;
    }
    return 0;
}

/* ---------------------------------------------------------------- bandwidth -- */

/* The bandwidth probe: a child process that holds a buffer far larger than
 * the caches (so it never counts in this process's peak RSS) and, for each
 * byte it receives, reads the buffer with n_threads threads and answers
 * with the GB/s as a double. It exits when its socket closes. */
typedef struct {
    pid_t pid;
    int fd; /* our end of the socket pair; -1: not started */
} probe_t;

static void probe_child(int fd, int n_threads)
{
    size_t bytes = ed_bandwidth_buffer_size();
    ed_pool_t *pool = NULL;
    char child_err[ED_ERR_LEN];
    void *buf = ed_alloc_streamed(bytes); /* on huge pages, as the weights */
    bool ready = buf && ed_pool_open(&pool, n_threads, child_err) == 0;
    if (ready)
        memset(buf, 1, bytes);
    /* the parent waits for this: the fill must not run beside its tests */
    if (send(fd, &ready, 1, MSG_NOSIGNAL) != 1)
        _exit(0);
    char request;
    while (read(fd, &request, 1) == 1) {
        double gbps = ready ? ed_bandwidth_read_gbps(pool, buf, bytes, PROBE_PASSES) : 0;
        if (send(fd, &gbps, sizeof gbps, MSG_NOSIGNAL) != (ssize_t)sizeof gbps || !ready)
            break;
    }
    ed_pool_close(pool);
    free(buf);
    _exit(0);
}

static void probe_stop(probe_t *p);

static int probe_start(probe_t *p, int n_threads, char err[ED_ERR_LEN])
{
    int fds[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0)
        return snprintf(err, ED_ERR_LEN, "socketpair: %s", strerror(errno)), ed_err_from_errno(errno);
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(fds[0]), close(fds[1]);
        return snprintf(err, ED_ERR_LEN, "fork: %s", strerror(e)), ed_err_from_errno(e);
    }
    if (pid == 0) {
        close(fds[0]);
        probe_child(fds[1], n_threads);
    }
    close(fds[1]);
    *p = (probe_t){.pid = pid, .fd = fds[0]};
    /* ready once its buffer is filled (GiBs: seconds that would otherwise
     * compete with the warm-up and the first repetition) */
    bool ready = false;
    if (recv(p->fd, &ready, 1, MSG_WAITALL) != 1 || !ready) {
        probe_stop(p);
        snprintf(err, ED_ERR_LEN, "the bandwidth probe failed (out of memory for %zu MiB?)",
                 ed_bandwidth_buffer_size() >> 20);
        return ED_ENOMEM;
    }
    return 0;
}

/* One reading. 0, or ED_E* with err. */
static int probe_read(probe_t *p, double *gbps, char err[ED_ERR_LEN])
{
    double result = 0;
    ssize_t got = send(p->fd, "r", 1, MSG_NOSIGNAL) == 1 ? recv(p->fd, &result, sizeof result, MSG_WAITALL) : -1;
    if (got != (ssize_t)sizeof result || !(result > 0)) {
        snprintf(err, ED_ERR_LEN, "the bandwidth probe failed (out of memory for %zu MiB?)",
                 ed_bandwidth_buffer_size() >> 20);
        return ED_ENOMEM;
    }
    *gbps = result;
    return 0;
}

static void probe_stop(probe_t *p)
{
    if (p->fd < 0)
        return;
    close(p->fd);
    p->fd = -1;
    int status;
    while (waitpid(p->pid, &status, 0) < 0 && errno == EINTR) {
    }
}

/* Sizes, parameters and the bytes one decode step reads: every tensor but
 * token_embd, of which a step reads one row (all of it when the output head
 * is tied to it), plus the KV cache up to the tg test's mean position. */
static void describe_model(const ed_run_t *run, const bench_options_t *o, bench_model_t *m)
{
    const ed_model_t *model = &run->model;
    uint64_t type_bytes[ED_TYPE_COUNT] = {0};
    m->model_bytes = ed_gguf_file_size(run->gguf);
    for (uint64_t i = 0; i < ed_gguf_n_tensors(run->gguf); i++) {
        const ed_gguf_tensor_t *t = ed_gguf_tensor(run->gguf, i);
        uint64_t n = 1;
        for (uint32_t d = 0; d < t->n_dims; d++)
            n *= (uint64_t)t->ne[d];
        m->n_params += n;
        if (t->name.len > 4 && memcmp(t->name.ptr, "blk.", 4) == 0)
            type_bytes[t->type] += t->size;
        if (ed_str_eq(t->name, "token_embd.weight") && !model->tied) {
            uint64_t row = 0;
            ed_type_row_size(t->type, (uint64_t)t->ne[0], &row);
            m->weight_bytes += row;
        } else {
            m->weight_bytes += t->size;
        }
    }
    int heaviest = 0;
    for (int t = 0; t < ED_TYPE_COUNT; t++)
        heaviest = type_bytes[t] > type_bytes[heaviest] ? t : heaviest;
    m->weight_type = ed_type_info(heaviest) ? ed_type_info(heaviest)->name : "?";
    for (int i = 0; i < run->lora_set.n; i++)
        m->lora_bytes += run->loras[i]->bytes;
    m->weight_bytes += m->lora_bytes;
    m->kv_bytes = run->fw.kv.bytes; /* sliding layers: their rings only */
    m->kv_row_bytes = 2 * (uint64_t)model->n_layer * (uint64_t)model->kv_dim * sizeof(uint16_t);
    m->kv_read_bytes = (uint64_t)(m->kv_row_bytes * (TG_PROMPT + (double)o->n_gen / 2));
}

/* ------------------------------------------------------------------- tests -- */

static uint64_t rng_next(uint64_t *state) /* xorshift64 */
{
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    return *state;
}

/* Adds one bandwidth reading to m. */
static int read_bandwidth(probe_t *probe, bench_model_t *m, double *gbps, char err[ED_ERR_LEN])
{
    int rc = probe_read(probe, gbps, err);
    if (rc != 0)
        return rc;
    m->bandwidth_min = m->n_readings == 0 || *gbps < m->bandwidth_min ? *gbps : m->bandwidth_min;
    m->bandwidth_max = m->n_readings == 0 || *gbps > m->bandwidth_max ? *gbps : m->bandwidth_max;
    m->bandwidth_gbps = (m->bandwidth_gbps * m->n_readings + *gbps) / (m->n_readings + 1);
    m->n_readings++;
    return 0;
}

/* tokens/s of one run: pp evaluates tokens[0, n) from an empty cache; tg
 * evaluates TG_PROMPT tokens, then n steps of one token (the argmax of the
 * previous step, as greedy decoding would), in segments of TG_SEGMENT steps
 * with a bandwidth reading (when probe is non-NULL) before the first and
 * after each. *fraction: the time the steps would take at the bound of the
 * mean of the readings around their segment, over the time they took (the
 * readings' own time excluded). */
static int run_test(ed_run_t *run, const int32_t *tokens, int n, bool generation, probe_t *probe, bool verbose,
                    bench_model_t *m, double *tokens_per_s, double *fraction, char err[ED_ERR_LEN])
{
    ed_forward_t *fw = &run->fw;
    ed_kvcache_truncate(&fw->kv, 0);
    int rc;
    if (!generation) {
        double t0 = ed_run_now_s();
        if ((rc = ed_forward_eval(fw, tokens, n, NULL, err)) != 0)
            return rc;
        *tokens_per_s = n / (ed_run_now_s() - t0);
        return 0;
    }
    if ((rc = ed_forward_eval(fw, tokens, TG_PROMPT, NULL, err)) != 0)
        return rc;
    double before = 0, after = 0, taken = 0, at_bound = 0;
    if (probe && (rc = read_bandwidth(probe, m, &before, err)) != 0)
        return rc;
    for (int done = 0; done < n;) {
        int steps = n - done < TG_SEGMENT ? n - done : TG_SEGMENT;
        double t0 = ed_run_now_s();
        for (int i = 0; i < steps; i++) {
            int32_t token = fw->kernels->argmax(fw->logits, run->model.n_vocab);
            if ((rc = ed_forward_eval(fw, &token, 1, NULL, err)) != 0)
                return rc;
        }
        double seg_t = ed_run_now_s() - t0;
        taken += seg_t;
        if (probe) {
            if ((rc = read_bandwidth(probe, m, &after, err)) != 0)
                return rc;
            /* the steps attend to TG_PROMPT + done + 1 ... positions: their mean */
            double attended = TG_PROMPT + done + (steps + 1) / 2.0;
            double step_bytes = (double)m->weight_bytes + attended * (double)m->kv_row_bytes;
            at_bound += steps * step_bytes / ((before + after) / 2 * 1e9);
            if (verbose)
                fprintf(stderr, "edged bench: tg steps %d-%d: %.1f GB/s of weights and cache, read bandwidth %.1f "
                        "then %.1f GB/s: %.0f%% of the bound\n", done + 1, done + steps,
                        steps * step_bytes / seg_t / 1e9, before, after,
                        100 * steps * step_bytes / ((before + after) / 2 * 1e9) / seg_t);
            before = after;
        }
        done += steps;
    }
    *tokens_per_s = n / taken;
    *fraction = at_bound / taken;
    return 0;
}

static int run_reps(ed_run_t *run, const bench_options_t *o, bench_model_t *m, probe_t *probe,
                    const int32_t *tokens, bench_result_t *r, char err[ED_ERR_LEN])
{
    double sum = 0, sum_sq = 0, fraction_sum = 0;
    long reps = o->reps;
    for (long i = 0; i < reps; i++) {
        double tps, fraction = 0;
        int rc = run_test(run, tokens, r->n_tokens, r->generation, probe, o->verbose, m, &tps, &fraction, err);
        if (rc != 0)
            return rc;
        sum += tps, sum_sq += tps * tps;
        fraction_sum += fraction;
    }
    r->fraction = fraction_sum / (double)reps;
    r->mean = sum / (double)reps;
    double var = reps > 1 ? (sum_sq - sum * r->mean) / (double)(reps - 1) : 0;
    r->sd = var > 0 ? sqrt(var) : 0;
    return 0;
}

/* ------------------------------------------------------------------ output -- */

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

static void print_table(const bench_options_t *o, const ed_run_t *run, const bench_model_t *m,
                        const bench_result_t *results, int n_results, uint64_t peak_rss)
{
    const double mib = 1024.0 * 1024.0, gib = mib * 1024.0;
    printf("edged bench: kernels %s, read bandwidth %.1f GB/s (%ld threads; mean of %d readings, %.1f to %.1f), "
           "a decode step reads %.1f MiB (weights %.1f MiB + KV cache %.1f MiB at the tg mean position)\n\n",
           run->fw.kernels->name, m->bandwidth_gbps, o->n_threads, m->n_readings, m->bandwidth_min, m->bandwidth_max,
           (double)(m->weight_bytes + m->kv_read_bytes) / mib,
           (double)m->weight_bytes / mib, (double)m->kv_read_bytes / mib);
    printf("| %-32s | %-6s | %-26s | %8s | %7s | %7s | %16s | %9s | %8s |\n", "model", "type", "size",
           "params", "threads", "test", "t/s", "bound t/s", "of bound");
    printf("| %.32s | %.6s | %.26s | %.8s | %.7s | %.7s | %.16s | %.9s | %.8s |\n", "--------------------------------",
           "------", "--------------------------", "--------", "-------", "-------", "----------------",
           "---------", "--------");
    for (int i = 0; i < n_results; i++) {
        const bench_result_t *r = &results[i];
        char size[40], ts[40], bound[20] = "", fraction[20] = "";
        snprintf(size, sizeof size, "%.2f GiB (%" PRIu64 " B)", (double)m->model_bytes / gib, m->model_bytes);
        snprintf(ts, sizeof ts, "%.2f ± %.2f", r->mean, r->sd);
        if (r->generation) {
            snprintf(bound, sizeof bound, "%.2f", m->bound_tokens_per_s);
            snprintf(fraction, sizeof fraction, "%.0f%%", 100 * r->fraction);
        }
        printf("| %-32.32s | %-6s | %-26s | %7.2fB | %7ld | %7s | %17s | %9s | %8s |\n",
               base_name(o->model_path), m->weight_type, size, (double)m->n_params / 1e9, o->n_threads,
               r->name, ts, bound, fraction);
    }
    if (run->lora_set.n > 0)
        printf("\nadapters: %d (%.1f MiB of f32 matrices, counted in the bytes a step reads), scale %g\n",
               run->lora_set.n, (double)m->lora_bytes / mib, (double)o->lora.scale);
    uint64_t budget = m->model_bytes + m->kv_bytes + m->lora_bytes;
    const char *adapters = run->lora_set.n > 0 ? " + adapters" : "";
    printf("\npeak RSS %.1f MiB; mapped model + KV cache%s %.1f MiB (+%.1f MiB); %s model + KV%s + 64 MiB\n",
           (double)peak_rss / mib, adapters, (double)budget / mib, ((double)peak_rss - (double)budget) / mib,
           peak_rss <= budget + RSS_SLACK ? "within" : "OVER", adapters);
}

static int print_json(const bench_options_t *o, const ed_run_t *run, const bench_model_t *m,
                      const bench_result_t *results, int n_results, uint64_t peak_rss)
{
    for (int i = 0; i < n_results; i++) {
        const bench_result_t *r = &results[i];
        json_t *obj = json_object();
        if (!obj)
            return ED_ENOMEM;
        json_object_set_new(obj, "model", json_string(base_name(o->model_path)));
        json_object_set_new(obj, "weight_type", json_string(m->weight_type));
        json_object_set_new(obj, "kernels", json_string(run->fw.kernels->name));
        json_object_set_new(obj, "test", json_string(r->name));
        json_object_set_new(obj, "n_tokens", json_integer(r->n_tokens));
        json_object_set_new(obj, "repetitions", json_integer(o->reps));
        json_object_set_new(obj, "tokens_per_s", json_real(r->mean));
        json_object_set_new(obj, "tokens_per_s_sd", json_real(r->sd));
        json_object_set_new(obj, "threads", json_integer(o->n_threads));
        json_object_set_new(obj, "model_bytes", json_integer((json_int_t)m->model_bytes));
        json_object_set_new(obj, "n_params", json_integer((json_int_t)m->n_params));
        json_object_set_new(obj, "bytes_per_token", json_integer((json_int_t)(m->weight_bytes + m->kv_read_bytes)));
        json_object_set_new(obj, "bandwidth_gbps", json_real(m->bandwidth_gbps));
        json_object_set_new(obj, "bandwidth_min_gbps", json_real(m->bandwidth_min));
        json_object_set_new(obj, "bandwidth_max_gbps", json_real(m->bandwidth_max));
        json_object_set_new(obj, "bandwidth_readings", json_integer(m->n_readings));
        json_object_set_new(obj, "bound_tokens_per_s", json_real(m->bound_tokens_per_s));
        json_object_set_new(obj, "fraction_of_bound", r->generation ? json_real(r->fraction) : json_null());
        json_object_set_new(obj, "peak_rss_bytes", json_integer((json_int_t)peak_rss));
        json_object_set_new(obj, "kv_cache_bytes", json_integer((json_int_t)m->kv_bytes));
        json_t *adapters = json_array();
        for (int a = 0; a < o->lora.n; a++)
            json_array_append_new(adapters, json_string(base_name(o->lora.paths[a])));
        json_object_set_new(obj, "lora", adapters);
        json_object_set_new(obj, "lora_scale", json_real(o->lora.scale));
        json_object_set_new(obj, "lora_bytes", json_integer((json_int_t)m->lora_bytes));
        char *line = json_dumps(obj, JSON_COMPACT | JSON_REAL_PRECISION(6));
        json_decref(obj);
        if (!line)
            return ED_ENOMEM;
        printf("%s\n", line);
        free(line);
    }
    return 0;
}

int ed_bench_main(int argc, char **argv)
{
    bench_options_t o;
    int rc = parse_options(argc, argv, &o);
    if (rc != 0)
        return rc == 1 ? 0 : 2;
    char err[ED_ERR_LEN] = "";
    bench_model_t m = {0};
    ed_run_t run = {0};
    probe_t probe = {.fd = -1};
    int32_t *tokens = NULL;
    int n_ctx = (int)(o.n_prompt > TG_PROMPT + o.n_gen ? o.n_prompt : TG_PROMPT + o.n_gen);
    /* the probe first: its buffer (GiBs) is filled before the model loads,
     * and the process it forks holds none of the model */
    if ((rc = probe_start(&probe, (int)o.n_threads, err)) != 0) {
        fprintf(stderr, "edged bench: %s\n", err);
        return 1;
    }
    if ((rc = ed_run_open(&run, o.model_path, (int)o.n_threads, n_ctx, 0, err)) != 0 ||
        (rc = ed_run_open_loras(&run, &o.lora, "bench", err)) != 0) {
        fprintf(stderr, "edged bench: %s\n", err);
        ed_run_close(&run);
        probe_stop(&probe);
        return 1;
    }
    describe_model(&run, &o, &m);
    if (!(tokens = malloc((size_t)n_ctx * sizeof *tokens))) {
        rc = ED_ENOMEM;
        snprintf(err, ED_ERR_LEN, "out of memory for %d tokens", n_ctx);
        goto done;
    }
    uint64_t state = 0x9e3779b97f4a7c15ULL;
    for (int i = 0; i < n_ctx; i++)
        tokens[i] = (int32_t)(rng_next(&state) % (uint64_t)run.model.n_vocab);

    bench_result_t results[2];
    int n_results = 0;
    if (o.n_prompt > 0) {
        results[n_results] = (bench_result_t){.n_tokens = (int)o.n_prompt, .generation = false};
        snprintf(results[n_results].name, sizeof results[n_results].name, "pp%ld", o.n_prompt);
        n_results++;
    }
    if (o.n_gen > 0) {
        results[n_results] = (bench_result_t){.n_tokens = (int)o.n_gen, .generation = true};
        snprintf(results[n_results].name, sizeof results[n_results].name, "tg%ld", o.n_gen);
        n_results++;
    }
    /* warm-up: brings the mapped weights into memory and the pool's threads up */
    double ignored, gbps;
    if ((rc = run_test(&run, tokens, 1, true, NULL, false, &m, &ignored, &ignored, err)) != 0)
        goto done;
    for (int i = 0; i < n_results; i++)
        if ((rc = run_reps(&run, &o, &m, &probe, tokens, &results[i], err)) != 0)
            goto done;
    if (m.n_readings == 0 && (rc = read_bandwidth(&probe, &m, &gbps, err)) != 0)
        goto done;
    probe_stop(&probe);
    m.bound_tokens_per_s = m.bandwidth_gbps * 1e9 / (double)(m.weight_bytes + m.kv_read_bytes);

    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    uint64_t peak_rss = (uint64_t)usage.ru_maxrss * 1024; /* Linux: KiB */
    if (o.json)
        rc = print_json(&o, &run, &m, results, n_results, peak_rss);
    else
        print_table(&o, &run, &m, results, n_results, peak_rss);
    if (rc != 0)
        snprintf(err, ED_ERR_LEN, "out of memory writing JSON");
done:
    probe_stop(&probe);
    if (rc != 0)
        fprintf(stderr, "edged bench: %s: %s\n", ed_strerror(rc), err);
    free(tokens);
    ed_run_close(&run);
    return rc == 0 ? 0 : 1;
}
