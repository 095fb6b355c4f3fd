/* chunker.c - structure-aware chunking. The text is cut into sections at
 * headings; each section into atoms (words, or pieces of an over-long word)
 * that remember how strong the boundary before them is (word, sentence or
 * line, paragraph). Chunks are packed greedily from atoms, end at the
 * strongest boundary in their second half, and the next one starts
 * `chunk_overlap` tokens back. Token counts come from the caller's counter. */
#include "rag/chunker.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ed_chunker_estimate_tokens(const char *text, size_t len, void *arg)
{
    (void)arg;
    const unsigned char *s = (const unsigned char *)text;
    int tokens = 0;
    size_t i = 0;
    while (i < len) {
        if (isalnum(s[i]) || s[i] >= 0x80) {
            size_t start = i;
            while (i < len && (isalnum(s[i]) || s[i] >= 0x80))
                i++;
            tokens += 1 + (int)((i - start - 1) / 8);
        } else {
            tokens += !isspace(s[i]);
            i++;
        }
    }
    return tokens;
}

/* Boundary strength before an atom. */
enum { BREAK_NONE, BREAK_WORD, BREAK_SENTENCE, BREAK_PARAGRAPH };

typedef struct {
    size_t start, end; /* bytes of the text */
    int tokens;
    int brk; /* BREAK_*: the boundary before this atom */
} atom_t;

typedef struct {
    const ed_chunker_config_t *config;
    const char *text;
    atom_t *atoms; /* (cap_atoms) of the current section */
    int n_atoms, cap_atoms;
    int64_t *prefix; /* (n_atoms + 1): tokens of atoms [0, k) */
    ed_chunk_span_t *chunks; /* (cap_chunks) */
    int n_chunks, cap_chunks;
} chunker_t;

static int count(const chunker_t *c, size_t start, size_t end)
{
    int n = c->config->count(c->text + start, end - start, c->config->count_arg);
    return n < 0 ? 0 : n;
}

static bool is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static int push_atom(chunker_t *c, atom_t atom)
{
    if (c->n_atoms == c->cap_atoms) {
        int cap = c->cap_atoms ? 2 * c->cap_atoms : 256;
        atom_t *grown = realloc(c->atoms, (size_t)cap * sizeof *grown);
        if (!grown)
            return ED_ENOMEM;
        c->atoms = grown;
        c->cap_atoms = cap;
    }
    c->atoms[c->n_atoms++] = atom;
    return 0;
}

static bool ends_sentence(const char *s, size_t start, size_t end)
{
    while (end > start && strchr("\"')]*_", s[end - 1]))
        end--;
    return end > start && strchr(".!?", s[end - 1]);
}

/* Cuts a word longer than `limit` tokens into pieces of at most `limit`
 * (at least one UTF-8 character each), found by bisection over the
 * character boundaries. */
static int push_long_word(chunker_t *c, size_t start, size_t end, int brk, int limit)
{
    size_t *cuts = malloc((end - start) * sizeof *cuts); /* (n_cuts): the end of each character */
    if (!cuts)
        return ED_ENOMEM;
    size_t n_cuts = 0;
    for (size_t i = start + 1; i <= end; i++)
        if (i == end || ((unsigned char)c->text[i] & 0xc0) != 0x80)
            cuts[n_cuts++] = i;
    int rc = 0;
    size_t piece = start, first = 0;
    while (rc == 0 && first < n_cuts) {
        size_t lo = first, hi = n_cuts - 1, best = first;
        while (lo <= hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (count(c, piece, cuts[mid]) <= limit) {
                best = mid;
                lo = mid + 1;
            } else if (mid == first) {
                break;
            } else {
                hi = mid - 1;
            }
        }
        rc = push_atom(c, (atom_t){.start = piece, .end = cuts[best], .tokens = count(c, piece, cuts[best]), .brk = brk});
        brk = BREAK_NONE;
        piece = cuts[best];
        first = best + 1;
    }
    free(cuts);
    return rc;
}

/* Fills c->atoms with the words of text[a, b). */
static int section_atoms(chunker_t *c, size_t a, size_t b, int limit)
{
    c->n_atoms = 0;
    size_t i = a;
    int brk = BREAK_PARAGRAPH;
    while (i < b) {
        int newlines = 0;
        while (i < b && is_space((unsigned char)c->text[i]))
            newlines += c->text[i++] == '\n';
        if (i >= b)
            break;
        if (c->n_atoms > 0) {
            const atom_t *prev = &c->atoms[c->n_atoms - 1];
            brk = newlines >= 2                                    ? BREAK_PARAGRAPH
                  : newlines == 1 || ends_sentence(c->text, prev->start, prev->end) ? BREAK_SENTENCE
                                                                   : BREAK_WORD;
        }
        size_t start = i;
        while (i < b && !is_space((unsigned char)c->text[i]))
            i++;
        int tokens = count(c, start, i);
        int rc = tokens > limit ? push_long_word(c, start, i, brk, limit)
                                : push_atom(c, (atom_t){.start = start, .end = i, .tokens = tokens, .brk = brk});
        if (rc != 0)
            return rc;
    }
    int64_t *prefix = realloc(c->prefix, ((size_t)c->n_atoms + 1) * sizeof *prefix);
    if (!prefix)
        return ED_ENOMEM;
    c->prefix = prefix;
    prefix[0] = 0;
    for (int k = 0; k < c->n_atoms; k++)
        prefix[k + 1] = prefix[k] + c->atoms[k].tokens;
    return 0;
}

static int push_chunk(chunker_t *c, ed_chunk_span_t chunk)
{
    if (c->n_chunks == c->cap_chunks) {
        int cap = c->cap_chunks ? 2 * c->cap_chunks : 16;
        ed_chunk_span_t *grown = realloc(c->chunks, (size_t)cap * sizeof *grown);
        if (!grown)
            return ED_ENOMEM;
        c->chunks = grown;
        c->cap_chunks = cap;
    }
    c->chunks[c->n_chunks++] = chunk;
    return 0;
}

/* Packs the section's atoms into chunks. `heading` is the section's
 * heading or NULL; its text is the context of chunks that start after it. */
static int section_chunks(chunker_t *c, const ed_markup_heading_t *heading, int heading_tokens)
{
    const int budget_full = c->config->chunk_tokens, overlap = c->config->chunk_overlap;
    const atom_t *atoms = c->atoms;
    const int64_t *prefix = c->prefix;
    int m = c->n_atoms, i = 0;
    while (i < m) {
        bool with_context = heading && atoms[i].start >= heading->offset + heading->len;
        int budget = with_context ? budget_full - heading_tokens : budget_full;
        int j = i;
        while (j < m && prefix[j + 1] - prefix[i] <= budget)
            j++;
        if (j == i)
            j = i + 1; /* atoms fit the smaller budget by construction; a counter that disagrees gets its way */
        if (j < m) { /* full: end at the strongest boundary in the second half */
            int best = j;
            for (int k = j - 1; k > i; k--)
                if (2 * (prefix[k] - prefix[i]) >= budget && atoms[k].brk > atoms[best].brk)
                    best = k;
            j = best;
        }
        int tokens = count(c, atoms[i].start, atoms[j - 1].end);
        while (tokens > budget && j > i + 1) { /* a counter that is not additive */
            j--;
            tokens = count(c, atoms[i].start, atoms[j - 1].end);
        }
        ed_chunk_span_t chunk = {.offset = atoms[i].start, .len = atoms[j - 1].end - atoms[i].start, .n_tokens = tokens};
        if (with_context) {
            chunk.context_offset = heading->offset;
            chunk.context_len = heading->len;
            chunk.context_tokens = heading_tokens;
        }
        int rc = push_chunk(c, chunk);
        if (rc != 0)
            return rc;
        if (j >= m)
            break;
        /* The next chunk repeats up to `overlap` tokens, from a sentence
         * start when one gives at least half of it. */
        int widest = j, sentence = j;
        for (int s = j - 1; s > i && prefix[j] - prefix[s] <= overlap; s--) {
            widest = s;
            if (atoms[s].brk >= BREAK_SENTENCE && 2 * (prefix[j] - prefix[s]) >= overlap)
                sentence = s;
        }
        i = sentence != j ? sentence : widest;
    }
    return 0;
}

int ed_chunker_split(const ed_chunker_config_t *config, const char *text, size_t len,
                     const ed_markup_heading_t *headings, int n_headings, ed_chunk_span_t **chunks_out,
                     int *n_chunks_out, char err[ED_ERR_LEN])
{
    *chunks_out = NULL;
    *n_chunks_out = 0;
    if (config->chunk_tokens < 1 || config->chunk_overlap < 0 || config->chunk_overlap >= config->chunk_tokens) {
        snprintf(err, ED_ERR_LEN, "chunk sizes: chunk_tokens %d must be >= 1 and chunk_overlap %d below it",
                 config->chunk_tokens, config->chunk_overlap);
        return ED_EINVAL;
    }
    ed_chunker_config_t resolved = *config;
    if (!resolved.count)
        resolved.count = ed_chunker_estimate_tokens;
    chunker_t c = {.config = &resolved, .text = text};
    int rc = 0;
    size_t section_start = 0;
    const ed_markup_heading_t *heading = NULL;
    for (int h = 0; h <= n_headings; h++) {
        const ed_markup_heading_t *next = NULL;
        if (h < n_headings) {
            next = &headings[h];
            if (next->offset < section_start || next->offset > len || next->len > len - next->offset)
                continue; /* out of order or outside the text: not a section boundary */
        }
        size_t section_end = next ? next->offset : len;
        int heading_tokens = heading ? count(&c, heading->offset, heading->offset + heading->len) : 0;
        const ed_markup_heading_t *context = heading && 2 * heading_tokens <= config->chunk_tokens ? heading : NULL;
        int limit = context ? config->chunk_tokens - heading_tokens : config->chunk_tokens;
        if ((rc = section_atoms(&c, section_start, section_end, limit)) != 0 ||
            (rc = section_chunks(&c, context, context ? heading_tokens : 0)) != 0)
            goto fail;
        section_start = section_end;
        heading = next;
    }
    free(c.atoms);
    free(c.prefix);
    *chunks_out = c.chunks;
    *n_chunks_out = c.n_chunks;
    return 0;
fail:
    free(c.atoms);
    free(c.prefix);
    free(c.chunks);
    snprintf(err, ED_ERR_LEN, "out of memory chunking %zu bytes", len);
    return rc;
}
