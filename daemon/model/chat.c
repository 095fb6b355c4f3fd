/* chat.c - chat-format detection by marker strings and rendering of each
 * family (Qwen3's think blocks and Phi-4-mini's newline-free tags included)
 * as its reference Jinja template renders it (Hugging Face's
 * apply_chat_template: trim_blocks, and the `| trim` / `.strip()` the
 * templates apply), minus the leading BOS. */
#include "model/chat.h"

#include <string.h>

static const char *const NAMES[] = {
    [ED_CHAT_CHATML] = "chatml", [ED_CHAT_LLAMA2] = "llama2", [ED_CHAT_LLAMA3] = "llama3",
    [ED_CHAT_MISTRAL] = "mistral", [ED_CHAT_ZEPHYR] = "zephyr", [ED_CHAT_PHI3] = "phi3",
    [ED_CHAT_GEMMA] = "gemma", [ED_CHAT_QWEN3] = "qwen3", [ED_CHAT_PHI4] = "phi4",
};
#define N_FAMILIES (sizeof NAMES / sizeof NAMES[0])

const char *ed_chat_family_name(ed_chat_family_t family)
{
    return (size_t)family < N_FAMILIES ? NAMES[family] : "unknown";
}

int ed_chat_family_from_name(const char *name, ed_chat_family_t *out)
{
    for (size_t i = 0; i < N_FAMILIES; i++)
        if (strcmp(name, NAMES[i]) == 0) {
            *out = (ed_chat_family_t)i;
            return 0;
        }
    return ED_EINVAL;
}

int ed_chat_role_from_name(const char *name, size_t len, ed_chat_role_t *out)
{
    static const char *const ROLES[] = {"system", "user", "assistant"};
    for (size_t i = 0; i < 3; i++)
        if (strlen(ROLES[i]) == len && memcmp(ROLES[i], name, len) == 0) {
            *out = (ed_chat_role_t)i;
            return 0;
        }
    return ED_EINVAL;
}

static bool contains(const char *tmpl, size_t len, const char *marker)
{
    return memmem(tmpl, len, marker, strlen(marker)) != NULL;
}

ed_chat_family_t ed_chat_detect(const char *tmpl, size_t len)
{
    if (!tmpl || len == 0)
        return ED_CHAT_CHATML;
    /* Qwen3's template finds the last user query to decide which assistant
     * turns keep their <think> block (QwQ and SmolLM3 templates do not) */
    if (contains(tmpl, len, "<|im_start|>"))
        return contains(tmpl, len, "</think>") && contains(tmpl, len, "last_query_index") ? ED_CHAT_QWEN3
                                                                                          : ED_CHAT_CHATML;
    if (contains(tmpl, len, "<|start_header_id|>"))
        return ED_CHAT_LLAMA3;
    if (contains(tmpl, len, "<start_of_turn>"))
        return ED_CHAT_GEMMA;
    if (contains(tmpl, len, "[INST]"))
        return contains(tmpl, len, "<<SYS>>") ? ED_CHAT_LLAMA2 : ED_CHAT_MISTRAL;
    /* Phi-4-mini builds the role tag from the role name, with no newline */
    if (contains(tmpl, len, "<|end|>") && contains(tmpl, len, "'<|' + message['role'] + '|>' + message['content']"))
        return ED_CHAT_PHI4;
    if (contains(tmpl, len, "<|user|>"))
        return contains(tmpl, len, "<|end|>") ? ED_CHAT_PHI3 : ED_CHAT_ZEPHYR;
    return ED_CHAT_CHATML;
}

/* ------------------------------------------------------------- render ---- */

typedef struct {
    char *buf;
    size_t cap, n;         /* n counts past cap */
    ed_text_span_t *spans; /* where message contents land, or NULL */
    size_t n_spans;
} writer_t;

static void put(writer_t *w, const char *bytes, size_t len)
{
    if (w->n < w->cap)
        memcpy(w->buf + w->n, bytes, len < w->cap - w->n ? len : w->cap - w->n);
    w->n += len;
}

static void puts_(writer_t *w, const char *text) { put(w, text, strlen(text)); }

static bool is_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

/* A message's content, its place recorded. */
static void put_content(writer_t *w, const char *text, size_t len)
{
    if (w->spans)
        w->spans[w->n_spans++] = (ed_text_span_t){w->n, len};
    put(w, text, len);
}

/* Content after Jinja's `| trim` (Python's strip(), ASCII whitespace). */
static void put_trimmed(writer_t *w, const char *text, size_t len)
{
    while (len > 0 && is_space(text[0]))
        text++, len--;
    while (len > 0 && is_space(text[len - 1]))
        len--;
    put_content(w, text, len);
}

static const char *const ROLE_NAMES[] = {"system", "user", "assistant"};

/* A user message with a folded system message before it, as Llama 2,
 * Mistral and Gemma join them. */
static void put_user_content(writer_t *w, ed_chat_family_t family, const ed_chat_message_t *system,
                             const ed_chat_message_t *user)
{
    if (family == ED_CHAT_LLAMA2) {
        /* '<<SYS>>\n' + system + '\n<</SYS>>\n\n' + content, then .strip() */
        if (system) {
            puts_(w, "<<SYS>>\n");
            put_content(w, system->content, system->len);
            puts_(w, "\n<</SYS>>\n\n");
            put_trimmed(w, user->content, user->len);
        } else {
            put_trimmed(w, user->content, user->len);
        }
        return;
    }
    /* Gemma 3's template: first_user_prefix = system content + '\n\n' (not
     * trimmed), then the user content | trim; Gemma 1 and 2 refuse a system
     * message, edged folds it the same way */
    if (system) {
        put_content(w, system->content, system->len);
        puts_(w, "\n\n");
    }
    if (family == ED_CHAT_GEMMA)
        put_trimmed(w, user->content, user->len);
    else
        put_content(w, user->content, user->len);
}

/* One turn of a family without a system role; `system` is folded in. */
static void put_folded_turn(writer_t *w, ed_chat_family_t family, const char *bos, const char *eos,
                            const ed_chat_message_t *system, const ed_chat_message_t *m, bool first)
{
    switch (family) {
    case ED_CHAT_LLAMA2:
        if (m->role == ED_CHAT_ASSISTANT) {
            puts_(w, " ");
            put_trimmed(w, m->content, m->len);
            puts_(w, " ");
            puts_(w, eos);
        } else {
            if (!first)
                puts_(w, bos);
            puts_(w, "[INST] ");
            put_user_content(w, family, system, m);
            puts_(w, " [/INST]");
        }
        break;
    case ED_CHAT_MISTRAL:
        if (m->role == ED_CHAT_ASSISTANT) {
            put_content(w, m->content, m->len);
            puts_(w, eos);
        } else {
            puts_(w, "[INST] ");
            put_user_content(w, family, system, m);
            puts_(w, " [/INST]");
        }
        break;
    default: /* ED_CHAT_GEMMA */
        puts_(w, m->role == ED_CHAT_ASSISTANT ? "<start_of_turn>model\n" : "<start_of_turn>user\n");
        if (m->role == ED_CHAT_ASSISTANT)
            put_trimmed(w, m->content, m->len);
        else
            put_user_content(w, family, system, m);
        puts_(w, "<end_of_turn>\n");
        break;
    }
}

/* ---------------------------------------------------------------- qwen3 ---- */

/* The first occurrence of `needle` in text[0, len), or NULL. */
static const char *find(const char *text, size_t len, const char *needle)
{
    return memmem(text, len, needle, strlen(needle));
}

/* The last occurrence of `needle` in text[0, len), or NULL. */
static const char *find_last(const char *text, size_t len, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = len >= n ? len - n + 1 : 0; i-- > 0;)
        if (memcmp(text + i, needle, n) == 0)
            return text + i;
    return NULL;
}

static bool starts_with(const char *text, size_t len, const char *prefix)
{
    return len >= strlen(prefix) && memcmp(text, prefix, strlen(prefix)) == 0;
}

static bool ends_with(const char *text, size_t len, const char *suffix)
{
    size_t n = strlen(suffix);
    return len >= n && memcmp(text + len - n, suffix, n) == 0;
}

/* Qwen3's ns.last_query_index: the last user message that is not a wrapped
 * tool response; n - 1 when there is none. */
static size_t qwen3_last_query(const ed_chat_message_t *messages, size_t n)
{
    for (size_t i = n; i-- > 0;) {
        const ed_chat_message_t *m = &messages[i];
        if (m->role == ED_CHAT_USER &&
            !(starts_with(m->content, m->len, "<tool_response>") && ends_with(m->content, m->len, "</tool_response>")))
            return i;
    }
    return n - 1;
}

/* An assistant turn of Qwen3's template: the reasoning is the text between
 * the last <think> before the first </think> and that </think> (newlines
 * around it dropped), the answer what follows the last </think> (leading
 * newlines dropped). */
static void put_qwen3_assistant(writer_t *w, const ed_chat_message_t *m, bool after_query, bool last)
{
    const char *text = m->content, *reasoning = "";
    size_t len = m->len, reasoning_len = 0;
    const char *close = find(text, len, "</think>");
    if (close) {
        size_t before = (size_t)(close - text);
        const char *open = find_last(text, before, "<think>");
        reasoning = open ? open + 7 : text;
        reasoning_len = (size_t)(close - reasoning);
        const char *after = find_last(text, len, "</think>") + 8;
        len = (size_t)(text + len - after);
        text = after;
        while (len > 0 && text[0] == '\n')
            text++, len--;
    }
    /* the template's rstrip('\n').lstrip('\n'), then .strip('\n') */
    while (reasoning_len > 0 && reasoning[reasoning_len - 1] == '\n')
        reasoning_len--;
    while (reasoning_len > 0 && reasoning[0] == '\n')
        reasoning++, reasoning_len--;
    puts_(w, "<|im_start|>assistant\n");
    if (after_query && (last || reasoning_len > 0)) {
        puts_(w, "<think>\n");
        size_t start = w->n;
        put(w, reasoning, reasoning_len);
        puts_(w, "\n</think>\n\n");
        put(w, text, len);
        if (w->spans)
            w->spans[w->n_spans++] = (ed_text_span_t){start, w->n - start};
    } else {
        put_content(w, text, len);
    }
    puts_(w, "<|im_end|>\n");
}

int ed_chat_format(ed_chat_family_t family, const char *bos, const char *eos,
                   const ed_chat_message_t *messages, size_t n_messages, bool add_generation_prompt,
                   char *out, size_t cap, size_t *n_out)
{
    return ed_chat_format_spans(family, bos, eos, messages, n_messages, add_generation_prompt, out, cap, n_out,
                                NULL, NULL);
}

int ed_chat_format_spans(ed_chat_family_t family, const char *bos, const char *eos,
                         const ed_chat_message_t *messages, size_t n_messages, bool add_generation_prompt,
                         char *out, size_t cap, size_t *n_out, ed_text_span_t *spans, size_t *n_spans)
{
    writer_t w = {out, cap, 0, spans, 0};
    const bool folds_system = family == ED_CHAT_LLAMA2 || family == ED_CHAT_MISTRAL || family == ED_CHAT_GEMMA;
    const ed_chat_message_t *pending_system = NULL;
    bool first_turn = true;
    size_t last_query = family == ED_CHAT_QWEN3 && n_messages > 0 ? qwen3_last_query(messages, n_messages) : 0;
    for (size_t i = 0; i < n_messages; i++) {
        const ed_chat_message_t *m = &messages[i];
        const char *role = ROLE_NAMES[m->role <= ED_CHAT_ASSISTANT ? m->role : ED_CHAT_USER];
        if (folds_system) {
            if (m->role == ED_CHAT_SYSTEM && !pending_system && i + 1 < n_messages) {
                pending_system = m; /* joined to the next user message */
                continue;
            }
            ed_chat_message_t as_user = *m;
            if (m->role == ED_CHAT_SYSTEM)
                as_user.role = ED_CHAT_USER; /* a second or final system message stands alone */
            const ed_chat_message_t *system = as_user.role == ED_CHAT_USER ? pending_system : NULL;
            if (system)
                pending_system = NULL;
            put_folded_turn(&w, family, bos, eos, system, &as_user, first_turn);
            first_turn = false;
            continue;
        }
        switch (family) {
        case ED_CHAT_LLAMA3:
            puts_(&w, "<|start_header_id|>");
            puts_(&w, role);
            puts_(&w, "<|end_header_id|>\n\n");
            put_trimmed(&w, m->content, m->len);
            puts_(&w, "<|eot_id|>");
            break;
        case ED_CHAT_ZEPHYR:
        case ED_CHAT_PHI3:
            puts_(&w, "<|");
            puts_(&w, role);
            puts_(&w, "|>\n");
            put_content(&w, m->content, m->len);
            puts_(&w, family == ED_CHAT_PHI3 ? "<|end|>" : eos);
            puts_(&w, "\n");
            break;
        case ED_CHAT_PHI4:
            puts_(&w, "<|");
            puts_(&w, role);
            puts_(&w, "|>");
            put_content(&w, m->content, m->len);
            puts_(&w, "<|end|>");
            break;
        case ED_CHAT_QWEN3:
            if (m->role == ED_CHAT_ASSISTANT) {
                put_qwen3_assistant(&w, m, i > last_query, i + 1 == n_messages);
                break;
            }
            puts_(&w, "<|im_start|>");
            puts_(&w, role);
            puts_(&w, "\n");
            put_content(&w, m->content, m->len);
            puts_(&w, "<|im_end|>\n");
            break;
        default: /* ED_CHAT_CHATML */
            puts_(&w, "<|im_start|>");
            puts_(&w, role);
            puts_(&w, "\n");
            put_content(&w, m->content, m->len);
            puts_(&w, "<|im_end|>\n");
            break;
        }
    }
    if (add_generation_prompt) {
        switch (family) {
        case ED_CHAT_LLAMA3:
            puts_(&w, "<|start_header_id|>assistant<|end_header_id|>\n\n");
            break;
        case ED_CHAT_ZEPHYR:
        case ED_CHAT_PHI3:
            puts_(&w, "<|assistant|>\n");
            break;
        case ED_CHAT_PHI4:
            puts_(&w, "<|assistant|>");
            break;
        case ED_CHAT_GEMMA:
            puts_(&w, "<start_of_turn>model\n");
            break;
        case ED_CHAT_LLAMA2:
        case ED_CHAT_MISTRAL:
            break; /* the model answers straight after [/INST] */
        case ED_CHAT_CHATML:
        case ED_CHAT_QWEN3:
            puts_(&w, "<|im_start|>assistant\n");
            break;
        }
    }
    *n_out = w.n;
    if (n_spans)
        *n_spans = w.n_spans;
    return w.n > cap ? ED_ERANGE : 0;
}
