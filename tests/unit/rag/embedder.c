/* tests/unit/rag/embedder.c - the hash embedder: name and width, the same
 * vector every time, unit norm, zero for featureless text, related texts
 * closer than unrelated ones, case and word order handled as designed. */
#include "rag/embedder.h"

#include "../../test.h"

static char err[ED_ERR_LEN];

static double dot(const float *a, const float *b, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++)
        s += (double)a[i] * b[i];
    return s;
}

static void embed(ed_embedder_t *e, const char *text, float *out)
{
    ED_CHECK(ed_embedder_embed(e, text, strlen(text), out) == 0);
}

ED_TEST(name_dim_deterministic_unit_norm)
{
    ed_embedder_t *e, *f;
    ED_REQUIRE(ed_embedder_hash_init(&e, err) == 0 && ed_embedder_hash_init(&f, err) == 0);
    ED_CHECK_STR(e->name, "hash-v1-384");
    ED_CHECK_INT(e->dim, 384);
    float a[384], b[384];
    const char *text = "Dentist with Dr. Alvarez on Tuesday 12 March at 9:30 for the cleaning.";
    embed(e, text, a);
    embed(f, text, b);
    ED_CHECK(memcmp(a, b, sizeof a) == 0);
    ED_CHECK_NEAR(dot(a, a, 384), 1.0, 1e-5);
    int nonzero = 0;
    for (int i = 0; i < 384; i++)
        nonzero += a[i] != 0;
    ED_CHECK(nonzero > 20);
    embed(e, " ,.;!? ", a);
    ED_CHECK_NEAR(dot(a, a, 384), 0.0, 0);
    ed_embedder_free(e);
    ed_embedder_free(f);
    ed_embedder_free(NULL);
}

ED_TEST(related_texts_closer)
{
    ed_embedder_t *e;
    ED_REQUIRE(ed_embedder_hash_init(&e, err) == 0);
    float q[384], near[384], far[384], upper[384];
    embed(e, "When is my dentist appointment for the teeth cleaning?", q);
    embed(e, "Dentist appointment: Tuesday at 9:30, six-month cleaning and check-up.", near);
    embed(e, "Banana bread: three ripe bananas, melted butter, sugar and flour.", far);
    double s_near = dot(q, near, 384), s_far = dot(q, far, 384);
    printf("# similarity related %.3f unrelated %.3f\n", s_near, s_far);
    ED_CHECK(s_near > s_far + 0.2);
    embed(e, "WHEN IS MY DENTIST APPOINTMENT FOR THE TEETH CLEANING?", upper);
    ED_CHECK_NEAR(dot(q, upper, 384), 1.0, 1e-5);
    float plural[384], other[384];
    embed(e, "appointments", plural); /* shared character n-grams */
    embed(e, "appointment", q);
    embed(e, "bicycle", other);
    ED_CHECK(dot(q, plural, 384) > 0.5);
    ED_CHECK(dot(q, plural, 384) > dot(q, other, 384) + 0.4);
    ed_embedder_free(e);
}

ED_TEST(bigrams_see_word_order)
{
    ed_embedder_t *e;
    ED_REQUIRE(ed_embedder_hash_init(&e, err) == 0);
    float a[384], b[384];
    embed(e, "blue shirt red car", a);
    embed(e, "red shirt blue car", b);
    double s = dot(a, b, 384);
    ED_CHECK(s < 0.999 && s > 0.5);
    ed_embedder_free(e);
}

ED_TEST_MAIN(name_dim_deterministic_unit_norm, related_texts_closer, bigrams_see_word_order)
