/* markup.h - turns an ingested body (text/plain, text/markdown, text/html)
 * into the plain text that is stored, chunked and cited, plus the headings
 * found in it. Offsets in the result refer to the stripped text, never to
 * the original body. Rejects invalid UTF-8 and NUL bytes. Pure functions,
 * callable from any thread. */
#ifndef ED_RAG_MARKUP_H
#define ED_RAG_MARKUP_H

#include "core/error.h"

#include <stddef.h>

typedef enum {
    ED_MARKUP_PLAIN,
    ED_MARKUP_MARKDOWN,
    ED_MARKUP_HTML,
} ed_markup_kind_t;

typedef struct {
    size_t offset, len; /* bytes of the stripped text holding the heading's text */
    int level;          /* 1 (h1, '#') .. 6 */
} ed_markup_heading_t;

typedef struct {
    char *text; /* stripped text, valid UTF-8, NUL-terminated; malloc'd */
    size_t len; /* bytes, without the NUL */
    ed_markup_heading_t *headings; /* (n_headings), in text order, non-overlapping; malloc'd or NULL */
    int n_headings;
} ed_markup_t;

/* Maps a Content-Type value ("text/html; charset=utf-8") to a kind; a
 * charset other than UTF-8 or an unknown type is ED_EUNSUPPORTED. */
int ed_markup_kind_from_content_type(const char *content_type, ed_markup_kind_t *kind);

/* Strips `len` bytes of `kind` into *out (which the caller frees with
 * ed_markup_free, also on error). Invalid UTF-8 or a NUL byte is ED_EFORMAT
 * with err naming the byte offset; ED_ENOMEM on allocation failure.
 * Plain text is kept as it is (offsets then match the body); HTML drops
 * script/style/head contents and tags, decodes entities, turns block
 * elements into paragraph breaks and <br> into line breaks, and collapses
 * whitespace; markdown keeps heading, link and code text and drops the
 * syntax around them. */
int ed_markup_strip(ed_markup_t *out, ed_markup_kind_t kind, const char *body, size_t len, char err[ED_ERR_LEN]);
void ed_markup_free(ed_markup_t *markup); /* accepts a zeroed struct */

/* Checks that `len` bytes are UTF-8 without NUL; ED_EFORMAT with err naming
 * the first bad byte's offset. */
int ed_markup_check_utf8(const char *text, size_t len, char err[ED_ERR_LEN]);

#endif
