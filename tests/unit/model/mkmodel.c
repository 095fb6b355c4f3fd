/* tests/unit/model/mkmodel.c - the fixture tool tests/tools/mkmodel: runs the
 * built program ($BUILD/tests/tools/mkmodel, BUILD defaults to build) and
 * reads what it wrote back with the GGUF reader: keys, the copied vocabulary,
 * tensor names, shapes and types (with the q4_k_m mix and its fallbacks),
 * weight statistics after dequantization, determinism, bad arguments. */
#include "kernels/quant.h"
#include "model/gguf.h"
#include "tests/test.h"

#include <stdbool.h>
#include <stdint.h>

#define SPM_VOCAB "../shared/testdata/vocab/ggml-vocab-llama-spm.gguf"
#define GPT2_VOCAB "../shared/testdata/vocab/ggml-vocab-gpt-2.gguf"

/* Runs mkmodel with `args`, writing to `out`; returns its exit status. */
static int mkmodel(const char *out, const char *args)
{
    const char *build = getenv("BUILD") ? getenv("BUILD") : "build";
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s/tests/tools/mkmodel --out %s %s 2>/dev/null", build, out, args);
    int status = system(cmd);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void temp_path(char *path, size_t cap, const char *name)
{
    snprintf(path, cap, "/tmp/ed-mkmodel-%d-%s.gguf", (int)getpid(), name);
}

static ed_gguf_t *open_or_report(const char *path)
{
    ed_gguf_t *g = NULL;
    char err[ED_ERR_LEN];
    if (ed_gguf_open(&g, path, err) != 0)
        printf("#   %s: %s\n", path, err);
    return g;
}

static uint32_t get_u32(const ed_gguf_t *g, const char *key)
{
    uint32_t v = 0;
    if (ed_gguf_get_u32(g, key, &v) != 0)
        printf("#   missing %s\n", key);
    return v;
}

/* Checks tensor `name` exists with type and shape [ne0, ne1] (ne1 0: 1-D). */
static const ed_gguf_tensor_t *check_tensor(const ed_gguf_t *g, const char *name, ed_type_t type, int64_t ne0,
                                            int64_t ne1)
{
    const ed_gguf_tensor_t *t = ed_gguf_find_tensor(g, name);
    if (!t) {
        ED__FAIL("tensor %s missing", name);
        return NULL;
    }
    uint32_t n_dims = ne1 ? 2 : 1;
    if (t->type != type || t->n_dims != n_dims || t->ne[0] != ne0 || t->ne[1] != (ne1 ? ne1 : 1))
        ED__FAIL("tensor %s: %s [%lld, %lld] (%u dims), expected %s [%lld, %lld]", name,
                 ed_type_info(t->type)->name, (long long)t->ne[0], (long long)t->ne[1], t->n_dims,
                 ed_type_info(type)->name, (long long)ne0, (long long)ne1);
    return t;
}

/* Mean and standard deviation of a tensor's dequantized values. */
static void tensor_stats(const ed_gguf_tensor_t *t, double *mean, double *std)
{
    int64_t n = t->ne[0] * t->ne[1];
    float *x = malloc((size_t)n * sizeof *x);
    ed_quant_traits(t->type)->to_float(t->data, x, n);
    double sum = 0, sum2 = 0;
    for (int64_t i = 0; i < n; i++) {
        sum += x[i];
        sum2 += (double)x[i] * x[i];
    }
    *mean = sum / (double)n;
    *std = sqrt(sum2 / (double)n - *mean * *mean);
    free(x);
}

static bool same_file(const char *a, const char *b)
{
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    bool same = fa && fb;
    while (same) {
        int ca = fgetc(fa), cb = fgetc(fb);
        same = ca == cb;
        if (ca == EOF)
            break;
    }
    if (fa)
        fclose(fa);
    if (fb)
        fclose(fb);
    return same;
}

ED_TEST(llama_q8_0_fixture)
{
    char path[256];
    temp_path(path, sizeof path, "llama");
    ED_REQUIRE(mkmodel(path, "--arch llama --vocab " SPM_VOCAB " --type q8_0 --seed 7") == 0);
    ed_gguf_t *g = open_or_report(path), *vocab = open_or_report(SPM_VOCAB);
    ED_REQUIRE(g && vocab);
    ed_str_t s;
    float f;
    ED_CHECK(ed_gguf_get_str(g, "general.architecture", &s) == 0 && ed_str_eq(s, "llama"));
    ED_CHECK_INT(get_u32(g, "general.file_type"), 7);
    ED_CHECK_INT(get_u32(g, "llama.context_length"), 256);
    ED_CHECK_INT(get_u32(g, "llama.embedding_length"), 64);
    ED_CHECK_INT(get_u32(g, "llama.block_count"), 2);
    ED_CHECK_INT(get_u32(g, "llama.feed_forward_length"), 128);
    ED_CHECK_INT(get_u32(g, "llama.attention.head_count"), 4);
    ED_CHECK_INT(get_u32(g, "llama.attention.head_count_kv"), 2);
    ED_CHECK_INT(get_u32(g, "llama.rope.dimension_count"), 16);
    ED_CHECK(ed_gguf_get_f32(g, "llama.rope.freq_base", &f) == 0 && f == 10000.0f);
    ED_CHECK(ed_gguf_get_f32(g, "llama.attention.layer_norm_rms_epsilon", &f) == 0 && f == 1e-5f);

    /* Every tokenizer.* key of the vocabulary, byte for byte. */
    uint64_t copied = 0;
    for (uint64_t i = 0; i < ed_gguf_n_kv(vocab); i++) {
        ed_str_t key, key2;
        ed_gguf_vtype_t type, type2;
        const void *raw, *raw2;
        uint64_t bytes, bytes2;
        ed_gguf_kv_at(vocab, i, &key, &type, &raw, &bytes);
        if (key.len < 10 || memcmp(key.ptr, "tokenizer.", 10) != 0)
            continue;
        copied++;
        bool found = false;
        for (uint64_t j = 0; j < ed_gguf_n_kv(g) && !found; j++) {
            ed_gguf_kv_at(g, j, &key2, &type2, &raw2, &bytes2);
            found = key2.len == key.len && memcmp(key.ptr, key2.ptr, key.len) == 0 && type == type2 &&
                    bytes == bytes2 && memcmp(raw, raw2, bytes) == 0;
        }
        if (!found)
            ED__FAIL("tokenizer key %.*s not copied verbatim", (int)key.len, key.ptr);
    }
    ED_CHECK(copied >= 5);
    ed_gguf_arr_t tokens;
    ED_REQUIRE(ed_gguf_get_arr(g, "tokenizer.ggml.tokens", &tokens) == 0);
    ED_CHECK_INT(tokens.n, 32000);
    ED_CHECK(ed_gguf_arr_str(&tokens, 1, &s) == 0 && ed_str_eq(s, "<s>"));

    ED_CHECK_INT(ed_gguf_n_tensors(g), 1 + 2 * 9 + 2);
    check_tensor(g, "token_embd.weight", ED_TYPE_Q8_0, 64, 32000);
    check_tensor(g, "output.weight", ED_TYPE_Q8_0, 64, 32000);
    check_tensor(g, "output_norm.weight", ED_TYPE_F32, 64, 0);
    char name[64];
    for (int l = 0; l < 2; l++) {
#define BLK(suffix) (snprintf(name, sizeof name, "blk.%d.%s", l, suffix), name)
        check_tensor(g, BLK("attn_norm.weight"), ED_TYPE_F32, 64, 0);
        check_tensor(g, BLK("attn_q.weight"), ED_TYPE_Q8_0, 64, 64);
        check_tensor(g, BLK("attn_k.weight"), ED_TYPE_Q8_0, 64, 32);
        check_tensor(g, BLK("attn_v.weight"), ED_TYPE_Q8_0, 64, 32);
        check_tensor(g, BLK("attn_output.weight"), ED_TYPE_Q8_0, 64, 64);
        check_tensor(g, BLK("ffn_norm.weight"), ED_TYPE_F32, 64, 0);
        check_tensor(g, BLK("ffn_gate.weight"), ED_TYPE_Q8_0, 64, 128);
        check_tensor(g, BLK("ffn_up.weight"), ED_TYPE_Q8_0, 64, 128);
        check_tensor(g, BLK("ffn_down.weight"), ED_TYPE_Q8_0, 128, 64);
        ED_CHECK(ed_gguf_find_tensor(g, BLK("attn_q.bias")) == NULL);
#undef BLK
    }
    ED_CHECK(ed_gguf_find_tensor(g, "rope_freqs.weight") == NULL);

    /* Weights: std 1/sqrt(fan_in), residual writers scaled by 1/sqrt(2 n_layer); norms near 1. */
    double mean, std;
    tensor_stats(ed_gguf_find_tensor(g, "token_embd.weight"), &mean, &std);
    ED_CHECK_NEAR(mean, 0, 0.002);
    ED_CHECK_NEAR(std, 0.125, 0.125 * 0.03);
    tensor_stats(ed_gguf_find_tensor(g, "blk.1.ffn_down.weight"), &mean, &std);
    ED_CHECK_NEAR(std, 1 / sqrt(128.0) / 2, 0.044 * 0.1);
    tensor_stats(ed_gguf_find_tensor(g, "blk.0.attn_norm.weight"), &mean, &std);
    ED_CHECK_NEAR(mean, 1.0, 0.05);
    ED_CHECK(std > 0.05 && std < 0.15);
    ed_gguf_close(g);
    ed_gguf_close(vocab);
    unlink(path);
}

ED_TEST(qwen2_q4_k_m_tied_with_rope_freqs)
{
    char path[256];
    temp_path(path, sizeof path, "qwen2");
    ED_REQUIRE(mkmodel(path, "--arch qwen2 --vocab " GPT2_VOCAB " --type q4_k_m --tied --rope-freqs"
                             " --n-embd 256 --n-ff 512 --n-layer 4 --n-head 8 --n-head-kv 2") == 0);
    ed_gguf_t *g = open_or_report(path);
    ED_REQUIRE(g);
    ed_str_t s;
    float f;
    ED_CHECK(ed_gguf_get_str(g, "general.architecture", &s) == 0 && ed_str_eq(s, "qwen2"));
    ED_CHECK(ed_gguf_get_str(g, "tokenizer.ggml.model", &s) == 0 && ed_str_eq(s, "gpt2"));
    ED_CHECK_INT(get_u32(g, "general.file_type"), 15);
    ED_CHECK_INT(get_u32(g, "qwen2.attention.head_count"), 8);
    ED_CHECK(ed_gguf_get_f32(g, "qwen2.rope.freq_base", &f) == 0 && f == 1e6f);
    ED_CHECK(ed_gguf_get_f32(g, "qwen2.attention.layer_norm_rms_epsilon", &f) == 0 && f == 1e-6f);
    ED_CHECK_INT(ed_gguf_n_tensors(g), 1 + 1 + 4 * 12 + 1);
    /* Tied: no output.weight, and token_embd takes the head's q6_K. */
    ED_CHECK(ed_gguf_find_tensor(g, "output.weight") == NULL);
    check_tensor(g, "token_embd.weight", ED_TYPE_Q6_K, 256, 50257);
    const ed_gguf_tensor_t *rf = check_tensor(g, "rope_freqs.weight", ED_TYPE_F32, 16, 0);
    if (rf) {
        const float *factor = rf->data;
        ED_CHECK(factor[0] == 1.0f && factor[15] == 8.0f && factor[8] > 1.0f && factor[8] < 8.0f);
    }
    char name[64];
    for (int l = 0; l < 4; l++) {
        /* llama.cpp's use_more_bits() for 4 layers: layers 2 and 3. */
        ed_type_t more = l >= 2 ? ED_TYPE_Q6_K : ED_TYPE_Q4_K;
#define BLK(suffix) (snprintf(name, sizeof name, "blk.%d.%s", l, suffix), name)
        check_tensor(g, BLK("attn_q.weight"), ED_TYPE_Q4_K, 256, 256);
        check_tensor(g, BLK("attn_q.bias"), ED_TYPE_F32, 256, 0);
        check_tensor(g, BLK("attn_k.weight"), ED_TYPE_Q4_K, 256, 64);
        check_tensor(g, BLK("attn_k.bias"), ED_TYPE_F32, 64, 0);
        check_tensor(g, BLK("attn_v.weight"), more, 256, 64);
        check_tensor(g, BLK("attn_v.bias"), ED_TYPE_F32, 64, 0);
        check_tensor(g, BLK("ffn_gate.weight"), ED_TYPE_Q4_K, 256, 512);
        check_tensor(g, BLK("ffn_down.weight"), more, 512, 256);
#undef BLK
    }
    double mean, std;
    tensor_stats(ed_gguf_find_tensor(g, "blk.0.attn_q.weight"), &mean, &std);
    ED_CHECK_NEAR(std, 1 / 16.0, 0.0625 * 0.05);
    ed_gguf_close(g);
    unlink(path);
}

ED_TEST(k_quants_fall_back_on_narrow_rows)
{
    char path[256];
    temp_path(path, sizeof path, "fallback");
    /* n_embd 64 fits no 256-block: q4_K -> q5_0, the q6_K head -> q8_0. */
    ED_REQUIRE(mkmodel(path, "--arch llama --vocab " SPM_VOCAB " --type q4_k_m --n-layer 1") == 0);
    ed_gguf_t *g = open_or_report(path);
    ED_REQUIRE(g);
    check_tensor(g, "blk.0.attn_q.weight", ED_TYPE_Q5_0, 64, 64);
    check_tensor(g, "blk.0.ffn_down.weight", ED_TYPE_Q8_0, 128, 64);
    check_tensor(g, "output.weight", ED_TYPE_Q8_0, 64, 32000);
    ed_gguf_close(g);
    unlink(path);
}

ED_TEST(deterministic_by_seed)
{
    char a[256], b[256], c[256];
    temp_path(a, sizeof a, "seed-a");
    temp_path(b, sizeof b, "seed-b");
    temp_path(c, sizeof c, "seed-c");
    const char *args = "--arch llama --vocab " SPM_VOCAB " --type q4_0 --n-layer 1 --seed 42";
    ED_REQUIRE(mkmodel(a, args) == 0 && mkmodel(b, args) == 0);
    ED_REQUIRE(mkmodel(c, "--arch llama --vocab " SPM_VOCAB " --type q4_0 --n-layer 1 --seed 43") == 0);
    ED_CHECK(same_file(a, b));
    ED_CHECK(!same_file(a, c));
    unlink(a);
    unlink(b);
    unlink(c);
}

ED_TEST(large_model_from_block_pools)
{
    char path[256];
    temp_path(path, sizeof path, "pool");
    /* 2 x 1024 x 32000 embedding elements: over the 64M that switches to pools. */
    ED_REQUIRE(mkmodel(path, "--arch llama --vocab " SPM_VOCAB " --type q4_0 --n-embd 1024 --n-head 8"
                             " --n-head-kv 8 --n-ff 256 --n-layer 1") == 0);
    ed_gguf_t *g = open_or_report(path);
    ED_REQUIRE(g);
    const ed_gguf_tensor_t *t = check_tensor(g, "output.weight", ED_TYPE_Q4_0, 1024, 32000);
    ED_REQUIRE(t);
    double mean, std;
    tensor_stats(t, &mean, &std);
    ED_CHECK_NEAR(mean, 0, 0.001);
    ED_CHECK_NEAR(std, 1 / 32.0, 0.03125 * 0.05);
    /* Rows are random sequences of blocks, not copies of one another. */
    uint64_t row_bytes = t->size / 32000;
    ED_CHECK(memcmp(t->data, (const uint8_t *)t->data + row_bytes, row_bytes) != 0);
    ed_gguf_close(g);
    unlink(path);
}

ED_TEST(bad_arguments_fail)
{
    char path[256];
    temp_path(path, sizeof path, "bad");
    ED_CHECK_INT(mkmodel(path, "--arch gpt --vocab " SPM_VOCAB), 2);
    ED_CHECK_INT(mkmodel(path, "--arch llama --vocab " SPM_VOCAB " --type q9_9"), 2);
    ED_CHECK_INT(mkmodel(path, "--arch llama --vocab " SPM_VOCAB " --n-head 5"), 2);
    ED_CHECK_INT(mkmodel(path, "--arch llama --vocab " SPM_VOCAB " --n-layer 0"), 2);
    ED_CHECK_INT(mkmodel(path, "--arch llama --vocab /nonexistent.gguf"), 1);
    ED_CHECK(access(path, F_OK) != 0);
}

ED_TEST_MAIN(llama_q8_0_fixture, qwen2_q4_k_m_tied_with_rope_freqs, k_quants_fall_back_on_narrow_rows,
             deterministic_by_seed, large_model_from_block_pools, bad_arguments_fail)
