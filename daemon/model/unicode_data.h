/* unicode_data.h - the few Unicode facts the WordPiece tokenizer needs: a
 * code point's class (White_Space, \p{C}, \p{P}, \p{S}), its simple lowercase
 * and the first code point of its NFD decomposition. The tables are generated
 * (unicode_data.c, by tests/tools/gen_unicode.py from Python's unicodedata),
 * not written by hand; ed_unicode_version says which Unicode they follow. */
#ifndef ED_MODEL_UNICODE_DATA_H
#define ED_MODEL_UNICODE_DATA_H

#include <stdint.h>

#define ED_UNICODE_MAX 0x110000u /* code points are below this */

enum {
    ED_UNICODE_WHITESPACE = 1,  /* the White_Space property */
    ED_UNICODE_CONTROL = 2,     /* \p{C}: Cc, Cf, Cs, Co and unassigned */
    ED_UNICODE_PUNCTUATION = 4, /* \p{P} */
    ED_UNICODE_SYMBOL = 8,      /* \p{S} */
};

extern const char ed_unicode_version[]; /* "14.0.0" */

/* The ED_UNICODE_* bits of `cpt`; past ED_UNICODE_MAX: CONTROL. O(log n). */
unsigned ed_unicode_flags(uint32_t cpt);
/* The simple lowercase of `cpt` (the first code point of str.lower()), or cpt. */
uint32_t ed_unicode_lower(uint32_t cpt);
/* The first code point of NFD(cpt): the base letter of a precomposed
 * accented letter, the leading jamo of a Hangul syllable; else cpt. */
uint32_t ed_unicode_nfd_first(uint32_t cpt);

#endif
