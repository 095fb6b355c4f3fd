/* model.c - loads the hyper-parameters and weight pointers of a `llama`,
 * `qwen2`, `qwen3`, `phi3`, `smollm3`, `gemma2` or `gemma3` GGUF model and checks every tensor
 * against them (name, shape, type), so the forward pass never meets a
 * surprise. Keys and tensor names follow llama.cpp (src/llama-model.cpp,
 * src/models/<arch>.cpp): token_embd, blk.N.attn_q, ..., output_norm, output. */
#include "model/model.h"
#include "model/tensors.h"
#include "core/error.h"

#include "kernels/error.h"
#include "kernels/memory.h"
#include "kernels/quant.h"
#include "kernels/repack.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* A kernel's code passes through the daemon unchanged: the kernels' codes
 * must keep the values of the daemon's codes of the same meaning. */
_Static_assert((int)ED_KERR_EINVAL == (int)ED_EINVAL, "kernels/error.h disagrees with core/error.h");
_Static_assert((int)ED_KERR_ENOMEM == (int)ED_ENOMEM, "kernels/error.h disagrees with core/error.h");
_Static_assert((int)ED_KERR_EAGAIN == (int)ED_EAGAIN, "kernels/error.h disagrees with core/error.h");
_Static_assert((int)ED_KERR_EOVERFLOW == (int)ED_EOVERFLOW, "kernels/error.h disagrees with core/error.h");
_Static_assert(ED_KERR_LEN == ED_ERR_LEN, "kernels/error.h disagrees with core/error.h");

/* tensors a block has at least: attn_norm, q, k, v, output, ffn_norm, gate, up, down;
 * phi3's fused form: attn_norm, qkv, output, ffn_norm, up, down */
#define TENSORS_PER_BLOCK(arch) (ARCHS[arch].fused ? 6 : 9)

/* What sets each architecture apart, as llama.cpp builds its graph. */
typedef struct {
    const char *name;   /* general.architecture and the key prefix */
    bool neox;          /* llama_model_rope_type: NEOX (split halves) rather than NORM */
    bool qkv_bias;      /* attn_q/k/v.bias required (qwen2) */
    bool qk_norm;       /* attn_q_norm / attn_k_norm required (qwen3) */
    bool fused;         /* attn_qkv (or separate q, k, v) and ffn_up of 2 n_ff rows (phi3) */
    int no_rope_step;   /* layers l with (l + 1) % step == 0 skip RoPE; 0: none. smollm3: 4,
                           hard-coded in llama.cpp (hparams.n_no_rope_layer_step), no GGUF key */
    bool gemma;         /* embeddings scaled by sqrt(n_embd), post_attention_norm and post_ffw_norm,
                           GELU-gated feed-forward, a sliding window (llama.cpp's gemma2/gemma3) */
    int swa_pattern;    /* llama.cpp's set_swa_pattern(n): layer l slides when l % n < n - 1 (gemma2: 2,
                           gemma3: 6); no GGUF key */
    bool softcap;       /* attention and final logit soft-capping (gemma2) */
} arch_info_t;

static const arch_info_t ARCHS[ED_ARCH_COUNT] = {
    [ED_ARCH_LLAMA] = {"llama", false, false, false, false, 0, false, 0, false},
    [ED_ARCH_QWEN2] = {"qwen2", true, true, false, false, 0, false, 0, false},
    [ED_ARCH_QWEN3] = {"qwen3", true, false, true, false, 0, false, 0, false},
    [ED_ARCH_PHI3] = {"phi3", true, false, false, true, 0, false, 0, false},
    [ED_ARCH_SMOLLM3] = {"smollm3", false, false, false, false, 4, false, 0, false},
    [ED_ARCH_GEMMA2] = {"gemma2", true, false, false, false, 0, true, 2, true},
    [ED_ARCH_GEMMA3] = {"gemma3", true, false, true, false, 0, true, 6, false},
};

const char *ed_model_arch_name(ed_arch_t arch)
{
    return (unsigned)arch < ED_ARCH_COUNT ? ARCHS[arch].name : "llama";
}

/* ------------------------------------------------------------ metadata ---- */

/* Reads `<arch>.<suffix>` as a u32 in [1, INT32_MAX]; absent: *out = def, or
 * an error when def is 0 (required). */
static int get_dim(const ed_gguf_t *gguf, const char *arch, const char *suffix, int def, int *out,
                   char err[ED_ERR_LEN])
{
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    uint32_t value = 0;
    int rc = ed_gguf_get_u32(gguf, key, &value);
    if (rc == ED_ENOENT && def > 0) {
        *out = def;
        return 0;
    }
    if (rc == ED_ENOENT) {
        snprintf(err, ED_ERR_LEN, "metadata key %s is missing", key);
        return ED_EFORMAT;
    }
    if (rc != 0 || value == 0 || value > INT32_MAX) {
        snprintf(err, ED_ERR_LEN, "metadata key %s: expected a positive integer", key);
        return ED_EFORMAT;
    }
    *out = (int)value;
    return 0;
}

/* Reads `<arch>.<suffix>` as a positive f32; absent: def. */
static int get_positive_f32(const ed_gguf_t *gguf, const char *arch, const char *suffix, float def,
                            float *out, char err[ED_ERR_LEN])
{
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    int rc = ed_gguf_get_f32(gguf, key, out);
    if (rc == ED_ENOENT) {
        *out = def;
        return 0;
    }
    if (rc != 0 || !(*out > 0) || *out > 1e30f) {
        snprintf(err, ED_ERR_LEN, "metadata key %s: expected a positive number", key);
        return ED_EFORMAT;
    }
    return 0;
}

/* Linear RoPE scaling: `rope.scaling.type` none/linear with
 * `rope.scaling.factor`, or the older `rope.scale_linear`. */
static int read_rope_scaling(const ed_gguf_t *gguf, const char *arch, float *freq_scale,
                             char err[ED_ERR_LEN])
{
    char key[128];
    snprintf(key, sizeof key, "%s.rope.scaling.type", arch);
    ed_str_t type = {0};
    int rc = ed_gguf_get_str(gguf, key, &type);
    if (rc != 0 && rc != ED_ENOENT) {
        snprintf(err, ED_ERR_LEN, "metadata key %s: expected a string", key);
        return ED_EFORMAT;
    }
    float factor = 1.0f;
    if (rc == 0 && ed_str_eq(type, "none")) {
        *freq_scale = 1.0f;
        return 0;
    }
    if (rc == 0 && !ed_str_eq(type, "linear")) {
        snprintf(err, ED_ERR_LEN, "%s = \"%.*s\": only \"none\" and \"linear\" RoPE scaling are supported",
                 key, (int)(type.len > 32 ? 32 : type.len), type.ptr);
        return ED_EUNSUPPORTED;
    }
    rc = get_positive_f32(gguf, arch, rc == 0 ? "rope.scaling.factor" : "rope.scale_linear", 1.0f,
                          &factor, err);
    if (rc != 0)
        return rc;
    *freq_scale = 1.0f / factor;
    return 0;
}

/* The neutral values of what only gemma sets, then gemma2/gemma3's keys as
 * llama.cpp's load_hparams reads them: attention.sliding_window (gemma2:
 * default 4096; gemma3: required), the soft-capping values (gemma2: 50 and
 * 30 when absent), gemma3's local RoPE (base 10000, scale 1, hard-coded
 * upstream), and the query scale: 1/sqrt(head_dim), except for the 27B
 * models (46 gemma2 or 62 gemma3 layers) whose query_pre_attn_scalar is
 * n_embd / n_head. */
static int read_gemma_hparams(ed_model_t *m, const ed_gguf_t *gguf, const char *arch, char err[ED_ERR_LEN])
{
    const arch_info_t *a = &ARCHS[m->arch];
    m->rope_swa = m->rope;
    m->embd_scale = 1.0f;
    m->attn_scale = 1.0f / sqrtf((float)m->head_dim);
    if (!a->gemma)
        return 0;
    int rc;
    if ((rc = get_dim(gguf, arch, "attention.sliding_window", m->arch == ED_ARCH_GEMMA2 ? 4096 : 0, &m->n_swa,
                      err)))
        return rc;
    if (a->softcap &&
        ((rc = get_positive_f32(gguf, arch, "attn_logit_softcapping", 50.0f, &m->attn_softcap, err)) ||
         (rc = get_positive_f32(gguf, arch, "final_logit_softcapping", 30.0f, &m->final_softcap, err))))
        return rc;
    if (m->arch == ED_ARCH_GEMMA3) {
        m->rope_swa.freq_base = 10000.0f;
        m->rope_swa.freq_scale = 1.0f;
    }
    m->embd_scale = sqrtf((float)m->n_embd);
    m->gelu_ffn = true;
    if (m->n_layer == (m->arch == ED_ARCH_GEMMA2 ? 46 : 62))
        m->attn_scale = 1.0f / sqrtf((float)(m->n_embd / m->n_head));
    return 0;
}

static int read_hparams(ed_model_t *m, const ed_gguf_t *gguf, const char *arch, char err[ED_ERR_LEN])
{
    int rc;
    if ((rc = get_dim(gguf, arch, "embedding_length", 0, &m->n_embd, err)) ||
        (rc = get_dim(gguf, arch, "block_count", 0, &m->n_layer, err)) ||
        (rc = get_dim(gguf, arch, "feed_forward_length", 0, &m->n_ff, err)) ||
        (rc = get_dim(gguf, arch, "attention.head_count", 0, &m->n_head, err)) ||
        (rc = get_dim(gguf, arch, "attention.head_count_kv", m->n_head, &m->n_kv_head, err)) ||
        (rc = get_dim(gguf, arch, "context_length", 0, &m->n_ctx_train, err)))
        return rc;
    char key_length_key[128];
    snprintf(key_length_key, sizeof key_length_key, "%s.attention.key_length", arch);
    uint32_t given_key_length = 0;
    bool has_key_length = ed_gguf_get_u32(gguf, key_length_key, &given_key_length) == 0;
    /* qwen3 gives attention.key_length: its heads need not divide the width */
    if ((!has_key_length && m->n_embd % m->n_head != 0) || m->n_head % m->n_kv_head != 0) {
        snprintf(err, ED_ERR_LEN,
                 "%s: embedding_length %d, head_count %d, head_count_kv %d: the heads must divide "
                 "the width and the KV heads the heads",
                 arch, m->n_embd, m->n_head, m->n_kv_head);
        return ED_EFORMAT;
    }
    int key_length = 0, value_length = 0;
    if ((rc = get_dim(gguf, arch, "attention.key_length", m->n_embd / m->n_head, &key_length, err)) ||
        (rc = get_dim(gguf, arch, "attention.value_length", key_length, &value_length, err)))
        return rc;
    if (key_length != value_length || key_length % 2 != 0) {
        snprintf(err, ED_ERR_LEN, "%s: attention.key_length %d, value_length %d: must be equal and even",
                 arch, key_length, value_length);
        return ED_EUNSUPPORTED;
    }
    /* key_length is free of the width (qwen3): keep the head products in range */
    if ((int64_t)m->n_head * key_length > INT32_MAX / 4) {
        snprintf(err, ED_ERR_LEN, "%s: head_count %d x attention.key_length %d is too large", arch, m->n_head,
                 key_length);
        return ED_EFORMAT;
    }
    m->head_dim = key_length;
    m->q_dim = m->n_head * m->head_dim;
    m->kv_dim = m->n_kv_head * m->head_dim;

    if ((rc = get_positive_f32(gguf, arch, "attention.layer_norm_rms_epsilon", 1e-5f, &m->rms_eps, err)) ||
        (rc = get_dim(gguf, arch, "rope.dimension_count", m->head_dim, &m->rope.n_rot, err)) ||
        (rc = get_positive_f32(gguf, arch, "rope.freq_base", 10000.0f, &m->rope.freq_base, err)) ||
        (rc = read_rope_scaling(gguf, arch, &m->rope.freq_scale, err)) ||
        (rc = get_dim(gguf, arch, "rope.scaling.original_context_length", m->n_ctx_train, &m->n_ctx_orig, err)) ||
        (rc = get_positive_f32(gguf, arch, "rope.scaling.attn_factor", 1.0f, &m->rope_attn_factor, err)))
        return rc;
    if (m->rope.n_rot % 2 != 0 || m->rope.n_rot > m->head_dim) {
        snprintf(err, ED_ERR_LEN, "%s.rope.dimension_count %d: expected even and at most the head size %d",
                 arch, m->rope.n_rot, m->head_dim);
        return ED_EFORMAT;
    }
    m->rope.neox = ARCHS[m->arch].neox;
    return read_gemma_hparams(m, gguf, arch, err);
}

/* ------------------------------------------------------------- tensors ---- */

/* The rows [first, first + n) of `whole` (rows of n_in elements) as a matrix
 * of its own: phi3's fused tensors are row blocks, so each part multiplies
 * (and repacks) like a separate tensor. */
static ed_matrix_t row_view(const ed_matrix_t *whole, int n_in, int first)
{
    uint64_t row = 0;
    ed_type_row_size(whole->type, (uint64_t)n_in, &row); /* the type was checked at find */
    return (ed_matrix_t){.data = (const uint8_t *)whole->data + row * (uint64_t)first, .type = whole->type};
}

/* q, k and v of layer l: three tensors, or phi3's attn_qkv (q_dim + 2 kv_dim
 * rows) where the file has it (llama.cpp's create_tensor_qkv accepts either). */
static int load_qkv(ed_model_t *m, const ed_gguf_t *gguf, int l, char err[ED_ERR_LEN])
{
    ed_layer_t *L = &m->layers[l];
    char name[96];
    int rc;
#define NAME(what) (snprintf(name, sizeof name, "blk.%d." what, l), name)
    if (ARCHS[m->arch].fused && ed_gguf_find_tensor(gguf, NAME("attn_qkv.weight"))) {
        ed_matrix_t qkv;
        if ((rc = ed_tensors_find_matrix(gguf, name, m->n_embd, (int64_t)m->q_dim + 2 * (int64_t)m->kv_dim, false,
                                         &qkv, err)))
            return rc;
        L->wq = row_view(&qkv, m->n_embd, 0);
        L->wk = row_view(&qkv, m->n_embd, m->q_dim);
        L->wv = row_view(&qkv, m->n_embd, m->q_dim + m->kv_dim);
        return 0;
    }
    bool biases = ARCHS[m->arch].qkv_bias;
    if ((rc = ed_tensors_find_matrix(gguf, NAME("attn_q.weight"), m->n_embd, m->q_dim, false, &L->wq, err)) ||
        (rc = ed_tensors_find_matrix(gguf, NAME("attn_k.weight"), m->n_embd, m->kv_dim, false, &L->wk, err)) ||
        (rc = ed_tensors_find_matrix(gguf, NAME("attn_v.weight"), m->n_embd, m->kv_dim, false, &L->wv, err)) ||
        (rc = ed_tensors_find_vector(gguf, NAME("attn_q.bias"), m->q_dim, !biases, &L->bq, err)) ||
        (rc = ed_tensors_find_vector(gguf, NAME("attn_k.bias"), m->kv_dim, !biases, &L->bk, err)) ||
        (rc = ed_tensors_find_vector(gguf, NAME("attn_v.bias"), m->kv_dim, !biases, &L->bv, err)))
        return rc;
#undef NAME
    return 0;
}

static int load_layer(ed_model_t *m, const ed_gguf_t *gguf, int l, char err[ED_ERR_LEN])
{
    ed_layer_t *L = &m->layers[l];
    const arch_info_t *a = &ARCHS[m->arch];
    char name[96];
    int rc;
    L->rope = a->no_rope_step == 0 || (l + 1) % a->no_rope_step != 0;
    L->sliding = a->swa_pattern > 0 && l % a->swa_pattern < a->swa_pattern - 1;
#define NAME(what) (snprintf(name, sizeof name, "blk.%d." what, l), name)
    if ((rc = ed_tensors_find_vector(gguf, NAME("attn_norm.weight"), m->n_embd, false, &L->attn_norm, err)) ||
        (rc = load_qkv(m, gguf, l, err)) ||
        (rc = ed_tensors_find_vector(gguf, NAME("attn_q_norm.weight"), m->head_dim, !a->qk_norm, &L->q_norm, err)) ||
        (rc = ed_tensors_find_vector(gguf, NAME("attn_k_norm.weight"), m->head_dim, !a->qk_norm, &L->k_norm, err)) ||
        (rc = ed_tensors_find_matrix(gguf, NAME("attn_output.weight"), m->q_dim, m->n_embd, false, &L->wo, err)) ||
        (rc = ed_tensors_find_vector(gguf, NAME("ffn_norm.weight"), m->n_embd, false, &L->ffn_norm, err)) ||
        (rc = ed_tensors_find_matrix(gguf, NAME("ffn_down.weight"), m->n_ff, m->n_embd, false, &L->w_down, err)) ||
        (rc = ed_tensors_find_vector(gguf, NAME("post_attention_norm.weight"), m->n_embd, !a->gemma,
                                     &L->attn_post_norm, err)) ||
        (rc = ed_tensors_find_vector(gguf, NAME("post_ffw_norm.weight"), m->n_embd, !a->gemma, &L->ffn_post_norm,
                                     err)))
        return rc;
    if (a->fused) {
        /* ffn_up {n_embd, 2 n_ff}: llama.cpp's ggml_swiglu takes silu of the first half */
        ed_matrix_t up;
        if ((rc = ed_tensors_find_matrix(gguf, NAME("ffn_up.weight"), m->n_embd, 2 * (int64_t)m->n_ff, false, &up, err)))
            return rc;
        L->w_gate = row_view(&up, m->n_embd, 0);
        L->w_up = row_view(&up, m->n_embd, m->n_ff);
        return 0;
    }
    if ((rc = ed_tensors_find_matrix(gguf, NAME("ffn_gate.weight"), m->n_embd, m->n_ff, false, &L->w_gate, err)) ||
        (rc = ed_tensors_find_matrix(gguf, NAME("ffn_up.weight"), m->n_embd, m->n_ff, false, &L->w_up, err)))
        return rc;
#undef NAME
    return 0;
}

int ed_model_load(ed_model_t *m, const ed_gguf_t *gguf, char err[ED_ERR_LEN])
{
    memset(m, 0, sizeof *m);
    ed_str_t arch_str;
    if (ed_gguf_get_str(gguf, "general.architecture", &arch_str) != 0) {
        snprintf(err, ED_ERR_LEN, "metadata key general.architecture is missing or not a string");
        return ED_EFORMAT;
    }
    int found = -1;
    for (int i = 0; i < ED_ARCH_COUNT && found < 0; i++)
        if (ed_str_eq(arch_str, ARCHS[i].name))
            found = i;
    if (found < 0) {
        snprintf(err, ED_ERR_LEN,
                 "general.architecture = \"%.*s\": edged runs llama, qwen2, qwen3, phi3, smollm3, gemma2 and gemma3",
                 (int)(arch_str.len > 64 ? 64 : arch_str.len), arch_str.ptr);
        return ED_EUNSUPPORTED;
    }
    m->arch = (ed_arch_t)found;
    const char *arch = ed_model_arch_name(m->arch);
    int rc = read_hparams(m, gguf, arch, err);
    if (rc != 0)
        return rc;

    const ed_gguf_tensor_t *embd = ed_gguf_find_tensor(gguf, "token_embd.weight");
    if (!embd || embd->n_dims != 2 || embd->ne[1] <= 0 || embd->ne[1] > INT32_MAX) {
        snprintf(err, ED_ERR_LEN, "tensor token_embd.weight is %s, expected [%d, n_vocab]",
                 embd ? "misshapen" : "missing", m->n_embd);
        return ED_EFORMAT;
    }
    m->n_vocab = (int)embd->ne[1];
    char key[128];
    snprintf(key, sizeof key, "%s.vocab_size", arch);
    uint32_t vocab_size = 0;
    if (ed_gguf_get_u32(gguf, key, &vocab_size) == 0 && vocab_size != (uint32_t)m->n_vocab) {
        snprintf(err, ED_ERR_LEN, "%s = %" PRIu32 " but token_embd.weight has %d rows", key, vocab_size,
                 m->n_vocab);
        return ED_EFORMAT;
    }
    if ((rc = ed_tensors_find_matrix(gguf, "token_embd.weight", m->n_embd, m->n_vocab, false, &m->token_embd, err)) ||
        (rc = ed_tensors_find_vector(gguf, "output_norm.weight", m->n_embd, false, &m->output_norm, err)) ||
        (rc = ed_tensors_find_matrix(gguf, "output.weight", m->n_embd, m->n_vocab, true, &m->output, err)) ||
        (rc = ed_tensors_find_vector(gguf, "rope_freqs.weight", m->rope.n_rot / 2, true, &m->rope.freq_factors, err)) ||
        (rc = ed_tensors_find_vector(gguf, "rope_factors_long.weight", m->rope.n_rot / 2, true, &m->rope_long, err)) ||
        (rc = ed_tensors_find_vector(gguf, "rope_factors_short.weight", m->rope.n_rot / 2, true, &m->rope_short, err)))
        return rc;
    if (!m->rope_long != !m->rope_short)
        return ed_errf(err, ED_EFORMAT, "tensor rope_factors_%s.weight is missing (the file has the %s factors)",
                       m->rope_long ? "short" : "long", m->rope_long ? "long" : "short");
    m->tied = m->output.data == NULL;
    if (m->tied)
        m->output = m->token_embd;

    /* bound the allocation below by what the file holds: a count from the
     * metadata alone could ask for gigabytes of layer records */
    if ((uint64_t)m->n_layer * TENSORS_PER_BLOCK(m->arch) > ed_gguf_n_tensors(gguf)) {
        snprintf(err, ED_ERR_LEN, "%s.block_count = %d: that needs at least %" PRIu64 " tensors, the file has %" PRIu64,
                 arch, m->n_layer, (uint64_t)m->n_layer * TENSORS_PER_BLOCK(m->arch), ed_gguf_n_tensors(gguf));
        return ED_EFORMAT;
    }
    m->layers = calloc((size_t)m->n_layer, sizeof *m->layers);
    if (!m->layers) {
        snprintf(err, ED_ERR_LEN, "out of memory for %d layers", m->n_layer);
        return ED_ENOMEM;
    }
    for (int l = 0; l < m->n_layer; l++)
        if ((rc = load_layer(m, gguf, l, err)) != 0)
            goto fail;
    return 0;

fail:
    ed_model_free(m);
    return rc;
}

/* Drops the pages of [data, data + bytes) from this process (the mapping
 * is private and read-only: a later access reads the page cache again). */
static void release_mapped(const void *data, size_t bytes)
{
    long page = sysconf(_SC_PAGESIZE);
    uintptr_t begin = ((uintptr_t)data + (uintptr_t)page - 1) / (uintptr_t)page * (uintptr_t)page;
    uintptr_t end = ((uintptr_t)data + bytes) / (uintptr_t)page * (uintptr_t)page;
    if (page > 0 && end > begin)
        madvise((void *)begin, end - begin, MADV_DONTNEED);
}

#define REPACK_ROWS_PER_CHUNK 64 /* rows a pool chunk copies */

/* One matrix copied over the pool, chunks of rows at a time. */
typedef struct {
    int type;         /* the file type */
    const void *src;
    void *dst;
    int n_in, n_out;
    size_t row_bytes; /* of a source row */
} repack_job_t;

static void repack_chunk(void *arg, int chunk, int thread)
{
    const repack_job_t *job = arg;
    (void)thread;
    int64_t begin = (int64_t)chunk * REPACK_ROWS_PER_CHUNK;
    int64_t end = begin + REPACK_ROWS_PER_CHUNK < job->n_out ? begin + REPACK_ROWS_PER_CHUNK : job->n_out;
    ed_repack_rows(job->type, job->src, job->dst, job->n_in, begin, end);
    /* the pages read are dropped at once: a large matrix (a tied head of a
     * 262144-token vocabulary) is never resident twice; the pages a chunk
     * shares with the next go with the whole matrix's release */
    release_mapped((const uint8_t *)job->src + (size_t)begin * job->row_bytes,
                   (size_t)(end - begin) * job->row_bytes);
}

/* The bytes of `mat`'s repacked copy (a multiple of 64), or 0 when it
 * stays as it is. */
static size_t repack_bytes(const ed_matrix_t *mat, int n_in, int n_out, const ed_kernels_t *k)
{
    int to = ed_repack_type(mat->type);
    uint64_t from_row = 0, to_row = 0;
    if (to < 0 || !k->gemm[to] || mat->owned || ed_type_row_size(mat->type, (uint64_t)n_in, &from_row) != 0 ||
        ed_type_row_size(to, (uint64_t)n_in, &to_row) != 0)
        return 0;
    return (size_t)(to_row * (uint64_t)n_out + 63) / 64 * 64;
}

/* Repacks `mat` into `copy` (repack_bytes of it), over the pool. */
static void repack_matrix(ed_matrix_t *mat, int n_in, int n_out, ed_pool_t *pool, void *copy)
{
    uint64_t from_row = 0;
    ed_type_row_size(mat->type, (uint64_t)n_in, &from_row);
    repack_job_t job = {mat->type, mat->data, copy, n_in, n_out, (size_t)from_row};
    ed_pool_run(pool, ED_POOL_HIGH, (n_out + REPACK_ROWS_PER_CHUNK - 1) / REPACK_ROWS_PER_CHUNK, repack_chunk, &job);
    release_mapped(mat->data, (size_t)(from_row * (uint64_t)n_out));
    mat->data = copy;
    mat->type = ed_repack_type(mat->type);
    mat->owned = copy;
}

typedef struct {
    ed_matrix_t *mat;
    int n_in, n_out;
} repack_item_t;

/* The matrices of layer l (l < n_layer) or the output head (l == n_layer). */
static int repack_items(ed_model_t *m, int l, repack_item_t items[7])
{
    if (l == m->n_layer) {
        items[0] = (repack_item_t){&m->output, m->n_embd, m->n_vocab};
        return 1;
    }
    ed_layer_t *L = &m->layers[l];
    items[0] = (repack_item_t){&L->wq, m->n_embd, m->q_dim};
    items[1] = (repack_item_t){&L->wk, m->n_embd, m->kv_dim};
    items[2] = (repack_item_t){&L->wv, m->n_embd, m->kv_dim};
    items[3] = (repack_item_t){&L->wo, m->q_dim, m->n_embd};
    items[4] = (repack_item_t){&L->w_gate, m->n_embd, m->n_ff};
    items[5] = (repack_item_t){&L->w_up, m->n_embd, m->n_ff};
    items[6] = (repack_item_t){&L->w_down, m->n_ff, m->n_embd};
    return 7;
}

int ed_model_repack(ed_model_t *m, const ed_kernels_t *k, ed_pool_t *pool, char err[ED_ERR_LEN])
{
    repack_item_t items[7];
    size_t total = 0;
    for (int l = 0; l <= m->n_layer; l++)
        for (int i = 0, n = repack_items(m, l, items); i < n; i++)
            total += repack_bytes(items[i].mat, items[i].n_in, items[i].n_out, k);
    if (total == 0)
        return 0;
    uint8_t *arena = ed_alloc_streamed(total);
    if (!arena) {
        snprintf(err, ED_ERR_LEN, "out of memory for %zu bytes of repacked weights", total);
        return ED_ENOMEM;
    }
    m->repacked = arena;
    for (int l = 0; l <= m->n_layer; l++)
        for (int i = 0, n = repack_items(m, l, items); i < n; i++) {
            size_t bytes = repack_bytes(items[i].mat, items[i].n_in, items[i].n_out, k);
            if (bytes > 0)
                repack_matrix(items[i].mat, items[i].n_in, items[i].n_out, pool, arena);
            arena += bytes;
        }
    return 0;
}

void ed_model_free(ed_model_t *m)
{
    if (!m)
        return;
    free(m->repacked);
    m->repacked = NULL;
    free(m->layers);
    m->layers = NULL;
}
