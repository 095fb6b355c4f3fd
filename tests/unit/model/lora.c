/* tests/unit/model/lora.c - daemon/model/lora.c: adapters written as
 * llama.cpp's converter writes them (tests/tools/lora_writer.h) load, in
 * f32, f16 and q8_0, with their values; what edged writes reads back
 * identically; every malformed adapter is refused with a message naming the
 * key or tensor. The bases are small mkmodel models. */
#include "model/lora.h"
#include "tests/test.h"
#include "tests/tools/lora_writer.h"

#define SPM_VOCAB "../shared/testdata/vocab/ggml-vocab-llama-spm.gguf"
#define GPT2_VOCAB "../shared/testdata/vocab/ggml-vocab-gpt-2.gguf"

/* n_embd 64, q_dim 64, kv_dim 32, n_ff 128, 2 layers */
enum { EMBD = 64, Q_DIM = 64, KV_DIM = 32, FF = 128, RANK = 4 };

typedef struct {
    char path[256];
    ed_gguf_t *gguf;
    ed_model_t model;
} base_t;

static int base_open(base_t *b, const char *name, const char *args)
{
    memset(b, 0, sizeof *b);
    snprintf(b->path, sizeof b->path, "/tmp/ed-lora-%d-%s.gguf", (int)getpid(), name);
    const char *build = getenv("BUILD") ? getenv("BUILD") : "build";
    char cmd[1024], err[ED_ERR_LEN];
    snprintf(cmd, sizeof cmd, "%s/tests/tools/mkmodel --out %s --n-layer 2 %s 2>/dev/null", build, b->path, args);
    if (system(cmd) != 0 || ed_gguf_open(&b->gguf, b->path, err) != 0 || ed_model_load(&b->model, b->gguf, err) != 0) {
        printf("# base %s: %s\n", name, err);
        return -1;
    }
    return 0;
}

static void base_close(base_t *b)
{
    ed_model_free(&b->model);
    ed_gguf_close(b->gguf);
    unlink(b->path);
}

static int llama_base(base_t *b)
{
    return base_open(b, "llama", "--arch llama --type f32 --vocab " SPM_VOCAB);
}

/* Loads the adapter f describes against b: the code, err and the adapter (or NULL). */
static int load(const lora_file_t *f, const base_t *b, ed_lora_t **out, char err[ED_ERR_LEN])
{
    ed_gguf_buf_t buf;
    ed_gguf_t *g = NULL;
    *out = NULL;
    err[0] = '\0';
    int rc = lora_file_finish(f, &buf);
    if (rc == 0 && (rc = ed_gguf_open_memory(&g, buf.data, buf.len, err)) == 0)
        rc = ed_lora_load(out, g, b->gguf, &b->model, err);
    ed_gguf_close(g);
    ed_gguf_buf_free(&buf);
    return rc;
}

/* Expects f to be refused with code `want` and a message containing `needle`. */
static void check_refused(const lora_file_t *f, const base_t *b, int want, const char *needle)
{
    ed_lora_t *lora;
    char err[ED_ERR_LEN];
    int rc = load(f, b, &lora, err);
    printf("# %s: %s\n", ed_err_name(rc), err);
    if (rc != want)
        ED__FAIL("expected %s, got %s (%s)", ed_err_name(want), ed_err_name(rc), err);
    if (!strstr(err, needle))
        ED__FAIL("message \"%s\" lacks \"%s\"", err, needle);
    ED_CHECK(lora == NULL);
    ed_lora_free(lora);
}

/* An adapter on layer 0's q: the converter's file. */
static void q_adapter(lora_file_t *f, float alpha)
{
    lora_file_init(f, "llama", alpha, 7);
    lora_file_pair(f, "blk.0.attn_q.weight", EMBD, Q_DIM, RANK, false, ED_TYPE_F32);
}

ED_TEST(converter_files_load_with_their_values)
{
    base_t b;
    ED_REQUIRE(llama_base(&b) == 0);
    static const ed_type_t types[] = {ED_TYPE_F32, ED_TYPE_F16, ED_TYPE_Q8_0};
    for (int ti = 0; ti < 3; ti++) {
        lora_file_t f;
        lora_file_init(&f, "llama", 16.0f, 1);
        float a[EMBD * 32], bv[32 * KV_DIM];
        for (int i = 0; i < EMBD * 32; i++)
            a[i] = (float)((i * 7) % 64 - 32) / 64.0f; /* exact in f16 and (blockwise) in q8_0 */
        for (int i = 0; i < 32 * KV_DIM; i++)
            bv[i] = (float)((i * 5) % 32 - 16) / 128.0f;
        lora_file_tensor(&f, "blk.1.attn_v.weight.lora_a", types[ti], EMBD, 32, a, 0);
        lora_file_tensor(&f, "blk.1.attn_v.weight.lora_b", types[ti], 32, KV_DIM, bv, 0);
        lora_file_tensor(&f, "blk.1.ffn_norm.weight", ED_TYPE_F32, EMBD, 1, NULL, 1); /* skipped */
        lora_file_pair(&f, "token_embd.weight", EMBD, 32000, RANK, true, types[ti]);
        lora_file_pair(&f, "output.weight", EMBD, 32000, RANK, false, types[ti]);
        for (int l = 0; l < 2; l++) {
            char name[64];
            snprintf(name, sizeof name, "blk.%d.ffn_down.weight", l);
            lora_file_pair(&f, name, FF, EMBD, RANK, false, types[ti]);
            snprintf(name, sizeof name, "blk.%d.attn_output.weight", l);
            lora_file_pair(&f, name, Q_DIM, EMBD, RANK, false, types[ti]);
        }
        ed_lora_t *lora;
        char err[ED_ERR_LEN];
        int rc = load(&f, &b, &lora, err);
        if (rc != 0)
            printf("# %s: %s\n", ed_type_info(types[ti])->name, err);
        ED_CHECK_INT(rc, 0);
        if (lora) {
            ED_CHECK_INT(lora->n_pairs, 7);
            ED_CHECK_INT(lora->max_rank, 32);
            ED_CHECK(lora->has_alpha);
            ED_CHECK_NEAR(lora->alpha, 16, 0);
            const ed_lora_pair_t *p = ed_lora_block(lora, 1, ED_LORA_ATTN_V);
            ED_REQUIRE(p);
            ED_CHECK_INT(p->rank, 32);
            ED_CHECK_INT(p->n_in, EMBD);
            ED_CHECK_INT(p->n_out, KV_DIM);
            /* exact in f32 and f16; q8_0 within half a step of its blocks (max 32/64 / 127) */
            float tol = types[ti] == ED_TYPE_Q8_0 ? 0.5f * 0.5f / 127 : 0, worst = 0;
            for (int i = 0; i < EMBD * 32; i++)
                worst = fmaxf(worst, fabsf(p->a[i] - a[i]));
            for (int i = 0; i < 32 * KV_DIM; i++)
                worst = fmaxf(worst, fabsf(p->b[i] - bv[i]));
            printf("# %s: max |loaded - written| %g\n", ed_type_info(types[ti])->name, (double)worst);
            ED_CHECK(worst <= tol);
            ED_CHECK_NEAR(ed_lora_scale(lora, p, 0.5f), 16.0f / 32 * 0.5f, 1e-7);
            ED_CHECK(ed_lora_block(lora, 0, ED_LORA_ATTN_Q) == NULL);
            ED_CHECK(ed_lora_block(lora, 0, ED_LORA_FFN_DOWN) != NULL);
            const ed_lora_pair_t *e = ed_lora_token_embd(lora);
            ED_REQUIRE(e);
            ED_CHECK_INT(e->rank, RANK);
            ED_CHECK_INT(e->n_in, EMBD);
            ED_CHECK_INT(e->n_out, 32000);
            ED_CHECK(ed_lora_output(lora) != NULL);
            ED_CHECK_INT(ed_lora_block(lora, 1, ED_LORA_ATTN_V)->a_type, types[ti]);
        }
        ed_lora_free(lora);
        lora_file_free(&f);
    }
    base_close(&b);
}

ED_TEST(no_alpha_means_the_user_scale)
{
    base_t b;
    ED_REQUIRE(llama_base(&b) == 0);
    lora_file_t f;
    q_adapter(&f, -1);
    ed_lora_t *lora;
    char err[ED_ERR_LEN];
    ED_CHECK_INT(load(&f, &b, &lora, err), 0);
    ED_REQUIRE(lora);
    ED_CHECK(!lora->has_alpha);
    ED_CHECK_NEAR(ed_lora_scale(lora, ed_lora_block(lora, 0, ED_LORA_ATTN_Q), 0.75f), 0.75f, 0);
    ed_lora_free(lora);
    lora_file_free(&f);
    base_close(&b);
}

static bool same_pair(const ed_lora_pair_t *x, const ed_lora_pair_t *y, bool embd)
{
    if (!x || !y)
        return x == y;
    size_t na = (size_t)x->rank * (size_t)(embd ? x->n_out : x->n_in);
    size_t nb = (size_t)x->rank * (size_t)(embd ? x->n_in : x->n_out);
    return x->rank == y->rank && x->n_in == y->n_in && x->n_out == y->n_out &&
           memcmp(x->a, y->a, na * sizeof(float)) == 0 && memcmp(x->b, y->b, nb * sizeof(float)) == 0;
}

ED_TEST(written_adapters_read_back_identically)
{
    base_t b;
    ED_REQUIRE(llama_base(&b) == 0);
    lora_file_t f;
    lora_file_init(&f, "llama", 8.0f, 3);
    lora_file_pair(&f, "token_embd.weight", EMBD, 32000, RANK, true, ED_TYPE_F16);
    lora_file_pair(&f, "blk.1.ffn_gate.weight", EMBD, FF, 8, false, ED_TYPE_Q8_0);
    lora_file_pair(&f, "blk.0.attn_k.weight", EMBD, KV_DIM, RANK, false, ED_TYPE_F32);
    ed_lora_t *first, *second = NULL;
    char err[ED_ERR_LEN], path[256];
    ED_CHECK_INT(load(&f, &b, &first, err), 0);
    ED_REQUIRE(first);
    ed_lora_fingerprint(b.gguf, first->fingerprint);
    snprintf(first->name, sizeof first->name, "support-tone");
    first->version = 3;
    first->created = 1764979200;
    first->training = strdup("rank 4, 120 steps, held-out loss 1.93");
    snprintf(path, sizeof path, "/tmp/ed-lora-%d-written.gguf", (int)getpid());
    ED_CHECK_INT(ed_lora_write(first, path, err), 0);
    int rc = ed_lora_open(&second, path, b.gguf, &b.model, err);
    if (rc != 0)
        printf("# %s\n", err);
    ED_REQUIRE(rc == 0);
    ED_CHECK_STR(second->arch, "llama");
    ED_CHECK(second->has_alpha && second->alpha == 8.0f);
    ED_CHECK_STR(second->fingerprint, first->fingerprint);
    ED_CHECK_STR(second->name, "support-tone");
    ED_CHECK_INT(second->version, 3);
    ED_CHECK_INT(second->created, 1764979200);
    ED_CHECK_STR(second->training, first->training);
    ED_CHECK_INT(second->n_pairs, 3);
    ED_CHECK_INT(second->max_rank, 8);
    ED_CHECK_INT(second->bytes, first->bytes);
    ED_CHECK(same_pair(ed_lora_token_embd(first), ed_lora_token_embd(second), true));
    for (int l = 0; l < 2; l++)
        for (int r = 0; r < ED_LORA_PER_LAYER; r++)
            ED_CHECK(same_pair(ed_lora_block(first, l, (ed_lora_role_t)r), ed_lora_block(second, l, (ed_lora_role_t)r),
                               false));
    /* a second write is byte-for-byte the first */
    void *x = NULL, *y = NULL;
    size_t nx = 0, ny = 0;
    ED_CHECK_INT(ed_lora_serialize(first, &x, &nx, err), 0);
    ED_CHECK_INT(ed_lora_serialize(second, &y, &ny, err), 0);
    ED_CHECK(nx == ny && x && y && memcmp(x, y, nx) == 0);
    free(x);
    free(y);
    ed_lora_free(first);
    ed_lora_free(second);
    lora_file_free(&f);
    unlink(path);
    base_close(&b);
}

ED_TEST(malformed_metadata_is_refused)
{
    base_t b;
    ED_REQUIRE(llama_base(&b) == 0);
    lora_file_t f;

    lora_file_init(&f, "qwen2", 16, 1);
    lora_file_pair(&f, "blk.0.attn_q.weight", EMBD, Q_DIM, RANK, false, ED_TYPE_F32);
    check_refused(&f, &b, ED_EINVAL, "general.architecture = \"qwen2\", expected \"llama\"");
    lora_file_free(&f);

    lora_file_init_bare(&f, 1);
    ed_gguf_writer_str(&f.w, "general.architecture", "llama");
    ed_gguf_writer_str(&f.w, "general.type", "model");
    check_refused(&f, &b, ED_EFORMAT, "general.type = \"model\", expected \"adapter\"");
    lora_file_free(&f);

    lora_file_init_bare(&f, 1);
    ed_gguf_writer_str(&f.w, "general.architecture", "llama");
    ed_gguf_writer_str(&f.w, "general.type", "adapter");
    check_refused(&f, &b, ED_EFORMAT, "adapter.type: expected the string \"lora\", it is missing");
    lora_file_free(&f);

    lora_file_init_bare(&f, 1);
    ed_gguf_writer_str(&f.w, "general.architecture", "llama");
    ed_gguf_writer_str(&f.w, "general.type", "adapter");
    ed_gguf_writer_str(&f.w, "adapter.type", "lora");
    ed_gguf_writer_u32(&f.w, "adapter.lora.alpha", 16);
    lora_file_pair(&f, "blk.0.attn_q.weight", EMBD, Q_DIM, RANK, false, ED_TYPE_F32);
    check_refused(&f, &b, ED_EFORMAT, "adapter.lora.alpha: expected a float32, the file holds a uint32");
    lora_file_free(&f);

    q_adapter(&f, 16);
    uint32_t tokens[] = {1, 2};
    ed_gguf_writer_arr(&f.w, "adapter.alora.invocation_tokens", ED_GGUF_UINT32, tokens, 2, 4);
    check_refused(&f, &b, ED_EUNSUPPORTED, "adapter.alora.invocation_tokens");
    lora_file_free(&f);

    lora_file_init(&f, "llama", 16, 1);
    ed_gguf_writer_u32(&f.w, "edged.adapter.version", 1);
    ed_gguf_writer_str(&f.w, "edged.adapter.created", "yesterday");
    lora_file_pair(&f, "blk.0.attn_q.weight", EMBD, Q_DIM, RANK, false, ED_TYPE_F32);
    check_refused(&f, &b, ED_EFORMAT, "edged.adapter.created: expected a uint64, the file holds a string");
    lora_file_free(&f);

    lora_file_init(&f, "llama", 16, 1);
    check_refused(&f, &b, ED_EFORMAT, "no lora_a / lora_b tensor pairs");
    lora_file_free(&f);
    base_close(&b);
}

ED_TEST(malformed_tensors_are_refused)
{
    base_t b;
    ED_REQUIRE(llama_base(&b) == 0);
    lora_file_t f;

    lora_file_init(&f, "llama", 16, 1);
    lora_file_tensor(&f, "blk.0.attn_q.weight.lora_a", ED_TYPE_F32, EMBD, RANK, NULL, 1);
    check_refused(&f, &b, ED_EFORMAT, "tensor pair for blk.0.attn_q.weight is missing one component: "
                                      "blk.0.attn_q.weight.lora_b is absent");
    lora_file_free(&f);

    lora_file_init(&f, "llama", 16, 1);
    lora_file_tensor(&f, "blk.0.attn_q.weight.lora_a", ED_TYPE_F32, RANK, EMBD, NULL, 1); /* transposed */
    lora_file_tensor(&f, "blk.0.attn_q.weight.lora_b", ED_TYPE_F32, RANK, Q_DIM, NULL, 1);
    check_refused(&f, &b, ED_EFORMAT, "tensor blk.0.attn_q.weight.lora_a: shape [4, 64], expected [64, rank]");
    lora_file_free(&f);

    lora_file_init(&f, "llama", 16, 1);
    lora_file_tensor(&f, "blk.0.attn_k.weight.lora_a", ED_TYPE_F32, EMBD, RANK, NULL, 1);
    lora_file_tensor(&f, "blk.0.attn_k.weight.lora_b", ED_TYPE_F32, RANK * 2, KV_DIM, NULL, 1);
    check_refused(&f, &b, ED_EFORMAT, "tensor blk.0.attn_k.weight.lora_b: rank 8 but blk.0.attn_k.weight.lora_a "
                                      "has rank 4");
    lora_file_free(&f);

    lora_file_init(&f, "llama", 16, 1);
    lora_file_tensor(&f, "blk.0.attn_k.weight.lora_a", ED_TYPE_F32, EMBD, RANK, NULL, 1);
    lora_file_tensor(&f, "blk.0.attn_k.weight.lora_b", ED_TYPE_F32, RANK, Q_DIM, NULL, 1); /* q's rows */
    check_refused(&f, &b, ED_EFORMAT, "tensor blk.0.attn_k.weight.lora_b: shape [4, 64], expected [rank, 32]");
    lora_file_free(&f);

    lora_file_init(&f, "llama", 16, 1);
    lora_file_tensor(&f, "token_embd.weight.lora_a", ED_TYPE_F32, EMBD, RANK, NULL, 1); /* not flipped */
    lora_file_tensor(&f, "token_embd.weight.lora_b", ED_TYPE_F32, RANK, 32000, NULL, 1);
    check_refused(&f, &b, ED_EFORMAT, "tensor token_embd.weight.lora_a: shape [64, 4], expected [rank, 32000]");
    lora_file_free(&f);

    q_adapter(&f, 16);
    lora_file_tensor(&f, "blk.0.attn_q.weight.lora_c", ED_TYPE_F32, EMBD, RANK, NULL, 1);
    check_refused(&f, &b, ED_EFORMAT, "tensor blk.0.attn_q.weight.lora_c: unexpected suffix");
    lora_file_free(&f);

    q_adapter(&f, 16);
    lora_file_pair(&f, "blk.2.attn_q.weight", EMBD, Q_DIM, RANK, false, ED_TYPE_F32);
    check_refused(&f, &b, ED_EFORMAT, "tensor blk.2.attn_q.weight.lora_a: blk.2.attn_q.weight does not exist in "
                                      "the base model");
    lora_file_free(&f);

    q_adapter(&f, 16);
    lora_file_pair(&f, "blk.0.attn_qkv.weight", EMBD, Q_DIM, RANK, false, ED_TYPE_F32);
    check_refused(&f, &b, ED_EFORMAT, "blk.0.attn_qkv.weight does not exist in the base model");
    lora_file_free(&f);

    q_adapter(&f, 16);
    lora_file_pair(&f, "blk.0.attn_norm.weight", EMBD, 1, RANK, false, ED_TYPE_F32);
    check_refused(&f, &b, ED_EUNSUPPORTED, "tensor blk.0.attn_norm.weight.lora_a: edged applies adapters to");
    lora_file_free(&f);

    lora_file_init(&f, "llama", 16, 1);
    lora_file_pair(&f, "blk.0.attn_q.weight", EMBD, Q_DIM, RANK, false, ED_TYPE_Q4_0);
    check_refused(&f, &b, ED_EUNSUPPORTED, "tensor blk.0.attn_q.weight.lora_a: type q4_0, expected f32, f16 or q8_0");
    lora_file_free(&f);
    base_close(&b);
}

ED_TEST(truncated_files_are_refused)
{
    base_t b;
    ED_REQUIRE(llama_base(&b) == 0);
    lora_file_t f;
    q_adapter(&f, 16);
    ed_gguf_buf_t buf;
    ED_REQUIRE(lora_file_finish(&f, &buf) == 0);
    size_t cuts[] = {buf.len - 1, buf.len - 100, buf.len / 2, 40, 4};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        ed_gguf_t *g = NULL;
        ed_lora_t *lora = NULL;
        char err[ED_ERR_LEN] = "";
        int rc = ed_gguf_open_memory(&g, buf.data, cuts[i], err);
        if (rc == 0)
            rc = ed_lora_load(&lora, g, b.gguf, &b.model, err);
        ED_CHECK(rc != 0 && err[0] && !lora);
        if (i == 0)
            printf("# cut at %zu: %s\n", cuts[i], err);
        ed_gguf_close(g);
    }
    ed_gguf_buf_free(&buf);
    /* the same through the file reader: its message names the path */
    char path[256], err[ED_ERR_LEN];
    snprintf(path, sizeof path, "/tmp/ed-lora-%d-truncated.gguf", (int)getpid());
    ED_REQUIRE(lora_file_save(&f, path) == 0);
    ED_REQUIRE(truncate(path, 200) == 0);
    ed_lora_t *lora = NULL;
    ED_CHECK(ed_lora_open(&lora, path, b.gguf, &b.model, err) != 0);
    printf("# %s\n", err);
    ED_CHECK(strstr(err, path) != NULL);
    unlink(path);
    lora_file_free(&f);
    base_close(&b);
}

ED_TEST(fingerprints_tell_bases_apart)
{
    base_t b, other;
    ED_REQUIRE(llama_base(&b) == 0);
    ED_REQUIRE(base_open(&other, "llama-q8", "--arch llama --type q8_0 --vocab " SPM_VOCAB) == 0);
    char fp[ED_LORA_FINGERPRINT_LEN], fp_other[ED_LORA_FINGERPRINT_LEN], again[ED_LORA_FINGERPRINT_LEN];
    ed_lora_fingerprint(b.gguf, fp);
    ed_lora_fingerprint(other.gguf, fp_other);
    ed_lora_fingerprint(b.gguf, again);
    printf("# %s %s\n", fp, fp_other);
    ED_CHECK(strncmp(fp, "fnv1a64:", 8) == 0 && strlen(fp) == 24);
    ED_CHECK_STR(fp, again);
    ED_CHECK(strcmp(fp, fp_other) != 0);

    lora_file_t f;
    q_adapter(&f, 16);
    ed_gguf_writer_str(&f.w, "edged.adapter.base_fingerprint", fp_other);
    /* same shapes, so only the fingerprint tells */
    check_refused(&f, &b, ED_EINVAL, "edged.adapter.base_fingerprint");
    ed_lora_t *lora;
    char err[ED_ERR_LEN];
    ED_CHECK_INT(load(&f, &other, &lora, err), 0);
    ed_lora_free(lora);
    lora_file_free(&f);
    base_close(&other);
    base_close(&b);
}

ED_TEST(tied_bases_have_no_output_to_adapt)
{
    base_t b;
    ED_REQUIRE(base_open(&b, "qwen2", "--arch qwen2 --type f32 --tied --vocab " GPT2_VOCAB) == 0);
    lora_file_t f;
    lora_file_init(&f, "qwen2", 16, 1);
    lora_file_pair(&f, "token_embd.weight", EMBD, b.model.n_vocab, RANK, true, ED_TYPE_F32);
    ed_lora_t *lora;
    char err[ED_ERR_LEN];
    ED_CHECK_INT(load(&f, &b, &lora, err), 0);
    ED_CHECK(lora && ed_lora_token_embd(lora) && !ed_lora_output(lora));
    ed_lora_free(lora);
    lora_file_pair(&f, "output.weight", EMBD, b.model.n_vocab, RANK, false, ED_TYPE_F32);
    check_refused(&f, &b, ED_EFORMAT, "output.weight does not exist in the base model");
    lora_file_free(&f);
    base_close(&b);
}

ED_TEST_MAIN(converter_files_load_with_their_values, no_alpha_means_the_user_scale,
             written_adapters_read_back_identically, malformed_metadata_is_refused, malformed_tensors_are_refused,
             truncated_files_are_refused, fingerprints_tell_bases_apart, tied_bases_have_no_output_to_adapt)
