/* tests/unit/model/sampler.c - each sampling transform against hand-computed
 * values, greedy equivalences, seeded reproducibility, the drawn distribution,
 * and stop strings split across streamed tokens. */
#include "model/sampler.h"
#include "tests/test.h"

static ed_sampler_params_t plain(void)
{
    ed_sampler_params_t p = ed_sampler_defaults();
    p.temperature = 1.0f;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    return p;
}

static ed_candidates_t fill(ed_candidate_t *data, const float *logits, size_t n)
{
    for (size_t i = 0; i < n; i++)
        data[i] = (ed_candidate_t){(int32_t)i, logits[i]};
    return (ed_candidates_t){data, n, false};
}

static int compare_desc(const void *a, const void *b)
{
    const ed_candidate_t *x = a, *y = b;
    if (x->logit != y->logit)
        return x->logit > y->logit ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

static float logit_of(const ed_candidates_t *c, int32_t id)
{
    for (size_t i = 0; i < c->n; i++)
        if (c->data[i].id == id)
            return c->data[i].logit;
    return NAN;
}

ED_TEST(penalties_match_hand_values)
{
    ed_sampler_params_t p = plain();
    p.repeat_penalty = 2.0f;
    p.frequency_penalty = 0.1f;
    p.presence_penalty = 0.5f;
    p.penalty_last_n = 3;
    ed_sampler_t s;
    char err[ED_ERR_LEN];
    ED_REQUIRE(ed_sampler_init(&s, 4, &p, err) == 0);
    ed_sampler_accept(&s, 0);
    ed_sampler_accept(&s, 1);
    ed_sampler_accept(&s, 0);
    const float logits[4] = {2.0f, -1.0f, 0.5f, 3.0f};
    ed_candidate_t data[4];
    ed_candidates_t c = fill(data, logits, 4);
    ed_sampler_apply_penalties(&s, &c);
    ED_CHECK_NEAR(logit_of(&c, 0), 2.0 / 2 - (2 * 0.1 + 0.5), 1e-6); /* seen twice */
    ED_CHECK_NEAR(logit_of(&c, 1), -1.0 * 2 - (1 * 0.1 + 0.5), 1e-6); /* negative: multiplied */
    ED_CHECK_NEAR(logit_of(&c, 2), 0.5, 0);
    ED_CHECK_NEAR(logit_of(&c, 3), 3.0, 0);

    /* Only the last 3 count: after 2, 2 the window is {0, 2, 2}. */
    ed_sampler_accept(&s, 2);
    ed_sampler_accept(&s, 2);
    c = fill(data, logits, 4);
    ed_sampler_apply_penalties(&s, &c);
    ED_CHECK_NEAR(logit_of(&c, 0), 2.0 / 2 - (0.1 + 0.5), 1e-6);
    ED_CHECK_NEAR(logit_of(&c, 1), -1.0, 0);
    ED_CHECK_NEAR(logit_of(&c, 2), 0.5 / 2 - (2 * 0.1 + 0.5), 1e-6);
    ed_sampler_reset(&s);
    c = fill(data, logits, 4);
    ed_sampler_apply_penalties(&s, &c);
    ED_CHECK_NEAR(logit_of(&c, 0), 2.0, 0);
    ed_sampler_free(&s);
}

ED_TEST(top_k_keeps_the_best_sorted)
{
    const float logits[5] = {1, 5, 3, 5, 2};
    ed_candidate_t data[5];
    ed_candidates_t c = fill(data, logits, 5);
    ed_sampler_top_k(&c, 2);
    ED_CHECK_INT(c.n, 2);
    ED_CHECK(c.sorted);
    ED_CHECK_INT(c.data[0].id, 1); /* ties: the lower id first */
    ED_CHECK_INT(c.data[1].id, 3);
    c = fill(data, logits, 5);
    ed_sampler_top_k(&c, 3);
    ED_CHECK(c.n == 3 && c.data[2].id == 2);
    c = fill(data, logits, 5);
    ed_sampler_top_k(&c, 0);
    ED_CHECK_INT(c.n, 5);

    /* A larger set against a full sort. */
    float big[1000];
    ed_candidate_t big_data[1000];
    uint32_t x = 12345;
    for (int i = 0; i < 1000; i++) {
        x = x * 1664525u + 1013904223u;
        big[i] = (float)(x >> 8) / (float)(1 << 24);
    }
    c = fill(big_data, big, 1000);
    ed_sampler_top_k(&c, 37);
    int larger = 0; /* how many logits beat the 37th kept */
    for (int i = 0; i < 1000; i++)
        larger += big[i] > c.data[36].logit;
    ED_CHECK_INT(larger, 36);
    for (int i = 1; i < 37; i++)
        ED_CHECK(c.data[i - 1].logit >= c.data[i].logit);
}

/* Top-p over an unsorted set keeps exactly the tokens a running sum over the
 * sorted set keeps. */
ED_TEST(top_p_matches_a_sorted_running_sum)
{
    enum { N = 3000 };
    static float logits[N];
    static ed_candidate_t data[N], sorted_data[N];
    const float ps[] = {0.0f, 0.1f, 0.5f, 0.9f, 0.99f, 0.999f};
    for (uint32_t round = 0; round < 4; round++) {
        uint32_t x = round + 1;
        for (int i = 0; i < N; i++) {
            x = x * 1664525u + 1013904223u;
            logits[i] = (float)(round + 1) * 4.0f * (float)(x >> 8) / (float)(1 << 24);
        }
        for (size_t k = 0; k < sizeof ps / sizeof ps[0]; k++) {
            ed_candidates_t c = fill(data, logits, N), ref = fill(sorted_data, logits, N);
            qsort(ref.data, N, sizeof *ref.data, compare_desc);
            ref.sorted = true;
            ed_sampler_top_p(&ref, ps[k]);
            ed_sampler_top_p(&c, ps[k]);
            ED_CHECK_INT(c.n, ref.n);
            for (size_t i = 0; i < ref.n && c.n == ref.n; i++)
                ED_CHECK(!isnan(logit_of(&c, ref.data[i].id)));
        }
    }
}

ED_TEST(softmax_top_p_min_p_temperature_match_hand_values)
{
    const float two[2] = {0.0f, logf(3.0f)};
    ed_candidate_t data[4];
    float probs[4];
    ed_candidates_t c = fill(data, two, 2);
    ed_sampler_softmax(&c, probs);
    ED_CHECK_NEAR(probs[0], 0.25, 1e-6);
    ED_CHECK_NEAR(probs[1], 0.75, 1e-6);

    /* Probabilities 0.05, 0.5, 0.15, 0.3 (shuffled ids). */
    const float four[4] = {logf(0.05f), logf(0.5f), logf(0.15f), logf(0.3f)};
    c = fill(data, four, 4);
    ed_sampler_top_p(&c, 0.75f); /* 0.5 + 0.3 crosses 0.75 */
    ED_CHECK_INT(c.n, 2);
    ED_CHECK(!isnan(logit_of(&c, 1)) && !isnan(logit_of(&c, 3)));
    c = fill(data, four, 4);
    ed_sampler_top_p(&c, 0.85f);
    ED_CHECK_INT(c.n, 3);
    c = fill(data, four, 4);
    ed_sampler_top_p(&c, 0.4f);
    ED_CHECK(c.n == 1 && c.data[0].id == 1);

    c = fill(data, four, 4);
    ed_sampler_min_p(&c, 0.2f); /* keeps p >= 0.1 */
    ED_CHECK_INT(c.n, 3);
    ED_CHECK(isnan(logit_of(&c, 0)));
    c = fill(data, four, 4);
    ed_sampler_min_p(&c, 0.5f); /* keeps p >= 0.25 */
    ED_CHECK_INT(c.n, 2);

    const float t[2] = {1.0f, 2.0f};
    c = fill(data, t, 2);
    ed_sampler_temperature(&c, 0.5f);
    ED_CHECK_NEAR(c.data[0].logit, 2.0, 0);
    ED_CHECK_NEAR(c.data[1].logit, 4.0, 0);
}

static void random_logits(float *logits, int n, uint32_t seed)
{
    for (int i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        logits[i] = 8.0f * ((float)(seed >> 8) / (float)(1 << 24)) - 4.0f;
    }
}

ED_TEST(greedy_equivalences_and_bias)
{
    enum { N = 5000 };
    static float logits[N];
    char err[ED_ERR_LEN];
    ed_sampler_params_t greedy = plain(), top1 = plain();
    greedy.temperature = 0.0f;
    top1.top_k = 1;
    top1.temperature = 0.7f;
    ed_sampler_t a, b;
    ED_REQUIRE(ed_sampler_init(&a, N, &greedy, err) == 0);
    ED_REQUIRE(ed_sampler_init(&b, N, &top1, err) == 0);
    for (uint32_t round = 0; round < 20; round++) {
        random_logits(logits, N, round);
        int best = 0;
        for (int i = 1; i < N; i++)
            best = logits[i] > logits[best] ? i : best;
        ED_CHECK_INT(ed_sampler_sample(&a, logits), best);
        ED_CHECK_INT(ed_sampler_sample(&b, logits), best);
    }
    ed_sampler_free(&a);
    ed_sampler_free(&b);

    /* A -inf bias bans the best token; a large one forces another. */
    random_logits(logits, N, 7);
    int best = 0;
    for (int i = 1; i < N; i++)
        best = logits[i] > logits[best] ? i : best;
    ed_logit_bias_t bias[2] = {{best, -INFINITY}, {42, 100.0f}};
    greedy.bias = bias;
    greedy.n_bias = 1;
    ED_REQUIRE(ed_sampler_init(&a, N, &greedy, err) == 0);
    ED_CHECK(ed_sampler_sample(&a, logits) != best);
    ed_sampler_free(&a);
    greedy.n_bias = 2;
    ED_REQUIRE(ed_sampler_init(&a, N, &greedy, err) == 0);
    ED_CHECK_INT(ed_sampler_sample(&a, logits), 42);
    ed_sampler_free(&a);

    bias[0].token = N;
    ED_CHECK_INT(ed_sampler_init(&a, N, &greedy, err), ED_EINVAL);
    ED_CHECK(strstr(err, "logit_bias") != NULL);
}

ED_TEST(a_seed_reproduces_its_tokens)
{
    enum { N = 32000, STEPS = 64 };
    static float logits[N];
    char err[ED_ERR_LEN];
    ed_sampler_params_t p = ed_sampler_defaults();
    p.seed = 1234;
    p.repeat_penalty = 1.1f;
    int32_t first[STEPS], second[STEPS], other[STEPS];
    for (int run = 0; run < 3; run++) {
        p.seed = run == 2 ? 999 : 1234;
        ed_sampler_t s;
        ED_REQUIRE(ed_sampler_init(&s, N, &p, err) == 0);
        int32_t *out = run == 0 ? first : run == 1 ? second : other;
        for (int step = 0; step < STEPS; step++) {
            random_logits(logits, N, (uint32_t)step);
            out[step] = ed_sampler_sample(&s, logits);
            ed_sampler_accept(&s, out[step]);
        }
        ed_sampler_free(&s);
    }
    ED_CHECK(memcmp(first, second, sizeof first) == 0);
    ED_CHECK(memcmp(first, other, sizeof first) != 0);
}

ED_TEST(draws_follow_the_distribution)
{
    const float logits[3] = {logf(0.7f), logf(0.2f), logf(0.1f)};
    char err[ED_ERR_LEN];
    ed_sampler_params_t p = plain();
    p.seed = 5;
    ed_sampler_t s;
    ED_REQUIRE(ed_sampler_init(&s, 3, &p, err) == 0);
    int counts[3] = {0};
    enum { DRAWS = 20000 };
    for (int i = 0; i < DRAWS; i++)
        counts[ed_sampler_sample(&s, logits)]++;
    ED_CHECK_NEAR((double)counts[0] / DRAWS, 0.7, 0.02);
    ED_CHECK_NEAR((double)counts[1] / DRAWS, 0.2, 0.02);
    ED_CHECK_NEAR((double)counts[2] / DRAWS, 0.1, 0.02);
    ed_sampler_free(&s);

    /* A low temperature sharpens: the best token wins nearly always. */
    p.temperature = 0.1f;
    ED_REQUIRE(ed_sampler_init(&s, 3, &p, err) == 0);
    int best = 0;
    for (int i = 0; i < 1000; i++)
        best += ed_sampler_sample(&s, logits) == 0;
    ED_CHECK(best > 990);
    ed_sampler_free(&s);
}

ED_TEST(stop_strings_across_tokens)
{
    const char *stops[] = {"</s>", "User:"};
    const char *pieces[] = {"Hel", "lo <", "/s", "> more"};
    const size_t safe[] = {3, 6, 6, 6};
    char text[64] = "";
    size_t checked = 0;
    for (int i = 0; i < 4; i++) {
        strcat(text, pieces[i]);
        ed_stop_match_t m = ed_sampler_find_stop(stops, 2, text, strlen(text), checked);
        ED_CHECK_INT(m.safe_len, safe[i]);
        ED_CHECK_INT(m.matched, i == 3);
        if (m.matched)
            ED_CHECK_INT(m.match_at, 6);
        checked = strlen(text);
    }
    ed_stop_match_t m = ed_sampler_find_stop(stops, 2, "Hello Us", 8, 0);
    ED_CHECK(!m.matched && m.safe_len == 6);
    m = ed_sampler_find_stop(stops, 2, "a User: b </s>", 14, 0);
    ED_CHECK(m.matched && m.match_at == 2); /* the earliest of several */
    m = ed_sampler_find_stop(stops, 2, "caf\xc3", 4, 0);
    ED_CHECK(!m.matched && m.safe_len == 3); /* never half a character */
    m = ed_sampler_find_stop(stops, 2, "caf\xc3\xa9", 5, 0);
    ED_CHECK_INT(m.safe_len, 5);
    m = ed_sampler_find_stop(NULL, 0, "anything", 8, 0);
    ED_CHECK(!m.matched && m.safe_len == 8);
}

ED_TEST_MAIN(penalties_match_hand_values, top_k_keeps_the_best_sorted, top_p_matches_a_sorted_running_sum,
             softmax_top_p_min_p_temperature_match_hand_values, greedy_equivalences_and_bias,
             a_seed_reproduces_its_tokens, draws_follow_the_distribution, stop_strings_across_tokens)
