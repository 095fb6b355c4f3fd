/* utf8.c - see utf8.h. The second byte carries every range rule: after E0
 * it must be A0..BF (no overlongs), after ED 80..9F (no surrogates), after F0
 * 90..BF (no overlongs), after F4 80..8F (nothing above U+10FFFF). */
#include "core/utf8.h"

#include <string.h>

int ed_utf8_next(const unsigned char *s, size_t n)
{
    if (n == 0)
        return 0;
    unsigned c = s[0];
    if (c < 0x80)
        return 1;
    int len;
    unsigned lo = 0x80, hi = 0xBF; /* range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else {
        return -1; /* a continuation byte, C0/C1 (overlong) or F5..FF */
    }
    for (int k = 1; k < len; k++) {
        if ((size_t)k >= n)
            return 0;
        unsigned b = s[k];
        if (k == 1 ? b < lo || b > hi : (b & 0xC0) != 0x80)
            return -1;
    }
    return len;
}

size_t ed_utf8_valid_prefix(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        if (p[i] < 0x80) { /* the common case, without a call */
            i++;
            continue;
        }
        int len = ed_utf8_next(p + i, n - i);
        if (len <= 0)
            break;
        i += (size_t)len;
    }
    return i;
}

bool ed_utf8_valid(const char *s, size_t n)
{
    return ed_utf8_valid_prefix(s, n) == n;
}

size_t ed_utf8_sanitise(const char *s, size_t n, char *out)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        int len = ed_utf8_next(p + i, n - i);
        if (len > 0) {
            memcpy(out + o, p + i, (size_t)len);
            o += (size_t)len;
            i += (size_t)len;
        } else {
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
        }
    }
    return o;
}
