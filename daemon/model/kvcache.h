/* kvcache.h - the key/value cache of one sequence: the rotated keys and the
 * values of every past position of every layer, in f16, sized once for
 * n_ctx positions. The forward pass (forward.h) writes and reads it; callers
 * rewind it (n_used) to reuse a shared prompt prefix or start over. */
#ifndef ED_MODEL_KVCACHE_H
#define ED_MODEL_KVCACHE_H

#include "core/error.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int n_layer;
    int n_ctx;   /* positions it holds */
    int kv_dim;  /* n_kv_head * head_dim: elements per position per layer */
    int n_used;  /* positions 0 .. n_used-1 hold valid entries */
    uint16_t *k; /* (n_layer, n_ctx, kv_dim) f16, keys after RoPE */
    uint16_t *v; /* (n_layer, n_ctx, kv_dim) f16 */
} ed_kvcache_t;

/* Allocates an empty cache. Returns 0, or ED_EINVAL (a size <= 0) /
 * ED_ENOMEM (with the byte count in err). */
int ed_kvcache_init(ed_kvcache_t *kv, int n_layer, int n_ctx, int kv_dim, char err[ED_ERR_LEN]);
/* Accepts a zeroed or freed cache. */
void ed_kvcache_free(ed_kvcache_t *kv);
/* Bytes the two tensors take. */
size_t ed_kvcache_bytes(int n_layer, int n_ctx, int kv_dim);
/* Keeps positions 0 .. n-1 (n <= n_used) and forgets the rest: 0 or ED_ERANGE. */
int ed_kvcache_truncate(ed_kvcache_t *kv, int n);

/* Row of layer `layer` at position `pos` (kv_dim elements; rows of one layer
 * are kv_dim apart). */
static inline uint16_t *ed_kvcache_k(const ed_kvcache_t *kv, int layer, int pos)
{
    return kv->k + ((size_t)layer * (size_t)kv->n_ctx + (size_t)pos) * (size_t)kv->kv_dim;
}
static inline uint16_t *ed_kvcache_v(const ed_kvcache_t *kv, int layer, int pos)
{
    return kv->v + ((size_t)layer * (size_t)kv->n_ctx + (size_t)pos) * (size_t)kv->kv_dim;
}

#endif
