/* embedder_chat.h - the `chat` embedder: the chat model's final hidden
 * states (after its last norm), mean-pooled and L2-normalised, for when no
 * embedding model is configured. It borrows the one base model (model/base:
 * the engine's weights and vocabulary, no copy) and runs its own
 * single-sequence forward pass of ED_EMBEDDER_CHAT_CTX tokens on the base's
 * compute pool at low priority, so that inference is never slowed by it and
 * it never waits on the engine's queue. */
#ifndef ED_RAG_EMBEDDER_CHAT_H
#define ED_RAG_EMBEDDER_CHAT_H

#include "core/error.h"
#include "model/base.h"
#include "rag/embedder.h"

#include <stdatomic.h>
#include <stdbool.h>

#define ED_EMBEDDER_CHAT_CTX 512 /* tokens embedded per text, at most (the rest is cut) */

/* An embedder over `base` (llama or qwen2), which must outlive it. Waits for
 * the base to load (or loads it, when no other borrower has begun), unless
 * *cancel (may be NULL) becomes true first. Name "chat:<file name>", dim =
 * the model's width; calls are serialised (one run state). Returns 0, or
 * the base's load error / ED_ECANCELED / ED_ENOMEM with err. */
int ed_embedder_chat_init(ed_embedder_t **out, ed_base_t *base, const _Atomic bool *cancel,
                          char err[ED_ERR_LEN]);

#endif
