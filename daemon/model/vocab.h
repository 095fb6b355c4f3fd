/* vocab.h - a model's vocabulary, read from the GGUF `tokenizer.*` metadata:
 * token texts, scores and types, BPE merges, special ids and the add-BOS /
 * add-EOS / space-prefix flags, plus the lookups the encoders need (text to
 * id, merge pair to rank, byte to token). Encoding and decoding live in
 * tokenizer.h; this file only loads and answers questions. */
#ifndef ED_MODEL_VOCAB_H
#define ED_MODEL_VOCAB_H

#include "core/error.h"
#include "model/gguf.h"
#include "model/pretok.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ED_TOKEN_NONE (-1)   /* "no such token" wherever an id is expected */
#define ED_VOCAB_MAX_EOG 16  /* end-of-generation ids kept, at most */

typedef enum {
    ED_VOCAB_SPM = 1, /* tokenizer.ggml.model = "llama": SentencePiece-style, score merges */
    ED_VOCAB_BPE = 2, /* tokenizer.ggml.model = "gpt2": byte-level BPE, ranked merges */
    ED_VOCAB_WPM = 3, /* tokenizer.ggml.model = "bert": WordPiece, greedy longest match */
} ed_vocab_kind_t;

/* The values of tokenizer.ggml.token_type (as llama.cpp writes them). */
typedef enum {
    ED_TOKEN_UNDEFINED = 0,
    ED_TOKEN_NORMAL = 1,
    ED_TOKEN_UNKNOWN = 2,
    ED_TOKEN_CONTROL = 3,
    ED_TOKEN_USER_DEFINED = 4,
    ED_TOKEN_UNUSED = 5,
    ED_TOKEN_BYTE = 6,
} ed_token_type_t;

typedef struct ed__vocab_index ed__vocab_index_t;

/* Read-only after ed_vocab_load; any thread may use it. Token texts point into
 * the GGUF reader's mapping: close the vocabulary before the reader. */
typedef struct ed_vocab {
    ed_vocab_kind_t kind;
    ed_pretok_kind_t pre_kind; /* BPE: which pre-tokenizer (tokenizer.ggml.pre) */
    ed_pretok_t *pretok;       /* BPE: its compiled regexes; NULL for SPM */
    int32_t n_tokens;
    ed_str_t *text;  /* (n_tokens) token texts, into the mapping */
    size_t max_token_len; /* bytes of the longest token text (WPM's longest match) */
    float *score;    /* (n_tokens) SPM merge priority; 0 when absent */
    uint8_t *type;   /* (n_tokens) ed_token_type_t */
    int32_t bos, eos, eot, eom, unk, sep, pad; /* ids or ED_TOKEN_NONE; WPM: bos is [CLS] */
    int32_t eog[ED_VOCAB_MAX_EOG];             /* ids that end generation */
    size_t n_eog;
    bool add_bos;          /* encoding with add_special prepends bos */
    bool add_eos;          /* encoding with add_special appends eos */
    bool add_sep;          /* WPM: encoding with add_special appends sep ([SEP]) */
    bool add_space_prefix; /* SPM: a space is put before text that starts a fragment */
    bool ignore_merges;    /* BPE: a pre-token that is itself a token is not merged (Llama 3; pretok flags) */
    int32_t byte_token[256]; /* the token of each raw byte (SPM <0xXX>, BPE its mapped character); ED_TOKEN_NONE */
    int32_t *special;        /* (n_special) control, user-defined and unknown tokens, longest text first */
    size_t n_special;
    ed__vocab_index_t *index; /* hash tables: text -> id, merge pair -> rank */
} ed_vocab_t;

/* Loads the vocabulary of `gguf`. Returns 0, or ED_EFORMAT / ED_EUNSUPPORTED
 * / ED_ENOMEM with `err` naming the key and what was wrong. */
int ed_vocab_load(ed_vocab_t **out, const ed_gguf_t *gguf, char err[ED_ERR_LEN]);
/* Accepts NULL and a half-built vocabulary. */
void ed_vocab_free(ed_vocab_t *vocab);

/* The id whose text is exactly text[0, len), or ED_TOKEN_NONE. O(1). When two
 * tokens share a text the higher id wins, as in llama.cpp. */
int32_t ed_vocab_find(const ed_vocab_t *vocab, const char *text, size_t len);
/* BPE: the rank of merging `left` with `right` (lower merges first), or -1. */
int32_t ed_vocab_merge_rank(const ed_vocab_t *vocab, const char *left, size_t left_len,
                            const char *right, size_t right_len);
/* True when `id` ends generation (eos, eot, eom, <|im_end|> and the like). */
bool ed_vocab_is_eog(const ed_vocab_t *vocab, int32_t id);

/* Where the encoders append ids: ids[] is written while n < cap and n keeps
 * counting past it, so a caller learns the size it needs. */
typedef struct {
    int32_t *ids;
    size_t cap;
    size_t n;
} ed_token_out_t;

static inline void ed_token_out_push(ed_token_out_t *out, int32_t id)
{
    if (out->n < out->cap)
        out->ids[out->n] = id;
    out->n++;
}

#endif
