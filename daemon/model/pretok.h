/* pretok.h - the pre-tokenizers of byte-level BPE vocabularies: the regexes
 * named by `tokenizer.ggml.pre`, run with PCRE2 (UTF + Unicode properties),
 * that cut text into the pieces BPE merges within. Each regex of a list cuts
 * every piece the previous one left, and the text between matches is kept as
 * pieces too (the llama.cpp convention). The only user of PCRE2. */
#ifndef ED_MODEL_PRETOK_H
#define ED_MODEL_PRETOK_H

#include "core/error.h"

#include <stddef.h>
#include <stdint.h>

typedef enum {
    ED_PRETOK_DEFAULT = 0, /* "default" (and a missing key) */
    ED_PRETOK_GPT2,        /* "gpt-2" */
    ED_PRETOK_LLAMA3,      /* "llama-bpe", "llama3", "llama-v3" */
    ED_PRETOK_QWEN2,       /* "qwen2" */
    ED_PRETOK_SMOLLM,      /* "smollm" */
} ed_pretok_kind_t;

typedef struct ed_pretok ed_pretok_t;

/* One piece of text: bytes [offset, offset + len). */
typedef struct {
    uint32_t offset;
    uint32_t len;
} ed_span_t;

/* A growable list of spans; the caller frees `spans`. */
typedef struct {
    ed_span_t *spans;
    size_t n, cap;
} ed_spans_t;

/* The kind named `name` (not NUL-terminated). 0, or ED_EUNSUPPORTED. */
int ed_pretok_kind_from_name(const char *name, size_t len, ed_pretok_kind_t *out);

/* Compiles the regexes of `kind`. 0, or ED_ENOMEM / ED_EFORMAT with `err`. */
int ed_pretok_init(ed_pretok_t **out, ed_pretok_kind_t kind, char err[ED_ERR_LEN]);
void ed_pretok_free(ed_pretok_t *pretok);

/* Cuts text[0, len), which must be valid UTF-8 shorter than 2^31 bytes, into
 * pieces appended to `out` (reset first). Any thread may call it at the same
 * time. 0, or ED_ENOMEM, ED_ETOOBIG (2^31 bytes or more) or ED_EFORMAT
 * (a match failed). */
int ed_pretok_split(const ed_pretok_t *pretok, const char *text, size_t len, ed_spans_t *out);

#endif
