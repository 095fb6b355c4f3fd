/* lora.c - reads and writes llama.cpp's LoRA GGUF (llama.cpp
 * src/llama-adapter.cpp, llama_adapter_lora_init_impl, and
 * convert_lora_to_gguf.py; the shapes are in lora.h). The reader makes
 * llama.cpp's checks in its order (metadata, suffixes, pairs, base tensors,
 * shapes), then edged's (types, rank, targets it applies, fingerprint). */
#include "model/lora.h"

#include "kernels/quant.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GGUF_ALIGNMENT 32

static const char *const role_names[ED_LORA_PER_LAYER] = {
    "attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down",
};

/* ------------------------------------------------------------ fingerprint -- */

#define FNV_OFFSET 0xcbf29ce484222325u
#define FNV_PRIME 0x100000001b3u

static uint64_t fnv1a(uint64_t h, const void *data, size_t n)
{
    const uint8_t *p = data;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * FNV_PRIME;
    return h;
}

void ed_lora_fingerprint(const ed_gguf_t *base, char out[ED_LORA_FINGERPRINT_LEN])
{
    uint64_t h = FNV_OFFSET, n = ed_gguf_n_tensors(base);
    h = fnv1a(h, &n, sizeof n);
    for (uint64_t i = 0; i < n; i++) {
        const ed_gguf_tensor_t *t = ed_gguf_tensor(base, i);
        uint64_t fields[2 + ED_GGUF_MAX_DIMS] = {t->name.len, (uint64_t)t->type};
        for (int d = 0; d < ED_GGUF_MAX_DIMS; d++)
            fields[2 + d] = (uint64_t)t->ne[d];
        h = fnv1a(h, t->name.ptr, t->name.len);
        h = fnv1a(h, fields, sizeof fields);
        h = fnv1a(h, &t->offset, sizeof t->offset);
    }
    snprintf(out, ED_LORA_FINGERPRINT_LEN, "fnv1a64:%016" PRIx64, h);
}

/* ----------------------------------------------------------------- access -- */

static int n_targets(int n_layer)
{
    return n_layer * ED_LORA_PER_LAYER + 2;
}

static const ed_lora_pair_t *pair_at(const ed_lora_t *lora, int index)
{
    const ed_lora_pair_t *p = &lora->pairs[index];
    return p->rank > 0 ? p : NULL;
}

const ed_lora_pair_t *ed_lora_block(const ed_lora_t *lora, int layer, ed_lora_role_t role)
{
    if (layer < 0 || layer >= lora->n_layer || role < 0 || role >= ED_LORA_PER_LAYER)
        return NULL;
    return pair_at(lora, layer * ED_LORA_PER_LAYER + (int)role);
}

const ed_lora_pair_t *ed_lora_token_embd(const ed_lora_t *lora)
{
    return pair_at(lora, lora->n_layer * ED_LORA_PER_LAYER);
}

const ed_lora_pair_t *ed_lora_output(const ed_lora_t *lora)
{
    return pair_at(lora, lora->n_layer * ED_LORA_PER_LAYER + 1);
}

float ed_lora_scale(const ed_lora_t *lora, const ed_lora_pair_t *pair, float user_scale)
{
    /* llama.cpp: alpha ? user_scale * alpha / rank : user_scale (an alpha of 0 counts as absent) */
    if (!lora->has_alpha || lora->alpha == 0.0f)
        return user_scale;
    return user_scale * lora->alpha / (float)pair->rank;
}

/* Target index of base tensor `name` ("blk.3.attn_v.weight"), and the base
 * matrix's columns and rows; -1 when edged applies no adapter to it. */
static int target_of(const ed_model_t *m, const char *name, int *n_in, int *n_out)
{
    if (strcmp(name, "token_embd.weight") == 0) {
        *n_in = m->n_embd, *n_out = m->n_vocab;
        return m->n_layer * ED_LORA_PER_LAYER;
    }
    if (strcmp(name, "output.weight") == 0) {
        if (m->tied)
            return -1;
        *n_in = m->n_embd, *n_out = m->n_vocab;
        return m->n_layer * ED_LORA_PER_LAYER + 1;
    }
    int layer = -1, used = 0;
    char role[24];
    if (sscanf(name, "blk.%d.%23[a-z_].weight%n", &layer, role, &used) != 2 || name[used] != '\0' || layer < 0 ||
        layer >= m->n_layer)
        return -1;
    char canonical[128];
    snprintf(canonical, sizeof canonical, "blk.%d.%s.weight", layer, role);
    if (strcmp(canonical, name) != 0) /* "blk.01." or "blk.+1." */
        return -1;
    const int dims[ED_LORA_PER_LAYER][2] = {
        {m->n_embd, m->q_dim},  {m->n_embd, m->kv_dim}, {m->n_embd, m->kv_dim}, {m->q_dim, m->n_embd},
        {m->n_embd, m->n_ff},   {m->n_embd, m->n_ff},   {m->n_ff, m->n_embd},
    };
    for (int r = 0; r < ED_LORA_PER_LAYER; r++)
        if (strcmp(role, role_names[r]) == 0) {
            *n_in = dims[r][0], *n_out = dims[r][1];
            return layer * ED_LORA_PER_LAYER + r;
        }
    return -1;
}

/* The base tensor name of target index i, into buf. */
static const char *target_name(int n_layer, int i, char *buf, size_t cap)
{
    if (i == n_layer * ED_LORA_PER_LAYER)
        snprintf(buf, cap, "token_embd.weight");
    else if (i == n_layer * ED_LORA_PER_LAYER + 1)
        snprintf(buf, cap, "output.weight");
    else
        snprintf(buf, cap, "blk.%d.%s.weight", i / ED_LORA_PER_LAYER, role_names[i % ED_LORA_PER_LAYER]);
    return buf;
}

/* ----------------------------------------------------------------- reader -- */

void ed_lora_free(ed_lora_t *lora)
{
    if (!lora)
        return;
    for (int i = 0; lora->pairs && i < n_targets(lora->n_layer); i++) {
        free(lora->pairs[i].a);
        free(lora->pairs[i].b);
    }
    free(lora->pairs);
    free(lora->training);
    free(lora);
}

/* The stored type of `key`, or -1 when absent (the typed getters convert
 * between types; llama.cpp's gguf_get_val_* do not). */
static int stored_type(const ed_gguf_t *g, const char *key)
{
    for (uint64_t i = 0; i < ed_gguf_n_kv(g); i++) {
        ed_str_t k;
        ed_gguf_vtype_t type;
        const void *raw;
        uint64_t raw_bytes;
        if (ed_gguf_kv_at(g, i, &k, &type, &raw, &raw_bytes) == 0 && ed_str_eq(k, key))
            return (int)type;
    }
    return -1;
}

/* A string key that must equal `want`. */
static int expect_str(const ed_gguf_t *g, const char *key, const char *want, int code, char err[ED_ERR_LEN])
{
    ed_str_t s;
    if (stored_type(g, key) != ED_GGUF_STRING || ed_gguf_get_str(g, key, &s) != 0)
        return ed_errf(err, ED_EFORMAT, "metadata key %s: expected the string \"%s\", it is %s", key, want,
                       stored_type(g, key) < 0 ? "missing" : ed_gguf_vtype_name(stored_type(g, key)));
    if (!ed_str_eq(s, want))
        return ed_errf(err, code, "metadata key %s = \"%.*s\", expected \"%s\"", key, (int)(s.len > 64 ? 64 : s.len),
                       s.ptr, want);
    return 0;
}

/* An optional key of edged's: absent, or of type `type`. */
static int optional_key(const ed_gguf_t *g, const char *key, ed_gguf_vtype_t type, bool *present,
                        char err[ED_ERR_LEN])
{
    int stored = stored_type(g, key);
    *present = stored >= 0;
    if (stored >= 0 && stored != (int)type)
        return ed_errf(err, ED_EFORMAT, "metadata key %s: expected a %s, the file holds a %s", key,
                       ed_gguf_vtype_name(type), ed_gguf_vtype_name((ed_gguf_vtype_t)stored));
    return 0;
}

static void copy_str(char *dst, size_t cap, ed_str_t s)
{
    size_t n = s.len < cap - 1 ? (size_t)s.len : cap - 1;
    memcpy(dst, s.ptr, n);
    dst[n] = '\0';
}

static int read_metadata(ed_lora_t *lora, const ed_gguf_t *g, const ed_gguf_t *base_gguf, const ed_model_t *model,
                         char err[ED_ERR_LEN])
{
    int rc;
    const char *arch = ed_model_arch_name(model->arch);
    if ((rc = expect_str(g, "general.type", "adapter", ED_EFORMAT, err)) ||
        (rc = expect_str(g, "general.architecture", arch, ED_EINVAL, err)) ||
        (rc = expect_str(g, "adapter.type", "lora", ED_EFORMAT, err)))
        return rc;
    snprintf(lora->arch, sizeof lora->arch, "%s", arch);

    bool present;
    if ((rc = optional_key(g, "adapter.lora.alpha", ED_GGUF_FLOAT32, &present, err)) != 0)
        return rc;
    lora->has_alpha = present;
    if (present) {
        ed_gguf_get_f32(g, "adapter.lora.alpha", &lora->alpha);
        if (!(fabsf(lora->alpha) <= 1e30f)) /* llama.cpp takes any value; inf and NaN make no adapter */
            return ed_errf(err, ED_EFORMAT, "metadata key adapter.lora.alpha = %g: expected a finite number",
                           (double)lora->alpha);
    }
    if (stored_type(g, "adapter.alora.invocation_tokens") >= 0)
        return ed_errf(err, ED_EUNSUPPORTED,
                       "metadata key adapter.alora.invocation_tokens: activated LoRA (aLoRA) adapters are not "
                       "supported, only plain LoRA");

    ed_str_t s;
    if ((rc = optional_key(g, "edged.adapter.base_fingerprint", ED_GGUF_STRING, &present, err)) != 0)
        return rc;
    if (present) {
        ed_gguf_get_str(g, "edged.adapter.base_fingerprint", &s);
        char ours[ED_LORA_FINGERPRINT_LEN];
        ed_lora_fingerprint(base_gguf, ours);
        if (!ed_str_eq(s, ours))
            return ed_errf(err, ED_EINVAL,
                           "metadata key edged.adapter.base_fingerprint = \"%.*s\": the adapter was made for another "
                           "base model (this base is %s)",
                           (int)(s.len > 40 ? 40 : s.len), s.ptr, ours);
        copy_str(lora->fingerprint, sizeof lora->fingerprint, s);
    }
    if ((rc = optional_key(g, "edged.adapter.name", ED_GGUF_STRING, &present, err)) != 0)
        return rc;
    if (present && ed_gguf_get_str(g, "edged.adapter.name", &s) == 0)
        copy_str(lora->name, sizeof lora->name, s);
    if ((rc = optional_key(g, "edged.adapter.version", ED_GGUF_UINT32, &present, err)) != 0)
        return rc;
    if (present)
        ed_gguf_get_u32(g, "edged.adapter.version", &lora->version);
    if ((rc = optional_key(g, "edged.adapter.created", ED_GGUF_UINT64, &present, err)) != 0)
        return rc;
    if (present)
        ed_gguf_get_u64(g, "edged.adapter.created", &lora->created);
    if ((rc = optional_key(g, "edged.adapter.training", ED_GGUF_STRING, &present, err)) != 0)
        return rc;
    if (present && ed_gguf_get_str(g, "edged.adapter.training", &s) == 0) {
        if (!(lora->training = malloc(s.len + 1)))
            return ed_errf(err, ED_ENOMEM, "out of memory for the training summary");
        copy_str(lora->training, s.len + 1, s);
    }
    return 0;
}

static bool ends_with(const char *s, size_t len, const char *suffix)
{
    size_t n = strlen(suffix);
    return len >= n && memcmp(s + len - n, suffix, n) == 0;
}

/* Converts one half to f32; rows x cols must be its element count. */
static int to_f32(const ed_gguf_tensor_t *t, const char *name, float **out, char err[ED_ERR_LEN])
{
    if (t->type != ED_TYPE_F32 && t->type != ED_TYPE_F16 && t->type != ED_TYPE_Q8_0)
        return ed_errf(err, ED_EUNSUPPORTED, "tensor %s: type %s, expected f32, f16 or q8_0", name,
                       ed_type_info(t->type) ? ed_type_info(t->type)->name : "unknown");
    int64_t n = t->ne[0] * t->ne[1];
    if (!(*out = malloc((size_t)n * sizeof **out)))
        return ed_errf(err, ED_ENOMEM, "tensor %s: out of memory for %" PRId64 " floats", name, n);
    ed_quant_traits(t->type)->to_float(t->data, *out, n);
    return 0;
}

/* Checks one pair's shapes against its base matrix and converts it. */
static int load_pair(ed_lora_pair_t *p, bool token_embd, const char *base_name, int n_in, int n_out,
                     const ed_gguf_tensor_t *a, const ed_gguf_tensor_t *b, char err[ED_ERR_LEN])
{
    char a_name[112], b_name[112];
    snprintf(a_name, sizeof a_name, "%s.lora_a", base_name);
    snprintf(b_name, sizeof b_name, "%s.lora_b", base_name);
    const ed_gguf_tensor_t *halves[2] = {a, b};
    for (int h = 0; h < 2; h++)
        if (halves[h]->ne[2] != 1 || halves[h]->ne[3] != 1)
            return ed_errf(err, ED_EFORMAT, "tensor %s has %u dimensions, expected 2", h ? b_name : a_name,
                           halves[h]->n_dims);
    /* llama.cpp: W->ne[0] == a->ne[0] and W->ne[1] == b->ne[1] (token_embd:
     * A and B flipped, W->ne[0] == b->ne[1] and W->ne[1] == a->ne[1]) */
    int64_t a_outer = token_embd ? a->ne[1] : a->ne[0], b_outer = b->ne[1];
    int64_t want_a = token_embd ? n_out : n_in, want_b = token_embd ? n_in : n_out;
    if (a_outer != want_a)
        return ed_errf(err, ED_EFORMAT,
                       token_embd ? "tensor %s: shape [%" PRId64 ", %" PRId64 "], expected [rank, %" PRId64
                                    "] (n_vocab of %s; A and B are flipped for token_embd)"
                                  : "tensor %s: shape [%" PRId64 ", %" PRId64 "], expected [%" PRId64
                                    ", rank] (the columns of %s; a transposed lora_a, or another base model?)",
                       a_name, a->ne[0], a->ne[1], want_a, base_name);
    if (b_outer != want_b)
        return ed_errf(err, ED_EFORMAT,
                       "tensor %s: shape [%" PRId64 ", %" PRId64 "], expected [rank, %" PRId64
                       "] (the %s of %s; another base model?)",
                       b_name, b->ne[0], b->ne[1], want_b, token_embd ? "columns" : "rows", base_name);
    int64_t rank = token_embd ? a->ne[0] : a->ne[1];
    if (rank != b->ne[0])
        return ed_errf(err, ED_EFORMAT,
                       "tensor %s: rank %" PRId64 " but %s has rank %" PRId64
                       " (lora_a is not transposed? adapters from the old finetune example are not supported)",
                       b_name, b->ne[0], a_name, rank);
    if (rank < 1 || rank > ED_LORA_MAX_RANK)
        return ed_errf(err, ED_EUNSUPPORTED, "tensor %s: rank %" PRId64 ", edged applies ranks 1 to %d", b_name,
                       rank, ED_LORA_MAX_RANK);
    int rc;
    if ((rc = to_f32(a, a_name, &p->a, err)) != 0 || (rc = to_f32(b, b_name, &p->b, err)) != 0)
        return rc;
    p->rank = (int)rank;
    p->n_in = n_in;
    p->n_out = n_out;
    p->a_type = a->type;
    p->b_type = b->type;
    return 0;
}

int ed_lora_load(ed_lora_t **out, const ed_gguf_t *g, const ed_gguf_t *base_gguf, const ed_model_t *model,
                 char err[ED_ERR_LEN])
{
    *out = NULL;
    ed_lora_t *lora = calloc(1, sizeof *lora);
    const ed_gguf_tensor_t **a_of = NULL, **b_of = NULL;
    int n = n_targets(model->n_layer), rc;
    if (!lora || !(lora->pairs = calloc((size_t)n, sizeof *lora->pairs)) || !(a_of = calloc((size_t)n, sizeof *a_of)) ||
        !(b_of = calloc((size_t)n, sizeof *b_of))) {
        rc = ed_errf(err, ED_ENOMEM, "out of memory for an adapter of %d layers", model->n_layer);
        goto fail;
    }
    lora->n_layer = model->n_layer;
    if ((rc = read_metadata(lora, g, base_gguf, model, err)) != 0)
        goto fail;

    /* pair the halves by base name */
    for (uint64_t i = 0; i < ed_gguf_n_tensors(g); i++) {
        const ed_gguf_tensor_t *t = ed_gguf_tensor(g, i);
        char name[96];
        copy_str(name, sizeof name, t->name);
        size_t len = strlen(name);
        bool is_a = ends_with(name, len, ".lora_a"), is_b = ends_with(name, len, ".lora_b");
        if (!is_a && !is_b) {
            if (ends_with(name, len, "_norm.weight"))
                continue; /* llama.cpp skips norm vectors too */
            rc = ed_errf(err, ED_EFORMAT, "tensor %s: unexpected suffix, expected <base tensor>.lora_a or .lora_b",
                         name);
            goto fail;
        }
        name[len - strlen(".lora_a")] = '\0';
        int n_in = 0, n_out = 0, target = target_of(model, name, &n_in, &n_out);
        if (target < 0) {
            rc = ed_gguf_find_tensor(base_gguf, name)
                     ? ed_errf(err, ED_EUNSUPPORTED,
                               "tensor %s.lora_%c: edged applies adapters to attn_q, attn_k, attn_v, attn_output, "
                               "ffn_gate, ffn_up, ffn_down, output and token_embd only",
                               name, is_a ? 'a' : 'b')
                     : ed_errf(err, ED_EFORMAT, "tensor %s.lora_%c: %s does not exist in the base model (another base?)",
                               name, is_a ? 'a' : 'b', name);
            goto fail;
        }
        (is_a ? a_of : b_of)[target] = t;
    }
    for (int i = 0; i < n; i++) {
        if (!a_of[i] && !b_of[i])
            continue;
        char base_name[96];
        target_name(model->n_layer, i, base_name, sizeof base_name);
        if (!a_of[i] || !b_of[i]) {
            rc = ed_errf(err, ED_EFORMAT, "tensor pair for %s is missing one component: %s.%s is absent", base_name,
                         base_name, a_of[i] ? "lora_b" : "lora_a");
            goto fail;
        }
        int n_in = 0, n_out = 0;
        target_of(model, base_name, &n_in, &n_out);
        ed_lora_pair_t *p = &lora->pairs[i];
        if ((rc = load_pair(p, i == model->n_layer * ED_LORA_PER_LAYER, base_name, n_in, n_out, a_of[i], b_of[i],
                            err)) != 0)
            goto fail;
        lora->n_pairs++;
        lora->max_rank = p->rank > lora->max_rank ? p->rank : lora->max_rank;
        lora->bytes += ((size_t)p->n_in + (size_t)p->n_out) * (size_t)p->rank * sizeof(float);
    }
    if (lora->n_pairs == 0) {
        rc = ed_errf(err, ED_EFORMAT, "the adapter holds no lora_a / lora_b tensor pairs");
        goto fail;
    }
    free(a_of);
    free(b_of);
    *out = lora;
    return 0;
fail:
    free(a_of);
    free(b_of);
    ed_lora_free(lora);
    return rc;
}

int ed_lora_open(ed_lora_t **out, const char *path, const ed_gguf_t *base_gguf, const ed_model_t *model,
                 char err[ED_ERR_LEN])
{
    *out = NULL;
    ed_gguf_t *g = NULL;
    char sub[ED_ERR_LEN];
    int rc = ed_gguf_open(&g, path, sub);
    if (rc != 0)
        return strstr(sub, path) ? ed_errf(err, rc, "%s", sub) : ed_errf(err, rc, "%s: %s", path, sub);
    if ((rc = ed_lora_load(out, g, base_gguf, model, sub)) != 0)
        ed_errf(err, rc, "%s: %s", path, sub);
    ed_gguf_close(g);
    return rc;
}

/* ----------------------------------------------------------------- writer -- */

typedef struct {
    uint8_t *data;
    size_t len, cap;
    bool failed;
} buf_t;

static void put(buf_t *b, const void *p, size_t n)
{
    if (b->failed || n == 0)
        return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n)
            cap *= 2;
        uint8_t *grown = realloc(b->data, cap);
        if (!grown) {
            b->failed = true;
            return;
        }
        b->data = grown, b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

static void put_u32(buf_t *b, uint32_t v) { put(b, &v, 4); }
static void put_u64(buf_t *b, uint64_t v) { put(b, &v, 8); }

static void put_str(buf_t *b, const char *s)
{
    put_u64(b, strlen(s));
    put(b, s, strlen(s));
}

static void put_pad(buf_t *b)
{
    static const uint8_t zeros[GGUF_ALIGNMENT];
    put(b, zeros, (GGUF_ALIGNMENT - b->len % GGUF_ALIGNMENT) % GGUF_ALIGNMENT);
}

static void key_str(buf_t *b, uint64_t *n_kv, const char *key, const char *value)
{
    put_str(b, key);
    put_u32(b, ED_GGUF_STRING);
    put_str(b, value);
    (*n_kv)++;
}

int ed_lora_serialize(const ed_lora_t *lora, void **out, size_t *size, char err[ED_ERR_LEN])
{
    *out = NULL, *size = 0;
    buf_t kvs = {0}, infos = {0}, file = {0};
    uint64_t n_kv = 0, n_tensors = 0, offset = 0;
    key_str(&kvs, &n_kv, "general.architecture", lora->arch);
    key_str(&kvs, &n_kv, "general.type", "adapter");
    key_str(&kvs, &n_kv, "general.name", lora->name[0] ? lora->name : "LoRA Adapter");
    key_str(&kvs, &n_kv, "adapter.type", "lora");
    if (lora->has_alpha) {
        put_str(&kvs, "adapter.lora.alpha");
        put_u32(&kvs, ED_GGUF_FLOAT32);
        put(&kvs, &lora->alpha, 4);
        n_kv++;
    }
    if (lora->fingerprint[0])
        key_str(&kvs, &n_kv, "edged.adapter.base_fingerprint", lora->fingerprint);
    if (lora->name[0])
        key_str(&kvs, &n_kv, "edged.adapter.name", lora->name);
    if (lora->version) {
        put_str(&kvs, "edged.adapter.version");
        put_u32(&kvs, ED_GGUF_UINT32);
        put_u32(&kvs, lora->version);
        n_kv++;
    }
    if (lora->created) {
        put_str(&kvs, "edged.adapter.created");
        put_u32(&kvs, ED_GGUF_UINT64);
        put_u64(&kvs, lora->created);
        n_kv++;
    }
    if (lora->training)
        key_str(&kvs, &n_kv, "edged.adapter.training", lora->training);

    int token_embd = lora->n_layer * ED_LORA_PER_LAYER;
    for (int i = 0; i < n_targets(lora->n_layer); i++) {
        const ed_lora_pair_t *p = pair_at(lora, i);
        if (!p)
            continue;
        char base_name[96], name[112];
        target_name(lora->n_layer, i, base_name, sizeof base_name);
        /* token_embd: lora_a ne [rank, n_vocab], lora_b ne [rank, n_embd]; else [n_in, rank], [rank, n_out] */
        int64_t shapes[2][2] = {{i == token_embd ? p->rank : p->n_in, i == token_embd ? p->n_out : p->rank},
                                {p->rank, i == token_embd ? p->n_in : p->n_out}};
        for (int h = 0; h < 2; h++) {
            snprintf(name, sizeof name, "%s.lora_%c", base_name, h ? 'b' : 'a');
            put_str(&infos, name);
            put_u32(&infos, 2);
            put_u64(&infos, (uint64_t)shapes[h][0]);
            put_u64(&infos, (uint64_t)shapes[h][1]);
            put_u32(&infos, ED_TYPE_F32);
            put_u64(&infos, offset);
            uint64_t bytes = (uint64_t)(shapes[h][0] * shapes[h][1]) * sizeof(float);
            offset += (bytes + GGUF_ALIGNMENT - 1) / GGUF_ALIGNMENT * GGUF_ALIGNMENT;
            n_tensors++;
        }
    }
    put(&file, "GGUF", 4);
    put_u32(&file, 3);
    put_u64(&file, n_tensors);
    put_u64(&file, n_kv);
    put(&file, kvs.data, kvs.len);
    put(&file, infos.data, infos.len);
    put_pad(&file);
    for (int i = 0; i < n_targets(lora->n_layer); i++) {
        const ed_lora_pair_t *p = pair_at(lora, i);
        if (!p)
            continue;
        put(&file, p->a, (size_t)p->rank * (size_t)(i == token_embd ? p->n_out : p->n_in) * sizeof(float));
        put_pad(&file);
        put(&file, p->b, (size_t)p->rank * (size_t)(i == token_embd ? p->n_in : p->n_out) * sizeof(float));
        put_pad(&file);
    }
    bool failed = kvs.failed || infos.failed || file.failed;
    free(kvs.data);
    free(infos.data);
    if (failed) {
        free(file.data);
        return ed_errf(err, ED_ENOMEM, "out of memory serialising an adapter of %zu bytes", lora->bytes);
    }
    *out = file.data, *size = file.len;
    return 0;
}

int ed_lora_write(const ed_lora_t *lora, const char *path, char err[ED_ERR_LEN])
{
    void *data;
    size_t size;
    int rc = ed_lora_serialize(lora, &data, &size, err);
    if (rc != 0)
        return rc;
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    bool ok = f && fwrite(data, 1, size, f) == size;
    if (f && fclose(f) != 0)
        ok = false;
    free(data);
    if (!ok || rename(tmp, path) != 0) {
        remove(tmp);
        return ed_errf(err, ED_EIO, "%s: cannot write the adapter", path);
    }
    return 0;
}
