/* spm.h - the SentencePiece-style encoder (internal to the tokenizer). */
#ifndef ED_MODEL_SPM_H
#define ED_MODEL_SPM_H

#include "model/tokenizer.h"

/* Encodes one plain fragment: spaces become U+2581 (with one put in front when
 * space_prefix), then the highest-scoring neighbour pairs merge while their
 * concatenation is a token; what formed no token falls back to byte tokens.
 * 0 or ED_ENOMEM. */
int ed__spm_encode(const ed_vocab_t *vocab, ed__encode_work_t *work, const char *text, size_t len,
                   bool space_prefix, ed_token_out_t *out);

#endif
