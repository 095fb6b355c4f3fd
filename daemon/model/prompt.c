/* prompt.c - see prompt.h: the notes' system message, the chat format
 * (model/chat.h) grown until the text fits, and one tokenization bounded by
 * the context. */
#include "model/prompt.h"
#include "core/buf.h"

#include <stdlib.h>
#include <string.h>

/* The system message that carries the notes: the conversation's own system
 * text (when it opens with one), then the instruction and the notes. */
static void notes_system(const ed_chat_message_t *first, const char *notes, size_t notes_len, ed_buf_t *out)
{
    if (first->role == ED_CHAT_SYSTEM && first->len > 0) {
        ed_buf_append(out, first->content, first->len);
        ed_buf_puts(out, "\n\n");
    }
    ed_buf_puts(out, ED_PROMPT_NOTES_INSTRUCTION);
    ed_buf_append(out, notes, notes_len);
}

static int render_chat(const ed_prompt_model_t *model, const ed_prompt_in_t *in, char **out, size_t *n_out,
                       ed_text_span_t **spans_out, size_t *n_spans_out)
{
    size_t n = in->n_messages, n_list = n, total = 0;
    const ed_chat_message_t *first = in->messages;
    ed_chat_message_t *list = NULL; /* with notes: the notes' system message, then the rest */
    ed_buf_t system;
    ed_buf_init(&system);
    int rc = 0;
    for (size_t i = 0; i < n; i++)
        total += in->messages[i].len;
    if (in->notes) {
        notes_system(&in->messages[0], in->notes, in->notes_len, &system);
        size_t skip = in->messages[0].role == ED_CHAT_SYSTEM ? 1 : 0; /* merged into the notes' message */
        n_list = n + 1 - skip;
        list = malloc(n_list * sizeof *list);
        if (!list || ed_buf_failed(&system)) {
            rc = ED_ENOMEM;
        } else {
            list[0] = (ed_chat_message_t){.role = ED_CHAT_SYSTEM, .content = system.data, .len = system.len};
            memcpy(list + 1, in->messages + skip, (n - skip) * sizeof *list);
            first = list;
            total += system.len;
        }
    }
    size_t cap = total + 64 * (n_list + 2), len = 0, n_spans = 0;
    char *text = NULL;
    ed_text_span_t *spans = rc == 0 ? malloc((n_list + 1) * sizeof *spans) : NULL;
    if (rc == 0 && !spans)
        rc = ED_ENOMEM;
    while (rc == 0) {
        char *grown = realloc(text, cap);
        if (!grown) {
            rc = ED_ENOMEM;
            break;
        }
        text = grown;
        rc = ed_chat_format_spans(model->chat, model->bos_text, model->eos_text, first, n_list, true, text, cap, &len,
                                  spans, &n_spans);
        if (rc == ED_ERANGE) {
            cap = len;
            rc = 0;
            continue;
        }
        break;
    }
    ed_buf_free(&system);
    free(list);
    if (rc < 0) {
        free(text);
        free(spans);
        return rc;
    }
    *out = text;
    *n_out = len;
    *spans_out = spans;
    *n_spans_out = n_spans;
    return 0;
}

int ed_prompt_render(const ed_prompt_model_t *model, const ed_prompt_in_t *in, char **text, size_t *len,
                     ed_text_span_t **spans, size_t *n_spans)
{
    *text = NULL;
    *len = 0;
    *spans = NULL;
    *n_spans = 0;
    if (in->messages)
        return render_chat(model, in, text, len, spans, n_spans);
    ed_buf_t joined;
    ed_buf_init(&joined);
    if (in->notes) {
        ed_buf_append(&joined, in->notes, in->notes_len);
        ed_buf_puts(&joined, "\n\n");
    }
    ed_buf_append(&joined, in->text, in->len);
    if (ed_buf_failed(&joined)) {
        ed_buf_free(&joined);
        return ED_ENOMEM;
    }
    *text = ed_buf_steal(&joined, len);
    return *text ? 0 : ED_ENOMEM;
}

int ed_prompt_tokenize(const ed_prompt_model_t *model, const char *text, size_t len, const ed_text_span_t *literal,
                       size_t n_literal, ed_prompt_t *out)
{
    *out = (ed_prompt_t){.n_bytes = len};
    size_t cap = (size_t)model->n_ctx, n = 0;
    int32_t *tokens = malloc(cap * sizeof *tokens);
    if (!tokens)
        return ED_ENOMEM;
    int rc = literal ? ed_tokenizer_encode_literal(model->vocab, text, len, true, literal, n_literal, tokens, cap, &n)
                     : ed_tokenizer_encode(model->vocab, text, len, true, false, tokens, cap, &n);
    if (rc == 0 && n >= cap)
        rc = ED_ERANGE;
    if (rc < 0) {
        free(tokens);
        out->n_tokens = rc == ED_ERANGE ? (n > INT32_MAX ? INT32_MAX : (int)n) : 0;
        return rc;
    }
    out->tokens = tokens;
    out->n_tokens = (int)n;
    return 0;
}

int ed_prompt_build(const ed_prompt_model_t *model, const ed_prompt_in_t *in, ed_prompt_t *out)
{
    *out = (ed_prompt_t){0};
    if (!in->messages && !in->notes) /* nothing to render: the text is the prompt */
        return ed_prompt_tokenize(model, in->text, in->len, NULL, 0, out);
    char *text;
    size_t len, n_spans;
    ed_text_span_t *spans;
    int rc = ed_prompt_render(model, in, &text, &len, &spans, &n_spans);
    if (rc == 0)
        rc = ed_prompt_tokenize(model, text, len, in->messages ? spans : NULL, n_spans, out);
    free(text);
    free(spans);
    return rc;
}

void ed_prompt_free(ed_prompt_t *out)
{
    free(out->tokens);
    *out = (ed_prompt_t){0};
}
