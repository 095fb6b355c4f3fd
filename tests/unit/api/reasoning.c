/* tests/unit/api/reasoning.c - the think-block splitter of
 * reasoning_format "deepseek": whole answers and the same answers cut into
 * pieces at every byte, which must route the same text. */
#include "api/reasoning.h"
#include "core/error.h"
#include "tests/test.h"

#include <string.h>

typedef struct {
    char content[256], reasoning[256];
} split_t;

/* text fed in pieces of `step` bytes (0: whole). */
static split_t split(const char *text, size_t step)
{
    ed_reasoning_t r;
    ed_buf_t content, reasoning;
    ed_reasoning_init(&r);
    ed_buf_init(&content);
    ed_buf_init(&reasoning);
    size_t len = strlen(text);
    if (step == 0)
        step = len ? len : 1;
    for (size_t i = 0; i < len; i += step)
        ed_reasoning_feed(&r, text + i, len - i < step ? len - i : step, &content, &reasoning);
    ed_reasoning_finish(&r, &content, &reasoning);
    split_t s;
    snprintf(s.content, sizeof s.content, "%.*s", (int)content.len, content.len ? content.data : "");
    snprintf(s.reasoning, sizeof s.reasoning, "%.*s", (int)reasoning.len, reasoning.len ? reasoning.data : "");
    ed_buf_free(&content);
    ed_buf_free(&reasoning);
    return s;
}

static void check(const char *text, const char *content, const char *reasoning)
{
    for (size_t step = 0; step <= 9; step++) {
        split_t s = split(text, step);
        ED_CHECK_STR(s.content, content);
        ED_CHECK_STR(s.reasoning, reasoning);
    }
}

ED_TEST(a_leading_think_block_moves_out)
{
    /* Qwen3's shape: "<think>\n...\n</think>\n\n" then the answer */
    check("<think>\nThe user greets me.\n</think>\n\nHello!", "Hello!", "The user greets me.");
    check("  <think>a < b and </th is not the end</think> ok", "ok", "a < b and </th is not the end");
    check("<think>\n\n</think>\n\nAnswer", "Answer", ""); /* an empty thought (thinking off) */
    check("<think>x</think>", "", "x");
    check("<think>x <<</think>y", "y", "x <<");
    check("<think>x                </think>", "", "x"); /* 16 spaces held, then the marker */
    /* one more: the 16 held are flushed as reasoning, only the last run is trailing */
    check("<think>x                 </think>", "", "x                ");
    check("<think>one\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\ntwo</think>", "",
          "one\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\ntwo");
}

ED_TEST(anything_else_is_content)
{
    check("Hello <think>not at the start</think>", "Hello <think>not at the start</think>", "");
    check("<thinking>", "<thinking>", "");
    check("<thi", "<thi", ""); /* cut before the marker was complete */
    check("   ", "   ", "");
    check("", "", "");
    check("                    <think>x</think>", "                    <think>x</think>", ""); /* past the hold */
}

ED_TEST(an_unclosed_block_stays_reasoning)
{
    check("<think>\nStill thinking when max_tokens came", "", "Still thinking when max_tokens came");
    check("<think>almost </thi", "", "almost </thi");
    check("<think>  \n", "", "");
}

ED_TEST(format_names)
{
    ed_reasoning_format_t f;
    ED_CHECK_INT(ed_reasoning_format_from_name("none", 4, &f), 0);
    ED_CHECK_INT(f, ED_REASONING_NONE);
    ED_CHECK_INT(ed_reasoning_format_from_name("deepseek", 8, &f), 0);
    ED_CHECK_INT(f, ED_REASONING_DEEPSEEK);
    ED_CHECK_INT(ed_reasoning_format_from_name("strip", 5, &f), ED_EINVAL);
}

ED_TEST_MAIN(a_leading_think_block_moves_out, anything_else_is_content, an_unclosed_block_stays_reasoning,
             format_names)
