/* info.c - the model summary of info.h: metadata an operator cares about,
 * the tensor table, totals per type and a memory estimate (mapped file + the
 * padding of the interleaved copies + f16 KV cache + compute buffers). Everything is read through gguf.h; values the
 * file lacks print as "-" and the estimate says which key it missed. */
#include "cli/info.h"
#include "model/bert.h"
#include "model/chat.h"
#include "model/gguf.h"
#include "model/model.h"
#include "model/vocab.h"

#include "kernels/kernels.h"
#include "kernels/memory.h"
#include "kernels/repack.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The batch the compute-buffer estimate assumes for prompt processing. */
#define INFO_BATCH 512

/* Prints a value as stored; arrays as their type and length. */
static void print_value(FILE *out, ed_gguf_vtype_t type, const void *raw, uint64_t raw_bytes)
{
    union {
        uint8_t u8;
        int8_t i8;
        uint16_t u16;
        int16_t i16;
        uint32_t u32;
        int32_t i32;
        float f32;
        uint64_t u64;
        int64_t i64;
        double f64;
    } v;
    memcpy(&v, raw, raw_bytes < sizeof v ? raw_bytes : sizeof v);
    switch (type) {
    case ED_GGUF_UINT8: fprintf(out, "%u", v.u8); break;
    case ED_GGUF_INT8: fprintf(out, "%d", v.i8); break;
    case ED_GGUF_UINT16: fprintf(out, "%u", v.u16); break;
    case ED_GGUF_INT16: fprintf(out, "%d", v.i16); break;
    case ED_GGUF_UINT32: fprintf(out, "%" PRIu32, v.u32); break;
    case ED_GGUF_INT32: fprintf(out, "%" PRId32, v.i32); break;
    case ED_GGUF_FLOAT32: fprintf(out, "%g", v.f32); break;
    case ED_GGUF_BOOL: fprintf(out, "%s", v.u8 ? "true" : "false"); break;
    case ED_GGUF_UINT64: fprintf(out, "%" PRIu64, v.u64); break;
    case ED_GGUF_INT64: fprintf(out, "%" PRId64, v.i64); break;
    case ED_GGUF_FLOAT64: fprintf(out, "%g", v.f64); break;
    case ED_GGUF_STRING: {
        const char *s = (const char *)raw + 8;
        uint64_t len = raw_bytes - 8;
        int shown = len > 60 ? 60 : (int)len;
        fputc('"', out);
        for (int i = 0; i < shown; i++)
            fputc(s[i] == '\n' || s[i] == '\r' || s[i] == '\t' ? ' ' : s[i], out);
        fprintf(out, "\"%s", len > 60 ? "..." : "");
        break;
    }
    case ED_GGUF_ARRAY: {
        uint32_t elem_type;
        uint64_t n;
        memcpy(&elem_type, raw, 4);
        memcpy(&n, (const char *)raw + 4, 8);
        fprintf(out, "[%" PRIu64 " x %s]", n, ed_gguf_vtype_name((ed_gguf_vtype_t)elem_type));
        break;
    }
    }
}

/* Prints "<label> <value>" for `key`, or "-" when the file lacks it. */
static void print_key(FILE *out, const ed_gguf_t *g, const char *label, const char *key)
{
    fprintf(out, "%-36s ", label);
    for (uint64_t i = 0; i < ed_gguf_n_kv(g); i++) {
        ed_str_t k;
        ed_gguf_vtype_t type;
        const void *raw;
        uint64_t raw_bytes;
        ed_gguf_kv_at(g, i, &k, &type, &raw, &raw_bytes);
        if (ed_str_eq(k, key)) {
            print_value(out, type, raw, raw_bytes);
            fputc('\n', out);
            return;
        }
    }
    fprintf(out, "-\n");
}

static void print_bytes(FILE *out, uint64_t bytes)
{
    fprintf(out, "%14" PRIu64 " bytes (%9.2f MiB)", bytes, (double)bytes / (1024.0 * 1024.0));
}

static void print_bytes_row(FILE *out, const char *label, uint64_t bytes)
{
    fprintf(out, "%-36s", label);
    print_bytes(out, bytes);
    fputc('\n', out);
}

static void print_shape(FILE *out, const ed_gguf_tensor_t *t)
{
    char shape[96];
    int o = snprintf(shape, sizeof shape, "[");
    for (uint32_t d = 0; d < t->n_dims; d++)
        o += snprintf(shape + o, sizeof shape - (size_t)o, "%s%" PRId64, d ? ", " : "", t->ne[d]);
    snprintf(shape + o, sizeof shape - (size_t)o, "]");
    fprintf(out, "%-22s", shape);
}

static void print_tensors(FILE *out, const ed_gguf_t *g)
{
    uint64_t count[ED_TYPE_COUNT] = {0}, bytes[ED_TYPE_COUNT] = {0}, total = 0;
    fprintf(out, "\ntensors (%" PRIu64 "):\n", ed_gguf_n_tensors(g));
    for (uint64_t i = 0; i < ed_gguf_n_tensors(g); i++) {
        const ed_gguf_tensor_t *t = ed_gguf_tensor(g, i);
        fprintf(out, "  %-34.*s %-5s ", (int)t->name.len, t->name.ptr, ed_type_info(t->type)->name);
        print_shape(out, t);
        fprintf(out, " %12" PRIu64 "\n", t->size);
        count[t->type]++;
        bytes[t->type] += t->size;
        total += t->size;
    }
    if (!ed_gguf_n_tensors(g))
        return;
    fprintf(out, "\ntotals per type:\n");
    for (int type = 0; type < ED_TYPE_COUNT; type++)
        if (count[type]) {
            fprintf(out, "  %-5s %5" PRIu64 " tensors ", ed_type_info(type)->name, count[type]);
            print_bytes(out, bytes[type]);
            fputc('\n', out);
        }
    fprintf(out, "  all   %5" PRIu64 " tensors ", ed_gguf_n_tensors(g));
    print_bytes(out, total);
    fputc('\n', out);
}

/* The hyper-parameter `<arch>.<name>` as u32; *missing names the first key
 * that was absent or not a fitting integer. */
static uint32_t arch_u32(const ed_gguf_t *g, const char *arch, const char *name, uint32_t fallback,
                         bool required, const char **missing)
{
    char key[128];
    uint32_t v;
    snprintf(key, sizeof key, "%s.%s", arch, name);
    if (ed_gguf_get_u32(g, key, &v) == 0)
        return v;
    if (required && !*missing)
        *missing = name;
    return fallback;
}

/* The bytes ed_model_repack adds on this CPU: its copies of q4_0 / q8_0
 * matrices pad each row to whole groups of 8 blocks, and their arena is
 * whole huge pages (the file's pages it copies from are released, so the
 * copies cost only the padding). */
static uint64_t repack_padding(const ed_gguf_t *g)
{
    const ed_kernels_t *k = ed_kernels_select(NULL);
    bool tied = ed_gguf_find_tensor(g, "output.weight") == NULL;
    uint64_t copies = 0, file = 0;
    for (uint64_t i = 0; k && i < ed_gguf_n_tensors(g); i++) {
        const ed_gguf_tensor_t *t = ed_gguf_tensor(g, i);
        int to = ed_repack_type(t->type);
        uint64_t row = 0;
        if (to < 0 || !k->gemm[to] || t->n_dims != 2 || (!tied && ed_str_eq(t->name, "token_embd.weight")) ||
            ed_type_row_size(to, (uint64_t)t->ne[0], &row) != 0)
            continue;
        copies += (row * (uint64_t)t->ne[1] + 63) / 64 * 64;
        file += t->size;
    }
    uint64_t huge = ed_huge_page_bytes();
    if (copies >= huge)
        copies = (copies + huge - 1) / huge * huge;
    return copies - file;
}

static void print_memory(FILE *out, const ed_gguf_t *g, const char *arch, uint32_t n_ctx)
{
    const char *missing = NULL;
    uint64_t n_layer = arch_u32(g, arch, "block_count", 0, true, &missing);
    uint64_t n_embd = arch_u32(g, arch, "embedding_length", 0, true, &missing);
    uint64_t n_head = arch_u32(g, arch, "attention.head_count", 1, true, &missing);
    uint64_t n_head_kv = arch_u32(g, arch, "attention.head_count_kv", (uint32_t)n_head, false, &missing);
    uint64_t n_ff = arch_u32(g, arch, "feed_forward_length", 0, true, &missing);
    if (!n_ctx)
        n_ctx = arch_u32(g, arch, "context_length", 0, true, &missing);
    uint64_t head_dim = n_head ? n_embd / n_head : 0;
    head_dim = arch_u32(g, arch, "attention.key_length", (uint32_t)head_dim, false, &missing);
    ed_gguf_arr_t tokens;
    uint64_t n_vocab = ed_gguf_get_arr(g, "tokenizer.ggml.tokens", &tokens) == 0 ? tokens.n : 0;
    fprintf(out, "\nmemory at n_ctx %" PRIu32 ":\n", n_ctx);
    if (missing || !n_head || !n_ctx) {
        fprintf(out, "  cannot estimate: %s.%s is missing or not an integer\n", arch,
                missing ? missing : "attention.head_count");
        return;
    }
    /* Keys and values of every layer, f16: 2 * n_layer * n_ctx * n_head_kv * head_dim * 2 bytes. */
    uint64_t kv_bytes = 2 * n_layer * n_ctx * n_head_kv * head_dim * 2;
    /* A prompt batch of B tokens in f32: the residual stream and its three
     * scratch copies (4 n_embd), keys and values (2 n_head_kv head_dim), the
     * feed-forward pair (2 n_ff) and the attention scores (n_head n_ctx); plus
     * one row of logits. */
    uint64_t batch = n_ctx < INFO_BATCH ? n_ctx : INFO_BATCH;
    uint64_t compute_bytes = batch * (4 * n_embd + 2 * n_head_kv * head_dim + 2 * n_ff + n_head * n_ctx) * 4 +
                             n_vocab * 4;
    uint64_t mapped = ed_gguf_file_size(g), padding = repack_padding(g);
    print_bytes_row(out, "  mapped file (weights, vocabulary)", mapped);
    if (padding)
        print_bytes_row(out, "  interleaved copies' padding", padding);
    print_bytes_row(out, "  KV cache (f16)", kv_bytes);
    print_bytes_row(out, "  compute buffers (estimate)", compute_bytes);
    print_bytes_row(out, "  total", mapped + padding + kv_bytes + compute_bytes);
    fprintf(out, "  (compute: a prompt batch of %" PRIu64 " tokens in f32, attention scores over n_ctx)\n",
            batch);
}

/* Whether edged can serve the file, found by running the loaders the daemon
 * runs on it (weights, shapes, vocabulary); 0, or their code with `why`. */
/* Runs the daemon's loaders on g: 0 with `what` saying what it serves as
 * ("a chat model for [model] path (...)"), else the loader's code and why. */
static int verdict(const ed_gguf_t *g, const char *arch, bool *embedding, char *what, size_t what_size,
                   char why[ED_ERR_LEN])
{
    int rc;
    *embedding = strcmp(arch, "bert") == 0;
    if (*embedding) {
        ed_bert_t bert = {0};
        if ((rc = ed_bert_load(&bert, g, why)) == 0)
            snprintf(what, what_size, "an embedding model (%d wide, %d layers) for rag.embedding_model",
                     bert.n_embd, bert.n_layer);
        ed_bert_free(&bert);
    } else {
        ed_model_t model = {0};
        ed_vocab_t *vocab = NULL;
        if ((rc = ed_model_load(&model, g, why)) == 0 && (rc = ed_vocab_load(&vocab, g, why)) == 0) {
            ed_str_t tmpl = {0};
            ed_gguf_get_str(g, "tokenizer.chat_template", &tmpl);
            snprintf(what, what_size, "a chat model for [model] path (%s, %d layers, chat format %s)",
                     ed_model_arch_name(model.arch), model.n_layer,
                     ed_chat_family_name(ed_chat_detect(tmpl.ptr, tmpl.len)));
        }
        ed_vocab_free(vocab);
        ed_model_free(&model);
    }
    return rc;
}

/* The architecture's name from general.architecture, "" when absent or odd. */
static void read_arch(const ed_gguf_t *g, char arch[64])
{
    ed_str_t s;
    arch[0] = '\0';
    if (ed_gguf_get_str(g, "general.architecture", &s) == 0 && s.len < 64 && !memchr(s.ptr, '\0', s.len)) {
        memcpy(arch, s.ptr, s.len);
        arch[s.len] = '\0';
    }
}

static int print_verdict(FILE *out, const ed_gguf_t *g, const char *arch, char why[ED_ERR_LEN])
{
    fprintf(out, "\nedged:\n");
    char what[256];
    bool embedding;
    int rc = verdict(g, arch, &embedding, what, sizeof what, why);
    if (rc == 0)
        fprintf(out, "  %-34s yes: %s\n", "serves it", what);
    else
        fprintf(out, "  %-34s no: %s\n", "serves it", why);
    return rc;
}

int ed_info_check_servable(const char *path, bool embedding, char why[ED_ERR_LEN])
{
    ed_gguf_t *g = NULL;
    int rc = ed_gguf_open(&g, path, why);
    char arch[64], what[256];
    bool is_embedding = false;
    if (rc == 0) {
        read_arch(g, arch);
        rc = verdict(g, arch, &is_embedding, what, sizeof what, why);
    }
    if (rc == 0 && is_embedding != embedding) {
        snprintf(why, ED_ERR_LEN, "%s: is %s, not %s", path, what,
                 embedding ? "an embedding model (a BERT-family GGUF)" : "a chat model");
        rc = ED_EINVAL;
    } else if (rc != 0 && !strstr(why, path)) {
        char detail[ED_ERR_LEN];
        snprintf(detail, sizeof detail, "%s", why);
        snprintf(why, ED_ERR_LEN, "%.200s: %.800s", path, detail);
    }
    ed_gguf_close(g);
    return rc;
}

int ed_model_info_print(FILE *out, const char *path, uint32_t n_ctx, char err[ED_ERR_LEN])
{
    ed_gguf_t *g;
    int rc = ed_gguf_open(&g, path, err);
    if (rc)
        return rc;
    char arch[64];
    read_arch(g, arch);
    ed_str_t s;
    fprintf(out, "%-36s %s\n", "file", path);
    print_bytes_row(out, "size", ed_gguf_file_size(g));
    fprintf(out, "%-36s %" PRIu32 " (alignment %" PRIu32 ", %" PRIu64 " metadata keys)\n", "GGUF version",
            ed_gguf_version(g), ed_gguf_alignment(g), ed_gguf_n_kv(g));
    fprintf(out, "%-36s %s\n", "architecture", arch[0] ? arch : "-");
    print_key(out, g, "name", "general.name");

    if (arch[0]) {
        static const char *const hparams[] = {
            "context_length", "embedding_length", "block_count", "feed_forward_length",
            "attention.head_count", "attention.head_count_kv", "rope.freq_base",
            "attention.layer_norm_rms_epsilon",
        };
        char key[128], label[64], prefix[96];
        fprintf(out, "\nhyper-parameters:\n");
        for (size_t i = 0; i < sizeof hparams / sizeof hparams[0]; i++) {
            snprintf(key, sizeof key, "%s.%s", arch, hparams[i]);
            snprintf(label, sizeof label, "  %s", hparams[i]);
            print_key(out, g, label, key);
        }
        int prefix_len = snprintf(prefix, sizeof prefix, "%s.rope.scaling.", arch);
        for (uint64_t i = 0; i < ed_gguf_n_kv(g); i++) {
            ed_str_t k;
            ed_gguf_vtype_t type;
            const void *raw;
            uint64_t raw_bytes;
            ed_gguf_kv_at(g, i, &k, &type, &raw, &raw_bytes);
            if (k.len > (uint64_t)prefix_len && memcmp(k.ptr, prefix, (size_t)prefix_len) == 0) {
                size_t arch_len = strlen(arch) + 1; /* the label drops "<arch>." */
                fprintf(out, "  %-34.*s ", (int)(k.len - arch_len), k.ptr + arch_len);
                print_value(out, type, raw, raw_bytes);
                fputc('\n', out);
            }
        }
    }

    ed_gguf_arr_t tokens;
    fprintf(out, "\ntokenizer:\n");
    print_key(out, g, "  model", "tokenizer.ggml.model");
    print_key(out, g, "  pre-tokenizer", "tokenizer.ggml.pre");
    if (ed_gguf_get_arr(g, "tokenizer.ggml.tokens", &tokens) == 0)
        fprintf(out, "  %-34s %" PRIu64 "\n", "vocabulary size", tokens.n);
    else
        fprintf(out, "  %-34s -\n", "vocabulary size");
    print_key(out, g, "  bos id", "tokenizer.ggml.bos_token_id");
    print_key(out, g, "  eos id", "tokenizer.ggml.eos_token_id");
    if (ed_gguf_get_str(g, "tokenizer.chat_template", &s) == 0)
        fprintf(out, "  %-34s yes (%" PRIu64 " bytes)\n", "chat template", s.len);
    else
        fprintf(out, "  %-34s no\n", "chat template");

    print_tensors(out, g);
    if (arch[0] && ed_gguf_n_tensors(g))
        print_memory(out, g, arch, n_ctx);
    rc = print_verdict(out, g, arch, err);
    ed_gguf_close(g);
    return ferror(out) ? ED_EIO : rc;
}

/* `edged model-info FILE [--ctx N]`: prints a GGUF model's summary. */
int ed_info_main(int argc, char **argv)
{
    const char *path = NULL;
    unsigned long n_ctx = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--ctx") == 0 && i + 1 < argc) {
            char *end;
            n_ctx = strtoul(argv[++i], &end, 10);
            if (*end || n_ctx > UINT32_MAX) {
                fprintf(stderr, "edged model-info: --ctx: expected a token count, got \"%s\"\n", argv[i]);
                return 2;
            }
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("usage: edged model-info FILE [--ctx N]\n"
                   "Prints a GGUF model's architecture, hyper-parameters, tokenizer, tensors,\n"
                   "the memory it needs at a context of N tokens (default: the model's own), and\n"
                   "whether edged can serve it: as the chat model or as the store's embedding\n"
                   "model. Exit status 0 when it can, 1 when it cannot or the file is no GGUF.\n");
            return 0;
        } else if (!path && argv[i][0] != '-') {
            path = argv[i];
        } else {
            fprintf(stderr, "edged model-info: unexpected argument \"%s\" (see edged model-info --help)\n", argv[i]);
            return 2;
        }
    }
    if (!path) {
        fprintf(stderr, "usage: edged model-info FILE [--ctx N]\n");
        return 2;
    }
    char err[ED_ERR_LEN];
    if (ed_model_info_print(stdout, path, (uint32_t)n_ctx, err) != 0) {
        if (strstr(err, path))
            fprintf(stderr, "edged: %s\n", err);
        else
            fprintf(stderr, "edged: %s: %s\n", path, err);
        return 1;
    }
    return 0;
}
