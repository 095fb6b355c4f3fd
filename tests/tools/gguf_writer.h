/* gguf_writer.h - a small GGUF v3 writer for tests and fixture tools (test
 * code only; the daemon never writes GGUF). Header-only because every .c in
 * tests/tools is a program of its own: include it from one .c.
 * Metadata and tensor infos are built in memory; tensor data is appended by
 * the caller after ed_gguf_writer_header(), each tensor padded to the
 * alignment, so a multi-gigabyte model streams to its file. The low-level
 * ed_gguf_buf_* calls also let tests hand-craft malformed files. */
#ifndef ED_TESTS_TOOLS_GGUF_WRITER_H
#define ED_TESTS_TOOLS_GGUF_WRITER_H

#include "kernels/types.h"
#include "model/gguf.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uint8_t *data;
    size_t len, cap; /* bytes */
    bool failed;     /* an allocation failed: contents are incomplete */
} ed_gguf_buf_t;

static inline void ed_gguf_buf_bytes(ed_gguf_buf_t *b, const void *p, size_t n)
{
    if (b->failed || n == 0)
        return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n)
            cap *= 2;
        uint8_t *grown = realloc(b->data, cap);
        if (!grown) {
            b->failed = true;
            return;
        }
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

static inline void ed_gguf_buf_u8(ed_gguf_buf_t *b, uint8_t v) { ed_gguf_buf_bytes(b, &v, 1); }
static inline void ed_gguf_buf_u32(ed_gguf_buf_t *b, uint32_t v) { ed_gguf_buf_bytes(b, &v, 4); }
static inline void ed_gguf_buf_u64(ed_gguf_buf_t *b, uint64_t v) { ed_gguf_buf_bytes(b, &v, 8); }
static inline void ed_gguf_buf_f32(ed_gguf_buf_t *b, float v) { ed_gguf_buf_bytes(b, &v, 4); }

/* A GGUF string: u64 length, then the bytes (no NUL). */
static inline void ed_gguf_buf_str(ed_gguf_buf_t *b, const char *s)
{
    ed_gguf_buf_u64(b, strlen(s));
    ed_gguf_buf_bytes(b, s, strlen(s));
}

static inline void ed_gguf_buf_pad(ed_gguf_buf_t *b, uint32_t alignment)
{
    static const uint8_t zeros[64];
    while (b->len % alignment) {
        size_t n = alignment - b->len % alignment;
        ed_gguf_buf_bytes(b, zeros, n < sizeof zeros ? n : sizeof zeros);
        if (b->failed)
            return;
    }
}

static inline void ed_gguf_buf_free(ed_gguf_buf_t *b)
{
    free(b->data);
    *b = (ed_gguf_buf_t){0};
}

typedef struct {
    uint32_t version;   /* written in the header; 3 unless a test wants otherwise */
    uint32_t alignment; /* bytes; tensor offsets are multiples of it */
    uint64_t n_kv, n_tensors;
    ed_gguf_buf_t kvs;   /* serialized metadata */
    ed_gguf_buf_t infos; /* serialized tensor infos */
    uint64_t data_size;  /* bytes of the data section so far, padded */
} ed_gguf_writer_t;

static inline void ed_gguf_writer_init(ed_gguf_writer_t *w)
{
    *w = (ed_gguf_writer_t){.version = 3, .alignment = 32};
}

static inline void ed_gguf_writer_free(ed_gguf_writer_t *w)
{
    ed_gguf_buf_free(&w->kvs);
    ed_gguf_buf_free(&w->infos);
}

static inline void ed_gguf_writer_key(ed_gguf_writer_t *w, const char *key, ed_gguf_vtype_t type)
{
    ed_gguf_buf_str(&w->kvs, key);
    ed_gguf_buf_u32(&w->kvs, type);
    w->n_kv++;
}

static inline void ed_gguf_writer_u32(ed_gguf_writer_t *w, const char *key, uint32_t v)
{
    ed_gguf_writer_key(w, key, ED_GGUF_UINT32);
    ed_gguf_buf_u32(&w->kvs, v);
}

static inline void ed_gguf_writer_i32(ed_gguf_writer_t *w, const char *key, int32_t v)
{
    ed_gguf_writer_key(w, key, ED_GGUF_INT32);
    ed_gguf_buf_bytes(&w->kvs, &v, 4);
}

static inline void ed_gguf_writer_f32(ed_gguf_writer_t *w, const char *key, float v)
{
    ed_gguf_writer_key(w, key, ED_GGUF_FLOAT32);
    ed_gguf_buf_f32(&w->kvs, v);
}

static inline void ed_gguf_writer_bool(ed_gguf_writer_t *w, const char *key, bool v)
{
    ed_gguf_writer_key(w, key, ED_GGUF_BOOL);
    ed_gguf_buf_u8(&w->kvs, v);
}

static inline void ed_gguf_writer_str(ed_gguf_writer_t *w, const char *key, const char *v)
{
    ed_gguf_writer_key(w, key, ED_GGUF_STRING);
    ed_gguf_buf_str(&w->kvs, v);
}

/* An array of n scalars of `type` (not STRING or ARRAY), packed in `elems`. */
static inline void ed_gguf_writer_arr(ed_gguf_writer_t *w, const char *key, ed_gguf_vtype_t type,
                               const void *elems, uint64_t n, size_t elem_size)
{
    ed_gguf_writer_key(w, key, ED_GGUF_ARRAY);
    ed_gguf_buf_u32(&w->kvs, type);
    ed_gguf_buf_u64(&w->kvs, n);
    ed_gguf_buf_bytes(&w->kvs, elems, n * elem_size);
}

static inline void ed_gguf_writer_arr_str(ed_gguf_writer_t *w, const char *key, const char *const *strs,
                                   uint64_t n)
{
    ed_gguf_writer_key(w, key, ED_GGUF_ARRAY);
    ed_gguf_buf_u32(&w->kvs, ED_GGUF_STRING);
    ed_gguf_buf_u64(&w->kvs, n);
    for (uint64_t i = 0; i < n; i++)
        ed_gguf_buf_str(&w->kvs, strs[i]);
}

/* A value copied verbatim from another file (see ed_gguf_kv_at()). */
static inline void ed_gguf_writer_raw(ed_gguf_writer_t *w, ed_str_t key, ed_gguf_vtype_t type,
                               const void *raw, uint64_t raw_bytes)
{
    ed_gguf_buf_u64(&w->kvs, key.len);
    ed_gguf_buf_bytes(&w->kvs, key.ptr, key.len);
    ed_gguf_buf_u32(&w->kvs, type);
    ed_gguf_buf_bytes(&w->kvs, raw, raw_bytes);
    w->n_kv++;
}

/* Declares a tensor; its data goes at the next aligned offset of the data
 * section. Returns its size in bytes, or 0 when the shape does not fit the
 * type's blocks. ne[0] is the innermost dimension. */
static inline uint64_t ed_gguf_writer_tensor(ed_gguf_writer_t *w, const char *name, ed_type_t type,
                                      uint32_t n_dims, const int64_t *ne)
{
    uint64_t rows = 1, row_bytes;
    for (uint32_t d = 1; d < n_dims; d++)
        rows *= (uint64_t)ne[d];
    if (ed_type_row_size(type, (uint64_t)ne[0], &row_bytes) != 0)
        return 0;
    ed_gguf_buf_str(&w->infos, name);
    ed_gguf_buf_u32(&w->infos, n_dims);
    for (uint32_t d = 0; d < n_dims; d++)
        ed_gguf_buf_u64(&w->infos, (uint64_t)ne[d]);
    ed_gguf_buf_u32(&w->infos, type);
    ed_gguf_buf_u64(&w->infos, w->data_size);
    w->n_tensors++;
    uint64_t size = row_bytes * rows;
    w->data_size += (size + w->alignment - 1) / w->alignment * w->alignment;
    return size;
}

/* The file up to the data section: header, metadata, tensor infos, padding. */
static inline int ed_gguf_writer_header(const ed_gguf_writer_t *w, ed_gguf_buf_t *out)
{
    ed_gguf_buf_bytes(out, "GGUF", 4);
    ed_gguf_buf_u32(out, w->version);
    ed_gguf_buf_u64(out, w->n_tensors);
    ed_gguf_buf_u64(out, w->n_kv);
    ed_gguf_buf_bytes(out, w->kvs.data, w->kvs.len);
    ed_gguf_buf_bytes(out, w->infos.data, w->infos.len);
    ed_gguf_buf_pad(out, w->alignment);
    return out->failed || w->kvs.failed || w->infos.failed ? ED_ENOMEM : 0;
}

/* Appends one tensor's data and its padding to a buffer or a file. */
static inline void ed_gguf_writer_data(const ed_gguf_writer_t *w, ed_gguf_buf_t *out, const void *data,
                                uint64_t size)
{
    ed_gguf_buf_bytes(out, data, size);
    ed_gguf_buf_pad(out, w->alignment);
}

/* Writes the zero padding that follows a tensor of `size` bytes in a file. */
static inline int ed_gguf_writer_pad_file(const ed_gguf_writer_t *w, FILE *f, uint64_t size)
{
    static const uint8_t zeros[64];
    uint64_t pad = (w->alignment - size % w->alignment) % w->alignment;
    while (pad) {
        size_t n = pad < sizeof zeros ? (size_t)pad : sizeof zeros;
        if (fwrite(zeros, 1, n, f) != n)
            return ED_EIO;
        pad -= n;
    }
    return 0;
}

static inline int ed_gguf_writer_data_file(const ed_gguf_writer_t *w, FILE *f, const void *data, uint64_t size)
{
    if (fwrite(data, 1, size, f) != size)
        return ED_EIO;
    return ed_gguf_writer_pad_file(w, f, size);
}

#endif
