/* spm.c - the SentencePiece-style encoder of the llama.cpp family (Llama 1/2,
 * TinyLlama, Mistral): spaces as U+2581, neighbour pairs merged best score
 * first while their concatenation is a token, byte-token fallback for text
 * no token covers. The merge loop itself is shared with BPE (tokenizer.c). */
#include "model/spm.h"

#include <string.h>

static bool spm_key(const ed_vocab_t *vocab, const char *text, uint32_t left_len, uint32_t right_len,
                    double *key)
{
    int32_t id = ed_vocab_find(vocab, text, (size_t)left_len + right_len);
    if (id == ED_TOKEN_NONE)
        return false;
    *key = -(double)vocab->score[id]; /* the highest score merges first */
    return true;
}

int ed__spm_encode(const ed_vocab_t *vocab, ed__encode_work_t *work, const char *text, size_t len,
                   bool space_prefix, ed_token_out_t *out)
{
    static const char SPACE[3] = "\xe2\x96\x81"; /* U+2581 LOWER ONE EIGHTH BLOCK */
    int rc = ed__encode_reserve(work, 3 * (len + 1));
    if (rc < 0)
        return rc;
    size_t n = 0;
    if (space_prefix) {
        memcpy(work->buf, SPACE, 3);
        n = 3;
    }
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') {
            memcpy(work->buf + n, SPACE, 3);
            n += 3;
        } else {
            work->buf[n++] = text[i];
        }
    }
    if (n == 0)
        return 0;
    if ((rc = ed__encode_merge(vocab, work, work->buf, (uint32_t)n, spm_key)) < 0)
        return rc;
    for (int32_t i = 0; i != -1; i = work->symbols[i].next) {
        const ed__symbol_t *symbol = &work->symbols[i];
        const char *piece = work->buf + symbol->start;
        int32_t id = ed_vocab_find(vocab, piece, symbol->len);
        if (id != ED_TOKEN_NONE) {
            ed_token_out_push(out, id);
            continue;
        }
        /* A character no token covers: its bytes, as <0xXX> tokens. */
        for (uint32_t b = 0; b < symbol->len; b++) {
            int32_t byte_id = vocab->byte_token[(unsigned char)piece[b]];
            if (byte_id == ED_TOKEN_NONE)
                byte_id = vocab->unk;
            if (byte_id != ED_TOKEN_NONE)
                ed_token_out_push(out, byte_id);
        }
    }
    return 0;
}
