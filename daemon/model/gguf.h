/* gguf.h - a validated, read-only reader of GGUF v2/v3 files.
 * The file is mapped once and never copied; every count, length, type,
 * offset, alignment and tensor size is checked against the file size with
 * overflow-checked arithmetic at open, so the accessors below cannot read
 * outside the mapping. Strings point into the mapping and are NOT
 * NUL-terminated: use their length. Any thread may read an open file.
 * Decisions: arrays of arrays are rejected (ED_EUNSUPPORTED: no writer makes
 * them); keys and tensor names must be non-empty and unique (names at most 64
 * bytes); n_dims is 1..4 and every dimension > 0; tensors must not overlap;
 * n_kv and n_tensors are bounded by what the file's size can hold and by
 * 2^20 each, so a small file cannot make the reader allocate much. */
#ifndef ED_MODEL_GGUF_H
#define ED_MODEL_GGUF_H

#include "core/error.h"
#include "kernels/types.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    ED_GGUF_UINT8 = 0,
    ED_GGUF_INT8 = 1,
    ED_GGUF_UINT16 = 2,
    ED_GGUF_INT16 = 3,
    ED_GGUF_UINT32 = 4,
    ED_GGUF_INT32 = 5,
    ED_GGUF_FLOAT32 = 6,
    ED_GGUF_BOOL = 7,
    ED_GGUF_STRING = 8,
    ED_GGUF_ARRAY = 9,
    ED_GGUF_UINT64 = 10,
    ED_GGUF_INT64 = 11,
    ED_GGUF_FLOAT64 = 12,
} ed_gguf_vtype_t;

typedef struct {
    const char *ptr; /* into the mapping; not NUL-terminated */
    uint64_t len;
} ed_str_t;

#define ED_GGUF_MAX_DIMS 4

typedef struct {
    ed_str_t name;
    ed_type_t type;
    uint32_t n_dims;
    int64_t ne[ED_GGUF_MAX_DIMS]; /* elements per dimension, ne[0] innermost; unused = 1 */
    uint64_t offset;              /* from the start of the data section */
    uint64_t size;                /* bytes */
    const void *data;             /* into the mapping, aligned to the file's alignment */
} ed_gguf_tensor_t;

typedef struct ed_gguf ed_gguf_t;
typedef struct ed_gguf_arr {
    ed_gguf_vtype_t type; /* element type */
    uint64_t n;           /* element count */
    const void *data;     /* packed little-endian elements, unaligned (memcpy them);
                             for STRING arrays use ed_gguf_arr_str() */
    const struct ed_gguf_kv *kv;
} ed_gguf_arr_t;

/* Opens and validates `path`. Returns 0, or a negative ED_E* code with
 * `err` naming the field, its value and what was expected. */
int ed_gguf_open(ed_gguf_t **out, const char *path, char err[ED_ERR_LEN]);
/* The same over a caller's buffer, which must outlive the reader (fuzzing, tests). */
int ed_gguf_open_memory(ed_gguf_t **out, const void *data, size_t size, char err[ED_ERR_LEN]);
/* Accepts NULL and a half-opened reader. */
void ed_gguf_close(ed_gguf_t *gguf);

uint32_t ed_gguf_version(const ed_gguf_t *gguf);
uint64_t ed_gguf_file_size(const ed_gguf_t *gguf);
/* general.alignment (default 32), and the file offset of the data section. */
uint32_t ed_gguf_alignment(const ed_gguf_t *gguf);
uint64_t ed_gguf_data_offset(const ed_gguf_t *gguf);

/* Metadata. Getters return 0, ED_ENOENT when the key is absent, or ED_EFORMAT
 * when the stored type cannot be represented (integers widen and narrow only
 * when the value fits). */
uint64_t ed_gguf_n_kv(const ed_gguf_t *gguf);
bool ed_gguf_has(const ed_gguf_t *gguf, const char *key);
int ed_gguf_get_u32(const ed_gguf_t *gguf, const char *key, uint32_t *out);
int ed_gguf_get_u64(const ed_gguf_t *gguf, const char *key, uint64_t *out);
int ed_gguf_get_i32(const ed_gguf_t *gguf, const char *key, int32_t *out);
int ed_gguf_get_f32(const ed_gguf_t *gguf, const char *key, float *out);
int ed_gguf_get_bool(const ed_gguf_t *gguf, const char *key, bool *out);
int ed_gguf_get_str(const ed_gguf_t *gguf, const char *key, ed_str_t *out);
int ed_gguf_get_arr(const ed_gguf_t *gguf, const char *key, ed_gguf_arr_t *out);
/* Metadata entry i (< n_kv) in file order: its key, its type, and its value's
 * bytes exactly as stored (a STRING with its length prefix, an ARRAY with its
 * element type and count), for copying into another file. 0 or ED_ERANGE. */
int ed_gguf_kv_at(const ed_gguf_t *gguf, uint64_t i, ed_str_t *key, ed_gguf_vtype_t *type,
                  const void **raw, uint64_t *raw_bytes);
/* "uint32", "string", ...; "unknown" for other values. */
const char *ed_gguf_vtype_name(ed_gguf_vtype_t type);
/* Element i of a STRING array: 0, or ED_ERANGE / ED_EINVAL. O(1). */
int ed_gguf_arr_str(const ed_gguf_arr_t *arr, uint64_t i, ed_str_t *out);

/* Tensors. */
uint64_t ed_gguf_n_tensors(const ed_gguf_t *gguf);
const ed_gguf_tensor_t *ed_gguf_tensor(const ed_gguf_t *gguf, uint64_t i);
/* NULL when absent. */
const ed_gguf_tensor_t *ed_gguf_find_tensor(const ed_gguf_t *gguf, const char *name);

/* True when s equals the NUL-terminated c. */
bool ed_str_eq(ed_str_t s, const char *c);

#endif
