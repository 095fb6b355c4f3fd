/* prompt.h - a model's prompt, rendered and tokenized once: chat messages in
 * the model's chat format, or a plain text prompt, with retrieved notes
 * placed in it when given (a chat: in the system message that opens it; a
 * plain prompt: the block before it). Shared by inference (api/infer) and,
 * later, training. Knows nothing of HTTP or JSON; any thread may call. */
#ifndef ED_MODEL_PROMPT_H
#define ED_MODEL_PROMPT_H

#include "model/chat.h"
#include "model/tokenizer.h"

#include <stddef.h>
#include <stdint.h>

/* The system text placed before the numbered notes in a chat. */
#define ED_PROMPT_NOTES_INSTRUCTION "Answer using the numbered notes below; cite them as [n].\n\n"

/* What rendering and tokenizing need of a model (borrowed). */
typedef struct {
    const ed_vocab_t *vocab;
    ed_chat_family_t chat;
    const char *bos_text; /* the BOS / EOS tokens' text ("" when none) */
    const char *eos_text;
    int n_ctx;            /* tokens the context holds: a prompt must be shorter */
} ed_prompt_model_t;

/* One prompt (borrowed). */
typedef struct {
    const ed_chat_message_t *messages; /* a chat (n_messages >= 1); NULL: `text` is the prompt */
    size_t n_messages;
    const char *text;                  /* the plain prompt, when messages is NULL */
    size_t len;
    const char *notes;                 /* retrieved notes (rag/retrieve's numbered block); NULL: none */
    size_t notes_len;
} ed_prompt_in_t;

typedef struct {
    int32_t *tokens; /* (n_tokens) malloc'd; BOS/EOS as the vocabulary asks */
    int n_tokens;    /* on ED_ERANGE: how many the prompt needs */
    size_t n_bytes;  /* the rendered text's length */
} ed_prompt_t;

/* Renders in: the text (malloc'd, no NUL) and, for a chat, where each
 * message's content landed (*spans malloc'd, *n_spans of them; NULL and 0
 * for a plain prompt). With notes, a chat opens with a system message
 * holding the conversation's own system text (when it opens with one), then
 * ED_PROMPT_NOTES_INSTRUCTION and the notes. 0, or ED_ENOMEM. */
int ed_prompt_render(const ed_prompt_model_t *model, const ed_prompt_in_t *in, char **text, size_t *len,
                     ed_text_span_t **spans, size_t *n_spans);

/* Tokenizes text[0, len) for model: with `literal` (a rendered chat's spans)
 * the template's control tokens become tokens and those spelled inside the
 * spans stay text; without, all of it is text. 0 with out (fewer tokens than
 * n_ctx); ED_ERANGE (out->n_tokens: the count, at least n_ctx), ED_ETOOBIG
 * (too large to tokenize at all), ED_ENOMEM; out->n_bytes is len always.
 * out->tokens is NULL unless 0. */
int ed_prompt_tokenize(const ed_prompt_model_t *model, const char *text, size_t len, const ed_text_span_t *literal,
                       size_t n_literal, ed_prompt_t *out);

/* ed_prompt_render, then ed_prompt_tokenize: the one pass a request needs. */
int ed_prompt_build(const ed_prompt_model_t *model, const ed_prompt_in_t *in, ed_prompt_t *out);

/* Frees out->tokens and zeroes out. */
void ed_prompt_free(ed_prompt_t *out);

#endif
