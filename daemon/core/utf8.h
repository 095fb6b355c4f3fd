/* utf8.h - the one UTF-8 validator: well-formed sequences per RFC 3629
 * (no overlong forms, no surrogates U+D800..U+DFFF, nothing above U+10FFFF).
 * Callers decide what to do with a bad byte (reject, replace with U+FFFD or
 * '?'); the rules of what is valid live only here. */
#ifndef ED_CORE_UTF8_H
#define ED_CORE_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* The length (1..4) of the well-formed sequence at s[0, n); 0 when s[0, n)
 * is only the incomplete start of a valid sequence (more bytes could
 * complete it; also when n == 0); -1 when malformed. A caller that replaces
 * bad input skips one byte on -1 (and on 0 at the end of its text). */
int ed_utf8_next(const unsigned char *s, size_t n);

/* Whether s[0, n) is entirely well-formed UTF-8 (NUL bytes are valid). */
bool ed_utf8_valid(const char *s, size_t n);

/* The length of the longest prefix of s[0, n) made of whole well-formed
 * sequences: n when all is valid, else the offset of the first bad or
 * incomplete sequence. */
size_t ed_utf8_valid_prefix(const char *s, size_t n);

/* Copies s[0, n) into out with each byte that does not start a well-formed
 * sequence (an incomplete one at the end included) replaced by U+FFFD. out
 * has room for 3 * n bytes; returns the bytes written. */
size_t ed_utf8_sanitise(const char *s, size_t n, char *out);

#endif
