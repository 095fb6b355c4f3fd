/* wordpiece.h - the WordPiece encoder of BERT-family vocabularies
 * (tokenizer.ggml.model = "bert"), internal to the tokenizer. */
#ifndef ED_MODEL_WORDPIECE_H
#define ED_MODEL_WORDPIECE_H

#include "model/tokenizer.h"

/* Encodes one plain fragment as llama.cpp's WPM tokenizer does: BERT's basic
 * tokenizer (each character reduced to the first code point of its NFD, so
 * precomposed accents go; lowercased; controls, NUL and invalid UTF-8
 * dropped; words cut at white space; punctuation, ASCII symbols and CJK
 * ideographs made words of their own), then per word U+2581 + word matched
 * greedily, longest token first, from the left; a word with a stretch no
 * token matches becomes the unknown token. 0 or ED_ENOMEM. */
int ed__wordpiece_encode(const ed_vocab_t *vocab, ed__encode_work_t *work, const char *text, size_t len,
                         ed_token_out_t *out);

#endif
