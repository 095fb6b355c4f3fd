/* tests/fuzz/model_tokenizer.c - libFuzzer driver for the tokenizers: the
 * first input byte picks the vocabulary (llama-spm or gpt-2 from
 * ../shared/testdata/vocab, loaded once) and the flags, the rest is encoded
 * and decoded. Aborts when an SPM round trip loses text, when a size reported
 * by ED_ERANGE is wrong, or when an id falls outside the vocabulary. Valid
 * UTF-8 inputs also go through every pre-tokenizer, whose pieces must tile
 * the text, and (up to 512 bytes) must equal those of the expressions as
 * llama.cpp writes them (ed__pretok_init_regex). With bit 5 of the first byte set, the rest is a GGUF file whose
 * untrusted vocabulary is loaded and used instead. Seeds:
 * tests/fuzz/corpus/model_tokenizer. */
#include "model/pretok.h"
#include "model/tokenizer.h"

#include <stdlib.h>
#include <string.h>

#define N_PRETOK ED_PRETOK_COUNT

static ed_gguf_t *ggufs[2];
static ed_vocab_t *vocabs[2];
static ed_pretok_t *pretoks[N_PRETOK];
static ed_pretok_t *as_written[N_PRETOK];

static void load_once(void)
{
    static int loaded;
    if (loaded)
        return;
    loaded = 1;
    static const char *const PATHS[2] = {
        "../shared/testdata/vocab/ggml-vocab-llama-spm.gguf",
        "../shared/testdata/vocab/ggml-vocab-gpt-2.gguf",
    };
    char err[ED_ERR_LEN];
    for (int i = 0; i < 2; i++)
        if (ed_gguf_open(&ggufs[i], PATHS[i], err) != 0 || ed_vocab_load(&vocabs[i], ggufs[i], err) != 0)
            abort(); /* run from the repository root, next to ../shared */
    for (int k = 0; k < N_PRETOK; k++)
        if (ed_pretok_init(&pretoks[k], (ed_pretok_kind_t)k, err) != 0 ||
            ed__pretok_init_regex(&as_written[k], (ed_pretok_kind_t)k, err) != 0)
            abort();
}

/* Input byte 0 with bit 5 set: the rest is a GGUF file whose vocabulary
 * is loaded (untrusted metadata) and used once. */
static void fuzz_vocab_file(const uint8_t *data, size_t size)
{
    static const char SAMPLE[] = "Hello <s> world</s><|endoftext|> \xe2\x96\x81x \xff 123";
    ed_gguf_t *gguf = NULL;
    ed_vocab_t *vocab = NULL;
    char err[ED_ERR_LEN];
    if (ed_gguf_open_memory(&gguf, data, size, err) == 0 && ed_vocab_load(&vocab, gguf, err) == 0) {
        int32_t ids[256];
        size_t n = 0;
        char out[1024];
        size_t out_len = 0;
        for (int parse = 0; parse < 2; parse++) {
            int rc = ed_tokenizer_encode(vocab, SAMPLE, sizeof SAMPLE - 1, true, parse, ids, 256, &n);
            if (rc != 0 && rc != ED_ERANGE)
                abort();
            for (size_t i = 0; i < n && i < 256; i++)
                if (ids[i] < 0 || ids[i] >= vocab->n_tokens)
                    abort();
            rc = ed_tokenizer_decode(vocab, ids, n < 256 ? n : 256, parse, out, sizeof out, &out_len);
            if (rc != 0 && rc != ED_ERANGE)
                abort();
        }
    }
    ed_vocab_free(vocab);
    ed_gguf_close(gguf);
}

/* Strict UTF-8 (no overlongs, surrogates or values past U+10FFFF). */
static int valid_utf8(const unsigned char *s, size_t len)
{
    for (size_t i = 0; i < len;) {
        unsigned c = s[i], n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (n == 0 || i + n > len)
            return 0;
        unsigned cp = n == 1 ? c : c & (0x7fu >> n);
        for (unsigned k = 1; k < n; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + k] & 0x3fu);
        }
        static const unsigned MIN[5] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < MIN[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += n;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    if (data[0] & 32) {
        fuzz_vocab_file(data + 1, size - 1);
        return 0;
    }
    load_once();
    const ed_vocab_t *vocab = vocabs[data[0] & 1];
    const bool add_special = data[0] & 2, parse_special = data[0] & 4;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;

    size_t cap = (data[0] & 8) ? len / 4 : len + 4, n = 0;
    int32_t *ids = malloc((cap ? cap : 1) * sizeof *ids);
    int rc = ed_tokenizer_encode(vocab, text, len, add_special, parse_special, ids, cap, &n);
    if (rc == ED_ERANGE) {
        if (n <= cap)
            abort();
        free(ids);
        cap = n;
        ids = malloc(cap * sizeof *ids);
        rc = ed_tokenizer_encode(vocab, text, len, add_special, parse_special, ids, cap, &n);
    }
    if (rc != 0 || n > cap)
        abort();
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= vocab->n_tokens)
            abort();

    size_t out_cap = 4 * len + 64, out_len = 0;
    char *out = malloc(out_cap);
    if (ed_tokenizer_decode(vocab, ids, n, data[0] & 16, out, out_cap, &out_len) != 0)
        abort();
    /* SPM keeps every byte: plain text (no special tokens, no literal U+2581) comes back whole. */
    if (vocab->kind == ED_VOCAB_SPM && !add_special && !parse_special && !(data[0] & 16) &&
        !memmem(text, len, "\xe2\x96\x81", 3) && (out_len != len || memcmp(out, text, len) != 0))
        abort();
    free(out);
    free(ids);

    if (valid_utf8((const unsigned char *)text, len)) {
        ed_spans_t spans = {0}, written = {0};
        for (int k = 0; k < N_PRETOK; k++) {
            if (ed_pretok_split(pretoks[k], text, len, &spans) != 0)
                abort();
            size_t at = 0;
            for (size_t i = 0; i < spans.n; i++) {
                if (spans.spans[i].offset != at || spans.spans[i].len == 0)
                    abort();
                at += spans.spans[i].len;
            }
            if (at != len)
                abort();
            /* The written forms are quadratic in a digit run: short inputs only. */
            if (len <= 512 && (ed_pretok_split(as_written[k], text, len, &written) != 0 || written.n != spans.n ||
                               (spans.n && memcmp(written.spans, spans.spans, spans.n * sizeof *spans.spans))))
                abort();
        }
        free(spans.spans);
        free(written.spans);
    }
    return 0;
}
