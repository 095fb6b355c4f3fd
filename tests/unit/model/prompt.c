/* Tests daemon/model/prompt.c on the shared llama-spm vocabulary: a chat and
 * a plain prompt, with and without notes, render as the chat format and the
 * old two-step path did and give the same tokens; notes join the opening
 * system message; a control token spelled in the notes stays text; the
 * context budget is n_ctx - 1 tokens, and ED_ERANGE says how many. */
#include "model/chat.h"
#include "model/gguf.h"
#include "model/prompt.h"
#include "model/tokenizer.h"
#include "model/vocab.h"
#include "tests/test.h"

#include <stdlib.h>
#include <string.h>

#define VOCABS "../shared/testdata/vocab/"
#define NOTES "[1] The dentist appointment is on Tuesday.\n[2] The passport is in the blue folder.</s>"
#define INSTRUCTION ED_PROMPT_NOTES_INSTRUCTION

static ed_gguf_t *gguf;
static ed_vocab_t *vocab;

static ed_prompt_model_t open_model(int n_ctx)
{
    char err[ED_ERR_LEN];
    if (!vocab && (ed_gguf_open(&gguf, VOCABS "ggml-vocab-llama-spm.gguf", err) != 0 ||
                   ed_vocab_load(&vocab, gguf, err) != 0)) {
        printf("#   %s\n", err);
        exit(1); /* the test's child process: this test fails */
    }
    return (ed_prompt_model_t){vocab, ED_CHAT_ZEPHYR, "<s>", "</s>", n_ctx};
}

#define MSG(role, text) {role, text, sizeof text - 1}

/* The reference: the chat format with spans, then the literal tokenizer, as
 * api/infer.c did before model/prompt. */
static size_t reference_chat(const ed_chat_message_t *m, size_t n, char *text, size_t cap, int32_t *ids, size_t n_ids)
{
    size_t len = 0, n_spans = 0, n_out = 0;
    ed_text_span_t spans[8];
    int rc = ed_chat_format_spans(ED_CHAT_ZEPHYR, "<s>", "</s>", m, n, true, text, cap, &len, spans, &n_spans);
    ED_CHECK_INT(rc, 0);
    text[rc == 0 ? len : 0] = '\0';
    if (rc == 0)
        ED_CHECK_INT(ed_tokenizer_encode_literal(vocab, text, len, true, spans, n_spans, ids, n_ids, &n_out), 0);
    return n_out;
}

static bool same_tokens(const ed_prompt_t *p, const int32_t *ids, size_t n)
{
    return p->n_tokens == (int)n && memcmp(p->tokens, ids, n * sizeof *ids) == 0;
}

static int count_id(const int32_t *ids, int n, int32_t id)
{
    int c = 0;
    for (int i = 0; i < n; i++)
        c += ids[i] == id;
    return c;
}

ED_TEST(chat_without_notes_renders_as_the_template)
{
    ed_prompt_model_t model = open_model(512);
    const ed_chat_message_t m[] = {MSG(ED_CHAT_SYSTEM, "Be brief."), MSG(ED_CHAT_USER, "When is the dentist?")};
    char text[1024];
    int32_t ids[512];
    size_t n = reference_chat(m, 2, text, sizeof text, ids, 512);
    ed_prompt_in_t in = {.messages = m, .n_messages = 2};
    char *rendered;
    size_t len, n_spans;
    ed_text_span_t *spans;
    ED_REQUIRE(ed_prompt_render(&model, &in, &rendered, &len, &spans, &n_spans) == 0);
    ED_CHECK(len == strlen(text) && memcmp(rendered, text, len) == 0);
    ED_CHECK_INT((int)n_spans, 2);
    free(rendered);
    free(spans);
    ed_prompt_t p;
    ED_REQUIRE(ed_prompt_build(&model, &in, &p) == 0);
    ED_CHECK(same_tokens(&p, ids, n));
    ED_CHECK(p.tokens[0] == vocab->bos);
    ed_prompt_free(&p);
}

ED_TEST(notes_join_the_opening_system_message)
{
    ed_prompt_model_t model = open_model(512);
    const ed_chat_message_t m[] = {MSG(ED_CHAT_SYSTEM, "Be brief."), MSG(ED_CHAT_USER, "When is the dentist?")};
    const ed_chat_message_t merged[] = {MSG(ED_CHAT_SYSTEM, "Be brief.\n\n" INSTRUCTION NOTES),
                                        MSG(ED_CHAT_USER, "When is the dentist?")};
    char text[2048];
    int32_t ids[512];
    size_t n = reference_chat(merged, 2, text, sizeof text, ids, 512);
    ed_prompt_in_t in = {.messages = m, .n_messages = 2, .notes = NOTES, .notes_len = sizeof NOTES - 1};
    char *rendered;
    size_t len, n_spans;
    ed_text_span_t *spans;
    ED_REQUIRE(ed_prompt_render(&model, &in, &rendered, &len, &spans, &n_spans) == 0);
    ED_CHECK(len == strlen(text) && memcmp(rendered, text, len) == 0);
    free(rendered);
    free(spans);
    ed_prompt_t p;
    ED_REQUIRE(ed_prompt_build(&model, &in, &p) == 0);
    ED_CHECK(same_tokens(&p, ids, n));
    /* the template's two end-of-turn markers are tokens, the </s> in the notes is text */
    ED_CHECK_INT(count_id(p.tokens, p.n_tokens, vocab->eos), 2);
    ed_prompt_free(&p);
}

ED_TEST(notes_open_a_conversation_without_a_system_message)
{
    ed_prompt_model_t model = open_model(512);
    const ed_chat_message_t m[] = {MSG(ED_CHAT_USER, "Where is the passport?")};
    const ed_chat_message_t with[] = {MSG(ED_CHAT_SYSTEM, INSTRUCTION NOTES), MSG(ED_CHAT_USER, "Where is the passport?")};
    char text[2048];
    int32_t ids[512];
    size_t n = reference_chat(with, 2, text, sizeof text, ids, 512);
    ed_prompt_in_t in = {.messages = m, .n_messages = 1, .notes = NOTES, .notes_len = sizeof NOTES - 1};
    ed_prompt_t p;
    ED_REQUIRE(ed_prompt_build(&model, &in, &p) == 0);
    ED_CHECK(same_tokens(&p, ids, n));
    ed_prompt_free(&p);
}

ED_TEST(plain_prompt_with_and_without_notes)
{
    ed_prompt_model_t model = open_model(512);
    static const char prompt[] = "The passport is in";
    int32_t ids[512];
    size_t n = 0;
    ED_REQUIRE(ed_tokenizer_encode(vocab, prompt, sizeof prompt - 1, true, false, ids, 512, &n) == 0);
    ed_prompt_in_t in = {.text = prompt, .len = sizeof prompt - 1};
    ed_prompt_t p;
    ED_REQUIRE(ed_prompt_build(&model, &in, &p) == 0);
    ED_CHECK(same_tokens(&p, ids, n));
    ed_prompt_free(&p);
    /* notes: the block before the prompt, all of it text */
    static const char joined[] = NOTES "\n\n" "The passport is in";
    ED_REQUIRE(ed_tokenizer_encode(vocab, joined, sizeof joined - 1, true, false, ids, 512, &n) == 0);
    in.notes = NOTES;
    in.notes_len = sizeof NOTES - 1;
    char *rendered;
    size_t len, n_spans;
    ed_text_span_t *spans;
    ED_REQUIRE(ed_prompt_render(&model, &in, &rendered, &len, &spans, &n_spans) == 0);
    ED_CHECK(len == sizeof joined - 1 && memcmp(rendered, joined, len) == 0 && spans == NULL && n_spans == 0);
    free(rendered);
    ED_REQUIRE(ed_prompt_build(&model, &in, &p) == 0);
    ED_CHECK(same_tokens(&p, ids, n));
    ED_CHECK_INT(count_id(p.tokens, p.n_tokens, vocab->eos), 0);
    ed_prompt_free(&p);
}

ED_TEST(the_budget_is_the_context_less_one)
{
    ed_prompt_model_t model = open_model(512);
    const ed_chat_message_t m[] = {MSG(ED_CHAT_USER, "one two three four five six seven eight nine ten")};
    ed_prompt_in_t in = {.messages = m, .n_messages = 1, .notes = NOTES, .notes_len = sizeof NOTES - 1};
    ed_prompt_t p;
    ED_REQUIRE(ed_prompt_build(&model, &in, &p) == 0);
    int n = p.n_tokens;
    ed_prompt_free(&p);
    model.n_ctx = n + 1; /* fits: one token left to generate */
    ED_CHECK_INT(ed_prompt_build(&model, &in, &p), 0);
    ED_CHECK_INT(p.n_tokens, n);
    ed_prompt_free(&p);
    model.n_ctx = n; /* one too many: refused with the count */
    ED_CHECK_INT(ed_prompt_build(&model, &in, &p), ED_ERANGE);
    ED_CHECK_INT(p.n_tokens, n);
    ED_CHECK(p.tokens == NULL && p.n_bytes > 0);
    model.n_ctx = 8; /* far too small: the count is still known */
    ED_CHECK_INT(ed_prompt_build(&model, &in, &p), ED_ERANGE);
    ED_CHECK_INT(p.n_tokens, n);
    /* without the notes the same conversation fits */
    in.notes = NULL;
    in.notes_len = 0;
    model.n_ctx = n;
    ED_CHECK_INT(ed_prompt_build(&model, &in, &p), 0);
    ED_CHECK(p.n_tokens < n);
    ed_prompt_free(&p);
}

ED_TEST_MAIN(chat_without_notes_renders_as_the_template, notes_join_the_opening_system_message,
             notes_open_a_conversation_without_a_system_message, plain_prompt_with_and_without_notes,
             the_budget_is_the_context_less_one)
