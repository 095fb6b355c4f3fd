/* bert.h - a BERT-family sentence embedder (architecture `bert`: bge-small,
 * all-MiniLM) read from GGUF: its WordPiece vocabulary, its weights (pointers
 * into the mapping, shapes and types checked at load) and a run state sized
 * once for its context. ed_bert_embed runs the encoder (embeddings + token
 * type + position, LayerNorm, post-norm blocks of bidirectional attention and
 * a GELU feed-forward), pools as the file declares and L2-normalises. */
#ifndef ED_MODEL_BERT_H
#define ED_MODEL_BERT_H

#include "core/error.h"
#include "kernels/kernels.h"
#include "kernels/pool.h"
#include "model/gguf.h"
#include "model/model.h"
#include "model/vocab.h"

#include <stddef.h>
#include <stdint.h>

/* bert.pooling_type, as llama.cpp numbers it. */
typedef enum {
    ED_BERT_POOL_MEAN = 1, /* the mean of every token's output (all-MiniLM) */
    ED_BERT_POOL_CLS = 2,  /* the output of the first token, [CLS] (bge) */
    ED_BERT_POOL_LAST = 3, /* the output of the last token */
} ed_bert_pooling_t;

typedef struct {
    ed_matrix_t wq, wk, wv;           /* (n_embd, n_embd) each */
    const float *bq, *bk, *bv;        /* (n_embd) each, or NULL */
    ed_matrix_t wo;                   /* (n_embd, n_embd) */
    const float *bo;                  /* (n_embd) or NULL */
    const float *attn_norm;           /* (n_embd) attn_output_norm: LayerNorm of x + attention */
    const float *attn_norm_b;         /* (n_embd) or NULL */
    ed_matrix_t w_up;                 /* (n_ff, n_embd) */
    const float *b_up;                /* (n_ff) or NULL */
    ed_matrix_t w_down;               /* (n_embd, n_ff) */
    const float *b_down;              /* (n_embd) or NULL */
    const float *out_norm;            /* (n_embd) layer_output_norm: LayerNorm of x + feed-forward */
    const float *out_norm_b;          /* (n_embd) or NULL */
} ed_bert_layer_t;

typedef struct {
    ed_vocab_t *vocab; /* owned; its texts point into the GGUF mapping */
    int n_vocab;       /* rows of token_embd */
    int n_embd;        /* hidden width = the embedding's dimension */
    int n_layer;
    int n_head;
    int head_dim;      /* n_embd / n_head */
    int n_ff;          /* feed-forward width */
    int n_ctx;         /* bert.context_length: most tokens one text gives, [CLS] and [SEP] included */
    float norm_eps;    /* bert.attention.layer_norm_epsilon */
    ed_bert_pooling_t pooling;

    ed_matrix_t token_embd;    /* (n_vocab, n_embd) */
    ed_matrix_t token_types;   /* (n_token_types, n_embd): row 0 is added to every token; data NULL if absent */
    ed_matrix_t position_embd; /* (>= n_ctx, n_embd) */
    const float *embd_norm;    /* (n_embd) token_embd_norm */
    const float *embd_norm_b;  /* (n_embd) or NULL */
    ed_bert_layer_t *layers;   /* (n_layer), owned */

    /* run state for n_ctx tokens, allocated at load: one embed call at a time */
    int32_t *tokens;    /* (n_ctx) */
    float *x;           /* (n_ctx, n_embd) hidden states */
    float *xb;          /* (n_ctx, n_embd) a sublayer's output */
    float *q, *k, *v;   /* (n_ctx, n_embd) each */
    float *att;         /* (n_ctx, n_embd) attention output */
    float *hb;          /* (n_ctx, n_ff) feed-forward hidden */
    uint16_t *k16;      /* (n_ctx, n_embd) keys in f16, as the attention op reads them */
    uint16_t *v16;      /* (n_ctx, n_embd) values in f16 */
    float *att_scores;  /* (n_head, n_ctx) one score row per head (attention runs a head per chunk) */
    void *mm_scratch;   /* quantized activations of the matrix products, 64-byte aligned */
    size_t mm_scratch_size;
} ed_bert_t;

/* Reads the hyper-parameters, vocabulary and weights of a `bert` model from
 * `gguf` (which must stay open while the model is used) and allocates the
 * run state. Returns 0, or ED_EUNSUPPORTED (another architecture, a pooling
 * or tensor type edged does not run) / ED_EFORMAT (a missing key or tensor,
 * a wrong shape) / ED_ENOMEM, with err naming what and why. */
int ed_bert_load(ed_bert_t *bert, const ed_gguf_t *gguf, char err[ED_ERR_LEN]);
/* Frees what load allocated; accepts a zeroed or half-loaded model. */
void ed_bert_free(ed_bert_t *bert);

/* Embeds text[0, len): [CLS] text [SEP], the encoder, pooling, L2
 * normalisation into out (n_embd floats). A text of more than n_ctx tokens
 * is truncated to its first n_ctx - 1 and [SEP]; *n_tokens is the count
 * before truncation (> n_ctx says it was cut). Its products run on `pool`
 * at `prio` (the store embeds at ED_POOL_LOW: inference goes first). Uses the
 * run state: one call at a time per model. Returns 0, ED_ETOOBIG (text past the tokenizer's
 * limit), ED_EUNSUPPORTED (these kernels lack a product for a weight type)
 * or ED_ENOMEM, with err filled. */
int ed_bert_embed(const ed_bert_t *bert, const ed_kernels_t *kernels, ed_pool_t *pool, ed_pool_prio_t prio,
                  const char *text, size_t len, float *out, int *n_tokens, char err[ED_ERR_LEN]);

#endif
