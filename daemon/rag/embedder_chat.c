/* embedder_chat.c - the `chat` embedder: the chat model's pooled hidden
 * states behind the embedder vtable, with a forward pass of its own
 * (model/forward.h, hidden_sum) and a mutex around its single run state.
 * Its weights stay in the file layout (no ed_model_repack): the mapping's
 * pages are shared with the engine's, where a repacked copy would double
 * the model's memory for work that is batch products anyway. */
#include "rag/embedder_chat.h"

#include "model/forward.h"
#include "model/gguf.h"
#include "model/model.h"
#include "model/tokenizer.h"
#include "model/vocab.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct {
    ed_embedder_t base; /* first: the vtable's self */
    ed_gguf_t *gguf;
    ed_model_t model;
    bool model_loaded;
    ed_vocab_t *vocab;
    ed_forward_t fw;
    int32_t *tokens; /* (ED_EMBEDDER_CHAT_CTX) */
    pthread_mutex_t lock;
} chat_embedder_t;

static int chat_embed(ed_embedder_t *self, const char *text, size_t len, float *out, int *n_tokens)
{
    chat_embedder_t *c = (chat_embedder_t *)self;
    char err[ED_ERR_LEN];
    int dim = c->base.dim;
    memset(out, 0, (size_t)dim * sizeof *out);
    pthread_mutex_lock(&c->lock);
    size_t n = 0;
    int rc = ed_tokenizer_encode(c->vocab, text, len, true, false, c->tokens, ED_EMBEDDER_CHAT_CTX, &n);
    if (rc == ED_ERANGE) { /* longer than the context: its first tokens stand for it */
        n = ED_EMBEDDER_CHAT_CTX;
        rc = 0;
    }
    if (rc == 0 && n > 0) {
        ed_kvcache_truncate(&c->fw.kv, 0);
        for (size_t at = 0; rc == 0 && at < n; at += (size_t)c->fw.n_batch) {
            int chunk = (int)(n - at < (size_t)c->fw.n_batch ? n - at : (size_t)c->fw.n_batch);
            ed_forward_seq_t seq = {.kv = &c->fw.kv, .tokens = c->tokens + at, .n_tokens = chunk, .hidden_sum = out};
            rc = ed_forward_eval_seqs(&c->fw, &seq, 1, err);
        }
    }
    pthread_mutex_unlock(&c->lock);
    if (rc != 0)
        return rc;
    double norm = 0;
    for (int i = 0; i < dim; i++)
        norm += (double)out[i] * out[i];
    if (norm > 0) {
        float scale = (float)(1.0 / sqrt(norm)); /* the mean's direction: its 1/n cancels */
        for (int i = 0; i < dim; i++)
            out[i] *= scale;
    }
    if (n_tokens)
        *n_tokens = (int)n;
    return 0;
}

static void chat_free(ed_embedder_t *self)
{
    chat_embedder_t *c = (chat_embedder_t *)self;
    ed_forward_free(&c->fw);
    free(c->tokens);
    ed_vocab_free(c->vocab);
    if (c->model_loaded)
        ed_model_free(&c->model);
    ed_gguf_close(c->gguf);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

static const ed_embedder_ops_t CHAT_OPS = {.embed = chat_embed, .free = chat_free};

int ed_embedder_chat_init(ed_embedder_t **out, const char *path, const ed_kernels_t *kernels, ed_pool_t *pool,
                          char err[ED_ERR_LEN])
{
    *out = NULL;
    chat_embedder_t *c = calloc(1, sizeof *c);
    if (!c || pthread_mutex_init(&c->lock, NULL) != 0) {
        free(c);
        snprintf(err, ED_ERR_LEN, "chat embedder: out of memory");
        return ED_ENOMEM;
    }
    c->base.ops = &CHAT_OPS;
    int rc = ed_gguf_open(&c->gguf, path, err);
    if (rc == 0 && (rc = ed_model_load(&c->model, c->gguf, err)) == 0)
        c->model_loaded = true;
    if (rc == 0)
        rc = ed_vocab_load(&c->vocab, c->gguf, err);
    if (rc == 0)
        rc = ed_forward_init(&c->fw, &c->model, kernels, pool, ED_EMBEDDER_CHAT_CTX, 0, err);
    if (rc == 0 && !(c->tokens = malloc(ED_EMBEDDER_CHAT_CTX * sizeof *c->tokens))) {
        snprintf(err, ED_ERR_LEN, "chat embedder: out of memory");
        rc = ED_ENOMEM;
    }
    if (rc != 0) {
        chat_free(&c->base);
        return rc;
    }
    struct stat st;
    if (stat(path, &st) == 0)
        c->base.created = (int64_t)st.st_mtime;
    const char *slash = strrchr(path, '/');
    snprintf(c->base.name, sizeof c->base.name, "chat:%.58s", slash ? slash + 1 : path);
    c->base.dim = c->model.n_embd;
    *out = &c->base;
    return 0;
}
