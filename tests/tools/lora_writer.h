/* lora_writer.h - writes LoRA adapter GGUF files the way llama.cpp's
 * convert_lora_to_gguf.py does (general.architecture, general.type =
 * "adapter", general.name, adapter.type = "lora", adapter.lora.alpha as f32;
 * tensors <base>.lora_a ne [n_in, rank] and .lora_b ne [rank, n_out],
 * token_embd's flipped; q8_0 falls back to f16 where a row fits no block),
 * with seeded random values, for tests/tools/mklora and the unit tests,
 * which also use it to hand-craft malformed adapters. Test code only. */
#ifndef ED_TESTS_TOOLS_LORA_WRITER_H
#define ED_TESTS_TOOLS_LORA_WRITER_H

#include "kernels/quant.h"
#include "tests/tools/gguf_writer.h"

#include <math.h>

typedef struct {
    ed_gguf_writer_t w;
    ed_gguf_buf_t data; /* tensor data in declaration order, each padded */
    uint64_t rng;       /* splitmix64 state */
} lora_file_t;

/* The converter's keys; alpha < 0 writes no adapter.lora.alpha. Callers may
 * add keys (ed_gguf_writer_*) before the first tensor. */
static inline void lora_file_init(lora_file_t *f, const char *arch, float alpha, uint64_t seed)
{
    memset(f, 0, sizeof *f);
    ed_gguf_writer_init(&f->w);
    f->rng = seed;
    ed_gguf_writer_str(&f->w, "general.architecture", arch);
    ed_gguf_writer_str(&f->w, "general.type", "adapter");
    ed_gguf_writer_str(&f->w, "general.name", "test LoRA");
    ed_gguf_writer_str(&f->w, "adapter.type", "lora");
    if (alpha >= 0)
        ed_gguf_writer_f32(&f->w, "adapter.lora.alpha", alpha);
}

/* An empty file (no keys) for tests that write every key themselves. */
static inline void lora_file_init_bare(lora_file_t *f, uint64_t seed)
{
    memset(f, 0, sizeof *f);
    ed_gguf_writer_init(&f->w);
    f->rng = seed;
}

static inline void lora_file_free(lora_file_t *f)
{
    ed_gguf_writer_free(&f->w);
    ed_gguf_buf_free(&f->data);
}

/* An approximately standard normal value (sum of 4 uniforms, unit variance). */
static inline float lora_file_normal(lora_file_t *f)
{
    float sum = 0;
    for (int i = 0; i < 4; i++) {
        uint64_t z = (f->rng += 0x9e3779b97f4a7c15u);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
        z ^= z >> 31;
        sum += (float)(z >> 40) / (float)(1 << 24);
    }
    return (sum - 2.0f) * 1.7320508f;
}

/* A tensor of ne0 x ne1 values (NULL: N(0, std^2) random ones) stored as
 * `type` (a block type falls back to f16 when ne0 is not a multiple of its
 * block, as the converter falls back). */
static inline void lora_file_tensor(lora_file_t *f, const char *name, ed_type_t type, int64_t ne0, int64_t ne1,
                                    const float *values, float std)
{
    if (ne0 % ed_type_info(type)->block_len != 0)
        type = ED_TYPE_F16;
    int64_t n = ne0 * ne1;
    float *v = malloc((size_t)n * sizeof *v);
    uint8_t *q = malloc((size_t)n * sizeof(float) + 64);
    if (!v || !q) {
        f->data.failed = true;
        free(v), free(q);
        return;
    }
    for (int64_t i = 0; i < n; i++)
        v[i] = values ? values[i] : std * lora_file_normal(f);
    int64_t ne[2] = {ne0, ne1};
    uint64_t size = ed_gguf_writer_tensor(&f->w, name, type, 2, ne);
    ed_quant_traits(type)->from_float(v, q, n);
    ed_gguf_writer_data(&f->w, &f->data, q, size);
    free(v);
    free(q);
}

/* A random pair for base tensor `base` (W: n_out rows of n_in), shaped as
 * the converter shapes it: token_embd (is_embd) has A and B flipped. */
static inline void lora_file_pair(lora_file_t *f, const char *base, int64_t n_in, int64_t n_out, int64_t rank,
                                  bool is_embd, ed_type_t type)
{
    char name[128];
    snprintf(name, sizeof name, "%s.lora_a", base);
    if (is_embd)
        lora_file_tensor(f, name, type, rank, n_out, NULL, 1.0f);
    else
        lora_file_tensor(f, name, type, n_in, rank, NULL, 1.0f / sqrtf((float)n_in));
    snprintf(name, sizeof name, "%s.lora_b", base);
    lora_file_tensor(f, name, type, rank, is_embd ? n_in : n_out, NULL, 0.5f / sqrtf((float)rank));
}

/* The whole file into *out (caller frees with ed_gguf_buf_free). 0 or ED_ENOMEM. */
static inline int lora_file_finish(const lora_file_t *f, ed_gguf_buf_t *out)
{
    *out = (ed_gguf_buf_t){0};
    int rc = ed_gguf_writer_header(&f->w, out);
    ed_gguf_buf_bytes(out, f->data.data, f->data.len);
    return rc || out->failed || f->data.failed ? ED_ENOMEM : 0;
}

static inline int lora_file_save(const lora_file_t *f, const char *path)
{
    ed_gguf_buf_t buf;
    int rc = lora_file_finish(f, &buf);
    FILE *out = rc == 0 ? fopen(path, "wb") : NULL;
    if (rc == 0 && (!out || fwrite(buf.data, 1, buf.len, out) != buf.len))
        rc = ED_EIO;
    if (out && fclose(out) != 0)
        rc = ED_EIO;
    ed_gguf_buf_free(&buf);
    return rc;
}

/* A tiny llama base (1 layer, n_embd 32, 2 heads of 16 over 1 KV head,
 * n_ff 64, 64 tokens, f32 zeros and unit norms) for the fuzz driver
 * tests/fuzz/model_lora.c, whose seeds mklora --tiny-base writes against
 * the same bytes. 0 or ED_ENOMEM. */
static inline int lora_tiny_base(ed_gguf_buf_t *out)
{
    static const struct {
        const char *name;
        int64_t ne0, ne1;
    } tensors[] = {
        {"token_embd.weight", 32, 64},   {"blk.0.attn_norm.weight", 32, 1}, {"blk.0.attn_q.weight", 32, 32},
        {"blk.0.attn_k.weight", 32, 16}, {"blk.0.attn_v.weight", 32, 16},   {"blk.0.attn_output.weight", 32, 32},
        {"blk.0.ffn_norm.weight", 32, 1}, {"blk.0.ffn_gate.weight", 32, 64}, {"blk.0.ffn_up.weight", 32, 64},
        {"blk.0.ffn_down.weight", 64, 32}, {"output_norm.weight", 32, 1},    {"output.weight", 32, 64},
    };
    enum { N = sizeof tensors / sizeof tensors[0] };
    ed_gguf_writer_t w;
    ed_gguf_writer_init(&w);
    ed_gguf_writer_str(&w, "general.architecture", "llama");
    ed_gguf_writer_u32(&w, "llama.context_length", 64);
    ed_gguf_writer_u32(&w, "llama.embedding_length", 32);
    ed_gguf_writer_u32(&w, "llama.block_count", 1);
    ed_gguf_writer_u32(&w, "llama.feed_forward_length", 64);
    ed_gguf_writer_u32(&w, "llama.attention.head_count", 2);
    ed_gguf_writer_u32(&w, "llama.attention.head_count_kv", 1);
    uint64_t sizes[N];
    for (int i = 0; i < N; i++) {
        int64_t ne[2] = {tensors[i].ne0, tensors[i].ne1};
        sizes[i] = ed_gguf_writer_tensor(&w, tensors[i].name, ED_TYPE_F32, tensors[i].ne1 > 1 ? 2 : 1, ne);
    }
    *out = (ed_gguf_buf_t){0};
    int rc = ed_gguf_writer_header(&w, out);
    static float values[64 * 32];
    for (int i = 0; i < N; i++) {
        bool norm = tensors[i].ne1 == 1;
        for (int64_t j = 0; j < tensors[i].ne0 * tensors[i].ne1; j++)
            values[j] = norm ? 1.0f : 0.0f;
        ed_gguf_writer_data(&w, out, values, sizes[i]);
    }
    ed_gguf_writer_free(&w);
    return rc || out->failed ? ED_ENOMEM : 0;
}

#endif
