/* embedder_chat.h - the `chat` embedder: the chat model's final hidden
 * states (after its last norm), mean-pooled and L2-normalised, for when no
 * embedding model is configured. It maps the chat model's GGUF file itself
 * (the page cache shares the weights with the engine's mapping) and runs
 * its own single-sequence forward pass of ED_EMBEDDER_CHAT_CTX tokens on the
 * given pool, so it never waits on the engine thread. */
#ifndef ED_RAG_EMBEDDER_CHAT_H
#define ED_RAG_EMBEDDER_CHAT_H

#include "core/error.h"
#include "kernels/kernels.h"
#include "kernels/pool.h"
#include "rag/embedder.h"

#define ED_EMBEDDER_CHAT_CTX 512 /* tokens embedded per text, at most (the rest is cut) */

/* Opens the chat model at `path` (llama or qwen2). Name "chat:<file name>",
 * dim = the model's width. kernels and pool must outlive it; calls are
 * serialised (one run state). 0, or the reader's / loader's codes with err. */
int ed_embedder_chat_init(ed_embedder_t **out, const char *path, const ed_kernels_t *kernels, ed_pool_t *pool,
                          char err[ED_ERR_LEN]);

#endif
