/* chunker.h - splits stripped text into token-bounded, overlapping chunks
 * by structure: sections under headings first, then paragraphs, sentences
 * and words (and, for a word longer than a chunk, UTF-8 characters). Each
 * chunk is an (offset, len) span of the text plus the heading it sits under,
 * which callers prefix when embedding or citing it. Tokens are counted
 * through a callback. Pure functions, callable from any thread. */
#ifndef ED_RAG_CHUNKER_H
#define ED_RAG_CHUNKER_H

#include "core/error.h"
#include "rag/markup.h"

#include <stddef.h>

/* Tokens in text[0, len); never negative. */
typedef int (*ed_token_count_fn)(const char *text, size_t len, void *arg);

/* The default counter: a word (a run of letters, digits and non-ASCII
 * characters) is one token plus one per further 8 bytes, each ASCII
 * punctuation character is one; whitespace is free. Additive over
 * whitespace-separated pieces. arg is unused. */
int ed_chunker_estimate_tokens(const char *text, size_t len, void *arg);

typedef struct {
    int chunk_tokens;      /* tokens per chunk, heading context included, at most (>= 1) */
    int chunk_overlap;     /* tokens a chunk repeats from the end of the one before (< chunk_tokens) */
    ed_token_count_fn count; /* NULL: ed_chunker_estimate_tokens */
    void *count_arg;
} ed_chunker_config_t;

typedef struct {
    size_t offset, len;       /* bytes of the text */
    int n_tokens;             /* of text[offset, offset + len) */
    size_t context_offset, context_len; /* the heading above it when the span does not hold it; len 0: none */
    int context_tokens;       /* of the heading context (0 when none) */
} ed_chunk_span_t;

/* Splits text[0, len) (headings as ed_markup_strip found them, or none)
 * into *chunks (malloc'd; the caller frees it), *n_chunks of them; text
 * that is all whitespace gives none. Every chunk holds n_tokens +
 * context_tokens <= chunk_tokens; the chunks cover every non-space byte.
 * ED_EINVAL for bad sizes, ED_ENOMEM. */
int ed_chunker_split(const ed_chunker_config_t *config, const char *text, size_t len,
                     const ed_markup_heading_t *headings, int n_headings, ed_chunk_span_t **chunks,
                     int *n_chunks, char err[ED_ERR_LEN]);

#endif
