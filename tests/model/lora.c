/* lora.c - adapters in the forward pass: in one batch, rows with adapter A,
 * adapter B, both (their updates add up) and none each get bit-identical
 * logits to running alone, for prompts and decode steps, on a llama base
 * (q4_0, repacked) and a tied qwen2 base (q8_0; token_embd adapted at the
 * lookup only); an adapter changes the logits, scale 0 gives the base's;
 * decode steps with adapters allocate nothing; bad sets are refused. Bases and adapters come from mkmodel and mklora. */
#include "tests/model/runner.h"
#include "tests/test.h"

#include <math.h>
#include <stdatomic.h>

/* Decode steps with adapters must make no allocations (tests/alloc_hook.h). */
#include "tests/alloc_hook.h"

#define VOCAB "../shared/testdata/vocab/"
#define N_CTX 64

static const int32_t prompt[] = {1, 15043, 3186, 29892, 445, 338, 263, 1243, 29889};
enum { N_PROMPT = sizeof prompt / sizeof prompt[0], N_SETS = 5, N_STEPS = 3 };

static int tool(const char *cmd)
{
    const char *build = getenv("BUILD") ? getenv("BUILD") : "build";
    char line[1024];
    snprintf(line, sizeof line, "%s/tests/tools/%s >/dev/null 2>&1", build, cmd);
    return system(line);
}

typedef struct {
    runner_t r;
    char base[256], a_path[256], b_path[256];
    ed_lora_t *a, *b;
    ed_lora_set_t sets[N_SETS]; /* none, A, B, A + 0.5 B, A at scale 0 */
    ed_kvcache_t kv[2 * N_SETS];
} fixture_t;

static void fixture_close(fixture_t *x)
{
    for (int i = 0; i < 2 * N_SETS; i++)
        ed_kvcache_free(&x->kv[i]);
    ed_lora_free(x->a);
    ed_lora_free(x->b);
    runner_close(&x->r);
    unlink(x->base);
    unlink(x->a_path);
    unlink(x->b_path);
}

static int fixture_open(fixture_t *x, const char *name, const char *base_args)
{
    memset(x, 0, sizeof *x);
    char cmd[768], err[ED_ERR_LEN] = "";
    snprintf(x->base, sizeof x->base, "/tmp/ed-mlora-%d-%s.gguf", (int)getpid(), name);
    snprintf(x->a_path, sizeof x->a_path, "/tmp/ed-mlora-%d-%s-a.gguf", (int)getpid(), name);
    snprintf(x->b_path, sizeof x->b_path, "/tmp/ed-mlora-%d-%s-b.gguf", (int)getpid(), name);
    snprintf(cmd, sizeof cmd, "mkmodel --out %s --n-layer 2 %s", x->base, base_args);
    if (tool(cmd) != 0)
        return printf("# mkmodel failed\n"), -1;
    snprintf(cmd, sizeof cmd, "mklora --base %s --out %s --targets all --rank 8 --alpha 16 --seed 3", x->base,
             x->a_path);
    if (tool(cmd) != 0)
        return printf("# mklora A failed\n"), -1;
    snprintf(cmd, sizeof cmd, "mklora --base %s --out %s --targets attn --rank 4 --alpha none --type f16 --seed 4",
             x->base, x->b_path);
    if (tool(cmd) != 0)
        return printf("# mklora B failed\n"), -1;
    int rc = runner_open(&x->r, x->base, 2, 0, 0);
    if (rc != 0)
        return rc;
    if ((rc = ed_forward_init_multi(&x->r.fw, &x->r.model, x->r.kernels, x->r.pool, N_CTX, 64, N_SETS, err)) ||
        (rc = ed_forward_reserve_lora(&x->r.fw, 8, err)) ||
        (rc = ed_lora_open(&x->a, x->a_path, x->r.gguf, &x->r.model, err)) ||
        (rc = ed_lora_open(&x->b, x->b_path, x->r.gguf, &x->r.model, err)))
        return printf("# %s\n", err), rc;
    for (int i = 0; i < 2 * N_SETS && rc == 0; i++)
        rc = ed_kvcache_init(&x->kv[i], x->r.model.n_layer, N_CTX, x->r.model.kv_dim, err);
    x->sets[1] = (ed_lora_set_t){.n = 1, .adapters = {x->a}, .scales = {1.0f}};
    x->sets[2] = (ed_lora_set_t){.n = 1, .adapters = {x->b}, .scales = {1.0f}};
    x->sets[3] = (ed_lora_set_t){.n = 2, .adapters = {x->a, x->b}, .scales = {1.0f, 0.5f}};
    x->sets[4] = (ed_lora_set_t){.n = 1, .adapters = {x->a}, .scales = {0.0f}};
    return rc;
}

static float max_diff(const float *a, const float *b, int n)
{
    float d = 0;
    for (int i = 0; i < n; i++)
        d = fmaxf(d, fabsf(a[i] - b[i]));
    return d;
}

/* Each set alone (caches 0..N_SETS), then all of them in one pass (caches
 * N_SETS..), for the prompt and N_STEPS greedy decode steps. */
static void check_mixed_batch(const char *name, const char *base_args)
{
    fixture_t x;
    int rc = fixture_open(&x, name, base_args);
    if (rc != 0)
        fixture_close(&x);
    ED_REQUIRE(rc == 0);
    int V = x.r.model.n_vocab;
    float *alone = calloc((size_t)N_SETS * V, sizeof(float)), *mixed = calloc((size_t)N_SETS * V, sizeof(float));
    ED_REQUIRE(alone && mixed);
    char err[ED_ERR_LEN];
    int32_t next[N_SETS];
    for (int step = 0; step <= N_STEPS; step++) {
#ifndef SANITIZED
        if (step == 1) {
            atomic_store(&n_allocations, 0);
            atomic_store(&counting, true);
        }
#endif
        ed_forward_seq_t seqs[N_SETS];
        for (int s = 0; s < N_SETS; s++) {
            ed_forward_seq_t one = {.kv = &x.kv[s], .tokens = step ? &next[s] : prompt, .n_tokens = step ? 1 : N_PROMPT,
                                    .logits = alone + (size_t)s * V, .lora = s ? &x.sets[s] : NULL};
            ED_CHECK_INT(ed_forward_eval_seqs(&x.r.fw, &one, 1, err), 0);
            /* the mixed pass lists the sets in another order */
            int m = (s + 2) % N_SETS;
            seqs[m] = one;
            seqs[m].kv = &x.kv[N_SETS + s];
            seqs[m].logits = mixed + (size_t)s * V;
        }
        ED_CHECK_INT(ed_forward_eval_seqs(&x.r.fw, seqs, N_SETS, err), 0);
        for (int s = 0; s < N_SETS; s++) {
            const float *a = alone + (size_t)s * V, *b = mixed + (size_t)s * V;
            if (memcmp(a, b, (size_t)V * sizeof(float)) != 0)
                ED__FAIL("%s step %d set %d: mixed differs from alone by %g", name, step, s, (double)max_diff(a, b, V));
            next[s] = x.r.kernels->argmax(a, V);
        }
        float d_a = max_diff(alone, alone + V, V), d_b = max_diff(alone, alone + 2 * (size_t)V, V);
        float d_ab = max_diff(alone + V, alone + 3 * (size_t)V, V);
        printf("# %s step %d: max |A - base| %g, |B - base| %g, |A+B/2 - A| %g\n", name, step, (double)d_a,
               (double)d_b, (double)d_ab);
        ED_CHECK(d_a > 1e-3 && d_b > 1e-3 && d_ab > 1e-4);
        ED_CHECK(memcmp(alone, alone + 4 * (size_t)V, (size_t)V * sizeof(float)) == 0); /* scale 0 */
    }
#ifndef SANITIZED
    atomic_store(&counting, false);
    printf("# %s: %ld allocations in %d decode steps with adapters\n", name, atomic_load(&n_allocations), N_STEPS);
    ED_CHECK_INT(atomic_load(&n_allocations), 0);
#endif

    /* the single-sequence pass with f->lora gives the same as its row */
    ed_forward_t single;
    ED_REQUIRE(ed_forward_init(&single, &x.r.model, x.r.kernels, x.r.pool, N_CTX, 0, err) == 0);
    ED_CHECK_INT(ed_forward_reserve_lora(&single, 8, err), 0);
    single.lora = &x.sets[3];
    float *all = calloc((size_t)N_PROMPT * V, sizeof(float));
    ed_forward_seq_t one = {.kv = &x.kv[0], .tokens = prompt, .n_tokens = N_PROMPT, .logits = alone, .lora = &x.sets[3]};
    ed_kvcache_truncate(&x.kv[0], 0);
    ED_CHECK_INT(ed_forward_eval_seqs(&x.r.fw, &one, 1, err), 0);
    ED_CHECK_INT(ed_forward_eval(&single, prompt, N_PROMPT, all, err), 0);
    ED_CHECK(memcmp(all + (size_t)(N_PROMPT - 1) * V, alone, (size_t)V * sizeof(float)) == 0);
    ED_CHECK(memcmp(single.logits, alone, (size_t)V * sizeof(float)) == 0);
    free(all);
    ed_forward_free(&single);
    free(alone);
    free(mixed);
    fixture_close(&x);
}

ED_TEST(llama_q4_0_mixed_batch_is_row_independent)
{
    check_mixed_batch("llama", "--arch llama --type q4_0 --vocab " VOCAB "ggml-vocab-llama-spm.gguf");
}

ED_TEST(qwen2_tied_q8_0_mixed_batch_is_row_independent)
{
    check_mixed_batch("qwen2", "--arch qwen2 --type q8_0 --tied --vocab " VOCAB "ggml-vocab-gpt-2.gguf");
}

ED_TEST(bad_sets_are_refused)
{
    fixture_t x;
    int rc = fixture_open(&x, "bad", "--arch llama --type q8_0 --vocab " VOCAB "ggml-vocab-llama-spm.gguf");
    if (rc != 0)
        fixture_close(&x);
    ED_REQUIRE(rc == 0);
    char err[ED_ERR_LEN];
    float *logits = calloc((size_t)x.r.model.n_vocab, sizeof(float));
    ed_forward_t small;
    ED_REQUIRE(ed_forward_init(&small, &x.r.model, x.r.kernels, x.r.pool, N_CTX, 0, err) == 0);
    small.lora = &x.sets[1];
    ED_CHECK_INT(ed_forward_eval(&small, prompt, N_PROMPT, NULL, err), ED_EINVAL); /* nothing reserved */
    printf("# %s\n", err);
    ED_CHECK(strstr(err, "rank 8, the pass reserved 0") != NULL);
    ED_CHECK_INT(small.kv.n_used, 0);
    ED_CHECK_INT(ed_forward_reserve_lora(&small, 4, err), 0);
    ED_CHECK_INT(ed_forward_eval(&small, prompt, N_PROMPT, NULL, err), ED_EINVAL);
    ED_CHECK_INT(ed_forward_reserve_lora(&small, 0, err), ED_EINVAL);
    ED_CHECK_INT(ed_forward_reserve_lora(&small, 8, err), 0);
    ED_CHECK_INT(ed_forward_eval(&small, prompt, N_PROMPT, NULL, err), 0);
    ed_lora_set_t too_many = {.n = ED_LORA_MAX_SET + 1};
    ed_forward_seq_t seq = {.kv = &x.kv[0], .tokens = prompt, .n_tokens = N_PROMPT, .logits = logits, .lora = &too_many};
    ED_CHECK_INT(ed_forward_eval_seqs(&x.r.fw, &seq, 1, err), ED_EINVAL);
    ED_CHECK_INT(x.kv[0].n_used, 0);
    ed_forward_free(&small);
    free(logits);
    fixture_close(&x);
}

ED_TEST_MAIN(llama_q4_0_mixed_batch_is_row_independent, qwen2_tied_q8_0_mixed_batch_is_row_independent,
             bad_sets_are_refused)
