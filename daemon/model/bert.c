/* bert.c - loads a `bert` GGUF model (tensor names as llama.cpp's converter
 * writes them) and runs its encoder over one text with the op table: every
 * product through ed_matmul_forward, LayerNorm, GELU and attention through
 * the kernels; attention is bidirectional (each token sees the whole text)
 * and split over heads on the pool. Pooling and the final L2 normalisation
 * are the only arithmetic done here. */
#include "model/bert.h"
#include "model/tensors.h"

#include "kernels/matmul.h"
#include "kernels/quant.h"
#include "model/tokenizer.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TENSORS_PER_LAYER 8 /* q, k, v, output, attn_output_norm, ffn_up, ffn_down, layer_output_norm */

/* ------------------------------------------------------------------ load ---- */

/* Reads bert.<suffix> as a u32 in [1, INT32_MAX]. */
static int get_dim(const ed_gguf_t *gguf, const char *suffix, int *out, char err[ED_ERR_LEN])
{
    char key[96];
    snprintf(key, sizeof key, "bert.%s", suffix);
    uint32_t value = 0;
    int rc = ed_gguf_get_u32(gguf, key, &value);
    if (rc != 0 || value == 0 || value > INT32_MAX) {
        snprintf(err, ED_ERR_LEN, "metadata key %s: %s", key,
                 rc == ED_ENOENT ? "missing" : "expected a positive integer");
        return ED_EFORMAT;
    }
    *out = (int)value;
    return 0;
}

static int load_hparams(ed_bert_t *b, const ed_gguf_t *gguf, char err[ED_ERR_LEN])
{
    ed_str_t arch;
    if (ed_gguf_get_str(gguf, "general.architecture", &arch) != 0) {
        snprintf(err, ED_ERR_LEN, "metadata key general.architecture is missing or not a string");
        return ED_EFORMAT;
    }
    if (!ed_str_eq(arch, "bert")) {
        snprintf(err, ED_ERR_LEN, "general.architecture = \"%.*s\": the embedder runs bert",
                 (int)(arch.len > 64 ? 64 : arch.len), arch.ptr);
        return ED_EUNSUPPORTED;
    }
    int rc;
    if ((rc = get_dim(gguf, "embedding_length", &b->n_embd, err)) ||
        (rc = get_dim(gguf, "block_count", &b->n_layer, err)) ||
        (rc = get_dim(gguf, "feed_forward_length", &b->n_ff, err)) ||
        (rc = get_dim(gguf, "attention.head_count", &b->n_head, err)) ||
        (rc = get_dim(gguf, "context_length", &b->n_ctx, err)))
        return rc;
    if (b->n_embd % b->n_head != 0 || b->n_ctx < 2) {
        snprintf(err, ED_ERR_LEN, "bert: embedding_length %d, head_count %d, context_length %d: the heads "
                 "must divide the width and the context hold [CLS] and [SEP]", b->n_embd, b->n_head, b->n_ctx);
        return ED_EFORMAT;
    }
    b->head_dim = b->n_embd / b->n_head;
    rc = ed_gguf_get_f32(gguf, "bert.attention.layer_norm_epsilon", &b->norm_eps);
    if (rc != 0 || !(b->norm_eps > 0) || b->norm_eps > 1) {
        snprintf(err, ED_ERR_LEN, "metadata key bert.attention.layer_norm_epsilon: %s",
                 rc == ED_ENOENT ? "missing" : "expected a number in (0, 1]");
        return ED_EFORMAT;
    }
    bool causal = false;
    if (ed_gguf_get_bool(gguf, "bert.attention.causal", &causal) == 0 && causal) {
        snprintf(err, ED_ERR_LEN, "bert.attention.causal = true: the embedder runs bidirectional attention");
        return ED_EUNSUPPORTED;
    }
    uint32_t pooling = ED_BERT_POOL_MEAN; /* absent: the mean, the usual sentence embedding */
    rc = ed_gguf_get_u32(gguf, "bert.pooling_type", &pooling);
    if ((rc != 0 && rc != ED_ENOENT) ||
        (pooling != ED_BERT_POOL_MEAN && pooling != ED_BERT_POOL_CLS && pooling != ED_BERT_POOL_LAST)) {
        snprintf(err, ED_ERR_LEN, "bert.pooling_type = %" PRIu32 ": supported are 1 (mean), 2 (cls), 3 (last)",
                 pooling);
        return ED_EUNSUPPORTED;
    }
    b->pooling = (ed_bert_pooling_t)pooling;
    return 0;
}

static int load_layer(ed_bert_t *b, const ed_gguf_t *gguf, int l, char err[ED_ERR_LEN])
{
    ed_bert_layer_t *L = &b->layers[l];
    int64_t E = b->n_embd, F = b->n_ff;
    char name[96];
    int rc;
#define NAME(what) (snprintf(name, sizeof name, "blk.%d." what, l), name)
    if ((rc = ed_tensors_find_matrix(gguf, NAME("attn_q.weight"), E, E, false, &L->wq, err)) ||
        (rc = ed_tensors_find_vector(gguf, NAME("attn_q.bias"), E, true, &L->bq, err)) ||
        (rc = ed_tensors_find_matrix(gguf, NAME("attn_k.weight"), E, E, false, &L->wk, err)) ||
        (rc = ed_tensors_find_vector(gguf, NAME("attn_k.bias"), E, true, &L->bk, err)) ||
        (rc = ed_tensors_find_matrix(gguf, NAME("attn_v.weight"), E, E, false, &L->wv, err)) ||
        (rc = ed_tensors_find_vector(gguf, NAME("attn_v.bias"), E, true, &L->bv, err)) ||
        (rc = ed_tensors_find_matrix(gguf, NAME("attn_output.weight"), E, E, false, &L->wo, err)) ||
        (rc = ed_tensors_find_vector(gguf, NAME("attn_output.bias"), E, true, &L->bo, err)) ||
        (rc = ed_tensors_find_vector(gguf, NAME("attn_output_norm.weight"), E, false, &L->attn_norm, err)) ||
        (rc = ed_tensors_find_vector(gguf, NAME("attn_output_norm.bias"), E, true, &L->attn_norm_b, err)) ||
        (rc = ed_tensors_find_matrix(gguf, NAME("ffn_up.weight"), E, F, false, &L->w_up, err)) ||
        (rc = ed_tensors_find_vector(gguf, NAME("ffn_up.bias"), F, true, &L->b_up, err)) ||
        (rc = ed_tensors_find_matrix(gguf, NAME("ffn_down.weight"), F, E, false, &L->w_down, err)) ||
        (rc = ed_tensors_find_vector(gguf, NAME("ffn_down.bias"), E, true, &L->b_down, err)) ||
        (rc = ed_tensors_find_vector(gguf, NAME("layer_output_norm.weight"), E, false, &L->out_norm, err)) ||
        (rc = ed_tensors_find_vector(gguf, NAME("layer_output_norm.bias"), E, true, &L->out_norm_b, err)))
        return rc;
#undef NAME
    return 0;
}

static int load_weights(ed_bert_t *b, const ed_gguf_t *gguf, char err[ED_ERR_LEN])
{
    const ed_gguf_tensor_t *embd = ed_gguf_find_tensor(gguf, "token_embd.weight");
    if (!embd || embd->n_dims != 2 || embd->ne[1] > INT32_MAX) {
        snprintf(err, ED_ERR_LEN, "tensor token_embd.weight is %s, expected [%d, n_vocab]",
                 embd ? "misshapen" : "missing", b->n_embd);
        return ED_EFORMAT;
    }
    b->n_vocab = (int)embd->ne[1];
    if (b->n_vocab != b->vocab->n_tokens) {
        snprintf(err, ED_ERR_LEN, "token_embd.weight has %d rows but the vocabulary %d tokens", b->n_vocab,
                 (int)b->vocab->n_tokens);
        return ED_EFORMAT;
    }
    int rc;
    int64_t E = b->n_embd;
    if ((rc = ed_tensors_find_matrix(gguf, "token_embd.weight", E, b->n_vocab, false, &b->token_embd, err)) ||
        (rc = ed_tensors_find_matrix(gguf, "token_types.weight", E, -1, true, &b->token_types, err)) ||
        (rc = ed_tensors_find_matrix(gguf, "position_embd.weight", E, -(int64_t)b->n_ctx, false,
                                     &b->position_embd, err)) ||
        (rc = ed_tensors_find_vector(gguf, "token_embd_norm.weight", b->n_embd, false, &b->embd_norm, err)) ||
        (rc = ed_tensors_find_vector(gguf, "token_embd_norm.bias", b->n_embd, true, &b->embd_norm_b, err)))
        return rc;
    /* bound the allocation by what the file holds, not by the metadata alone */
    if ((uint64_t)b->n_layer * TENSORS_PER_LAYER > ed_gguf_n_tensors(gguf)) {
        snprintf(err, ED_ERR_LEN, "bert.block_count = %d: that needs at least %" PRIu64 " tensors, the file has %" PRIu64,
                 b->n_layer, (uint64_t)b->n_layer * TENSORS_PER_LAYER, ed_gguf_n_tensors(gguf));
        return ED_EFORMAT;
    }
    if (!(b->layers = calloc((size_t)b->n_layer, sizeof *b->layers))) {
        snprintf(err, ED_ERR_LEN, "out of memory for %d layers", b->n_layer);
        return ED_ENOMEM;
    }
    for (int l = 0; l < b->n_layer; l++)
        if ((rc = load_layer(b, gguf, l, err)) != 0)
            return rc;
    return 0;
}

/* The largest scratch any product of a whole text needs. */
static size_t scratch_size(const ed_bert_t *b)
{
    size_t most = 0;
    for (int l = 0; l < b->n_layer; l++) {
        const ed_bert_layer_t *L = &b->layers[l];
        const struct {
            const ed_matrix_t *m;
            int n_in;
        } products[] = {{&L->wq, b->n_embd}, {&L->wk, b->n_embd}, {&L->wv, b->n_embd},
                        {&L->wo, b->n_embd}, {&L->w_up, b->n_embd}, {&L->w_down, b->n_ff}};
        for (size_t i = 0; i < sizeof products / sizeof products[0]; i++) {
            size_t need = ed_matmul_scratch_size(products[i].m->type, products[i].n_in, b->n_ctx);
            most = need > most ? need : most;
        }
    }
    return (most + 63) / 64 * 64;
}

static int alloc_run_state(ed_bert_t *b, char err[ED_ERR_LEN])
{
    size_t rows = (size_t)b->n_ctx, E = (size_t)b->n_embd;
    b->tokens = malloc(rows * sizeof *b->tokens);
    b->x = malloc(rows * E * sizeof(float));
    b->xb = malloc(rows * E * sizeof(float));
    b->q = malloc(rows * E * sizeof(float));
    b->k = malloc(rows * E * sizeof(float));
    b->v = malloc(rows * E * sizeof(float));
    b->att = malloc(rows * E * sizeof(float));
    b->hb = malloc(rows * (size_t)b->n_ff * sizeof(float));
    b->k16 = malloc(rows * E * sizeof(uint16_t));
    b->v16 = malloc(rows * E * sizeof(uint16_t));
    b->att_scores = malloc((size_t)b->n_head * rows * sizeof(float));
    b->mm_scratch_size = scratch_size(b);
    b->mm_scratch = b->mm_scratch_size ? aligned_alloc(64, b->mm_scratch_size) : NULL;
    if (!b->tokens || !b->x || !b->xb || !b->q || !b->k || !b->v || !b->att || !b->hb || !b->k16 || !b->v16 ||
        !b->att_scores || (b->mm_scratch_size && !b->mm_scratch)) {
        snprintf(err, ED_ERR_LEN, "bert: out of memory for the run state of %d tokens", b->n_ctx);
        return ED_ENOMEM;
    }
    return 0;
}

int ed_bert_load(ed_bert_t *b, const ed_gguf_t *gguf, char err[ED_ERR_LEN])
{
    memset(b, 0, sizeof *b);
    int rc;
    if ((rc = load_hparams(b, gguf, err)) != 0)
        return rc;
    if ((rc = ed_vocab_load(&b->vocab, gguf, err)) != 0)
        goto fail;
    if (b->vocab->kind != ED_VOCAB_WPM) {
        snprintf(err, ED_ERR_LEN, "bert: tokenizer.ggml.model is not \"bert\" (WordPiece)");
        rc = ED_EUNSUPPORTED;
        goto fail;
    }
    if ((rc = load_weights(b, gguf, err)) != 0 || (rc = alloc_run_state(b, err)) != 0)
        goto fail;
    return 0;
fail:
    ed_bert_free(b);
    return rc;
}

void ed_bert_free(ed_bert_t *b)
{
    if (!b)
        return;
    ed_vocab_free(b->vocab);
    free(b->layers);
    free(b->tokens);
    free(b->x);
    free(b->xb);
    free(b->q);
    free(b->k);
    free(b->v);
    free(b->att);
    free(b->hb);
    free(b->k16);
    free(b->v16);
    free(b->att_scores);
    free(b->mm_scratch);
    memset(b, 0, sizeof *b);
}

/* ----------------------------------------------------------------- embed ---- */

typedef struct {
    const ed_bert_t *bert;
    const ed_kernels_t *kernels;
    ed_pool_t *pool;
    ed_pool_prio_t prio;
    int n; /* tokens of this text */
} run_t;

/* y (n, n_out) = x (n, n_in) w^T + bias (NULL: none). */
static int linear(const run_t *r, const ed_matrix_t *w, const float *bias, const float *x, int n_in, float *y,
                  int n_out)
{
    const ed_bert_t *b = r->bert;
    ed_matmul_t m = {.w = w->data, .w_type = w->type, .n_in = n_in, .n_out = n_out, .x = x, .y = y,
                     .n_batch = r->n};
    int rc = ed_matmul_forward(r->kernels, r->pool, r->prio, &m, b->mm_scratch, b->mm_scratch_size);
    for (int t = 0; bias && rc == 0 && t < r->n; t++)
        r->kernels->add(y + (size_t)t * n_out, y + (size_t)t * n_out, bias, n_out);
    return rc;
}

/* x = LayerNorm(x + residual) row by row (residual NULL: LayerNorm(x)). */
static void add_norm(const run_t *r, float *x, const float *residual, const float *weight, const float *bias)
{
    const ed_bert_t *b = r->bert;
    size_t E = (size_t)b->n_embd;
    if (residual)
        r->kernels->add(x, x, residual, r->n * b->n_embd);
    for (int t = 0; t < r->n; t++)
        r->kernels->layernorm_forward(x + t * E, x + t * E, weight, bias, b->n_embd, b->norm_eps);
}

/* Chunk h: attention head h for every token over every token. */
static void attention_chunk(void *arg, int chunk, int thread)
{
    const run_t *r = arg;
    const ed_bert_t *b = r->bert;
    size_t E = (size_t)b->n_embd;
    ed_attention_t shape = {
        .n_head = b->n_head,
        .n_kv_head = b->n_head,
        .head_dim = b->head_dim,
        .n_kv = r->n, /* bidirectional: every position */
        .kv_row_stride = E,
        .scale = 1.0f / sqrtf((float)b->head_dim),
    };
    (void)thread;
    for (int t = 0; t < r->n; t++)
        r->kernels->attention_forward(b->att + t * E, b->q + t * E, b->k16, b->v16, &shape, chunk, chunk + 1,
                                      b->att_scores + (size_t)chunk * b->n_ctx);
}

static int layer(const run_t *r, const ed_bert_layer_t *L)
{
    const ed_bert_t *b = r->bert;
    int E = b->n_embd, rc;
    if ((rc = linear(r, &L->wq, L->bq, b->x, E, b->q, E)) || (rc = linear(r, &L->wk, L->bk, b->x, E, b->k, E)) ||
        (rc = linear(r, &L->wv, L->bv, b->x, E, b->v, E)))
        return rc;
    for (size_t i = 0; i < (size_t)r->n * (size_t)E; i++) {
        b->k16[i] = ed_fp32_to_fp16(b->k[i]);
        b->v16[i] = ed_fp32_to_fp16(b->v[i]);
    }
    ed_pool_run(r->pool, r->prio, b->n_head, attention_chunk, (void *)r);
    if ((rc = linear(r, &L->wo, L->bo, b->att, E, b->xb, E)) != 0)
        return rc;
    add_norm(r, b->x, b->xb, L->attn_norm, L->attn_norm_b);

    if ((rc = linear(r, &L->w_up, L->b_up, b->x, E, b->hb, b->n_ff)) != 0)
        return rc;
    r->kernels->gelu_erf_forward(b->hb, b->hb, r->n * b->n_ff);
    if ((rc = linear(r, &L->w_down, L->b_down, b->hb, b->n_ff, b->xb, E)) != 0)
        return rc;
    add_norm(r, b->x, b->xb, L->out_norm, L->out_norm_b);
    return 0;
}

/* Whether the kernels multiply by every matrix of the model. */
static int check_kernels(const ed_bert_t *b, const ed_kernels_t *k, char err[ED_ERR_LEN])
{
    for (int l = 0; l < b->n_layer; l++) {
        const ed_bert_layer_t *L = &b->layers[l];
        const ed_matrix_t *matrices[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w_up, &L->w_down};
        for (size_t i = 0; i < sizeof matrices / sizeof matrices[0]; i++)
            if (!k->vec_dot[matrices[i]->type]) {
                const ed_type_info_t *info = ed_type_info(matrices[i]->type);
                snprintf(err, ED_ERR_LEN, "bert layer %d: the %s kernels have no product for type %s", l, k->name,
                         info ? info->name : "unknown");
                return ED_EUNSUPPORTED;
            }
    }
    return 0;
}

int ed_bert_embed(const ed_bert_t *b, const ed_kernels_t *kernels, ed_pool_t *pool, ed_pool_prio_t prio,
                  const char *text, size_t len, float *out, int *n_tokens, char err[ED_ERR_LEN])
{
    *n_tokens = 0;
    int rc = check_kernels(b, kernels, err);
    if (rc != 0)
        return rc;
    size_t n = 0;
    rc = ed_tokenizer_encode(b->vocab, text, len, true, false, b->tokens, (size_t)b->n_ctx, &n);
    if (rc == ED_ERANGE) {
        if (b->vocab->add_sep)
            b->tokens[b->n_ctx - 1] = b->vocab->sep; /* cut as embedding servers cut: [SEP] still ends it */
    } else if (rc != 0) {
        snprintf(err, ED_ERR_LEN, "bert: tokenizing %zu bytes: %s", len, ed_strerror(rc));
        return rc;
    }
    *n_tokens = n > INT32_MAX ? INT32_MAX : (int)n;
    run_t r = {.bert = b, .kernels = kernels, .pool = pool, .prio = prio, .n = n < (size_t)b->n_ctx ? (int)n : b->n_ctx};
    if (r.n == 0) { /* a vocabulary that adds no [CLS]/[SEP] and an empty text */
        memset(out, 0, (size_t)b->n_embd * sizeof *out);
        return 0;
    }

    size_t E = (size_t)b->n_embd;
    for (int t = 0; t < r.n; t++) {
        float *row = b->x + t * E;
        kernels->get_row(row, b->token_embd.data, b->token_embd.type, b->tokens[t], b->n_embd);
        if (b->token_types.data) { /* every token is of type 0, "sentence A" */
            kernels->get_row(b->xb, b->token_types.data, b->token_types.type, 0, b->n_embd);
            kernels->add(row, row, b->xb, b->n_embd);
        }
        kernels->get_row(b->xb, b->position_embd.data, b->position_embd.type, t, b->n_embd);
        kernels->add(row, row, b->xb, b->n_embd);
    }
    add_norm(&r, b->x, NULL, b->embd_norm, b->embd_norm_b);
    for (int l = 0; l < b->n_layer; l++)
        if ((rc = layer(&r, &b->layers[l])) != 0) {
            snprintf(err, ED_ERR_LEN, "bert layer %d: %s", l, ed_strerror(rc));
            return rc;
        }

    /* Pooling, then L2 normalisation. */
    int first = b->pooling == ED_BERT_POOL_LAST ? r.n - 1 : 0;
    int count = b->pooling == ED_BERT_POOL_MEAN ? r.n : 1;
    for (size_t i = 0; i < E; i++) {
        double sum = 0;
        for (int t = first; t < first + count; t++)
            sum += b->x[t * E + i];
        out[i] = (float)(sum / count);
    }
    kernels->l2_normalize(out, b->n_embd);
    return 0;
}
