/* run.h - `edged run`: loads a GGUF model and streams generated text to
 * stdout (a completion of -p, or an interactive chat on stdin that keeps the
 * conversation in the KV cache), or dumps the prompt's logits. Also the
 * opening of a model for evaluation that `edged bench` (bench.h) shares. */
#ifndef ED_CLI_RUN_H
#define ED_CLI_RUN_H

#include "core/error.h"
#include "kernels/pool.h"
#include "model/forward.h"
#include "model/gguf.h"
#include "model/lora.h"
#include "model/model.h"

#define ED_RUN_MAX_THREADS 256   /* compute threads at most (the pool's limit) */
#define ED_RUN_DEFAULT_CTX 4096 /* KV positions when -c is not given (less if the model was trained shorter) */

/* A model opened for evaluation: the mapped file, its weights, a thread pool
 * and a forward pass with its KV cache, and the adapters it applies. */
typedef struct {
    ed_gguf_t *gguf;
    ed_model_t model;
    ed_pool_t *pool;
    ed_forward_t fw;
    ed_lora_t *loras[ED_LORA_MAX_SET]; /* owned; lora_set.n of them */
    ed_lora_set_t lora_set;            /* fw.lora once an adapter is added */
} ed_run_t;

/* --lora FILE (repeatable: the adapters add up, as llama.cpp's do) and
 * --lora-scale S (every adapter's scale, default 1), shared by run and bench. */
typedef struct {
    const char *paths[ED_LORA_MAX_SET];
    int n;
    float scale;
} ed_run_lora_args_t;

#define ED_RUN_LORA_USAGE                                                                        \
    "      --lora FILE     apply the LoRA adapter FILE (llama.cpp's GGUF format); repeat it\n"   \
    "                      to add several up, as llama.cpp does (at most 8)\n"                   \
    "      --lora-scale S  the scale of every --lora adapter (default 1; alpha / rank\n"         \
    "                      multiplies it when the adapter has an alpha)\n"

/* When opt is --lora or --lora-scale: takes `value` into l and returns 0
 * (ED_EINVAL with a message on stderr for a bad one); else returns 1. */
int ed_run_parse_lora(const char *cmd, const char *opt, const char *value, ed_run_lora_args_t *l);
/* Loads each adapter of l against run's model and applies them to run->fw
 * from then on; prints one line per adapter on stderr. 0, or the loader's
 * ED_E* code with err naming the file. */
int ed_run_open_loras(ed_run_t *run, const ed_run_lora_args_t *l, const char *cmd, char err[ED_ERR_LEN]);

/* Opens the GGUF model at `path` with n_threads compute threads, a KV cache
 * of n_ctx positions (<= 0: the model's training context, at most
 * ED_RUN_DEFAULT_CTX) and batches of n_batch tokens (0: the default).
 * Returns 0, or the reader's / loader's ED_E* code with err filled. */
int ed_run_open(ed_run_t *run, const char *path, int n_threads, int n_ctx, int n_batch,
                char err[ED_ERR_LEN]);
/* Accepts a zeroed or half-opened run. */
void ed_run_close(ed_run_t *run);

/* Command-line values: parse `value` of option `opt` into [min, max]; on a bad
 * value print "edged <cmd>: <opt>: ..." to stderr and return ED_EINVAL. */
int ed_run_parse_long(const char *cmd, const char *opt, const char *value, long min, long max,
                      long *out);
int ed_run_parse_float(const char *cmd, const char *opt, const char *value, float min, float max,
                       float *out);
/* The number of online CPUs (the default thread count), at least 1. */
int ed_run_default_threads(void);
/* Monotonic seconds. */
double ed_run_now_s(void);

/* `edged run ...` (argv[0] is "run"). Returns the exit status: 0, 1 (a bad
 * model file or a failed evaluation), 2 (bad arguments). */
int ed_run_main(int argc, char **argv);

#endif
