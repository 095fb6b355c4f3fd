/* gguf_check.c - see gguf_check.h. The file is mapped and read front to
 * back with a bounds check on every read; each loop step consumes bytes, so
 * even absurd counts end at the file's end. Tensor sizes come from the GGML
 * block table below; a type not in it has only its offset checked. */
#include "gguf_check.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
    const unsigned char *data;
    uint64_t size, at;
    char *why;
    size_t why_len;
    const char *where; /* the part being read, for "truncated in ..." */
} reader_t;

static int fail(reader_t *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(reader_t *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->why, r->why_len, fmt, ap);
    va_end(ap);
    return -1;
}

static int take(reader_t *r, uint64_t n, const unsigned char **out)
{
    *out = r->data + r->at;
    if (n > r->size - r->at)
        return fail(r, "truncated in the %s at byte %llu", r->where, (unsigned long long)r->at);
    r->at += n;
    return 0;
}

static int read_u32(reader_t *r, uint32_t *v)
{
    const unsigned char *p;
    if (take(r, 4, &p) != 0)
        return -1;
    memcpy(v, p, 4); /* GGUF is little-endian, as every host edged runs on */
    return 0;
}

static int read_u64(reader_t *r, uint64_t *v)
{
    const unsigned char *p;
    if (take(r, 8, &p) != 0)
        return -1;
    memcpy(v, p, 8);
    return 0;
}

static int read_string(reader_t *r, const unsigned char **s, uint64_t *len)
{
    return read_u64(r, len) != 0 || take(r, *len, s) != 0 ? -1 : 0;
}

enum { GGUF_STRING = 8, GGUF_ARRAY = 9, GGUF_N_TYPES = 13 };
/* bytes of a scalar metadata value, by GGUF value type; 0: string or array */
static const uint8_t scalar_size[GGUF_N_TYPES] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};

/* Skips one value of `type`; arrays hold scalars or strings, not arrays. */
static int skip_value(reader_t *r, uint32_t type, bool in_array)
{
    const unsigned char *p;
    uint64_t n;
    if (type >= GGUF_N_TYPES || (in_array && type == GGUF_ARRAY))
        return fail(r, "metadata value type %u is not a GGUF type", type);
    if (type == GGUF_STRING)
        return read_string(r, &p, &n);
    if (type != GGUF_ARRAY)
        return take(r, scalar_size[type], &p);
    uint32_t elem;
    if (read_u32(r, &elem) != 0 || read_u64(r, &n) != 0)
        return -1;
    if (elem < GGUF_N_TYPES && scalar_size[elem]) {
        if (n > (r->size - r->at) / scalar_size[elem])
            return fail(r, "truncated in the %s at byte %llu", r->where, (unsigned long long)r->at);
        return take(r, n * scalar_size[elem], &p);
    }
    for (uint64_t i = 0; i < n; i++)
        if (skip_value(r, elem, true) != 0)
            return -1;
    return 0;
}

/* GGML tensor types: elements per block and bytes per block (0: unknown). */
static const struct {
    uint16_t block_len, block_bytes;
} ggml_types[] = {
    [0] = {1, 4},      [1] = {1, 2},      [2] = {32, 18},    [3] = {32, 20},    [6] = {32, 22},
    [7] = {32, 24},    [8] = {32, 34},    [9] = {32, 36},    [10] = {256, 84},  [11] = {256, 110},
    [12] = {256, 144}, [13] = {256, 176}, [14] = {256, 210}, [15] = {256, 292}, [16] = {256, 66},
    [17] = {256, 74},  [18] = {256, 98},  [19] = {256, 50},  [20] = {32, 18},   [21] = {256, 110},
    [22] = {256, 82},  [23] = {256, 136}, [24] = {1, 1},     [25] = {1, 2},     [26] = {1, 4},
    [27] = {1, 8},     [28] = {1, 8},     [29] = {256, 56},  [30] = {1, 2},
};
#define N_GGML_TYPES (sizeof ggml_types / sizeof ggml_types[0])

static int check(reader_t *r, ed_gguf_check_t *out)
{
    const unsigned char *magic;
    r->where = "header";
    if (take(r, 4, &magic) != 0)
        return -1;
    if (memcmp(magic, "GGUF", 4) != 0)
        return fail(r, "magic is not \"GGUF\"");
    if (read_u32(r, &out->version) != 0)
        return -1;
    if (out->version != 2 && out->version != 3)
        return fail(r, "GGUF version %u is not supported (expected 2 or 3)", out->version);
    if (read_u64(r, &out->n_tensors) != 0 || read_u64(r, &out->n_kv) != 0)
        return -1;

    uint32_t alignment = 32;
    r->where = "metadata";
    for (uint64_t i = 0; i < out->n_kv; i++) {
        const unsigned char *key, *s;
        uint64_t key_len, len;
        uint32_t type;
        if (read_string(r, &key, &key_len) != 0 || read_u32(r, &type) != 0)
            return -1;
        bool is_arch = key_len == 20 && memcmp(key, "general.architecture", 20) == 0;
        bool is_align = key_len == 17 && memcmp(key, "general.alignment", 17) == 0;
        if (is_arch && type == GGUF_STRING) {
            if (read_string(r, &s, &len) != 0)
                return -1;
            snprintf(out->architecture, sizeof out->architecture, "%.*s",
                     (int)(len < sizeof out->architecture ? len : sizeof out->architecture - 1), (const char *)s);
        } else if (is_align && type == 4) {
            if (read_u32(r, &alignment) != 0)
                return -1;
            if (alignment == 0 || (alignment & (alignment - 1)) != 0)
                return fail(r, "general.alignment %u is not a power of two", alignment);
        } else if (skip_value(r, type, false) != 0) {
            return -1;
        }
    }

    /* the tensor table, then each tensor's extent against the data section */
    r->where = "tensor table";
    uint64_t max_end = 0;
    for (uint64_t i = 0; i < out->n_tensors; i++) {
        const unsigned char *name;
        uint64_t name_len, offset, n_elements = 1;
        uint32_t n_dims, type;
        if (read_string(r, &name, &name_len) != 0 || read_u32(r, &n_dims) != 0)
            return -1;
        if (n_dims < 1 || n_dims > 4)
            return fail(r, "tensor %llu: %u dimensions (expected 1..4)", (unsigned long long)i, n_dims);
        uint64_t ne0 = 0;
        for (uint32_t d = 0; d < n_dims; d++) {
            uint64_t ne;
            if (read_u64(r, &ne) != 0)
                return -1;
            if (d == 0)
                ne0 = ne;
            if (__builtin_mul_overflow(n_elements, ne, &n_elements))
                return fail(r, "tensor %llu: the element count overflows 64 bits", (unsigned long long)i);
        }
        if (read_u32(r, &type) != 0 || read_u64(r, &offset) != 0)
            return -1;
        uint64_t bytes = 0;
        if (type < N_GGML_TYPES && ggml_types[type].block_len) {
            uint64_t block_len = ggml_types[type].block_len;
            if (ne0 % block_len != 0)
                return fail(r, "tensor %llu: %llu columns is not a whole number of type %u blocks",
                            (unsigned long long)i, (unsigned long long)ne0, type);
            if (__builtin_mul_overflow(n_elements / block_len, (uint64_t)ggml_types[type].block_bytes, &bytes))
                return fail(r, "tensor %llu: its size overflows 64 bits", (unsigned long long)i);
        }
        uint64_t end;
        if (__builtin_add_overflow(offset, bytes, &end))
            return fail(r, "tensor %llu: offset + size overflows 64 bits", (unsigned long long)i);
        if (end > max_end)
            max_end = end;
    }
    uint64_t data_start = (r->at + alignment - 1) / alignment * alignment;
    if (out->n_tensors && (data_start > r->size || max_end > r->size - data_start))
        return fail(r, "the tensor data needs %llu bytes after byte %llu, the file has %llu",
                    (unsigned long long)max_end, (unsigned long long)data_start,
                    (unsigned long long)(r->size > data_start ? r->size - data_start : 0));
    return 0;
}

int ed_gguf_check_file(const char *path, ed_gguf_check_t *out, char *why, size_t why_len)
{
    memset(out, 0, sizeof *out);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(why, why_len, "cannot open %s", path);
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size < 24) {
        close(fd);
        snprintf(why, why_len, "%s", "too short for a GGUF header");
        return -1;
    }
    void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) {
        snprintf(why, why_len, "cannot map %s", path);
        return -1;
    }
    int rc = ed_gguf_check_memory(map, (uint64_t)st.st_size, out, why, why_len);
    munmap(map, (size_t)st.st_size);
    return rc;
}

int ed_gguf_check_memory(const void *data, uint64_t size, ed_gguf_check_t *out, char *why, size_t why_len)
{
    memset(out, 0, sizeof *out);
    reader_t r = {.data = data, .size = size, .why = why, .why_len = why_len};
    return check(&r, out);
}
