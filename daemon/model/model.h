/* model.h - the hyper-parameters and weights of a decoder-only transformer
 * of the Llama family (architectures `llama`, `qwen2`, `qwen3`, `phi3`,
 * `smollm3`, `gemma2` and `gemma3`, with llama.cpp's GGUF keys and tensor names), read from an open
 * GGUF file. Weights are pointers into the file's mapping, except the
 * matrices ed_model_repack copies once into the layout the kernels multiply
 * fastest; every tensor's presence, shape and type is checked at load. The forward
 * pass over these weights is in forward.h, the KV cache in kvcache.h. */
#ifndef ED_MODEL_MODEL_H
#define ED_MODEL_MODEL_H

#include "core/error.h"
#include "kernels/kernels.h"
#include "kernels/pool.h"
#include "model/gguf.h"

#include <stdbool.h>
#include <stdint.h>

typedef enum {
    ED_ARCH_LLAMA = 0, /* Llama 1/2/3, TinyLlama, Mistral, SmolLM: normal RoPE, no biases */
    ED_ARCH_QWEN2 = 1, /* Qwen2 / Qwen2.5: Q/K/V biases, NeoX RoPE */
    ED_ARCH_QWEN3 = 2, /* Qwen3 dense: per-head RMSNorm of q and k before RoPE, NeoX RoPE, no biases */
    ED_ARCH_PHI3 = 3,  /* Phi-3/3.5/4-mini: fused attn_qkv and gate/up, NeoX RoPE, long/short factors */
    ED_ARCH_SMOLLM3 = 4, /* SmolLM3: llama blocks, every 4th layer without RoPE (NoPE) */
    ED_ARCH_GEMMA2 = 5,  /* Gemma 2: scaled embeddings, post-norms, GELU FFN, soft-capping, sliding
                            window on every other layer */
    ED_ARCH_GEMMA3 = 6,  /* Gemma 3: Gemma 2 without soft-capping, q/k norms, 5 sliding layers of 6
                            with their own RoPE base */
    ED_ARCH_COUNT
} ed_arch_t;

/* A weight matrix (n_out rows of n_in elements) in any type with quant
 * traits, rows contiguous: as GGUF stores them, or in an interleaved layout
 * of kernels/repack.h after ed_model_repack. */
typedef struct {
    const void *data; /* into the GGUF mapping, or `owned` */
    int type;         /* ed_type_t */
    void *owned;      /* the repacked copy (64-byte aligned, in the model's arena); NULL: mapped */
} ed_matrix_t;

typedef struct {
    const float *attn_norm; /* (n_embd) */
    ed_matrix_t wq;         /* (q_dim, n_embd) */
    ed_matrix_t wk;         /* (kv_dim, n_embd) */
    ed_matrix_t wv;         /* (kv_dim, n_embd); phi3's fused attn_qkv gives q, k, v as row views of one
                               tensor (rows [0, q_dim), [q_dim, q_dim + kv_dim), the rest) */
    const float *bq;        /* (q_dim), qwen2 only, else NULL */
    const float *bk;        /* (kv_dim), qwen2 only, else NULL */
    const float *bv;        /* (kv_dim), qwen2 only, else NULL */
    const float *q_norm;    /* (head_dim) qwen3's RMSNorm weight of every query head, else NULL */
    const float *k_norm;    /* (head_dim) the same for key heads */
    bool rope;              /* RoPE on q and k: false for smollm3's NoPE layers */
    ed_matrix_t wo;         /* (n_embd, q_dim) */
    const float *ffn_norm;  /* (n_embd) */
    ed_matrix_t w_gate;     /* (n_ff, n_embd) */
    ed_matrix_t w_up;       /* (n_ff, n_embd); phi3's fused ffn_up holds gate (rows [0, n_ff)) then up */
    ed_matrix_t w_down;     /* (n_embd, n_ff) */
    /* gemma2/gemma3 (kept last: the trainer reads the fields above) */
    const float *attn_post_norm; /* (n_embd) RMSNorm weight of the attention output before the residual
                                    add (post_attention_norm), else NULL */
    const float *ffn_post_norm;  /* (n_embd) the same for the feed-forward output (post_ffw_norm), else NULL */
    bool sliding;                /* attends to the last model.n_swa positions only (gemma's local layers) */
} ed_layer_t;

typedef struct {
    ed_arch_t arch;
    int n_vocab;     /* rows of token_embd */
    int n_embd;      /* residual stream width */
    int n_layer;
    int n_head;      /* query heads */
    int n_kv_head;   /* key/value heads; divides n_head (GQA when fewer) */
    int head_dim;    /* elements per head */
    int q_dim;       /* n_head * head_dim */
    int kv_dim;      /* n_kv_head * head_dim */
    int n_ff;        /* feed-forward hidden width */
    int n_ctx_train; /* <arch>.context_length: the context the model was trained for */
    float rms_eps;   /* RMS-norm epsilon */
    ed_rope_t rope;  /* n_rot, layout, base, linear scale, rope_freqs factors */
    /* phi3 LongRoPE: rope_factors_long/short (n_rot/2) replace rope.freq_factors per
     * forward pass: long when its context exceeds n_ctx_orig (llama.cpp's
     * get_rope_factors); NULL when absent */
    const float *rope_long, *rope_short;
    int n_ctx_orig;     /* <arch>.rope.scaling.original_context_length, default n_ctx_train */
    float rope_attn_factor; /* <arch>.rope.scaling.attn_factor (1): scales RoPE's cos and sin */
    /* gemma2/gemma3; the other architectures keep the neutral values */
    int n_swa;           /* <arch>.attention.sliding_window: positions a sliding layer attends to,
                            its own included; 0: no sliding layer */
    ed_rope_t rope_swa;  /* RoPE of sliding layers: gemma3's base 10000 and scale 1; else = rope */
    float embd_scale;    /* token embeddings are multiplied by it: sqrt(n_embd) for gemma, else 1 */
    float attn_scale;    /* attention score scale: 1/sqrt(head_dim), or gemma's 27B
                            1/sqrt(n_embd / n_head) (query_pre_attn_scalar) */
    float attn_softcap;  /* <arch>.attn_logit_softcapping (gemma2: 50): scores capped; 0: none */
    float final_softcap; /* <arch>.final_logit_softcapping (gemma2: 30): logits capped; 0: none */
    bool gelu_ffn;       /* feed-forward gelu(gate) * up (tanh GELU) instead of silu(gate) * up */

    ed_matrix_t token_embd;   /* (n_vocab, n_embd) */
    const float *output_norm; /* (n_embd) */
    ed_matrix_t output;       /* (n_vocab, n_embd); token_embd when tied */
    bool tied;                /* the file has no output.weight */
    ed_layer_t *layers;       /* (n_layer), owned */
    void *repacked;           /* the arena of every repacked matrix (ed_model_repack), owned */
} ed_model_t;

/* Fills `model` from `gguf`, which must stay open while the model is used.
 * Returns 0, or ED_EUNSUPPORTED (architecture, tensor type, layout edged does
 * not run) / ED_EFORMAT (missing key or tensor, wrong shape) / ED_ENOMEM,
 * with `err` naming the key or tensor, what it holds and what was expected. */
int ed_model_load(ed_model_t *model, const ed_gguf_t *gguf, char err[ED_ERR_LEN]);
/* Copies every matrix whose type has an interleaved layout (kernels/repack.h)
 * that `kernels` multiply with a batch kernel into that layout, and releases
 * the mapped pages it was read from: the same bytes, read once per token
 * without the per-block float work that keeps the file layout below memory
 * bandwidth. The copies share one arena on transparent huge pages where the
 * system gives them (madvise): a token reads every matrix, and with 4 KiB
 * pages the address translation costs as much as the arithmetic.
 * token_embd stays mapped for its row lookups (a tied output gets
 * its own copy). The rows are copied on `pool`. Call after ed_model_load,
 * before ed_forward_init; the model must then be used with these kernels. Returns 0 (also when nothing is
 * repacked) or ED_ENOMEM with `err` naming the matrix. */
int ed_model_repack(ed_model_t *model, const ed_kernels_t *kernels, ed_pool_t *pool, char err[ED_ERR_LEN]);
/* Frees what load and repack allocated; accepts a zeroed or half-loaded model. */
void ed_model_free(ed_model_t *model);
/* "llama", "qwen2", "qwen3", "phi3", "smollm3", "gemma2", "gemma3". */
const char *ed_model_arch_name(ed_arch_t arch);

#endif
