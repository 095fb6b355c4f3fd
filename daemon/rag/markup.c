/* markup.c - the markup stripper: UTF-8 checking (its rules in core/utf8),
 * an HTML reader (tags out, entities decoded, script/style/head dropped,
 * blocks become breaks) and a line-based markdown reader (headings, lists,
 * quotes, fences, links, emphasis). Both write through one text writer that
 * collapses whitespace and records headings; storing and chunking the text
 * is left to others. */
#include "rag/markup.h"

#include "core/buf.h"
#include "core/utf8.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ------------------------------------------------------------- utf-8 ---- */

/* The rules of UTF-8 are core/utf8's; this adds the store's refusal of NUL
 * and names the first offending byte. */
int ed_markup_check_utf8(const char *text, size_t len, char err[ED_ERR_LEN])
{
    size_t valid = ed_utf8_valid_prefix(text, len);
    const char *nul = memchr(text, '\0', valid);
    if (nul)
        return ed_errf(err, ED_EFORMAT, "NUL byte at byte offset %zu", (size_t)(nul - text));
    if (valid < len)
        return ed_errf(err, ED_EFORMAT, "invalid UTF-8 at byte offset %zu", valid);
    return 0;
}

int ed_markup_kind_from_content_type(const char *content_type, ed_markup_kind_t *kind)
{
    static const struct {
        const char *type;
        ed_markup_kind_t kind;
    } TYPES[] = {
        {"text/plain", ED_MARKUP_PLAIN},       {"text/markdown", ED_MARKUP_MARKDOWN},
        {"text/x-markdown", ED_MARKUP_MARKDOWN}, {"text/html", ED_MARKUP_HTML},
    };
    const char *end = strchr(content_type, ';');
    size_t type_len = end ? (size_t)(end - content_type) : strlen(content_type);
    while (type_len > 0 && isspace((unsigned char)content_type[type_len - 1]))
        type_len--;
    int found = -1;
    for (size_t i = 0; i < sizeof TYPES / sizeof TYPES[0]; i++)
        if (strlen(TYPES[i].type) == type_len && strncasecmp(TYPES[i].type, content_type, type_len) == 0)
            found = (int)i;
    if (found < 0)
        return ED_EUNSUPPORTED;
    const char *charset = end ? strcasestr(end, "charset=") : NULL;
    if (charset) {
        charset += strlen("charset=");
        charset += *charset == '"';
        if (strncasecmp(charset, "utf-8", 5) != 0 && strncasecmp(charset, "utf8", 4) != 0 &&
            strncasecmp(charset, "us-ascii", 8) != 0)
            return ED_EUNSUPPORTED;
    }
    *kind = TYPES[found].kind;
    return 0;
}

/* ------------------------------------------------------------ writer ---- */

/* Separators owed before the next text, weakest first. */
enum { SEP_NONE, SEP_SPACE, SEP_LINE, SEP_PARAGRAPH };

typedef struct {
    ed_buf_t buf;
    int pending;       /* SEP_*: what goes between the last text and the next */
    bool preformatted; /* whitespace kept as written (<pre>, code fences) */
    int heading_level; /* of the open heading, 0: none open */
    size_t heading_start; /* bytes; SIZE_MAX until the open heading's first byte */
    ed_markup_heading_t *headings; /* (cap_headings) */
    int n_headings, cap_headings;
    bool failed; /* an allocation failed */
} writer_t;

static bool is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static void writer_break(writer_t *w, int sep)
{
    if (sep > w->pending)
        w->pending = sep;
}

/* Appends bytes that are not whitespace (or any bytes when preformatted),
 * paying the owed separator first. */
static void writer_emit(writer_t *w, const char *s, size_t n)
{
    if (n == 0)
        return;
    if (w->buf.len > 0 && w->pending != SEP_NONE) {
        static const char *const SEPS[] = {"", " ", "\n", "\n\n"};
        ed_buf_puts(&w->buf, SEPS[w->pending]);
    }
    w->pending = SEP_NONE;
    if (w->heading_level && w->heading_start == SIZE_MAX)
        w->heading_start = w->buf.len;
    ed_buf_append(&w->buf, s, n);
}

/* Text: runs of whitespace become one owed space unless preformatted. */
static void writer_text(writer_t *w, const char *s, size_t n)
{
    if (w->preformatted) {
        writer_emit(w, s, n);
        return;
    }
    size_t i = 0;
    while (i < n) {
        if (is_space((unsigned char)s[i])) {
            writer_break(w, SEP_SPACE);
            i++;
            continue;
        }
        size_t j = i;
        while (j < n && !is_space((unsigned char)s[j]))
            j++;
        writer_emit(w, s + i, j - i);
        i = j;
    }
}

static void writer_codepoint(writer_t *w, uint32_t cp)
{
    char out[4];
    size_t n;
    if (cp == 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        cp = 0xfffd;
    if (cp < 0x80) {
        out[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        out[0] = (char)(0xc0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        out[0] = (char)(0xe0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        out[0] = (char)(0xf0 | (cp >> 18));
        out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[3] = (char)(0x80 | (cp & 0x3f));
        n = 4;
    }
    writer_text(w, out, n);
}

static void writer_heading_close(writer_t *w)
{
    if (!w->heading_level)
        return;
    if (w->heading_start != SIZE_MAX && w->buf.len > w->heading_start) {
        if (w->n_headings == w->cap_headings) {
            int cap = w->cap_headings ? 2 * w->cap_headings : 8;
            ed_markup_heading_t *grown = realloc(w->headings, (size_t)cap * sizeof *grown);
            if (!grown) {
                w->failed = true;
                w->heading_level = 0;
                return;
            }
            w->headings = grown;
            w->cap_headings = cap;
        }
        w->headings[w->n_headings++] = (ed_markup_heading_t){
            .offset = w->heading_start, .len = w->buf.len - w->heading_start, .level = w->heading_level};
    }
    w->heading_level = 0;
    writer_break(w, SEP_PARAGRAPH);
}

static void writer_heading_open(writer_t *w, int level)
{
    writer_heading_close(w);
    writer_break(w, SEP_PARAGRAPH);
    w->heading_level = level;
    w->heading_start = SIZE_MAX;
}

/* ------------------------------------------------------------ html ---- */

typedef struct {
    const char *name;
    uint32_t codepoint;
} entity_t;

static const entity_t ENTITIES[] = {
    {"amp", '&'},        {"lt", '<'},         {"gt", '>'},         {"quot", '"'},       {"apos", '\''},
    {"nbsp", ' '},       {"copy", 0xa9},      {"reg", 0xae},       {"trade", 0x2122},   {"hellip", 0x2026},
    {"mdash", 0x2014},   {"ndash", 0x2013},   {"lsquo", 0x2018},   {"rsquo", 0x2019},   {"ldquo", 0x201c},
    {"rdquo", 0x201d},   {"laquo", 0xab},     {"raquo", 0xbb},     {"euro", 0x20ac},    {"pound", 0xa3},
    {"yen", 0xa5},       {"cent", 0xa2},      {"deg", 0xb0},       {"times", 0xd7},     {"divide", 0xf7},
    {"middot", 0xb7},    {"bull", 0x2022},    {"sect", 0xa7},      {"para", 0xb6},      {"plusmn", 0xb1},
    {"micro", 0xb5},     {"frac12", 0xbd},    {"frac14", 0xbc},    {"frac34", 0xbe},    {"eacute", 0xe9},
    {"egrave", 0xe8},    {"ecirc", 0xea},     {"aacute", 0xe1},    {"agrave", 0xe0},    {"acirc", 0xe2},
    {"iacute", 0xed},    {"oacute", 0xf3},    {"uacute", 0xfa},    {"ntilde", 0xf1},    {"ccedil", 0xe7},
    {"auml", 0xe4},      {"ouml", 0xf6},      {"uuml", 0xfc},      {"Auml", 0xc4},      {"Ouml", 0xd6},
    {"Uuml", 0xdc},      {"szlig", 0xdf},     {"Eacute", 0xc9},    {"aring", 0xe5},     {"oslash", 0xf8},
    {"rarr", 0x2192},    {"larr", 0x2190},    {"hearts", 0x2665},  {"check", 0x2713},   {"zwj", 0x200d},
};

/* Decodes the entity at s[0] == '&' into the writer; returns bytes used,
 * or 0 when it is no entity (the '&' is then text). */
static size_t html_entity(writer_t *w, const char *s, size_t n)
{
    size_t i = 1;
    if (i < n && s[i] == '#') {
        i++;
        bool hex = i < n && (s[i] == 'x' || s[i] == 'X');
        i += hex;
        uint32_t cp = 0;
        size_t digits = 0;
        while (i < n && digits < 8 && (hex ? isxdigit((unsigned char)s[i]) : isdigit((unsigned char)s[i]))) {
            unsigned char c = (unsigned char)s[i];
            unsigned v = isdigit(c) ? (unsigned)(c - '0') : (unsigned)(tolower(c) - 'a' + 10);
            cp = cp * (hex ? 16 : 10) + v;
            i++, digits++;
        }
        if (digits == 0 || i >= n || s[i] != ';')
            return 0;
        writer_codepoint(w, cp);
        return i + 1;
    }
    size_t start = i;
    while (i < n && i - start < 10 && isalnum((unsigned char)s[i]))
        i++;
    if (i == start || i >= n || s[i] != ';')
        return 0;
    for (size_t k = 0; k < sizeof ENTITIES / sizeof ENTITIES[0]; k++)
        if (strlen(ENTITIES[k].name) == i - start && memcmp(ENTITIES[k].name, s + start, i - start) == 0) {
            writer_codepoint(w, ENTITIES[k].codepoint);
            return i + 1;
        }
    return 0;
}

static bool name_in(const char *name, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(name, *list) == 0)
            return true;
    return false;
}

/* Elements whose contents are never text. */
static const char *const HTML_DROPPED[] = {"script", "style", "head", "noscript", "template", "title", NULL};
/* Elements that stand as paragraphs. */
static const char *const HTML_BLOCKS[] = {
    "p",     "div",    "section", "article", "header",  "footer", "nav",        "aside",  "main",
    "ul",    "ol",     "dl",      "table",   "blockquote", "hr",  "figure",     "figcaption", "form",
    "address", "body", "html",    "details", "summary", "fieldset", "caption", "pre",    NULL};

/* Finds the case-insensitive `needle` in s[from, n); returns n when absent. */
static size_t find_ci(const char *s, size_t from, size_t n, const char *needle)
{
    size_t m = strlen(needle);
    for (size_t i = from; i + m <= n; i++)
        if (strncasecmp(s + i, needle, m) == 0)
            return i;
    return n;
}

/* The end (index after '>') of the tag opening at s[i] == '<'; quotes in
 * attributes may hold '>'. Returns n when the tag never closes. */
static size_t tag_end(const char *s, size_t i, size_t n)
{
    char quote = 0;
    for (i++; i < n; i++) {
        if (quote) {
            if (s[i] == quote)
                quote = 0;
        } else if (s[i] == '"' || s[i] == '\'') {
            quote = s[i];
        } else if (s[i] == '>') {
            return i + 1;
        }
    }
    return n;
}

/* Handles the tag at s[i] == '<'; returns the index after it, or i when
 * the '<' is text. */
static size_t html_tag(writer_t *w, const char *s, size_t i, size_t n)
{
    if (i + 4 <= n && memcmp(s + i, "<!--", 4) == 0) {
        size_t end = find_ci(s, i + 4, n, "-->");
        return end < n ? end + 3 : n;
    }
    size_t j = i + 1;
    if (j < n && (s[j] == '!' || s[j] == '?'))
        return tag_end(s, i, n);
    bool closing = j < n && s[j] == '/';
    j += closing;
    char name[16];
    size_t name_len = 0;
    while (j < n && isalnum((unsigned char)s[j])) {
        if (name_len + 1 < sizeof name)
            name[name_len++] = (char)tolower((unsigned char)s[j]);
        j++;
    }
    name[name_len] = '\0';
    if (name_len == 0 || !isalpha((unsigned char)name[0]))
        return i;
    size_t end = tag_end(s, i, n);
    bool self_closing = end >= 2 && end <= n && s[end - 1] == '>' && s[end - 2] == '/';
    if (!closing && !self_closing && name_in(name, HTML_DROPPED)) {
        char close[20];
        snprintf(close, sizeof close, "</%s", name);
        size_t stop = find_ci(s, end, n, close);
        if (strcmp(name, "head") == 0) /* browsers end the head at <body> too */
            stop = find_ci(s, end, stop, "<body");
        return stop < n && s[stop + 1] == '/' ? tag_end(s, stop, n) : stop;
    }
    if (name_len == 2 && name[0] == 'h' && name[1] >= '1' && name[1] <= '6') {
        if (closing)
            writer_heading_close(w);
        else
            writer_heading_open(w, name[1] - '0');
    } else if (strcmp(name, "br") == 0 || strcmp(name, "li") == 0 || strcmp(name, "tr") == 0 ||
               strcmp(name, "dt") == 0 || strcmp(name, "dd") == 0) {
        writer_break(w, SEP_LINE);
    } else if (strcmp(name, "td") == 0 || strcmp(name, "th") == 0) {
        writer_break(w, SEP_SPACE);
    } else if (name_in(name, HTML_BLOCKS)) {
        writer_break(w, SEP_PARAGRAPH);
        if (strcmp(name, "pre") == 0)
            w->preformatted = !closing;
    }
    return end;
}

static void strip_html(writer_t *w, const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        if (s[i] == '<') {
            size_t next = html_tag(w, s, i, n);
            if (next != i) {
                i = next;
                continue;
            }
        } else if (s[i] == '&') {
            size_t used = html_entity(w, s + i, n - i);
            if (used) {
                i += used;
                continue;
            }
        }
        size_t j = i + 1;
        while (j < n && s[j] != '<' && s[j] != '&')
            j++;
        writer_text(w, s + i, j - i);
        i = j;
    }
    writer_heading_close(w);
}

/* ---------------------------------------------------------- markdown ---- */

enum { MD_LINK_SCAN = 1024, MD_URL_SCAN = 2048 }; /* bytes searched for ']' and ')' */

/* The index of the bracket closing s[i] (open/close), within limit; or SIZE_MAX. */
static size_t md_match(const char *s, size_t i, size_t limit, char open, char close)
{
    int depth = 0;
    for (size_t k = i; k < limit; k++) {
        if (s[k] == '\\' && k + 1 < limit) {
            k++;
        } else if (s[k] == open) {
            depth++;
        } else if (s[k] == close && --depth == 0) {
            return k;
        }
    }
    return SIZE_MAX;
}

static bool md_special(char c)
{
    return c == '\\' || c == '`' || c == '[' || c == '!' || c == '*' || c == '_' || c == '~' || c == '<';
}

/* Inline markdown of s[a, b): links and images keep their text, code spans
 * their contents, emphasis markers go. Not recursive: a link inside a
 * link's text stays as written. */
static void md_inline(writer_t *w, const char *s, size_t a, size_t b)
{
    size_t link_close = SIZE_MAX, link_resume = 0; /* the open link's ']' and what follows its target */
    size_t i = a;
    while (i < b) {
        if (i == link_close) {
            i = link_resume;
            link_close = SIZE_MAX;
            continue;
        }
        size_t end = link_close != SIZE_MAX ? link_close : b;
        char c = s[i];
        if (c == '\\' && i + 1 < end && ispunct((unsigned char)s[i + 1])) {
            writer_text(w, s + i + 1, 1);
            i += 2;
            continue;
        }
        if (c == '`') {
            size_t k = i;
            while (k < end && s[k] == '`')
                k++;
            size_t ticks = k - i, close = k;
            while (close < end) {
                size_t run = close;
                while (run < end && s[run] == '`')
                    run++;
                if (run - close == ticks)
                    break;
                close = run > close ? run : close + 1;
            }
            if (close < end) {
                writer_text(w, s + k, close - k);
                i = close + ticks;
            } else {
                writer_text(w, s + i, ticks);
                i = k;
            }
            continue;
        }
        if ((c == '[' || (c == '!' && i + 1 < end && s[i + 1] == '[')) && link_close == SIZE_MAX) {
            size_t open = i + (c == '!');
            size_t limit = open + MD_LINK_SCAN < b ? open + MD_LINK_SCAN : b;
            size_t close = md_match(s, open, limit, '[', ']');
            if (close != SIZE_MAX && close + 1 < b && (s[close + 1] == '(' || s[close + 1] == '[')) {
                char target_open = s[close + 1], target_close = target_open == '(' ? ')' : ']';
                size_t url_limit = close + 1 + MD_URL_SCAN < b ? close + 1 + MD_URL_SCAN : b;
                size_t target = md_match(s, close + 1, url_limit, target_open, target_close);
                if (target != SIZE_MAX) {
                    link_close = close;
                    link_resume = target + 1;
                    i = open + 1;
                    continue;
                }
            }
        }
        if (c == '*' || c == '_' || c == '~') {
            size_t k = i;
            while (k < end && s[k] == c)
                k++;
            unsigned char prev = i > a ? (unsigned char)s[i - 1] : ' ';
            unsigned char next = k < b ? (unsigned char)s[k] : ' ';
            bool lone = is_space(prev) && is_space(next);
            bool drop = c == '*'   ? !lone
                        : c == '_' ? !lone && (!isalnum(prev) || !isalnum(next))
                                   : k - i >= 2;
            if (!drop)
                writer_text(w, s + i, k - i);
            i = k;
            continue;
        }
        if (c == '<') {
            size_t k = i + 1;
            while (k < end && s[k] != '>' && s[k] != '<' && !is_space((unsigned char)s[k]))
                k++;
            if (k < end && s[k] == '>' && k > i + 1) {
                if (memchr(s + i + 1, ':', k - i - 1) || memchr(s + i + 1, '@', k - i - 1))
                    writer_text(w, s + i + 1, k - i - 1); /* an autolink */
                else if (isalpha((unsigned char)s[i + 1]) || s[i + 1] == '/')
                    writer_break(w, strncasecmp(s + i + 1, "br", 2) == 0 ? SEP_LINE : SEP_NONE);
                else
                    writer_text(w, s + i, k + 1 - i);
                i = k + 1;
                continue;
            }
        }
        size_t j = i + 1;
        while (j < end && !md_special(s[j]))
            j++;
        writer_text(w, s + i, j - i);
        i = j;
    }
}

/* Whether s[a, b) is nothing but `c` (at least `min` of them) and spaces. */
static bool md_line_of(const char *s, size_t a, size_t b, char c, int min)
{
    int count = 0;
    for (size_t i = a; i < b; i++) {
        if (s[i] == c)
            count++;
        else if (s[i] != ' ' && s[i] != '\t')
            return false;
    }
    return count >= min;
}

/* The end of the line starting at a (index of '\n' or n), and the start of the next. */
static size_t md_line_end(const char *s, size_t a, size_t n, size_t *next)
{
    const char *nl = memchr(s + a, '\n', n - a);
    size_t e = nl ? (size_t)(nl - s) : n;
    *next = nl ? e + 1 : n;
    while (e > a && s[e - 1] == '\r')
        e--;
    return e;
}

/* The fence (``` or ~~~, three or more) opening s[p, e), or 0. */
static size_t md_fence(const char *s, size_t p, size_t e, char *fence_char)
{
    if (p >= e || (s[p] != '`' && s[p] != '~'))
        return 0;
    size_t k = p;
    while (k < e && s[k] == s[p])
        k++;
    if (k - p < 3)
        return 0;
    *fence_char = s[p];
    return k - p;
}

static void strip_markdown(writer_t *w, const char *s, size_t n)
{
    bool in_fence = false, fence_first = false;
    char fence_char = 0;
    size_t fence_len = 0;
    size_t line = 0;
    while (line < n) {
        size_t next;
        size_t e = md_line_end(s, line, n, &next);
        size_t p = line;
        int indent = 0;
        while (p < e && (s[p] == ' ' || s[p] == '\t'))
            indent += s[p++] == '\t' ? 4 : 1;
        if (in_fence) {
            char c = 0;
            size_t len = indent <= 3 ? md_fence(s, p, e, &c) : 0;
            if (len >= fence_len && c == fence_char && md_line_of(s, p + len, e, ' ', 0)) {
                in_fence = false;
                w->preformatted = false;
                writer_break(w, SEP_PARAGRAPH);
            } else {
                if (!fence_first)
                    writer_break(w, SEP_LINE);
                fence_first = false;
                writer_text(w, s + line, e - line);
            }
            line = next;
            continue;
        }
        if (p == e) {
            writer_break(w, SEP_PARAGRAPH);
            line = next;
            continue;
        }
        if (indent <= 3 && (fence_len = md_fence(s, p, e, &fence_char)) > 0 &&
            !(fence_char == '`' && memchr(s + p + fence_len, '`', e - p - fence_len))) {
            in_fence = fence_first = true;
            writer_break(w, SEP_PARAGRAPH);
            w->preformatted = true;
            line = next;
            continue;
        }
        if (indent <= 3 && s[p] == '#') {
            size_t k = p;
            while (k < e && s[k] == '#')
                k++;
            int level = (int)(k - p);
            if (level <= 6 && (k == e || s[k] == ' ' || s[k] == '\t')) {
                size_t text_end = e;
                while (text_end > k && (s[text_end - 1] == ' ' || s[text_end - 1] == '\t'))
                    text_end--;
                size_t hashes = text_end;
                while (hashes > k && s[hashes - 1] == '#')
                    hashes--;
                if (hashes == k || s[hashes - 1] == ' ' || s[hashes - 1] == '\t')
                    text_end = hashes;
                writer_heading_open(w, level);
                md_inline(w, s, k, text_end);
                writer_heading_close(w);
                line = next;
                continue;
            }
        }
        if (indent <= 3 && (md_line_of(s, p, e, '-', 3) || md_line_of(s, p, e, '*', 3) ||
                            md_line_of(s, p, e, '_', 3))) {
            writer_break(w, SEP_PARAGRAPH);
            line = next;
            continue;
        }
        if (indent <= 3 && s[p] == '[') {
            size_t close = md_match(s, p, e, '[', ']');
            if (close != SIZE_MAX && close + 1 < e && s[close + 1] == ':') { /* a link definition */
                line = next;
                continue;
            }
        }
        bool block_marker = false;
        while (p < e && s[p] == '>') { /* block quotes */
            p++;
            if (p < e && s[p] == ' ')
                p++;
            block_marker = true;
        }
        size_t k = p;
        while (k < e && k - p < 9 && isdigit((unsigned char)s[k]))
            k++;
        if (k < e && ((k == p && (s[k] == '-' || s[k] == '*' || s[k] == '+')) ||
                      (k > p && (s[k] == '.' || s[k] == ')'))) &&
            (k + 1 == e || s[k + 1] == ' ' || s[k + 1] == '\t')) {
            writer_break(w, SEP_LINE);
            p = k + 1;
            while (p < e && (s[p] == ' ' || s[p] == '\t'))
                p++;
            if (e - p >= 3 && s[p] == '[' && s[p + 2] == ']' && (s[p + 1] == ' ' || s[p + 1] == 'x'))
                p += 3; /* a task box */
            block_marker = true;
        }
        if (!block_marker && next < n) { /* a setext heading: text over === or --- */
            size_t after;
            size_t ue = md_line_end(s, next, n, &after);
            size_t up = next;
            while (up < ue && up - next < 4 && s[up] == ' ')
                up++;
            int level = md_line_of(s, up, ue, '=', 1) ? 1 : md_line_of(s, up, ue, '-', 1) ? 2 : 0;
            if (level && up - next <= 3) {
                writer_heading_open(w, level);
                md_inline(w, s, p, e);
                writer_heading_close(w);
                line = after;
                continue;
            }
        }
        writer_break(w, SEP_SPACE);
        md_inline(w, s, p, e);
        line = next;
    }
    writer_heading_close(w);
}

/* ------------------------------------------------------------- entry ---- */

int ed_markup_strip(ed_markup_t *out, ed_markup_kind_t kind, const char *body, size_t len, char err[ED_ERR_LEN])
{
    memset(out, 0, sizeof *out);
    int rc = ed_markup_check_utf8(body, len, err);
    if (rc != 0)
        return rc;
    writer_t w = {.heading_start = SIZE_MAX};
    ed_buf_init(&w.buf);
    switch (kind) {
    case ED_MARKUP_PLAIN:
        ed_buf_append(&w.buf, body, len);
        break;
    case ED_MARKUP_MARKDOWN:
        strip_markdown(&w, body, len);
        break;
    case ED_MARKUP_HTML:
        strip_html(&w, body, len);
        break;
    }
    ed_buf_append(&w.buf, "", 0);
    if (w.failed || ed_buf_failed(&w.buf)) {
        ed_buf_free(&w.buf);
        free(w.headings);
        snprintf(err, ED_ERR_LEN, "out of memory stripping %zu bytes of markup", len);
        return ED_ENOMEM;
    }
    out->text = ed_buf_steal(&w.buf, &out->len);
    out->headings = w.headings;
    out->n_headings = w.n_headings;
    return 0;
}

void ed_markup_free(ed_markup_t *markup)
{
    free(markup->text);
    free(markup->headings);
    memset(markup, 0, sizeof *markup);
}
