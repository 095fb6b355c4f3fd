/* embedder_model.c - the `model` embedder: ed_bert_t behind the embedder
 * vtable. It owns the open GGUF file (the weights are pointers into its
 * mapping) and a mutex around the model's single run state. */
#include "rag/embedder_model.h"

#include "model/bert.h"
#include "model/gguf.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct {
    ed_embedder_t base; /* first: the vtable's self */
    ed_gguf_t *gguf;
    ed_bert_t bert;
    const ed_kernels_t *kernels;
    ed_pool_t *pool;
    pthread_mutex_t lock; /* one embed at a time: bert's run state */
} model_embedder_t;

static int model_embed(ed_embedder_t *self, const char *text, size_t len, float *out, int *n_tokens_out)
{
    model_embedder_t *m = (model_embedder_t *)self;
    char err[ED_ERR_LEN];
    int n_tokens = 0;
    pthread_mutex_lock(&m->lock);
    int rc = ed_bert_embed(&m->bert, m->kernels, m->pool, ED_POOL_LOW, text, len, out, &n_tokens, err);
    pthread_mutex_unlock(&m->lock);
    if (rc == 0 && n_tokens_out) /* a longer text was cut to the context */
        *n_tokens_out = n_tokens < m->bert.n_ctx ? n_tokens : m->bert.n_ctx;
    return rc;
}

static void model_free(ed_embedder_t *self)
{
    model_embedder_t *m = (model_embedder_t *)self;
    ed_bert_free(&m->bert);
    ed_gguf_close(m->gguf);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

static const ed_embedder_ops_t MODEL_OPS = {.embed = model_embed, .free = model_free};

int ed_embedder_model_init(ed_embedder_t **out, const char *path, const ed_kernels_t *kernels, ed_pool_t *pool,
                           char err[ED_ERR_LEN])
{
    *out = NULL;
    model_embedder_t *m = calloc(1, sizeof *m);
    if (!m || pthread_mutex_init(&m->lock, NULL) != 0) {
        free(m);
        snprintf(err, ED_ERR_LEN, "model embedder: out of memory");
        return ED_ENOMEM;
    }
    m->base.ops = &MODEL_OPS;
    m->kernels = kernels;
    m->pool = pool;
    int rc = ed_gguf_open(&m->gguf, path, err);
    if (rc == 0)
        rc = ed_bert_load(&m->bert, m->gguf, err);
    if (rc != 0) {
        model_free(&m->base);
        return rc;
    }
    struct stat st;
    if (stat(path, &st) == 0)
        m->base.created = (int64_t)st.st_mtime;
    const char *slash = strrchr(path, '/');
    snprintf(m->base.name, sizeof m->base.name, "model:%.57s", slash ? slash + 1 : path);
    m->base.dim = m->bert.n_embd;
    *out = &m->base;
    return 0;
}
