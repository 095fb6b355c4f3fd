/* tests/unit/rag/markup.c - the markup stripper: HTML entities, dropped
 * script/style/head, block breaks, nested lists, headings; markdown
 * headings, links, emphasis, fences; UTF-8 and NUL rejection with offsets. */
#include "rag/markup.h"

#include "../../test.h"

static char err[ED_ERR_LEN];

/* Strips s and checks the text (and nothing else) comes out. */
static int strip(ed_markup_t *m, ed_markup_kind_t kind, const char *s)
{
    return ed_markup_strip(m, kind, s, strlen(s), err);
}

static const char *heading_text(const ed_markup_t *m, int i, char *out, size_t cap)
{
    size_t n = m->headings[i].len < cap - 1 ? m->headings[i].len : cap - 1;
    memcpy(out, m->text + m->headings[i].offset, n);
    out[n] = '\0';
    return out;
}

ED_TEST(html_entities_decoded)
{
    ed_markup_t m;
    ED_REQUIRE(strip(&m, ED_MARKUP_HTML, "<p>Fish &amp; chips &lt;3 &quot;x&quot; &#65;&#x42;&euro; caf&eacute;&nbsp;ok "
                                          "&bogus; &#xD800; & alone</p>") == 0);
    ED_CHECK_STR(m.text, "Fish & chips <3 \"x\" AB\xe2\x82\xac caf\xc3\xa9 ok &bogus; \xef\xbf\xbd & alone");
    ed_markup_free(&m);
}

ED_TEST(html_drops_script_style_head_and_comments)
{
    ed_markup_t m;
    ED_REQUIRE(strip(&m, ED_MARKUP_HTML,
                     "<html><head><title>T</title><style>p{color:red}</style></head><BODY>"
                     "<script type=\"text/javascript\">var a = '<p>no</p>';</script>"
                     "Hello <!-- hidden --><b>bold</b> <a href=\"x.html?a=1&b=2\" title='a>b'>link</a>"
                     "<SCRIPT>x()</SCRIPT></body></html>") == 0);
    ED_CHECK_STR(m.text, "Hello bold link");
    ed_markup_free(&m);
    /* A head without its end tag ends at <body>. */
    ED_REQUIRE(strip(&m, ED_MARKUP_HTML, "<head><meta charset=utf-8><body>kept") == 0);
    ED_CHECK_STR(m.text, "kept");
    ed_markup_free(&m);
}

ED_TEST(html_blocks_breaks_and_whitespace)
{
    ed_markup_t m;
    ED_REQUIRE(strip(&m, ED_MARKUP_HTML, "  <div>one\n\n   two</div><p>three<br>four</p>  five\t\tsix ") == 0);
    ED_CHECK_STR(m.text, "one two\n\nthree\nfour\n\nfive six");
    ed_markup_free(&m);
    ED_REQUIRE(strip(&m, ED_MARKUP_HTML, "<pre>a  b\n  c</pre>d") == 0);
    ED_CHECK_STR(m.text, "a  b\n  c\n\nd");
    ed_markup_free(&m);
}

ED_TEST(html_nested_lists)
{
    ed_markup_t m;
    ED_REQUIRE(strip(&m, ED_MARKUP_HTML,
                     "<ul><li>eggs<ul><li>free range</li><li>large</li></ul></li><li>milk</li></ul><p>end</p>") == 0);
    ED_CHECK_STR(m.text, "eggs\n\nfree range\nlarge\n\nmilk\n\nend");
    ed_markup_free(&m);
}

ED_TEST(html_headings_recorded)
{
    ed_markup_t m;
    char h[64];
    ED_REQUIRE(strip(&m, ED_MARKUP_HTML, "<h1> Recipes </h1><p>intro</p><h2>Eggs &amp; <i>more</i></h2>text") == 0);
    ED_CHECK_STR(m.text, "Recipes\n\nintro\n\nEggs & more\n\ntext");
    ED_REQUIRE(m.n_headings == 2);
    ED_CHECK_STR(heading_text(&m, 0, h, sizeof h), "Recipes");
    ED_CHECK_INT(m.headings[0].level, 1);
    ED_CHECK_STR(heading_text(&m, 1, h, sizeof h), "Eggs & more");
    ED_CHECK_INT(m.headings[1].level, 2);
    ed_markup_free(&m);
}

ED_TEST(markdown_headings_links_emphasis)
{
    ed_markup_t m;
    char h[64];
    ED_REQUIRE(strip(&m, ED_MARKUP_MARKDOWN,
                     "# Trip to *Lisbon* #\n"
                     "Stay at [Casa Alfama](https://example.com/a_(b)) and see ![the tram](tram.png).\n"
                     "Read **this** and __that__, keep snake_case and 2 * 3.\n"
                     "\n"
                     "Setext title\n"
                     "------------\n"
                     "- item one\n"
                     "  * nested `code [x](y)`\n"
                     "1. first\n"
                     "> quoted *text*\n"
                     "[ref]: https://example.com\n"
                     "See [docs][ref] and <https://example.org>.\n") == 0);
    ED_CHECK_STR(m.text, "Trip to Lisbon\n\n"
                         "Stay at Casa Alfama and see the tram. Read this and that, keep snake_case and 2 * 3.\n\n"
                         "Setext title\n\n"
                         "item one\nnested code [x](y)\nfirst quoted text See docs and https://example.org.");
    ED_REQUIRE(m.n_headings == 2);
    ED_CHECK_STR(heading_text(&m, 0, h, sizeof h), "Trip to Lisbon");
    ED_CHECK_INT(m.headings[0].level, 1);
    ED_CHECK_STR(heading_text(&m, 1, h, sizeof h), "Setext title");
    ED_CHECK_INT(m.headings[1].level, 2);
    ed_markup_free(&m);
}

ED_TEST(markdown_code_fence_kept)
{
    ed_markup_t m;
    ED_REQUIRE(strip(&m, ED_MARKUP_MARKDOWN, "Before\n```sql\nSELECT *  FROM t\n  WHERE a = 1\n```\nAfter *x*\n") == 0);
    ED_CHECK_STR(m.text, "Before\n\nSELECT *  FROM t\n  WHERE a = 1\n\nAfter x");
    ED_CHECK_INT(m.n_headings, 0);
    ed_markup_free(&m);
    ED_REQUIRE(strip(&m, ED_MARKUP_MARKDOWN, "```\n# not a heading\n") == 0); /* unclosed: to the end */
    ED_CHECK_STR(m.text, "# not a heading");
    ED_CHECK_INT(m.n_headings, 0);
    ed_markup_free(&m);
}

ED_TEST(plain_text_kept_as_is)
{
    ed_markup_t m;
    const char *s = "  Line one\r\n\n<b>not html</b> &amp;  ";
    ED_REQUIRE(strip(&m, ED_MARKUP_PLAIN, s) == 0);
    ED_CHECK_STR(m.text, s);
    ED_CHECK_INT(m.len, strlen(s));
    ed_markup_free(&m);
}

ED_TEST(invalid_utf8_and_nul_rejected_with_offset)
{
    ed_markup_t m;
    static const struct {
        const char *bytes;
        size_t len;
        const char *want;
    } CASES[] = {
        {"ok\xff", 3, "byte offset 2"},          {"abc\xc0\xaf", 5, "byte offset 3"}, /* overlong */
        {"a\xed\xa0\x80", 4, "byte offset 1"},   /* surrogate */
        {"ab\xe2\x82", 4, "byte offset 2"},      /* truncated */
        {"abcd\0ef", 7, "NUL byte at byte offset 4"},
        {"\xf4\x90\x80\x80", 4, "byte offset 0"}, /* above U+10FFFF */
        {"a\0\xff", 3, "NUL byte at byte offset 1"}, {"a\xff\0", 3, "invalid UTF-8 at byte offset 1"}, /* the first */
    };
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++)
        for (int kind = ED_MARKUP_PLAIN; kind <= ED_MARKUP_HTML; kind++) {
            err[0] = '\0';
            ED_CHECK_INT(ed_markup_strip(&m, (ed_markup_kind_t)kind, CASES[i].bytes, CASES[i].len, err), ED_EFORMAT);
            ED_CHECK(strstr(err, CASES[i].want) != NULL);
            ed_markup_free(&m);
        }
    ED_REQUIRE(ed_markup_strip(&m, ED_MARKUP_HTML, "\xc3\xa9t\xc3\xa9 \xf0\x9f\x98\x80", 10, err) == 0);
    ED_CHECK_STR(m.text, "\xc3\xa9t\xc3\xa9 \xf0\x9f\x98\x80");
    ed_markup_free(&m);
}

ED_TEST(content_types)
{
    ed_markup_kind_t kind;
    ED_CHECK(ed_markup_kind_from_content_type("text/html; charset=UTF-8", &kind) == 0 && kind == ED_MARKUP_HTML);
    ED_CHECK(ed_markup_kind_from_content_type("Text/Markdown", &kind) == 0 && kind == ED_MARKUP_MARKDOWN);
    ED_CHECK(ed_markup_kind_from_content_type("text/plain", &kind) == 0 && kind == ED_MARKUP_PLAIN);
    ED_CHECK_INT(ed_markup_kind_from_content_type("text/plain; charset=latin1", &kind), ED_EUNSUPPORTED);
    ED_CHECK_INT(ed_markup_kind_from_content_type("application/pdf", &kind), ED_EUNSUPPORTED);
}

ED_TEST_MAIN(html_entities_decoded, html_drops_script_style_head_and_comments, html_blocks_breaks_and_whitespace,
             html_nested_lists, html_headings_recorded, markdown_headings_links_emphasis, markdown_code_fence_kept,
             plain_text_kept_as_is, invalid_utf8_and_nul_rejected_with_offset, content_types)
