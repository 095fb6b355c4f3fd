/* pretok.c - the BPE pre-tokenizer regexes (the lists llama.cpp uses for each
 * `tokenizer.ggml.pre` name; Llama 3 and Qwen2 with their case-insensitive
 * contractions spelt out as llama.cpp does, so that only ASCII letters fold)
 * compiled once with PCRE2 and applied in turn. Compiled patterns are shared;
 * match data is made per call, so splitting is thread-safe. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "model/pretok.h"

#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_REGEX 4

/* The GPT-2 expression; several pre-tokenizers reuse it. */
#define GPT2_RE "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"
#define CONTRACTIONS_RE "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"

static const struct {
    ed_pretok_kind_t kind;
    const char *names[4]; /* the tokenizer.ggml.pre values that select it */
    const char *regex[MAX_REGEX];
} KINDS[] = {
    {ED_PRETOK_DEFAULT, {"default"},
     {"[\\p{P}\\$\\+<=>\\^~\\|]+", GPT2_RE, "\\p{N}+", "[0-9][0-9][0-9]"}},
    {ED_PRETOK_GPT2, {"gpt-2", "gpt2"}, {GPT2_RE}},
    {ED_PRETOK_LLAMA3, {"llama-bpe", "llama3", "llama-v3"},
     {CONTRACTIONS_RE "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*"
                      "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}},
    {ED_PRETOK_QWEN2, {"qwen2"},
     {CONTRACTIONS_RE "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*"
                      "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}},
    {ED_PRETOK_SMOLLM, {"smollm"}, {"\\p{N}", GPT2_RE}},
};
#define N_KINDS (sizeof KINDS / sizeof KINDS[0])

struct ed_pretok {
    ed_pretok_kind_t kind;
    size_t n_regex;
    pcre2_code *regex[MAX_REGEX];
};

int ed_pretok_kind_from_name(const char *name, size_t len, ed_pretok_kind_t *out)
{
    for (size_t k = 0; k < N_KINDS; k++)
        for (size_t i = 0; i < 4 && KINDS[k].names[i]; i++)
            if (strlen(KINDS[k].names[i]) == len && memcmp(KINDS[k].names[i], name, len) == 0) {
                *out = KINDS[k].kind;
                return 0;
            }
    return ED_EUNSUPPORTED;
}

void ed_pretok_free(ed_pretok_t *pretok)
{
    if (!pretok)
        return;
    for (size_t i = 0; i < pretok->n_regex; i++)
        pcre2_code_free(pretok->regex[i]);
    free(pretok);
}

int ed_pretok_init(ed_pretok_t **out, ed_pretok_kind_t kind, char err[ED_ERR_LEN])
{
    *out = NULL;
    size_t k = 0;
    while (k < N_KINDS && KINDS[k].kind != kind)
        k++;
    if (k == N_KINDS) {
        snprintf(err, ED_ERR_LEN, "pre-tokenizer %d: not known", (int)kind);
        return ED_EUNSUPPORTED;
    }
    ed_pretok_t *pretok = calloc(1, sizeof *pretok);
    if (!pretok) {
        snprintf(err, ED_ERR_LEN, "pre-tokenizer: out of memory");
        return ED_ENOMEM;
    }
    pretok->kind = kind;
    for (size_t i = 0; i < MAX_REGEX && KINDS[k].regex[i]; i++) {
        int code = 0;
        PCRE2_SIZE at = 0;
        pretok->regex[i] = pcre2_compile((PCRE2_SPTR)KINDS[k].regex[i], PCRE2_ZERO_TERMINATED,
                                         PCRE2_UTF | PCRE2_UCP, &code, &at, NULL);
        if (!pretok->regex[i]) {
            PCRE2_UCHAR message[128];
            pcre2_get_error_message(code, message, sizeof message);
            snprintf(err, ED_ERR_LEN, "pre-tokenizer %s: regex %zu at %zu: %s",
                     KINDS[k].names[0], i, (size_t)at, (const char *)message);
            ed_pretok_free(pretok);
            return ED_EFORMAT;
        }
        pretok->n_regex = i + 1;
    }
    *out = pretok;
    return 0;
}

static int spans_push(ed_spans_t *list, uint32_t offset, uint32_t len)
{
    if (list->n == list->cap) {
        size_t cap = list->cap ? list->cap * 2 : 64;
        ed_span_t *grown = realloc(list->spans, cap * sizeof *grown);
        if (!grown)
            return ED_ENOMEM;
        list->spans = grown;
        list->cap = cap;
    }
    list->spans[list->n++] = (ed_span_t){offset, len};
    return 0;
}

/* Cuts one piece with one regex: matches and the gaps between them. */
static int split_piece(const pcre2_code *regex, pcre2_match_data *match, const char *text,
                       ed_span_t piece, ed_spans_t *out)
{
    PCRE2_SPTR subject = (PCRE2_SPTR)(text + piece.offset);
    PCRE2_SIZE pos = 0, gap = 0;
    int rc = 0;
    while (pos < piece.len) {
        int found = pcre2_match(regex, subject, piece.len, pos, PCRE2_NO_UTF_CHECK, match, NULL);
        if (found == PCRE2_ERROR_NOMATCH)
            break;
        if (found < 0)
            return ED_EFORMAT;
        const PCRE2_SIZE *ovector = pcre2_get_ovector_pointer(match);
        if (ovector[1] == ovector[0]) {
            /* An empty match cuts nothing: step over one character. */
            pos = ovector[0] + 1;
            while (pos < piece.len && (subject[pos] & 0xC0) == 0x80)
                pos++;
            continue;
        }
        if (ovector[0] > gap && (rc = spans_push(out, piece.offset + (uint32_t)gap,
                                                 (uint32_t)(ovector[0] - gap))) < 0)
            return rc;
        if ((rc = spans_push(out, piece.offset + (uint32_t)ovector[0],
                             (uint32_t)(ovector[1] - ovector[0]))) < 0)
            return rc;
        gap = pos = ovector[1];
    }
    if (gap < piece.len)
        return spans_push(out, piece.offset + (uint32_t)gap, (uint32_t)(piece.len - gap));
    return 0;
}

int ed_pretok_split(const ed_pretok_t *pretok, const char *text, size_t len, ed_spans_t *out)
{
    out->n = 0;
    if (len == 0)
        return 0;
    if (len > INT32_MAX)
        return ED_ETOOBIG;
    int rc = spans_push(out, 0, (uint32_t)len);
    if (rc < 0)
        return rc;
    pcre2_match_data *match = pcre2_match_data_create(1, NULL);
    if (!match)
        return ED_ENOMEM;
    ed_spans_t next = {0};
    for (size_t r = 0; r < pretok->n_regex && rc == 0; r++) {
        next.n = 0;
        for (size_t i = 0; i < out->n && rc == 0; i++)
            rc = split_piece(pretok->regex[r], match, text, out->spans[i], &next);
        ed_spans_t swap = *out;
        *out = next;
        next = swap;
    }
    free(next.spans);
    pcre2_match_data_free(match);
    return rc;
}
