/* forward.c - the forward pass (daemon/model/forward.c) against the
 * reference's logits for the tiny Llama of ../shared/testdata/models (all
 * positions of a 9-token prompt, three quantizations), batched prompt
 * processing against token-by-token decoding, 1 against 2 threads, and the
 * context-overflow error. */
#include "kernels/memory.h"
#include "kernels/repack.h"
#include "model/bert.h"
#include "tests/model/runner.h"
#include "tests/test.h"

#include <math.h>

#define MODELS "../shared/testdata/models/"

static const int32_t prompt[] = {1, 15043, 3186, 29892, 445, 338, 263, 1243, 29889};
enum { N_PROMPT = sizeof prompt / sizeof prompt[0] };

static float *read_f32(const char *path, size_t n)
{
    FILE *file = fopen(path, "rb");
    float *data = malloc(n * sizeof(float));
    size_t got = file && data ? fread(data, sizeof(float), n, file) : 0;
    if (file)
        fclose(file);
    if (got != n) {
        printf("# %s: could not read %zu floats\n", path, n);
        free(data);
        return NULL;
    }
    return data;
}

static int argmax(const float *x, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best])
            best = i;
    return best;
}

/* rms(a - b) / std(b) over n values. */
static double normalised_rms(const float *a, const float *b, size_t n)
{
    double mean = 0, diff = 0, var = 0;
    for (size_t i = 0; i < n; i++)
        mean += b[i];
    mean /= (double)n;
    for (size_t i = 0; i < n; i++) {
        diff += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        var += (b[i] - mean) * (b[i] - mean);
    }
    return sqrt(diff / (double)n) / sqrt(var / (double)n);
}

static void check_reference(const char *quant, int min_argmax_agree)
{
    char path[256], ref_path[256], err[ED_ERR_LEN] = "";
    snprintf(path, sizeof path, MODELS "tiny-llama-%s.gguf", quant);
    snprintf(ref_path, sizeof ref_path, MODELS "tiny-llama-%s.logits.f32", quant);
    runner_t r;
    ED_REQUIRE(runner_open(&r, path, 2, 64, 0) == 0);
    int n_vocab = r.model.n_vocab;
    ED_CHECK_INT(n_vocab, 32000);
    size_t n = (size_t)N_PROMPT * (size_t)n_vocab;
    float *ref = read_f32(ref_path, n), *ours = malloc(n * sizeof(float));
    if (ref && ours && n_vocab == 32000) {
        int rc = ed_forward_eval(&r.fw, prompt, N_PROMPT, ours, err);
        if (rc != 0)
            printf("# eval: %s\n", err);
        ED_CHECK_INT(rc, 0);
        double nrms = normalised_rms(ours, ref, n);
        int agree = 0;
        for (int t = 0; t < N_PROMPT; t++)
            agree += argmax(ours + (size_t)t * n_vocab, n_vocab) == argmax(ref + (size_t)t * n_vocab, n_vocab);
        printf("# %-7s rms(ours - ref)/std(ref) = %.5f, argmax agrees on %d/%d rows\n", quant, nrms, agree,
               N_PROMPT);
        ED_CHECK(nrms < 0.05);
        ED_CHECK(agree >= min_argmax_agree);
        /* the last row also lands in fw.logits */
        ED_CHECK(memcmp(r.fw.logits, ours + (size_t)(N_PROMPT - 1) * n_vocab, (size_t)n_vocab * 4) == 0);
    } else {
        ED_CHECK(ref && ours);
    }
    free(ref);
    free(ours);
    runner_close(&r);
}

ED_TEST(q8_0_matches_reference) { check_reference("Q8_0", N_PROMPT - 1); }
ED_TEST(q4_0_matches_reference) { check_reference("Q4_0", 0); }
ED_TEST(q4_k_m_matches_reference) { check_reference("Q4_K_M", 0); }

/* ed_model_repack moves q4_0 / q8_0 / q4_K matrices (not token_embd, which rows
 * are looked up in) to the interleaved layout when the kernels multiply it,
 * and the logits stay those of the file layout up to the order of float sums. */
static void check_repack(const char *quant, int file_type)
{
    char path[256], err[ED_ERR_LEN] = "";
    snprintf(path, sizeof path, MODELS "tiny-llama-%s.gguf", quant);
    runner_t packed, mapped;
    ED_REQUIRE(runner_open_with(&packed, path, 2, 32, 0, true) == 0);
    if (runner_open_with(&mapped, path, 2, 32, 0, false) != 0) {
        runner_close(&packed);
        ED_REQUIRE(0);
    }
    /* every matrix in the layout its type has, where the kernels take it */
    int repacked = 0;
    for (int l = 0; l < packed.model.n_layer; l++) {
        const ed_layer_t *P = &packed.model.layers[l], *M = &mapped.model.layers[l];
        const ed_matrix_t *ps[] = {&P->wq, &P->wk, &P->wv, &P->wo, &P->w_gate, &P->w_up, &P->w_down};
        const ed_matrix_t *ms[] = {&M->wq, &M->wk, &M->wv, &M->wo, &M->w_gate, &M->w_up, &M->w_down};
        for (int i = 0; i < 7; i++) {
            int layout = ed_repack_type(ms[i]->type);
            bool kernel = layout >= 0 && packed.kernels->gemm[layout] != NULL;
            ED_CHECK_INT(ps[i]->type, kernel ? layout : ms[i]->type);
            ED_CHECK(kernel == (ps[i]->owned != NULL));
            repacked += kernel;
        }
    }
    printf("# %s with %s kernels: %d of %d layer matrices repacked\n", quant, packed.kernels->name, repacked,
           7 * packed.model.n_layer);
    ED_CHECK(repacked > 0 || packed.kernels->gemm[ed_repack_type(file_type)] == NULL);
    ED_CHECK_INT(packed.model.token_embd.type, mapped.model.token_embd.type);
    size_t n = (size_t)N_PROMPT * (size_t)packed.model.n_vocab;
    float *a = malloc(n * sizeof(float)), *b = malloc(n * sizeof(float));
    ED_REQUIRE(a && b);
    ED_CHECK_INT(ed_forward_eval(&packed.fw, prompt, N_PROMPT, a, err), 0);
    ED_CHECK_INT(ed_forward_eval(&mapped.fw, prompt, N_PROMPT, b, err), 0);
    double nrms = normalised_rms(a, b, n);
    int agree = 0;
    for (int t = 0; t < N_PROMPT; t++)
        agree += argmax(a + (size_t)t * packed.model.n_vocab, packed.model.n_vocab) ==
                 argmax(b + (size_t)t * packed.model.n_vocab, packed.model.n_vocab);
    printf("# %s: rms(repacked - mapped)/std(mapped) = %.2g, argmax agrees on %d/%d rows\n", quant, nrms, agree,
           N_PROMPT);
    ED_CHECK(nrms < 1e-4);
    ED_CHECK_INT(agree, N_PROMPT);
    free(a), free(b);
    runner_close(&packed);
    runner_close(&mapped);
}

/* Whether this kernel gives transparent huge pages to a region advised for
 * them: "[always]" or "[madvise]" in its setting. */
static bool thp_advisable(void)
{
    char line[128] = "";
    FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
    if (!f)
        return false;
    bool ok = fgets(line, sizeof line, f) && (strstr(line, "[always]") || strstr(line, "[madvise]"));
    fclose(f);
    return ok;
}

/* smaps' THPeligible of the mapping holding `p`: 1, 0, or -1 (not found). */
static int thp_eligible(const void *p)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    if (!f)
        return -1;
    char line[512];
    bool inside = false;
    int eligible = -1;
    while (eligible < 0 && fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2)
            inside = (uintptr_t)p >= lo && (uintptr_t)p < hi;
        else if (inside && strncmp(line, "THPeligible:", 12) == 0)
            eligible = atoi(line + 12);
    }
    fclose(f);
    return eligible;
}

/* The repacked matrices share one arena, on a huge-page boundary and
 * advised for transparent huge pages (a token reads them all: with 4 KiB
 * pages its address translations took a third of the generation time on a
 * virtual machine). The project's real model repacks 28 MB. */
ED_TEST(repacked_weights_share_an_arena_on_huge_pages)
{
    runner_t r;
    ED_REQUIRE(runner_open_with(&r, "../shared/testdata/real/edged-tiny-26m-q8_0.gguf", 1, 32, 0, true) == 0);
    const uint8_t *arena = r.model.repacked, *next = arena;
    ED_REQUIRE(arena != NULL);
    if (ed_huge_page_bytes() <= ((size_t)16 << 20)) /* the model spans one (not a Pi 5's 32 MiB) */
        ED_CHECK_INT((int)((uintptr_t)arena % ed_huge_page_bytes()), 0);
    int in_order = 0;
    for (int l = 0; l < r.model.n_layer; l++) {
        const ed_layer_t *L = &r.model.layers[l];
        const ed_matrix_t *ms[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down};
        for (int i = 0; i < 7; i++) {
            const uint8_t *at = ms[i]->owned;
            ED_REQUIRE(at != NULL && at == ms[i]->data);
            ED_CHECK_INT((int)((uintptr_t)at % 64), 0);
            in_order += at >= next; /* one after the other in the arena */
            next = at + 1;
        }
    }
    ED_CHECK_INT(in_order, 7 * r.model.n_layer);
    int eligible = thp_eligible(arena);
    printf("# arena at %p, THPeligible %d (huge pages %s here)\n", (const void *)arena, eligible,
           thp_advisable() ? "advisable" : "off");
    if (thp_advisable() && ed_huge_page_bytes() <= ((size_t)16 << 20))
        ED_CHECK_INT(eligible, 1);
    runner_close(&r);
}

ED_TEST(repack_changes_the_layout_not_the_logits)
{
    check_repack("Q4_0", ED_TYPE_Q4_0);
    check_repack("Q8_0", ED_TYPE_Q8_0);
    check_repack("Q4_K_M", ED_TYPE_Q4_K);
}

/* The prompt in one batch, in batches of 4, and one token at a time give
 * the same logits (up to the order of float sums in the products). */
ED_TEST(batch_matches_token_by_token)
{
    const char *path = MODELS "tiny-llama-Q8_0.gguf";
    char err[ED_ERR_LEN] = "";
    runner_t whole, fours, single;
    ED_REQUIRE(runner_open(&whole, path, 2, 32, 0) == 0);
    if (runner_open(&fours, path, 2, 32, 4) != 0) {
        runner_close(&whole);
        ED_REQUIRE(0);
    }
    if (runner_open(&single, path, 2, 32, 1) != 0) {
        runner_close(&whole);
        runner_close(&fours);
        ED_REQUIRE(0);
    }
    int n_vocab = whole.model.n_vocab;
    size_t n = (size_t)N_PROMPT * n_vocab;
    float *a = malloc(n * sizeof(float)), *b = malloc(n * sizeof(float)), *c = malloc(n * sizeof(float));
    if (a && b && c) {
        ED_CHECK_INT(ed_forward_eval(&whole.fw, prompt, N_PROMPT, a, err), 0);
        ED_CHECK_INT(ed_forward_eval(&fours.fw, prompt, N_PROMPT, b, err), 0);
        for (int t = 0; t < N_PROMPT; t++)
            ED_CHECK_INT(ed_forward_eval(&single.fw, prompt + t, 1, c + (size_t)t * n_vocab, err), 0);
        double max_ab = 0, max_ac = 0;
        for (size_t i = 0; i < n; i++) {
            max_ab = fmax(max_ab, fabs((double)a[i] - b[i]));
            max_ac = fmax(max_ac, fabs((double)a[i] - c[i]));
        }
        printf("# max |batch - batches of 4| = %.3g, max |batch - one by one| = %.3g\n", max_ab, max_ac);
        ED_CHECK(max_ab < 1e-4);
        ED_CHECK(max_ac < 1e-4);
    }
    ED_CHECK(a && b && c);
    free(a);
    free(b);
    free(c);
    runner_close(&whole);
    runner_close(&fours);
    runner_close(&single);
}

/* Greedy decoding of 16 tokens after the prompt. */
static int greedy(const char *path, int n_threads, int32_t *out, int n_out)
{
    char err[ED_ERR_LEN] = "";
    runner_t r;
    int rc = runner_open(&r, path, n_threads, 64, 0);
    if (rc != 0)
        return rc;
    rc = ed_forward_eval(&r.fw, prompt, N_PROMPT, NULL, err);
    for (int i = 0; i < n_out && rc == 0; i++) {
        out[i] = argmax(r.fw.logits, r.model.n_vocab);
        rc = ed_forward_eval(&r.fw, &out[i], 1, NULL, err);
    }
    if (rc != 0)
        printf("# greedy: %s\n", err);
    runner_close(&r);
    return rc;
}

ED_TEST(threads_give_same_greedy_tokens)
{
    int32_t one[16], two[16];
    ED_REQUIRE(greedy(MODELS "tiny-llama-Q4_K_M.gguf", 1, one, 16) == 0);
    ED_REQUIRE(greedy(MODELS "tiny-llama-Q4_K_M.gguf", 2, two, 16) == 0);
    printf("# greedy:");
    for (int i = 0; i < 16; i++)
        printf(" %d", one[i]);
    printf("\n");
    ED_CHECK(memcmp(one, two, sizeof one) == 0);
}

ED_TEST(context_overflow_is_an_error)
{
    char err[ED_ERR_LEN] = "";
    runner_t r;
    ED_REQUIRE(runner_open(&r, MODELS "tiny-llama-Q4_0.gguf", 1, 8, 0) == 0);
    ED_CHECK_INT(ed_forward_eval(&r.fw, prompt, N_PROMPT, NULL, err), ED_ERANGE);
    printf("# %s\n", err);
    ED_CHECK(strstr(err, "0 cached + 9 new tokens > n_ctx 8") != NULL);
    ED_CHECK_INT(r.fw.kv.n_used, 0);
    ED_CHECK_INT(ed_forward_eval(&r.fw, prompt, 8, NULL, err), 0);
    ED_CHECK_INT(ed_forward_eval(&r.fw, prompt, 1, NULL, err), ED_ERANGE);
    ED_CHECK(strstr(err, "8 cached + 1 new tokens > n_ctx 8") != NULL);
    int32_t bad = 32000;
    ED_CHECK_INT(ed_kvcache_truncate(&r.fw.kv, 2), 0);
    ED_CHECK_INT(ed_forward_eval(&r.fw, &bad, 1, NULL, err), ED_EINVAL);
    ED_CHECK_INT(r.fw.kv.n_used, 2);
    runner_close(&r);
}

/* The tiny model's file in memory, with `find` (a byte string of the
 * header) replaced by `replace` of the same length at its first occurrence. */
static int load_patched(const void *find, const void *replace, size_t len, char err[ED_ERR_LEN])
{
    FILE *file = fopen(MODELS "tiny-llama-Q4_0.gguf", "rb");
    size_t size = 14 << 20, got = 0;
    uint8_t *data = malloc(size);
    if (file && data)
        got = fread(data, 1, size, file);
    if (file)
        fclose(file);
    int rc = ED_EIO;
    for (size_t i = 0; data && i + len <= got && i < (1u << 20); i++)
        if (memcmp(data + i, find, len) == 0) {
            memcpy(data + i, replace, len);
            ed_gguf_t *gguf = NULL;
            ed_model_t model;
            rc = ed_gguf_open_memory(&gguf, data, got, err);
            if (rc == 0) {
                rc = ed_model_load(&model, gguf, err);
                if (rc == 0)
                    ed_model_free(&model);
            }
            ed_gguf_close(gguf);
            break;
        }
    free(data);
    return rc;
}

ED_TEST(load_rejects_a_misshapen_tensor)
{
    /* blk.0.attn_k.weight: 2 dims, [256, 128] -> [256, 64] */
    static const char name[] = "blk.0.attn_k.weight";
    uint8_t find[sizeof name - 1 + 4 + 16], replace[sizeof find];
    uint32_t n_dims = 2;
    uint64_t ne[2] = {256, 128};
    memcpy(find, name, sizeof name - 1);
    memcpy(find + sizeof name - 1, &n_dims, 4);
    memcpy(find + sizeof name - 1 + 4, ne, 16);
    memcpy(replace, find, sizeof find);
    ne[1] = 64;
    memcpy(replace + sizeof name - 1 + 4, ne, 16);
    char err[ED_ERR_LEN] = "";
    ED_CHECK_INT(load_patched(find, replace, sizeof find, err), ED_EFORMAT);
    printf("# %s\n", err);
    ED_CHECK_STR(err, "tensor blk.0.attn_k.weight has shape [256, 64], expected [256, 128]");
}

ED_TEST(load_rejects_a_block_count_the_file_cannot_hold)
{
    /* llama.block_count 4 -> 8388609: 8 million layer records (gigabytes)
     * would be allocated before the first missing tensor said so (found by
     * tests/fuzz/model_gguf) */
    char err[ED_ERR_LEN] = "";
    ED_CHECK_INT(load_patched("llama.block_count\x04\0\0\0\x04\0\0\0", "llama.block_count\x04\0\0\0\x01\0\x80\0",
                              25, err),
                 ED_EFORMAT);
    printf("# %s\n", err);
    ED_CHECK_STR(err, "llama.block_count = 8388609: that needs at least 75497481 tensors, the file has 39");
}

ED_TEST(bert_load_rejects_a_block_count_the_file_cannot_hold)
{
    /* the small embedding model of the fuzz seeds, bert.block_count 1 -> 8388609 */
    static const char path[] = "tests/fuzz/corpus/model_gguf/valid-model-bert-f16.gguf";
    static const char find[] = "bert.block_count\x04\0\0\0\x01\0\0\0";
    FILE *file = fopen(path, "rb");
    ED_REQUIRE(file != NULL);
    uint8_t data[1 << 16];
    size_t got = fread(data, 1, sizeof data, file);
    fclose(file);
    uint8_t *at = memmem(data, got, find, sizeof find - 1);
    ED_REQUIRE(at != NULL);
    at[16 + 4 + 2] = 0x80; /* 0x00800001 */
    char err[ED_ERR_LEN] = "";
    ed_gguf_t *gguf = NULL;
    ED_REQUIRE(ed_gguf_open_memory(&gguf, data, got, err) == 0);
    ed_bert_t bert = {0};
    ED_CHECK_INT(ed_bert_load(&bert, gguf, err), ED_EFORMAT);
    printf("# %s\n", err);
    ED_CHECK_STR(err, "bert.block_count = 8388609: that needs at least 67108872 tensors, the file has 21");
    ed_bert_free(&bert);
    ed_gguf_close(gguf);
}

ED_TEST(load_rejects_an_unknown_architecture)
{
    char err[ED_ERR_LEN] = "";
    ED_CHECK_INT(load_patched("\x05\0\0\0\0\0\0\0llama", "\x05\0\0\0\0\0\0\0gemma", 13, err),
                 ED_EUNSUPPORTED);
    printf("# %s\n", err);
    ED_CHECK(strstr(err, "gemma") != NULL);
}

ED_TEST_MAIN(load_rejects_a_misshapen_tensor, load_rejects_a_block_count_the_file_cannot_hold, bert_load_rejects_a_block_count_the_file_cannot_hold, load_rejects_an_unknown_architecture, q8_0_matches_reference, q4_0_matches_reference, q4_k_m_matches_reference,
             repack_changes_the_layout_not_the_logits, repacked_weights_share_an_arena_on_huge_pages,
             batch_matches_token_by_token, threads_give_same_greedy_tokens, context_overflow_is_an_error)
