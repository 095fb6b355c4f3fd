/* kvcache.c - allocation and rewinding of the f16 key/value cache. The
 * layout and the row accessors are in kvcache.h; conversion to f16 happens
 * in the forward pass, which owns what goes in. */
#include "model/kvcache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t ed_kvcache_bytes(int n_layer, int n_ctx, int kv_dim)
{
    return 2 * (size_t)n_layer * (size_t)n_ctx * (size_t)kv_dim * sizeof(uint16_t);
}

int ed_kvcache_init(ed_kvcache_t *kv, int n_layer, int n_ctx, int kv_dim, char err[ED_ERR_LEN])
{
    memset(kv, 0, sizeof *kv);
    if (n_layer <= 0 || n_ctx <= 0 || kv_dim <= 0) {
        snprintf(err, ED_ERR_LEN, "KV cache: n_layer %d, n_ctx %d, kv_dim %d must be positive", n_layer,
                 n_ctx, kv_dim);
        return ED_EINVAL;
    }
    size_t half = ed_kvcache_bytes(n_layer, n_ctx, kv_dim) / 2;
    kv->k = malloc(half);
    kv->v = malloc(half);
    if (!kv->k || !kv->v) {
        snprintf(err, ED_ERR_LEN, "KV cache: out of memory for %zu bytes (%d layers x %d positions x %d)",
                 2 * half, n_layer, n_ctx, kv_dim);
        ed_kvcache_free(kv);
        return ED_ENOMEM;
    }
    kv->n_layer = n_layer;
    kv->n_ctx = n_ctx;
    kv->kv_dim = kv_dim;
    return 0;
}

void ed_kvcache_free(ed_kvcache_t *kv)
{
    if (!kv)
        return;
    free(kv->k);
    free(kv->v);
    memset(kv, 0, sizeof *kv);
}

int ed_kvcache_truncate(ed_kvcache_t *kv, int n)
{
    if (n < 0 || n > kv->n_used)
        return ED_ERANGE;
    kv->n_used = n;
    return 0;
}
