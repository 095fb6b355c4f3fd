/* buf.c - see buf.h. */
#include "core/buf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ed_buf_init(ed_buf_t *buf) { memset(buf, 0, sizeof *buf); }

void ed_buf_free(ed_buf_t *buf)
{
    free(buf->data);
    memset(buf, 0, sizeof *buf);
}

bool ed_buf_reserve(ed_buf_t *buf, size_t n)
{
    if (buf->failed)
        return false;
    if (buf->len + n + 1 <= buf->cap)
        return true;
    size_t cap = buf->cap ? buf->cap : 256;
    while (cap < buf->len + n + 1) {
        if (cap > SIZE_MAX / 2) {
            buf->failed = true;
            return false;
        }
        cap *= 2;
    }
    char *data = realloc(buf->data, cap);
    if (!data) {
        buf->failed = true;
        return false;
    }
    buf->data = data;
    buf->cap = cap;
    return true;
}

void ed_buf_append(ed_buf_t *buf, const void *data, size_t len)
{
    if (!ed_buf_reserve(buf, len))
        return;
    if (len)
        memcpy(buf->data + buf->len, data, len);
    buf->len += len;
    buf->data[buf->len] = '\0';
}

void ed_buf_puts(ed_buf_t *buf, const char *s) { ed_buf_append(buf, s, strlen(s)); }

void ed_buf_printf(ed_buf_t *buf, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char small[256];
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof small) {
        ed_buf_append(buf, small, (size_t)n);
        return;
    }
    if (!ed_buf_reserve(buf, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(buf->data + buf->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    buf->len += (size_t)n;
}

char *ed_buf_steal(ed_buf_t *buf, size_t *len)
{
    if (!buf->data)
        ed_buf_append(buf, "", 0);
    char *data = buf->data;
    if (len)
        *len = buf->len;
    memset(buf, 0, sizeof *buf);
    return data;
}
