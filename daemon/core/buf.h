/* buf.h - a growable byte buffer for building responses and text. On
 * allocation failure the buffer remembers it (ed_buf_failed) and ignores
 * further appends, so callers check once at the end. */
#ifndef ED_CORE_BUF_H
#define ED_CORE_BUF_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    char *data; /* NUL-terminated when len > 0 or after any append */
    size_t len;
    size_t cap;
    bool failed;
} ed_buf_t;

void ed_buf_init(ed_buf_t *buf);
void ed_buf_free(ed_buf_t *buf);
void ed_buf_append(ed_buf_t *buf, const void *data, size_t len);
void ed_buf_puts(ed_buf_t *buf, const char *s);
void ed_buf_printf(ed_buf_t *buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Makes room for n more bytes; returns false on allocation failure. */
bool ed_buf_reserve(ed_buf_t *buf, size_t n);
static inline bool ed_buf_failed(const ed_buf_t *buf) { return buf->failed; }
/* Hands the storage to the caller (free() it) and resets the buffer. */
char *ed_buf_steal(ed_buf_t *buf, size_t *len);

#endif
