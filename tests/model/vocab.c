/* tests/model/vocab.c - the vocabularies and tokenizers against the reference
 * test vectors in ../shared/testdata/vocab (llama.cpp's tokenizer outputs for
 * each `.inp` string, no BOS), round trips decode(encode(s)) == s, special
 * tokens, BOS/EOS, the BPE pre-tokenizers, and long inputs. */
#include "model/pretok.h"
#include "model/tokenizer.h"
#include "model/vocab.h"
#include "tests/test.h"

#include <time.h>

#define VOCAB_DIR "../shared/testdata/vocab/"
#define SEPARATOR "\n__ggml_vocab_test__\n"

typedef struct {
    ed_gguf_t *gguf;
    ed_vocab_t *vocab;
} loaded_t;

static loaded_t load(const char *name)
{
    loaded_t l = {0};
    char path[256], err[ED_ERR_LEN] = "";
    snprintf(path, sizeof path, VOCAB_DIR "ggml-vocab-%s.gguf", name);
    int rc = ed_gguf_open(&l.gguf, path, err);
    if (rc == 0)
        rc = ed_vocab_load(&l.vocab, l.gguf, err);
    if (rc < 0)
        printf("#   %s: %s: %s\n", path, ed_strerror(rc), err);
    return l;
}

static void unload(loaded_t *l)
{
    ed_vocab_free(l->vocab);
    ed_gguf_close(l->gguf);
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *data = malloc((size_t)size + 1);
    if (data && fread(data, 1, (size_t)size, f) != (size_t)size) {
        free(data);
        data = NULL;
    }
    fclose(f);
    if (data)
        data[size] = '\0';
    *len = (size_t)size;
    return data;
}

static int32_t *encode(const ed_vocab_t *vocab, const char *text, size_t len, bool add_special,
                       bool parse_special, size_t *n)
{
    size_t cap = len + 8;
    int32_t *ids = malloc(cap * sizeof *ids);
    int rc = ed_tokenizer_encode(vocab, text, len, add_special, parse_special, ids, cap, n);
    if (rc < 0) {
        printf("#   encode: %s\n", ed_strerror(rc));
        free(ids);
        return NULL;
    }
    return ids;
}

/* Runs every test string of vocab `name`; returns how many did not match
 * (or did not round-trip, when `round_trip`: WordPiece lowercases and drops
 * accents and spaces, so its decoding cannot give the text back). */
static int run_vectors(const char *name, bool round_trip)
{
    loaded_t l = load(name);
    if (!l.vocab)
        return -1;
    char path[256];
    size_t inp_len, out_len;
    snprintf(path, sizeof path, VOCAB_DIR "ggml-vocab-%s.gguf.inp", name);
    char *inp = read_file(path, &inp_len);
    snprintf(path, sizeof path, VOCAB_DIR "ggml-vocab-%s.gguf.out", name);
    char *out = read_file(path, &out_len);
    if (!inp || !out) {
        printf("#   %s: test vectors missing\n", name);
        return -1;
    }
    int total = 0, matched = 0, round_trips = 0;
    char *text = inp, *line = out;
    for (char *sep; (sep = strstr(text, SEPARATOR)) != NULL; text = sep + strlen(SEPARATOR)) {
        size_t len = (size_t)(sep - text);
        char *eol = strchr(line, '\n');
        if (!eol) {
            printf("#   %s: .out has fewer lines than .inp has strings\n", name);
            break;
        }
        *eol = '\0';
        int32_t expected[1024];
        size_t n_expected = 0;
        for (char *p = line, *end; n_expected < 1024; p = end) {
            long v = strtol(p, &end, 10);
            if (end == p)
                break;
            expected[n_expected++] = (int32_t)v;
        }
        line = eol + 1;
        total++;

        size_t n = 0;
        int32_t *ids = encode(l.vocab, text, len, false, false, &n);
        bool same = ids && n == n_expected && memcmp(ids, expected, n * sizeof *ids) == 0;
        matched += same;
        if (!same) {
            printf("#   %s string %d \"%.*s\": got", name, total, (int)len, text);
            for (size_t i = 0; ids && i < n; i++)
                printf(" %d", (int)ids[i]);
            printf(", expected %s\n", line == eol + 1 ? "(see .out)" : "");
        }
        char decoded[8192];
        size_t n_decoded = 0;
        if (!round_trip ||
            (ids && ed_tokenizer_decode(l.vocab, ids, n, false, decoded, sizeof decoded, &n_decoded) == 0 &&
             n_decoded == len && memcmp(decoded, text, len) == 0))
            round_trips++;
        else
            printf("#   %s string %d: decode gives \"%.*s\"\n", name, total, (int)n_decoded, decoded);
        free(ids);
    }
    printf("# %s: %d/%d strings match the reference, %d/%d round-trip%s\n", name, matched, total,
           round_trips, total, round_trip ? "" : " (not checked)");
    free(inp);
    free(out);
    unload(&l);
    return total == 0 ? -1 : (total - matched) + (total - round_trips);
}

ED_TEST(llama_spm_matches_reference) { ED_CHECK_INT(run_vectors("llama-spm", true), 0); }

ED_TEST(gpt2_matches_reference) { ED_CHECK_INT(run_vectors("gpt-2", true), 0); }

ED_TEST(bert_bge_matches_reference) { ED_CHECK_INT(run_vectors("bert-bge", false), 0); }

static bool ids_are(const int32_t *ids, size_t n, const int32_t *want, size_t n_want)
{
    if (n != n_want) {
        printf("#   got %zu ids:", n);
        for (size_t i = 0; i < n; i++)
            printf(" %d", (int)ids[i]);
        printf("\n");
        return false;
    }
    return memcmp(ids, want, n * sizeof *ids) == 0;
}

#define CHECK_ENCODE(vocab, text, add, parse, ...)                                                 \
    do {                                                                                           \
        static const int32_t want[] = {__VA_ARGS__};                                               \
        size_t n_ = 0;                                                                             \
        int32_t *ids_ = encode(vocab, text, strlen(text), add, parse, &n_);                        \
        ED_CHECK(ids_ && ids_are(ids_, n_, want, sizeof want / sizeof want[0]));                   \
        free(ids_);                                                                                \
    } while (0)

ED_TEST(spm_metadata_and_specials)
{
    loaded_t l = load("llama-spm");
    ED_REQUIRE(l.vocab);
    const ed_vocab_t *v = l.vocab;
    ED_CHECK_INT(v->kind, ED_VOCAB_SPM);
    ED_CHECK_INT(v->n_tokens, 32000);
    ED_CHECK_INT(v->bos, 1);
    ED_CHECK_INT(v->eos, 2);
    ED_CHECK_INT(v->unk, 0);
    ED_CHECK(v->add_bos && !v->add_eos && v->add_space_prefix);
    ED_CHECK(ed_vocab_is_eog(v, 2) && !ed_vocab_is_eog(v, 1));
    ED_CHECK_INT(v->byte_token['\n'], 13);
    ED_CHECK_INT(ed_vocab_find(v, "\xe2\x96\x81Hello", 8), 15043);

    CHECK_ENCODE(v, "Hello", true, false, 1, 15043);
    /* The prompt of the reference logits (testdata README). */
    CHECK_ENCODE(v, "Hello world, this is a test.", true, false, 1, 15043, 3186, 29892, 445, 338, 263, 1243, 29889);
    CHECK_ENCODE(v, "", true, false, 1);
    /* "<s>" is BOS only when special tokens are parsed; text after a special
     * token gets the space prefix again. */
    CHECK_ENCODE(v, "<s>Hello", false, true, 1, 15043);
    size_t n = 0;
    int32_t *ids = encode(v, "<s>", 3, false, false, &n);
    ED_CHECK(ids && n > 1 && ids[0] != 1);
    free(ids);

    /* Pieces: spaces and bytes come back; control tokens only when asked. */
    char buf[32];
    size_t len = 0;
    ED_CHECK_INT(ed_tokenizer_piece(v, 15043, false, buf, sizeof buf, &len), 0);
    ED_CHECK(len == 6 && memcmp(buf, " Hello", 6) == 0);
    ED_CHECK_INT(ed_tokenizer_piece(v, 13, false, buf, sizeof buf, &len), 0);
    ED_CHECK(len == 1 && buf[0] == '\n');
    ED_CHECK_INT(ed_tokenizer_piece(v, 2, false, buf, sizeof buf, &len), 0);
    ED_CHECK_INT(len, 0);
    ED_CHECK_INT(ed_tokenizer_piece(v, 2, true, buf, sizeof buf, &len), 0);
    ED_CHECK(len == 4 && memcmp(buf, "</s>", 4) == 0);
    ED_CHECK_INT(ed_tokenizer_piece(v, 15043, false, buf, 3, &len), ED_ERANGE);
    ED_CHECK_INT(len, 6);
    ED_CHECK_INT(ed_tokenizer_piece(v, 32000, false, buf, sizeof buf, &len), ED_EINVAL);

    /* Invalid UTF-8 comes back byte for byte (a stray lead byte does not
     * swallow the space after it). */
    const char bad[] = "hk\xff [/\xc3";
    ids = encode(v, bad, sizeof bad - 1, false, false, &n);
    ED_REQUIRE(ids);
    char decoded[32];
    ED_CHECK_INT(ed_tokenizer_decode(v, ids, n, false, decoded, sizeof decoded, &len), 0);
    ED_CHECK(len == sizeof bad - 1 && memcmp(decoded, bad, len) == 0);
    free(ids);

    /* A too-small output reports the size it needs. */
    int32_t small[2];
    ED_CHECK_INT(ed_tokenizer_encode(v, "Hello world again", 17, true, false, small, 2, &n), ED_ERANGE);
    ED_CHECK_INT(n, 4);
    unload(&l);
}

ED_TEST(bpe_metadata_and_specials)
{
    loaded_t l = load("gpt-2");
    ED_REQUIRE(l.vocab);
    const ed_vocab_t *v = l.vocab;
    ED_CHECK_INT(v->kind, ED_VOCAB_BPE);
    ED_CHECK_INT(v->pre_kind, ED_PRETOK_GPT2);
    ED_CHECK_INT(ed_vocab_find(v, "<|endoftext|>", 13), 50256);
    ED_CHECK(ed_vocab_is_eog(v, 50256));
    ED_CHECK_INT(ed_vocab_merge_rank(v, "\xc4\xa0", 2, "t", 1), 0); /* "Ġ t" is GPT-2's first merge */
    ED_CHECK_INT(ed_vocab_merge_rank(v, "t", 1, "\xc4\xa0", 2), -1);

    CHECK_ENCODE(v, "Hello<|endoftext|>", false, true, 15496, 50256);
    size_t n = 0;
    int32_t *ids = encode(v, "<|endoftext|>", 13, false, false, &n);
    ED_CHECK(ids && n > 1);
    free(ids);

    char buf[32];
    size_t len = 0;
    ED_CHECK_INT(ed_tokenizer_piece(v, 18435, false, buf, sizeof buf, &len), 0); /* " Hello" */
    ED_CHECK(len == 6 && memcmp(buf, " Hello", 6) == 0);
    ED_CHECK_INT(ed_tokenizer_piece(v, 198, false, buf, sizeof buf, &len), 0); /* "Ċ" */
    ED_CHECK(len == 1 && buf[0] == '\n');

    /* Invalid UTF-8 is read as U+FFFD (EF BF BD), as llama.cpp does. */
    const char bad[] = "a\xff" "b";
    ids = encode(v, bad, 3, false, false, &n);
    char decoded[64];
    ED_REQUIRE(ids);
    ED_CHECK_INT(ed_tokenizer_decode(v, ids, n, false, decoded, sizeof decoded, &len), 0);
    ED_CHECK(len == 5 && memcmp(decoded, "a\xef\xbf\xbd" "b", 5) == 0);
    free(ids);
    unload(&l);
}

ED_TEST(wpm_metadata_and_specials)
{
    loaded_t l = load("bert-bge");
    ED_REQUIRE(l.vocab);
    const ed_vocab_t *v = l.vocab;
    ED_CHECK_INT(v->kind, ED_VOCAB_WPM);
    ED_CHECK_INT(v->n_tokens, 30522);
    ED_CHECK_INT(v->bos, 101); /* [CLS], from cls_token_id */
    ED_CHECK_INT(v->sep, 102);
    ED_CHECK_INT(v->unk, 100);
    ED_CHECK(v->add_bos && v->add_sep && !v->add_eos);
    ED_CHECK_INT(v->byte_token['a'], ED_TOKEN_NONE);

    /* [CLS] text [SEP] with add_special; [SEP] in text only when parsed. */
    CHECK_ENCODE(v, "Hello world", true, false, 101, 7592, 2088, 102);
    CHECK_ENCODE(v, "", true, false, 101, 102);
    CHECK_ENCODE(v, "hello[SEP]world", false, true, 7592, 102, 2088);
    CHECK_ENCODE(v, "hello[SEP]", false, false, 7592, 1031, 19802, 1033);
    /* Precomposed letters lose their accents, case folds, controls vanish
     * without breaking the word, CJK ideographs stand alone. */
    CHECK_ENCODE(v, "CAF\xc3\x89 caf\xc3\xa9", false, false, 7668, 7668);
    CHECK_ENCODE(v, "a\x01" "b\x7f" "c", false, false, 5925);
    CHECK_ENCODE(v, "\xe4\xb8\x80\xe4\xb8\x80", false, false, 1740, 1740);
    /* Invalid UTF-8 is dropped, not a word break. */
    CHECK_ENCODE(v, "hel\xfflo", false, false, 7592);
    /* A word no pieces spell becomes one [UNK]. */
    CHECK_ENCODE(v, "\xf0\x9f\xa6\x99", false, false, 100);

    char buf[32];
    size_t len = 0;
    ED_CHECK_INT(ed_tokenizer_piece(v, 7592, false, buf, sizeof buf, &len), 0);
    ED_CHECK(len == 6 && memcmp(buf, " hello", 6) == 0);
    const int32_t ids[] = {101, 7592, 2088, 102};
    char decoded[64];
    ED_CHECK_INT(ed_tokenizer_decode(v, ids, 4, false, decoded, sizeof decoded, &len), 0);
    ED_CHECK(len == 11 && memcmp(decoded, "hello world", 11) == 0);
    unload(&l);
}

/* A model file carries the same vocabulary as its vocab-only twin. */
ED_TEST(vocab_loads_from_a_model_file)
{
    ed_gguf_t *gguf = NULL;
    ed_vocab_t *vocab = NULL;
    char err[ED_ERR_LEN] = "";
    ED_REQUIRE(ed_gguf_open(&gguf, "../shared/testdata/models/tiny-llama-Q8_0.gguf", err) == 0);
    ED_REQUIRE(ed_vocab_load(&vocab, gguf, err) == 0);
    ED_CHECK_INT(vocab->n_tokens, 32000);
    CHECK_ENCODE(vocab, "Hello world, this is a test.", true, false, 1, 15043, 3186, 29892, 445, 338, 263, 1243,
                 29889);
    ed_vocab_free(vocab);
    ed_gguf_close(gguf);
}

/* The pieces `kind` cuts `text` into, joined with '|'. */
static void split_joined(ed_pretok_kind_t kind, const char *text, char *out, size_t cap)
{
    ed_pretok_t *pretok = NULL;
    char err[ED_ERR_LEN];
    ed_spans_t spans = {0};
    out[0] = '\0';
    if (ed_pretok_init(&pretok, kind, err) < 0 || ed_pretok_split(pretok, text, strlen(text), &spans) < 0) {
        printf("#   pretok: %s\n", err);
        return;
    }
    size_t n = 0;
    for (size_t i = 0; i < spans.n; i++)
        n += (size_t)snprintf(out + n, cap - n, "%s%.*s", i ? "|" : "", (int)spans.spans[i].len,
                              text + spans.spans[i].offset);
    free(spans.spans);
    ed_pretok_free(pretok);
}

ED_TEST(pretokenizers_cut_as_their_regexes_say)
{
    char out[512];
    const char *text = "Hello world's 12345 I'LL\n\n  go!!";
    split_joined(ED_PRETOK_GPT2, text, out, sizeof out);
    ED_CHECK_STR(out, "Hello| world|'s| 12345| I|'|LL|\n\n | go|!!");
    split_joined(ED_PRETOK_LLAMA3, text, out, sizeof out);
    ED_CHECK_STR(out, "Hello| world|'s| |123|45| I|'LL|\n\n| | go|!!");
    split_joined(ED_PRETOK_QWEN2, text, out, sizeof out);
    ED_CHECK_STR(out, "Hello| world|'s| |1|2|3|4|5| I|'LL|\n\n| | go|!!");
    split_joined(ED_PRETOK_SMOLLM, text, out, sizeof out);
    ED_CHECK_STR(out, "Hello| world|'s| |1|2|3|4|5| I|'|LL|\n\n | go|!!");
    split_joined(ED_PRETOK_DEFAULT, "a, b 1234", out, sizeof out);
    ED_CHECK_STR(out, "a|,| b| |123|4");

    ed_pretok_kind_t kind;
    ED_CHECK_INT(ed_pretok_kind_from_name("llama-bpe", 9, &kind), 0);
    ED_CHECK_INT(kind, ED_PRETOK_LLAMA3);
    ED_CHECK_INT(ed_pretok_kind_from_name("smollm", 6, &kind), 0);
    ED_CHECK_INT(kind, ED_PRETOK_SMOLLM);
    ED_CHECK_INT(ed_pretok_kind_from_name("qwen2", 5, &kind), 0);
    ED_CHECK_INT(kind, ED_PRETOK_QWEN2);
    ED_CHECK_INT(ed_pretok_kind_from_name("tekken", 6, &kind), 0);
    ED_CHECK_INT(kind, ED_PRETOK_TEKKEN);
    ED_CHECK_INT(ed_pretok_kind_from_name("Tekken", 6, &kind), ED_EUNSUPPORTED); /* exact, as llama.cpp */
}

/* The gpt-2 vocabulary file with its tokenizer.ggml.pre value replaced by
 * `pre` (the string's u64 length and bytes rewritten in a copy). */
static char *with_pre(const char *pre, size_t *size)
{
    size_t len = 0;
    char *file = read_file(VOCAB_DIR "ggml-vocab-gpt-2.gguf", &len);
    static const char KEY[] = "tokenizer.ggml.pre";
    char *key = file ? memmem(file, len, KEY, sizeof KEY - 1) : NULL;
    if (!key) {
        free(file);
        return NULL;
    }
    /* key, u32 type (8: string), u64 length, bytes */
    char *value = key + sizeof KEY - 1 + 4;
    uint64_t old_len;
    memcpy(&old_len, value, 8);
    const uint64_t new_len = strlen(pre);
    size_t head = (size_t)(value - file), tail = len - head - 8 - (size_t)old_len;
    char *out = malloc(head + 8 + new_len + tail);
    memcpy(out, file, head);
    memcpy(out + head, &new_len, 8);
    memcpy(out + head + 8, pre, new_len);
    memcpy(out + head + 8 + new_len, value + 8 + old_len, tail);
    *size = head + 8 + new_len + tail;
    free(file);
    return out;
}

/* Loads the gpt-2 vocabulary under another pre-tokenizer name: 0 or the error. */
static int load_as(const char *pre, loaded_t *l, char **data, char err[ED_ERR_LEN])
{
    size_t size = 0;
    *l = (loaded_t){0};
    *data = with_pre(pre, &size);
    if (!*data)
        return ED_ENOENT;
    int rc = ed_gguf_open_memory(&l->gguf, *data, size, err);
    if (rc == 0)
        rc = ed_vocab_load(&l->vocab, l->gguf, err);
    return rc;
}

/* Every name loads (but the raw-byte kinds, refused by name) with the
 * loader's flags, and encodes; an unknown name is refused naming it. */
ED_TEST(vocab_takes_any_known_pre_tokenizer)
{
    loaded_t l;
    char *data = NULL, err[ED_ERR_LEN] = "";
    ED_CHECK_INT(load_as("llama-bpe", &l, &data, err), 0);
    ED_REQUIRE(l.vocab);
    ED_CHECK(l.vocab->pre_kind == ED_PRETOK_LLAMA3 && l.vocab->ignore_merges && !l.vocab->add_sep);
    unload(&l);
    free(data);

    ED_CHECK_INT(load_as("roberta-bpe", &l, &data, err), 0);
    ED_CHECK(l.vocab && l.vocab->pre_kind == ED_PRETOK_GPT2_SEP && !l.vocab->ignore_merges);
    unload(&l);
    free(data);

    ED_CHECK_INT(load_as("tekkenx", &l, &data, err), ED_EUNSUPPORTED);
    ED_CHECK(strstr(err, "\"tekkenx\"") && strstr(err, "not supported"));
    unload(&l);
    free(data);
    ED_CHECK_INT(load_as("gemma4", &l, &data, err), ED_EUNSUPPORTED);
    ED_CHECK(strstr(err, "\"gemma4\"") && strstr(err, "raw UTF-8"));
    unload(&l);
    free(data);

    ed_pretok_kind_t kind;
    size_t n_loaded = 0;
    for (size_t i = 0; ed_pretok_name_at(i, &kind) != NULL; i++) {
        const char *name = ed_pretok_name_at(i, &kind);
        int rc = load_as(name, &l, &data, err);
        if (ed_pretok_flags(kind) & ED_PRETOK_RAW_BYTES) {
            ED_CHECK_INT(rc, ED_EUNSUPPORTED);
        } else if (rc != 0 || !l.vocab) {
            printf("#   %s: %s\n", name, err);
            ED_CHECK(!"a known pre-tokenizer did not load");
        } else {
            n_loaded++;
            ED_CHECK_INT(l.vocab->pre_kind, kind);
            ED_CHECK_INT(l.vocab->ignore_merges, !!(ed_pretok_flags(kind) & ED_PRETOK_IGNORE_MERGES));
            /* Byte-level: whatever the cut, the text comes back. */
            static const char TEXT[] = "Hello world's 12345 \xe4\xb8\xad\xe6\x96\x87 I'LL\n\n  go!!";
            size_t n = 0;
            int32_t *ids = encode(l.vocab, TEXT, sizeof TEXT - 1, false, false, &n);
            char decoded[256];
            size_t n_decoded = 0;
            ED_CHECK(ids && n > 0 &&
                     ed_tokenizer_decode(l.vocab, ids, n, false, decoded, sizeof decoded, &n_decoded) == 0 &&
                     n_decoded == sizeof TEXT - 1 && memcmp(decoded, TEXT, n_decoded) == 0);
            free(ids);
        }
        unload(&l);
        free(data);
    }
    printf("# %zu names load with the gpt-2 vocabulary and round-trip\n", n_loaded);
}

static double seconds_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* One long word is the worst case for the merge loop (a single piece); a
 * quadratic loop takes minutes here, the priority queue well under a second. */
ED_TEST(long_inputs_encode_fast)
{
    const char *names[] = {"llama-spm", "gpt-2", "bert-bge"};
    size_t len = 1 << 20;
    char *text = malloc(len);
    int32_t *ids = malloc(len * sizeof *ids);
    ED_REQUIRE(text && ids);
    for (int k = 0; k < 3; k++) {
        loaded_t l = load(names[k]);
        ED_REQUIRE(l.vocab);
        for (int shape = 0; shape < 2; shape++) {
            for (size_t i = 0; i < len; i++)
                text[i] = shape == 0 ? "abcdefghij"[i % 10] : "the cat sat on a mat. "[i % 22];
            double start = seconds_now();
            size_t n = 0;
            ED_CHECK_INT(ed_tokenizer_encode(l.vocab, text, len, false, false, ids, len, &n), 0);
            double took = seconds_now() - start;
            printf("# %s, 1 MiB of %s: %zu tokens in %.3f s\n", names[k], shape ? "prose" : "one word", n, took);
            ED_CHECK(n > 0 && took < 10.0);
        }
        unload(&l);
    }
    free(text);
    free(ids);
}

ED_TEST_MAIN(llama_spm_matches_reference, gpt2_matches_reference, bert_bge_matches_reference,
             spm_metadata_and_specials, wpm_metadata_and_specials,
             bpe_metadata_and_specials, vocab_loads_from_a_model_file, pretokenizers_cut_as_their_regexes_say,
             vocab_takes_any_known_pre_tokenizer,
             long_inputs_encode_fast)
