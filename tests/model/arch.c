/* arch.c - the qwen3, phi3, smollm3, gemma2 and gemma3 architectures
 * (daemon/model/model.c, forward.c) on Q8_0 random-weight models written by
 * tests/tools/mkmodel: what the loader reads from llama.cpp's keys and
 * tensors, the prompt in one batch against batches of 4 and one token at a
 * time (gemma: the latter two over ring caches of their sliding layers), and
 * several sequences in one pass against each alone (bit-identical). The logits themselves are
 * checked against PyTorch in tests/reference/test_forward.py. */
#include "tests/model/runner.h"
#include "tests/test.h"

#include <math.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define VOCAB_DIR "../shared/testdata/vocab/"

static const int32_t prompt[] = {1, 15043, 3186, 29892, 445, 338, 263, 1243, 29889};
static const int32_t prompt_b[] = {1, 450, 4996, 17354, 1701};
enum { N_PROMPT = sizeof prompt / sizeof prompt[0], NB = sizeof prompt_b / sizeof prompt_b[0], N_CTX = 32 };
enum { N_STEPS = 16 }; /* decode steps of check_slots: the positions wrap gemma's rings */

typedef struct {
    const char *name;
    const char *args;  /* mkmodel options */
    const char *vocab; /* under VOCAB_DIR */
} fixture_t;

static const fixture_t FIXTURES[] = {
    {"qwen3", "--arch qwen3 --n-head 4 --n-head-kv 2 --head-dim 32 --tied", "ggml-vocab-gpt-2.gguf"},
    {"phi3", "--arch phi3 --n-head 4 --n-head-kv 2 --n-rot 12 --longrope 16", "ggml-vocab-llama-spm.gguf"},
    {"smollm3", "--arch smollm3 --n-layer 4 --n-head 4 --n-head-kv 2 --tied", "ggml-vocab-gpt-2.gguf"},
    {"gemma2", "--arch gemma2 --n-layer 4 --n-head 4 --n-head-kv 2 --head-dim 32 --sliding-window 3 --tied "
               "--attn-softcap 2 --final-softcap 3",
     "ggml-vocab-llama-spm.gguf"},
    {"gemma3", "--arch gemma3 --n-layer 7 --n-head 4 --n-head-kv 1 --head-dim 32 --sliding-window 3 --tied",
     "ggml-vocab-llama-spm.gguf"},
};

/* The fixtures' folder: each test runs in a child of the program, so the
 * folder is named after the parent, made by the first test that needs it and
 * removed by the last test. */
static void fixture_dir(char *dir, size_t cap)
{
    snprintf(dir, cap, "/tmp/edged-arch-%ld", (long)getppid());
}

/* Writes fixture f (Q8_0, 2 layers unless its args say otherwise) into the
 * fixtures' folder once; its path in `path`. 0 or -1 (printed). */
static int fixture_path(const fixture_t *f, char *path, size_t cap)
{
    char dir[64];
    fixture_dir(dir, sizeof dir);
    mkdir(dir, 0700);
    snprintf(path, cap, "%s/%s.gguf", dir, f->name);
    if (access(path, R_OK) == 0)
        return 0;
    const char *build = getenv("BUILD") ? getenv("BUILD") : "build";
    char command[2048];
    snprintf(command, sizeof command,
             "%s/tests/tools/mkmodel --type q8_0 %s --seed 5 --vocab " VOCAB_DIR "%s --out %s %s >/dev/null 2>&1",
             build, strstr(f->args, "--n-layer") ? "" : "--n-layer 2", f->vocab, path, f->args);
    if (system(command) != 0) {
        printf("# failed: %s\n", command);
        return -1;
    }
    return 0;
}

ED_TEST(loader_reads_each_architecture)
{
    char path[512];
    runner_t r;
    ED_REQUIRE(fixture_path(&FIXTURES[0], path, sizeof path) == 0);
    ED_REQUIRE(runner_open(&r, path, 1, 0, 0) == 0);
    ED_CHECK_STR(ed_model_arch_name(r.model.arch), "qwen3");
    ED_CHECK_INT(r.model.head_dim, 32); /* attention.key_length, not n_embd / n_head = 16 */
    ED_CHECK_INT(r.model.q_dim, 128);
    ED_CHECK_INT(r.model.rope.neox, 1);
    ED_CHECK(r.model.layers[1].q_norm != NULL && r.model.layers[1].k_norm != NULL);
    ED_CHECK(r.model.layers[0].bq == NULL);
    runner_close(&r);

    ED_REQUIRE(fixture_path(&FIXTURES[1], path, sizeof path) == 0);
    ED_REQUIRE(runner_open(&r, path, 1, 0, 0) == 0);
    ED_CHECK_STR(ed_model_arch_name(r.model.arch), "phi3");
    ED_CHECK_INT(r.model.rope.n_rot, 12);
    ED_CHECK_INT(r.model.rope.neox, 1);
    ED_CHECK_INT(r.model.n_ctx_orig, 16);
    ED_CHECK(r.model.rope_long != NULL && r.model.rope_short != NULL);
    /* sqrt(1 + ln(256 / 16) / ln(16)) as convert_hf_to_gguf writes it */
    ED_CHECK_NEAR(r.model.rope_attn_factor, sqrtf(2.0f), 1e-6);
    ED_CHECK(r.model.layers[0].q_norm == NULL);
    runner_close(&r);
    /* the factors follow the pass's context: short up to the original 16, long above */
    runner_t shrt, lng;
    ED_REQUIRE(runner_open(&shrt, path, 1, 16, 0) == 0);
    if (runner_open(&lng, path, 1, 17, 0) == 0) {
        ED_CHECK(shrt.fw.rope.freq_factors == shrt.model.rope_short);
        ED_CHECK(lng.fw.rope.freq_factors == lng.model.rope_long);
        runner_close(&lng);
    }
    runner_close(&shrt);

    ED_REQUIRE(fixture_path(&FIXTURES[2], path, sizeof path) == 0);
    ED_REQUIRE(runner_open(&r, path, 1, 0, 0) == 0);
    ED_CHECK_STR(ed_model_arch_name(r.model.arch), "smollm3");
    ED_CHECK_INT(r.model.rope.neox, 0);
    for (int l = 0; l < r.model.n_layer; l++)
        ED_CHECK_INT(r.model.layers[l].rope, l != 3); /* llama.cpp: (il + 1) % 4 == 0 is NoPE */
    ED_CHECK_INT(r.model.n_swa, 0);
    ED_CHECK(r.model.embd_scale == 1.0f && !r.model.gelu_ffn && r.model.attn_softcap == 0);
    runner_close(&r);

    ED_REQUIRE(fixture_path(&FIXTURES[3], path, sizeof path) == 0);
    ED_REQUIRE(runner_open(&r, path, 1, 0, 0) == 0);
    ED_CHECK_STR(ed_model_arch_name(r.model.arch), "gemma2");
    ED_CHECK_INT(r.model.n_swa, 3);
    ED_CHECK_INT(r.model.rope.neox, 1);
    ED_CHECK_NEAR(r.model.embd_scale, 8.0f, 1e-6); /* sqrt(n_embd 64) */
    ED_CHECK_NEAR(r.model.attn_scale, 1.0f / sqrtf(32.0f), 1e-7);
    ED_CHECK(r.model.attn_softcap == 2.0f && r.model.final_softcap == 3.0f && r.model.gelu_ffn && r.model.tied);
    ED_CHECK(r.model.rope_swa.freq_base == r.model.rope.freq_base);
    for (int l = 0; l < r.model.n_layer; l++) {
        ED_CHECK_INT(r.model.layers[l].sliding, l % 2 == 0); /* set_swa_pattern(2) */
        ED_CHECK(r.model.layers[l].attn_post_norm != NULL && r.model.layers[l].ffn_post_norm != NULL);
    }
    runner_close(&r);

    ED_REQUIRE(fixture_path(&FIXTURES[4], path, sizeof path) == 0);
    ED_REQUIRE(runner_open(&r, path, 1, 0, 0) == 0);
    ED_CHECK_STR(ed_model_arch_name(r.model.arch), "gemma3");
    ED_CHECK(r.model.attn_softcap == 0 && r.model.final_softcap == 0);
    ED_CHECK(r.model.rope.freq_base == 1000000.0f && r.model.rope_swa.freq_base == 10000.0f);
    ED_CHECK(r.model.layers[0].q_norm != NULL && r.model.layers[6].k_norm != NULL);
    for (int l = 0; l < r.model.n_layer; l++)
        ED_CHECK_INT(r.model.layers[l].sliding, l % 6 < 5); /* set_swa_pattern(6): 5 local, 1 global */
    runner_close(&r);
}

/* Fixture f's file with the first `find` in its header replaced by
 * `replace` (same length), loaded: the loader's code, err filled. */
static int load_patched(const fixture_t *f, const char *find, const char *replace, char err[ED_ERR_LEN])
{
    char path[512];
    if (fixture_path(f, path, sizeof path) != 0)
        return ED_EIO;
    FILE *file = fopen(path, "rb");
    size_t size = 32 << 20, got = 0, n = strlen(find);
    uint8_t *data = malloc(size);
    if (file && data)
        got = fread(data, 1, size, file);
    if (file)
        fclose(file);
    uint8_t *at = data ? memmem(data, got, find, n) : NULL;
    int rc = ED_EIO;
    if (at) {
        memcpy(at, replace, n);
        ed_gguf_t *gguf = NULL;
        ed_model_t model;
        if ((rc = ed_gguf_open_memory(&gguf, data, got, err)) == 0 && (rc = ed_model_load(&model, gguf, err)) == 0)
            ed_model_free(&model);
        ed_gguf_close(gguf);
    }
    free(data);
    return rc;
}

ED_TEST(loader_names_what_is_missing)
{
    char err[ED_ERR_LEN] = "";
    ED_CHECK_INT(load_patched(&FIXTURES[0], "blk.1.attn_k_norm.weight", "blk.1.attn_k_norx.weight", err),
                 ED_EFORMAT);
    ED_CHECK_STR(err, "tensor blk.1.attn_k_norm.weight is missing");
    ED_CHECK_INT(load_patched(&FIXTURES[1], "rope_factors_short.weight", "rope_factors_shorx.weight", err),
                 ED_EFORMAT);
    ED_CHECK_STR(err, "tensor rope_factors_short.weight is missing (the file has the long factors)");
    /* phi3 without attn_qkv looks for separate q, k and v, as llama.cpp does */
    ED_CHECK_INT(load_patched(&FIXTURES[1], "blk.0.attn_qkv.weight", "blk.0.attn_qkx.weight", err), ED_EFORMAT);
    ED_CHECK_STR(err, "tensor blk.0.attn_q.weight is missing");
    printf("# %s\n", err);
    ED_CHECK_INT(load_patched(&FIXTURES[3], "blk.2.post_ffw_norm.weight", "blk.2.post_ffw_norx.weight", err),
                 ED_EFORMAT);
    ED_CHECK_STR(err, "tensor blk.2.post_ffw_norm.weight is missing");
    /* gemma3 needs attention.sliding_window (gemma2 falls back to 4096, as llama.cpp) */
    ED_CHECK_INT(load_patched(&FIXTURES[4], "gemma3.attention.sliding_window", "gemma3.attention.sliding_windox",
                              err),
                 ED_EFORMAT);
    ED_CHECK_STR(err, "metadata key gemma3.attention.sliding_window is missing");
}

static double max_abs_diff(const float *a, const float *b, size_t n)
{
    double d = 0;
    for (size_t i = 0; i < n; i++)
        d = fmax(d, fabs((double)a[i] - b[i]));
    return d;
}

/* The prompt in one batch, in batches of 4 and one token at a time: bit-identical. */
static void check_batches(const fixture_t *f)
{
    char path[512], err[ED_ERR_LEN] = "";
    ED_REQUIRE(fixture_path(f, path, sizeof path) == 0);
    runner_t whole, fours, single;
    ED_REQUIRE(runner_open(&whole, path, 2, N_CTX, 0) == 0);
    ED_REQUIRE(runner_open(&fours, path, 2, N_CTX, 4) == 0);
    ED_REQUIRE(runner_open(&single, path, 2, N_CTX, 1) == 0);
    int V = whole.model.n_vocab;
    size_t n = (size_t)N_PROMPT * V;
    float *a = malloc(n * sizeof(float)), *b = malloc(n * sizeof(float)), *c = malloc(n * sizeof(float));
    ED_REQUIRE(a && b && c);
    ED_CHECK_INT(ed_forward_eval(&whole.fw, prompt, N_PROMPT, a, err), 0);
    ED_CHECK_INT(ed_forward_eval(&fours.fw, prompt, N_PROMPT, b, err), 0);
    for (int t = 0; t < N_PROMPT; t++)
        ED_CHECK_INT(ed_forward_eval(&single.fw, prompt + t, 1, c + (size_t)t * V, err), 0);
    double ab = max_abs_diff(a, b, n), ac = max_abs_diff(a, c, n);
    printf("# %s: max |batch - batches of 4| = %.3g, max |batch - one by one| = %.3g\n", f->name, ab, ac);
    ED_CHECK(ab == 0); /* every row's products and attention do not depend on the batch */
    ED_CHECK(ac == 0);
    free(a);
    free(b);
    free(c);
    runner_close(&whole);
    runner_close(&fours);
    runner_close(&single);
}

ED_TEST(qwen3_batch_matches_token_by_token) { check_batches(&FIXTURES[0]); }
ED_TEST(phi3_batch_matches_token_by_token) { check_batches(&FIXTURES[1]); }
ED_TEST(smollm3_batch_matches_token_by_token) { check_batches(&FIXTURES[2]); }
ED_TEST(gemma2_batch_matches_token_by_token) { check_batches(&FIXTURES[3]); }
ED_TEST(gemma3_batch_matches_token_by_token) { check_batches(&FIXTURES[4]); }

/* Prompt A alone, then A beside B in one pass, then decode steps past the
 * sliding windows' rings (caches for passes of up to N_PROMPT tokens): A's
 * logits are bit-identical either way. */
static void check_slots(const fixture_t *f)
{
    char path[512], err[ED_ERR_LEN] = "";
    ED_REQUIRE(fixture_path(f, path, sizeof path) == 0);
    runner_t r;
    ED_REQUIRE(runner_open(&r, path, 2, 0, 0) == 0);
    ed_kvcache_t kv[3] = {0};
    int rc = ed_forward_init_multi(&r.fw, &r.model, r.kernels, r.pool, N_CTX, 32, 2, err);
    for (int i = 0; i < 3 && rc == 0; i++)
        rc = ed_kvcache_init_model(&kv[i], &r.model, N_CTX, N_PROMPT, err);
    if (rc == 0 && r.model.n_swa > 0) {
        int sliding = 0;
        while (!r.model.layers[sliding].sliding)
            sliding++;
        ED_CHECK_INT(kv[0].layers[sliding].ring, r.model.n_swa + N_PROMPT - 1);
        ED_CHECK(kv[0].bytes < ed_kvcache_bytes(r.model.n_layer, N_CTX, r.model.kv_dim));
    }
    ED_CHECK_INT(rc, 0);
    int V = r.model.n_vocab;
    float *alone = calloc((size_t)V, sizeof(float)), *shared = calloc((size_t)V, sizeof(float));
    float *other = calloc((size_t)V, sizeof(float));
    if (rc == 0 && alone && shared && other) {
        ed_forward_seq_t one = {.kv = &kv[0], .tokens = prompt, .n_tokens = N_PROMPT, .logits = alone};
        ED_CHECK_INT(ed_forward_eval_seqs(&r.fw, &one, 1, err), 0);
        ed_forward_seq_t two[2] = {
            {.kv = &kv[2], .tokens = prompt_b, .n_tokens = NB, .logits = other},
            {.kv = &kv[1], .tokens = prompt, .n_tokens = N_PROMPT, .logits = shared},
        };
        ED_CHECK_INT(ed_forward_eval_seqs(&r.fw, two, 2, err), 0);
        double worst = max_abs_diff(alone, shared, (size_t)V);
        int32_t tok_a = 29871, tok_s = 29871, tok_b = 29871;
        for (int step = 0; step < N_STEPS; step++) {
            ed_forward_seq_t a = {.kv = &kv[0], .tokens = &tok_a, .n_tokens = 1, .logits = alone};
            ED_CHECK_INT(ed_forward_eval_seqs(&r.fw, &a, 1, err), 0);
            ed_forward_seq_t ab[2] = {
                {.kv = &kv[1], .tokens = &tok_s, .n_tokens = 1, .logits = shared},
                {.kv = &kv[2], .tokens = &tok_b, .n_tokens = 1, .logits = other},
            };
            ED_CHECK_INT(ed_forward_eval_seqs(&r.fw, ab, 2, err), 0);
            worst = fmax(worst, max_abs_diff(alone, shared, (size_t)V));
            int best = 0;
            for (int i = 1; i < V; i++)
                best = alone[i] > alone[best] ? i : best;
            tok_a = tok_s = best;
            tok_b = (tok_b * 7 + 13) % V;
        }
        printf("# %s: max |alone - beside another sequence| over prompt and %d decode steps = %g\n", f->name,
               N_STEPS, worst);
        ED_CHECK(worst == 0);
    }
    free(alone);
    free(shared);
    free(other);
    for (int i = 0; i < 3; i++)
        ed_kvcache_free(&kv[i]);
    runner_close(&r);
}

ED_TEST(qwen3_sequences_do_not_disturb_each_other) { check_slots(&FIXTURES[0]); }
ED_TEST(phi3_sequences_do_not_disturb_each_other) { check_slots(&FIXTURES[1]); }
ED_TEST(smollm3_sequences_do_not_disturb_each_other) { check_slots(&FIXTURES[2]); }
ED_TEST(gemma2_sequences_do_not_disturb_each_other) { check_slots(&FIXTURES[3]); }
ED_TEST(gemma3_sequences_do_not_disturb_each_other) { check_slots(&FIXTURES[4]); }

/* A ring keeps the window of the positions it last wrote: a rewind may keep
 * a prefix whose window is still there (and recomputes the same logits), not
 * one whose window was overwritten; a pass may not append more positions
 * than the ring was sized for. */
ED_TEST(ring_cache_rewinds_only_within_the_window)
{
    char path[512], err[ED_ERR_LEN] = "";
    ED_REQUIRE(fixture_path(&FIXTURES[3], path, sizeof path) == 0);
    runner_t r;
    ED_REQUIRE(runner_open(&r, path, 1, N_CTX, 1) == 0);
    ED_CHECK_INT(r.fw.kv.layers[0].ring, 3); /* window 3 + batch 1 - 1 */
    ED_CHECK_INT(r.fw.kv.layers[1].ring, 0); /* a global layer keeps every position */
    int V = r.model.n_vocab;
    float *first = malloc((size_t)V * sizeof(float)), *again = malloc((size_t)V * sizeof(float));
    ED_REQUIRE(first && again);
    for (int t = 0; t < N_PROMPT; t++)
        ED_CHECK_INT(ed_forward_eval(&r.fw, prompt + t, 1, NULL, err), 0);
    memcpy(first, r.fw.logits, (size_t)V * sizeof(float));
    /* position 8 attends to 6 and 7 (and itself): slots 0 and 1 still hold them */
    ED_CHECK_INT(ed_kvcache_reusable(&r.fw.kv, N_PROMPT - 1), N_PROMPT - 1);
    ED_CHECK_INT(ed_kvcache_reusable(&r.fw.kv, N_PROMPT - 2), 0); /* position 5's slot holds 8 */
    ED_CHECK_INT(ed_kvcache_reusable(&r.fw.kv, 2), 0);
    ED_CHECK_INT(ed_kvcache_reusable(&r.fw.kv, 0), 0);
    ED_CHECK_INT(ed_kvcache_truncate(&r.fw.kv, N_PROMPT - 1), 0);
    ED_CHECK_INT(ed_forward_eval(&r.fw, prompt + N_PROMPT - 1, 1, NULL, err), 0);
    memcpy(again, r.fw.logits, (size_t)V * sizeof(float));
    ED_CHECK(max_abs_diff(first, again, (size_t)V) == 0);
    /* a linear cache keeps any prefix */
    ed_kvcache_t linear;
    ED_REQUIRE(ed_kvcache_init(&linear, r.model.n_layer, N_CTX, r.model.kv_dim, err) == 0);
    linear.n_used = linear.n_high = N_PROMPT;
    ED_CHECK_INT(ed_kvcache_reusable(&linear, 2), 2);
    ed_kvcache_free(&linear);

    ed_kvcache_t ring;
    runner_t multi;
    ED_REQUIRE(runner_open(&multi, path, 1, 0, 0) == 0);
    ED_REQUIRE(ed_forward_init_multi(&multi.fw, &multi.model, multi.kernels, multi.pool, N_CTX, 16, 1, err) == 0);
    ED_REQUIRE(ed_kvcache_init_model(&ring, &multi.model, N_CTX, 4, err) == 0);
    ed_forward_seq_t seq = {.kv = &ring, .tokens = prompt, .n_tokens = 5, .logits = first};
    ED_CHECK_INT(ed_forward_eval_seqs(&multi.fw, &seq, 1, err), ED_EINVAL);
    ED_CHECK_STR(err, "forward: sequence 0 brings 5 tokens; its cache's rings take 4 a pass");
    seq.n_tokens = 4;
    ED_CHECK_INT(ed_forward_eval_seqs(&multi.fw, &seq, 1, err), 0);
    ed_kvcache_free(&ring);
    runner_close(&multi);
    free(first);
    free(again);
    runner_close(&r);
}

ED_TEST(cleanup)
{
    char dir[64], command[128];
    fixture_dir(dir, sizeof dir);
    snprintf(command, sizeof command, "rm -rf %s", dir);
    ED_CHECK(system(command) == 0);
}

ED_TEST_MAIN(loader_reads_each_architecture, loader_names_what_is_missing, qwen3_batch_matches_token_by_token,
             phi3_batch_matches_token_by_token, smollm3_batch_matches_token_by_token,
             gemma2_batch_matches_token_by_token, gemma3_batch_matches_token_by_token,
             qwen3_sequences_do_not_disturb_each_other, phi3_sequences_do_not_disturb_each_other,
             smollm3_sequences_do_not_disturb_each_other, gemma2_sequences_do_not_disturb_each_other,
             gemma3_sequences_do_not_disturb_each_other, ring_cache_rewinds_only_within_the_window, cleanup)
