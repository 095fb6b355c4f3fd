/* kvcache.h - the key/value cache of one sequence: the rotated keys and the
 * values of past positions of every layer, in f16, sized once. A layer
 * holds every position up to n_ctx, or, for a sliding-window layer of a
 * model that has them (gemma), only a ring of the last positions its window
 * and one pass need. The forward pass (forward.h) writes and reads it;
 * callers rewind it (n_used) to reuse a shared prompt prefix or start over. */
#ifndef ED_MODEL_KVCACHE_H
#define ED_MODEL_KVCACHE_H

#include "core/error.h"
#include "model/model.h"

#include <stddef.h>
#include <stdint.h>

/* Where one layer's rows are. A linear layer keeps position p at row p. A
 * ring layer keeps position p at slot p % ring and again at slot ring + p %
 * ring when p % ring < window - 1 (the mirror), so the `window` positions
 * ending at any p are consecutive rows: the attention kernels read them as
 * one run. ring >= window + n_append - 1: a pass appending n_append
 * positions never overwrites one its first row still attends to. */
typedef struct {
    size_t row0; /* index of the layer's first row in k and v */
    int ring;    /* slots of the ring; 0: linear */
    int window;  /* positions a query attends to (its own included); 0: all */
} ed_kvcache_layer_t;

typedef struct {
    int n_layer;
    int n_ctx;    /* positions a sequence may reach */
    int kv_dim;   /* n_kv_head * head_dim: elements per position per layer */
    int n_used;   /* positions 0 .. n_used-1 hold valid entries */
    int n_append; /* most positions one pass may append: the ring layers were sized for it; 0: any */
    int n_high;   /* one past the highest position written since the cache was last emptied: a ring
                     slot may hold a later position than the one a rewind would need */
    uint16_t *k;  /* (rows, kv_dim) f16, keys after RoPE; rows: the layers' rows in order */
    uint16_t *v;  /* (rows, kv_dim) f16 */
    ed_kvcache_layer_t *layers; /* (n_layer) */
    size_t bytes; /* of k and v together */
} ed_kvcache_t;

/* Allocates an empty cache whose every layer holds n_ctx positions.
 * Returns 0, or ED_EINVAL (a size <= 0) / ED_ENOMEM (with the byte count in
 * err). */
int ed_kvcache_init(ed_kvcache_t *kv, int n_layer, int n_ctx, int kv_dim, char err[ED_ERR_LEN]);
/* Allocates an empty cache for `model`: its sliding layers (ed_layer_t.sliding) get
 * a ring of model->n_swa + n_batch - 1 positions when that is smaller than
 * n_ctx, and every pass then appends at most n_batch positions (the forward
 * pass refuses more). Models without sliding layers get ed_kvcache_init's
 * cache. Same returns. */
int ed_kvcache_init_model(ed_kvcache_t *kv, const ed_model_t *model, int n_ctx, int n_batch, char err[ED_ERR_LEN]);
/* Accepts a zeroed or freed cache. */
void ed_kvcache_free(ed_kvcache_t *kv);
/* Bytes the two tensors take with every layer linear. */
size_t ed_kvcache_bytes(int n_layer, int n_ctx, int kv_dim);
/* Keeps positions 0 .. n-1 (n <= n_used) and forgets the rest: 0 or ED_ERANGE. */
int ed_kvcache_truncate(ed_kvcache_t *kv, int n);
/* The longest prefix of at most n positions (n <= n_used) that a rewind
 * may keep: n, or 0 when a ring layer has overwritten part of the window
 * that position n attends to. Always n for a cache without rings. */
int ed_kvcache_reusable(const ed_kvcache_t *kv, int n);

/* Stores the key and value (kv_dim floats each, converted to f16) of
 * position `pos` of layer `layer` (mirrored in a ring) and raises n_high. */
void ed_kvcache_store(ed_kvcache_t *kv, int layer, int pos, const float *key, const float *value);

/* The row of layer `layer` holding position `pos` (its slot in a ring;
 * kv_dim elements). */
static inline size_t ed_kvcache_row(const ed_kvcache_t *kv, int layer, int pos)
{
    const ed_kvcache_layer_t *L = &kv->layers[layer];
    return (L->row0 + (size_t)(L->ring ? pos % L->ring : pos)) * (size_t)kv->kv_dim;
}
static inline uint16_t *ed_kvcache_k(const ed_kvcache_t *kv, int layer, int pos)
{
    return kv->k + ed_kvcache_row(kv, layer, pos);
}
static inline uint16_t *ed_kvcache_v(const ed_kvcache_t *kv, int layer, int pos)
{
    return kv->v + ed_kvcache_row(kv, layer, pos);
}

/* The row of layer `layer` holding the first of the positions a query at
 * `pos` attends to (the last `window` ones, all when the window is 0);
 * *n_rows gets their count. The rows are kv_dim apart, in position order. */
static inline size_t ed_kvcache_span(const ed_kvcache_t *kv, int layer, int pos, int window, int *n_rows)
{
    int first = window > 0 && pos >= window ? pos - window + 1 : 0;
    *n_rows = pos - first + 1;
    return ed_kvcache_row(kv, layer, first);
}
static inline const uint16_t *ed_kvcache_k_span(const ed_kvcache_t *kv, int layer, int pos, int window,
                                                int *n_rows)
{
    return kv->k + ed_kvcache_span(kv, layer, pos, window, n_rows);
}
static inline const uint16_t *ed_kvcache_v_span(const ed_kvcache_t *kv, int layer, int pos, int window,
                                                int *n_rows)
{
    return kv->v + ed_kvcache_span(kv, layer, pos, window, n_rows);
}

#endif
