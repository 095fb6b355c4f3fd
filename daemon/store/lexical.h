/* lexical.h - the words the lexical index sees, in documents and queries
 * alike: lower-cased words (ASCII letters and digits, and non-ASCII
 * characters other than punctuation, as FTS5's unicode61 tokeniser splits
 * them), English stop words dropped. The index holds only these words, so
 * that BM25's document length counts what a query can match. Pure
 * functions, any thread. */
#ifndef ED_STORE_LEXICAL_H
#define ED_STORE_LEXICAL_H

#include <stdbool.h>
#include <stddef.h>

/* Whether word[0, len) (lower case) is a stop word: a function word
 * ("the", "with"), a pronoun ("I", "my") or a question word ("who", "which"),
 * which says how a question is asked, not what it is about. */
bool ed_lexical_is_stop_word(const char *word, size_t len);

/* Appends the content words of text[0, len) to out (capacity cap bytes,
 * NUL-terminated; *used is its length so far, words separated by one space)
 * while fewer than max_words words are in out; with unique, each at most
 * once. A word that does not fit, or longer than ED_LEXICAL_WORD_MAX bytes,
 * is skipped. cap >= *used + len + 2 always suffices. Returns the number of
 * words in out. */
#define ED_LEXICAL_WORD_MAX 64
int ed_lexical_words(const char *text, size_t len, bool unique, char *out, size_t cap, size_t *used, int max_words);

/* Whether the words words[0, used) (as ed_lexical_words writes them)
 * include word[0, len). */
bool ed_lexical_holds(const char *words, size_t used, const char *word, size_t len);

#endif
