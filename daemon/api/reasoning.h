/* reasoning.h - llama.cpp's `reasoning_format: "deepseek"` for a generated
 * answer: a leading <think>...</think> block (Qwen3, DeepSeek-R1 distills,
 * SmolLM3) moves out of the content into `reasoning_content`, piece by piece
 * as the answer streams in. Whitespace around the reasoning and between it
 * and the content is dropped, as llama.cpp trims them. Pure: no I/O, any
 * thread (one splitter per answer). */
#ifndef ED_API_REASONING_H
#define ED_API_REASONING_H

#include "core/buf.h"

#include <stdbool.h>
#include <stddef.h>

typedef enum {
    ED_REASONING_NONE = 0, /* "none": the answer as generated, think block included */
    ED_REASONING_DEEPSEEK, /* "deepseek": the think block in reasoning_content */
} ed_reasoning_format_t;

/* Where the splitter stands in the answer. */
typedef enum {
    ED__REASONING_START = 0, /* before the first non-space text: may open with <think> */
    ED__REASONING_THINK,     /* inside the block */
    ED__REASONING_AFTER,     /* after </think>: leading whitespace of the content is dropped */
    ED__REASONING_CONTENT,   /* the rest passes through */
} ed__reasoning_state_t;

#define ED_REASONING_HOLD 16 /* bytes held back at most: a marker cut by a piece boundary */

typedef struct {
    ed__reasoning_state_t state;
    char held[ED_REASONING_HOLD + 8]; /* text not yet routed: a possible marker prefix, or (in the
                                         block) a run of at most ED_REASONING_HOLD whitespace bytes that
                                         may end it, then a prefix of "</think>" */
    size_t n_held;
    bool reasoned; /* some reasoning text was routed (non-space) */
} ed_reasoning_t;

/* Reads "none" / "deepseek" (len bytes); 0 or ED_EINVAL. */
int ed_reasoning_format_from_name(const char *name, size_t len, ed_reasoning_format_t *out);

void ed_reasoning_init(ed_reasoning_t *r);
/* Routes text[0, len) to the ends of content and reasoning (either may get
 * nothing: a marker cut by the piece boundary is held until the next). */
void ed_reasoning_feed(ed_reasoning_t *r, const char *text, size_t len, ed_buf_t *content, ed_buf_t *reasoning);
/* The answer ended: what is held goes where it belongs (an unclosed block
 * stays reasoning, as llama.cpp keeps a thought cut by max_tokens). */
void ed_reasoning_finish(ed_reasoning_t *r, ed_buf_t *content, ed_buf_t *reasoning);

#endif
