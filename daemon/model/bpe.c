/* bpe.c - the byte-level BPE encoder (every byte-level pre-tokenizer of
 * pretok.c): text read as UTF-8 (invalid bytes as U+FFFD, as llama.cpp does),
 * cut by the vocabulary's pre-tokenizer, each piece's bytes mapped to the GPT-2
 * characters and merged lowest rank first. The merge loop is shared with SPM
 * (tokenizer.c); the pre-tokenizer regexes live in pretok.c. */
#include "model/bpe.h"

#include <stdlib.h>
#include <string.h>

/* Bytes that stand for themselves: '!'..'~', U+00A1..U+00AC, U+00AE..U+00FF. */
static bool byte_is_printable(unsigned b)
{
    return (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae);
}

/* The code point that stands for byte b: the non-printable bytes 0x00..0x20,
 * 0x7f..0xa0 and 0xad are numbered in order from U+0100. */
static unsigned byte_codepoint(unsigned b)
{
    if (byte_is_printable(b))
        return b;
    if (b <= 0x20)
        return 0x100 + b;
    if (b <= 0xa0)
        return 0x100 + 33 + (b - 0x7f);
    return 0x100 + 67; /* 0xad */
}

static size_t utf8_put(unsigned cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

size_t ed__bpe_byte_char(unsigned char byte, char utf8[2])
{
    return utf8_put(byte_codepoint(byte), utf8); /* below U+0144: at most 2 bytes */
}

int ed__bpe_char_byte(const char *text, size_t len, size_t *char_len)
{
    const unsigned char *s = (const unsigned char *)text;
    *char_len = 1;
    if (s[0] < 0x80)
        return byte_is_printable(s[0]) ? s[0] : -1;
    if ((s[0] & 0xe0) != 0xc0 || len < 2 || (s[1] & 0xc0) != 0x80) {
        /* Not a 2-byte character: it stands for no byte; skip it whole. */
        size_t n = (s[0] & 0xf0) == 0xf0 ? 4 : (s[0] & 0xe0) == 0xe0 ? 3 : (s[0] & 0xe0) == 0xc0 ? 2 : 1;
        *char_len = n < len ? n : len;
        return -1;
    }
    *char_len = 2;
    unsigned cp = ((s[0] & 0x1fu) << 6) | (s[1] & 0x3fu);
    if (cp < 0x100)
        return byte_is_printable(cp) ? (int)cp : -1;
    unsigned n = cp - 0x100; /* the n-th non-printable byte */
    if (n < 33)
        return (int)n;
    if (n < 67)
        return (int)(0x7f + n - 33);
    return n == 67 ? 0xad : -1;
}

/* Decodes one code point as llama.cpp does: the lead byte gives the length,
 * continuation bytes must be 10xxxxxx; anything else is one invalid byte. */
static unsigned utf8_get(const unsigned char *s, size_t len, size_t *used)
{
    static const unsigned char LEN[16] = {1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 2, 2, 3, 4};
    unsigned n = LEN[s[0] >> 4];
    if (s[0] >= 0xf8 || n == 0 || n > len)
        goto invalid;
    unsigned cp = n == 1 ? s[0] : n == 2 ? s[0] & 0x1fu : n == 3 ? s[0] & 0x0fu : s[0] & 0x07u;
    for (unsigned i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            goto invalid;
        cp = (cp << 6) | (s[i] & 0x3fu);
    }
    *used = n;
    if ((cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
        return 0xfffd; /* not encodable as valid UTF-8 */
    return cp;
invalid:
    *used = 1;
    return 0xfffd;
}

static bool bpe_key(const ed_vocab_t *vocab, const char *text, uint32_t left_len, uint32_t right_len,
                    double *key)
{
    int32_t rank = ed_vocab_merge_rank(vocab, text, left_len, text + left_len, right_len);
    if (rank < 0)
        return false;
    *key = (double)rank;
    return true;
}

/* Maps the piece's bytes to characters in work->buf and merges them. */
static int encode_piece(const ed_vocab_t *vocab, ed__encode_work_t *work, const char *piece, size_t len,
                        ed_token_out_t *out)
{
    int rc = ed__encode_reserve(work, 2 * len);
    if (rc < 0)
        return rc;
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += ed__bpe_byte_char((unsigned char)piece[i], work->buf + n);
    if (vocab->ignore_merges) {
        int32_t id = ed_vocab_find(vocab, work->buf, n);
        if (id != ED_TOKEN_NONE) {
            ed_token_out_push(out, id);
            return 0;
        }
    }
    if ((rc = ed__encode_merge(vocab, work, work->buf, (uint32_t)n, bpe_key)) < 0)
        return rc;
    for (int32_t i = 0; i != -1; i = work->symbols[i].next) {
        const ed__symbol_t *symbol = &work->symbols[i];
        const char *text = work->buf + symbol->start;
        int32_t id = ed_vocab_find(vocab, text, symbol->len);
        if (id != ED_TOKEN_NONE) {
            ed_token_out_push(out, id);
            continue;
        }
        /* Only a vocabulary missing some byte characters gets here; llama.cpp
         * then keeps whichever single bytes are tokens. */
        for (uint32_t b = 0; b < symbol->len; b++)
            if ((id = ed_vocab_find(vocab, text + b, 1)) != ED_TOKEN_NONE)
                ed_token_out_push(out, id);
    }
    return 0;
}

int ed__bpe_encode(const ed_vocab_t *vocab, ed__encode_work_t *work, const char *text, size_t len,
                   ed_token_out_t *out)
{
    /* Valid UTF-8 for PCRE2: at most 3 bytes out per byte in (U+FFFD). */
    char *clean = malloc(3 * len + 1);
    ed_spans_t pieces = {0};
    int rc = ED_ENOMEM;
    if (!clean)
        goto done;
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        size_t used;
        unsigned cp = utf8_get((const unsigned char *)text + i, len - i, &used);
        n += utf8_put(cp, clean + n);
        i += used;
    }
    if ((rc = ed_pretok_split(vocab->pretok, clean, n, &pieces)) < 0)
        goto done;
    for (size_t i = 0; i < pieces.n && rc == 0; i++)
        rc = encode_piece(vocab, work, clean + pieces.spans[i].offset, pieces.spans[i].len, out);
done:
    free(pieces.spans);
    free(clean);
    return rc;
}
