/* query.h - the words of a natural-language search query that carry its
 * meaning: lower-cased words (the lexical index's own tokenisation: ASCII
 * letters and digits, and non-ASCII characters other than punctuation),
 * English stop words and repeats dropped. Pure functions, any thread. */
#ifndef ED_RAG_QUERY_H
#define ED_RAG_QUERY_H

#include <stdbool.h>
#include <stddef.h>

/* Whether word[0, len) (lower case) is a stop word: a function word
 * ("the", "with"), a pronoun ("I", "my") or a question word ("who", "which"),
 * which says how a question is asked, not what it is about. */
bool ed_query_is_stop_word(const char *word, size_t len);

/* Appends the content words of text[0, len) to out (capacity cap bytes,
 * NUL-terminated; *used is its length so far, words separated by one space)
 * while fewer than max_terms words are in out, each at most once. A word
 * that does not fit, or longer than ED_QUERY_WORD_MAX bytes, is skipped.
 * Returns the number of words in out. */
#define ED_QUERY_WORD_MAX 64
int ed_query_terms(const char *text, size_t len, char *out, size_t cap, size_t *used, int max_terms);

#endif
