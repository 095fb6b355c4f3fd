/* tests/unit/model/chat.c - chat-family detection from real template sources
 * (as shipped in the models' tokenizer_config.json) and each family's
 * rendering of a conversation, compared with what the reference Jinja
 * template renders (leading BOS left out). */
#include "model/chat.h"
#include "tests/test.h"

#define SYSTEM "You are a helpful assistant"

static const char *render(ed_chat_family_t family, const char *eos, const ed_chat_message_t *m, size_t n,
                          bool add_generation_prompt)
{
    static char out[4096];
    size_t len = 0;
    if (ed_chat_format(family, family == ED_CHAT_GEMMA ? "<bos>" : "<s>", eos, m, n, add_generation_prompt,
                       out, sizeof out - 1, &len) < 0)
        return "(error)";
    out[len] = '\0';
    return out;
}

#define MSG(role, text) {role, text, sizeof text - 1}

static const ed_chat_message_t THREE[] = {
    MSG(ED_CHAT_SYSTEM, SYSTEM),
    MSG(ED_CHAT_USER, "Hello"),
    MSG(ED_CHAT_ASSISTANT, "Hi there"),
};

ED_TEST(three_messages_per_family)
{
    ED_CHECK_STR(render(ED_CHAT_CHATML, "</s>", THREE, 3, true),
                 "<|im_start|>system\n" SYSTEM "<|im_end|>\n<|im_start|>user\nHello<|im_end|>\n"
                 "<|im_start|>assistant\nHi there<|im_end|>\n<|im_start|>assistant\n");
    ED_CHECK_STR(render(ED_CHAT_LLAMA2, "</s>", THREE, 3, true),
                 "[INST] <<SYS>>\n" SYSTEM "\n<</SYS>>\n\nHello [/INST] Hi there </s>");
    ED_CHECK_STR(render(ED_CHAT_LLAMA3, "<|end_of_text|>", THREE, 3, true),
                 "<|start_header_id|>system<|end_header_id|>\n\n" SYSTEM "<|eot_id|>"
                 "<|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|>"
                 "<|start_header_id|>assistant<|end_header_id|>\n\nHi there<|eot_id|>"
                 "<|start_header_id|>assistant<|end_header_id|>\n\n");
    ED_CHECK_STR(render(ED_CHAT_MISTRAL, "</s>", THREE, 3, true),
                 "[INST] " SYSTEM "\n\nHello [/INST]Hi there</s>");
    ED_CHECK_STR(render(ED_CHAT_ZEPHYR, "</s>", THREE, 3, true),
                 "<|system|>\n" SYSTEM "</s>\n<|user|>\nHello</s>\n<|assistant|>\nHi there</s>\n<|assistant|>\n");
    ED_CHECK_STR(render(ED_CHAT_PHI3, "<|endoftext|>", THREE, 3, true),
                 "<|system|>\n" SYSTEM "<|end|>\n<|user|>\nHello<|end|>\n<|assistant|>\nHi there<|end|>\n"
                 "<|assistant|>\n");
    ED_CHECK_STR(render(ED_CHAT_GEMMA, "<eos>", THREE, 3, true),
                 "<start_of_turn>user\n" SYSTEM "\n\nHello<end_of_turn>\n<start_of_turn>model\nHi there"
                 "<end_of_turn>\n<start_of_turn>model\n");
    /* Qwen3 (its template, by hand): a final assistant turn after the last
     * user message gets a think block, empty here */
    ED_CHECK_STR(render(ED_CHAT_QWEN3, "<|im_end|>", THREE, 3, true),
                 "<|im_start|>system\n" SYSTEM "<|im_end|>\n<|im_start|>user\nHello<|im_end|>\n"
                 "<|im_start|>assistant\n<think>\n\n</think>\n\nHi there<|im_end|>\n<|im_start|>assistant\n");
    /* Phi-4-mini: role tags without newlines */
    ED_CHECK_STR(render(ED_CHAT_PHI4, "<|endoftext|>", THREE, 3, true),
                 "<|system|>" SYSTEM "<|end|><|user|>Hello<|end|><|assistant|>Hi there<|end|><|assistant|>");
    /* Without the generation prompt the header is left off. */
    ED_CHECK_STR(render(ED_CHAT_CHATML, "</s>", THREE, 2, false),
                 "<|im_start|>system\n" SYSTEM "<|im_end|>\n<|im_start|>user\nHello<|im_end|>\n");
}

/* The conversation of llama.cpp's chat-template test: spaces around the second
 * answer show which families trim. */
static const ed_chat_message_t SIX[] = {
    MSG(ED_CHAT_SYSTEM, SYSTEM),
    MSG(ED_CHAT_USER, "Hello"),
    MSG(ED_CHAT_ASSISTANT, "Hi there"),
    MSG(ED_CHAT_USER, "Who are you"),
    MSG(ED_CHAT_ASSISTANT, "   I am an assistant   "),
    MSG(ED_CHAT_USER, "Another question"),
};

ED_TEST(longer_conversations_match_the_reference_renderings)
{
    ED_CHECK_STR(render(ED_CHAT_CHATML, "</s>", SIX, 6, true),
                 "<|im_start|>system\n" SYSTEM "<|im_end|>\n<|im_start|>user\nHello<|im_end|>\n"
                 "<|im_start|>assistant\nHi there<|im_end|>\n<|im_start|>user\nWho are you<|im_end|>\n"
                 "<|im_start|>assistant\n   I am an assistant   <|im_end|>\n<|im_start|>user\n"
                 "Another question<|im_end|>\n<|im_start|>assistant\n");
    ED_CHECK_STR(render(ED_CHAT_LLAMA2, "</s>", SIX, 6, true),
                 "[INST] <<SYS>>\n" SYSTEM "\n<</SYS>>\n\nHello [/INST] Hi there </s><s>[INST] Who are you "
                 "[/INST] I am an assistant </s><s>[INST] Another question [/INST]");
    ED_CHECK_STR(render(ED_CHAT_LLAMA3, "<|end_of_text|>", SIX, 6, true),
                 "<|start_header_id|>system<|end_header_id|>\n\n" SYSTEM "<|eot_id|>"
                 "<|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|>"
                 "<|start_header_id|>assistant<|end_header_id|>\n\nHi there<|eot_id|>"
                 "<|start_header_id|>user<|end_header_id|>\n\nWho are you<|eot_id|>"
                 "<|start_header_id|>assistant<|end_header_id|>\n\nI am an assistant<|eot_id|>"
                 "<|start_header_id|>user<|end_header_id|>\n\nAnother question<|eot_id|>"
                 "<|start_header_id|>assistant<|end_header_id|>\n\n");
    ED_CHECK_STR(render(ED_CHAT_MISTRAL, "</s>", SIX, 6, true),
                 "[INST] " SYSTEM "\n\nHello [/INST]Hi there</s>[INST] Who are you [/INST]"
                 "   I am an assistant   </s>[INST] Another question [/INST]");
    ED_CHECK_STR(render(ED_CHAT_PHI3, "<|endoftext|>", SIX, 6, true),
                 "<|system|>\n" SYSTEM "<|end|>\n<|user|>\nHello<|end|>\n<|assistant|>\nHi there<|end|>\n"
                 "<|user|>\nWho are you<|end|>\n<|assistant|>\n   I am an assistant   <|end|>\n"
                 "<|user|>\nAnother question<|end|>\n<|assistant|>\n");
    ED_CHECK_STR(render(ED_CHAT_GEMMA, "<eos>", SIX, 6, true),
                 "<start_of_turn>user\n" SYSTEM "\n\nHello<end_of_turn>\n<start_of_turn>model\nHi there"
                 "<end_of_turn>\n<start_of_turn>user\nWho are you<end_of_turn>\n<start_of_turn>model\n"
                 "I am an assistant<end_of_turn>\n<start_of_turn>user\nAnother question<end_of_turn>\n"
                 "<start_of_turn>model\n");
    /* Qwen3 ending on a user turn renders as ChatML */
    ED_CHECK_STR(render(ED_CHAT_QWEN3, "<|im_end|>", SIX, 6, true), render(ED_CHAT_CHATML, "</s>", SIX, 6, true));
    ED_CHECK_STR(render(ED_CHAT_PHI4, "<|endoftext|>", SIX, 6, true),
                 "<|system|>" SYSTEM "<|end|><|user|>Hello<|end|><|assistant|>Hi there<|end|>"
                 "<|user|>Who are you<|end|><|assistant|>   I am an assistant   <|end|>"
                 "<|user|>Another question<|end|><|assistant|>");
    /* No system message: nothing folded. */
    ED_CHECK_STR(render(ED_CHAT_LLAMA2, "</s>", SIX + 1, 1, true), "[INST] Hello [/INST]");

    /* A short buffer reports the size needed. */
    char small[8];
    size_t need = 0;
    ED_CHECK_INT(ed_chat_format(ED_CHAT_CHATML, "<s>", "</s>", THREE, 3, true, small, sizeof small, &need),
                 ED_ERANGE);
    ED_CHECK_INT(need, strlen(render(ED_CHAT_CHATML, "</s>", THREE, 3, true)));
}

/* Qwen3's template on think blocks (expected strings worked out by hand from
 * the template's split/strip expressions): dropped from the turns before
 * the last user message, rebuilt (reasoning stripped of newlines) in a
 * final assistant turn; each message's text keeps one span. */
ED_TEST(qwen3_think_blocks_follow_its_template)
{
    static const ed_chat_message_t history[] = {
        MSG(ED_CHAT_USER, "What is 2+2?"),
        MSG(ED_CHAT_ASSISTANT, "<think>\nA simple sum.\n</think>\n\n4"),
        MSG(ED_CHAT_USER, "And 3+3?"),
    };
    ED_CHECK_STR(render(ED_CHAT_QWEN3, "<|im_end|>", history, 3, true),
                 "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n4<|im_end|>\n"
                 "<|im_start|>user\nAnd 3+3?<|im_end|>\n<|im_start|>assistant\n");
    static const ed_chat_message_t prefill[] = {
        MSG(ED_CHAT_SYSTEM, SYSTEM),
        MSG(ED_CHAT_USER, "Q"),
        MSG(ED_CHAT_ASSISTANT, "\n<think>\n\nR1\n\n</think>\n\n\nA"),
    };
    ED_CHECK_STR(render(ED_CHAT_QWEN3, "<|im_end|>", prefill, 3, false),
                 "<|im_start|>system\n" SYSTEM "<|im_end|>\n<|im_start|>user\nQ<|im_end|>\n"
                 "<|im_start|>assistant\n<think>\nR1\n</think>\n\nA<|im_end|>\n");
    /* a system message after the first renders as its own turn */
    static const ed_chat_message_t two_systems[] = {
        MSG(ED_CHAT_USER, "Hi"),
        MSG(ED_CHAT_SYSTEM, "Be brief"),
    };
    ED_CHECK_STR(render(ED_CHAT_QWEN3, "<|im_end|>", two_systems, 2, true),
                 "<|im_start|>user\nHi<|im_end|>\n<|im_start|>system\nBe brief<|im_end|>\n<|im_start|>assistant\n");

    char out[512];
    size_t len = 0, n_spans = 0;
    ed_text_span_t spans[3];
    ED_REQUIRE(ed_chat_format_spans(ED_CHAT_QWEN3, "", "<|im_end|>", prefill, 3, false, out, sizeof out, &len,
                                    spans, &n_spans) == 0);
    ED_CHECK_INT(n_spans, 3);
    ED_CHECK(spans[2].len == strlen("R1\n</think>\n\nA") &&
             memcmp(out + spans[2].offset, "R1\n</think>\n\nA", spans[2].len) == 0);
    ED_REQUIRE(ed_chat_format_spans(ED_CHAT_QWEN3, "", "<|im_end|>", history, 3, true, out, sizeof out, &len, spans,
                                    &n_spans) == 0);
    ED_CHECK_INT(n_spans, 3);
    ED_CHECK(spans[1].len == 1 && out[spans[1].offset] == '4');
}

/* gemma-3-1b-it's chat_template, as its tokenizer_config.json ships it */
#define GEMMA3_TEMPLATE                                                                                        \
    "{{ bos_token }}\n{%- if messages[0]['role'] == 'system' -%}\n    {%- if messages[0]['content'] is string "  \
    "-%}\n        {%- set first_user_prefix = messages[0]['content'] + '\\n\\n' -%}\n    {%- else -%}\n     "     \
    "   {%- set first_user_prefix = messages[0]['content'][0]['text'] + '\\n\\n' -%}\n    {%- endif -%}\n    " \
    "{%- set loop_messages = messages[1:] -%}\n{%- else -%}\n    {%- set first_user_prefix = \"\" -%}\n    {%- " \
    "set loop_messages = messages -%}\n{%- endif -%}\n{%- for message in loop_messages -%}\n    {%- if "        \
    "(message['role'] == 'user') != (loop.index0 % 2 == 0) -%}\n        {{ raise_exception(\"Conversation "    \
    "roles must alternate user/assistant/user/assistant/...\") }}\n    {%- endif -%}\n    {%- if "               \
    "(message['role'] == 'assistant') -%}\n        {%- set role = \"model\" -%}\n    {%- else -%}\n        {%- " \
    "set role = message['role'] -%}\n    {%- endif -%}\n    {{ '<start_of_turn>' + role + '\\n' + "            \
    "(first_user_prefix if loop.first else \"\") }}\n    {%- if message['content'] is string -%}\n        {{ "   \
    "message['content'] | trim }}\n    {%- elif message['content'] is iterable -%}\n        {%- for item in "    \
    "message['content'] -%}\n            {%- if item['type'] == 'image' -%}\n                {{ "              \
    "'<start_of_image>' }}\n            {%- elif item['type'] == 'text' -%}\n                {{ item['text'] | "  \
    "trim }}\n            {%- endif -%}\n        {%- endfor -%}\n    {%- else -%}\n        {{ "                 \
    "raise_exception(\"Invalid content type\") }}\n    {%- endif -%}\n    {{ '<end_of_turn>\\n' }}\n{%- endfor " \
    "-%}\n{%- if add_generation_prompt -%}\n    {{'<start_of_turn>model\\n'}}\n{%- endif -%}\n"

/* Gemma 3's template by hand: the system content + "\n\n" as it is, then
 * the first user content trimmed; every later content trimmed; "assistant"
 * becomes "model". Gemma 2's template refuses a system message; edged folds
 * it the same way (as llama.cpp does for both). */
ED_TEST(gemma_folds_the_system_message_as_gemma3_does)
{
    static const ed_chat_message_t padded[] = {
        MSG(ED_CHAT_SYSTEM, " Be brief.\n"),
        MSG(ED_CHAT_USER, "  What is 2+2? "),
        MSG(ED_CHAT_ASSISTANT, "\n4\n"),
        MSG(ED_CHAT_USER, "And 3+3?\n"),
    };
    ED_CHECK_STR(render(ED_CHAT_GEMMA, "<eos>", padded, 4, true),
                 "<start_of_turn>user\n Be brief.\n\n\nWhat is 2+2?<end_of_turn>\n<start_of_turn>model\n4"
                 "<end_of_turn>\n<start_of_turn>user\nAnd 3+3?<end_of_turn>\n<start_of_turn>model\n");
    /* no system message: no prefix */
    ED_CHECK_STR(render(ED_CHAT_GEMMA, "<eos>", padded + 1, 1, false),
                 "<start_of_turn>user\nWhat is 2+2?<end_of_turn>\n");
}

ED_TEST(families_are_detected_from_real_templates)
{
    static const struct {
        const char *tmpl;
        ed_chat_family_t family;
    } CASES[] = {
        /* Qwen2-Instruct */
        {"{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ "
         "'<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{% endif %}{{'<|im_start|>' + "
         "message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if "
         "add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}",
         ED_CHAT_CHATML},
        /* SmolLM-Instruct */
        {"{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + "
         "'<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% "
         "endif %}",
         ED_CHAT_CHATML},
        /* Llama-2-chat */
        {"{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set "
         "system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set "
         "system_message = false %}{% endif %}{% for message in loop_messages %}{% if loop.index0 == 0 and "
         "system_message != false %}{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + "
         "message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}{% if "
         "message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif "
         "message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% "
         "endfor %}",
         ED_CHAT_LLAMA2},
        /* Mistral-7B-Instruct-v0.2 */
        {"{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 "
         "== 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') "
         "}}{% endif %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% "
         "elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}{% else %}{{ "
         "raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}",
         ED_CHAT_MISTRAL},
        /* Meta-Llama-3-8B-Instruct */
        {"{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = "
         "'<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + "
         "'<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ "
         "content }}{% endfor %}{% if add_generation_prompt %}{{ "
         "'<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}",
         ED_CHAT_LLAMA3},
        /* TinyLlama-1.1B-Chat-v1.0 (Zephyr) */
        {"{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\n' + "
         "message['content'] + eos_token }}\n{% elif message['role'] == 'system' %}\n{{ '<|system|>\n' + "
         "message['content'] + eos_token }}\n{% elif message['role'] == 'assistant' %}\n{{ '<|assistant|>\n' "
         " + message['content'] + eos_token }}\n{% endif %}\n{% if loop.last and add_generation_prompt "
         "%}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}",
         ED_CHAT_ZEPHYR},
        /* Phi-3-mini-4k-instruct */
        {"{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') %}{{'<|user|>' + "
         "'\n' + message['content'] + '<|end|>' + '\n' + '<|assistant|>' + '\n'}}{% elif (message['role'] == "
         "'assistant') %}{{message['content'] + '<|end|>' + '\n'}}{% endif %}{% endfor %}",
         ED_CHAT_PHI3},
        /* gemma-7b-it */
        {"{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not "
         "supported') }}{% endif %}{% for message in messages %}{% if (message['role'] == 'assistant') %}{% "
         "set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif %}{{ '<start_of_turn>' + "
         "role + '\\n' + message['content'] | trim + '<end_of_turn>\\n' }}{% endfor %}{% if "
         "add_generation_prompt %}{{'<start_of_turn>model\\n'}}{% endif %}",
         ED_CHAT_GEMMA},
        /* gemma-2-2b-it */
        {"{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not "
         "supported') }}{% endif %}{% for message in messages %}{% if (message['role'] == 'user') != "
         "(loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate "
         "user/assistant/user/assistant/...') }}{% endif %}{% if (message['role'] == 'assistant') %}{% set role "
         "= 'model' %}{% else %}{% set role = message['role'] %}{% endif %}{{ '<start_of_turn>' + role + '\\n' "
         "+ message['content'] | trim + '<end_of_turn>\\n' }}{% endfor %}{% if add_generation_prompt "
         "%}{{'<start_of_turn>model\\n'}}{% endif %}",
         ED_CHAT_GEMMA},
        /* gemma-3-1b-it (gemma-3-270m-it ships the same) */
        {GEMMA3_TEMPLATE, ED_CHAT_GEMMA},
        /* Phi-3.5-mini-instruct */
        {"{% for message in messages %}{% if message['role'] == 'system' and message['content'] %}{{'<|system|>\n' "
         "+ message['content'] + '<|end|>\n'}}{% elif message['role'] == 'user' %}{{'<|user|>\n' + "
         "message['content'] + '<|end|>\n'}}{% elif message['role'] == 'assistant' %}{{'<|assistant|>\n' + "
         "message['content'] + '<|end|>\n'}}{% endif %}{% endfor %}{% if add_generation_prompt %}{{ "
         "'<|assistant|>\n' }}{% else %}{{ eos_token }}{% endif %}",
         ED_CHAT_PHI3},
        /* Phi-4-mini-instruct */
        {"{% for message in messages %}{% if message['role'] == 'system' and 'tools' in message and "
         "message['tools'] is not none %}{{ '<|' + message['role'] + '|>' + message['content'] + '<|tool|>' + "
         "message['tools'] + '<|/tool|>' + '<|end|>' }}{% else %}{{ '<|' + message['role'] + '|>' + "
         "message['content'] + '<|end|>' }}{% endif %}{% endfor %}{% if add_generation_prompt %}{{ "
         "'<|assistant|>' }}{% else %}{{ eos_token }}{% endif %}",
         ED_CHAT_PHI4},
        /* Qwen3 (the parts that matter: ChatML, the last query, the think split) */
        {"{%- set ns = namespace(multi_step_tool=true, last_query_index=messages|length - 1) %}\n"
         "{%- for message in messages[::-1] %}\n    {%- set index = (messages|length - 1) - loop.index0 %}\n"
         "    {%- if ns.multi_step_tool and message.role == \"user\" and message.content is string and "
         "not(message.content.startswith('<tool_response>') and message.content.endswith('</tool_response>')) "
         "%}\n        {%- set ns.multi_step_tool = false %}\n        {%- set ns.last_query_index = index %}\n"
         "    {%- endif %}\n{%- endfor %}\n{%- for message in messages %}\n"
         "    {%- if (message.role == \"user\") or (message.role == \"system\" and not loop.first) %}\n"
         "        {{- '<|im_start|>' + message.role + '\\n' + content + '<|im_end|>' + '\\n' }}\n"
         "    {%- elif message.role == \"assistant\" %}\n            {%- if '</think>' in content %}\n"
         "                {%- set reasoning_content = "
         "content.split('</think>')[0].rstrip('\\n').split('<think>')[-1].lstrip('\\n') %}\n"
         "{%- if add_generation_prompt %}\n    {{- '<|im_start|>assistant\\n' }}\n"
         "    {%- if enable_thinking is defined and enable_thinking is false %}\n"
         "        {{- '<think>\\n\\n</think>\\n\\n' }}\n    {%- endif %}\n{%- endif %}",
         ED_CHAT_QWEN3},
        /* Something unknown falls back to ChatML. */
        {"{% for message in messages %}### {{ message['role'] }}:\n{{ message['content'] }}\n{% endfor %}",
         ED_CHAT_CHATML},
    };
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
        ed_chat_family_t got = ed_chat_detect(CASES[i].tmpl, strlen(CASES[i].tmpl));
        if (got != CASES[i].family)
            printf("#   case %zu: %s, expected %s\n", i, ed_chat_family_name(got),
                   ed_chat_family_name(CASES[i].family));
        ED_CHECK_INT(got, CASES[i].family);
    }
    ED_CHECK_INT(ed_chat_detect(NULL, 0), ED_CHAT_CHATML);
}

ED_TEST(names_round_trip)
{
    for (int f = ED_CHAT_CHATML; f <= ED_CHAT_PHI4; f++) {
        ed_chat_family_t back;
        ED_CHECK_INT(ed_chat_family_from_name(ed_chat_family_name((ed_chat_family_t)f), &back), 0);
        ED_CHECK_INT(back, f);
    }
    ed_chat_family_t family;
    ED_CHECK_INT(ed_chat_family_from_name("vicuna", &family), ED_EINVAL);
    ed_chat_role_t role;
    ED_CHECK_INT(ed_chat_role_from_name("assistant", 9, &role), 0);
    ED_CHECK_INT(role, ED_CHAT_ASSISTANT);
    ED_CHECK_INT(ed_chat_role_from_name("tool", 4, &role), ED_EINVAL);
}

ED_TEST_MAIN(three_messages_per_family, longer_conversations_match_the_reference_renderings,
             gemma_folds_the_system_message_as_gemma3_does,
             qwen3_think_blocks_follow_its_template, families_are_detected_from_real_templates, names_round_trip)
