/* Tests daemon/core/utf8.c against a plain decoder (decode, then check the
 * code point's range) over every 1-, 2- and 3-byte sequence and every 4-byte
 * one with the first two bytes free; plus prefixes, the helpers and the
 * byte-by-byte replacement the callers rely on. */
#include "core/utf8.h"
#include "../../test.h"

/* The specification, written the slow way: 1..4 valid, 0 incomplete, -1 bad. */
static int slow_next(const unsigned char *s, size_t n)
{
    if (n == 0)
        return 0;
    unsigned c = s[0];
    int len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : -1;
    if (len < 0)
        return -1;
    static const unsigned lead_mask[5] = {0, 0x7F, 0x1F, 0x0F, 0x07};
    static const unsigned min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    unsigned cp = c & lead_mask[len];
    size_t have = n < (size_t)len ? n : (size_t)len;
    for (size_t k = 1; k < have; k++) {
        if ((s[k] & 0xC0) != 0x80)
            return -1;
        cp = (cp << 6) | (s[k] & 0x3F);
    }
    /* incomplete: valid when some completion is; try the smallest and largest */
    if (have < (size_t)len) {
        for (int pick = 0; pick < 2; pick++) {
            unsigned full = cp;
            for (size_t k = have; k < (size_t)len; k++)
                full = (full << 6) | (pick ? 0x3F : 0x00);
            if (full >= min_cp[len] && full <= 0x10FFFF && !(full >= 0xD800 && full <= 0xDFFF))
                return 0;
        }
        /* a middle completion may still be valid for E0/ED/F0/F4 prefixes */
        for (unsigned tail = 0; tail < (1u << (6 * (len - (int)have))); tail++) {
            unsigned full = (cp << (6 * (len - (int)have))) | tail;
            if (full >= min_cp[len] && full <= 0x10FFFF && !(full >= 0xD800 && full <= 0xDFFF))
                return 0;
        }
        return -1;
    }
    if (cp < min_cp[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return -1;
    return len;
}

ED_TEST(agrees_with_slow_decoder)
{
    unsigned char s[4];
    long checked = 0;
    for (unsigned a = 0; a < 256; a++) {
        s[0] = (unsigned char)a;
        ED_CHECK_INT(ed_utf8_next(s, 1), slow_next(s, 1));
        for (unsigned b = 0; b < 256; b++) {
            s[1] = (unsigned char)b;
            ED_CHECK_INT(ed_utf8_next(s, 2), slow_next(s, 2));
            for (unsigned c = 0x70; c < 0xD0; c++) { /* around the continuation range */
                s[2] = (unsigned char)c;
                ED_CHECK_INT(ed_utf8_next(s, 3), slow_next(s, 3));
                if (a >= 0xF0 && a <= 0xF7) {
                    static const unsigned last[] = {0x00, 0x7F, 0x80, 0xA5, 0xBF, 0xC0};
                    for (int d = 0; d < 6; d++) {
                        s[3] = (unsigned char)last[d];
                        ED_CHECK_INT(ed_utf8_next(s, 4), slow_next(s, 4));
                        checked++;
                    }
                }
                checked++;
            }
        }
    }
    printf("# %ld sequences checked\n", checked);
}

ED_TEST(edges)
{
    static const struct {
        const char *s;
        int n, expect;
    } cases[] = {
        {"A", 1, 1},
        {"\0", 1, 1},
        {"\xC2\x80", 2, 2},             /* U+0080 */
        {"\xC1\xBF", 2, -1},            /* overlong U+007F */
        {"\xE0\x9F\xBF", 3, -1},        /* overlong U+07FF */
        {"\xE0\xA0\x80", 3, 3},         /* U+0800 */
        {"\xED\x9F\xBF", 3, 3},         /* U+D7FF */
        {"\xED\xA0\x80", 3, -1},        /* U+D800 surrogate */
        {"\xED\xBF\xBF", 3, -1},        /* U+DFFF surrogate */
        {"\xEE\x80\x80", 3, 3},         /* U+E000 */
        {"\xF0\x8F\xBF\xBF", 4, -1},    /* overlong U+FFFF */
        {"\xF0\x90\x80\x80", 4, 4},     /* U+10000 */
        {"\xF4\x8F\xBF\xBF", 4, 4},     /* U+10FFFF */
        {"\xF4\x90\x80\x80", 4, -1},    /* U+110000 */
        {"\xF5\x80\x80\x80", 4, -1},
        {"\x80", 1, -1},
        {"\xE2\x82", 2, 0},             /* the start of U+20AC */
        {"\xF0\x9F", 2, 0},
        {"\xF0\x9F\x98", 3, 0},
        {"\xED\xA0", 2, -1},            /* can only become a surrogate */
        {"\xE2\x28", 2, -1},
        {"", 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        ED_CHECK_INT(ed_utf8_next((const unsigned char *)cases[i].s, (size_t)cases[i].n), cases[i].expect);
}

ED_TEST(prefix_valid_and_sanitise)
{
    const char text[] = "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80";
    size_t n = sizeof text - 1;
    ED_CHECK(ed_utf8_valid(text, n));
    ED_CHECK_INT((int)ed_utf8_valid_prefix(text, n), (int)n);
    ED_CHECK(!ed_utf8_valid(text, n - 1)); /* cut inside the emoji */
    ED_CHECK_INT((int)ed_utf8_valid_prefix(text, n - 1), (int)n - 4);
    ED_CHECK_INT((int)ed_utf8_valid_prefix("ab\xFFzz", 5), 2);

    char out[64];
    size_t m = ed_utf8_sanitise("a\xFF" "b\xE2\x82", 5, out);
    ED_CHECK_INT((int)m, 1 + 3 + 1 + 3 + 3); /* each bad byte alone, the cut tail byte by byte */
    ED_CHECK(memcmp(out, "a\xEF\xBF\xBD" "b\xEF\xBF\xBD\xEF\xBF\xBD", m) == 0);
    m = ed_utf8_sanitise(text, n, out);
    ED_CHECK_INT((int)m, (int)n);
    ED_CHECK(memcmp(out, text, n) == 0);
    /* an overlong form is replaced byte by byte, as the callers did before */
    m = ed_utf8_sanitise("\xE0\x80\xAF", 3, out);
    ED_CHECK_INT((int)m, 9);
}

ED_TEST_MAIN(agrees_with_slow_decoder, edges, prefix_valid_and_sanitise)
