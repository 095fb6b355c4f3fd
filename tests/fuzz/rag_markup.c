/* tests/fuzz/rag_markup.c - libFuzzer driver for the markup stripper and
 * the chunker: the first input byte picks the content type (plain,
 * markdown, html) and the chunk sizes, the rest is the body. Aborts when
 * stripped text is not valid UTF-8, a heading lies outside the text or out
 * of order, a chunk leaves the text or its token budget, or a non-space
 * byte is left out of every chunk. Seeds: tests/fuzz/corpus/rag_markup. */
#include "rag/chunker.h"
#include "rag/markup.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    static const int SIZES[8][2] = {{1, 0}, {4, 1}, {16, 0}, {16, 4}, {32, 8}, {64, 16}, {256, 32}, {20, 19}};
    ed_markup_kind_t kind = (ed_markup_kind_t)(data[0] % 3);
    const int *sizes = SIZES[(data[0] >> 2) & 7];
    char err[ED_ERR_LEN];
    ed_markup_t m;
    int rc = ed_markup_strip(&m, kind, (const char *)data + 1, size - 1, err);
    if (rc != 0) {
        if (rc != ED_EFORMAT || ed_markup_check_utf8((const char *)data + 1, size - 1, err) == 0)
            abort(); /* only bad input may fail */
        ed_markup_free(&m);
        return 0;
    }
    if (ed_markup_check_utf8(m.text, m.len, err) != 0 || strlen(m.text) != m.len)
        abort();
    size_t last_end = 0;
    for (int h = 0; h < m.n_headings; h++) {
        const ed_markup_heading_t *hd = &m.headings[h];
        if (hd->offset < last_end || hd->offset > m.len || hd->len == 0 || hd->len > m.len - hd->offset ||
            hd->level < 1 || hd->level > 6)
            abort();
        last_end = hd->offset + hd->len;
    }
    ed_chunker_config_t config = {.chunk_tokens = sizes[0], .chunk_overlap = sizes[1]};
    ed_chunk_span_t *chunks;
    int n;
    if (ed_chunker_split(&config, m.text, m.len, m.headings, m.n_headings, &chunks, &n, err) != 0)
        abort();
    char *covered = calloc(m.len + 1, 1);
    if (!covered)
        abort();
    for (int i = 0; i < n; i++) {
        const ed_chunk_span_t *c = &chunks[i];
        if (c->len == 0 || c->offset > m.len || c->len > m.len - c->offset ||
            c->n_tokens + c->context_tokens > config.chunk_tokens ||
            c->n_tokens != ed_chunker_estimate_tokens(m.text + c->offset, c->len, NULL))
            abort();
        memset(covered + c->offset, 1, c->len);
    }
    for (size_t k = 0; k < m.len; k++)
        if (!is_space((unsigned char)m.text[k]) && !covered[k])
            abort();
    free(covered);
    free(chunks);
    ed_markup_free(&m);
    return 0;
}
