/* lexical.c - the words of a text for the lexical index (see lexical.h): a
 * word splitter matching FTS5's unicode61 tokeniser closely enough for ASCII
 * and the common Unicode punctuation, and a sorted stop list (bsearch). */
#include "store/lexical.h"

#include <stdlib.h>
#include <string.h>

/* Sorted (strcmp order). BM25's idf weighs a word like "who" or "am" only a
 * little below a name when few notes hold it, so a question's form would
 * outvote its subject; and a note's function words would lengthen it, which
 * BM25 penalises (on the personal DEV set, dropping them from the index too
 * took medium top-3 from 78 to 79 of 80, as plain BM25 without them). */
static const char *const STOP_WORDS[] = {
    "a",     "about", "after", "all",   "also",  "am",    "an",    "and",   "any",   "are",   "as",
    "at",    "be",    "been",  "being", "but",   "by",    "can",   "could", "did",   "do",    "does",
    "doing", "for",   "from",  "had",   "has",   "have",  "having", "he",   "her",   "here",  "hers",
    "him",   "his",   "how",   "i",     "if",    "in",    "into",  "is",    "it",    "its",   "just",
    "let",   "ll",    "m",     "me",    "might", "mine",  "my",    "myself", "of",   "on",    "or",
    "our",   "ours",  "s",     "shall", "she",   "should", "so",   "some",  "than",  "that",  "the",
    "their", "them",  "then",  "there", "these", "they",  "this",  "those", "to",    "too",   "us",
    "ve",    "was",   "we",    "were",  "what",  "whats", "when",  "where", "which", "who",   "whom",
    "whose", "why",   "will",  "with",  "would", "you",   "your",  "yours",
};
#define N_STOP_WORDS (sizeof STOP_WORDS / sizeof STOP_WORDS[0])

typedef struct {
    const char *word;
    size_t len;
} stop_key_t;

static int by_word(const void *k, const void *e)
{
    const stop_key_t *key = k;
    const char *entry = *(const char *const *)e;
    int c = strncmp(key->word, entry, key->len);
    return c != 0 ? c : (entry[key->len] != '\0' ? -1 : 0);
}

bool ed_lexical_is_stop_word(const char *word, size_t len)
{
    stop_key_t key = {word, len};
    return bsearch(&key, STOP_WORDS, N_STOP_WORDS, sizeof STOP_WORDS[0], by_word) != NULL;
}

/* Bytes of the separator at p (0: p starts a word character): ASCII other
 * than letters and digits, and U+2000-U+206F (general punctuation: dashes,
 * curly quotes, ellipsis), which the index's tokeniser also splits on. */
static size_t separator_len(const unsigned char *p, const unsigned char *end)
{
    if (*p < 0x80)
        return (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ? 0 : 1;
    if (*p == 0xe2 && end - p >= 3 && (p[1] == 0x80 || p[1] == 0x81))
        return 3;
    return 0;
}

bool ed_lexical_holds(const char *out, size_t used, const char *word, size_t n)
{
    for (const char *w = out, *end = out + used; w < end;) {
        const char *space = memchr(w, ' ', (size_t)(end - w));
        size_t len = space ? (size_t)(space - w) : (size_t)(end - w);
        if (len == n && memcmp(w, word, n) == 0)
            return true;
        w += len + 1;
    }
    return false;
}

int ed_lexical_words(const char *text, size_t len, bool unique, char *out, size_t cap, size_t *used, int max_words)
{
    const unsigned char *p = (const unsigned char *)text, *end = p + len;
    int n_words = 0;
    char word[ED_LEXICAL_WORD_MAX + 1];
    for (const char *w = out; *used > 0 && w < out + *used; w++) /* the words already in out */
        n_words += w == out || w[-1] == ' ';
    while (p < end && n_words < max_words) {
        size_t sep;
        while (p < end && (sep = separator_len(p, end)) > 0)
            p += sep;
        size_t n = 0;
        bool too_long = false;
        while (p < end && separator_len(p, end) == 0) {
            if (n < ED_LEXICAL_WORD_MAX)
                word[n++] = (char)(*p >= 'A' && *p <= 'Z' ? *p + ('a' - 'A') : *p);
            else
                too_long = true;
            p++;
        }
        if (n == 0 || too_long || ed_lexical_is_stop_word(word, n))
            continue;
        word[n] = '\0';
        if ((unique && ed_lexical_holds(out, *used, word, n)) || *used + (*used > 0) + n + 1 > cap)
            continue;
        if (*used > 0)
            out[(*used)++] = ' ';
        memcpy(out + *used, word, n + 1);
        *used += n;
        n_words++;
    }
    if (cap > 0)
        out[*used < cap ? *used : cap - 1] = '\0';
    return n_words;
}
