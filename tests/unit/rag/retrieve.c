/* tests/unit/rag/retrieve.c - the context builder: the budget is never
 * exceeded (by the same counter), numbers in the text match the citations
 * in order, chunks that do not fit are skipped, repeats dropped. */
#include "rag/retrieve.h"

#include "../../test.h"

#include <stdio.h>

static char err[ED_ERR_LEN];

static ed_retrieve_chunk_t chunk(const char *text, const char *title, int64_t doc, int index, double score)
{
    return (ed_retrieve_chunk_t){.text = text, .len = strlen(text), .title = title, .doc_id = doc,
                                 .chunk_index = index, .score = score,
                                 .n_tokens = ed_chunker_estimate_tokens(text, strlen(text), NULL)};
}

static void check_numbering(const ed_retrieve_context_t *ctx, const ed_retrieve_chunk_t *chunks)
{
    const char *at = ctx->text;
    for (int i = 0; i < ctx->n_citations; i++) {
        char mark[32];
        snprintf(mark, sizeof mark, "[%d]", i + 1);
        const char *found = strstr(at, mark);
        ED_REQUIRE(found != NULL);
        ED_CHECK_INT(ctx->citations[i].number, i + 1);
        const ed_retrieve_chunk_t *c = &chunks[ctx->citations[i].source];
        ED_CHECK_INT(ctx->citations[i].doc_id, c->doc_id);
        ED_CHECK_INT(ctx->citations[i].chunk_index, c->chunk_index);
        const char *body = strstr(found, c->text);
        ED_CHECK(body != NULL);
        char next[32];
        snprintf(next, sizeof next, "[%d]", i + 2);
        const char *after = strstr(found, next);
        ED_CHECK(!after || body < after); /* its text sits under its own number */
        at = found + 1;
    }
    char beyond[32];
    snprintf(beyond, sizeof beyond, "[%d]", ctx->n_citations + 1);
    ED_CHECK(strstr(ctx->text, beyond) == NULL);
}

ED_TEST(budget_never_exceeded)
{
    ed_retrieve_chunk_t chunks[] = {
        chunk("Dentist with Dr. Alvarez on Tuesday 12 March at 9:30.", "Dentist appointment March", 4, 0, 0.9),
        chunk("A very long chunk about lentils, carrots, onions, garlic, stock and lemon, blended halfway, "
              "served with bread and a spoon of yogurt on top, which takes many tokens to say.",
              "Recipe: lentil soup", 9, 2, 0.8),
        chunk("Dr. Patel fits the crown on Thursday.", "Dentist appointment - crown", 5, 0, 0.7),
        chunk("Dentist with Dr. Alvarez on Tuesday 12 March at 9:30.", "Dentist appointment March", 4, 0, 0.6),
        chunk("Short.", "", 6, 1, 0.5),
    };
    int n = (int)(sizeof chunks / sizeof chunks[0]);
    for (int budget = 0; budget <= 120; budget += 3) {
        ed_retrieve_context_t ctx;
        ED_REQUIRE(ed_retrieve_context_build(chunks, n, budget, NULL, NULL, &ctx, err) == 0);
        int used = ed_chunker_estimate_tokens(ctx.text, ctx.len, NULL);
        ED_CHECK(used <= budget);
        ED_CHECK_INT(used, ctx.n_tokens);
        ED_CHECK_INT(ctx.len, strlen(ctx.text));
        check_numbering(&ctx, chunks);
        for (int i = 1; i < ctx.n_citations; i++) /* input order kept, the repeat of doc 4 dropped */
            ED_CHECK(ctx.citations[i].source > ctx.citations[i - 1].source && ctx.citations[i].source != 3);
        if (budget == 120)
            ED_CHECK_INT(ctx.n_citations, 4);
        ed_retrieve_context_free(&ctx);
    }
}

ED_TEST(skips_what_does_not_fit)
{
    ed_retrieve_chunk_t chunks[] = {
        chunk("one two three four five six seven eight nine ten eleven twelve", "Big", 1, 0, 0.9),
        chunk("small", "S", 2, 0, 0.8),
    };
    ed_retrieve_context_t ctx;
    ED_REQUIRE(ed_retrieve_context_build(chunks, 2, 8, NULL, NULL, &ctx, err) == 0);
    ED_REQUIRE(ctx.n_citations == 1);
    ED_CHECK_INT(ctx.citations[0].doc_id, 2);
    ED_CHECK_INT(ctx.citations[0].number, 1);
    ED_CHECK_STR(ctx.text, "[1] S\nsmall");
    ed_retrieve_context_free(&ctx);
    ED_REQUIRE(ed_retrieve_context_build(chunks, 2, 100, NULL, NULL, &ctx, err) == 0);
    ED_CHECK_STR(ctx.text, "[1] Big\none two three four five six seven eight nine ten eleven twelve\n\n[2] S\nsmall");
    ed_retrieve_context_free(&ctx);
}

ED_TEST_MAIN(budget_never_exceeded, skips_what_does_not_fit)
