/* mkmodel - writes a small (or TinyLlama-, Qwen3-0.6B-, Gemma-3-1B-sized)
 * deterministic random-weight GGUF model of the llama, qwen2, qwen3, phi3,
 * smollm3, gemma2 or gemma3 architecture (or a
 * small bert embedder)
 * for tests and benchmarks,
 * with the vocabulary (every tokenizer.* key) copied from a vocab GGUF file.
 * Tensors are named and shaped as llama.cpp names them; norms and biases stay
 * f32, matrices are quantized with the kernels' from_float (large models
 * from pools of quantized blocks, see pool_for). `mkmodel --help`. */
#include "kernels/quant.h"
#include "model/gguf.h"
#include "tests/tools/gguf_writer.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MKMODEL_QUANT_ROWS 64 /* rows generated and quantized at a time */

typedef struct {
    const char *arch;  /* "llama", "qwen2", "qwen3", "phi3", "smollm3", "gemma2", "gemma3" or "bert" */
    const char *out;   /* output path */
    const char *vocab; /* GGUF file whose tokenizer.* keys are copied */
    uint32_t n_embd, n_layer, n_head, n_head_kv, n_ff, n_ctx;
    const char *type_name; /* --type as given */
    ed_type_t type;        /* the matrices' type (q4_k_m: Q4_K, see pick_type) */
    bool k_mix;            /* q4_k_m: llama.cpp's Q4_K_M mix */
    bool tied;             /* no output.weight: the head reuses token_embd */
    bool rope_freqs;       /* write rope_freqs.weight */
    bool exact;            /* quantize every element even for a large model (no block pools) */
    uint32_t pooling;      /* bert: bert.pooling_type, 1 (mean) or 2 (cls) */
    uint64_t seed;
    float rope_base; /* 0: the architecture's default */
    float rms_eps;   /* 0: the architecture's default */
    float rope_scale_linear; /* 0: no rope.scaling keys; else the linear scaling factor */
    uint32_t head_dim;  /* 0: n_embd / n_head; else written as attention.key_length/value_length */
    uint32_t n_rot;     /* 0: head_dim; else rope.dimension_count (partial rotary, as Phi-4-mini) */
    uint32_t longrope_orig; /* phi3: 0, or write rope_factors_long/short with this original context */
    uint32_t sliding_window; /* gemma2/gemma3: attention.sliding_window (0: 4) */
    uint32_t n_vocab;        /* 0: the vocab file's; larger: its token arrays padded to it */
    float attn_softcap, final_softcap; /* gemma2: 0, or written as (att|final)_logit_softcapping */
} options_t;

static bool is_arch(const options_t *o, const char *name)
{
    return strcmp(o->arch, name) == 0;
}

static bool is_gemma(const options_t *o)
{
    return is_arch(o, "gemma2") || is_arch(o, "gemma3");
}

static uint32_t head_dim_of(const options_t *o)
{
    return o->head_dim ? o->head_dim : o->n_embd / o->n_head;
}

static uint32_t n_rot_of(const options_t *o)
{
    return o->n_rot ? o->n_rot : head_dim_of(o);
}

/* ---------------------------------------------------------------- random ---- */

/* xoshiro256**: fast and good enough for weights; seeded by splitmix64. */
typedef struct {
    uint64_t s[4];
} rng_t;

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static void rng_seed(rng_t *r, uint64_t seed, uint64_t stream)
{
    uint64_t x = seed ^ (stream * 0xd1b54a32d192ed03u);
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
}

static uint64_t rng_next(rng_t *r)
{
    uint64_t *s = r->s;
    uint64_t result = ((s[1] * 5) << 7 | (s[1] * 5) >> 57) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = (s[3] << 45) | (s[3] >> 19);
    return result;
}

/* An approximately standard normal value: the sum of four 16-bit uniforms
 * (Irwin-Hall), centred and scaled to unit variance. Tails stop at 3.46
 * sigma, which random test weights do not miss; one generator call per value
 * keeps the 1.1B-parameter model well under a minute. */
static float rng_normal(rng_t *r)
{
    uint64_t x = rng_next(r);
    uint32_t sum = (uint32_t)(x & 0xffff) + (uint32_t)((x >> 16) & 0xffff) +
                   (uint32_t)((x >> 32) & 0xffff) + (uint32_t)(x >> 48);
    /* mean 4 * 32767.5, variance 4 * (65536^2 - 1) / 12 */
    return ((float)sum - 131070.0f) * (1.0f / 37837.23f);
}

/* --------------------------------------------------------------- tensors ---- */

typedef enum { INIT_NORMAL, INIT_NORM, INIT_ROPE_FREQS, INIT_ROPE_LONG, INIT_ROPE_SHORT } init_t;

typedef struct {
    char name[64];
    ed_type_t type;
    uint32_t n_dims;
    int64_t ne[2];
    init_t init;
    float std; /* INIT_NORMAL: standard deviation; INIT_NORM: of the noise around 1 */
} tensor_plan_t;

/* llama.cpp's use_more_bits(): the layers whose attn_v and ffn_down get
 * Q6_K in its Q4_K_M mix (first and last eighth, and every third between). */
static bool use_more_bits(uint32_t layer, uint32_t n_layer)
{
    return layer < n_layer / 8 || layer >= 7 * n_layer / 8 || (layer - n_layer / 8) % 3 == 2;
}

/* A type whose blocks fit a row of ne0 elements: K-quants fall back as
 * llama.cpp falls back (q4_K -> q5_0, q5_K -> q5_1, q6_K -> q8_0; q2_K and
 * q3_K -> q4_0), and a row that fits no 32-block becomes f16. */
static ed_type_t fitting_type(ed_type_t type, int64_t ne0)
{
    if (ne0 % ed_type_info(type)->block_len == 0)
        return type;
    switch (type) {
    case ED_TYPE_Q2_K: case ED_TYPE_Q3_K: type = ED_TYPE_Q4_0; break;
    case ED_TYPE_Q4_K: type = ED_TYPE_Q5_0; break;
    case ED_TYPE_Q5_K: type = ED_TYPE_Q5_1; break;
    case ED_TYPE_Q6_K: type = ED_TYPE_Q8_0; break;
    default: break;
    }
    return ne0 % ed_type_info(type)->block_len == 0 ? type : ED_TYPE_F16;
}

/* The type of matrix `role` of layer `layer` (-1: not in a block). */
static ed_type_t pick_type(const options_t *o, const char *role, int layer, int64_t ne0)
{
    ed_type_t type = o->type;
    if (o->k_mix) {
        bool more = layer >= 0 && use_more_bits((uint32_t)layer, o->n_layer);
        /* A tied head is token_embd: it gets the head's bits. */
        bool head = strcmp(role, "output") == 0 || (o->tied && strcmp(role, "token_embd") == 0);
        if (head || (more && (strcmp(role, "attn_v") == 0 || strcmp(role, "ffn_down") == 0)))
            type = ED_TYPE_Q6_K;
    }
    return fitting_type(type, ne0);
}

static void plan(tensor_plan_t *t, size_t *n, ed_type_t type, init_t init, float std, int64_t ne0, int64_t ne1,
                 const char *fmt, int layer)
{
    tensor_plan_t *p = &t[(*n)++];
    snprintf(p->name, sizeof p->name, fmt, layer);
    p->type = type;
    p->n_dims = ne1 ? 2 : 1;
    p->ne[0] = ne0;
    p->ne[1] = ne1 ? ne1 : 1;
    p->init = init;
    p->std = std;
}

/* A bert model's tensors, as llama.cpp's converter names them: embeddings
 * (token, token type, position) and their LayerNorm, then per layer Q/K/V/O
 * with biases, the post-attention LayerNorm, the up/down feed-forward with
 * biases and the output LayerNorm. Matrices have std 1/sqrt(fan_in). */
static size_t plan_bert(const options_t *o, uint64_t n_vocab, tensor_plan_t *t)
{
    size_t n = 0;
    int64_t embd = o->n_embd, ff = o->n_ff;
    float in_embd = 1.0f / sqrtf((float)embd), in_ff = 1.0f / sqrtf((float)ff);
    plan(t, &n, pick_type(o, "token_embd", -1, embd), INIT_NORMAL, 1.0f, embd, (int64_t)n_vocab,
         "token_embd.weight", 0);
    plan(t, &n, ED_TYPE_F32, INIT_NORMAL, 0.5f, embd, 2, "token_types.weight", 0);
    plan(t, &n, ED_TYPE_F32, INIT_NORMAL, 0.5f, embd, o->n_ctx, "position_embd.weight", 0);
    plan(t, &n, ED_TYPE_F32, INIT_NORM, 0.1f, embd, 0, "token_embd_norm.weight", 0);
    plan(t, &n, ED_TYPE_F32, INIT_NORMAL, 0.1f, embd, 0, "token_embd_norm.bias", 0);
    for (int l = 0; l < (int)o->n_layer; l++) {
        static const char *const attn[] = {"attn_q", "attn_k", "attn_v", "attn_output"};
        for (int i = 0; i < 4; i++) {
            char fmt[64];
            snprintf(fmt, sizeof fmt, "blk.%%d.%s.weight", attn[i]);
            plan(t, &n, pick_type(o, attn[i], l, embd), INIT_NORMAL, in_embd, embd, embd, fmt, l);
            snprintf(fmt, sizeof fmt, "blk.%%d.%s.bias", attn[i]);
            plan(t, &n, ED_TYPE_F32, INIT_NORMAL, 0.1f, embd, 0, fmt, l);
        }
        plan(t, &n, ED_TYPE_F32, INIT_NORM, 0.1f, embd, 0, "blk.%d.attn_output_norm.weight", l);
        plan(t, &n, ED_TYPE_F32, INIT_NORMAL, 0.1f, embd, 0, "blk.%d.attn_output_norm.bias", l);
        plan(t, &n, pick_type(o, "ffn_up", l, embd), INIT_NORMAL, in_embd, embd, ff, "blk.%d.ffn_up.weight", l);
        plan(t, &n, ED_TYPE_F32, INIT_NORMAL, 0.1f, ff, 0, "blk.%d.ffn_up.bias", l);
        plan(t, &n, pick_type(o, "ffn_down", l, ff), INIT_NORMAL, in_ff, ff, embd, "blk.%d.ffn_down.weight", l);
        plan(t, &n, ED_TYPE_F32, INIT_NORMAL, 0.1f, embd, 0, "blk.%d.ffn_down.bias", l);
        plan(t, &n, ED_TYPE_F32, INIT_NORM, 0.1f, embd, 0, "blk.%d.layer_output_norm.weight", l);
        plan(t, &n, ED_TYPE_F32, INIT_NORMAL, 0.1f, embd, 0, "blk.%d.layer_output_norm.bias", l);
    }
    return n;
}

/* Every tensor of the model, in file order. Matrices start with std
 * 1/sqrt(fan_in) so each projection keeps unit variance; the two that write
 * into the residual stream (attn_output, ffn_down) are scaled down by
 * 1/sqrt(2 n_layer) so the stream stays near unit RMS through the layers. */
static size_t plan_model(const options_t *o, uint64_t n_vocab, tensor_plan_t *t)
{
    if (strcmp(o->arch, "bert") == 0)
        return plan_bert(o, n_vocab, t);
    size_t n = 0;
    int64_t embd = o->n_embd, ff = o->n_ff, head_dim = head_dim_of(o), n_rot = n_rot_of(o);
    int64_t q_dim = head_dim * o->n_head, kv_dim = head_dim * o->n_head_kv;
    float in_embd = 1.0f / sqrtf((float)embd), in_ff = 1.0f / sqrtf((float)ff), in_q = 1.0f / sqrtf((float)q_dim);
    float residual = 1.0f / sqrtf(2.0f * (float)o->n_layer);
    bool qwen2 = is_arch(o, "qwen2"), qwen3 = is_arch(o, "qwen3") || is_arch(o, "gemma3"), phi3 = is_arch(o, "phi3");
#define MATRIX(role, layer, ne0, ne1, std, fmt)                                    \
    plan(t, &n, pick_type(o, role, layer, ne0), INIT_NORMAL, std, ne0, ne1, fmt, layer)
    MATRIX("token_embd", -1, embd, (int64_t)n_vocab, in_embd, "token_embd.weight");
    if (o->rope_freqs)
        plan(t, &n, ED_TYPE_F32, INIT_ROPE_FREQS, 0, n_rot / 2, 0, "rope_freqs.weight", 0);
    if (o->longrope_orig) {
        plan(t, &n, ED_TYPE_F32, INIT_ROPE_LONG, 0, n_rot / 2, 0, "rope_factors_long.weight", 0);
        plan(t, &n, ED_TYPE_F32, INIT_ROPE_SHORT, 0, n_rot / 2, 0, "rope_factors_short.weight", 0);
    }
    for (int l = 0; l < (int)o->n_layer; l++) {
        plan(t, &n, ED_TYPE_F32, INIT_NORM, 0.1f, embd, 0, "blk.%d.attn_norm.weight", l);
        if (phi3) {
            /* one fused matrix: q rows, then k, then v (convert_hf_to_gguf keeps qkv_proj whole) */
            MATRIX("attn_qkv", l, embd, q_dim + 2 * kv_dim, in_embd, "blk.%d.attn_qkv.weight");
        } else {
            MATRIX("attn_q", l, embd, q_dim, in_embd, "blk.%d.attn_q.weight");
            if (qwen2)
                plan(t, &n, ED_TYPE_F32, INIT_NORMAL, 0.02f, q_dim, 0, "blk.%d.attn_q.bias", l);
            MATRIX("attn_k", l, embd, kv_dim, in_embd, "blk.%d.attn_k.weight");
            if (qwen2)
                plan(t, &n, ED_TYPE_F32, INIT_NORMAL, 0.02f, kv_dim, 0, "blk.%d.attn_k.bias", l);
            MATRIX("attn_v", l, embd, kv_dim, in_embd, "blk.%d.attn_v.weight");
            if (qwen2)
                plan(t, &n, ED_TYPE_F32, INIT_NORMAL, 0.02f, kv_dim, 0, "blk.%d.attn_v.bias", l);
        }
        if (qwen3) {
            plan(t, &n, ED_TYPE_F32, INIT_NORM, 0.1f, head_dim, 0, "blk.%d.attn_q_norm.weight", l);
            plan(t, &n, ED_TYPE_F32, INIT_NORM, 0.1f, head_dim, 0, "blk.%d.attn_k_norm.weight", l);
        }
        MATRIX("attn_output", l, q_dim, embd, in_q * residual, "blk.%d.attn_output.weight");
        /* gemma: the convert script has already added gemma's 1 to every norm weight */
        if (is_gemma(o))
            plan(t, &n, ED_TYPE_F32, INIT_NORM, 0.1f, embd, 0, "blk.%d.post_attention_norm.weight", l);
        plan(t, &n, ED_TYPE_F32, INIT_NORM, 0.1f, embd, 0, "blk.%d.ffn_norm.weight", l);
        if (phi3) {
            /* gate rows then up rows (llama.cpp's ggml_swiglu: silu of the first half) */
            MATRIX("ffn_up", l, embd, 2 * ff, in_embd, "blk.%d.ffn_up.weight");
        } else {
            MATRIX("ffn_gate", l, embd, ff, in_embd, "blk.%d.ffn_gate.weight");
            MATRIX("ffn_up", l, embd, ff, in_embd, "blk.%d.ffn_up.weight");
        }
        MATRIX("ffn_down", l, ff, embd, in_ff * residual, "blk.%d.ffn_down.weight");
        if (is_gemma(o))
            plan(t, &n, ED_TYPE_F32, INIT_NORM, 0.1f, embd, 0, "blk.%d.post_ffw_norm.weight", l);
    }
    plan(t, &n, ED_TYPE_F32, INIT_NORM, 0.1f, embd, 0, "output_norm.weight", 0);
    if (!o->tied)
        MATRIX("output", -1, embd, (int64_t)n_vocab, in_embd, "output.weight");
#undef MATRIX
    return n;
}

/* Fills the next n_rows rows of tensor t, in f32, from its generator. */
static void generate(const tensor_plan_t *t, rng_t *rng, int64_t n_rows, float *dst)
{
    int64_t n = t->ne[0] * n_rows;
    for (int64_t i = 0; i < n; i++) {
        switch (t->init) {
        case INIT_NORMAL: dst[i] = t->std * rng_normal(rng); break;
        case INIT_NORM: dst[i] = 1.0f + t->std * rng_normal(rng); break;
        case INIT_ROPE_FREQS: {
            /* Llama-3-style frequency factors: 1 for the fastest quarter of
             * the dimensions, 8 for the slowest quarter, linear between. */
            float x = (float)i / (float)t->ne[0];
            dst[i] = x < 0.25f ? 1.0f : x >= 0.75f ? 8.0f : 1.0f + 7.0f * (x - 0.25f) * 2.0f;
            break;
        }
        /* LongRoPE-like factors, growing with the dimension: long ones to 16, short ones to 2 */
        case INIT_ROPE_LONG: dst[i] = 1.0f + 15.0f * (float)i / (float)t->ne[0]; break;
        case INIT_ROPE_SHORT: dst[i] = 1.0f + (float)i / (float)t->ne[0]; break;
        }
    }
}

/* Large models (more than MKMODEL_POOL_MIN_ELEMENTS matrix elements) are
 * assembled from pools: MKMODEL_POOL_ELEMENTS values quantized once per
 * (type, std) with from_float, whose blocks are then picked at random one by
 * one. A row is a
 * random sequence of correctly distributed quantized blocks, and the careful
 * (slow) quantizers run on 2M elements per pool instead of a billion, which
 * keeps a 1.1B-parameter model under a minute on one core. */
#define MKMODEL_POOL_ELEMENTS ((uint64_t)1 << 21) /* 65536 32-blocks, 8192 256-blocks */
#define MKMODEL_POOL_MIN_ELEMENTS ((uint64_t)1 << 26)
#define MKMODEL_MAX_POOLS 16

typedef struct {
    ed_type_t type;
    float std;
    uint64_t n_blocks; /* a power of two, <= 65536 */
    uint8_t *blocks;   /* (n_blocks, block_size) quantized N(0, std^2) values */
} block_pool_t;

typedef struct {
    uint64_t seed;
    bool use_pools;
    float *rows_f32; /* (MKMODEL_QUANT_ROWS, max ne[0]) */
    uint8_t *rows_q; /* the same rows in the tensor's type */
    block_pool_t pools[MKMODEL_MAX_POOLS];
    int n_pools;
} scratch_t;

/* The pool for t's type and std, quantized on first use; NULL when the
 * tensor is written element by element. */
static const block_pool_t *pool_for(scratch_t *sc, const tensor_plan_t *t)
{
    const ed_type_info_t *info = ed_type_info(t->type);
    if (!sc->use_pools || t->init != INIT_NORMAL || info->block_len < 32)
        return NULL;
    for (int i = 0; i < sc->n_pools; i++)
        if (sc->pools[i].type == t->type && sc->pools[i].std == t->std)
            return &sc->pools[i];
    if (sc->n_pools == MKMODEL_MAX_POOLS)
        return NULL;
    uint64_t n = MKMODEL_POOL_ELEMENTS, n_blocks = n / info->block_len;
    float *values = malloc(n * sizeof *values);
    uint8_t *blocks = malloc((size_t)n_blocks * info->block_size);
    if (!values || !blocks) {
        free(values);
        free(blocks);
        return NULL;
    }
    rng_t rng;
    uint32_t std_bits;
    memcpy(&std_bits, &t->std, 4);
    rng_seed(&rng, sc->seed, ((uint64_t)t->type << 32 | std_bits) ^ 0x706f6f6cu);
    for (uint64_t i = 0; i < n; i++)
        values[i] = t->std * rng_normal(&rng);
    ed_quant_traits(t->type)->from_float(values, blocks, (int64_t)n);
    free(values);
    block_pool_t *pool = &sc->pools[sc->n_pools++];
    *pool = (block_pool_t){t->type, t->std, n_blocks, blocks};
    return pool;
}

/* Fills n_rows rows of t in its type at sc->rows_q. */
static void fill_rows(scratch_t *sc, const tensor_plan_t *t, rng_t *rng, int64_t n_rows, uint64_t row_bytes)
{
    const block_pool_t *pool = pool_for(sc, t);
    if (!pool) {
        generate(t, rng, n_rows, sc->rows_f32);
        for (int64_t r = 0; r < n_rows; r++)
            ed_quant_traits(t->type)->from_float(sc->rows_f32 + r * t->ne[0], sc->rows_q + (uint64_t)r * row_bytes,
                                                 t->ne[0]);
        return;
    }
    uint32_t block_size = ed_type_info(t->type)->block_size;
    uint64_t n_blocks = row_bytes / block_size * (uint64_t)n_rows, bits = 0;
    for (uint64_t b = 0; b < n_blocks; b++, bits >>= 16) {
        if (b % 4 == 0)
            bits = rng_next(rng);
        memcpy(sc->rows_q + b * block_size, pool->blocks + (bits & (pool->n_blocks - 1)) * block_size,
               block_size);
    }
}

static int write_tensor(const ed_gguf_writer_t *w, FILE *f, scratch_t *sc, const tensor_plan_t *t, uint64_t index)
{
    uint64_t row_bytes, written = 0;
    ed_type_row_size(t->type, (uint64_t)t->ne[0], &row_bytes);
    rng_t rng;
    rng_seed(&rng, sc->seed, index);
    for (int64_t row = 0; row < t->ne[1]; row += MKMODEL_QUANT_ROWS) {
        int64_t n_rows = t->ne[1] - row < MKMODEL_QUANT_ROWS ? t->ne[1] - row : MKMODEL_QUANT_ROWS;
        uint64_t bytes = row_bytes * (uint64_t)n_rows;
        fill_rows(sc, t, &rng, n_rows, row_bytes);
        if (fwrite(sc->rows_q, 1, bytes, f) != bytes)
            return ED_EIO;
        written += bytes;
    }
    return ed_gguf_writer_pad_file(w, f, written);
}

/* ------------------------------------------------------------- metadata ---- */

/* llama.cpp's general.file_type for a model whose matrices are `type`. */
static uint32_t file_type(const options_t *o)
{
    if (o->k_mix)
        return 15; /* MOSTLY_Q4_K_M */
    switch (o->type) {
    case ED_TYPE_F32: return 0;
    case ED_TYPE_F16: return 1;
    case ED_TYPE_Q4_0: return 2;
    case ED_TYPE_Q4_1: return 3;
    case ED_TYPE_Q8_0: return 7;
    case ED_TYPE_Q5_0: return 8;
    case ED_TYPE_Q5_1: return 9;
    case ED_TYPE_Q2_K: return 10;
    case ED_TYPE_Q3_K: return 11; /* Q3_K_S: all matrices q3_K */
    case ED_TYPE_Q4_K: return 14; /* Q4_K_S */
    case ED_TYPE_Q5_K: return 16; /* Q5_K_S */
    case ED_TYPE_Q6_K: return 18;
    case ED_TYPE_BF16: return 32;
    default: return 0;
    }
}

/* A per-token array of the vocabulary (tokens, scores or token_type) copied
 * with n_pad entries appended: "<unused_pad_K>" tokens of type 5 (llama.cpp's
 * UNUSED) and score 0, which no text ever tokenizes to. */
static void copy_padded(ed_gguf_writer_t *w, ed_str_t key, const void *raw, uint64_t raw_bytes, uint64_t n,
                        uint64_t n_pad)
{
    uint32_t elem;
    memcpy(&elem, raw, 4);
    ed_gguf_buf_t b = {0};
    ed_gguf_buf_u32(&b, elem);
    ed_gguf_buf_u64(&b, n + n_pad);
    ed_gguf_buf_bytes(&b, (const uint8_t *)raw + 12, raw_bytes - 12);
    for (uint64_t i = 0; i < n_pad; i++) {
        char token[48];
        snprintf(token, sizeof token, "<unused_pad_%" PRIu64 ">", i);
        if (elem == ED_GGUF_STRING)
            ed_gguf_buf_str(&b, token);
        else if (elem == ED_GGUF_FLOAT32)
            ed_gguf_buf_f32(&b, 0.0f);
        else
            ed_gguf_buf_u32(&b, 5);
    }
    ed_gguf_writer_raw(w, key, ED_GGUF_ARRAY, b.data, b.len);
    ed_gguf_buf_free(&b);
}

/* Copies every tokenizer.* key of `vocab` and returns the vocabulary size:
 * the file's, or pad_to when larger (the per-token arrays padded). */
static int copy_vocab(ed_gguf_writer_t *w, const ed_gguf_t *vocab, uint64_t pad_to, uint64_t *n_vocab,
                      char err[ED_ERR_LEN])
{
    ed_gguf_arr_t tokens;
    if (ed_gguf_get_arr(vocab, "tokenizer.ggml.tokens", &tokens) != 0 || tokens.type != ED_GGUF_STRING) {
        snprintf(err, ED_ERR_LEN, "the vocabulary file has no tokenizer.ggml.tokens string array");
        return ED_EFORMAT;
    }
    *n_vocab = pad_to > tokens.n ? pad_to : tokens.n;
    for (uint64_t i = 0; i < ed_gguf_n_kv(vocab); i++) {
        ed_str_t key;
        ed_gguf_vtype_t type;
        const void *raw;
        uint64_t raw_bytes;
        ed_gguf_kv_at(vocab, i, &key, &type, &raw, &raw_bytes);
        bool per_token = ed_str_eq(key, "tokenizer.ggml.tokens") || ed_str_eq(key, "tokenizer.ggml.scores") ||
                         ed_str_eq(key, "tokenizer.ggml.token_type");
        if (per_token && *n_vocab > tokens.n)
            copy_padded(w, key, raw, raw_bytes, tokens.n, *n_vocab - tokens.n);
        else if (key.len > 10 && memcmp(key.ptr, "tokenizer.", 10) == 0)
            ed_gguf_writer_raw(w, key, type, raw, raw_bytes);
    }
    return 0;
}

/* The keys llama.cpp's converter writes for a bert model. */
static void write_bert_hparams(ed_gguf_writer_t *w, const options_t *o)
{
    char name[96];
    snprintf(name, sizeof name, "mkmodel bert %s seed %" PRIu64, o->type_name, o->seed);
    ed_gguf_writer_str(w, "general.architecture", "bert");
    ed_gguf_writer_str(w, "general.name", name);
    ed_gguf_writer_u32(w, "general.file_type", file_type(o));
    ed_gguf_writer_u32(w, "general.quantization_version", 2);
    ed_gguf_writer_u32(w, "bert.context_length", o->n_ctx);
    ed_gguf_writer_u32(w, "bert.embedding_length", o->n_embd);
    ed_gguf_writer_u32(w, "bert.feed_forward_length", o->n_ff);
    ed_gguf_writer_u32(w, "bert.block_count", o->n_layer);
    ed_gguf_writer_u32(w, "bert.attention.head_count", o->n_head);
    ed_gguf_writer_f32(w, "bert.attention.layer_norm_epsilon", o->rms_eps ? o->rms_eps : 1e-12f);
    ed_gguf_writer_bool(w, "bert.attention.causal", false);
    ed_gguf_writer_u32(w, "bert.pooling_type", o->pooling);
}

static void write_hparams(ed_gguf_writer_t *w, const options_t *o, uint64_t n_vocab)
{
    if (strcmp(o->arch, "bert") == 0) {
        write_bert_hparams(w, o);
        return;
    }
    char key[96], name[96];
    bool qwen = is_arch(o, "qwen2") || is_arch(o, "qwen3"), eps6 = qwen || is_arch(o, "smollm3") || is_gemma(o);
#define ARCH_KEY(suffix) (snprintf(key, sizeof key, "%s.%s", o->arch, suffix), key)
    snprintf(name, sizeof name, "mkmodel %s %s seed %" PRIu64, o->arch, o->type_name, o->seed);
    ed_gguf_writer_str(w, "general.architecture", o->arch);
    ed_gguf_writer_str(w, "general.name", name);
    ed_gguf_writer_u32(w, "general.file_type", file_type(o));
    ed_gguf_writer_u32(w, "general.quantization_version", 2);
    ed_gguf_writer_u32(w, ARCH_KEY("vocab_size"), (uint32_t)n_vocab);
    ed_gguf_writer_u32(w, ARCH_KEY("context_length"), o->n_ctx);
    ed_gguf_writer_u32(w, ARCH_KEY("embedding_length"), o->n_embd);
    ed_gguf_writer_u32(w, ARCH_KEY("block_count"), o->n_layer);
    ed_gguf_writer_u32(w, ARCH_KEY("feed_forward_length"), o->n_ff);
    ed_gguf_writer_u32(w, ARCH_KEY("rope.dimension_count"), n_rot_of(o));
    if (o->head_dim || is_arch(o, "qwen3") || is_gemma(o)) {
        ed_gguf_writer_u32(w, ARCH_KEY("attention.key_length"), head_dim_of(o));
        ed_gguf_writer_u32(w, ARCH_KEY("attention.value_length"), head_dim_of(o));
    }
    ed_gguf_writer_u32(w, ARCH_KEY("attention.head_count"), o->n_head);
    ed_gguf_writer_u32(w, ARCH_KEY("attention.head_count_kv"), o->n_head_kv);
    ed_gguf_writer_f32(w, ARCH_KEY("rope.freq_base"), o->rope_base         ? o->rope_base
                       : qwen || is_arch(o, "gemma3") ? 1000000.0f
                                                        : 10000.0f);
    ed_gguf_writer_f32(w, ARCH_KEY("attention.layer_norm_rms_epsilon"),
                       o->rms_eps ? o->rms_eps : eps6 ? 1e-6f : 1e-5f);
    if (o->longrope_orig) {
        /* convert_hf_to_gguf's Phi3MiniModel: the original context and, for
         * longrope, attn_factor sqrt(1 + ln(scale) / ln(original)) */
        double scale = (double)o->n_ctx / o->longrope_orig;
        ed_gguf_writer_u32(w, ARCH_KEY("rope.scaling.original_context_length"), o->longrope_orig);
        ed_gguf_writer_f32(w, ARCH_KEY("rope.scaling.attn_factor"),
                           scale > 1 ? (float)sqrt(1 + log(scale) / log((double)o->longrope_orig)) : 1.0f);
    }
    if (is_gemma(o))
        ed_gguf_writer_u32(w, ARCH_KEY("attention.sliding_window"), o->sliding_window ? o->sliding_window : 4);
    if (o->attn_softcap)
        ed_gguf_writer_f32(w, ARCH_KEY("attn_logit_softcapping"), o->attn_softcap);
    if (o->final_softcap)
        ed_gguf_writer_f32(w, ARCH_KEY("final_logit_softcapping"), o->final_softcap);
    if (o->rope_scale_linear) {
        ed_gguf_writer_str(w, ARCH_KEY("rope.scaling.type"), "linear");
        ed_gguf_writer_f32(w, ARCH_KEY("rope.scaling.factor"), o->rope_scale_linear);
    }
#undef ARCH_KEY
}

/* ----------------------------------------------------------------- main ---- */

static void usage(FILE *out)
{
    fprintf(out,
            "usage: mkmodel --arch llama|qwen2|qwen3|phi3|smollm3|gemma2|gemma3|bert --out FILE --vocab VOCAB.gguf\n"
            "               [options]\n"
            "  --preset tinyllama-1.1b   22 layers, 2048 wide, 32/4 heads, FFN 5632, ctx 2048\n"
            "  --preset qwen3-0.6b       28 layers, 1024 wide, 16/8 heads of 128, FFN 3072, ctx 2048,\n"
            "                            tied, vocabulary padded to 151936\n"
            "  --preset gemma3-1b        26 layers, 1152 wide, 4/1 heads of 256, FFN 6912, window 512,\n"
            "                            ctx 2048, tied, vocabulary padded to 262144\n"
            "  --n-embd N (64)  --n-layer N (2)  --n-head N (4)  --n-head-kv N (2)\n"
            "  --n-ff N (128)  --ctx N (256)  --seed N (1)\n"
            "  --type f32|f16|bf16|q8_0|q4_0|q4_1|q5_0|q5_1|q2_k|q3_k|q4_k|q5_k|q6_k|q4_k_m (q8_0)\n"
            "  --tied            no output.weight (the head reuses token_embd)\n"
            "  --rope-base F     (llama 10000, qwen2 1000000)  --rms-eps F (llama 1e-5, qwen2 1e-6)\n"
            "  --rope-freqs      add rope_freqs.weight (Llama-3-style factors)\n"
            "  --rope-scale-linear F  rope.scaling.type linear with rope.scaling.factor F\n"
            "  --head-dim N      attention.key_length/value_length N (qwen3 writes them always)\n"
            "  --n-rot N         rope.dimension_count N < head_dim (partial rotary, as Phi-4-mini)\n"
            "  --longrope N      phi3: rope_factors_long/short, original context N, attn_factor\n"
            "qwen3: attn_q_norm/attn_k_norm per layer; phi3: fused attn_qkv and gate/up ffn_up;\n"
            "smollm3: llama tensors (llama.cpp skips RoPE on every 4th layer)\n"
            "gemma2/gemma3: post_attention_norm/post_ffw_norm, key_length always; gemma3 q/k norms\n"
            "  --sliding-window N  gemma: attention.sliding_window (4)\n"
            "  --n-vocab N       pad the vocabulary with unused tokens to N (a real model's head size)\n"
            "  --attn-softcap F  --final-softcap F  gemma2's (attn|final)_logit_softcapping (absent:\n"
            "                    llama.cpp's defaults 50 and 30)\n"
            "  --pooling mean|cls  bert: bert.pooling_type (mean); --rms-eps sets its LayerNorm eps (1e-12)\n"
            "  --exact           quantize every element of a large model too (slow; by default\n"
            "                    models over 64M elements pick blocks from quantized pools)\n"
            "q4_k_m: q4_K matrices; q6_K for output.weight (token_embd when tied) and for\n"
            "attn_v/ffn_down of the layers llama.cpp gives more bits. Rows that no 256-block\n"
            "fits fall back as llama.cpp does (q4_K -> q5_0, q6_K -> q8_0).\n");
}

static int parse_u32(const char *s, uint32_t *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || *end || end == s || v == 0 || v > UINT32_MAX)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

static int parse_positive_float(const char *s, float *out)
{
    char *end;
    float v = strtof(s, &end);
    if (*end || end == s || !(v > 0) || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

static int parse_options(int argc, char **argv, options_t *o)
{
    *o = (options_t){.n_embd = 64, .n_layer = 2, .n_head = 4, .n_head_kv = 2, .n_ff = 128, .n_ctx = 256,
                     .type_name = "q8_0", .seed = 1, .pooling = 1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int bad = 0;
        if (strcmp(a, "--help") == 0) {
            usage(stdout);
            exit(0);
        } else if (strcmp(a, "--tied") == 0) {
            o->tied = true;
            continue;
        } else if (strcmp(a, "--rope-freqs") == 0) {
            o->rope_freqs = true;
            continue;
        } else if (strcmp(a, "--exact") == 0) {
            o->exact = true;
            continue;
        } else if (!v) {
            fprintf(stderr, "mkmodel: %s needs a value\n", a);
            return -1;
        } else if (strcmp(a, "--arch") == 0) {
            o->arch = v;
        } else if (strcmp(a, "--out") == 0) {
            o->out = v;
        } else if (strcmp(a, "--vocab") == 0) {
            o->vocab = v;
        } else if (strcmp(a, "--preset") == 0) {
            if (strcmp(v, "tinyllama-1.1b") == 0) {
                o->n_embd = 2048, o->n_layer = 22, o->n_head = 32, o->n_head_kv = 4, o->n_ff = 5632, o->n_ctx = 2048;
            } else if (strcmp(v, "qwen3-0.6b") == 0) {
                o->n_embd = 1024, o->n_layer = 28, o->n_head = 16, o->n_head_kv = 8, o->head_dim = 128;
                o->n_ff = 3072, o->n_ctx = 2048, o->n_vocab = 151936, o->tied = true;
            } else if (strcmp(v, "gemma3-1b") == 0) {
                o->n_embd = 1152, o->n_layer = 26, o->n_head = 4, o->n_head_kv = 1, o->head_dim = 256;
                o->n_ff = 6912, o->n_ctx = 2048, o->sliding_window = 512, o->n_vocab = 262144, o->tied = true;
            } else {
                bad = 1;
            }
        } else if (strcmp(a, "--n-embd") == 0) {
            bad = parse_u32(v, &o->n_embd);
        } else if (strcmp(a, "--n-layer") == 0) {
            bad = parse_u32(v, &o->n_layer);
        } else if (strcmp(a, "--n-head") == 0) {
            bad = parse_u32(v, &o->n_head);
        } else if (strcmp(a, "--n-head-kv") == 0) {
            bad = parse_u32(v, &o->n_head_kv);
        } else if (strcmp(a, "--n-ff") == 0) {
            bad = parse_u32(v, &o->n_ff);
        } else if (strcmp(a, "--ctx") == 0) {
            bad = parse_u32(v, &o->n_ctx);
        } else if (strcmp(a, "--type") == 0) {
            o->type_name = v;
        } else if (strcmp(a, "--pooling") == 0) {
            bad = strcmp(v, "mean") != 0 && strcmp(v, "cls") != 0;
            o->pooling = strcmp(v, "cls") == 0 ? 2 : 1;
        } else if (strcmp(a, "--seed") == 0) {
            char *end;
            o->seed = strtoull(v, &end, 10);
            bad = *end || end == v;
        } else if (strcmp(a, "--rope-base") == 0) {
            bad = parse_positive_float(v, &o->rope_base);
        } else if (strcmp(a, "--rms-eps") == 0) {
            bad = parse_positive_float(v, &o->rms_eps);
        } else if (strcmp(a, "--head-dim") == 0) {
            bad = parse_u32(v, &o->head_dim);
        } else if (strcmp(a, "--n-rot") == 0) {
            bad = parse_u32(v, &o->n_rot);
        } else if (strcmp(a, "--n-vocab") == 0) {
            bad = parse_u32(v, &o->n_vocab);
        } else if (strcmp(a, "--sliding-window") == 0) {
            bad = parse_u32(v, &o->sliding_window);
        } else if (strcmp(a, "--attn-softcap") == 0) {
            bad = parse_positive_float(v, &o->attn_softcap);
        } else if (strcmp(a, "--final-softcap") == 0) {
            bad = parse_positive_float(v, &o->final_softcap);
        } else if (strcmp(a, "--longrope") == 0) {
            bad = parse_u32(v, &o->longrope_orig);
        } else if (strcmp(a, "--rope-scale-linear") == 0) {
            bad = parse_positive_float(v, &o->rope_scale_linear);
        } else {
            fprintf(stderr, "mkmodel: unknown option %s (see --help)\n", a);
            return -1;
        }
        if (bad) {
            fprintf(stderr, "mkmodel: bad value for %s: %s\n", a, v);
            return -1;
        }
        i++;
    }
    if (!o->arch || !o->out || !o->vocab) {
        fprintf(stderr, "mkmodel: --arch, --out and --vocab are required (see --help)\n");
        return -1;
    }
    if (!is_arch(o, "llama") && !is_arch(o, "qwen2") && !is_arch(o, "qwen3") && !is_arch(o, "phi3") &&
        !is_arch(o, "smollm3") && !is_gemma(o) && !is_arch(o, "bert")) {
        fprintf(stderr, "mkmodel: --arch %s: expected llama, qwen2, qwen3, phi3, smollm3, gemma2, gemma3 or bert\n",
                o->arch);
        return -1;
    }
    if (o->longrope_orig && !is_arch(o, "phi3")) {
        fprintf(stderr, "mkmodel: --longrope is for --arch phi3\n");
        return -1;
    }
    o->k_mix = strcasecmp(o->type_name, "q4_k_m") == 0;
    int type = o->k_mix ? ED_TYPE_Q4_K : ed_type_from_name(o->type_name);
    const ed_quant_traits_t *traits = type >= 0 ? ed_quant_traits(type) : NULL;
    if (!traits || !traits->from_float || type == ED_TYPE_Q8_K || type == ED_TYPE_Q8_1) {
        fprintf(stderr, "mkmodel: --type %s: not a weight type edged can quantize to\n", o->type_name);
        return -1;
    }
    o->type = (ed_type_t)type;
    uint32_t head_dim = head_dim_of(o);
    if ((!o->head_dim && o->n_embd % o->n_head) || o->n_head % o->n_head_kv || head_dim % 2 ||
        n_rot_of(o) % 2 || n_rot_of(o) > head_dim) {
        fprintf(stderr, "mkmodel: n_embd %" PRIu32 " / n_head %" PRIu32 " / n_head_kv %" PRIu32
                ": need n_embd = n_head * an even head_dim (or --head-dim), n_head a multiple of n_head_kv "
                "and an even --n-rot <= head_dim\n",
                o->n_embd, o->n_head, o->n_head_kv);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    options_t o;
    if (parse_options(argc, argv, &o) != 0)
        return 2;
    char err[ED_ERR_LEN], tmp_path[4096];
    ed_gguf_t *vocab = NULL;
    ed_gguf_writer_t w;
    ed_gguf_buf_t header = {0};
    tensor_plan_t *tensors = NULL;
    scratch_t sc = {.seed = o.seed};
    FILE *f = NULL;
    uint64_t n_vocab = 0;
    int rc;
    ed_gguf_writer_init(&w);
    snprintf(tmp_path, sizeof tmp_path, "%s.tmp", o.out);

    if ((rc = ed_gguf_open(&vocab, o.vocab, err)) || (rc = copy_vocab(&w, vocab, o.n_vocab, &n_vocab, err))) {
        fprintf(stderr, "mkmodel: %s: %s\n", o.vocab, err);
        goto done;
    }
    ed_gguf_writer_t meta;
    ed_gguf_writer_init(&meta);
    write_hparams(&meta, &o, n_vocab);
    /* The model's own keys first, then the copied vocabulary. */
    ed_gguf_buf_bytes(&meta.kvs, w.kvs.data, w.kvs.len);
    meta.n_kv += w.n_kv;
    ed_gguf_writer_free(&w);
    w = meta;

    tensors = calloc(6 + 16 * (size_t)o.n_layer, sizeof *tensors); /* bert has the most */
    size_t n_tensors = tensors ? plan_model(&o, n_vocab, tensors) : 0;
    int64_t max_ne0 = 0;
    uint64_t n_elements = 0;
    for (size_t i = 0; i < n_tensors; i++) {
        ed_gguf_writer_tensor(&w, tensors[i].name, tensors[i].type, tensors[i].n_dims, tensors[i].ne);
        max_ne0 = tensors[i].ne[0] > max_ne0 ? tensors[i].ne[0] : max_ne0;
        n_elements += (uint64_t)(tensors[i].ne[0] * tensors[i].ne[1]);
    }
    sc.use_pools = !o.exact && n_elements > MKMODEL_POOL_MIN_ELEMENTS;
    sc.rows_f32 = malloc((size_t)max_ne0 * MKMODEL_QUANT_ROWS * sizeof(float));
    sc.rows_q = malloc((size_t)max_ne0 * MKMODEL_QUANT_ROWS * sizeof(float)); /* f32 is the widest type */
    if (!tensors || !sc.rows_f32 || !sc.rows_q || ed_gguf_writer_header(&w, &header) != 0) {
        fprintf(stderr, "mkmodel: out of memory\n");
        rc = ED_ENOMEM;
        goto done;
    }
    if (!(f = fopen(tmp_path, "wb"))) {
        fprintf(stderr, "mkmodel: %s: %s\n", tmp_path, strerror(errno));
        rc = ED_EIO;
        goto done;
    }
    rc = fwrite(header.data, 1, header.len, f) == header.len ? 0 : ED_EIO;
    for (size_t i = 0; i < n_tensors && !rc; i++)
        rc = write_tensor(&w, f, &sc, &tensors[i], i);
    if (fclose(f) != 0 && !rc)
        rc = ED_EIO;
    f = NULL;
    if (!rc && rename(tmp_path, o.out) != 0)
        rc = ED_EIO;
    if (rc) {
        fprintf(stderr, "mkmodel: writing %s: %s\n", o.out, strerror(errno));
        remove(tmp_path);
        goto done;
    }
    fprintf(stderr, "mkmodel: wrote %s: %s, %zu tensors, %" PRIu64 " bytes, vocabulary %" PRIu64 "\n",
            o.out, o.arch, n_tensors, (uint64_t)header.len + w.data_size, n_vocab);
done:
    if (f)
        fclose(f);
    free(sc.rows_f32);
    free(sc.rows_q);
    for (int i = 0; i < sc.n_pools; i++)
        free(sc.pools[i].blocks);
    free(tensors);
    ed_gguf_buf_free(&header);
    ed_gguf_writer_free(&w);
    ed_gguf_close(vocab);
    return rc ? 1 : 0;
}
