/* tests/unit/model/wordpiece.c - the WordPiece encoder's parts: the
 * generated Unicode lookups (classes, lowercase, NFD heads), its UTF-8
 * reading (invalid bytes as llama.cpp reads them) and the greedy split on a
 * small hand-made vocabulary (longest piece first, a word with an unmatched
 * stretch becomes [UNK] whole, CLS/SEP around the text). The full
 * vocabulary is checked against llama.cpp in tests/model/vocab.c. */
#include "daemon/model/wordpiece.c"

#include "model/unicode_data.h"
#include "model/vocab.h"
#include "tests/test.h"
#include "tests/tools/gguf_writer.h"

ED_TEST(unicode_classes)
{
    ED_CHECK_INT(ed_unicode_flags(' '), ED_UNICODE_WHITESPACE);
    ED_CHECK_INT(ed_unicode_flags('\t'), ED_UNICODE_WHITESPACE | ED_UNICODE_CONTROL);
    ED_CHECK_INT(ed_unicode_flags(0x1c), ED_UNICODE_CONTROL); /* a separator to Python, not White_Space */
    ED_CHECK_INT(ed_unicode_flags(0x3000), ED_UNICODE_WHITESPACE);
    ED_CHECK_INT(ed_unicode_flags('a'), 0);
    ED_CHECK_INT(ed_unicode_flags('7'), 0);
    ED_CHECK_INT(ed_unicode_flags('!'), ED_UNICODE_PUNCTUATION);
    ED_CHECK_INT(ed_unicode_flags('$'), ED_UNICODE_SYMBOL);
    ED_CHECK_INT(ed_unicode_flags(0x00bd), 0);                      /* 1/2: a number */
    ED_CHECK_INT(ed_unicode_flags(0x0301), 0);                      /* a combining mark */
    ED_CHECK_INT(ed_unicode_flags(0x200d), ED_UNICODE_CONTROL);     /* ZWJ: Cf */
    ED_CHECK_INT(ed_unicode_flags(0xe000), ED_UNICODE_CONTROL);     /* private use */
    ED_CHECK_INT(ed_unicode_flags(0x10ffff), ED_UNICODE_CONTROL);   /* unassigned */
    ED_CHECK_INT(ed_unicode_flags(0x110000), ED_UNICODE_CONTROL);   /* past Unicode */
    ED_CHECK_INT(ed_unicode_flags(0x1f680), ED_UNICODE_SYMBOL);     /* rocket */
    ED_CHECK(strcmp(ed_unicode_version, "") != 0);
}

ED_TEST(unicode_lowercase_and_nfd)
{
    ED_CHECK_INT(ed_unicode_lower('A'), 'a');
    ED_CHECK_INT(ed_unicode_lower('a'), 'a');
    ED_CHECK_INT(ed_unicode_lower(0x03a3), 0x03c3); /* Sigma */
    ED_CHECK_INT(ed_unicode_lower(0x0130), 'i');    /* dotted I: the first code point of "i\u0307" */
    ED_CHECK_INT(ed_unicode_lower(0x212a), 'k');    /* Kelvin sign */
    ED_CHECK_INT(ed_unicode_lower(0x10400), 0x10428);
    ED_CHECK_INT(ed_unicode_nfd_first(0x00e9), 'e');
    ED_CHECK_INT(ed_unicode_nfd_first(0x1ec7), 'e'); /* e with circumflex and dot below */
    ED_CHECK_INT(ed_unicode_nfd_first(0xac00), 0x1100); /* the first Hangul syllable */
    ED_CHECK_INT(ed_unicode_nfd_first(0xd7a3), 0x1112); /* the last */
    ED_CHECK_INT(ed_unicode_nfd_first(0xd7a4), 0xd7a4);
    ED_CHECK_INT(ed_unicode_nfd_first('a'), 'a');
    ED_CHECK_INT(ed_unicode_nfd_first(0x00bd), 0x00bd); /* NFD leaves compatibility forms */
}

static uint32_t read_one(const char *s, size_t len, size_t *used)
{
    *used = 0;
    return next_codepoint((const unsigned char *)s, len, used);
}

ED_TEST(utf8_as_llama_cpp_reads_it)
{
    size_t used;
    ED_CHECK_INT(read_one("\xc3\xa9", 2, &used), 0xe9);
    ED_CHECK_INT(used, 2);
    ED_CHECK_INT(read_one("\xf0\x9f\xa6\x99", 4, &used), 0x1f999);
    ED_CHECK_INT(used, 4);
    ED_CHECK_INT(read_one("\xc3", 1, &used), 0xfffd); /* truncated */
    ED_CHECK_INT(used, 1);
    ED_CHECK_INT(read_one("\xe2\x82x", 3, &used), 0xfffd); /* a continuation missing */
    ED_CHECK_INT(used, 1);
    ED_CHECK_INT(read_one("\x80", 1, &used), 0xfffd); /* a stray continuation */
    ED_CHECK_INT(read_one("\xf8\x80\x80\x80\x80", 5, &used), 0xfffd);
    ED_CHECK_INT(used, 1);
}

/* A vocabulary of a few pieces, as llama.cpp's converter writes BERT's:
 * word starts with U+2581, continuations without "##". */
static ed_gguf_buf_t tiny_vocab(void)
{
    static const char *const TOKENS[] = {
        "[PAD]", "[UNK]", "[CLS]", "[SEP]", "\xe2\x96\x81un", "\xe2\x96\x81unaff", "able", "aff",
        "\xe2\x96\x81" "a", "\xe2\x96\x81!", "\xe2\x96\x81" "caf", "e", "\xe2\x96\x81\xe4\xb8\x80",
    };
    int32_t types[sizeof TOKENS / sizeof TOKENS[0]];
    for (size_t i = 0; i < sizeof TOKENS / sizeof TOKENS[0]; i++)
        types[i] = i < 4 ? ED_TOKEN_CONTROL : ED_TOKEN_NORMAL;
    ed_gguf_writer_t w;
    ed_gguf_writer_init(&w);
    ed_gguf_writer_str(&w, "tokenizer.ggml.model", "bert");
    ed_gguf_writer_arr_str(&w, "tokenizer.ggml.tokens", TOKENS, sizeof TOKENS / sizeof TOKENS[0]);
    ed_gguf_writer_arr(&w, "tokenizer.ggml.token_type", ED_GGUF_INT32, types, sizeof types / sizeof types[0],
                       sizeof types[0]);
    ed_gguf_writer_u32(&w, "tokenizer.ggml.unknown_token_id", 1);
    ed_gguf_writer_u32(&w, "tokenizer.ggml.cls_token_id", 2);
    ed_gguf_writer_u32(&w, "tokenizer.ggml.seperator_token_id", 3);
    ed_gguf_buf_t file = {0};
    ed_gguf_writer_header(&w, &file);
    ed_gguf_writer_free(&w);
    return file;
}

#define CHECK_IDS(vocab, text, add_special, ...)                                                   \
    do {                                                                                           \
        static const int32_t want_[] = {__VA_ARGS__};                                              \
        int32_t ids_[32];                                                                          \
        size_t n_ = 0;                                                                             \
        ED_CHECK_INT(ed_tokenizer_encode(vocab, text, strlen(text), add_special, false, ids_, 32, &n_), 0); \
        ED_CHECK_INT(n_, sizeof want_ / sizeof want_[0]);                                          \
        ED_CHECK(n_ == sizeof want_ / sizeof want_[0] && memcmp(ids_, want_, sizeof want_) == 0);  \
    } while (0)

ED_TEST(greedy_longest_match_and_unknown_words)
{
    ed_gguf_buf_t file = tiny_vocab();
    ed_gguf_t *gguf = NULL;
    ed_vocab_t *vocab = NULL;
    char err[ED_ERR_LEN] = "";
    ED_REQUIRE(ed_gguf_open_memory(&gguf, file.data, file.len, err) == 0);
    ED_REQUIRE(ed_vocab_load(&vocab, gguf, err) == 0);
    ED_CHECK_INT(vocab->kind, ED_VOCAB_WPM);
    ED_CHECK_INT(vocab->max_token_len, 8); /* "\u2581unaff" */

    CHECK_IDS(vocab, "unaffable", false, 5, 6);         /* "unaff" beats "un" + "aff" */
    CHECK_IDS(vocab, "UNAFF", false, 5);
    CHECK_IDS(vocab, "unaffablex a", false, 1, 8);      /* no piece for "x": the word is [UNK] */
    CHECK_IDS(vocab, "a!a", true, 2, 8, 9, 8, 3);       /* punctuation stands alone */
    CHECK_IDS(vocab, "  caf\xc3\xa9\te  ", false, 10, 11, 1); /* accent gone; "e" starts no word */
    CHECK_IDS(vocab, "a\xe4\xb8\x80" "a", false, 8, 12, 8); /* a CJK ideograph cuts the word */
    CHECK_IDS(vocab, "\xe2\x80\x8d\x01", true, 2, 3);   /* controls only: nothing between CLS and SEP */
    ed_vocab_free(vocab);
    ed_gguf_close(gguf);
    ed_gguf_buf_free(&file);
}

ED_TEST_MAIN(unicode_classes, unicode_lowercase_and_nfd, utf8_as_llama_cpp_reads_it,
             greedy_longest_match_and_unknown_words)
