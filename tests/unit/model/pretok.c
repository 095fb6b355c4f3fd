/* tests/unit/model/pretok.c - the BPE pre-tokenizers of model/pretok: every
 * tokenizer.ggml.pre name llama.cpp knows cuts a set of strings (contractions,
 * digit runs, CJK, whitespace runs, punctuation, newlines) as llama.cpp's
 * expressions say, every name in the table has a case, unknown names are
 * refused, and the special steps (empty matches, AFMoE's digit groups, Kimi
 * K2's Han runs, llama.cpp's reading of \p{Lu} and \d) are pinned by hand. */
#include "model/pretok.h"
#include "tests/test.h"

#include <stdbool.h>
#include <stdint.h>

/* The strings every kind cuts; CASES index them. */
static const char *const TEXTS[] = {
    "Hello world's 12345 I'LL\n\n  go!!",
    "x=1234567; y = 'ab'\r\n\tz  ",
    "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x83\x86\xe3\x82\xad\xe3\x82\xb9\xe3\x83\x88 \xe4\xb8\xad\xe6\x96\x87 "
    "\xed\x95\x9c\xea\xb5\xad\xec\x96\xb4 ok", /* 日本語テキスト 中文 한국어 ok */
    "HelloWorld HTTPServer camelCase don'T",
    "a  \n b$+<=>^~|`c (1, 2). 123abc",
};

/* Expected pieces joined with '|'. Written by tests/data/pretok/splits.py:
 * llama.cpp's expressions (copied there from src/llama-vocab.cpp, not from
 * pretok.c) evaluated with Python's `regex` module the way llama.cpp's
 * unicode_regex_split applies them, and Python ports of llama.cpp's Kimi K2
 * and AFMoE code; spot-checked by hand (see the tests below). */
static const struct {
    const char *name;
    int text;
    const char *pieces;
} CASES[] = {
    {"default", 0, "Hello| world|'|s| |123|45| I|'|LL|\n\n | go|!!"},
    {"default", 1, "x|=|123|456|7|;| y| |=| |'|ab|'|\r\n|\t|z|  "},
    {"default", 2, "\xe6\x97\xa5""\xe6\x9c\xac""\xe8\xaa\x9e""\xe3\x83\x86""\xe3\x82\xad""\xe3\x82\xb9""\xe3\x83\x88""| \xe4\xb8\xad""\xe6\x96\x87""| \xed\x95\x9c""\xea\xb5\xad""\xec\x96\xb4""| ok"},
    {"default", 3, "HelloWorld| HTTPServer| camelCase| don|'|T"},
    {"default", 4, "a|  \n| b|$+<=>^~||`|c| |(|1|,| |2|).| |123|abc"},
    {"gpt-2", 0, "Hello| world|'s| 12345| I|'|LL|\n\n | go|!!"},
    {"gpt-2", 1, "x|=|1234567|;| y| =| '|ab|'|\r\n|\t|z|  "},
    {"gpt-2", 2, "\xe6\x97\xa5""\xe6\x9c\xac""\xe8\xaa\x9e""\xe3\x83\x86""\xe3\x82\xad""\xe3\x82\xb9""\xe3\x83\x88""| \xe4\xb8\xad""\xe6\x96\x87""| \xed\x95\x9c""\xea\xb5\xad""\xec\x96\xb4""| ok"},
    {"gpt-2", 3, "HelloWorld| HTTPServer| camelCase| don|'|T"},
    {"gpt-2", 4, "a|  \n| b|$+<=>^~|`|c| (|1|,| 2|).| 123|abc"},
    {"phi-2", 0, "Hello| world|'s| 12345| I|'|LL|\n\n | go|!!"},
    {"jina-es", 0, "Hello| world|'s| 12345| I|'|LL|\n\n | go|!!"},
    {"jina-de", 0, "Hello| world|'s| 12345| I|'|LL|\n\n | go|!!"},
    {"gigachat", 0, "Hello| world|'s| 12345| I|'|LL|\n\n | go|!!"},
    {"jina-v2-es", 0, "Hello| world|'s| 12345| I|'|LL|\n\n | go|!!"},
    {"jina-v2-de", 0, "Hello| world|'s| 12345| I|'|LL|\n\n | go|!!"},
    {"a.x-4.0", 0, "Hello| world|'s| 12345| I|'|LL|\n\n | go|!!"},
    {"mellum", 0, "Hello| world|'s| 12345| I|'|LL|\n\n | go|!!"},
    {"modern-bert", 0, "Hello| world|'s| 12345| I|'|LL|\n\n | go|!!"},
    {"exaone4", 0, "Hello| world|'s| 12345| I|'|LL|\n\n | go|!!"},
    {"gpt2", 0, "Hello| world|'s| 12345| I|'|LL|\n\n | go|!!"},
    {"jina-v1-en", 0, "Hello| world|'s| 12345| I|'|LL|\n\n | go|!!"},
    {"jina-v1-en", 1, "x|=|1234567|;| y| =| '|ab|'|\r\n|\t|z|  "},
    {"jina-v1-en", 2, "\xe6\x97\xa5""\xe6\x9c\xac""\xe8\xaa\x9e""\xe3\x83\x86""\xe3\x82\xad""\xe3\x82\xb9""\xe3\x83\x88""| \xe4\xb8\xad""\xe6\x96\x87""| \xed\x95\x9c""\xea\xb5\xad""\xec\x96\xb4""| ok"},
    {"jina-v1-en", 3, "HelloWorld| HTTPServer| camelCase| don|'|T"},
    {"jina-v1-en", 4, "a|  \n| b|$+<=>^~|`|c| (|1|,| 2|).| 123|abc"},
    {"jina-v2-code", 0, "Hello| world|'s| 12345| I|'|LL|\n\n | go|!!"},
    {"roberta-bpe", 0, "Hello| world|'s| 12345| I|'|LL|\n\n | go|!!"},
    {"mpt", 0, "Hello| world|'s| 12345| I|'|LL|\n\n | go|!!"},
    {"mpt", 1, "x|=|1234567|;| y| =| '|ab|'|\r\n|\t|z|  "},
    {"mpt", 2, "\xe6\x97\xa5""\xe6\x9c\xac""\xe8\xaa\x9e""\xe3\x83\x86""\xe3\x82\xad""\xe3\x82\xb9""\xe3\x83\x88""| \xe4\xb8\xad""\xe6\x96\x87""| \xed\x95\x9c""\xea\xb5\xad""\xec\x96\xb4""| ok"},
    {"mpt", 3, "HelloWorld| HTTPServer| camelCase| don|'|T"},
    {"mpt", 4, "a|  \n| b|$+<=>^~|`|c| (|1|,| 2|).| 123|abc"},
    {"olmo", 0, "Hello| world|'s| 12345| I|'|LL|\n\n | go|!!"},
    {"olmo", 1, "x|=|1234567|;| y| =| '|ab|'|\r\n|\t|z|  "},
    {"olmo", 2, "\xe6\x97\xa5""\xe6\x9c\xac""\xe8\xaa\x9e""\xe3\x83\x86""\xe3\x82\xad""\xe3\x82\xb9""\xe3\x83\x88""| \xe4\xb8\xad""\xe6\x96\x87""| \xed\x95\x9c""\xea\xb5\xad""\xec\x96\xb4""| ok"},
    {"olmo", 3, "HelloWorld| HTTPServer| camelCase| don|'|T"},
    {"olmo", 4, "a|  \n| b|$+<=>^~|`|c| (|1|,| 2|).| 123|abc"},
    {"jais", 0, "Hello| world|'s| 12345| I|'|LL|\n\n | go|!!"},
    {"jais", 1, "x|=|1234567|;| y| =| '|ab|'|\r\n|\t|z|  "},
    {"jais", 2, "\xe6\x97\xa5""\xe6\x9c\xac""\xe8\xaa\x9e""\xe3\x83\x86""\xe3\x82\xad""\xe3\x82\xb9""\xe3\x83\x88""| \xe4\xb8\xad""\xe6\x96\x87""| \xed\x95\x9c""\xea\xb5\xad""\xec\x96\xb4""| ok"},
    {"jais", 3, "HelloWorld| HTTPServer| camelCase| don|'|T"},
    {"jais", 4, "a|  \n| b|$+<=>^~|`|c| (|1|,| 2|).| 123|abc"},
    {"trillion", 0, "Hello| world|'s| 12345| I|'|LL|\n\n | go|!!"},
    {"trillion", 1, "x|=|1234567|;| y| =| '|ab|'|\r\n|\t|z|  "},
    {"trillion", 2, "\xe6\x97\xa5""\xe6\x9c\xac""\xe8\xaa\x9e""\xe3\x83\x86""\xe3\x82\xad""\xe3\x82\xb9""\xe3\x83\x88""| \xe4\xb8\xad""\xe6\x96\x87""| \xed\x95\x9c""\xea\xb5\xad""\xec\x96\xb4""| ok"},
    {"trillion", 3, "HelloWorld| HTTPServer| camelCase| don|'|T"},
    {"trillion", 4, "a|  \n| b|$+<=>^~|`|c| (|1|,| 2|).| 123|abc"},
    {"granite-docling", 0, "Hello| world|'s| 12345| I|'|LL|\n\n | go|!!"},
    {"granite-docling", 1, "x|=|1234567|;| y| =| '|ab|'|\r\n|\t|z|  "},
    {"granite-docling", 2, "\xe6\x97\xa5""\xe6\x9c\xac""\xe8\xaa\x9e""\xe3\x83\x86""\xe3\x82\xad""\xe3\x82\xb9""\xe3\x83\x88""| \xe4\xb8\xad""\xe6\x96\x87""| \xed\x95\x9c""\xea\xb5\xad""\xec\x96\xb4""| ok"},
    {"granite-docling", 3, "HelloWorld| HTTPServer| camelCase| don|'|T"},
    {"granite-docling", 4, "a|  \n| b|$+<=>^~|`|c| (|1|,| 2|).| 123|abc"},
    {"starcoder", 0, "Hello| world|'s| |1|2|3|4|5| I|'|LL|\n\n | go|!!"},
    {"starcoder", 1, "x|=|1|2|3|4|5|6|7|;| y| =| '|ab|'|\r\n|\t|z|  "},
    {"starcoder", 2, "\xe6\x97\xa5""\xe6\x9c\xac""\xe8\xaa\x9e""\xe3\x83\x86""\xe3\x82\xad""\xe3\x82\xb9""\xe3\x83\x88""| \xe4\xb8\xad""\xe6\x96\x87""| \xed\x95\x9c""\xea\xb5\xad""\xec\x96\xb4""| ok"},
    {"starcoder", 3, "HelloWorld| HTTPServer| camelCase| don|'|T"},
    {"starcoder", 4, "a|  \n| b|$+<=>^~|`|c| (|1|,| |2|).| |1|2|3|abc"},
    {"refact", 0, "Hello| world|'s| |1|2|3|4|5| I|'|LL|\n\n | go|!!"},
    {"refact", 1, "x|=|1|2|3|4|5|6|7|;| y| =| '|ab|'|\r\n|\t|z|  "},
    {"refact", 2, "\xe6\x97\xa5""\xe6\x9c\xac""\xe8\xaa\x9e""\xe3\x83\x86""\xe3\x82\xad""\xe3\x82\xb9""\xe3\x83\x88""| \xe4\xb8\xad""\xe6\x96\x87""| \xed\x95\x9c""\xea\xb5\xad""\xec\x96\xb4""| ok"},
    {"refact", 3, "HelloWorld| HTTPServer| camelCase| don|'|T"},
    {"refact", 4, "a|  \n| b|$+<=>^~|`|c| (|1|,| |2|).| |1|2|3|abc"},
    {"command-r", 0, "Hello| world|'s| |1|2|3|4|5| I|'|LL|\n\n | go|!!"},
    {"command-r", 1, "x|=|1|2|3|4|5|6|7|;| y| =| '|ab|'|\r\n|\t|z|  "},
    {"command-r", 2, "\xe6\x97\xa5""\xe6\x9c\xac""\xe8\xaa\x9e""\xe3\x83\x86""\xe3\x82\xad""\xe3\x82\xb9""\xe3\x83\x88""| \xe4\xb8\xad""\xe6\x96\x87""| \xed\x95\x9c""\xea\xb5\xad""\xec\x96\xb4""| ok"},
    {"command-r", 3, "HelloWorld| HTTPServer| camelCase| don|'|T"},
    {"command-r", 4, "a|  \n| b|$+<=>^~|`|c| (|1|,| |2|).| |1|2|3|abc"},
    {"smollm", 0, "Hello| world|'s| |1|2|3|4|5| I|'|LL|\n\n | go|!!"},
    {"smollm", 1, "x|=|1|2|3|4|5|6|7|;| y| =| '|ab|'|\r\n|\t|z|  "},
    {"smollm", 2, "\xe6\x97\xa5""\xe6\x9c\xac""\xe8\xaa\x9e""\xe3\x83\x86""\xe3\x82\xad""\xe3\x82\xb9""\xe3\x83\x88""| \xe4\xb8\xad""\xe6\x96\x87""| \xed\x95\x9c""\xea\xb5\xad""\xec\x96\xb4""| ok"},
    {"smollm", 3, "HelloWorld| HTTPServer| camelCase| don|'|T"},
    {"smollm", 4, "a|  \n| b|$+<=>^~|`|c| (|1|,| |2|).| |1|2|3|abc"},
    {"codeshell", 0, "Hello| world|'s| |1|2|3|4|5| I|'|LL|\n\n | go|!!"},
    {"codeshell", 1, "x|=|1|2|3|4|5|6|7|;| y| =| '|ab|'|\r\n|\t|z|  "},
    {"codeshell", 2, "\xe6\x97\xa5""\xe6\x9c\xac""\xe8\xaa\x9e""\xe3\x83\x86""\xe3\x82\xad""\xe3\x82\xb9""\xe3\x83\x88""| \xe4\xb8\xad""\xe6\x96\x87""| \xed\x95\x9c""\xea\xb5\xad""\xec\x96\xb4""| ok"},
    {"codeshell", 3, "HelloWorld| HTTPServer| camelCase| don|'|T"},
    {"codeshell", 4, "a|  \n| b|$+<=>^~|`|c| (|1|,| |2|).| |1|2|3|abc"},
    {"exaone", 0, "Hello| world|'s| |1|2|3|4|5| I|'|LL|\n\n | go|!!"},
    {"exaone", 1, "x|=|1|2|3|4|5|6|7|;| y| =| '|ab|'|\r\n|\t|z|  "},
    {"exaone", 2, "\xe6\x97\xa5""\xe6\x9c\xac""\xe8\xaa\x9e""\xe3\x83\x86""\xe3\x82\xad""\xe3\x82\xb9""\xe3\x83\x88""| \xe4\xb8\xad""\xe6\x96\x87""| \xed\x95\x9c""\xea\xb5\xad""\xec\x96\xb4""| ok"},
    {"exaone", 3, "HelloWorld| HTTPServer| camelCase| don|'|T"},
    {"exaone", 4, "a|  \n| b|$+<=>^~|`|c| (|1|,| |2|).| |1|2|3|abc"},
    {"minerva-7b", 0, "Hello| world|'s| |1|2|3|4|5| I|'|LL|\n\n | go|!!"},
    {"minerva-7b", 1, "x|=|1|2|3|4|5|6|7|;| y| =| '|ab|'|\r\n|\t|z|  "},
    {"minerva-7b", 2, "\xe6\x97\xa5""\xe6\x9c\xac""\xe8\xaa\x9e""\xe3\x83\x86""\xe3\x82\xad""\xe3\x82\xb9""\xe3\x83\x88""| \xe4\xb8\xad""\xe6\x96\x87""| \xed\x95\x9c""\xea\xb5\xad""\xec\x96\xb4""| ok"},
    {"minerva-7b", 3, "HelloWorld| HTTPServer| camelCase| don|'|T"},
    {"minerva-7b", 4, "a|  \n| b|$+<=>^~|`|c| (|1|,| |2|).| |1|2|3|abc"},
    {"mellum2", 0, "Hello| world|'s| |1|2|3|4|5| I|'|LL|\n\n | go|!!"},
    {"mellum2", 1, "x|=|1|2|3|4|5|6|7|;| y| =| '|ab|'|\r\n|\t|z|  "},
    {"mellum2", 2, "\xe6\x97\xa5""\xe6\x9c\xac""\xe8\xaa\x9e""\xe3\x83\x86""\xe3\x82\xad""\xe3\x82\xb9""\xe3\x83\x88""| \xe4\xb8\xad""\xe6\x96\x87""| \xed\x95\x9c""\xea\xb5\xad""\xec\x96\xb4""| ok"},
    {"mellum2", 3, "HelloWorld| HTTPServer| camelCase| don|'|T"},
    {"mellum2", 4, "a|  \n| b|$+<=>^~|`|c| (|1|,| |2|).| |1|2|3|abc"},
    {"falcon", 0, "Hello| world|'|s| |123|45| I|'|LL|\n\n | go|!!"},
    {"falcon", 1, "x|=|123|456|7|;| y| |=| |'|ab|'|\r\n|\t|z|  "},
    {"falcon", 2, "\xe6\x97\xa5""\xe6\x9c\xac""\xe8\xaa\x9e""\xe3\x83\x86""\xe3\x82\xad""\xe3\x82\xb9""\xe3\x83\x88""| \xe4\xb8\xad""\xe6\x96\x87""| \xed\x95\x9c""\xea\xb5\xad""\xec\x96\xb4""| ok"},
    {"falcon", 3, "HelloWorld| HTTPServer| camelCase| don|'|T"},
    {"falcon", 4, "a|  \n| b|$+<=>^~|`|c| |(|1|,| 2|).| |123|abc"},
    {"llama3", 0, "Hello| world|'s| |123|45| I|'LL|\n\n| | go|!!"},
    {"llama3", 1, "x|=|123|456|7|;| y| =| '|ab|'\r\n|\tz|  "},
    {"llama3", 2, "\xe6\x97\xa5""\xe6\x9c\xac""\xe8\xaa\x9e""\xe3\x83\x86""\xe3\x82\xad""\xe3\x82\xb9""\xe3\x83\x88""| \xe4\xb8\xad""\xe6\x96\x87""| \xed\x95\x9c""\xea\xb5\xad""\xec\x96\xb4""| ok"},
    {"llama3", 3, "HelloWorld| HTTPServer| camelCase| don|'T"},
    {"llama3", 4, "a|  \n| b|$+<=>^~|`|c| (|1|,| |2|).| |123|abc"},
    {"llama-v3", 0, "Hello| world|'s| |123|45| I|'LL|\n\n| | go|!!"},
    {"llama-bpe", 0, "Hello| world|'s| |123|45| I|'LL|\n\n| | go|!!"},
    {"falcon3", 0, "Hello| world|'s| |123|45| I|'LL|\n\n| | go|!!"},
    {"falcon-h1", 0, "Hello| world|'s| |123|45| I|'LL|\n\n| | go|!!"},
    {"pixtral", 0, "Hello| world|'s| |123|45| I|'LL|\n\n| | go|!!"},
    {"midm-2.0", 0, "Hello| world|'s| |123|45| I|'LL|\n\n| | go|!!"},
    {"lfm2", 0, "Hello| world|'s| |123|45| I|'LL|\n\n| | go|!!"},
    {"jina-v5-nano", 0, "Hello| world|'s| |123|45| I|'LL|\n\n| | go|!!"},
    {"dbrx", 0, "Hello| world|'s| |123|45| I|'LL|\n\n| | go|!!"},
    {"dbrx", 1, "x|=|123|456|7|;| y| =| '|ab|'\r\n|\tz|  "},
    {"dbrx", 2, "\xe6\x97\xa5""\xe6\x9c\xac""\xe8\xaa\x9e""\xe3\x83\x86""\xe3\x82\xad""\xe3\x82\xb9""\xe3\x83\x88""| \xe4\xb8\xad""\xe6\x96\x87""| \xed\x95\x9c""\xea\xb5\xad""\xec\x96\xb4""| ok"},
    {"dbrx", 3, "HelloWorld| HTTPServer| camelCase| don|'T"},
    {"dbrx", 4, "a|  \n| b|$+<=>^~|`|c| (|1|,| |2|).| |123|abc"},
    {"smaug-bpe", 0, "Hello| world|'s| |123|45| I|'LL|\n\n| | go|!!"},
    {"smaug-bpe", 1, "x|=|123|456|7|;| y| =| '|ab|'\r\n|\tz|  "},
    {"smaug-bpe", 2, "\xe6\x97\xa5""\xe6\x9c\xac""\xe8\xaa\x9e""\xe3\x83\x86""\xe3\x82\xad""\xe3\x82\xb9""\xe3\x83\x88""| \xe4\xb8\xad""\xe6\x96\x87""| \xed\x95\x9c""\xea\xb5\xad""\xec\x96\xb4""| ok"},
    {"smaug-bpe", 3, "HelloWorld| HTTPServer| camelCase| don|'T"},
    {"smaug-bpe", 4, "a|  \n| b|$+<=>^~|`|c| (|1|,| |2|).| |123|abc"},
    {"glm4", 0, "Hello| world|'s| |123|45| I|'LL|\n\n| | go|!!"},
    {"glm4", 1, "x|=|123|456|7|;| y| =| '|ab|'\r\n|\tz|  "},
    {"glm4", 2, "\xe6\x97\xa5""\xe6\x9c\xac""\xe8\xaa\x9e""\xe3\x83\x86""\xe3\x82\xad""\xe3\x82\xb9""\xe3\x83\x88""| \xe4\xb8\xad""\xe6\x96\x87""| \xed\x95\x9c""\xea\xb5\xad""\xec\x96\xb4""| ok"},
    {"glm4", 3, "HelloWorld| HTTPServer| camelCase| don|'T"},
    {"glm4", 4, "a|  \n| b|$+<=>^~|`|c| (|1|,| |2|).| |123|abc"},
    {"chatglm-bpe", 0, "Hello| world|'s| |123|45| I|'LL|\n\n| | go|!!"},
    {"jais-2", 0, "Hello| world|'s| |123|45| I|'LL|\n\n| | go|!!"},
    {"jais-2", 1, "x|=|123|456|7|;| y| =| '|ab|'\r\n|\tz|  "},
    {"jais-2", 2, "\xe6\x97\xa5""\xe6\x9c\xac""\xe8\xaa\x9e""\xe3\x83\x86""\xe3\x82\xad""\xe3\x82\xb9""\xe3\x83\x88""| \xe4\xb8\xad""\xe6\x96\x87""| \xed\x95\x9c""\xea\xb5\xad""\xec\x96\xb4""| ok"},
    {"jais-2", 3, "HelloWorld| HTTPServer| camelCase| don|'T"},
    {"jais-2", 4, "a|  \n| b|$+<=>^~|`|c| (|1|,| |2|).| |123|abc"},
    {"qwen2", 0, "Hello| world|'s| |1|2|3|4|5| I|'LL|\n\n| | go|!!"},
    {"qwen2", 1, "x|=|1|2|3|4|5|6|7|;| y| =| '|ab|'\r\n|\tz|  "},
    {"qwen2", 2, "\xe6\x97\xa5""\xe6\x9c\xac""\xe8\xaa\x9e""\xe3\x83\x86""\xe3\x82\xad""\xe3\x82\xb9""\xe3\x83\x88""| \xe4\xb8\xad""\xe6\x96\x87""| \xed\x95\x9c""\xea\xb5\xad""\xec\x96\xb4""| ok"},
    {"qwen2", 3, "HelloWorld| HTTPServer| camelCase| don|'T"},
    {"qwen2", 4, "a|  \n| b|$+<=>^~|`|c| (|1|,| |2|).| |1|2|3|abc"},
    {"deepseek-r1-qwen", 0, "Hello| world|'s| |1|2|3|4|5| I|'LL|\n\n| | go|!!"},
    {"kormo", 0, "Hello| world|'s| |1|2|3|4|5| I|'LL|\n\n| | go|!!"},
    {"f2llmv2", 0, "Hello| world|'s| |1|2|3|4|5| I|'LL|\n\n| | go|!!"},
    {"stablelm2", 0, "Hello| world|'s| |1|2|3|4|5| I|'LL|\n\n| | go|!!"},
    {"stablelm2", 1, "x|=|1|2|3|4|5|6|7|;| y| =| '|ab|'\r\n|\tz|  "},
    {"stablelm2", 2, "\xe6\x97\xa5""\xe6\x9c\xac""\xe8\xaa\x9e""\xe3\x83\x86""\xe3\x82\xad""\xe3\x82\xb9""\xe3\x83\x88""| \xe4\xb8\xad""\xe6\x96\x87""| \xed\x95\x9c""\xea\xb5\xad""\xec\x96\xb4""| ok"},
    {"stablelm2", 3, "HelloWorld| HTTPServer| camelCase| don|'T"},
    {"stablelm2", 4, "a|  \n| b|$+<=>^~|`|c| (|1|,| |2|).| |1|2|3|abc"},
    {"megrez", 0, "Hello| world|'s| |1|2|3|4|5| I|'LL|\n\n| | go|!!"},
    {"megrez", 1, "x|=|1|2|3|4|5|6|7|;| y| =| '|ab|'\r\n|\tz|  "},
    {"megrez", 2, "\xe6\x97\xa5""\xe6\x9c\xac""\xe8\xaa\x9e""\xe3\x83\x86""\xe3\x82\xad""\xe3\x82\xb9""\xe3\x83\x88""| \xe4\xb8\xad""\xe6\x96\x87""| \xed\x95\x9c""\xea\xb5\xad""\xec\x96\xb4""| ok"},
    {"megrez", 3, "HelloWorld| HTTPServer| camelCase| don|'T"},
    {"megrez", 4, "a|  \n| b|$+<=>^~|`|c| (|1|,| |2|).| |1|2|3|abc"},
    {"hunyuan", 0, "Hello| world|'s| |1|2|3|4|5| I|'LL|\n\n| | go|!!"},
    {"hunyuan", 1, "x|=|1|2|3|4|5|6|7|;| y| =| '|ab|'\r\n|\tz|  "},
    {"hunyuan", 2, "\xe6\x97\xa5""\xe6\x9c\xac""\xe8\xaa\x9e""\xe3\x83\x86""\xe3\x82\xad""\xe3\x82\xb9""\xe3\x83\x88""| \xe4\xb8\xad""\xe6\x96\x87""| \xed\x95\x9c""\xea\xb5\xad""\xec\x96\xb4""| ok"},
    {"hunyuan", 3, "HelloWorld| HTTPServer| camelCase| don|'T"},
    {"hunyuan", 4, "a|  \n| b|$+<=>^~|`|c| (|1|,| |2|).| |1|2|3|abc"},
    {"solar-open", 0, "Hello| world|'s| |1|2|3|4|5| I|'LL|\n\n| | go|!!"},
    {"solar-open", 1, "x|=|1|2|3|4|5|6|7|;| y| =| '|ab|'\r\n|\tz|  "},
    {"solar-open", 2, "\xe6\x97\xa5""\xe6\x9c\xac""\xe8\xaa\x9e""\xe3\x83\x86""\xe3\x82\xad""\xe3\x82\xb9""\xe3\x83\x88""| \xe4\xb8\xad""\xe6\x96\x87""| \xed\x95\x9c""\xea\xb5\xad""\xec\x96\xb4""| ok"},
    {"solar-open", 3, "HelloWorld| HTTPServer| camelCase| don|'T"},
    {"solar-open", 4, "a|  \n| b|$+<=>^~|`|c| (|1|,| |2|).| |1|2|3|abc"},
    {"grok-2", 0, "Hello| world|'s| |1|2|3|4|5| I|'LL|\n\n| | go|!!"},
    {"grok-2", 1, "x|=|1|2|3|4|5|6|7|;| y| =| '|ab|'\r\n|\tz|  "},
    {"grok-2", 2, "\xe6\x97\xa5""\xe6\x9c\xac""\xe8\xaa\x9e""\xe3\x83\x86""\xe3\x82\xad""\xe3\x82\xb9""\xe3\x83\x88""| \xe4\xb8\xad""\xe6\x96\x87""| \xed\x95\x9c""\xea\xb5\xad""\xec\x96\xb4""| ok"},
    {"grok-2", 3, "HelloWorld| HTTPServer| camelCase| don|'T"},
    {"grok-2", 4, "a|  \n| b|$+<=>^~|`|c| (|1|,| |2|).| |1|2|3|abc"},
    {"qwen35", 0, "Hello| world|'s| |1|2|3|4|5| I|'LL|\n\n| | go|!!"},
    {"qwen35", 1, "x|=|1|2|3|4|5|6|7|;| y| =| '|ab|'\r\n|\tz|  "},
    {"qwen35", 2, "\xe6\x97\xa5""\xe6\x9c\xac""\xe8\xaa\x9e""\xe3\x83\x86""\xe3\x82\xad""\xe3\x82\xb9""\xe3\x83\x88""| \xe4\xb8\xad""\xe6\x96\x87""| \xed\x95\x9c""\xea\xb5\xad""\xec\x96\xb4""| ok"},
    {"qwen35", 3, "HelloWorld| HTTPServer| camelCase| don|'T"},
    {"qwen35", 4, "a|  \n| b|$+<=>^~|`|c| (|1|,| |2|).| |1|2|3|abc"},
    {"ufakzeka", 0, "Hello| world|'s| |1|2|3|4|5| I|'LL|\n\n| | go|!!"},
    {"ufakzeka", 1, "x|=|1|2|3|4|5|6|7|;| y| =| '|ab|'\r\n|\tz|  "},
    {"ufakzeka", 2, "\xe6\x97\xa5""\xe6\x9c\xac""\xe8\xaa\x9e""\xe3\x83\x86""\xe3\x82\xad""\xe3\x82\xb9""\xe3\x83\x88""| \xe4\xb8\xad""\xe6\x96\x87""| \xed\x95\x9c""\xea\xb5\xad""\xec\x96\xb4""| ok"},
    {"ufakzeka", 3, "HelloWorld| HTTPServer| camelCase| don|'T"},
    {"ufakzeka", 4, "a|  \n| b|$+<=>^~|`|c| (|1|,| |2|).| |1|2|3|abc"},
    {"seed-coder", 0, "Hello| world|'s| |1|2|3|4|5| I|'LL|\n\n| | go|!!"},
    {"seed-coder", 1, "x|=|1|2|3|4|5|6|7|;| y| =| '|ab|'|\r\n|\tz|  "},
    {"seed-coder", 2, "\xe6\x97\xa5""\xe6\x9c\xac""\xe8\xaa\x9e""\xe3\x83\x86""\xe3\x82\xad""\xe3\x82\xb9""\xe3\x83\x88""| \xe4\xb8\xad""\xe6\x96\x87""| \xed\x95\x9c""\xea\xb5\xad""\xec\x96\xb4""| ok"},
    {"seed-coder", 3, "HelloWorld| HTTPServer| camelCase| don|'T"},
    {"seed-coder", 4, "a|  \n| b|$+<=>^~|`|c| (|1|,| |2|).| |1|2|3|abc"},
    {"bailingmoe", 0, "Hello| world|'s| |1|2|3|4|5| I|'LL|\n\n| | go|!!"},
    {"bailingmoe", 1, "x|=|1|2|3|4|5|6|7|;| y| =| '|ab|'\r\n|\tz|  "},
    {"bailingmoe", 2, "\xe6\x97\xa5""\xe6\x9c\xac""\xe8\xaa\x9e""\xe3\x83\x86""\xe3\x82\xad""\xe3\x82\xb9""\xe3\x83\x88""| \xe4\xb8\xad""\xe6\x96\x87""| \xed\x95\x9c""\xea\xb5\xad""\xec\x96\xb4""| ok"},
    {"bailingmoe", 3, "HelloWorld| HTTPServer| camelCase| don|'T"},
    {"bailingmoe", 4, "a|  \n| b|$+<=>^~|`|c| (|1|,| |2|).| |1|2|3|abc"},
    {"bailingmoe2", 0, "Hello| world|'s| |1|2|3|4|5| I|'LL|\n\n| | go|!!"},
    {"llada-moe", 0, "Hello| world|'s| |1|2|3|4|5| I|'LL|\n\n| | go|!!"},
    {"laguna", 0, "Hello| world|'s| |1|2|3|4|5| I|'LL|\n\n| | go|!!"},
    {"laguna", 1, "x|=|1|2|3|4|5|6|7|;| y| =| '|ab|'\r|\n|\tz|  "},
    {"laguna", 2, "\xe6\x97\xa5""\xe6\x9c\xac""\xe8\xaa\x9e""\xe3\x83\x86""\xe3\x82\xad""\xe3\x82\xb9""\xe3\x83\x88""| \xe4\xb8\xad""\xe6\x96\x87""| \xed\x95\x9c""\xea\xb5\xad""\xec\x96\xb4""| ok"},
    {"laguna", 3, "HelloWorld| HTTPServer| camelCase| don|'T"},
    {"laguna", 4, "a|  |\n| b|$+<=>^~|`|c| (|1|,| |2|).| |1|2|3|abc"},
    {"exaone-moe", 0, "Hello world|'s| |1|2|3|4|5| I|'LL|\n\n| | go|!!"},
    {"exaone-moe", 1, "x|=|1|2|3|4|5|6|7|;| y| =| '|ab|'\r|\n|\tz|  "},
    {"exaone-moe", 2, "\xe6\x97\xa5""\xe6\x9c\xac""\xe8\xaa\x9e""\xe3\x83\x86""\xe3\x82\xad""\xe3\x82\xb9""\xe3\x83\x88"" \xe4\xb8\xad""\xe6\x96\x87"" \xed\x95\x9c""\xea\xb5\xad""\xec\x96\xb4"" ok"},
    {"exaone-moe", 3, "HelloWorld HTTPServer camelCase don|'T"},
    {"exaone-moe", 4, "a|  \n| b|$+<=>^~|`|c| (|1|,| |2|).| |1|2|3|abc"},
    {"minicpm5", 0, "Hello| world|'s| |123|45| I|'LL|\n\n| | go|!!"},
    {"minicpm5", 1, "x|=|123|456|7|;| y| =| '|ab|'\r\n|\tz|  "},
    {"minicpm5", 2, "\xe6\x97\xa5""\xe6\x9c\xac""\xe8\xaa\x9e""\xe3\x83\x86""\xe3\x82\xad""\xe3\x82\xb9""\xe3\x83\x88""| \xe4\xb8\xad""\xe6\x96\x87""| \xed\x95\x9c""\xea\xb5\xad""\xec\x96\xb4""| ok"},
    {"minicpm5", 3, "HelloWorld| HTTPServer| camelCase| don|'T"},
    {"minicpm5", 4, "a|  \n| b|$+<=>^~|`|c| (|1|,| |2|).| |123|abc"},
    {"deepseek-llm", 0, "Hello| world|'|s| |12345| I|'|LL|\n|\n| | go|!!"},
    {"deepseek-llm", 1, "x|=|1234567|;| y| =| '|ab|'|\r|\n|\tz|  "},
    {"deepseek-llm", 2, "\xe6\x97\xa5""\xe6\x9c\xac""\xe8\xaa\x9e""\xe3\x83\x86""\xe3\x82\xad""\xe3\x82\xb9""\xe3\x83\x88""| |\xe4\xb8\xad""\xe6\x96\x87""| |\xed\x95\x9c""\xea\xb5\xad""\xec\x96\xb4""| ok"},
    {"deepseek-llm", 3, "HelloWorld| HTTPServer| camelCase| don|'|T"},
    {"deepseek-llm", 4, "a|  |\n| b|$+<=>^~|`|c| (|1|,| |2|).| |123|abc"},
    {"deepseek-coder", 0, "Hello| world|'|s| |1|2|3|4|5| I|'|LL|\n|\n| | go|!!"},
    {"deepseek-coder", 1, "x|=|1|2|3|4|5|6|7|;| y| =| '|ab|'|\r|\n|\tz|  "},
    {"deepseek-coder", 2, "\xe6\x97\xa5""\xe6\x9c\xac""\xe8\xaa\x9e""\xe3\x83\x86""\xe3\x82\xad""\xe3\x82\xb9""\xe3\x83\x88""| |\xe4\xb8\xad""\xe6\x96\x87""| |\xed\x95\x9c""\xea\xb5\xad""\xec\x96\xb4""| ok"},
    {"deepseek-coder", 3, "HelloWorld| HTTPServer| camelCase| don|'|T"},
    {"deepseek-coder", 4, "a|  |\n| b|$+<=>^~|`|c| (|1|,| |2|).| |1|2|3|abc"},
    {"deepseek-v3", 0, "Hello| world|'s| |123|45| I|'LL|\n\n| | go|!!"},
    {"deepseek-v3", 1, "x|=|123|456|7|;| y| =| '|ab|'\r\n|\tz|  "},
    {"deepseek-v3", 2, "\xe6\x97\xa5""\xe6\x9c\xac""\xe8\xaa\x9e""\xe3\x83\x86""\xe3\x82\xad""\xe3\x82\xb9""\xe3\x83\x88""| |\xe4\xb8\xad""\xe6\x96\x87""| \xed\x95\x9c""\xea\xb5\xad""\xec\x96\xb4""| ok"},
    {"deepseek-v3", 3, "HelloWorld| HTTPServer| camelCase| don|'T"},
    {"deepseek-v3", 4, "a|  \n| b|$+<=>^~|`|c| (|1|,| |2|).| |123|abc"},
    {"hunyuan-dense", 0, "Hello| world|'s| |123|45| I|'LL|\n\n| | go|!!"},
    {"hunyuan-dense", 1, "x|=|123|456|7|;| y| =| '|ab|'\r\n|\tz|  "},
    {"hunyuan-dense", 2, "\xe6\x97\xa5""\xe6\x9c\xac""\xe8\xaa\x9e""\xe3\x83\x86""\xe3\x82\xad""\xe3\x82\xb9""\xe3\x83\x88""| |\xe4\xb8\xad""\xe6\x96\x87""| \xed\x95\x9c""\xea\xb5\xad""\xec\x96\xb4""| ok"},
    {"hunyuan-dense", 3, "HelloWorld| HTTPServer| camelCase| don|'T"},
    {"hunyuan-dense", 4, "a|  \n| b|$+<=>^~|`|c| (|1|,| |2|).| |123|abc"},
    {"hy_v4", 0, "Hello| world|'s| |123|45| I|'LL|\n\n| | go|!!"},
    {"hy_v4", 1, "x|=|123|456|7|;| y| =| '|ab|'\r\n|\tz|  "},
    {"hy_v4", 2, "\xe6\x97\xa5""\xe6\x9c\xac""\xe8\xaa\x9e""\xe3\x83\x86""\xe3\x82\xad""\xe3\x82\xb9""\xe3\x83\x88""| |\xe4\xb8\xad""\xe6\x96\x87""| \xed\x95\x9c""\xea\xb5\xad""\xec\x96\xb4""| ok"},
    {"hy_v4", 3, "HelloWorld| HTTPServer| camelCase| don|'T"},
    {"hy_v4", 4, "a|  \n| b|$+<=>^~|`|c| (|1|,| |2|).| |123|abc"},
    {"joyai-llm", 0, "Hello| world|'s| |123|45| I|'LL|\n\n| | go|!!"},
    {"joyai-llm", 1, "x|=|123|456|7|;| y| =| '|ab|'\r\n|\tz|  "},
    {"joyai-llm", 2, "\xe6\x97\xa5""\xe6\x9c\xac""\xe8\xaa\x9e""\xe3\x83\x86""\xe3\x82\xad""\xe3\x82\xb9""\xe3\x83\x88""| |\xe4\xb8\xad""\xe6\x96\x87""| \xed\x95\x9c""\xea\xb5\xad""\xec\x96\xb4""| ok"},
    {"joyai-llm", 3, "HelloWorld| HTTPServer| camelCase| don|'T"},
    {"joyai-llm", 4, "a|  \n| b|$+<=>^~|`|c| (|1|,| |2|).| |123|abc"},
    {"spark2_5", 0, "Hello| world|'s| |1|2|3|4|5| I|'LL|\n|\n| | go|!!"},
    {"spark2_5", 1, "x|=|1|2|3|4|5|6|7|;| y| =| '|ab|'|\r|\n|\tz|  "},
    {"spark2_5", 2, "\xe6\x97\xa5""\xe6\x9c\xac""\xe8\xaa\x9e""\xe3\x83\x86""\xe3\x82\xad""\xe3\x82\xb9""\xe3\x83\x88""| |\xe4\xb8\xad""\xe6\x96\x87""| \xed\x95\x9c""\xea\xb5\xad""\xec\x96\xb4""| ok"},
    {"spark2_5", 3, "HelloWorld| HTTPServer| camelCase| don|'T"},
    {"spark2_5", 4, "a|  \n| b|$+<=>^~|`|c| (|1|,| |2|).| |1|2|3|abc"},
    {"afmoe", 0, "Hello| world|'s| |12|345| I|'LL|\n\n| | go|!!"},
    {"afmoe", 1, "x|=|1|234|567|;| y| =| '|ab|'\r\n|\tz|  "},
    {"afmoe", 2, "\xe6\x97\xa5""\xe6\x9c\xac""\xe8\xaa\x9e""\xe3\x83\x86""\xe3\x82\xad""\xe3\x82\xb9""\xe3\x83\x88""| |\xe4\xb8\xad""\xe6\x96\x87""| |\xed\x95\x9c""\xea\xb5\xad""\xec\x96\xb4""| ok"},
    {"afmoe", 3, "HelloWorld| HTTPServer| camelCase| don|'T"},
    {"afmoe", 4, "a|  \n| b|$+<=>^~|`|c| (|1|,| |2|).| |123|abc"},
    {"youtu", 0, "Hello| world's| |1|2|3|4|5| I'LL|\n\n| | go|!!"},
    {"youtu", 1, "x|=|1|2|3|4|5|6|7|;| y| =| '|ab|'\r\n|\tz|  "},
    {"youtu", 2, "\xe6\x97\xa5""\xe6\x9c\xac""\xe8\xaa\x9e""\xe3\x83\x86""\xe3\x82\xad""\xe3\x82\xb9""\xe3\x83\x88""| |\xe4\xb8\xad""\xe6\x96\x87""| |\xed\x95\x9c""\xea\xb5\xad""\xec\x96\xb4""| ok"},
    {"youtu", 3, "HelloWorld| HTTPServer| camelCase| don'T"},
    {"youtu", 4, "a|  \n| b|$+<=>^~|`|c| (|1|,| |2|).| |1|2|3|abc"},
    {"poro-chat", 0, "Hello| world's| 12345| I'LL|\n\n | go|!!"},
    {"poro-chat", 1, "x=1234567;| y| =| 'ab'|\r\n\t|z|  "},
    {"poro-chat", 2, "\xe6\x97\xa5""\xe6\x9c\xac""\xe8\xaa\x9e""\xe3\x83\x86""\xe3\x82\xad""\xe3\x82\xb9""\xe3\x83\x88""| \xe4\xb8\xad""\xe6\x96\x87""| \xed\x95\x9c""\xea\xb5\xad""\xec\x96\xb4""| ok"},
    {"poro-chat", 3, "HelloWorld| HTTPServer| camelCase| don'T"},
    {"poro-chat", 4, "a|  \n| b$+<=>^~|||`c| (|1|,| 2|).| 123abc"},
    {"bloom", 0, "Hello| world's| 12345| I'LL|\n\n | go|!!"},
    {"bloom", 1, "x=1234567;| y| =| 'ab'|\r\n\t|z|  "},
    {"bloom", 2, "\xe6\x97\xa5""\xe6\x9c\xac""\xe8\xaa\x9e""\xe3\x83\x86""\xe3\x82\xad""\xe3\x82\xb9""\xe3\x83\x88""| \xe4\xb8\xad""\xe6\x96\x87""| \xed\x95\x9c""\xea\xb5\xad""\xec\x96\xb4""| ok"},
    {"bloom", 3, "HelloWorld| HTTPServer| camelCase| don'T"},
    {"bloom", 4, "a|  \n| b$+<=>^~|||`c| (|1|,| 2|).| 123abc"},
    {"gpt3-finnish", 0, "Hello| world's| 12345| I'LL|\n\n | go|!!"},
    {"gpt3-finnish", 1, "x=1234567;| y| =| 'ab'|\r\n\t|z|  "},
    {"gpt3-finnish", 2, "\xe6\x97\xa5""\xe6\x9c\xac""\xe8\xaa\x9e""\xe3\x83\x86""\xe3\x82\xad""\xe3\x82\xb9""\xe3\x83\x88""| \xe4\xb8\xad""\xe6\x96\x87""| \xed\x95\x9c""\xea\xb5\xad""\xec\x96\xb4""| ok"},
    {"gpt3-finnish", 3, "HelloWorld| HTTPServer| camelCase| don'T"},
    {"gpt3-finnish", 4, "a|  \n| b$+<=>^~|||`c| (|1|,| 2|).| 123abc"},
    {"viking", 0, "Hello| world's| |1|2|3|4|5| I'LL|\n\n | go|!!"},
    {"viking", 1, "x=|1|2|3|4|5|6|7|;| y| =| 'ab'|\r\n\t|z|  "},
    {"viking", 2, "\xe6\x97\xa5""\xe6\x9c\xac""\xe8\xaa\x9e""\xe3\x83\x86""\xe3\x82\xad""\xe3\x82\xb9""\xe3\x83\x88""| \xe4\xb8\xad""\xe6\x96\x87""| \xed\x95\x9c""\xea\xb5\xad""\xec\x96\xb4""| ok"},
    {"viking", 3, "HelloWorld| HTTPServer| camelCase| don'T"},
    {"viking", 4, "a|  \n| b$+<=>^~|||`c| (|1|,| |2|).| |1|2|3|abc"},
    {"tekken", 0, "Hello| world|'s| |1|2|3|4|5| I|'LL|\n\n| | go|!!"},
    {"tekken", 1, "x|=|1|2|3|4|5|6|7|;| y| =| '|ab|'\r\n|\tz|  "},
    {"tekken", 2, "\xe6\x97\xa5""\xe6\x9c\xac""\xe8\xaa\x9e""\xe3\x83\x86""\xe3\x82\xad""\xe3\x82\xb9""\xe3\x83\x88""| \xe4\xb8\xad""\xe6\x96\x87""| \xed\x95\x9c""\xea\xb5\xad""\xec\x96\xb4""| ok"},
    {"tekken", 3, "Hello|World| HTTPServer| camel|Case| don|'T"},
    {"tekken", 4, "a|  \n| b|$+<=>^~|`|c| (|1|,| |2|).| |1|2|3|abc"},
    {"gpt-4o", 0, "Hello| world's| |123|45| I'LL|\n\n| | go|!!"},
    {"gpt-4o", 1, "x|=|123|456|7|;| y| =| '|ab|'\r\n|\tz|  "},
    {"gpt-4o", 2, "\xe6\x97\xa5""\xe6\x9c\xac""\xe8\xaa\x9e""\xe3\x83\x86""\xe3\x82\xad""\xe3\x82\xb9""\xe3\x83\x88""| \xe4\xb8\xad""\xe6\x96\x87""| \xed\x95\x9c""\xea\xb5\xad""\xec\x96\xb4""| ok"},
    {"gpt-4o", 3, "Hello|World| HTTPServer| camel|Case| don'T"},
    {"gpt-4o", 4, "a|  \n| b|$+<=>^~|`|c| (|1|,| |2|).| |123|abc"},
    {"llama4", 0, "Hello| world's| |123|45| I'LL|\n\n| | go|!!"},
    {"kanana2", 0, "Hello| world's| |123|45| I'LL|\n\n| | go|!!"},
    {"talkie", 0, "Hello| world's| |123|45| I'LL|\n\n| | go|!!"},
    {"minimax-m2", 0, "Hello| world's| |123|45| I'LL|\n\n| | go|!!"},
    {"minimax-m2", 1, "x|=|123|456|7|;| y| =| '|ab|'\r\n|\tz|  "},
    {"minimax-m2", 2, "\xe6\x97\xa5""\xe6\x9c\xac""\xe8\xaa\x9e""\xe3\x83\x86""\xe3\x82\xad""\xe3\x82\xb9""\xe3\x83\x88""| \xe4\xb8\xad""\xe6\x96\x87""| \xed\x95\x9c""\xea\xb5\xad""\xec\x96\xb4""| ok"},
    {"minimax-m2", 3, "Hello|World| HTTPServer| camel|Case| don'T"},
    {"minimax-m2", 4, "a|  \n| b|$+<=>^~|`|c| (|1|,| |2|).| |123|abc"},
    {"granite-embed-multi-97m", 0, "Hello| world's| |123|45| I'LL|\n\n| | go|!!"},
    {"granite-embed-multi-97m", 1, "x|=|123|456|7|;| y| =| '|ab|'\r\n|\tz|  "},
    {"granite-embed-multi-97m", 2, "\xe6\x97\xa5""\xe6\x9c\xac""\xe8\xaa\x9e""\xe3\x83\x86""\xe3\x82\xad""\xe3\x82\xb9""\xe3\x83\x88""| \xe4\xb8\xad""\xe6\x96\x87""| \xed\x95\x9c""\xea\xb5\xad""\xec\x96\xb4""| ok"},
    {"granite-embed-multi-97m", 3, "Hello|World| HTTPServer| camel|Case| don'T"},
    {"granite-embed-multi-97m", 4, "a|  \n| b|$+<=>^~|`|c| (|1|,| |2|).| |123|abc"},
    {"tiny_aya", 0, "Hello| world's| |12|345| I'LL|\n\n| | go|!!"},
    {"tiny_aya", 1, "x|=|1|234|567|;| y| =| '|ab|'\r\n|\tz|  "},
    {"tiny_aya", 2, "\xe6\x97\xa5""\xe6\x9c\xac""\xe8\xaa\x9e""\xe3\x83\x86""\xe3\x82\xad""\xe3\x82\xb9""\xe3\x83\x88""| \xe4\xb8\xad""\xe6\x96\x87""| \xed\x95\x9c""\xea\xb5\xad""\xec\x96\xb4""| ok"},
    {"tiny_aya", 3, "HelloWorld| HTTPServer| camelCase| don'T"},
    {"tiny_aya", 4, "a|  \n| b|$+<=>^~|`|c| (|1|,| |2|).| |123|abc"},
    {"cohere2moe", 0, "Hello| world's| |12|345| I'LL|\n\n| | go|!!"},
    {"kimi-k2", 0, "Hello| world's| |123|45| I'LL|\n\n| | go|!!"},
    {"kimi-k2", 1, "x|=|123|456|7|;| y| =| '|ab|'\r\n|\tz|  "},
    {"kimi-k2", 2, "\xe6\x97\xa5""\xe6\x9c\xac""\xe8\xaa\x9e""|\xe3\x83\x86""\xe3\x82\xad""\xe3\x82\xb9""\xe3\x83\x88""| |\xe4\xb8\xad""\xe6\x96\x87""| \xed\x95\x9c""\xea\xb5\xad""\xec\x96\xb4""| ok"},
    {"kimi-k2", 3, "HelloWorld| HTTPServer| camelCase| don'T"},
    {"kimi-k2", 4, "a|  \n| b|$+<=>^~|`|c| (|1|,| |2|).| |123|abc"},
    {"superbpe", 0, "Hello world's |12|345| I'LL\n\n  go!!"},
    {"superbpe", 1, "x=|1|234|567|; y = 'ab'\r\n\tz  "},
    {"superbpe", 2, "\xe6\x97\xa5""\xe6\x9c\xac""\xe8\xaa\x9e""\xe3\x83\x86""\xe3\x82\xad""\xe3\x82\xb9""\xe3\x83\x88"" \xe4\xb8\xad""\xe6\x96\x87"" \xed\x95\x9c""\xea\xb5\xad""\xec\x96\xb4"" ok"},
    {"superbpe", 3, "HelloWorld HTTPServer camelCase don'T"},
    {"superbpe", 4, "a  \n b$+<=>^~|`c (|1|, |2|). |123|abc"},
    {"chameleon", 0, "Hello| world|'|s| |1|2|3|4|5| I|'|LL|\n|\n|  |go|!|!"},
    {"chameleon", 1, "x|=|1|2|3|4|5|6|7|;| y| |=| |'|ab|'|\r|\n|\t|z|  "},
    {"chameleon", 2, "\xe6\x97\xa5""\xe6\x9c\xac""\xe8\xaa\x9e""\xe3\x83\x86""\xe3\x82\xad""\xe3\x82\xb9""\xe3\x83\x88""| \xe4\xb8\xad""\xe6\x96\x87""| \xed\x95\x9c""\xea\xb5\xad""\xec\x96\xb4""| ok"},
    {"chameleon", 3, "HelloWorld| HTTPServer| camelCase| don|'|T"},
    {"chameleon", 4, "a|  |\n| b|$|+|<|=|>|^|~|||`|c| |(|1|,| |2|)|.| |1|2|3|abc"},
    {"gemma4", 0, "Hello world's 12345 I'LL|\n\n|  go!!"},
    {"gemma4", 1, "x=1234567; y = 'ab'\r|\n|\tz  "},
    {"gemma4", 2, "\xe6\x97\xa5""\xe6\x9c\xac""\xe8\xaa\x9e""\xe3\x83\x86""\xe3\x82\xad""\xe3\x82\xb9""\xe3\x83\x88"" \xe4\xb8\xad""\xe6\x96\x87"" \xed\x95\x9c""\xea\xb5\xad""\xec\x96\xb4"" ok"},
    {"gemma4", 3, "HelloWorld HTTPServer camelCase don'T"},
    {"gemma4", 4, "a  |\n| b$+<=>^~|`c (1, 2). 123abc"},
    {"granite-embed-multi-311m", 0, "Hello world's 12345 I'LL|\n\n|  go!!"},
    {"sarvam-moe", 0, "Hello world's 12345 I'LL|\n\n|  go!!"},
    {"sarvam-moe", 1, "x=1234567; y = 'ab'\r|\n|\tz  "},
    {"sarvam-moe", 2, "\xe6\x97\xa5""\xe6\x9c\xac""\xe8\xaa\x9e""\xe3\x83\x86""\xe3\x82\xad""\xe3\x82\xb9""\xe3\x83\x88"" \xe4\xb8\xad""\xe6\x96\x87"" \xed\x95\x9c""\xea\xb5\xad""\xec\x96\xb4"" ok"},
    {"sarvam-moe", 3, "HelloWorld HTTPServer camelCase don'T"},
    {"sarvam-moe", 4, "a  |\n| b$+<=>^~|`c (1, 2). 123abc"},
    {"whitespace", 0, "Hello| |world's| |12345| |I'LL|\n\n  |go!!"},
    {"whitespace", 1, "x=1234567;| |y| |=| |'ab'|\r\n\t|z|  "},
    {"whitespace", 2, "\xe6\x97\xa5""\xe6\x9c\xac""\xe8\xaa\x9e""\xe3\x83\x86""\xe3\x82\xad""\xe3\x82\xb9""\xe3\x83\x88""| |\xe4\xb8\xad""\xe6\x96\x87""| |\xed\x95\x9c""\xea\xb5\xad""\xec\x96\xb4""| |ok"},
    {"whitespace", 3, "HelloWorld| |HTTPServer| |camelCase| |don'T"},
    {"whitespace", 4, "a|  \n |b$+<=>^~|`c| |(1,| |2).| |123abc"},
};
#define N_CASES (sizeof CASES / sizeof CASES[0])

/* The pieces `kind` cuts `text` into, joined with '|'; checks they tile it. */
static void split_joined(ed_pretok_kind_t kind, const char *text, char *out, size_t cap)
{
    ed_pretok_t *pretok = NULL;
    char err[ED_ERR_LEN] = "";
    ed_spans_t spans = {0};
    out[0] = '\0';
    if (ed_pretok_init(&pretok, kind, err) < 0 || ed_pretok_split(pretok, text, strlen(text), &spans) < 0) {
        printf("#   pretok %s: %s\n", ed_pretok_name(kind), err);
        ed_pretok_free(pretok);
        return;
    }
    size_t n = 0, at = 0;
    for (size_t i = 0; i < spans.n && n < cap; i++) {
        if (spans.spans[i].offset != at || spans.spans[i].len == 0)
            snprintf(out, cap, "(pieces do not tile the text)");
        at += spans.spans[i].len;
        n += (size_t)snprintf(out + n, cap - n, "%s%.*s", i ? "|" : "", (int)spans.spans[i].len,
                              text + spans.spans[i].offset);
    }
    free(spans.spans);
    ed_pretok_free(pretok);
}

ED_TEST(every_name_cuts_as_llama_cpp_does)
{
    char out[1024];
    for (size_t i = 0; i < N_CASES; i++) {
        ed_pretok_kind_t kind;
        if (ed_pretok_kind_from_name(CASES[i].name, strlen(CASES[i].name), &kind) != 0) {
            ED_CHECK(!"a name of the cases is not known");
            printf("#   %s\n", CASES[i].name);
            continue;
        }
        split_joined(kind, TEXTS[CASES[i].text], out, sizeof out);
        if (strcmp(out, CASES[i].pieces) != 0)
            printf("#   %s, text %d\n", CASES[i].name, CASES[i].text);
        ED_CHECK_STR(out, CASES[i].pieces);
    }
}

/* Each name the table holds has a case above, and each kind has a name. */
ED_TEST(every_name_in_the_table_has_a_case)
{
    bool kind_named[ED_PRETOK_COUNT] = {0};
    size_t n_names = 0;
    ed_pretok_kind_t kind;
    for (const char *name; (name = ed_pretok_name_at(n_names, &kind)) != NULL; n_names++) {
        ED_REQUIRE(kind >= 0 && kind < ED_PRETOK_COUNT);
        kind_named[kind] = true;
        ed_pretok_kind_t found;
        ED_CHECK(ed_pretok_kind_from_name(name, strlen(name), &found) == 0 && found == kind);
        bool has_case = false;
        for (size_t i = 0; i < N_CASES && !has_case; i++)
            has_case = strcmp(CASES[i].name, name) == 0;
        if (!has_case)
            printf("#   %s has no case\n", name);
        ED_CHECK(has_case);
    }
    for (int k = 0; k < ED_PRETOK_COUNT; k++) {
        if (!kind_named[k])
            printf("#   kind %d has no name\n", k);
        ED_CHECK(kind_named[k]);
    }
    printf("# %zu names, %d kinds\n", n_names, (int)ED_PRETOK_COUNT);
    ED_CHECK(n_names >= 80);
}

ED_TEST(unknown_names_are_refused)
{
    ed_pretok_kind_t kind = ED_PRETOK_GPT2;
    ED_CHECK_INT(ed_pretok_kind_from_name("no-such-pre", 11, &kind), ED_EUNSUPPORTED);
    ED_CHECK_INT(ed_pretok_kind_from_name("Llama3", 6, &kind), ED_EUNSUPPORTED); /* exact, as llama.cpp */
    ED_CHECK_INT(ed_pretok_kind_from_name("llama3x", 6, &kind), 0);            /* len counts, not the NUL */
    ED_CHECK_INT(kind, ED_PRETOK_LLAMA3);
    ED_CHECK_INT(ed_pretok_kind_from_name("", 0, &kind), ED_EUNSUPPORTED);
    ed_pretok_t *pretok = NULL;
    char err[ED_ERR_LEN] = "";
    ED_CHECK_INT(ed_pretok_init(&pretok, ED_PRETOK_COUNT, err), ED_EUNSUPPORTED);
    ED_CHECK(pretok == NULL && strstr(err, "not known"));
    ED_CHECK_STR(ed_pretok_name(ED_PRETOK_COUNT), "?");
    ED_CHECK_INT(ed_pretok_flags(ED_PRETOK_COUNT), 0);
}

/* The loader's flags, from llama.cpp's name -> type mapping. */
ED_TEST(flags_follow_the_loader)
{
    const unsigned llama3 = ed_pretok_flags(ED_PRETOK_LLAMA3);
    ED_CHECK((llama3 & ED_PRETOK_IGNORE_MERGES) && (llama3 & ED_PRETOK_ADD_BOS) && (llama3 & ED_PRETOK_CLEAN_SPACES));
    ED_CHECK_INT(ed_pretok_flags(ED_PRETOK_TEKKEN), ED_PRETOK_IGNORE_MERGES | ED_PRETOK_ADD_BOS);
    ED_CHECK_INT(ed_pretok_flags(ED_PRETOK_CHAMELEON), ED_PRETOK_ADD_BOS);
    ED_CHECK_INT(ed_pretok_flags(ED_PRETOK_DBRX), ED_PRETOK_CLEAN_SPACES); /* Llama 3's regex, not its flags */
    ED_CHECK_INT(ed_pretok_flags(ED_PRETOK_QWEN2), 0);
    ED_CHECK_INT(ed_pretok_flags(ED_PRETOK_MEGREZ), ED_PRETOK_CLEAN_SPACES);
    ED_CHECK_INT(ed_pretok_flags(ED_PRETOK_GPT2_SEP), ED_PRETOK_CLEAN_SPACES | ED_PRETOK_ADD_SEP);
    ED_CHECK_INT(ed_pretok_flags(ED_PRETOK_MINICPM5), ED_PRETOK_CLEAN_SPACES | ED_PRETOK_IGNORE_MERGES);
    ED_CHECK_INT(ed_pretok_flags(ED_PRETOK_YOUTU), ED_PRETOK_IGNORE_MERGES);
    ED_CHECK_INT(ed_pretok_flags(ED_PRETOK_GRANITE_EMB_MULTI), ED_PRETOK_IGNORE_MERGES);
    ED_CHECK(ed_pretok_flags(ED_PRETOK_GEMMA4) & ED_PRETOK_RAW_BYTES);
    ED_CHECK(ed_pretok_flags(ED_PRETOK_GEMMA4) & ED_PRETOK_ESCAPE_SPACES);
    ED_CHECK(ed_pretok_flags(ED_PRETOK_WHITESPACE) & ED_PRETOK_RAW_BYTES);
    for (int k = 0; k < ED_PRETOK_COUNT; k++)
        if (k != ED_PRETOK_GEMMA4 && k != ED_PRETOK_SARVAM_MOE && k != ED_PRETOK_WHITESPACE)
            ED_CHECK(!(ed_pretok_flags((ed_pretok_kind_t)k) & ED_PRETOK_RAW_BYTES));
}

/* Cases worked out by hand from the expressions (and llama.cpp's code). */
ED_TEST(hand_checked_splits)
{
    char out[512];
    /* AFMoE: digit runs in threes from the right, the text before a run
     * joined to its first group (llama.cpp's unicode_regex_split_custom_afmoe
     * emits from the previous cut); the later expressions then cut "ab1" and
     * split the two spaces as \s+(?!\S) then \s+ (they are followed by "1"). */
    split_joined(ED_PRETOK_AFMOE, "ab  1234567", out, sizeof out);
    ED_CHECK_STR(out, "ab| | |1|234|567");
    /* Had the run been cut at its start too, "ab  " would end its piece and
     * "  " would be one piece: the joining matters. */
    split_joined(ED_PRETOK_AFMOE, "123456", out, sizeof out);
    ED_CHECK_STR(out, "123|456");
    /* SuperBPE: numbers alone (\p{N}+), then an empty match before each
     * three digits counted from the right cuts there. */
    split_joined(ED_PRETOK_SUPERBPE, "a1234567b", out, sizeof out);
    ED_CHECK_STR(out, "a|1|234|567|b");
    /* Tiny Aya: \d{1,3} followed by threes up to an (ASCII) word boundary;
     * "1234abc" has no boundary after its digits, so the first expression
     * leaves it whole and the \p{N}{1,3} of the second cuts it. */
    split_joined(ED_PRETOK_TINY_AYA, "1234567 1234abc", out, sizeof out);
    ED_CHECK_STR(out, "1|234|567| |123|4|abc");
    /* Youtu and Tiny Aya: llama.cpp reads \p{Lu} and \p{Ll} as \p{L}, so a
     * camel-case word stays whole (Hugging Face would cut "Hello|World"). */
    split_joined(ED_PRETOK_YOUTU, "HelloWorld", out, sizeof out);
    ED_CHECK_STR(out, "HelloWorld");
    split_joined(ED_PRETOK_TINY_AYA, "HelloWorld's", out, sizeof out);
    ED_CHECK_STR(out, "HelloWorld's");
    /* GPT-4o and Tekken keep the case split through their look-aheads. */
    split_joined(ED_PRETOK_GPT4O, "HelloWorld's HTTPServer", out, sizeof out);
    ED_CHECK_STR(out, "Hello|World's| HTTPServer");
    split_joined(ED_PRETOK_TEKKEN, "HelloWorld's", out, sizeof out);
    ED_CHECK_STR(out, "Hello|World|'s");
    /* Kimi K2: Han runs stand alone (llama.cpp's Han ranges), other
     * letters form words with a contraction; kana are not Han. */
    split_joined(ED_PRETOK_KIMI_K2, "\xe4\xb8\xad\xe6\x96\x87" "abc's \xe3\x81\x8b\xe3\x81\xaa" "12345", out, sizeof out);
    ED_CHECK_STR(out, "\xe4\xb8\xad\xe6\x96\x87|abc's| \xe3\x81\x8b\xe3\x81\xaa|123|45");
    /* DeepSeek LLM: newlines first, then letter words; the spaces left
     * between are a gap piece, and "\s+$" takes the trailing ones. Its
     * [\x{800}-\x{4E00}] range then cuts any such character (here U+2126
     * OHM SIGN, also in its letter class) out of a word. */
    split_joined(ED_PRETOK_DEEPSEEK_LLM, "ab  \ncd  ", out, sizeof out);
    ED_CHECK_STR(out, "ab|  |\n|cd|  ");
    split_joined(ED_PRETOK_DEEPSEEK_LLM, " \xe2\x84\xa6x", out, sizeof out);
    ED_CHECK_STR(out, " |\xe2\x84\xa6|x");
    /* Llama 3 vs Qwen2: digits in threes vs one by one; contractions of
     * either case. */
    split_joined(ED_PRETOK_LLAMA3, "I'M 1234", out, sizeof out);
    ED_CHECK_STR(out, "I|'M| |123|4");
    split_joined(ED_PRETOK_QWEN2, "I'M 1234", out, sizeof out);
    ED_CHECK_STR(out, "I|'M| |1|2|3|4");
    /* Poro: runs of anything but whitespace, "(|)" and the listed stops,
     * with one leading space; what lies between runs is one gap piece. */
    split_joined(ED_PRETOK_PORO, "ab, (cd)|e\xe3\x80\x82", out, sizeof out);
    ED_CHECK_STR(out, "ab|, (|cd|)||e|\xe3\x80\x82");
    /* Chameleon: sentinels and image tokens first. */
    split_joined(ED_PRETOK_CHAMELEON, "<sentinel:12>IMGIMGABZ", out, sizeof out);
    ED_CHECK_STR(out, "<|sentinel|:|1|2|>|IMGIMGABZ");
}

/* The faster forms pretok.c runs (digit expressions as code, the case
 * look-aheads as classes) cut random text exactly as the expressions
 * written as llama.cpp writes them do. */
ED_TEST(fast_forms_cut_as_the_written_expressions)
{
    static const char *const ALPHABET[] = {
        "a", "b", "s", "Z", "Q", "0", "1", "2", "3", " ", "_", "'", "\n", "-",
        "\xc3\xa9",     /* é, a lower-case letter outside a-z */
        "\xc3\x89",     /* É */
        "\xcc\x81",     /* U+0301, a combining mark */
        "\xe4\xb8\xad", /* 中 */
        "\xd9\xa1",     /* ١, a digit outside 0-9 */
    };
    static const ed_pretok_kind_t KINDS_WITH_FAST_FORMS[] = {
        ED_PRETOK_TEKKEN, ED_PRETOK_GPT4O, ED_PRETOK_MINIMAX_M2, ED_PRETOK_GRANITE_EMB_MULTI,
        ED_PRETOK_TINY_AYA, ED_PRETOK_SUPERBPE,
    };
    char err[ED_ERR_LEN] = "";
    uint64_t state = 42;
    for (size_t k = 0; k < sizeof KINDS_WITH_FAST_FORMS / sizeof KINDS_WITH_FAST_FORMS[0]; k++) {
        ed_pretok_t *fast = NULL, *written = NULL;
        ED_REQUIRE(ed_pretok_init(&fast, KINDS_WITH_FAST_FORMS[k], err) == 0);
        ED_REQUIRE(ed__pretok_init_regex(&written, KINDS_WITH_FAST_FORMS[k], err) == 0);
        ed_spans_t a = {0}, b = {0};
        int differ = 0;
        for (int round = 0; round < 3000 && differ < 3; round++) {
            char text[256];
            size_t len = 0;
            state = state * 6364136223846793005u + 1442695040888963407u;
            size_t n_chars = (size_t)(state >> 59); /* 0..31 */
            for (size_t c = 0; c < n_chars; c++) {
                state = state * 6364136223846793005u + 1442695040888963407u;
                const char *ch = ALPHABET[(state >> 33) % (sizeof ALPHABET / sizeof ALPHABET[0])];
                memcpy(text + len, ch, strlen(ch));
                len += strlen(ch);
            }
            ED_CHECK(ed_pretok_split(fast, text, len, &a) == 0 && ed_pretok_split(written, text, len, &b) == 0);
            if (a.n != b.n || (a.n > 0 && memcmp(a.spans, b.spans, a.n * sizeof *a.spans) != 0)) {
                printf("#   %s cuts \"%.*s\" otherwise\n", ed_pretok_name(KINDS_WITH_FAST_FORMS[k]), (int)len, text);
                differ++;
            }
        }
        ED_CHECK_INT(differ, 0);
        free(a.spans);
        free(b.spans);
        ed_pretok_free(fast);
        ed_pretok_free(written);
    }
}

static char *read_text(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *data = size >= 0 ? malloc((size_t)size + 1) : NULL;
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

static uint64_t fnv64(uint64_t hash, const char *bytes, size_t len)
{
    for (size_t i = 0; i < len; i++)
        hash = (hash ^ (unsigned char)bytes[i]) * 0x100000001b3u;
    return hash;
}

/* llama.cpp's own tokenizer test strings (the .inp of ../shared's gpt-2
 * vocabulary: emoji, CJK, whitespace runs, numbers, code) cut by every
 * kind: tests/data/pretok/inp-splits.txt holds, per kind, the FNV-1a 64
 * hash of each string's pieces joined with "\x01", as splits.py's
 * independent evaluation of llama.cpp's expressions cuts them. */
ED_TEST(every_kind_cuts_llama_cpps_test_strings)
{
    size_t inp_len = 0, table_len = 0;
    char *inp = read_text("../shared/testdata/vocab/ggml-vocab-gpt-2.gguf.inp", &inp_len);
    char *table = read_text("tests/data/pretok/inp-splits.txt", &table_len);
    ED_REQUIRE(inp && table);
    static const char SEPARATOR[] = "\n__ggml_vocab_test__\n";
    size_t n_kinds = 0, n_checked = 0;
    char err[ED_ERR_LEN] = "";
    ed_spans_t spans = {0};
    for (char *line = strtok(table, "\n"); line; line = strtok(NULL, "\n")) {
        char *tab = strchr(line, '\t');
        ED_REQUIRE(tab);
        *tab = '\0';
        ed_pretok_kind_t kind;
        ed_pretok_t *pretok = NULL;
        ED_REQUIRE(ed_pretok_kind_from_name(line, strlen(line), &kind) == 0);
        ED_REQUIRE(ed_pretok_init(&pretok, kind, err) == 0);
        n_kinds++;
        char *hashes = tab + 1;
        int index = 0;
        for (char *text = inp, *end; (end = strstr(text, SEPARATOR)) != NULL; text = end + sizeof SEPARATOR - 1) {
            char *next;
            uint64_t want = strtoull(hashes, &next, 16);
            ED_REQUIRE(next != hashes);
            hashes = next;
            ED_REQUIRE(ed_pretok_split(pretok, text, (size_t)(end - text), &spans) == 0);
            uint64_t got = 0xcbf29ce484222325u;
            for (size_t i = 0; i < spans.n; i++) {
                if (i)
                    got = fnv64(got, "\x01", 1);
                got = fnv64(got, text + spans.spans[i].offset, spans.spans[i].len);
            }
            if (got != want)
                printf("#   %s cuts test string %d \"%.*s\" otherwise\n", line, index, (int)(end - text), text);
            ED_CHECK(got == want);
            n_checked++;
            index++;
        }
        ed_pretok_free(pretok);
    }
    printf("# %zu kinds x llama.cpp's test strings: %zu splits checked\n", n_kinds, n_checked);
    ED_CHECK_INT(n_kinds, ED_PRETOK_COUNT);
    free(spans.spans);
    free(inp);
    free(table);
}

ED_TEST_MAIN(every_name_cuts_as_llama_cpp_does, every_name_in_the_table_has_a_case, unknown_names_are_refused,
             flags_follow_the_loader, hand_checked_splits, fast_forms_cut_as_the_written_expressions,
             every_kind_cuts_llama_cpps_test_strings)
