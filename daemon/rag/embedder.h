/* embedder.h - text -> L2-normalised vector, behind one vtable so that the
 * built-in hash embedder, a BERT-family model embedder and the chat model's
 * pooled states are interchangeable. A collection records the embedder's
 * name and dim; vectors of different names never meet in one index. */
#ifndef ED_RAG_EMBEDDER_H
#define ED_RAG_EMBEDDER_H

#include "core/error.h"

#include <stddef.h>
#include <stdint.h>

typedef struct ed_embedder ed_embedder_t;

typedef struct {
    /* Writes dim floats of text[0, len) (UTF-8) into out, L2-normalised
     * (all zero for a text with no features), and into *n_tokens (when not
     * NULL) the units it read: a model's tokens (at most its context), the
     * hash embedder's words. 0 or an ED_E* code. */
    int (*embed)(ed_embedder_t *self, const char *text, size_t len, float *out, int *n_tokens);
    void (*free)(ed_embedder_t *self);
} ed_embedder_ops_t;

/* Implementations embed this struct first and fill every field. */
struct ed_embedder {
    const ed_embedder_ops_t *ops;
    char name[64]; /* recorded per collection, e.g. "hash-v1-384" */
    int dim;       /* vector width */
    int64_t created; /* the model file's mtime, unix seconds; 0 when built in */
};

static inline int ed_embedder_embed(ed_embedder_t *e, const char *text, size_t len, float *out)
{
    return e->ops->embed(e, text, len, out, NULL);
}
/* The same, with the units read (for an API's usage figures). */
static inline int ed_embedder_embed_counted(ed_embedder_t *e, const char *text, size_t len, float *out,
                                            int *n_tokens)
{
    return e->ops->embed(e, text, len, out, n_tokens);
}
void ed_embedder_free(ed_embedder_t *e); /* accepts NULL */

/* The built-in embedder: needs no model, deterministic across machines and
 * versions (its name changes if its features ever do), dimension 384.
 * Features: lowercased word unigrams and bigrams and character 3..5-grams
 * of each word (with boundary marks), feature-hashed with FNV-1a 64 and a
 * fixed finaliser (bucket from the high bits, sign from bit 0), common
 * English function words down-weighted, sublinear term weights
 * (sign * log1p |sum|), L2-normalised. Stateless: any thread may call it. */
#define ED_EMBEDDER_HASH_NAME "hash-v1-384"
#define ED_EMBEDDER_HASH_DIM 384
int ed_embedder_hash_init(ed_embedder_t **out, char err[ED_ERR_LEN]);

#endif
