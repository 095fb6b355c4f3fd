/* dataset.c - see dataset.h: documents cut into pieces (their chunks, or
 * paragraphs), each piece rendered as ingest embeds it ("TITLE\nCONTEXT\n"
 * then the text) and by the augmentations, tokenized and cut into windows;
 * chat examples rendered by model/prompt with a loss mask over the assistant
 * turns; the seeded split by document (or by piece), the seeded order and
 * the packing of short windows into one as segments.
 * Every buffer here that holds personal text or its tokens is wiped before
 * it is freed (model/prompt's renderer grows its own buffer with realloc,
 * which may leave a copy of a chat's text unwiped). Training itself is
 * trainer.h's. */
#include "adapt/dataset.h"
#include "model/tokenizer.h"
#include "model/vocab.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEQ_LEN_MAX 65536            /* tokens a window may hold, at most */
#define TEXT_MAX ((size_t)64 << 20)  /* bytes of one rendered piece or example, at most */
#define QA_QUESTION "What do my notes say about %.*s?"

void ed_dataset_config_default(ed_dataset_config_t *c)
{
    *c = (ed_dataset_config_t){.seq_len = 256, .heldout_fraction = 0.1, .seed = 1, .augment = ED_AUG_PLAIN,
                                 .pack = true};
}

/* ------------------------------------------------------------- helpers ---- */

static void wipe_free(void *p, size_t bytes)
{
    if (p) {
        explicit_bzero(p, bytes);
        free(p);
    }
}

static uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* A key that orders things by (seed, what, index): the split and shuffles
 * depend on ids and the seed only, never on the order of the input. */
static uint64_t key3(uint64_t seed, uint64_t what, uint64_t index)
{
    return mix64(mix64(mix64(seed) ^ what) ^ index);
}

/* splitmix64 as a stream. */
static uint64_t rng_next(uint64_t *state)
{
    *state += 0x9e3779b97f4a7c15ull;
    return mix64(*state - 0x9e3779b97f4a7c15ull);
}

static size_t rng_below(uint64_t *state, size_t n)
{
    return (size_t)(rng_next(state) % n);
}

static bool is_space(char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

/* text[*off, *off + *len) without the whitespace at both ends. */
static void trim(const char *text, size_t *off, size_t *len)
{
    while (*len > 0 && is_space(text[*off]))
        (*off)++, (*len)--;
    while (*len > 0 && is_space(text[*off + *len - 1]))
        (*len)--;
}

/* How many of n to hold out: the fraction, rounded, at least 1 and at most n - 1. */
static int heldout_count(double fraction, int n)
{
    long k = (long)(fraction * n + 0.5);
    if (k < 1)
        k = 1;
    if (k > n - 1)
        k = n - 1;
    return (int)k;
}

typedef struct {
    uint64_t key;
    int index;
} keyed_t;

static int cmp_keyed(const void *a, const void *b)
{
    const keyed_t *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return (x->index > y->index) - (x->index < y->index);
}

/* held[i] = true for the k of n items whose keys (seed, what, ids[i]) come
 * first. */
static int pick_heldout(uint64_t seed, uint64_t what, const int64_t *ids, int n, int k, bool *held)
{
    keyed_t *order = malloc((size_t)n * sizeof *order);
    if (!order)
        return ED_ENOMEM;
    for (int i = 0; i < n; i++)
        order[i] = (keyed_t){key3(seed, what, (uint64_t)ids[i]), i};
    qsort(order, (size_t)n, sizeof *order, cmp_keyed);
    for (int i = 0; i < n; i++)
        held[order[i].index] = i < k;
    free(order);
    return 0;
}

/* ------------------------------------------------------------- windows ---- */

typedef struct {
    ed_window_t *v;
    int n, cap;
} windows_t;

static void windows_wipe(ed_window_t *v, int n)
{
    for (int i = 0; v && i < n; i++) {
        wipe_free(v[i].tokens, 2 * (size_t)v[i].n * sizeof *v[i].tokens); /* targets share the block */
        free(v[i].segment_len);
    }
    free(v);
}

/* Packs w's windows in their order into windows of at most seq_len tokens,
 * greedily: a window takes the next ones while they fit (a window alone is
 * kept as it is). Each becomes a segment; the old blocks are wiped. */
static int windows_pack(windows_t *w, int seq_len)
{
    windows_t out = {0};
    int rc = 0;
    for (int i = 0; rc == 0 && i < w->n;) {
        int j = i + 1, n = w->v[i].n;
        while (j < w->n && n + w->v[j].n <= seq_len)
            n += w->v[j++].n;
        if (out.n == out.cap) {
            int cap = out.cap ? 2 * out.cap : 64;
            ed_window_t *grown = realloc(out.v, (size_t)cap * sizeof *grown);
            if (!grown) {
                rc = ED_ENOMEM;
                break;
            }
            out.v = grown;
            out.cap = cap;
        }
        if (j == i + 1) {
            out.v[out.n++] = w->v[i];
            w->v[i] = (ed_window_t){0};
            i = j;
            continue;
        }
        int32_t *block = malloc(2 * (size_t)n * sizeof *block);
        int *seg = malloc((size_t)(j - i) * sizeof *seg);
        if (!block || !seg) {
            free(block);
            free(seg);
            rc = ED_ENOMEM;
            break;
        }
        ed_window_t *p = &out.v[out.n++];
        *p = (ed_window_t){.tokens = block, .targets = block + n, .n = n, .doc_id = w->v[i].doc_id,
                           .n_segments = j - i, .segment_len = seg};
        for (int k = i, at = 0; k < j; k++) {
            ed_window_t *v = &w->v[k];
            memcpy(p->tokens + at, v->tokens, (size_t)v->n * sizeof *block);
            memcpy(p->targets + at, v->targets, (size_t)v->n * sizeof *block);
            p->n_targets += v->n_targets;
            seg[k - i] = v->n;
            at += v->n;
            wipe_free(v->tokens, 2 * (size_t)v->n * sizeof *v->tokens);
            free(v->segment_len);
            *v = (ed_window_t){0};
        }
        i = j;
    }
    windows_wipe(w->v, w->n); /* what was not moved: everything on error */
    if (rc != 0) {
        windows_wipe(out.v, out.n);
        *w = (windows_t){0};
        return rc;
    }
    *w = out;
    return 0;
}

/* Appends the window ids[0, n) with targets from ids and the mask: target j
 * is ids[j + 1] where loss (NULL: everywhere) says so, -1 on the last
 * position. A window without a target is dropped. */
static int window_push(windows_t *w, const int32_t *ids, const uint8_t *loss, int n, int64_t doc_id)
{
    int n_targets = 0;
    for (int j = 0; j + 1 < n; j++)
        n_targets += !loss || loss[j + 1];
    if (n_targets == 0)
        return 0;
    if (w->n == w->cap) {
        if (w->cap > INT_MAX / 2)
            return ED_ETOOBIG;
        int cap = w->cap ? 2 * w->cap : 64;
        ed_window_t *grown = realloc(w->v, (size_t)cap * sizeof *grown); /* ids only: no text to wipe */
        if (!grown)
            return ED_ENOMEM;
        w->v = grown;
        w->cap = cap;
    }
    int32_t *block = malloc(2 * (size_t)n * sizeof *block);
    if (!block)
        return ED_ENOMEM;
    ed_window_t *win = &w->v[w->n++];
    *win = (ed_window_t){.tokens = block, .targets = block + n, .n = n, .n_targets = n_targets, .doc_id = doc_id,
                         .n_segments = 1};
    memcpy(win->tokens, ids, (size_t)n * sizeof *ids);
    for (int j = 0; j < n; j++)
        win->targets[j] = j + 1 < n && (!loss || loss[j + 1]) ? ids[j + 1] : -1;
    return 0;
}

/* A token stream ids[0, n) as windows of at most seq_len tokens. A stream
 * longer than a window continues in the next one, which repeats the last
 * token of the one before as its first input: every next-token pair of the
 * stream is a target exactly once, and no window is padded. */
static int stream_push(windows_t *w, const int32_t *ids, size_t n, const uint8_t *loss, int seq_len, int64_t doc_id)
{
    size_t start = 0;
    for (;;) {
        size_t end = n - start > (size_t)seq_len ? start + (size_t)seq_len : n;
        int rc = window_push(w, ids + start, loss ? loss + start : NULL, (int)(end - start), doc_id);
        if (rc < 0 || end == n)
            return rc;
        start = end - 1;
    }
}

/* ------------------------------------------------------------ tokenize ---- */

typedef struct {
    int32_t *ids; /* (cap) malloc'd; wiped by tokens_free */
    size_t n, cap;
} tokens_t;

static void tokens_free(tokens_t *t)
{
    wipe_free(t->ids, t->cap * sizeof *t->ids);
    *t = (tokens_t){0};
}

/* text[0, len) as ed_prompt_tokenize encodes it for `pm` (BOS and EOS as the
 * vocabulary asks; with literal, a rendered chat whose control tokens parse),
 * with no context limit. */
static int tokenize(const ed_prompt_model_t *pm, const char *text, size_t len, const ed_text_span_t *literal,
                    size_t n_literal, tokens_t *out)
{
    *out = (tokens_t){0};
    if (len > TEXT_MAX)
        return ED_ETOOBIG;
    ed_prompt_model_t wide = *pm;
    /* a token covers at least one byte, plus BOS, EOS and SPM's space prefix */
    wide.n_ctx = (int)len + 8;
    ed_prompt_t p;
    int rc = ed_prompt_tokenize(&wide, text, len, literal, n_literal, &p);
    if (rc < 0)
        return rc;
    *out = (tokens_t){p.tokens, (size_t)p.n_tokens, (size_t)wide.n_ctx};
    return 0;
}

/* The length of the common prefix of a[0, na) and b[0, nb). */
static size_t common_prefix(const int32_t *a, size_t na, const int32_t *b, size_t nb)
{
    size_t i = 0;
    while (i < na && i < nb && a[i] == b[i])
        i++;
    return i;
}

/* The tokens of text[0, cut) of a rendered chat, its spans clipped to the
 * cut: the first tokens of the whole text, except where a token straddles
 * the cut. */
static int tokenize_prefix(const ed_prompt_model_t *pm, const char *text, size_t cut, const ed_text_span_t *spans,
                           size_t n_spans, tokens_t *out)
{
    ed_text_span_t *clipped = malloc((n_spans + 1) * sizeof *clipped);
    if (!clipped)
        return ED_ENOMEM;
    size_t n = 0;
    for (size_t i = 0; i < n_spans; i++)
        if (spans[i].offset < cut)
            clipped[n++] = (ed_text_span_t){spans[i].offset,
                                            spans[i].len < cut - spans[i].offset ? spans[i].len : cut - spans[i].offset};
    int rc = tokenize(pm, text, cut, clipped, n, out);
    free(clipped);
    return rc;
}

static bool ends_turn(const ed_vocab_t *vocab, int32_t id)
{
    return (id >= 0 && id < vocab->n_tokens && vocab->type[id] == ED_TOKEN_CONTROL) || ed_vocab_is_eog(vocab, id);
}

/* A chat rendered as inference renders it (ed_prompt_render, then
 * ed_prompt_tokenize with its spans) and its loss mask: loss[i] is 1 for
 * the tokens of each assistant message's content and the end-of-turn token
 * that closes it (with what the template puts between them, as Llama 2's
 * space). A token's place is found by tokenizing the text up to a span's
 * start and end: the tokens both tokenizations share lie wholly before the
 * cut, so a token straddling a span's edge counts as the span's. The stream
 * stops after the last assistant turn's end (the generation prompt that
 * follows it is dropped). *last_start: where the last assistant turn's loss
 * begins. */
static int chat_tokens(const ed_prompt_model_t *pm, const ed_chat_message_t *messages, size_t n_messages,
                       tokens_t *out, uint8_t **loss_out, size_t *last_start)
{
    *out = (tokens_t){0};
    *loss_out = NULL;
    ed_prompt_in_t in = {.messages = messages, .n_messages = n_messages};
    char *text = NULL;
    size_t len = 0, n_spans = 0;
    ed_text_span_t *spans = NULL;
    uint8_t *loss = NULL;
    tokens_t full = {0}, part = {0};
    int rc = ed_prompt_render(pm, &in, &text, &len, &spans, &n_spans);
    if (rc == 0 && n_spans != n_messages)
        rc = ED_EINVAL; /* every family records one span per message */
    if (rc == 0)
        rc = tokenize(pm, text, len, spans, n_spans, &full);
    if (rc == 0 && !(loss = calloc(full.n + 1, 1)))
        rc = ED_ENOMEM;
    size_t keep = 0;
    for (size_t m = 0; rc == 0 && m < n_messages; m++) {
        if (messages[m].role != ED_CHAT_ASSISTANT)
            continue;
        rc = tokenize_prefix(pm, text, spans[m].offset, spans, n_spans, &part);
        if (rc < 0)
            break;
        size_t start = common_prefix(full.ids, full.n, part.ids, part.n);
        tokens_free(&part);
        rc = tokenize_prefix(pm, text, spans[m].offset + spans[m].len, spans, n_spans, &part);
        if (rc < 0)
            break;
        size_t end = common_prefix(full.ids, full.n, part.ids, part.n);
        tokens_free(&part);
        if (end < start)
            end = start;
        while (end < full.n && !ends_turn(pm->vocab, full.ids[end]))
            end++;
        if (end < full.n)
            end++; /* the end-of-turn token */
        for (size_t i = start; i < end; i++)
            loss[i] = 1;
        *last_start = start;
        keep = end;
    }
    if (text)
        explicit_bzero(text, len);
    free(text);
    free(spans);
    if (rc < 0) {
        tokens_free(&full);
        free(loss);
        return rc;
    }
    full.n = keep;
    *out = full;
    *loss_out = loss;
    return 0;
}

/* ------------------------------------------------------------- builder ---- */

typedef struct {
    const ed_prompt_model_t *pm;
    const ed_dataset_config_t *cfg;
    windows_t train, heldout;
    char *err;
} build_t;

/* A chat as one window (left-truncated to seq_len when longer, when the
 * last assistant turn still fits). ED_ERANGE when it does not fit. */
static int push_chat(build_t *b, windows_t *w, const ed_chat_message_t *messages, size_t n_messages, int64_t doc_id,
                     size_t *n_tokens)
{
    tokens_t t;
    uint8_t *loss;
    size_t last_start = 0;
    int rc = chat_tokens(b->pm, messages, n_messages, &t, &loss, &last_start);
    if (rc < 0)
        return rc;
    size_t seq_len = (size_t)b->cfg->seq_len, start = 0;
    *n_tokens = t.n;
    if (t.n > seq_len) {
        start = t.n - seq_len;
        if (last_start < start + 1)
            rc = ED_ERANGE; /* the last answer's first token must keep a token before it */
    }
    if (rc == 0)
        rc = window_push(w, t.ids + start, loss + start, (int)(t.n - start), doc_id);
    tokens_free(&t);
    free(loss);
    return rc;
}

/* The token that ends a document: "<|endoftext|>" where the vocabulary has
 * it (GPT-2's and Qwen's document separator; their EOS may be a chat's
 * end of turn), else EOS; ED_TOKEN_NONE when neither. */
static int32_t end_of_text(const ed_vocab_t *vocab)
{
    int32_t id = ed_vocab_find(vocab, "<|endoftext|>", 13);
    return id != ED_TOKEN_NONE ? id : vocab->eos;
}

/* A piece of text followed by the end-of-text token (unless the vocabulary
 * adds EOS itself), as windows. */
static int push_text(build_t *b, windows_t *w, const char *text, size_t len, int64_t doc_id)
{
    tokens_t t;
    int rc = tokenize(b->pm, text, len, NULL, 0, &t);
    if (rc < 0)
        return rc;
    const ed_vocab_t *vocab = b->pm->vocab;
    int32_t end = end_of_text(vocab);
    if (end != ED_TOKEN_NONE && !vocab->add_eos && t.n < t.cap)
        t.ids[t.n++] = end;
    rc = stream_push(w, t.ids, t.n, NULL, b->cfg->seq_len, doc_id);
    tokens_free(&t);
    return rc;
}

/* "TITLE\nCONTEXT\n" (each when not empty) then body[0, body_len): the text
 * ingest embeds for a chunk (rag_collection.c, ed_rag_embed_chunk). */
static char *render_piece(const ed_dataset_doc_t *d, const ed_dataset_chunk_t *p, const char *body, size_t body_len,
                          size_t *len)
{
    size_t tlen = strlen(d->title), clen = p->context_len;
    char *buf = malloc(tlen + clen + body_len + 3);
    if (!buf)
        return NULL;
    size_t n = 0;
    if (tlen) {
        memcpy(buf, d->title, tlen);
        n = tlen;
        buf[n++] = '\n';
    }
    if (clen) {
        memcpy(buf + n, d->text + p->context_offset, clen);
        n += clen;
        buf[n++] = '\n';
    }
    memcpy(buf + n, body, body_len);
    *len = n + body_len;
    return buf;
}

/* The sentences of text[0, len): ending after '.', '!' or '?' followed by
 * whitespace, or at a line break; trimmed, empty ones dropped. */
static int split_sentences(const char *text, size_t len, ed_text_span_t **out, size_t *n_out)
{
    size_t cap = 8, n = 0, start = 0;
    ed_text_span_t *s = malloc(cap * sizeof *s);
    if (!s)
        return ED_ENOMEM;
    for (size_t i = 0; i <= len; i++) {
        bool end = i == len || text[i] == '\n' ||
                   ((text[i] == '.' || text[i] == '!' || text[i] == '?') && (i + 1 == len || is_space(text[i + 1])));
        if (!end)
            continue;
        size_t off = start, l = (i < len ? i + 1 : len) - start;
        start = i < len ? i + 1 : len;
        trim(text, &off, &l);
        if (l == 0)
            continue;
        if (n == cap) {
            ed_text_span_t *grown = realloc(s, 2 * cap * sizeof *s);
            if (!grown) {
                free(s);
                return ED_ENOMEM;
            }
            s = grown;
            cap *= 2;
        }
        s[n++] = (ed_text_span_t){off, l};
    }
    *out = s;
    *n_out = n;
    return 0;
}

/* ED_AUG_SHUFFLED: the title and context, then the piece's sentences in a
 * seeded order that differs from the text's (never the identity); nothing
 * for a piece of one sentence. */
static int push_shuffled(build_t *b, const ed_dataset_doc_t *d, const ed_dataset_chunk_t *p, int piece)
{
    const char *body = d->text + p->offset;
    ed_text_span_t *s = NULL;
    size_t n = 0;
    int rc = split_sentences(body, p->len, &s, &n);
    if (rc < 0 || n < 2) {
        free(s);
        return rc;
    }
    size_t *order = malloc(n * sizeof *order);
    char *joined = malloc(p->len + n);
    if (!order || !joined) {
        free(s), free(order), free(joined);
        return ED_ENOMEM;
    }
    uint64_t state = key3(b->cfg->seed, 0x5348554646ull, (uint64_t)d->id * 65536u + (uint64_t)piece);
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = rng_below(&state, i + 1), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    bool identity = true;
    for (size_t i = 0; i < n; i++)
        identity = identity && order[i] == i;
    if (identity) /* rotate by one: a reordering that is not one */
        for (size_t i = 0; i < n; i++)
            order[i] = (i + 1) % n;
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            joined[len++] = ' ';
        memcpy(joined + len, body + s[order[i]].offset, s[order[i]].len);
        len += s[order[i]].len;
    }
    size_t text_len;
    char *text = render_piece(d, p, joined, len, &text_len);
    rc = text ? push_text(b, &b->train, text, text_len, d->id) : ED_ENOMEM;
    if (text)
        wipe_free(text, text_len);
    wipe_free(joined, p->len + n);
    free(order);
    free(s);
    return rc;
}

/* ED_AUG_QA: "What do my notes say about TITLE?" answered by the piece's
 * text (TITLE: the document's title, else the piece's heading; nothing
 * without either, or when the chat does not fit a window). */
static int push_qa(build_t *b, const ed_dataset_doc_t *d, const ed_dataset_chunk_t *p)
{
    const char *about = d->title;
    size_t about_len = strlen(d->title);
    if (about_len == 0) {
        about = d->text + p->context_offset;
        about_len = p->context_len;
    }
    if (about_len == 0)
        return 0;
    size_t qlen = about_len + sizeof QA_QUESTION;
    char *question = malloc(qlen);
    if (!question)
        return ED_ENOMEM;
    int n = snprintf(question, qlen, QA_QUESTION, (int)about_len, about);
    ed_chat_message_t m[2] = {{ED_CHAT_USER, question, (size_t)n}, {ED_CHAT_ASSISTANT, d->text + p->offset, p->len}};
    size_t n_tokens;
    int rc = push_chat(b, &b->train, m, 2, d->id, &n_tokens);
    wipe_free(question, qlen);
    return rc == ED_ERANGE ? 0 : rc;
}

/* One piece of a document: the plain rendering (held out, or trained on
 * with the augmentations asked for). */
static int push_piece(build_t *b, const ed_dataset_doc_t *d, const ed_dataset_chunk_t *p, int piece, bool held)
{
    unsigned aug = held ? ED_AUG_PLAIN : b->cfg->augment;
    windows_t *w = held ? &b->heldout : &b->train;
    const char *body = d->text + p->offset;
    int rc = 0;
    if (aug & ED_AUG_PLAIN) {
        size_t len;
        char *text = render_piece(d, p, body, p->len, &len);
        rc = text ? push_text(b, w, text, len, d->id) : ED_ENOMEM;
        if (text)
            wipe_free(text, len);
    }
    if (rc == 0 && (aug & ED_AUG_NO_TITLE))
        rc = push_text(b, w, body, p->len, d->id);
    if (rc == 0 && (aug & ED_AUG_SHUFFLED))
        rc = push_shuffled(b, d, p, piece);
    if (rc == 0 && (aug & ED_AUG_QA))
        rc = push_qa(b, d, p);
    return rc;
}

/* Tokens in text[0, len) (the encoder's count, nothing kept). */
static size_t count_tokens(const ed_vocab_t *vocab, const char *text, size_t len)
{
    int32_t one;
    size_t n = 0;
    ed_tokenizer_encode(vocab, text, len, false, false, &one, 1, &n);
    return n;
}

/* The pieces of a document: its chunks (trimmed), or for a document
 * without chunks its paragraphs (split at blank lines), neighbours joined
 * while their tokens fit a window beside the title. Empty pieces are left
 * out. */
static int doc_pieces(const build_t *b, const ed_dataset_doc_t *d, ed_dataset_chunk_t **out, int *n_out)
{
    *out = NULL;
    *n_out = 0;
    size_t cap = d->chunks ? (size_t)d->n_chunks + 1 : 8, n = 0;
    ed_dataset_chunk_t *p = malloc(cap * sizeof *p);
    if (!p)
        return ED_ENOMEM;
    if (d->chunks) {
        for (int i = 0; i < d->n_chunks; i++) {
            ed_dataset_chunk_t c = d->chunks[i];
            trim(d->text, &c.offset, &c.len);
            if (c.len > 0)
                p[n++] = c;
        }
        *out = p;
        *n_out = (int)n;
        return 0;
    }
    size_t title_tokens = count_tokens(b->pm->vocab, d->title, strlen(d->title));
    size_t budget = (size_t)b->cfg->seq_len > title_tokens + 4 ? (size_t)b->cfg->seq_len - title_tokens - 4 : 1;
    size_t i = 0, piece_tokens = 0;
    bool open = false;
    while (i < d->text_len) {
        /* one paragraph: up to a line that holds only whitespace */
        size_t start = i, end = i;
        while (end < d->text_len) {
            size_t line_end = end;
            while (line_end < d->text_len && d->text[line_end] != '\n')
                line_end++;
            size_t ws = end;
            while (ws < line_end && is_space(d->text[ws]))
                ws++;
            if (ws == line_end && end > start)
                break; /* a blank line closes it */
            end = line_end < d->text_len ? line_end + 1 : line_end;
        }
        i = end;
        size_t off = start, len = end - start;
        trim(d->text, &off, &len);
        if (len == 0)
            continue;
        size_t tokens = count_tokens(b->pm->vocab, d->text + off, len);
        if (open && piece_tokens + tokens <= budget) {
            p[n - 1].len = off + len - p[n - 1].offset;
            piece_tokens += tokens;
            continue;
        }
        if (n == cap) {
            ed_dataset_chunk_t *grown = realloc(p, 2 * cap * sizeof *p);
            if (!grown) {
                free(p);
                return ED_ENOMEM;
            }
            p = grown;
            cap *= 2;
        }
        p[n++] = (ed_dataset_chunk_t){.offset = off, .len = len};
        piece_tokens = tokens;
        open = true;
    }
    *out = p;
    *n_out = (int)n;
    return 0;
}

/* --------------------------------------------------------------- checks ---- */

static int check_config(const ed_dataset_config_t *c, char err[ED_ERR_LEN])
{
    if (c->seq_len < 2 || c->seq_len > SEQ_LEN_MAX)
        return ed_errf(err, ED_EINVAL, "seq_len: %d, expected 2 to %d", c->seq_len, SEQ_LEN_MAX);
    if (!(c->heldout_fraction > 0 && c->heldout_fraction < 1))
        return ed_errf(err, ED_EINVAL, "heldout_fraction: %g, expected above 0 and below 1", c->heldout_fraction);
    const unsigned known = ED_AUG_PLAIN | ED_AUG_NO_TITLE | ED_AUG_SHUFFLED | ED_AUG_QA;
    if (c->augment & ~known)
        return ed_errf(err, ED_EINVAL, "augment: 0x%x holds unknown bits (known: 0x%x)", c->augment, known);
    if (c->augment == 0)
        return ed_errf(err, ED_EINVAL, "augment: none, expected at least one of plain, no_title, shuffled, qa");
    return 0;
}

static int check_docs(const ed_dataset_doc_t *docs, int n_docs, char err[ED_ERR_LEN])
{
    if (n_docs < 0 || (n_docs > 0 && !docs))
        return ed_errf(err, ED_EINVAL, "documents: %d of them at %p", n_docs, (const void *)docs);
    for (int i = 0; i < n_docs; i++) {
        const ed_dataset_doc_t *d = &docs[i];
        if (d->id < 0)
            return ed_errf(err, ED_EINVAL, "documents[%d].id: %lld, expected 0 or more", i, (long long)d->id);
        if (!d->text && d->text_len > 0)
            return ed_errf(err, ED_EINVAL, "documents[%d].text: NULL with text_len %zu", i, d->text_len);
        if (d->text_len > TEXT_MAX)
            return ed_errf(err, ED_EINVAL, "documents[%d].text_len: %zu, at most %zu", i, d->text_len, TEXT_MAX);
        if (d->n_chunks < 0 || (d->n_chunks > 0 && !d->chunks))
            return ed_errf(err, ED_EINVAL, "documents[%d].n_chunks: %d with chunks %s", i, d->n_chunks,
                           d->chunks ? "set" : "NULL");
        for (int c = 0; d->chunks && c < d->n_chunks; c++) {
            const ed_dataset_chunk_t *k = &d->chunks[c];
            if (k->offset > d->text_len || k->len > d->text_len - k->offset)
                return ed_errf(err, ED_EINVAL, "documents[%d].chunks[%d]: bytes %zu..%zu past the text (%zu bytes)",
                               i, c, k->offset, k->offset + k->len, d->text_len);
            if (k->context_offset > d->text_len || k->context_len > d->text_len - k->context_offset)
                return ed_errf(err, ED_EINVAL,
                               "documents[%d].chunks[%d].context: bytes %zu..%zu past the text (%zu bytes)", i, c,
                               k->context_offset, k->context_offset + k->context_len, d->text_len);
        }
    }
    return 0;
}

static int check_examples(const ed_dataset_example_t *ex, int n, char err[ED_ERR_LEN])
{
    if (n < 0 || (n > 0 && !ex))
        return ed_errf(err, ED_EINVAL, "examples: %d of them at %p", n, (const void *)ex);
    for (int i = 0; i < n; i++) {
        if (ex[i].n_messages == 0 || !ex[i].messages)
            return ed_errf(err, ED_EINVAL, "examples[%d]: no messages", i);
        bool assistant = false;
        for (size_t m = 0; m < ex[i].n_messages; m++) {
            const ed_chat_message_t *msg = &ex[i].messages[m];
            if ((unsigned)msg->role > ED_CHAT_ASSISTANT)
                return ed_errf(err, ED_EINVAL, "examples[%d].messages[%zu].role: %d is not a role", i, m,
                               (int)msg->role);
            if (!msg->content && msg->len > 0)
                return ed_errf(err, ED_EINVAL, "examples[%d].messages[%zu].content: NULL with len %zu", i, m,
                               msg->len);
            assistant = assistant || msg->role == ED_CHAT_ASSISTANT;
        }
        if (!assistant)
            return ed_errf(err, ED_EINVAL, "examples[%d]: no assistant turn", i);
    }
    return 0;
}

/* ---------------------------------------------------------------- build ---- */

static int cmp_doc_ptr(const void *a, const void *b)
{
    const ed_dataset_doc_t *x = *(const ed_dataset_doc_t *const *)a, *y = *(const ed_dataset_doc_t *const *)b;
    return (x->id > y->id) - (x->id < y->id);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* The distinct doc ids of windows w[0, n) (>= 0), ascending, malloc'd. */
static int doc_ids_of(const ed_window_t *w, int n, int64_t **out, int *n_out)
{
    *out = NULL;
    *n_out = 0;
    int64_t *ids = malloc(((size_t)n + 1) * sizeof *ids);
    if (!ids)
        return ED_ENOMEM;
    int k = 0;
    for (int i = 0; i < n; i++)
        if (w[i].doc_id != -1)
            ids[k++] = w[i].doc_id;
    qsort(ids, (size_t)k, sizeof *ids, cmp_i64);
    int u = 0;
    for (int i = 0; i < k; i++)
        if (u == 0 || ids[u - 1] != ids[i])
            ids[u++] = ids[i];
    *out = ids;
    *n_out = u;
    return 0;
}

typedef struct {
    const ed_dataset_doc_t *doc;
    ed_dataset_chunk_t *pieces;
    int n_pieces;
} doc_plan_t;

static int build(build_t *b, const ed_dataset_doc_t *docs, int n_docs, const ed_dataset_example_t *examples,
                 int n_examples)
{
    const ed_dataset_config_t *cfg = b->cfg;
    char *err = b->err;
    const ed_dataset_doc_t **sorted = malloc(((size_t)n_docs + 1) * sizeof *sorted);
    doc_plan_t *plan = calloc((size_t)n_docs + 1, sizeof *plan);
    int64_t *ids = malloc(((size_t)n_docs + (size_t)n_examples + 1) * sizeof *ids);
    bool *held = calloc((size_t)n_docs + (size_t)n_examples + 1, sizeof *held);
    int rc = sorted && plan && ids && held ? 0 : ED_ENOMEM;
    int n_plan = 0;
    /* documents in id order: the dataset does not depend on the input's order */
    for (int i = 0; rc == 0 && i < n_docs; i++)
        sorted[i] = &docs[i];
    if (rc == 0)
        qsort(sorted, (size_t)n_docs, sizeof *sorted, cmp_doc_ptr);
    for (int i = 1; rc == 0 && i < n_docs; i++)
        if (sorted[i]->id == sorted[i - 1]->id)
            rc = ed_errf(err, ED_EINVAL, "documents[%d].id: %lld appears twice", (int)(sorted[i] - docs),
                         (long long)sorted[i]->id);
    for (int i = 0; rc == 0 && i < n_docs; i++) {
        ed_dataset_doc_t d = *sorted[i];
        plan[n_plan].doc = sorted[i];
        if (!d.title)
            d.title = "";
        rc = doc_pieces(b, &d, &plan[n_plan].pieces, &plan[n_plan].n_pieces);
        if (rc == 0 && plan[n_plan].n_pieces > 0)
            n_plan++;
        else if (rc == 0) {
            free(plan[n_plan].pieces);
            plan[n_plan].pieces = NULL;
        }
    }
    if (rc == 0 && n_docs > 0 && n_plan == 0 && n_examples == 0)
        rc = ed_errf(err, ED_EINVAL, "documents: %d, none with text to train on", n_docs);
    /* the split: by document; one document is split by piece */
    bool *held_piece = NULL;
    if (rc == 0 && n_plan >= 2) {
        for (int i = 0; i < n_plan; i++)
            ids[i] = plan[i].doc->id;
        rc = pick_heldout(cfg->seed, 0x444f43ull, ids, n_plan, heldout_count(cfg->heldout_fraction, n_plan), held);
    } else if (rc == 0 && n_plan == 1) {
        int n = plan[0].n_pieces;
        if (n < 2)
            rc = ed_errf(err, ED_EINVAL,
                         "documents: one document of one piece (id %lld), nothing to hold out; add documents",
                         (long long)plan[0].doc->id);
        else if (!(held_piece = calloc((size_t)n, sizeof *held_piece)))
            rc = ED_ENOMEM;
        if (rc == 0) {
            int64_t *piece_ids = malloc((size_t)n * sizeof *piece_ids);
            if (!piece_ids) {
                rc = ED_ENOMEM;
            } else {
                for (int i = 0; i < n; i++)
                    piece_ids[i] = i;
                rc = pick_heldout(cfg->seed, key3(0x4348554e4bull, 0, (uint64_t)plan[0].doc->id), piece_ids, n,
                                  heldout_count(cfg->heldout_fraction, n), held_piece);
                free(piece_ids);
            }
        }
    }
    for (int i = 0; rc == 0 && i < n_plan; i++) {
        ed_dataset_doc_t d = *plan[i].doc;
        if (!d.title)
            d.title = "";
        for (int p = 0; rc == 0 && p < plan[i].n_pieces; p++) {
            bool h = held_piece ? held_piece[p] : held[i];
            rc = push_piece(b, &d, &plan[i].pieces[p], p, h);
            if (rc < 0 && rc != ED_ENOMEM)
                rc = ed_errf(err, rc, "documents[%d]: %s", (int)(plan[i].doc - docs), ed_strerror(rc));
        }
    }
    /* examples: to train, except with no documents, where they are split */
    bool split_examples = n_plan == 0;
    if (rc == 0 && split_examples) {
        if (n_examples < 2) {
            rc = ed_errf(err, ED_EINVAL, "examples: one example and no documents, nothing to hold out");
        } else {
            for (int i = 0; i < n_examples; i++)
                ids[i] = i;
            memset(held, 0, (size_t)n_examples * sizeof *held);
            rc = pick_heldout(cfg->seed, 0x4558414dull, ids, n_examples,
                              heldout_count(cfg->heldout_fraction, n_examples), held);
        }
    }
    for (int i = 0; rc == 0 && i < n_examples; i++) {
        size_t n_tokens = 0;
        windows_t *w = split_examples && held[i] ? &b->heldout : &b->train;
        rc = push_chat(b, w, examples[i].messages, examples[i].n_messages, -1, &n_tokens);
        if (rc == ED_ERANGE)
            rc = ed_errf(err, ED_EINVAL,
                         "examples[%d]: %zu tokens, and its last assistant turn does not fit seq_len %d", i, n_tokens,
                         cfg->seq_len);
        else if (rc < 0 && rc != ED_ENOMEM)
            rc = ed_errf(err, rc, "examples[%d]: %s", i, ed_strerror(rc));
    }
    if (rc == 0 && b->train.n == 0)
        rc = ed_errf(err, ED_EINVAL, "documents: no train windows (every piece is held out or empty)");
    for (int i = 0; i < n_docs; i++)
        free(plan[i].pieces);
    free(plan);
    free(sorted);
    free(ids);
    free(held);
    free(held_piece);
    return rc;
}

int ed_dataset_build(ed_dataset_t **out, const ed_prompt_model_t *prompt, const ed_dataset_doc_t *docs, int n_docs,
                     const ed_dataset_example_t *examples, int n_examples, const ed_dataset_config_t *config,
                     char err[ED_ERR_LEN])
{
    *out = NULL;
    if (!prompt || !prompt->vocab)
        return ed_errf(err, ED_EINVAL, "prompt: no vocabulary");
    int rc = check_config(config, err);
    if (rc == 0)
        rc = check_docs(docs, n_docs, err);
    if (rc == 0)
        rc = check_examples(examples, n_examples, err);
    if (rc < 0)
        return rc;
    if (n_docs == 0 && n_examples == 0)
        return ed_errf(err, ED_EINVAL, "documents: none, and no examples");
    ed_prompt_model_t pm = *prompt;
    if (!pm.bos_text)
        pm.bos_text = "";
    if (!pm.eos_text)
        pm.eos_text = "";
    build_t b = {.pm = &pm, .cfg = config, .err = err};
    ed_dataset_t *ds = calloc(1, sizeof *ds);
    rc = ds ? build(&b, docs, n_docs, examples, n_examples) : ED_ENOMEM;
    if (rc == 0) {
        /* the seeded order of the train windows */
        uint64_t state = key3(config->seed, 0x4f52444552ull, 0);
        for (int i = b.train.n - 1; i > 0; i--) {
            int j = (int)rng_below(&state, (size_t)i + 1);
            ed_window_t t = b.train.v[i];
            b.train.v[i] = b.train.v[j];
            b.train.v[j] = t;
        }
        /* lineage from every piece, before packing keeps only each window's first */
        rc = doc_ids_of(b.train.v, b.train.n, &ds->train_doc_ids, &ds->n_train_docs);
        if (rc == 0)
            rc = doc_ids_of(b.heldout.v, b.heldout.n, &ds->heldout_doc_ids, &ds->n_heldout_docs);
        if (rc == 0 && config->pack)
            rc = windows_pack(&b.train, config->seq_len);
        if (rc == 0 && config->pack)
            rc = windows_pack(&b.heldout, config->seq_len);
    }
    if (rc == 0) {
        ds->train = b.train.v;
        ds->n_train = b.train.n;
        ds->heldout = b.heldout.v;
        ds->n_heldout = b.heldout.n;
        b.train = b.heldout = (windows_t){0};
        for (int i = 0; i < ds->n_train; i++)
            ds->train_tokens += ds->train[i].n_targets;
        for (int i = 0; i < ds->n_heldout; i++)
            ds->heldout_tokens += ds->heldout[i].n_targets;
    }
    if (rc < 0) {
        if (rc == ED_ENOMEM)
            ed_errf(err, rc, "out of memory building the dataset");
        windows_wipe(b.train.v, b.train.n);
        windows_wipe(b.heldout.v, b.heldout.n);
        ed_dataset_free(ds);
        return rc;
    }
    *out = ds;
    return 0;
}

void ed_dataset_free(ed_dataset_t *ds)
{
    if (!ds)
        return;
    windows_wipe(ds->train, ds->n_train);
    windows_wipe(ds->heldout, ds->n_heldout);
    free(ds->train_doc_ids);
    free(ds->heldout_doc_ids);
    free(ds);
}
