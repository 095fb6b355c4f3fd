/* chat.h - chat prompts: recognises a model's chat format from the Jinja
 * source in `tokenizer.chat_template` by its distinctive markers (the
 * template is never executed) and renders {role, content} messages the way
 * that family's template does. The rendered text leaves out the leading BOS
 * (encode it with add_special = true, which adds it) and spells the other
 * special tokens as text (encode with parse_special = true). */
#ifndef ED_MODEL_CHAT_H
#define ED_MODEL_CHAT_H

#include "core/error.h"
#include "model/tokenizer.h"

#include <stdbool.h>
#include <stddef.h>

typedef enum {
    ED_CHAT_CHATML = 0, /* <|im_start|>role ... <|im_end|>: Qwen2, SmolLM; the fallback */
    ED_CHAT_LLAMA2,     /* [INST] with <<SYS>>: Llama 2 chat */
    ED_CHAT_LLAMA3,     /* <|start_header_id|>role<|end_header_id|> ... <|eot_id|> */
    ED_CHAT_MISTRAL,    /* [INST] without <<SYS>>: Mistral Instruct v0.1/v0.2 */
    ED_CHAT_ZEPHYR,     /* <|user|> ... eos: Zephyr, TinyLlama chat */
    ED_CHAT_PHI3,       /* <|user|> ... <|end|> */
    ED_CHAT_GEMMA,      /* <start_of_turn>user|model ... <end_of_turn> */
    ED_CHAT_QWEN3,      /* ChatML with Qwen3's <think> handling of assistant turns */
    ED_CHAT_PHI4,       /* <|user|>...<|end|> without newlines: Phi-4-mini */
} ed_chat_family_t;

typedef enum {
    ED_CHAT_SYSTEM = 0,
    ED_CHAT_USER,
    ED_CHAT_ASSISTANT,
} ed_chat_role_t;

typedef struct {
    ed_chat_role_t role;
    const char *content; /* not necessarily NUL-terminated */
    size_t len;          /* bytes of content */
} ed_chat_message_t;

/* The family of template text tmpl[0, len); ChatML when nothing matches
 * (also for NULL or an empty template). */
ed_chat_family_t ed_chat_detect(const char *tmpl, size_t len);
/* "chatml", "llama2", "llama3", "mistral", "zephyr", "phi3", "gemma", "qwen3", "phi4". */
const char *ed_chat_family_name(ed_chat_family_t family);
/* The family of a name above (a configuration override). 0 or ED_EINVAL. */
int ed_chat_family_from_name(const char *name, ed_chat_family_t *out);
/* "system", "user", "assistant" -> role. 0 or ED_EINVAL. */
int ed_chat_role_from_name(const char *name, size_t len, ed_chat_role_t *out);

/* Renders `messages` for `family` into out[0, cap) (no NUL), followed by the
 * assistant's turn header when add_generation_prompt. bos / eos: the texts of
 * the vocabulary's BOS and EOS tokens (Llama 2, Mistral and Zephyr write them
 * between turns). Families without a system role (Llama 2 through <<SYS>>,
 * Mistral, Gemma) fold a system message into the next user message.
 * Qwen3 renders assistant turns as its template does: the text after the
 * last </think> only for turns up to the last user message; a <think> block
 * (the reasoning found in the message, possibly empty) then the answer for
 * later ones that are last or carry reasoning. The generation prompt opens
 * the assistant's turn without a think block (thinking on, the template's
 * default); the generated text itself is left as generated.
 * Returns 0 with *n_out bytes, or ED_ERANGE with *n_out the size needed. */
int ed_chat_format(ed_chat_family_t family, const char *bos, const char *eos,
                   const ed_chat_message_t *messages, size_t n_messages, bool add_generation_prompt,
                   char *out, size_t cap, size_t *n_out);
/* The same, also recording where each message's content landed in out:
 * spans[0..*n_spans), at most n_messages of them (spans has room for
 * n_messages). Tokenize the text with ed_tokenizer_encode_literal(spans) so
 * that control tokens spelled in a message stay text. (A Qwen3 assistant turn
 * rendered with its think block has one span from the reasoning to the end
 * of the answer, the "</think>" between them included.) */
int ed_chat_format_spans(ed_chat_family_t family, const char *bos, const char *eos,
                         const ed_chat_message_t *messages, size_t n_messages, bool add_generation_prompt,
                         char *out, size_t cap, size_t *n_out, ed_text_span_t *spans, size_t *n_spans);

#endif
