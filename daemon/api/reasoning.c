/* reasoning.c - see reasoning.h: a byte-at-a-time splitter of the think
 * block, holding back only what may still turn out to be a marker. */
#include "api/reasoning.h"
#include "core/error.h"

#include <string.h>

static const char OPEN[] = "<think>", CLOSE[] = "</think>";

int ed_reasoning_format_from_name(const char *name, size_t len, ed_reasoning_format_t *out)
{
    if (len == 4 && memcmp(name, "none", 4) == 0)
        *out = ED_REASONING_NONE;
    else if (len == 8 && memcmp(name, "deepseek", 8) == 0)
        *out = ED_REASONING_DEEPSEEK;
    else
        return ED_EINVAL;
    return 0;
}

void ed_reasoning_init(ed_reasoning_t *r) { memset(r, 0, sizeof *r); }

static bool is_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

/* held[from, n_held) without its leading whitespace, or NULL when all is space. */
static const char *after_space(const ed_reasoning_t *r, size_t from, size_t *len)
{
    size_t i = from;
    while (i < r->n_held && is_space(r->held[i]))
        i++;
    *len = r->n_held - i;
    return i < r->n_held ? r->held + i : NULL;
}

/* Reasoning text out, its leading whitespace dropped until something else came. */
static void put_reasoning(ed_reasoning_t *r, ed_buf_t *reasoning, const char *text, size_t len)
{
    while (!r->reasoned && len > 0 && is_space(*text))
        text++, len--;
    if (len == 0)
        return;
    r->reasoned = true;
    ed_buf_append(reasoning, text, len);
}

static void feed_start(ed_reasoning_t *r, char c, ed_buf_t *content)
{
    r->held[r->n_held++] = c;
    size_t len;
    const char *s = after_space(r, 0, &len);
    if (!s && r->n_held < ED_REASONING_HOLD)
        return; /* only whitespace so far */
    if (s && len < sizeof OPEN - 1 && memcmp(s, OPEN, len) == 0 && r->n_held < ED_REASONING_HOLD)
        return; /* a prefix of <think> */
    if (s && len == sizeof OPEN - 1 && memcmp(s, OPEN, len) == 0) {
        r->state = ED__REASONING_THINK;
        r->n_held = 0;
        return;
    }
    ed_buf_append(content, r->held, r->n_held);
    r->n_held = 0;
    r->state = ED__REASONING_CONTENT;
}

/* In the block: held is a run of whitespace, then a prefix of </think>. */
static void feed_think(ed_reasoning_t *r, char c, ed_buf_t *reasoning)
{
    size_t len;
    const char *marker = after_space(r, 0, &len);
    if (!marker && is_space(c)) {
        if (r->n_held == ED_REASONING_HOLD) { /* a long run: it cannot all be trailing */
            put_reasoning(r, reasoning, r->held, r->n_held);
            r->n_held = 0;
        }
        r->held[r->n_held++] = c;
        return;
    }
    if (!marker)
        len = 0;
    if (len + 1 < sizeof CLOSE && CLOSE[len] == c) {
        r->held[r->n_held++] = c;
        if (len + 1 == sizeof CLOSE - 1) { /* </think>: the whitespace before it goes too */
            r->state = ED__REASONING_AFTER;
            r->n_held = 0;
        }
        return;
    }
    /* not the marker: what was held is reasoning, and c starts afresh */
    put_reasoning(r, reasoning, r->held, r->n_held);
    r->n_held = 0;
    if (c == '<' || is_space(c))
        r->held[r->n_held++] = c;
    else
        put_reasoning(r, reasoning, &c, 1);
}

void ed_reasoning_feed(ed_reasoning_t *r, const char *text, size_t len, ed_buf_t *content, ed_buf_t *reasoning)
{
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        switch (r->state) {
        case ED__REASONING_START: feed_start(r, c, content); break;
        case ED__REASONING_THINK: feed_think(r, c, reasoning); break;
        case ED__REASONING_AFTER:
            if (is_space(c))
                break;
            r->state = ED__REASONING_CONTENT;
            ed_buf_append(content, text + i, len - i);
            return;
        case ED__REASONING_CONTENT:
            ed_buf_append(content, text + i, len - i);
            return;
        }
    }
}

void ed_reasoning_finish(ed_reasoning_t *r, ed_buf_t *content, ed_buf_t *reasoning)
{
    size_t len;
    const char *rest = after_space(r, 0, &len);
    if (r->state == ED__REASONING_START)
        ed_buf_append(content, r->held, r->n_held);
    else if (r->state == ED__REASONING_THINK && rest)
        put_reasoning(r, reasoning, r->held, r->n_held); /* a cut-off "</thi" is the thought's */
    r->n_held = 0;
}
