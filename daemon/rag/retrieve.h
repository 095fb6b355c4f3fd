/* retrieve.h - the context builder for answering with retrieved chunks:
 * ranked chunks are placed, best first, while they fit a token budget, as
 * numbered entries "[1] Title\ntext" of one context block, and the
 * citations list carries the same numbers in the same order. Searching and
 * fetching the chunks is the caller's; pure functions, any thread. */
#ifndef ED_RAG_RETRIEVE_H
#define ED_RAG_RETRIEVE_H

#include "core/error.h"
#include "rag/chunker.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *text;  /* the chunk's text, len bytes */
    size_t len;
    const char *title; /* its document's title, NUL-terminated ("" or NULL: none) */
    int64_t doc_id;
    int chunk_index;
    double score;
    int n_tokens; /* of text, by the same counter as the budget */
} ed_retrieve_chunk_t;

typedef struct {
    int number; /* the [number] the model sees, from 1 */
    int source; /* index of the chunk in the input */
    int64_t doc_id;
    int chunk_index;
    double score;
    const char *title; /* the input's pointer */
} ed_citation_t;

typedef struct {
    char *text; /* the context block, NUL-terminated; malloc'd */
    size_t len;
    ed_citation_t *citations; /* (n_citations), numbers 1..n in order; malloc'd */
    int n_citations;
    int n_tokens; /* what the block costs by the counter: <= the budget */
} ed_retrieve_context_t;

/* Places chunks[0..n) in order, skipping any that no longer fits (a later,
 * shorter one may) and repeats of a (doc_id, chunk_index). An entry costs
 * count(its header and separator) + its n_tokens. count NULL: the chunker's
 * estimator. 0 or ED_ENOMEM; *out is freed by ed_retrieve_context_free. */
int ed_retrieve_context_build(const ed_retrieve_chunk_t *chunks, int n, int budget_tokens, ed_token_count_fn count,
                              void *count_arg, ed_retrieve_context_t *out, char err[ED_ERR_LEN]);
void ed_retrieve_context_free(ed_retrieve_context_t *context); /* accepts a zeroed struct */

#endif
