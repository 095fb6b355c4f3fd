/* embedder_chat.c - the `chat` embedder: the chat model's pooled hidden
 * states behind the embedder vtable, computed by a forward pass of its own
 * (model/forward.h, hidden_sum) over the shared base model, with a mutex
 * around its single run state (activations for one batch, a KV cache of
 * ED_EMBEDDER_CHAT_CTX positions: a few MB beside the weights it borrows).
 * Why not through the engine: the engine runs every job at ED_POOL_HIGH in
 * its chat slots, so re-embedding a store would hold slots and queue places
 * that chat clients need and compete with their tokens as an equal; here the
 * products run at ED_POOL_LOW, which yields to inference between chunks. */
#include "rag/embedder_chat.h"

#include "model/forward.h"
#include "model/tokenizer.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    ed_embedder_t base; /* first: the vtable's self */
    const ed_vocab_t *vocab; /* the base model's, lent */
    const ed_kernels_t *kernels;
    ed_forward_t fw;    /* over the base model's weights, on its pool at ED_POOL_LOW */
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
    c->kernels->l2_normalize(out, dim); /* the mean's direction: its 1/n cancels */
    if (n_tokens)
        *n_tokens = (int)n;
    return 0;
}

static void chat_free(ed_embedder_t *self)
{
    chat_embedder_t *c = (chat_embedder_t *)self;
    ed_forward_free(&c->fw);
    free(c->tokens);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

static const ed_embedder_ops_t CHAT_OPS = {.embed = chat_embed, .free = chat_free};

int ed_embedder_chat_init(ed_embedder_t **out, ed_base_t *base, const _Atomic bool *cancel,
                          char err[ED_ERR_LEN])
{
    *out = NULL;
    int rc = ed_base_load(base, cancel, err);
    if (rc != 0)
        return rc;
    chat_embedder_t *c = calloc(1, sizeof *c);
    if (!c || pthread_mutex_init(&c->lock, NULL) != 0) {
        free(c);
        return ed_errf(err, ED_ENOMEM, "chat embedder: out of memory");
    }
    c->base.ops = &CHAT_OPS;
    c->vocab = ed_base_vocab(base);
    c->kernels = ed_base_kernels(base);
    const ed_model_t *model = ed_base_model(base);
    rc = ed_forward_init(&c->fw, model, c->kernels, ed_base_pool(base), ED_EMBEDDER_CHAT_CTX, 0, err);
    c->fw.prio = ED_POOL_LOW; /* background work: inference goes first */
    if (rc == 0 && !(c->tokens = malloc(ED_EMBEDDER_CHAT_CTX * sizeof *c->tokens)))
        rc = ed_errf(err, ED_ENOMEM, "chat embedder: out of memory");
    if (rc != 0) {
        chat_free(&c->base);
        return rc;
    }
    const char *path = ed_base_path(base);
    const char *slash = strrchr(path, '/');
    snprintf(c->base.name, sizeof c->base.name, "chat:%.58s", slash ? slash + 1 : path);
    c->base.created = ed_base_mtime(base);
    c->base.dim = model->n_embd;
    *out = &c->base;
    return 0;
}
