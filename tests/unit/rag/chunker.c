/* tests/unit/rag/chunker.c - the chunker: every chunk within chunk_tokens
 * (heading context included), overlap bounded and present, spans inside
 * the text and covering every non-space byte, sections at headings with
 * the heading as context, structure preferred over words, long words cut. */
#include "rag/chunker.h"

#include "../../test.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>

static char err[ED_ERR_LEN];

static int estimate(const char *s, size_t a, size_t b)
{
    return ed_chunker_estimate_tokens(s + a, b - a, NULL);
}

/* A deterministic text of paragraphs of sentences of words. */
static char *make_text(unsigned seed, int n_paragraphs)
{
    static const char *const WORDS[] = {"the", "dentist", "appointment", "is", "on", "Tuesday", "at", "nine",
                                        "bring", "insurance", "card", "eggs", "butter", "flour", "lemon",
                                        "supercalifragilisticexpialidocious", "caf\xc3\xa9", "2024-03-12", "(note)"};
    size_t cap = (size_t)n_paragraphs * 2000 + 1, len = 0;
    char *text = malloc(cap);
    uint32_t x = seed * 2654435761u + 1;
    for (int p = 0; p < n_paragraphs; p++) {
        int sentences = 1 + (int)((x >> 7) % 6);
        for (int s = 0; s < sentences; s++) {
            x = x * 1664525u + 1013904223u;
            int words = 3 + (int)((x >> 9) % 14);
            for (int w = 0; w < words; w++) {
                x = x * 1664525u + 1013904223u;
                len += (size_t)snprintf(text + len, cap - len, "%s%s", WORDS[(x >> 11) % (sizeof WORDS / sizeof *WORDS)],
                                        w + 1 < words ? " " : ". ");
            }
        }
        len += (size_t)snprintf(text + len, cap - len, "\n\n");
    }
    return text;
}

/* The invariants every split must keep. */
static void check_split(const char *text, size_t len, const ed_markup_heading_t *headings, int n_headings,
                        int chunk_tokens, int overlap, bool expect_overlap)
{
    ed_chunker_config_t config = {.chunk_tokens = chunk_tokens, .chunk_overlap = overlap};
    ed_chunk_span_t *chunks;
    int n;
    ED_REQUIRE(ed_chunker_split(&config, text, len, headings, n_headings, &chunks, &n, err) == 0);
    char *covered = calloc(len + 1, 1);
    int overlapping = 0;
    for (int i = 0; i < n; i++) {
        const ed_chunk_span_t *c = &chunks[i];
        ED_REQUIRE(c->offset + c->len <= len && c->len > 0);
        ED_CHECK(c->n_tokens + c->context_tokens <= chunk_tokens);
        ED_CHECK_INT(c->n_tokens, estimate(text, c->offset, c->offset + c->len));
        ED_CHECK(!isspace((unsigned char)text[c->offset]) && !isspace((unsigned char)text[c->offset + c->len - 1]));
        memset(covered + c->offset, 1, c->len);
        if (i > 0) {
            const ed_chunk_span_t *p = &chunks[i - 1];
            ED_CHECK(c->offset > p->offset);
            if (c->offset < p->offset + p->len) {
                overlapping++;
                ED_CHECK(estimate(text, c->offset, p->offset + p->len) <= overlap);
            }
        }
    }
    for (size_t k = 0; k < len; k++)
        if (!isspace((unsigned char)text[k]) && !covered[k]) {
            ED__FAIL("byte %zu not covered (chunk_tokens %d overlap %d)", k, chunk_tokens, overlap);
            break;
        }
    if (expect_overlap && overlap > 0 && n > 1)
        ED_CHECK(overlapping > 0);
    if (overlap == 0)
        ED_CHECK_INT(overlapping, 0);
    free(covered);
    free(chunks);
}

ED_TEST(bounds_overlap_and_cover)
{
    static const int SIZES[][2] = {{16, 0}, {16, 4}, {32, 8}, {64, 16}, {128, 32}, {256, 32}, {20, 19}, {1, 0}};
    for (unsigned seed = 1; seed <= 6; seed++) {
        char *text = make_text(seed, 12);
        for (size_t s = 0; s < sizeof SIZES / sizeof SIZES[0]; s++)
            check_split(text, strlen(text), NULL, 0, SIZES[s][0], SIZES[s][1], true);
        free(text);
    }
}

ED_TEST(prefers_paragraph_and_sentence_ends)
{
    const char *text = "One two three four five six seven eight.\n\nNine ten eleven twelve thirteen fourteen.";
    ed_chunker_config_t config = {.chunk_tokens = 12, .chunk_overlap = 0};
    ed_chunk_span_t *chunks;
    int n;
    ED_REQUIRE(ed_chunker_split(&config, text, strlen(text), NULL, 0, &chunks, &n, err) == 0);
    ED_REQUIRE(n == 2);
    ED_CHECK_INT(chunks[0].len, strlen("One two three four five six seven eight."));
    ED_CHECK_INT(chunks[1].offset, strlen("One two three four five six seven eight.\n\n"));
    free(chunks);
    const char *sentences = "Alpha beta gamma delta. Epsilon zeta eta theta iota kappa lambda mu.";
    config.chunk_tokens = 10;
    ED_REQUIRE(ed_chunker_split(&config, sentences, strlen(sentences), NULL, 0, &chunks, &n, err) == 0);
    ED_REQUIRE(n >= 2);
    ED_CHECK_INT(chunks[0].len, strlen("Alpha beta gamma delta."));
    free(chunks);
}

ED_TEST(sections_at_headings_carry_context)
{
    ed_markup_t m;
    const char *md = "# Recipes\n\nIntro line.\n\n## Omelette with eggs\n\n"
                     "Beat three eggs. Add salt and pepper. Melt butter in a pan. Pour the eggs in. "
                     "Stir gently until just set. Fold and serve at once with toast and a green salad.\n\n"
                     "## Pancakes\n\nFlour, milk, one egg, a pinch of salt.";
    ED_REQUIRE(ed_markup_strip(&m, ED_MARKUP_MARKDOWN, md, strlen(md), err) == 0);
    ED_REQUIRE(m.n_headings == 3);
    check_split(m.text, m.len, m.headings, m.n_headings, 16, 4, true);
    ed_chunker_config_t config = {.chunk_tokens = 16, .chunk_overlap = 4};
    ed_chunk_span_t *chunks;
    int n;
    ED_REQUIRE(ed_chunker_split(&config, m.text, m.len, m.headings, m.n_headings, &chunks, &n, err) == 0);
    int with_context = 0;
    for (int i = 0; i < n; i++) {
        size_t end = chunks[i].offset + chunks[i].len;
        for (int h = 0; h < m.n_headings; h++) { /* no chunk crosses into a later section */
            size_t ho = m.headings[h].offset;
            ED_CHECK(!(chunks[i].offset < ho && end > ho));
        }
        if (chunks[i].context_len > 0) {
            with_context++;
            ED_CHECK(chunks[i].context_offset == m.headings[1].offset || chunks[i].context_offset == m.headings[2].offset);
            ED_CHECK(chunks[i].offset > chunks[i].context_offset);
            ED_CHECK(chunks[i].context_tokens == estimate(m.text, chunks[i].context_offset,
                                                          chunks[i].context_offset + chunks[i].context_len));
        }
    }
    ED_CHECK(with_context >= 1);
    int starts = 0; /* each section's first chunk holds its heading */
    for (int h = 0; h < m.n_headings; h++)
        for (int i = 0; i < n; i++)
            starts += chunks[i].offset == m.headings[h].offset;
    ED_CHECK_INT(starts, 3);
    free(chunks);
    ed_markup_free(&m);
}

ED_TEST(long_words_are_cut)
{
    size_t len = 3000;
    char *text = malloc(len + 1);
    for (size_t i = 0; i < len; i++)
        text[i] = (i % 700 == 699) ? ' ' : (i % 3 == 0 ? '\xc3' : (i % 3 == 1 ? '\xa9' : 'x'));
    text[len] = '\0';
    check_split(text, len, NULL, 0, 16, 4, false); /* pieces of 16 tokens: none fits a 4-token overlap */
    memset(text, '!', len); /* punctuation: one token per byte */
    check_split(text, len, NULL, 0, 16, 0, false);
    free(text);
}

ED_TEST(empty_and_blank_give_no_chunks)
{
    ed_chunker_config_t config = {.chunk_tokens = 16, .chunk_overlap = 2};
    ed_chunk_span_t *chunks;
    int n = -1;
    ED_CHECK(ed_chunker_split(&config, "", 0, NULL, 0, &chunks, &n, err) == 0 && n == 0);
    free(chunks);
    ED_CHECK(ed_chunker_split(&config, " \n\t\n ", 5, NULL, 0, &chunks, &n, err) == 0 && n == 0);
    free(chunks);
    config.chunk_overlap = 16;
    ED_CHECK_INT(ed_chunker_split(&config, "a", 1, NULL, 0, &chunks, &n, err), ED_EINVAL);
}

/* A counter that is not additive: one token per started 4 bytes of the span. */
static int count_bytes(const char *text, size_t len, void *arg)
{
    (*(int *)arg)++;
    (void)text;
    return (int)((len + 3) / 4);
}

ED_TEST(custom_counter_respected)
{
    char *text = make_text(7, 8);
    int calls = 0;
    ed_chunker_config_t config = {.chunk_tokens = 40, .chunk_overlap = 8, .count = count_bytes, .count_arg = &calls};
    ed_chunk_span_t *chunks;
    int n;
    ED_REQUIRE(ed_chunker_split(&config, text, strlen(text), NULL, 0, &chunks, &n, err) == 0);
    ED_CHECK(n > 1 && calls > 0);
    for (int i = 0; i < n; i++) {
        ED_CHECK(chunks[i].n_tokens <= 40);
        ED_CHECK_INT(chunks[i].n_tokens, (int)((chunks[i].len + 3) / 4));
    }
    free(chunks);
    free(text);
}

ED_TEST(estimator_counts_words_and_punctuation)
{
    ED_CHECK_INT(ed_chunker_estimate_tokens("Hello, world!", 13, NULL), 4);
    ED_CHECK_INT(ed_chunker_estimate_tokens("  ", 2, NULL), 0);
    ED_CHECK_INT(ed_chunker_estimate_tokens("abcdefghijklmnopq", 17, NULL), 3);
    ED_CHECK_INT(ed_chunker_estimate_tokens("caf\xc3\xa9 12:30", 11, NULL), 4);
}

ED_TEST_MAIN(bounds_overlap_and_cover, prefers_paragraph_and_sentence_ends, sections_at_headings_carry_context,
             long_words_are_cut, empty_and_blank_give_no_chunks, custom_counter_respected,
             estimator_counts_words_and_punctuation)
