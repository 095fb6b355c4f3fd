/* kvcache.c - allocation, storing and rewinding of the f16 key/value
 * cache, linear or with rings for sliding-window layers. The layout and
 * the span accessors are in kvcache.h; what goes in is the forward pass's. */
#include "model/kvcache.h"

#include "kernels/quant.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t ed_kvcache_bytes(int n_layer, int n_ctx, int kv_dim)
{
    return 2 * (size_t)n_layer * (size_t)n_ctx * (size_t)kv_dim * sizeof(uint16_t);
}

/* Allocates for layers whose ring/window are already in kv->layers. */
static int kvcache_alloc(ed_kvcache_t *kv, int n_layer, int n_ctx, int kv_dim, char err[ED_ERR_LEN])
{
    size_t rows = 0;
    for (int l = 0; l < n_layer; l++) {
        ed_kvcache_layer_t *L = &kv->layers[l];
        L->row0 = rows;
        rows += L->ring ? (size_t)L->ring + (size_t)L->window - 1 : (size_t)n_ctx;
    }
    size_t half = rows * (size_t)kv_dim * sizeof(uint16_t);
    /* small pages: a 2 MiB huge page holds a layer's first thousands of
     * positions (4096 of a 256-wide KV), which a short context would make
     * resident all at once */
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
    kv->bytes = 2 * half;
    return 0;
}

static int kvcache_begin(ed_kvcache_t *kv, int n_layer, int n_ctx, int kv_dim, char err[ED_ERR_LEN])
{
    memset(kv, 0, sizeof *kv);
    if (n_layer <= 0 || n_ctx <= 0 || kv_dim <= 0) {
        snprintf(err, ED_ERR_LEN, "KV cache: n_layer %d, n_ctx %d, kv_dim %d must be positive", n_layer,
                 n_ctx, kv_dim);
        return ED_EINVAL;
    }
    kv->layers = calloc((size_t)n_layer, sizeof *kv->layers);
    if (!kv->layers) {
        snprintf(err, ED_ERR_LEN, "KV cache: out of memory for %d layers", n_layer);
        return ED_ENOMEM;
    }
    return 0;
}

int ed_kvcache_init(ed_kvcache_t *kv, int n_layer, int n_ctx, int kv_dim, char err[ED_ERR_LEN])
{
    int rc = kvcache_begin(kv, n_layer, n_ctx, kv_dim, err);
    return rc != 0 ? rc : kvcache_alloc(kv, n_layer, n_ctx, kv_dim, err);
}

int ed_kvcache_init_model(ed_kvcache_t *kv, const ed_model_t *model, int n_ctx, int n_batch, char err[ED_ERR_LEN])
{
    int rc = kvcache_begin(kv, model->n_layer, n_ctx, model->kv_dim, err);
    if (rc != 0)
        return rc;
    if (n_batch < 1) {
        ed_kvcache_free(kv);
        return ed_errf(err, ED_EINVAL, "KV cache: n_batch %d must be positive", n_batch);
    }
    /* a ring (with its mirror) pays off only when it is shorter than the context */
    int64_t ring = (int64_t)model->n_swa + n_batch - 1;
    bool rings = model->n_swa > 0 && ring + model->n_swa - 1 < n_ctx;
    for (int l = 0; rings && l < model->n_layer; l++)
        if (model->layers[l].sliding)
            kv->layers[l] = (ed_kvcache_layer_t){.ring = (int)ring, .window = model->n_swa};
    kv->n_append = rings ? n_batch : 0;
    return kvcache_alloc(kv, model->n_layer, n_ctx, model->kv_dim, err);
}

void ed_kvcache_free(ed_kvcache_t *kv)
{
    if (!kv)
        return;
    free(kv->k);
    free(kv->v);
    free(kv->layers);
    memset(kv, 0, sizeof *kv);
}

int ed_kvcache_truncate(ed_kvcache_t *kv, int n)
{
    if (n < 0 || n > kv->n_used)
        return ED_ERANGE;
    kv->n_used = n;
    if (n == 0)
        kv->n_high = 0; /* nothing left that a ring could have overwritten */
    return 0;
}

int ed_kvcache_reusable(const ed_kvcache_t *kv, int n)
{
    for (int l = 0; l < kv->n_layer; l++) {
        const ed_kvcache_layer_t *L = &kv->layers[l];
        if (!L->ring || n == 0)
            continue;
        /* position n attends to first .. n-1 (and itself); slot first % ring
         * holds `first` until position first + ring is written */
        int first = n >= L->window ? n - L->window + 1 : 0;
        if (kv->n_high > first + L->ring)
            return 0;
    }
    return n;
}

void ed_kvcache_store(ed_kvcache_t *kv, int layer, int pos, const float *key, const float *value)
{
    const ed_kvcache_layer_t *L = &kv->layers[layer];
    int slot = L->ring ? pos % L->ring : pos;
    int copies = L->ring && slot < L->window - 1 ? 2 : 1;
    for (int c = 0; c < copies; c++, slot += L->ring) {
        size_t at = (L->row0 + (size_t)slot) * (size_t)kv->kv_dim;
        for (int i = 0; i < kv->kv_dim; i++) {
            kv->k[at + i] = ed_fp32_to_fp16(key[i]);
            kv->v[at + i] = ed_fp32_to_fp16(value[i]);
        }
    }
    if (pos + 1 > kv->n_high)
        kv->n_high = pos + 1;
}
