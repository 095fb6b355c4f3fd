/* lora.h - LoRA adapters in llama.cpp's GGUF format: read against one base
 * model (every check llama.cpp makes, plus shapes, types and edged's base
 * fingerprint), held in f32 (adapters are small), and written back in the
 * same format with edged's own keys. Applying them is forward.c's work
 * (ed_forward_seq_t.lora); the registry, sealing and the API come later. */
#ifndef ED_MODEL_LORA_H
#define ED_MODEL_LORA_H

#include "core/error.h"
#include "model/gguf.h"
#include "model/model.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ED_LORA_MAX_RANK 1024 /* ranks above this are refused (trainers use 4 to 128) */
#define ED_LORA_MAX_SET 8     /* adapters one set (one request, one --lora list) adds up */
#define ED_LORA_FINGERPRINT_LEN 26 /* "fnv1a64:" + 16 hex digits + NUL, rounded */

/* The matrices of a block an adapter can carry, in llama.cpp's names. */
typedef enum {
    ED_LORA_ATTN_Q = 0,      /* blk.N.attn_q.weight */
    ED_LORA_ATTN_K = 1,      /* blk.N.attn_k.weight */
    ED_LORA_ATTN_V = 2,      /* blk.N.attn_v.weight */
    ED_LORA_ATTN_OUTPUT = 3, /* blk.N.attn_output.weight */
    ED_LORA_FFN_GATE = 4,    /* blk.N.ffn_gate.weight */
    ED_LORA_FFN_UP = 5,      /* blk.N.ffn_up.weight */
    ED_LORA_FFN_DOWN = 6,    /* blk.N.ffn_down.weight */
    ED_LORA_PER_LAYER = 7,
} ed_lora_role_t;

/* One adapted matrix W (n_out rows of n_in): W x + s B (A x). Both halves
 * are rows of f32, as GGUF stores them (lora_a ne [n_in, rank], lora_b ne
 * [rank, n_out]), so each multiplies like a weight matrix. token_embd's
 * halves are flipped in the file (lora_a ne [rank, n_vocab], lora_b ne
 * [rank, n_embd]): `a` is then a table of n_vocab rows of rank, looked up
 * by token, and `b` is (n_embd, rank) as for any other matrix. */
typedef struct {
    int rank;  /* 0: this matrix has no adapter */
    int n_in;  /* columns of W (token_embd: n_embd) */
    int n_out; /* rows of W (token_embd: n_vocab) */
    float *a;  /* (rank, n_in); token_embd: (n_vocab, rank) */
    float *b;  /* (n_out, rank); token_embd: (n_embd, rank) */
    int a_type, b_type; /* ed_type_t the file held them in (F32, F16, Q8_0); written back as F32 */
} ed_lora_pair_t;

typedef struct {
    char arch[16];  /* general.architecture: the base's */
    bool has_alpha; /* adapter.lora.alpha present: scale alpha / rank * user scale; absent: user scale */
    float alpha;
    int n_layer;    /* of the base */
    int max_rank;   /* largest rank of any pair */
    int n_pairs;    /* matrices adapted */
    size_t bytes;   /* f32 bytes of every pair */
    /* (n_layer * ED_LORA_PER_LAYER + 2): block pairs at layer * ED_LORA_PER_LAYER + role, then
     * token_embd, then output (absent on a tied base) */
    ed_lora_pair_t *pairs;

    /* edged.adapter.* (empty / 0 when the file has none) */
    char fingerprint[ED_LORA_FINGERPRINT_LEN]; /* of the base it was made for */
    char name[128];
    uint32_t version;
    uint64_t created;  /* unix seconds */
    char *training;    /* a summary of how it was trained; NULL: none; owned */
} ed_lora_t;

/* The base's fingerprint: FNV-1a 64 over its tensor table (every name,
 * type, shape and data offset, in file order), "fnv1a64:%016x". Two files
 * with the same table hold the same weights as far as an adapter cares; the
 * tensor data is not read, so this costs microseconds. */
void ed_lora_fingerprint(const ed_gguf_t *base, char out[ED_LORA_FINGERPRINT_LEN]);

/* Reads the adapter in `gguf` against the base `model` loaded from
 * `base_gguf`. Every tensor is converted to f32 (the adapter file may be
 * closed afterwards). Returns 0, or ED_EFORMAT (a key, name, pairing or
 * shape llama.cpp or edged refuses) / ED_EUNSUPPORTED (a tensor type, aLoRA,
 * a base tensor edged does not adapt) / ED_EINVAL (made for another base:
 * architecture or fingerprint) / ED_ENOMEM, with err naming the key or
 * tensor and what was expected. */
int ed_lora_load(ed_lora_t **out, const ed_gguf_t *gguf, const ed_gguf_t *base_gguf, const ed_model_t *model,
                 char err[ED_ERR_LEN]);
/* The same from a file; err starts with the path. */
int ed_lora_open(ed_lora_t **out, const char *path, const ed_gguf_t *base_gguf, const ed_model_t *model,
                 char err[ED_ERR_LEN]);
/* Accepts NULL. */
void ed_lora_free(ed_lora_t *lora);

/* The pair of matrix `role` of block `layer`, of token_embd or of output;
 * NULL when the adapter leaves it alone. */
const ed_lora_pair_t *ed_lora_block(const ed_lora_t *lora, int layer, ed_lora_role_t role);
const ed_lora_pair_t *ed_lora_token_embd(const ed_lora_t *lora);
const ed_lora_pair_t *ed_lora_output(const ed_lora_t *lora);
/* The factor a pair's update is multiplied by: alpha / rank * user_scale,
 * or user_scale when the file has no alpha (llama.cpp's rule). */
float ed_lora_scale(const ed_lora_t *lora, const ed_lora_pair_t *pair, float user_scale);

/* Serialises the adapter as llama.cpp's LoRA GGUF (v3, f32 tensors,
 * general.*, adapter.* and the edged.adapter.* keys that are set) into a
 * new buffer (*out, *size; free() it). 0 or ED_ENOMEM with err. */
int ed_lora_serialize(const ed_lora_t *lora, void **out, size_t *size, char err[ED_ERR_LEN]);
/* The same into `path` (written beside it, then renamed). 0, ED_EIO, ED_ENOMEM. */
int ed_lora_write(const ed_lora_t *lora, const char *path, char err[ED_ERR_LEN]);

/* Adapters applied together to one row of a batch (one request), each with
 * the user's scale; their updates add up, as llama.cpp's do. The adapters
 * must have been loaded against the model the forward pass runs. */
typedef struct {
    int n;
    const ed_lora_t *adapters[ED_LORA_MAX_SET];
    float scales[ED_LORA_MAX_SET];
} ed_lora_set_t;

#endif
