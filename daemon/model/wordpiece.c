/* wordpiece.c - the WordPiece encoder: BERT's basic tokenizer over code
 * points (tables in unicode_data.c) writing one word at a time into the
 * work buffer, and the greedy longest-match-first split of each word. The
 * vocabulary stores word-initial pieces as U+2581 + text and continuation
 * pieces without BERT's "##" (llama.cpp's converter rewrites them so). */
#include "model/wordpiece.h"

#include "model/unicode_data.h"

#include <string.h>

#define WORD_PREFIX "\xe2\x96\x81" /* U+2581, put before every word */
#define WORD_PREFIX_LEN 3

/* The code point at s[*at], advancing *at. As llama.cpp reads UTF-8: a lead
 * byte without all its continuation bytes, or a stray continuation byte, is
 * one byte read as U+FFFD (overlong forms are not checked). */
static uint32_t next_codepoint(const unsigned char *s, size_t len, size_t *at)
{
    unsigned char c = s[*at];
    size_t n = c < 0x80 ? 1 : c < 0xc0 ? 0 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : c < 0xf8 ? 4 : 0;
    if (n == 0 || n > len - *at) {
        *at += 1;
        return 0xfffd;
    }
    uint32_t cpt = n == 1 ? c : c & (0x7f >> n);
    for (size_t k = 1; k < n; k++) {
        if ((s[*at + k] & 0xc0) != 0x80) {
            *at += 1;
            return 0xfffd;
        }
        cpt = cpt << 6 | (s[*at + k] & 0x3f);
    }
    *at += n;
    return cpt;
}

static size_t put_utf8(char *out, uint32_t cpt)
{
    if (cpt < 0x80) {
        out[0] = (char)cpt;
        return 1;
    }
    if (cpt < 0x800) {
        out[0] = (char)(0xc0 | cpt >> 6);
        out[1] = (char)(0x80 | (cpt & 0x3f));
        return 2;
    }
    if (cpt < 0x10000) {
        out[0] = (char)(0xe0 | cpt >> 12);
        out[1] = (char)(0x80 | (cpt >> 6 & 0x3f));
        out[2] = (char)(0x80 | (cpt & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | cpt >> 18);
    out[1] = (char)(0x80 | (cpt >> 12 & 0x3f));
    out[2] = (char)(0x80 | (cpt >> 6 & 0x3f));
    out[3] = (char)(0x80 | (cpt & 0x3f));
    return 4;
}

/* BERT's _is_chinese_char ranges, as llama.cpp has them (its 0x2B920 start
 * follows the HF Rust code, where the CJK block starts at 0x2B820). */
static bool is_cjk_ideograph(uint32_t cpt)
{
    return (cpt >= 0x4E00 && cpt <= 0x9FFF) || (cpt >= 0x3400 && cpt <= 0x4DBF) ||
           (cpt >= 0x20000 && cpt <= 0x2A6DF) || (cpt >= 0x2A700 && cpt <= 0x2B73F) ||
           (cpt >= 0x2B740 && cpt <= 0x2B81F) || (cpt >= 0x2B920 && cpt <= 0x2CEAF) ||
           (cpt >= 0xF900 && cpt <= 0xFAFF) || (cpt >= 0x2F800 && cpt <= 0x2FA1F);
}

/* Splits word[0, len) (U+2581 + the word) into tokens, longest first from
 * the left; when some position matches no token, the word's tokens are
 * taken back and it becomes the unknown token. */
static void split_word(const ed_vocab_t *vocab, const char *word, size_t len, ed_token_out_t *out)
{
    size_t first = out->n;
    for (size_t i = 0; i < len;) {
        size_t j = len - i < vocab->max_token_len ? len : i + vocab->max_token_len;
        int32_t id = ED_TOKEN_NONE;
        while (j > i && (id = ed_vocab_find(vocab, word + i, j - i)) == ED_TOKEN_NONE)
            j--;
        if (id == ED_TOKEN_NONE) {
            out->n = first;
            break;
        }
        ed_token_out_push(out, id);
        i = j;
    }
    if (out->n == first && vocab->unk != ED_TOKEN_NONE)
        ed_token_out_push(out, vocab->unk);
}

int ed__wordpiece_encode(const ed_vocab_t *vocab, ed__encode_work_t *work, const char *text, size_t len,
                         ed_token_out_t *out)
{
    /* A character's lowercase or NFD head never takes more than twice the
     * bytes of the character, so a word fits in the prefix + 2 len bytes. */
    if (ed__encode_reserve(work, WORD_PREFIX_LEN + 2 * len) < 0)
        return ED_ENOMEM;
    char *word = work->buf;
    memcpy(word, WORD_PREFIX, WORD_PREFIX_LEN);
    size_t n = WORD_PREFIX_LEN;
    for (size_t at = 0; at < len;) {
        uint32_t cpt = ed_unicode_nfd_first(next_codepoint((const unsigned char *)text, len, &at));
        unsigned flags = ed_unicode_flags(cpt);
        bool alone = (flags & ED_UNICODE_PUNCTUATION) || ((flags & ED_UNICODE_SYMBOL) && cpt < 0x7f) ||
                     is_cjk_ideograph(cpt);
        if ((flags & ED_UNICODE_WHITESPACE) || alone) {
            if (n > WORD_PREFIX_LEN)
                split_word(vocab, word, n, out);
            n = WORD_PREFIX_LEN;
        }
        if ((flags & (ED_UNICODE_WHITESPACE | ED_UNICODE_CONTROL)) || cpt == 0 || cpt == 0xfffd)
            continue;
        n += put_utf8(word + n, ed_unicode_lower(cpt));
        if (alone) {
            split_word(vocab, word, n, out);
            n = WORD_PREFIX_LEN;
        }
    }
    if (n > WORD_PREFIX_LEN)
        split_word(vocab, word, n, out);
    return 0;
}
