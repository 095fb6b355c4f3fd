/* forward_multi.c - several sequences in one forward pass (continuous
 * batching): each sequence's logits and pooled hidden states must be exactly
 * what it gets when evaluated alone, whatever shares the pass with it, for
 * prompt chunks and decode steps; bad passes are refused untouched. */
#include "tests/model/runner.h"
#include "tests/test.h"

#include <math.h>

#define MODELS "../shared/testdata/models/"

static const int32_t prompt_a[] = {1, 15043, 3186, 29892, 445, 338, 263, 1243, 29889};
static const int32_t prompt_b[] = {1, 450, 4996, 17354, 1701};
enum { NA = sizeof prompt_a / sizeof prompt_a[0], NB = sizeof prompt_b / sizeof prompt_b[0], N_CTX = 64 };

typedef struct {
    runner_t r; /* no single-sequence pass: the caches below are the sequences */
    ed_kvcache_t kv[3];
} multi_t;

static void multi_close(multi_t *m)
{
    for (int i = 0; i < 3; i++)
        ed_kvcache_free(&m->kv[i]);
    runner_close(&m->r);
}

static int multi_open(multi_t *m, const char *path, int n_threads)
{
    char err[ED_ERR_LEN] = "";
    memset(m, 0, sizeof *m);
    int rc = runner_open(&m->r, path, n_threads, 0, 0);
    if (rc != 0)
        return rc;
    rc = ed_forward_init_multi(&m->r.fw, &m->r.model, m->r.kernels, m->r.pool, N_CTX, 32, 2, err);
    for (int i = 0; i < 3 && rc == 0; i++)
        rc = ed_kvcache_init(&m->kv[i], m->r.model.n_layer, N_CTX, m->r.model.kv_dim, err);
    if (rc != 0) {
        printf("# %s: %s (%s)\n", path, ed_strerror(rc), err);
        multi_close(m);
    }
    return rc;
}

static float max_diff(const float *a, const float *b, int n)
{
    float d = 0;
    for (int i = 0; i < n; i++)
        d = fmaxf(d, fabsf(a[i] - b[i]));
    return d;
}

/* Prompt A alone, then A and B together: A's logits and pooled states are
 * bit-identical; then four decode steps, A alone against A beside B. */
static void check_invariance(const char *quant)
{
    char path[256];
    snprintf(path, sizeof path, MODELS "tiny-llama-%s.gguf", quant);
    multi_t r;
    ED_REQUIRE(multi_open(&r, path, 2) == 0);
    int V = r.r.model.n_vocab, E = r.r.model.n_embd;
    float *alone = calloc((size_t)V, sizeof(float)), *shared = calloc((size_t)V, sizeof(float));
    float *logits_b = calloc((size_t)V, sizeof(float));
    float *pool_alone = calloc((size_t)E, sizeof(float)), *pool_shared = calloc((size_t)E, sizeof(float));
    ED_REQUIRE(alone && shared && logits_b && pool_alone && pool_shared);
    char err[ED_ERR_LEN];

    ed_forward_seq_t one = {.kv = &r.kv[0], .tokens = prompt_a, .n_tokens = NA, .logits = alone,
                            .hidden_sum = pool_alone};
    ED_CHECK_INT(ed_forward_eval_seqs(&r.r.fw, &one, 1, err), 0);
    ed_forward_seq_t two[2] = {
        {.kv = &r.kv[2], .tokens = prompt_b, .n_tokens = NB, .logits = logits_b},
        {.kv = &r.kv[1], .tokens = prompt_a, .n_tokens = NA, .logits = shared, .hidden_sum = pool_shared},
    };
    ED_CHECK_INT(ed_forward_eval_seqs(&r.r.fw, two, 2, err), 0);
    ED_CHECK_INT(r.kv[1].n_used, NA);
    ED_CHECK_INT(r.kv[2].n_used, NB);
    printf("# %s prompt: max |alone - shared| logits %g, pooled %g\n", quant, max_diff(alone, shared, V),
           max_diff(pool_alone, pool_shared, E));
    ED_CHECK(memcmp(alone, shared, (size_t)V * sizeof(float)) == 0);
    ED_CHECK(memcmp(pool_alone, pool_shared, (size_t)E * sizeof(float)) == 0);

    int32_t tok_alone = 29871, tok_shared = 29871, tok_b = 29871;
    for (int step = 0; step < 4; step++) {
        ed_forward_seq_t a = {.kv = &r.kv[0], .tokens = &tok_alone, .n_tokens = 1, .logits = alone};
        ED_CHECK_INT(ed_forward_eval_seqs(&r.r.fw, &a, 1, err), 0);
        ed_forward_seq_t ab[2] = {
            {.kv = &r.kv[1], .tokens = &tok_shared, .n_tokens = 1, .logits = shared},
            {.kv = &r.kv[2], .tokens = &tok_b, .n_tokens = 1, .logits = logits_b},
        };
        ED_CHECK_INT(ed_forward_eval_seqs(&r.r.fw, ab, 2, err), 0);
        float d = max_diff(alone, shared, V);
        if (d != 0)
            printf("# %s decode step %d: max |alone - shared| %g\n", quant, step, d);
        ED_CHECK(d == 0);
        int best = 0;
        for (int i = 1; i < V; i++)
            best = alone[i] > alone[best] ? i : best;
        tok_alone = tok_shared = best;
        tok_b = (tok_b * 7 + 13) % V;
    }
    free(alone);
    free(shared);
    free(logits_b);
    free(pool_alone);
    free(pool_shared);
    multi_close(&r);
}

ED_TEST(q8_0_sequences_do_not_disturb_each_other) { check_invariance("Q8_0"); }
ED_TEST(q4_0_sequences_do_not_disturb_each_other) { check_invariance("Q4_0"); }
ED_TEST(q4_k_m_sequences_do_not_disturb_each_other) { check_invariance("Q4_K_M"); }

/* The multi-sequence pass of one sequence equals ed_forward_eval's. */
ED_TEST(one_sequence_matches_forward_eval)
{
    multi_t r;
    ED_REQUIRE(multi_open(&r, MODELS "tiny-llama-Q8_0.gguf", 1) == 0);
    ed_forward_t single;
    char err[ED_ERR_LEN];
    ED_REQUIRE(ed_forward_init(&single, &r.r.model, r.r.kernels, r.r.pool, N_CTX, 32, err) == 0);
    ED_CHECK_INT(ed_forward_eval(&single, prompt_a, NA, NULL, err), 0);
    float *logits = calloc((size_t)r.r.model.n_vocab, sizeof(float));
    ed_forward_seq_t one = {.kv = &r.kv[0], .tokens = prompt_a, .n_tokens = NA, .logits = logits};
    ED_CHECK_INT(ed_forward_eval_seqs(&r.r.fw, &one, 1, err), 0);
    ED_CHECK(memcmp(logits, single.logits, (size_t)r.r.model.n_vocab * sizeof(float)) == 0);
    free(logits);
    ed_forward_free(&single);
    multi_close(&r);
}

ED_TEST(bad_passes_are_refused_untouched)
{
    multi_t r;
    ED_REQUIRE(multi_open(&r, MODELS "tiny-llama-Q8_0.gguf", 1) == 0);
    char err[ED_ERR_LEN];
    int32_t tokens[40] = {1};
    ed_forward_seq_t s[3] = {
        {.kv = &r.kv[0], .tokens = tokens, .n_tokens = 1},
        {.kv = &r.kv[1], .tokens = tokens, .n_tokens = 1},
        {.kv = &r.kv[2], .tokens = tokens, .n_tokens = 1},
    };
    ED_CHECK_INT(ed_forward_eval_seqs(&r.r.fw, s, 3, err), ED_EINVAL); /* n_seq_max is 2 */
    printf("# %s\n", err);
    s[1].kv = &r.kv[0];
    ED_CHECK_INT(ed_forward_eval_seqs(&r.r.fw, s, 2, err), ED_EINVAL); /* one cache twice */
    printf("# %s\n", err);
    s[1].kv = &r.kv[1];
    s[1].n_tokens = 32; /* 33 tokens > n_batch 32 */
    ED_CHECK_INT(ed_forward_eval_seqs(&r.r.fw, s, 2, err), ED_EINVAL);
    printf("# %s\n", err);
    s[1].n_tokens = 1;
    tokens[0] = r.r.model.n_vocab;
    ED_CHECK_INT(ed_forward_eval_seqs(&r.r.fw, s, 2, err), ED_EINVAL);
    printf("# %s\n", err);
    tokens[0] = 1;
    r.kv[1].n_used = N_CTX;
    ED_CHECK_INT(ed_forward_eval_seqs(&r.r.fw, s, 2, err), ED_ERANGE);
    printf("# %s\n", err);
    ED_CHECK_INT(r.kv[0].n_used, 0);
    multi_close(&r);
}

ED_TEST_MAIN(one_sequence_matches_forward_eval, q8_0_sequences_do_not_disturb_each_other,
             q4_0_sequences_do_not_disturb_each_other, q4_k_m_sequences_do_not_disturb_each_other,
             bad_passes_are_refused_untouched)
