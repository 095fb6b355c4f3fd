/* tokenizer.h - text to token ids and back, for every vocabulary kind: finds
 * special tokens in the text, hands the plain fragments to the SentencePiece
 * (spm.c) or byte-level BPE (bpe.c) encoder, adds BOS/EOS, and turns ids back
 * into text with the spaces and bytes the encoders folded away. Matches
 * llama.cpp token for token on the shared test vectors. Any thread may call. */
#ifndef ED_MODEL_TOKENIZER_H
#define ED_MODEL_TOKENIZER_H

#include "model/vocab.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Encodes text[0, len) into out[0, cap). add_special: add BOS/EOS as the
 * vocabulary asks (add_bos/add_eos). parse_special: text that spells a control
 * token ("<|im_start|>", "</s>") becomes that token; otherwise it is ordinary
 * text (user-defined tokens are always recognised, as in llama.cpp). Invalid
 * UTF-8 is kept byte for byte by SPM and read as U+FFFD by BPE.
 * Returns 0 with *n_out ids; ED_ERANGE when cap was too small, with *n_out the
 * count needed (out holds the first cap); ED_ENOMEM; ED_ETOOBIG past 256 MiB. */
int ed_tokenizer_encode(const ed_vocab_t *vocab, const char *text, size_t len, bool add_special,
                        bool parse_special, int32_t *out, size_t cap, size_t *n_out);

/* A stretch of text[offset, offset + len). */
typedef struct {
    size_t offset, len;
} ed_text_span_t;

/* ed_tokenizer_encode with parse_special, except that control tokens spelled
 * inside any of the `literal` spans (chat message contents, retrieved notes)
 * stay text: what a client or a document writes can never forge a turn
 * marker. Spans may be in any order; outside them specials parse as usual. */
int ed_tokenizer_encode_literal(const ed_vocab_t *vocab, const char *text, size_t len, bool add_special,
                                const ed_text_span_t *literal, size_t n_literal, int32_t *out, size_t cap,
                                size_t *n_out);

/* The text of one token, as a stream of generated tokens should print it: SPM
 * U+2581 becomes a space, byte tokens their byte, BPE characters their bytes.
 * Control and unknown tokens give "" unless `special`. Writes at most cap
 * bytes (no NUL); *n_out is the full length. 0, ED_ERANGE (cap too small) or
 * ED_EINVAL (id out of range). Allocates nothing. */
int ed_tokenizer_piece(const ed_vocab_t *vocab, int32_t id, bool special, char *buf, size_t cap,
                       size_t *n_out);

/* The text of a token sequence: the pieces joined, less the space SPM put in
 * front of the text (so decode(encode(s)) == s for text without special
 * tokens). Same conventions as ed_tokenizer_piece. Allocates nothing. */
int ed_tokenizer_decode(const ed_vocab_t *vocab, const int32_t *ids, size_t n_ids, bool special,
                        char *out, size_t cap, size_t *n_out);

/* ---- internal to the encoders (spm.c, bpe.c) ---- */

/* A run of text being merged: bytes [start, start + len) of the fragment. */
typedef struct {
    int32_t prev, next; /* neighbours in the chain, -1 at the ends */
    uint32_t start, len; /* len 0: merged into its left neighbour */
} ed__symbol_t;

/* A candidate merge of symbol `left` with `right`, made when they were
 * left_len and right_len bytes long; a lower key merges first, then the
 * leftmost. */
typedef struct {
    double key;
    int32_t left, right;
    uint32_t left_len, right_len;
} ed__bigram_t;

/* Scratch memory of one encode call, grown as fragments need it. */
typedef struct {
    ed__symbol_t *symbols;
    size_t symbols_cap;
    ed__bigram_t *queue;
    size_t queue_cap, queue_n;
    char *buf; /* a rewritten fragment (escaped spaces, mapped bytes) */
    size_t buf_cap;
} ed__encode_work_t;

/* Whether text[0, left_len) and the right_len bytes after it may merge, and
 * with what key. */
typedef bool (*ed__merge_key_fn)(const ed_vocab_t *vocab, const char *text, uint32_t left_len,
                                 uint32_t right_len, double *key);

/* Grows work->buf to at least `size` bytes. 0 or ED_ENOMEM. */
int ed__encode_reserve(ed__encode_work_t *work, size_t size);
/* Cuts text[0, len) into UTF-8 characters (by lead byte, as llama.cpp does;
 * a lead byte without its continuation bytes stands alone, where llama.cpp
 * would swallow the bytes after it, so SPM's byte fallback keeps invalid
 * UTF-8 exactly) and merges neighbours by `key` until none may merge. The
 * result is the chain work->symbols from index 0 (none when len is 0).
 * 0 or ED_ENOMEM. */
int ed__encode_merge(const ed_vocab_t *vocab, ed__encode_work_t *work, const char *text, uint32_t len,
                     ed__merge_key_fn key);

#endif
