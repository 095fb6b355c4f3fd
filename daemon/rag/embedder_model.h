/* embedder_model.h - the `model` embedder: a BERT-family GGUF embedding
 * model (bge-small, all-MiniLM; model/bert.h) behind ed_embedder_t. */
#ifndef ED_RAG_EMBEDDER_MODEL_H
#define ED_RAG_EMBEDDER_MODEL_H

#include "kernels/kernels.h"
#include "kernels/pool.h"
#include "rag/embedder.h"

/* Opens the GGUF model at `path` and loads it; name "model:<basename of
 * path>", dim its n_embd. Embedding runs on `kernels` and `pool`, which
 * must outlive the embedder; calls are serialised (the model has one run
 * state), so any thread may call. A text past the model's context is
 * embedded from its first n_ctx tokens. Returns 0, or the codes of
 * ed_gguf_open / ed_bert_load, or ED_ENOMEM, with err filled. */
int ed_embedder_model_init(ed_embedder_t **out, const char *path, const ed_kernels_t *kernels, ed_pool_t *pool,
                           char err[ED_ERR_LEN]);

#endif
