/* tokenizer.c - the public encode/decode entry points and the machinery both
 * encoders share: cutting the text at special tokens (longest token first, as
 * llama.cpp does), the merge loop over a chain of symbols with a priority
 * queue (O(n log n) in the fragment's length), and turning ids back into text
 * without allocating. */
#include "model/tokenizer.h"

#include "model/bpe.h"
#include "model/spm.h"
#include "model/wordpiece.h"

#include <stdlib.h>
#include <string.h>

#define MAX_INPUT (256u << 20) /* bytes; keeps every offset in 32 bits with room to spare */

/* ---------------------------------------------------------- merge loop ---- */

int ed__encode_reserve(ed__encode_work_t *work, size_t size)
{
    if (size <= work->buf_cap)
        return 0;
    char *grown = realloc(work->buf, size);
    if (!grown)
        return ED_ENOMEM;
    work->buf = grown;
    work->buf_cap = size;
    return 0;
}

static bool bigram_before(const ed__bigram_t *a, const ed__bigram_t *b)
{
    return a->key < b->key || (a->key == b->key && a->left < b->left);
}

static void queue_push(ed__encode_work_t *work, ed__bigram_t bigram)
{
    ed__bigram_t *queue = work->queue;
    size_t i = work->queue_n++;
    while (i > 0 && bigram_before(&bigram, &queue[(i - 1) / 2])) {
        queue[i] = queue[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    queue[i] = bigram;
}

static ed__bigram_t queue_pop(ed__encode_work_t *work)
{
    ed__bigram_t *queue = work->queue;
    ed__bigram_t top = queue[0], last = queue[--work->queue_n];
    size_t n = work->queue_n, i = 0;
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= n)
            break;
        if (child + 1 < n && bigram_before(&queue[child + 1], &queue[child]))
            child++;
        if (!bigram_before(&queue[child], &last))
            break;
        queue[i] = queue[child];
        i = child;
    }
    if (n > 0)
        queue[i] = last;
    return top;
}

static void try_bigram(const ed_vocab_t *vocab, ed__encode_work_t *work, const char *text, int32_t left,
                       int32_t right, ed__merge_key_fn key_of)
{
    if (left == -1 || right == -1)
        return;
    const ed__symbol_t *l = &work->symbols[left], *r = &work->symbols[right];
    double key;
    if (key_of(vocab, text + l->start, l->len, r->len, &key))
        queue_push(work, (ed__bigram_t){key, left, right, l->len, r->len});
}

int ed__encode_merge(const ed_vocab_t *vocab, ed__encode_work_t *work, const char *text, uint32_t len,
                     ed__merge_key_fn key_of)
{
    /* The length of a character by its lead byte (continuation bytes: 1). */
    static const unsigned char CHAR_LEN[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    /* Each merge queues at most two bigrams, after at most len - 1 at first. */
    size_t queue_need = 3 * (size_t)len + 1;
    if (len + 1 > work->symbols_cap) {
        ed__symbol_t *grown = realloc(work->symbols, (len + 1) * sizeof *grown);
        if (!grown)
            return ED_ENOMEM;
        work->symbols = grown;
        work->symbols_cap = len + 1;
    }
    if (queue_need > work->queue_cap) {
        ed__bigram_t *grown = realloc(work->queue, queue_need * sizeof *grown);
        if (!grown)
            return ED_ENOMEM;
        work->queue = grown;
        work->queue_cap = queue_need;
    }
    work->queue_n = 0;
    int32_t n = 0;
    for (uint32_t offset = 0; offset < len; n++) {
        uint32_t char_len = CHAR_LEN[(unsigned char)text[offset] >> 4];
        if (char_len > len - offset)
            char_len = len - offset;
        for (uint32_t k = 1; k < char_len; k++)
            if (((unsigned char)text[offset + k] & 0xc0) != 0x80) {
                char_len = 1; /* not a character: its bytes go one by one */
                break;
            }
        offset += char_len;
        work->symbols[n] = (ed__symbol_t){n - 1, offset == len ? -1 : n + 1, offset - char_len, char_len};
    }
    for (int32_t i = 1; i < n; i++)
        try_bigram(vocab, work, text, i - 1, i, key_of);

    while (work->queue_n > 0) {
        ed__bigram_t bigram = queue_pop(work);
        ed__symbol_t *left = &work->symbols[bigram.left], *right = &work->symbols[bigram.right];
        /* Stale when either side has merged since it was queued. */
        if (left->len == 0 || right->len == 0 || left->len != bigram.left_len || right->len != bigram.right_len)
            continue;
        left->len += right->len;
        right->len = 0;
        left->next = right->next;
        if (right->next >= 0)
            work->symbols[right->next].prev = bigram.left;
        try_bigram(vocab, work, text, left->prev, bigram.left, key_of);
        try_bigram(vocab, work, text, bigram.left, left->next, key_of);
    }
    return 0;
}

/* ------------------------------------------------------------- encode ---- */

/* A stretch of the input: plain text, or one special token. */
typedef struct {
    uint32_t start, len;
    int32_t id; /* ED_TOKEN_NONE for text */
} fragment_t;

typedef struct {
    fragment_t *items;
    size_t n, cap;
} fragments_t;

static int fragments_push(fragments_t *list, fragment_t fragment)
{
    if (list->n == list->cap) {
        size_t cap = list->cap ? 2 * list->cap : 16;
        fragment_t *grown = realloc(list->items, cap * sizeof *grown);
        if (!grown)
            return ED_ENOMEM;
        list->items = grown;
        list->cap = cap;
    }
    list->items[list->n++] = fragment;
    return 0;
}

/* Where control tokens must not be recognised. */
typedef struct {
    const ed_text_span_t *spans;
    size_t n;
} literal_t;

static bool overlaps_literal(const literal_t *literal, size_t start, size_t len)
{
    for (size_t i = 0; i < literal->n; i++)
        if (start < literal->spans[i].offset + literal->spans[i].len && literal->spans[i].offset < start + len)
            return true;
    return false;
}

/* Cuts the text fragments of `list` at every occurrence of token `id`
 * (except, for control tokens, occurrences touching a literal span). */
static int cut_at_token(const ed_vocab_t *vocab, const char *text, int32_t id, const literal_t *literal,
                        fragments_t *list, fragments_t *scratch)
{
    const ed_str_t token = vocab->text[id];
    const bool user_defined = vocab->type[id] == ED_TOKEN_USER_DEFINED;
    int rc = 0;
    scratch->n = 0;
    for (size_t i = 0; i < list->n && rc == 0; i++) {
        fragment_t fragment = list->items[i];
        if (fragment.id != ED_TOKEN_NONE) {
            rc = fragments_push(scratch, fragment);
            continue;
        }
        uint32_t at = fragment.start, from = fragment.start, end = fragment.start + fragment.len;
        const char *found;
        while (rc == 0 && end - from >= token.len &&
               (found = memmem(text + from, end - from, token.ptr, token.len)) != NULL) {
            uint32_t hit = (uint32_t)(found - text);
            if (!user_defined && overlaps_literal(literal, hit, (size_t)token.len)) {
                from = hit + 1; /* stays text */
                continue;
            }
            if (hit > at)
                rc = fragments_push(scratch, (fragment_t){at, hit - at, ED_TOKEN_NONE});
            if (rc == 0)
                rc = fragments_push(scratch, (fragment_t){hit, (uint32_t)token.len, id});
            at = from = hit + (uint32_t)token.len;
        }
        if (rc == 0 && at < end)
            rc = fragments_push(scratch, (fragment_t){at, end - at, ED_TOKEN_NONE});
    }
    fragments_t swap = *list;
    *list = *scratch;
    *scratch = swap;
    return rc;
}

static int split_special(const ed_vocab_t *vocab, const char *text, size_t len, bool parse_special,
                         const literal_t *literal, fragments_t *list)
{
    fragments_t scratch = {0};
    int rc = fragments_push(list, (fragment_t){0, (uint32_t)len, ED_TOKEN_NONE});
    for (size_t s = 0; s < vocab->n_special && rc == 0; s++) {
        int32_t id = vocab->special[s];
        if (!parse_special && vocab->type[id] != ED_TOKEN_USER_DEFINED)
            continue;
        if (!memmem(text, len, vocab->text[id].ptr, vocab->text[id].len))
            continue; /* most special tokens are absent: skip the rebuild */
        rc = cut_at_token(vocab, text, id, literal, list, &scratch);
    }
    free(scratch.items);
    return rc;
}

static int encode(const ed_vocab_t *vocab, const char *text, size_t len, bool add_special, bool parse_special,
                  const literal_t *literal, int32_t *out, size_t cap, size_t *n_out)
{
    *n_out = 0;
    if (len > MAX_INPUT)
        return ED_ETOOBIG;
    ed_token_out_t sink = {out, cap, 0};
    ed__encode_work_t work = {0};
    fragments_t fragments = {0};
    int rc = 0;
    if (len > 0)
        rc = split_special(vocab, text, len, parse_special, literal, &fragments);
    if (add_special && vocab->add_bos)
        ed_token_out_push(&sink, vocab->bos);
    bool after_special = true; /* SPM puts a space before text that starts the input or follows a token */
    for (size_t i = 0; i < fragments.n && rc == 0; i++) {
        const fragment_t *fragment = &fragments.items[i];
        if (fragment->id != ED_TOKEN_NONE) {
            ed_token_out_push(&sink, fragment->id);
            after_special = true;
            continue;
        }
        if (vocab->kind == ED_VOCAB_SPM)
            rc = ed__spm_encode(vocab, &work, text + fragment->start, fragment->len,
                                vocab->add_space_prefix && after_special, &sink);
        else if (vocab->kind == ED_VOCAB_WPM)
            rc = ed__wordpiece_encode(vocab, &work, text + fragment->start, fragment->len, &sink);
        else
            rc = ed__bpe_encode(vocab, &work, text + fragment->start, fragment->len, &sink);
        after_special = false;
    }
    if (add_special && vocab->add_eos)
        ed_token_out_push(&sink, vocab->eos);
    if (add_special && vocab->add_sep)
        ed_token_out_push(&sink, vocab->sep);
    free(fragments.items);
    free(work.symbols);
    free(work.queue);
    free(work.buf);
    if (rc < 0)
        return rc;
    *n_out = sink.n;
    return sink.n > cap ? ED_ERANGE : 0;
}

int ed_tokenizer_encode(const ed_vocab_t *vocab, const char *text, size_t len, bool add_special,
                        bool parse_special, int32_t *out, size_t cap, size_t *n_out)
{
    const literal_t none = {NULL, 0};
    return encode(vocab, text, len, add_special, parse_special, &none, out, cap, n_out);
}

int ed_tokenizer_encode_literal(const ed_vocab_t *vocab, const char *text, size_t len, bool add_special,
                                const ed_text_span_t *literal, size_t n_literal, int32_t *out, size_t cap,
                                size_t *n_out)
{
    const literal_t spans = {literal, n_literal};
    return encode(vocab, text, len, add_special, true, &spans, out, cap, n_out);
}

/* ------------------------------------------------------------- decode ---- */

typedef struct {
    char *buf;
    size_t cap, n;    /* n counts past cap */
    bool strip_space; /* drop one leading space from the next bytes written */
} writer_t;

static void put(writer_t *w, const char *bytes, size_t len)
{
    if (len > 0 && w->strip_space) {
        w->strip_space = false;
        if (bytes[0] == ' ') {
            bytes++;
            len--;
        }
    }
    if (w->n < w->cap)
        memcpy(w->buf + w->n, bytes, len < w->cap - w->n ? len : w->cap - w->n);
    w->n += len;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

static int write_piece(const ed_vocab_t *vocab, int32_t id, bool special, writer_t *w)
{
    if (id < 0 || id >= vocab->n_tokens)
        return ED_EINVAL;
    const ed_str_t text = vocab->text[id];
    switch ((ed_token_type_t)vocab->type[id]) {
    case ED_TOKEN_CONTROL:
    case ED_TOKEN_UNKNOWN:
        if (special)
            put(w, text.ptr, text.len);
        return 0;
    case ED_TOKEN_USER_DEFINED:
        put(w, text.ptr, text.len);
        return 0;
    case ED_TOKEN_NORMAL:
        if (vocab->kind != ED_VOCAB_BPE) {
            /* U+2581 back to a space (SPM; WPM puts it before each word). */
            size_t from = 0;
            for (size_t i = 0; i + 3 <= text.len; i++)
                if (memcmp(text.ptr + i, "\xe2\x96\x81", 3) == 0) {
                    put(w, text.ptr + from, i - from);
                    put(w, " ", 1);
                    from = i + 3;
                    i += 2;
                }
            put(w, text.ptr + from, text.len - from);
        } else {
            for (size_t i = 0; i < text.len;) {
                size_t char_len;
                int byte = ed__bpe_char_byte(text.ptr + i, text.len - i, &char_len);
                if (byte >= 0) {
                    const char raw = (char)byte;
                    put(w, &raw, 1);
                } else {
                    put(w, text.ptr + i, char_len); /* no byte: keep the character */
                }
                i += char_len;
            }
        }
        return 0;
    case ED_TOKEN_BYTE:
        if (vocab->kind == ED_VOCAB_SPM && text.len == 6 && memcmp(text.ptr, "<0x", 3) == 0 &&
            text.ptr[5] == '>' && hex_digit(text.ptr[3]) >= 0 && hex_digit(text.ptr[4]) >= 0) {
            const char raw = (char)(hex_digit(text.ptr[3]) * 16 + hex_digit(text.ptr[4]));
            put(w, &raw, 1);
        }
        return 0;
    case ED_TOKEN_UNDEFINED:
    case ED_TOKEN_UNUSED:
        return 0; /* as llama.cpp: shown as nothing */
    }
    return 0;
}

int ed_tokenizer_piece(const ed_vocab_t *vocab, int32_t id, bool special, char *buf, size_t cap,
                       size_t *n_out)
{
    writer_t w = {buf, cap, 0, false};
    int rc = write_piece(vocab, id, special, &w);
    *n_out = w.n;
    if (rc < 0)
        return rc;
    return w.n > cap ? ED_ERANGE : 0;
}

int ed_tokenizer_decode(const ed_vocab_t *vocab, const int32_t *ids, size_t n_ids, bool special,
                        char *out, size_t cap, size_t *n_out)
{
    writer_t w = {out, cap, 0,
                  (vocab->kind == ED_VOCAB_SPM && vocab->add_space_prefix) || vocab->kind == ED_VOCAB_WPM};
    int rc = 0;
    for (size_t i = 0; i < n_ids && rc == 0; i++)
        rc = write_piece(vocab, ids[i], special, &w);
    *n_out = w.n;
    if (rc < 0)
        return rc;
    return w.n > cap ? ED_ERANGE : 0;
}
