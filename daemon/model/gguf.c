/* gguf.c - the validated GGUF v2/v3 reader of gguf.h.
 * Open walks the header, the metadata and the tensor infos once, checking
 * every count, length, type, shape, offset and size against the file with
 * overflow-checked arithmetic, then indexes keys and tensor names in hash
 * tables. Nested arrays (arrays of arrays) are rejected: no writer of the
 * ecosystem produces them and no key edged reads needs them. */
#include "model/gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Limits on what a file may ask of the reader, beyond what its size allows:
 * real models carry tens of keys and hundreds to a few thousand tensors. */
#define GGUF_MAX_KV ((uint64_t)1 << 20)
#define GGUF_MAX_TENSORS ((uint64_t)1 << 20)
#define GGUF_MAX_KEY_LEN 65535 /* the GGUF specification's bound */
#define GGUF_MAX_NAME_LEN 64   /* ggml's GGML_MAX_NAME, as the specification says */
#define GGUF_DEFAULT_ALIGNMENT 32
/* The fewest bytes one entry can occupy: a 1-byte key or name with its
 * 8-byte length, then (kv) a 4-byte type and a 1-byte value, or (tensor)
 * n_dims, one dimension, the type and the offset. */
#define GGUF_MIN_KV_BYTES (8 + 1 + 4 + 1)
#define GGUF_MIN_TENSOR_BYTES (8 + 1 + 4 + 8 + 4 + 8)

struct ed_gguf_kv {
    ed_str_t key;
    ed_gguf_vtype_t type;
    const uint8_t *value;    /* the value's bytes in the mapping (unaligned); ARRAY: its first element */
    uint64_t value_bytes;    /* bytes the value occupies; ARRAY: its elements only */
    ed_gguf_vtype_t arr_type; /* ARRAY: element type */
    uint64_t arr_n;          /* ARRAY: element count */
    uint64_t *str_offsets;   /* STRING ARRAY: (arr_n) offset of each element's length prefix from value */
};

struct ed_gguf {
    const uint8_t *base; /* the mapping, or the caller's buffer */
    uint64_t size;       /* bytes */
    bool mapped;
    uint32_t version;
    uint32_t alignment;   /* bytes; a power of two */
    uint64_t data_start;  /* file offset of the data section */
    uint64_t n_kv;
    struct ed_gguf_kv *kvs;   /* (n_kv), in file order */
    uint64_t n_tensors;
    ed_gguf_tensor_t *tensors; /* (n_tensors), in file order */
    uint64_t *kv_slots;       /* (kv_cap) open-addressing table: kv index + 1, 0 = empty */
    uint64_t kv_cap;          /* a power of two, >= 2 * n_kv */
    uint64_t *tensor_slots;   /* (tensor_cap) likewise for tensor names */
    uint64_t tensor_cap;
};

/* ------------------------------------------------------------ parsing ---- */

typedef struct {
    const uint8_t *base;
    uint64_t size, pos; /* bytes */
    char *err;          /* ED_ERR_LEN */
    char ctx[128];      /* what is being read: prefixed to errors */
} parser_t;

static const uint8_t scalar_size[] = {
    [ED_GGUF_UINT8] = 1, [ED_GGUF_INT8] = 1, [ED_GGUF_UINT16] = 2, [ED_GGUF_INT16] = 2,
    [ED_GGUF_UINT32] = 4, [ED_GGUF_INT32] = 4, [ED_GGUF_FLOAT32] = 4, [ED_GGUF_BOOL] = 1,
    [ED_GGUF_STRING] = 0, [ED_GGUF_ARRAY] = 0, [ED_GGUF_UINT64] = 8, [ED_GGUF_INT64] = 8,
    [ED_GGUF_FLOAT64] = 8,
};

static const char *const vtype_names[] = {
    "uint8", "int8", "uint16", "int16", "uint32", "int32", "float32",
    "bool", "string", "array", "uint64", "int64", "float64",
};

const char *ed_gguf_vtype_name(ed_gguf_vtype_t type)
{
    if ((unsigned)type > ED_GGUF_FLOAT64)
        return "unknown";
    return vtype_names[type];
}

static int fail(parser_t *p, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* ed_errf with the parser's context ("tensor 3 (blk.0.attn_q)") in front. */
static int fail(parser_t *p, int code, const char *fmt, ...)
{
    char detail[ED_ERR_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    if (p->ctx[0])
        return ed_errf(p->err, code, "%s: %s", p->ctx, detail);
    return ed_errf(p->err, code, "%s", detail);
}

/* Writes s into buf for an error message: printable ASCII as is, other
 * bytes as \xNN, cut with "..." when long. Returns buf. */
static const char *show(char *buf, size_t cap, ed_str_t s)
{
    size_t o = 0;
    for (uint64_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        if (o + 8 > cap) {
            memcpy(buf + o, "...", 4);
            return buf;
        }
        if (c >= 0x20 && c < 0x7f && c != '\\')
            buf[o++] = (char)c;
        else
            o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", c);
    }
    buf[o] = '\0';
    return buf;
}

static int need(parser_t *p, uint64_t n, const char *what)
{
    if (n > p->size - p->pos)
        return fail(p, ED_EFORMAT, "%s: truncated at byte %" PRIu64 " (needs %" PRIu64
                    " bytes, the file has %" PRIu64 ")", what, p->pos, n, p->size);
    return 0;
}

static int read_u32(parser_t *p, uint32_t *out, const char *what)
{
    int rc = need(p, 4, what);
    if (rc)
        return rc;
    memcpy(out, p->base + p->pos, 4);
    p->pos += 4;
    return 0;
}

static int read_u64(parser_t *p, uint64_t *out, const char *what)
{
    int rc = need(p, 8, what);
    if (rc)
        return rc;
    memcpy(out, p->base + p->pos, 8);
    p->pos += 8;
    return 0;
}

static int read_str(parser_t *p, ed_str_t *out, uint64_t max_len, const char *what)
{
    uint64_t len;
    int rc = read_u64(p, &len, what);
    if (rc)
        return rc;
    if (len > max_len)
        return fail(p, ED_EFORMAT, "%s: length %" PRIu64 " exceeds %" PRIu64, what, len, max_len);
    if ((rc = need(p, len, what)))
        return rc;
    out->ptr = (const char *)p->base + p->pos;
    out->len = len;
    p->pos += len;
    return 0;
}

/* ---------------------------------------------------------- hash index ---- */

static uint64_t hash_bytes(const char *s, uint64_t len)
{
    uint64_t h = 0xcbf29ce484222325u; /* FNV-1a */
    for (uint64_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 0x100000001b3u;
    return h;
}

static bool str_same(ed_str_t a, const char *b, uint64_t b_len)
{
    return a.len == b_len && memcmp(a.ptr, b, b_len) == 0;
}

static uint64_t table_cap(uint64_t n)
{
    uint64_t cap = 16;
    while (cap < 2 * n)
        cap *= 2;
    return cap;
}

static ed_str_t kv_name(const ed_gguf_t *g, uint64_t i) { return g->kvs[i].key; }
static ed_str_t tensor_name(const ed_gguf_t *g, uint64_t i) { return g->tensors[i].name; }

/* The slot of `slots` (an open-addressing table of entry index + 1) that
 * holds the entry named `key`, or the empty slot where it belongs. */
static uint64_t find_slot(const ed_gguf_t *g, const uint64_t *slots, uint64_t cap,
                          ed_str_t (*name_of)(const ed_gguf_t *, uint64_t), const char *key,
                          uint64_t key_len)
{
    uint64_t i = hash_bytes(key, key_len) & (cap - 1);
    while (slots[i] && !str_same(name_of(g, slots[i] - 1), key, key_len))
        i = (i + 1) & (cap - 1);
    return i;
}

static const struct ed_gguf_kv *find_kv(const ed_gguf_t *g, const char *key)
{
    if (!g || !key || !g->kv_slots)
        return NULL;
    uint64_t slot = find_slot(g, g->kv_slots, g->kv_cap, kv_name, key, strlen(key));
    return g->kv_slots[slot] ? &g->kvs[g->kv_slots[slot] - 1] : NULL;
}

/* ------------------------------------------------------------ metadata ---- */

static int parse_value(parser_t *p, struct ed_gguf_kv *kv)
{
    uint32_t type;
    int rc = read_u32(p, &type, "value type");
    if (rc)
        return rc;
    if (type > ED_GGUF_FLOAT64)
        return fail(p, ED_EFORMAT, "value type %" PRIu32 " is not a GGUF type (0..12)", type);
    kv->type = (ed_gguf_vtype_t)type;
    if (type == ED_GGUF_STRING) {
        ed_str_t s;
        if ((rc = read_str(p, &s, UINT64_MAX, "string value")))
            return rc;
        kv->value = (const uint8_t *)s.ptr;
        kv->value_bytes = s.len;
        return 0;
    }
    if (type != ED_GGUF_ARRAY) {
        if ((rc = need(p, scalar_size[type], "value")))
            return rc;
        kv->value = p->base + p->pos;
        kv->value_bytes = scalar_size[type];
        p->pos += scalar_size[type];
        return 0;
    }
    uint32_t elem_type;
    uint64_t n;
    if ((rc = read_u32(p, &elem_type, "array element type")) || (rc = read_u64(p, &n, "array length")))
        return rc;
    if (elem_type == ED_GGUF_ARRAY)
        return fail(p, ED_EUNSUPPORTED, "nested arrays are not supported");
    if (elem_type > ED_GGUF_FLOAT64)
        return fail(p, ED_EFORMAT, "array element type %" PRIu32 " is not a GGUF type (0..12)", elem_type);
    kv->arr_type = (ed_gguf_vtype_t)elem_type;
    kv->arr_n = n;
    kv->value = p->base + p->pos;
    uint64_t left = p->size - p->pos;
    if (elem_type != ED_GGUF_STRING) {
        uint64_t esize = scalar_size[elem_type];
        if (n > left / esize)
            return fail(p, ED_EFORMAT, "array of %" PRIu64 " %s needs more than the %" PRIu64
                        " bytes left in the file", n, vtype_names[elem_type], left);
        kv->value_bytes = n * esize;
        p->pos += n * esize;
        return 0;
    }
    if (n > left / 8)
        return fail(p, ED_EFORMAT, "array of %" PRIu64 " strings needs more than the %" PRIu64
                    " bytes left in the file", n, left);
    if (n && !(kv->str_offsets = malloc(n * sizeof *kv->str_offsets)))
        return fail(p, ED_ENOMEM, "string array of %" PRIu64 " elements: out of memory", n);
    uint64_t start = p->pos;
    for (uint64_t i = 0; i < n; i++) {
        char what[64];
        ed_str_t s;
        snprintf(what, sizeof what, "string %" PRIu64 " of %" PRIu64, i, n);
        kv->str_offsets[i] = p->pos - start;
        if ((rc = read_str(p, &s, UINT64_MAX, what)))
            return rc;
    }
    kv->value_bytes = p->pos - start;
    return 0;
}

static int parse_metadata(parser_t *p, ed_gguf_t *g)
{
    g->kv_cap = table_cap(g->n_kv);
    g->kvs = calloc(g->n_kv ? g->n_kv : 1, sizeof *g->kvs);
    g->kv_slots = calloc(g->kv_cap, sizeof *g->kv_slots);
    if (!g->kvs || !g->kv_slots)
        return fail(p, ED_ENOMEM, "%" PRIu64 " metadata entries: out of memory", g->n_kv);
    for (uint64_t i = 0; i < g->n_kv; i++) {
        struct ed_gguf_kv *kv = &g->kvs[i];
        char shown[80];
        int rc;
        snprintf(p->ctx, sizeof p->ctx, "metadata %" PRIu64, i);
        if ((rc = read_str(p, &kv->key, GGUF_MAX_KEY_LEN, "key")))
            return rc;
        if (kv->key.len == 0)
            return fail(p, ED_EFORMAT, "empty key");
        snprintf(p->ctx, sizeof p->ctx, "metadata %" PRIu64 " (%s)", i,
                 show(shown, sizeof shown, kv->key));
        uint64_t slot = find_slot(g, g->kv_slots, g->kv_cap, kv_name, kv->key.ptr, kv->key.len);
        if (g->kv_slots[slot])
            return fail(p, ED_EFORMAT, "duplicate key (first at metadata %" PRIu64 ")",
                        g->kv_slots[slot] - 1);
        if ((rc = parse_value(p, kv)))
            return rc;
        g->kv_slots[slot] = i + 1;
    }
    p->ctx[0] = '\0';
    const struct ed_gguf_kv *align = find_kv(g, "general.alignment");
    g->alignment = GGUF_DEFAULT_ALIGNMENT;
    if (align) {
        if (align->type != ED_GGUF_UINT32)
            return fail(p, ED_EFORMAT, "general.alignment has type %s (expected uint32)",
                        vtype_names[align->type]);
        memcpy(&g->alignment, align->value, 4);
        if (g->alignment == 0 || (g->alignment & (g->alignment - 1)))
            return fail(p, ED_EFORMAT, "general.alignment %" PRIu32 " is not a power of two",
                        g->alignment);
    }
    return 0;
}

/* ------------------------------------------------------------- tensors ---- */

/* GGML types that GGUF files may carry but edged does not compute with. */
static const char *unsupported_type_name(uint32_t type)
{
    switch (type) {
    case 4: return "q4_2 (removed from ggml)";
    case 5: return "q4_3 (removed from ggml)";
    case 16: return "iq2_xxs";
    case 17: return "iq2_xs";
    case 18: return "iq3_xxs";
    case 19: return "iq1_s";
    case 20: return "iq4_nl";
    case 21: return "iq3_s";
    case 22: return "iq2_s";
    case 23: return "iq4_xs";
    case 27: return "i64";
    case 28: return "f64";
    case 29: return "iq1_m";
    case 34: return "tq1_0";
    case 35: return "tq2_0";
    case 39: return "mxfp4";
    default: return NULL;
    }
}

static int parse_tensor_info(parser_t *p, ed_gguf_t *g, uint64_t i)
{
    ed_gguf_tensor_t *t = &g->tensors[i];
    char shown[80];
    int rc;
    snprintf(p->ctx, sizeof p->ctx, "tensor %" PRIu64, i);
    if ((rc = read_str(p, &t->name, GGUF_MAX_NAME_LEN, "name")))
        return rc;
    if (t->name.len == 0)
        return fail(p, ED_EFORMAT, "empty name");
    snprintf(p->ctx, sizeof p->ctx, "tensor %" PRIu64 " (%s)", i, show(shown, sizeof shown, t->name));
    uint64_t slot = find_slot(g, g->tensor_slots, g->tensor_cap, tensor_name, t->name.ptr, t->name.len);
    if (g->tensor_slots[slot])
        return fail(p, ED_EFORMAT, "duplicate name (first at tensor %" PRIu64 ")",
                    g->tensor_slots[slot] - 1);
    g->tensor_slots[slot] = i + 1;

    if ((rc = read_u32(p, &t->n_dims, "n_dims")))
        return rc;
    if (t->n_dims < 1 || t->n_dims > ED_GGUF_MAX_DIMS)
        return fail(p, ED_EFORMAT, "n_dims %" PRIu32 " (expected 1..%d)", t->n_dims, ED_GGUF_MAX_DIMS);
    uint64_t n_elements = 1;
    for (uint32_t d = 0; d < ED_GGUF_MAX_DIMS; d++) {
        uint64_t ne = 1;
        if (d < t->n_dims) {
            if ((rc = read_u64(p, &ne, "dimension")))
                return rc;
            if (ne == 0 || ne > INT64_MAX)
                return fail(p, ED_EFORMAT, "ne[%" PRIu32 "] = %" PRIu64 " (expected 1..2^63-1)", d, ne);
            if (ne > INT64_MAX / n_elements)
                return fail(p, ED_EOVERFLOW, "ne[%" PRIu32 "] = %" PRIu64
                            ": the element count overflows 2^63-1", d, ne);
            n_elements *= ne;
        }
        t->ne[d] = (int64_t)ne;
    }

    uint32_t type;
    if ((rc = read_u32(p, &type, "type")))
        return rc;
    const ed_type_info_t *info = type < ED_TYPE_FIRST_INTERNAL ? ed_type_info((int)type) : NULL;
    if (!info) {
        const char *known = unsupported_type_name(type);
        if (known)
            return fail(p, ED_EUNSUPPORTED, "type %" PRIu32 " (%s) is not supported", type, known);
        return fail(p, ED_EFORMAT, "type %" PRIu32 " is not a GGML tensor type", type);
    }
    t->type = (ed_type_t)type;
    uint64_t row_bytes;
    rc = ed_type_row_size((int)type, (uint64_t)t->ne[0], &row_bytes);
    if (rc == ED_EINVAL)
        return fail(p, ED_EFORMAT, "ne[0] = %" PRId64 " is not a multiple of the %s block length %" PRIu32,
                    t->ne[0], info->name, info->block_len);
    uint64_t rows = n_elements / (uint64_t)t->ne[0];
    if (rc || (rows && row_bytes > UINT64_MAX / rows))
        return fail(p, ED_EOVERFLOW, "%s data of %" PRIu64 " elements overflows 64 bits",
                    info->name, n_elements);
    t->size = row_bytes * rows;

    if ((rc = read_u64(p, &t->offset, "offset")))
        return rc;
    if (t->offset % g->alignment)
        return fail(p, ED_EFORMAT, "offset %" PRIu64 " is not a multiple of the alignment %" PRIu32,
                    t->offset, g->alignment);
    return 0;
}

static int by_offset(const void *a, const void *b)
{
    const ed_gguf_tensor_t *x = *(const ed_gguf_tensor_t *const *)a;
    const ed_gguf_tensor_t *y = *(const ed_gguf_tensor_t *const *)b;
    return (x->offset > y->offset) - (x->offset < y->offset);
}

/* Places each tensor in the data section and rejects any that leaves the
 * file or overlaps another. */
static int place_tensors(parser_t *p, ed_gguf_t *g)
{
    char shown[80], other[80];
    p->ctx[0] = '\0';
    uint64_t pad = (g->alignment - p->pos % g->alignment) % g->alignment;
    g->data_start = p->pos + pad; /* pos <= size < 2^64 - 2^32: cannot wrap */
    if (g->n_tensors && g->data_start > g->size)
        return fail(p, ED_EFORMAT, "the data section starts at byte %" PRIu64
                    ", past the end of the file (%" PRIu64 " bytes)", g->data_start, g->size);
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        ed_gguf_tensor_t *t = &g->tensors[i];
        uint64_t start = g->data_start + t->offset, end = start + t->size;
        snprintf(p->ctx, sizeof p->ctx, "tensor %" PRIu64 " (%s)", i, show(shown, sizeof shown, t->name));
        if (start < t->offset || end < start)
            return fail(p, ED_EOVERFLOW, "data offset %" PRIu64 " + size %" PRIu64 " overflows 64 bits",
                        t->offset, t->size);
        if (end > g->size)
            return fail(p, ED_EFORMAT, "data [%" PRIu64 ", %" PRIu64 ") extends past the end of the file (%"
                        PRIu64 " bytes)", start, end, g->size);
        t->data = g->base + start;
    }
    p->ctx[0] = '\0';
    if (g->n_tensors < 2)
        return 0;
    const ed_gguf_tensor_t **order = malloc(g->n_tensors * sizeof *order);
    if (!order)
        return fail(p, ED_ENOMEM, "%" PRIu64 " tensors: out of memory", g->n_tensors);
    for (uint64_t i = 0; i < g->n_tensors; i++)
        order[i] = &g->tensors[i];
    qsort(order, g->n_tensors, sizeof *order, by_offset);
    int rc = 0;
    for (uint64_t i = 1; i < g->n_tensors && !rc; i++) {
        const ed_gguf_tensor_t *a = order[i - 1], *b = order[i];
        if (b->offset < a->offset + a->size)
            rc = fail(p, ED_EFORMAT, "tensor %" PRIu64 " (%s): data [%" PRIu64 ", %" PRIu64
                      ") overlaps tensor %" PRIu64 " (%s) at [%" PRIu64 ", %" PRIu64 ")",
                      (uint64_t)(b - g->tensors), show(shown, sizeof shown, b->name),
                      g->data_start + b->offset, g->data_start + b->offset + b->size,
                      (uint64_t)(a - g->tensors), show(other, sizeof other, a->name),
                      g->data_start + a->offset, g->data_start + a->offset + a->size);
    }
    free(order);
    return rc;
}

/* ---------------------------------------------------------------- open ---- */

static int parse_header(parser_t *p, ed_gguf_t *g)
{
    int rc;
    if ((rc = need(p, 4, "magic")))
        return rc;
    if (memcmp(p->base, "GGUF", 4) != 0) {
        char shown[40];
        return fail(p, ED_EFORMAT, "not a GGUF file: magic \"%s\" (expected \"GGUF\")",
                    show(shown, sizeof shown, (ed_str_t){(const char *)p->base, 4}));
    }
    p->pos = 4;
    if ((rc = read_u32(p, &g->version, "version")))
        return rc;
    if (g->version == 1)
        return fail(p, ED_EUNSUPPORTED, "GGUF version 1 is not supported (expected 2 or 3; "
                    "convert the file with a current llama.cpp)");
    if ((g->version & 0xffff) == 0 && (g->version >> 24) >= 1 && (g->version >> 24) <= 3)
        return fail(p, ED_EUNSUPPORTED, "big-endian GGUF files are not supported");
    if (g->version != 2 && g->version != 3)
        return fail(p, ED_EUNSUPPORTED, "GGUF version %" PRIu32 " is not supported (expected 2 or 3)",
                    g->version);
    if ((rc = read_u64(p, &g->n_tensors, "n_tensors")) || (rc = read_u64(p, &g->n_kv, "n_kv")))
        return rc;
    uint64_t left = p->size - p->pos;
    if (g->n_kv > left / GGUF_MIN_KV_BYTES)
        return fail(p, ED_EFORMAT, "n_kv %" PRIu64 ": the %" PRIu64 " bytes after the header hold at most %"
                    PRIu64 " entries", g->n_kv, left, left / GGUF_MIN_KV_BYTES);
    if (g->n_kv > GGUF_MAX_KV)
        return fail(p, ED_EUNSUPPORTED, "n_kv %" PRIu64 " exceeds the limit %" PRIu64, g->n_kv, GGUF_MAX_KV);
    left -= g->n_kv * GGUF_MIN_KV_BYTES;
    if (g->n_tensors > left / GGUF_MIN_TENSOR_BYTES)
        return fail(p, ED_EFORMAT, "n_tensors %" PRIu64 ": the file (%" PRIu64 " bytes) holds at most %"
                    PRIu64 " tensor infos after %" PRIu64 " metadata entries", g->n_tensors, p->size,
                    left / GGUF_MIN_TENSOR_BYTES, g->n_kv);
    if (g->n_tensors > GGUF_MAX_TENSORS)
        return fail(p, ED_EUNSUPPORTED, "n_tensors %" PRIu64 " exceeds the limit %" PRIu64,
                    g->n_tensors, GGUF_MAX_TENSORS);
    return 0;
}

static int parse(ed_gguf_t *g, char err[ED_ERR_LEN])
{
    parser_t p = {.base = g->base, .size = g->size, .err = err};
    int rc = parse_header(&p, g);
    if (!rc)
        rc = parse_metadata(&p, g);
    if (rc)
        return rc;
    g->tensor_cap = table_cap(g->n_tensors);
    g->tensors = calloc(g->n_tensors ? g->n_tensors : 1, sizeof *g->tensors);
    g->tensor_slots = calloc(g->tensor_cap, sizeof *g->tensor_slots);
    if (!g->tensors || !g->tensor_slots)
        return fail(&p, ED_ENOMEM, "%" PRIu64 " tensors: out of memory", g->n_tensors);
    for (uint64_t i = 0; i < g->n_tensors && !rc; i++)
        rc = parse_tensor_info(&p, g, i);
    if (!rc)
        rc = place_tensors(&p, g);
    return rc;
}

int ed_gguf_open_memory(ed_gguf_t **out, const void *data, size_t size, char err[ED_ERR_LEN])
{
    *out = NULL;
    err[0] = '\0';
    if (!data && size)
        return snprintf(err, ED_ERR_LEN, "no buffer"), ED_EINVAL;
    ed_gguf_t *g = calloc(1, sizeof *g);
    if (!g)
        return snprintf(err, ED_ERR_LEN, "out of memory"), ED_ENOMEM;
    g->base = data ? data : (const uint8_t *)"";
    g->size = size;
    int rc = parse(g, err);
    if (rc) {
        ed_gguf_close(g);
        return rc;
    }
    *out = g;
    return 0;
}

int ed_gguf_open(ed_gguf_t **out, const char *path, char err[ED_ERR_LEN])
{
    *out = NULL;
    err[0] = '\0';
    int rc, fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = ed_err_from_errno(errno);
        snprintf(err, ED_ERR_LEN, "%s: %s", path, strerror(errno));
        return rc;
    }
    struct stat st;
    void *map = MAP_FAILED;
    ed_gguf_t *g = NULL;
    if (fstat(fd, &st) < 0) {
        rc = ed_err_from_errno(errno);
        snprintf(err, ED_ERR_LEN, "%s: %s", path, strerror(errno));
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = ED_EINVAL;
        snprintf(err, ED_ERR_LEN, "%s: not a regular file", path);
        goto fail;
    }
    if (st.st_size > 0) {
        map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
            rc = ed_err_from_errno(errno);
            snprintf(err, ED_ERR_LEN, "%s: mmap: %s", path, strerror(errno));
            goto fail;
        }
    }
    if (!(g = calloc(1, sizeof *g))) {
        rc = ED_ENOMEM;
        snprintf(err, ED_ERR_LEN, "out of memory");
        goto fail;
    }
    g->base = map == MAP_FAILED ? (const uint8_t *)"" : map;
    g->size = (uint64_t)st.st_size;
    g->mapped = map != MAP_FAILED;
    map = MAP_FAILED; /* owned by g now */
    if ((rc = parse(g, err)))
        goto fail;
    close(fd);
    *out = g;
    return 0;
fail:
    if (map != MAP_FAILED)
        munmap(map, (size_t)st.st_size);
    ed_gguf_close(g);
    close(fd);
    return rc;
}

void ed_gguf_close(ed_gguf_t *g)
{
    if (!g)
        return;
    if (g->kvs)
        for (uint64_t i = 0; i < g->n_kv; i++)
            free(g->kvs[i].str_offsets);
    free(g->kvs);
    free(g->kv_slots);
    free(g->tensors);
    free(g->tensor_slots);
    if (g->mapped)
        munmap((void *)g->base, g->size);
    free(g);
}

/* ----------------------------------------------------------- accessors ---- */

uint32_t ed_gguf_version(const ed_gguf_t *g) { return g->version; }
uint64_t ed_gguf_file_size(const ed_gguf_t *g) { return g->size; }
uint32_t ed_gguf_alignment(const ed_gguf_t *g) { return g->alignment; }
uint64_t ed_gguf_data_offset(const ed_gguf_t *g) { return g->data_start; }
uint64_t ed_gguf_n_kv(const ed_gguf_t *g) { return g->n_kv; }
bool ed_gguf_has(const ed_gguf_t *g, const char *key) { return find_kv(g, key) != NULL; }

int ed_gguf_kv_at(const ed_gguf_t *g, uint64_t i, ed_str_t *key, ed_gguf_vtype_t *type,
                  const void **raw, uint64_t *raw_bytes)
{
    if (i >= g->n_kv)
        return ED_ERANGE;
    const struct ed_gguf_kv *kv = &g->kvs[i];
    *key = kv->key;
    *type = kv->type;
    /* The stored value begins with its length prefix (STRING) or its
     * element type and count (ARRAY): step back over them. */
    uint64_t head = kv->type == ED_GGUF_STRING ? 8 : kv->type == ED_GGUF_ARRAY ? 12 : 0;
    *raw = kv->value - head;
    *raw_bytes = kv->value_bytes + head;
    return 0;
}

/* An integer value as sign and magnitude; ED_EFORMAT for other types. */
static int get_integer(const struct ed_gguf_kv *kv, bool *negative, uint64_t *magnitude)
{
    int64_t s;
    uint64_t u;
    switch (kv->type) {
    case ED_GGUF_UINT8: { uint8_t v; memcpy(&v, kv->value, 1); u = v; goto unsigned_value; }
    case ED_GGUF_UINT16: { uint16_t v; memcpy(&v, kv->value, 2); u = v; goto unsigned_value; }
    case ED_GGUF_UINT32: { uint32_t v; memcpy(&v, kv->value, 4); u = v; goto unsigned_value; }
    case ED_GGUF_UINT64: memcpy(&u, kv->value, 8); goto unsigned_value;
    case ED_GGUF_INT8: { int8_t v; memcpy(&v, kv->value, 1); s = v; goto signed_value; }
    case ED_GGUF_INT16: { int16_t v; memcpy(&v, kv->value, 2); s = v; goto signed_value; }
    case ED_GGUF_INT32: { int32_t v; memcpy(&v, kv->value, 4); s = v; goto signed_value; }
    case ED_GGUF_INT64: memcpy(&s, kv->value, 8); goto signed_value;
    default: return ED_EFORMAT;
    }
unsigned_value:
    *negative = false;
    *magnitude = u;
    return 0;
signed_value:
    *negative = s < 0;
    *magnitude = s < 0 ? (uint64_t)0 - (uint64_t)s : (uint64_t)s;
    return 0;
}

static int lookup_integer(const ed_gguf_t *g, const char *key, bool *negative, uint64_t *magnitude)
{
    const struct ed_gguf_kv *kv = find_kv(g, key);
    return kv ? get_integer(kv, negative, magnitude) : ED_ENOENT;
}

int ed_gguf_get_u32(const ed_gguf_t *g, const char *key, uint32_t *out)
{
    bool negative;
    uint64_t m;
    int rc = lookup_integer(g, key, &negative, &m);
    if (rc)
        return rc;
    if (negative || m > UINT32_MAX)
        return ED_EFORMAT;
    *out = (uint32_t)m;
    return 0;
}

int ed_gguf_get_u64(const ed_gguf_t *g, const char *key, uint64_t *out)
{
    bool negative;
    uint64_t m;
    int rc = lookup_integer(g, key, &negative, &m);
    if (rc)
        return rc;
    if (negative)
        return ED_EFORMAT;
    *out = m;
    return 0;
}

int ed_gguf_get_i32(const ed_gguf_t *g, const char *key, int32_t *out)
{
    bool negative;
    uint64_t m;
    int rc = lookup_integer(g, key, &negative, &m);
    if (rc)
        return rc;
    if (negative ? m > (uint64_t)INT32_MAX + 1 : m > INT32_MAX)
        return ED_EFORMAT;
    *out = negative ? (int32_t)(-(int64_t)m) : (int32_t)m;
    return 0;
}

int ed_gguf_get_f32(const ed_gguf_t *g, const char *key, float *out)
{
    const struct ed_gguf_kv *kv = find_kv(g, key);
    if (!kv)
        return ED_ENOENT;
    if (kv->type == ED_GGUF_FLOAT32) {
        memcpy(out, kv->value, 4);
        return 0;
    }
    if (kv->type == ED_GGUF_FLOAT64) {
        double v;
        memcpy(&v, kv->value, 8);
        if (isfinite(v) && fabs(v) > FLT_MAX)
            return ED_EFORMAT;
        *out = (float)v;
        return 0;
    }
    return ED_EFORMAT;
}

int ed_gguf_get_bool(const ed_gguf_t *g, const char *key, bool *out)
{
    const struct ed_gguf_kv *kv = find_kv(g, key);
    if (!kv)
        return ED_ENOENT;
    if (kv->type != ED_GGUF_BOOL)
        return ED_EFORMAT;
    *out = kv->value[0] != 0;
    return 0;
}

int ed_gguf_get_str(const ed_gguf_t *g, const char *key, ed_str_t *out)
{
    const struct ed_gguf_kv *kv = find_kv(g, key);
    if (!kv)
        return ED_ENOENT;
    if (kv->type != ED_GGUF_STRING)
        return ED_EFORMAT;
    *out = (ed_str_t){(const char *)kv->value, kv->value_bytes};
    return 0;
}

int ed_gguf_get_arr(const ed_gguf_t *g, const char *key, ed_gguf_arr_t *out)
{
    const struct ed_gguf_kv *kv = find_kv(g, key);
    if (!kv)
        return ED_ENOENT;
    if (kv->type != ED_GGUF_ARRAY)
        return ED_EFORMAT;
    *out = (ed_gguf_arr_t){.type = kv->arr_type, .n = kv->arr_n, .data = kv->value, .kv = kv};
    return 0;
}

int ed_gguf_arr_str(const ed_gguf_arr_t *arr, uint64_t i, ed_str_t *out)
{
    if (!arr || !arr->kv || arr->type != ED_GGUF_STRING)
        return ED_EINVAL;
    if (i >= arr->n)
        return ED_ERANGE;
    const uint8_t *at = (const uint8_t *)arr->data + arr->kv->str_offsets[i];
    memcpy(&out->len, at, 8);
    out->ptr = (const char *)at + 8;
    return 0;
}

uint64_t ed_gguf_n_tensors(const ed_gguf_t *g) { return g->n_tensors; }

const ed_gguf_tensor_t *ed_gguf_tensor(const ed_gguf_t *g, uint64_t i)
{
    return i < g->n_tensors ? &g->tensors[i] : NULL;
}

const ed_gguf_tensor_t *ed_gguf_find_tensor(const ed_gguf_t *g, const char *name)
{
    if (!g || !name || !g->tensor_slots)
        return NULL;
    uint64_t slot = find_slot(g, g->tensor_slots, g->tensor_cap, tensor_name, name, strlen(name));
    return g->tensor_slots[slot] ? &g->tensors[g->tensor_slots[slot] - 1] : NULL;
}

bool ed_str_eq(ed_str_t s, const char *c)
{
    return str_same(s, c, strlen(c));
}
