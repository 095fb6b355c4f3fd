/* query.c - content words of a search query (see query.h): a word splitter
 * matching FTS5's unicode61 tokeniser closely enough for ASCII and the
 * common Unicode punctuation, and a sorted stop list searched by bsearch. */
#include "rag/query.h"

#include <stdlib.h>
#include <string.h>

/* Sorted (strcmp order): the lexical index has no stop list of its own, and
 * BM25's idf weighs a word like "who" or "am" only a little below a name
 * when few notes hold it, so a question's form would outvote its subject. */
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

bool ed_query_is_stop_word(const char *word, size_t len)
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

int ed_query_terms(const char *text, size_t len, char *out, size_t cap, size_t *used, int max_terms)
{
    const unsigned char *p = (const unsigned char *)text, *end = p + len;
    int n_terms = 0;
    char word[ED_QUERY_WORD_MAX + 1];
    for (const char *w = out; *used > 0 && w < out + *used; w++) /* the words already in out */
        n_terms += w == out || w[-1] == ' ';
    while (p < end && n_terms < max_terms) {
        size_t sep;
        while (p < end && (sep = separator_len(p, end)) > 0)
            p += sep;
        size_t n = 0;
        bool too_long = false;
        while (p < end && separator_len(p, end) == 0) {
            if (n < ED_QUERY_WORD_MAX)
                word[n++] = (char)(*p >= 'A' && *p <= 'Z' ? *p + ('a' - 'A') : *p);
            else
                too_long = true;
            p++;
        }
        if (n == 0 || too_long || ed_query_is_stop_word(word, n))
            continue;
        word[n] = '\0';
        bool repeat = false;
        for (const char *w = out; !repeat && w < out + *used; w = strchr(w, ' ') ? strchr(w, ' ') + 1 : out + *used)
            repeat = strncmp(w, word, n) == 0 && (w[n] == ' ' || w + n == out + *used);
        if (repeat || *used + (*used > 0) + n + 1 > cap)
            continue;
        if (*used > 0)
            out[(*used)++] = ' ';
        memcpy(out + *used, word, n + 1);
        *used += n;
        n_terms++;
    }
    if (cap > 0)
        out[*used < cap ? *used : cap - 1] = '\0';
    return n_terms;
}
