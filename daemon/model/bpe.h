/* bpe.h - the byte-level BPE encoder and its byte/character map (internal to
 * the tokenizer and the vocabulary). */
#ifndef ED_MODEL_BPE_H
#define ED_MODEL_BPE_H

#include "model/tokenizer.h"

/* Encodes one plain fragment: invalid UTF-8 is read as U+FFFD, the
 * pre-tokenizer cuts the text, each piece's bytes are mapped to characters and
 * merged by rank. 0, ED_ENOMEM or ED_EFORMAT (a regex match failed). */
int ed__bpe_encode(const ed_vocab_t *vocab, ed__encode_work_t *work, const char *text, size_t len,
                   ed_token_out_t *out);

/* The GPT-2 map: the UTF-8 of the character that stands for `byte` (printable
 * bytes for themselves, the rest for U+0100 upwards). Returns 1 or 2. */
size_t ed__bpe_byte_char(unsigned char byte, char utf8[2]);
/* The reverse: the byte that the character at text[0, len) stands for, and
 * its length in *char_len; -1 (with *char_len the character's length, at
 * least 1) when it stands for none. */
int ed__bpe_char_byte(const char *text, size_t len, size_t *char_len);

#endif
