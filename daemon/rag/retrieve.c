/* retrieve.c - builds the numbered context block and its citations within
 * a token budget (see retrieve.h). Headers are "[N] Title\n" with control
 * characters of the title turned into spaces; entries are separated by a
 * blank line. */
#include "rag/retrieve.h"

#include "core/buf.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char SEPARATOR[] = "\n\n";

static void append_header(ed_buf_t *buf, int number, const char *title)
{
    ed_buf_printf(buf, "[%d]", number);
    if (title && *title) {
        ed_buf_puts(buf, " ");
        for (const char *t = title; *t; t++)
            ed_buf_append(buf, (unsigned char)*t < 0x20 ? " " : t, 1);
    }
    ed_buf_puts(buf, "\n");
}

int ed_retrieve_context_build(const ed_retrieve_chunk_t *chunks, int n, int budget_tokens, ed_token_count_fn count,
                              void *count_arg, ed_retrieve_context_t *out, char err[ED_ERR_LEN])
{
    memset(out, 0, sizeof *out);
    if (!count)
        count = ed_chunker_estimate_tokens;
    ed_buf_t text, header;
    ed_buf_init(&text);
    ed_buf_init(&header);
    out->citations = n > 0 ? malloc((size_t)n * sizeof *out->citations) : NULL;
    if (n > 0 && !out->citations)
        goto oom;
    int used = 0;
    for (int i = 0; i < n; i++) {
        const ed_retrieve_chunk_t *c = &chunks[i];
        bool repeat = false;
        for (int k = 0; k < out->n_citations && !repeat; k++)
            repeat = out->citations[k].doc_id == c->doc_id && out->citations[k].chunk_index == c->chunk_index;
        if (repeat)
            continue;
        int number = out->n_citations + 1;
        header.len = 0;
        if (number > 1)
            ed_buf_puts(&header, SEPARATOR);
        append_header(&header, number, c->title);
        if (ed_buf_failed(&header))
            goto oom;
        int cost = count(header.data, header.len, count_arg) + (c->n_tokens > 0 ? c->n_tokens : 0);
        if (cost > budget_tokens - used)
            continue;
        ed_buf_append(&text, header.data, header.len);
        ed_buf_append(&text, c->text, c->len);
        used += cost;
        out->citations[out->n_citations++] = (ed_citation_t){
            .number = number, .source = i, .doc_id = c->doc_id, .chunk_index = c->chunk_index,
            .score = c->score, .title = c->title};
    }
    ed_buf_append(&text, "", 0);
    if (ed_buf_failed(&text))
        goto oom;
    ed_buf_free(&header);
    out->text = ed_buf_steal(&text, &out->len);
    out->n_tokens = used;
    return 0;
oom:
    ed_buf_free(&text);
    ed_buf_free(&header);
    ed_retrieve_context_free(out);
    snprintf(err, ED_ERR_LEN, "out of memory building a context of %d chunks", n);
    return ED_ENOMEM;
}

void ed_retrieve_context_free(ed_retrieve_context_t *context)
{
    free(context->text);
    free(context->citations);
    memset(context, 0, sizeof *context);
}
