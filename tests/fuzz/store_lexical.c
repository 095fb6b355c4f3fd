/* tests/fuzz/store_lexical.c - libFuzzer driver for the lexical index's word
 * splitter: the first input byte picks the output capacity and the word
 * limit, the rest is the text. Aborts when the output overruns its
 * capacity, its length disagrees with *used, a word is empty, too long, a
 * stop word or holds an ASCII capital or punctuation, the count is wrong,
 * or (unique) a word repeats. Seeds: tests/fuzz/corpus/store_lexical. */
#include "store/lexical.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const char *out, size_t used, size_t cap, int n, bool unique)
{
    if (used >= cap || strlen(out) != used)
        abort();
    int n_seen = 0;
    for (const char *w = out; used > 0 && w <= out + used;) {
        const char *space = memchr(w, ' ', (size_t)(out + used - w));
        size_t len = space ? (size_t)(space - w) : (size_t)(out + used - w);
        if (len == 0 || len > ED_LEXICAL_WORD_MAX || ed_lexical_is_stop_word(w, len))
            abort();
        for (size_t i = 0; i < len; i++) {
            unsigned char c = (unsigned char)w[i];
            if (c < 0x80 && !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z')))
                abort();
        }
        for (const char *v = out; unique && v < w;) {
            const char *v_space = memchr(v, ' ', (size_t)(w - v));
            size_t v_len = (size_t)(v_space - v);
            if (v_len == len && memcmp(v, w, len) == 0)
                abort();
            v += v_len + 1;
        }
        n_seen++;
        w += len + 1;
    }
    if (n_seen != n)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    int max_words = data[0] & 1 ? 3 : 1 << 20;
    for (int unique = 0; unique < 2; unique++) {
        size_t cap = data[0] & 2 ? (size_t)(data[0] >> 2) + 1 : len + 2;
        char *out = malloc(cap);
        size_t used = 0;
        int n = ed_lexical_words(text, len, unique, out, cap, &used, max_words);
        if (n > max_words)
            abort();
        check(out, used, cap, n, unique);
        free(out);
    }
    return 0;
}
