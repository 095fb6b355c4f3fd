/* tests/unit/model/gguf.c - the GGUF reader: every accessor on files built
 * here with tests/tools/gguf_writer.h, a corpus of malformed files each
 * rejected with its exact message and code, truncation at every byte, and the
 * real files of ../shared/testdata.
 * ED_GGUF_WRITE_SEEDS=DIR writes the valid files built here into DIR (the
 * seeds of tests/fuzz/corpus/model_gguf). */
#include "model/gguf.h"
#include "tests/test.h"
#include "tests/tools/gguf_writer.h"

#include <stdint.h>

/* ------------------------------------------------------------ helpers ---- */

/* Opens an exact-size heap copy of b (so a sanitizer sees any overread). */
static int open_copy(ed_gguf_t **g, const ed_gguf_buf_t *b, size_t len, void **copy, char err[ED_ERR_LEN])
{
    *copy = malloc(len ? len : 1);
    if (len)
        memcpy(*copy, b->data, len);
    return ed_gguf_open_memory(g, *copy, len, err);
}

static void write_seed(const char *name, const ed_gguf_buf_t *b)
{
    const char *dir = getenv("ED_GGUF_WRITE_SEEDS");
    if (!dir)
        return;
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(b->data, 1, b->len, f);
        fclose(f);
    }
}

static const float f32_data[12] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11.5f};

/* A file with one key of every type and three tensors (f32 [4,3],
 * q8_0 [32,2], i8 [5]). Returns the byte where the last tensor's data ends. */
static size_t build_valid(ed_gguf_buf_t *out, uint32_t alignment)
{
    ed_gguf_writer_t w;
    ed_gguf_writer_init(&w);
    w.alignment = alignment;
    uint8_t u8 = 200;
    int8_t i8 = -5;
    uint16_t u16 = 60000;
    int16_t i16 = -30000;
    uint64_t u64 = (uint64_t)1 << 40;
    int64_t i64 = INT32_MIN;
    double f64 = 0.5, f64_big = 1e300;
    ed_gguf_writer_str(&w, "general.architecture", "llama");
    if (alignment != 32)
        ed_gguf_writer_u32(&w, "general.alignment", alignment);
    ed_gguf_writer_key(&w, "t.u8", ED_GGUF_UINT8);
    ed_gguf_buf_bytes(&w.kvs, &u8, 1);
    ed_gguf_writer_key(&w, "t.i8", ED_GGUF_INT8);
    ed_gguf_buf_bytes(&w.kvs, &i8, 1);
    ed_gguf_writer_key(&w, "t.u16", ED_GGUF_UINT16);
    ed_gguf_buf_bytes(&w.kvs, &u16, 2);
    ed_gguf_writer_key(&w, "t.i16", ED_GGUF_INT16);
    ed_gguf_buf_bytes(&w.kvs, &i16, 2);
    ed_gguf_writer_u32(&w, "t.u32", 0x80000000u);
    ed_gguf_writer_i32(&w, "t.i32", -7);
    ed_gguf_writer_f32(&w, "t.f32", 1.25f);
    ed_gguf_writer_bool(&w, "t.bool", true);
    ed_gguf_writer_key(&w, "t.u64", ED_GGUF_UINT64);
    ed_gguf_buf_bytes(&w.kvs, &u64, 8);
    ed_gguf_writer_key(&w, "t.i64", ED_GGUF_INT64);
    ed_gguf_buf_bytes(&w.kvs, &i64, 8);
    ed_gguf_writer_key(&w, "t.f64", ED_GGUF_FLOAT64);
    ed_gguf_buf_bytes(&w.kvs, &f64, 8);
    ed_gguf_writer_key(&w, "t.f64_big", ED_GGUF_FLOAT64);
    ed_gguf_buf_bytes(&w.kvs, &f64_big, 8);
    int32_t ints[3] = {1, -2, 3};
    ed_gguf_writer_arr(&w, "t.arr_i32", ED_GGUF_INT32, ints, 3, 4);
    const char *strs[4] = {"<s>", "", "hello", "\xe2\x96\x81world"};
    ed_gguf_writer_arr_str(&w, "t.arr_str", strs, 4);
    ed_gguf_writer_arr_str(&w, "t.arr_empty", strs, 0);

    int64_t ne_a[2] = {4, 3}, ne_b[2] = {32, 2}, ne_c[1] = {5};
    uint64_t size_a = ed_gguf_writer_tensor(&w, "a.weight", ED_TYPE_F32, 2, ne_a);
    uint64_t size_b = ed_gguf_writer_tensor(&w, "b.weight", ED_TYPE_Q8_0, 2, ne_b);
    uint64_t size_c = ed_gguf_writer_tensor(&w, "c", ED_TYPE_I8, 1, ne_c);
    uint8_t q8[68], i8s[5] = {1, 2, 3, 4, 5};
    for (int i = 0; i < 68; i++)
        q8[i] = (uint8_t)i;
    ed_gguf_writer_header(&w, out);
    ed_gguf_writer_data(&w, out, f32_data, size_a);
    ed_gguf_writer_data(&w, out, q8, size_b);
    size_t end = out->len + size_c;
    ed_gguf_writer_data(&w, out, i8s, size_c);
    ed_gguf_writer_free(&w);
    return end;
}

/* ------------------------------------------------------------ valid ---- */

ED_TEST(valid_file_every_accessor)
{
    ed_gguf_buf_t b = {0};
    build_valid(&b, 32);
    write_seed("valid-every-type.gguf", &b);
    ed_gguf_t *g;
    void *copy;
    char err[ED_ERR_LEN];
    int rc = open_copy(&g, &b, b.len, &copy, err);
    if (rc)
        printf("# %s\n", err);
    ED_REQUIRE(rc == 0);
    ED_CHECK_INT(ed_gguf_version(g), 3);
    ED_CHECK_INT(ed_gguf_file_size(g), b.len);
    ED_CHECK_INT(ed_gguf_alignment(g), 32);
    ED_CHECK_INT(ed_gguf_data_offset(g) % 32, 0);
    ED_CHECK_INT(ed_gguf_n_kv(g), 16);
    ED_CHECK(ed_gguf_has(g, "t.u8"));
    ED_CHECK(!ed_gguf_has(g, "t.u"));
    ED_CHECK(!ed_gguf_has(g, "t.u8x"));

    ed_str_t s;
    ED_CHECK_INT(ed_gguf_get_str(g, "general.architecture", &s), 0);
    ED_CHECK(ed_str_eq(s, "llama"));
    ED_CHECK(!ed_str_eq(s, "llam"));
    ED_CHECK(!ed_str_eq(s, "llamas"));
    ED_CHECK_INT(ed_gguf_get_str(g, "t.u8", &s), ED_EFORMAT);
    ED_CHECK_INT(ed_gguf_get_str(g, "absent", &s), ED_ENOENT);

    uint32_t u32;
    uint64_t u64;
    int32_t i32;
    float f;
    bool flag;
    /* Integers widen and narrow when the value fits. */
    ED_CHECK_INT(ed_gguf_get_u32(g, "t.u8", &u32), 0);
    ED_CHECK_INT(u32, 200);
    ED_CHECK_INT(ed_gguf_get_i32(g, "t.u8", &i32), 0);
    ED_CHECK_INT(i32, 200);
    ED_CHECK_INT(ed_gguf_get_i32(g, "t.i8", &i32), 0);
    ED_CHECK_INT(i32, -5);
    ED_CHECK_INT(ed_gguf_get_u32(g, "t.i8", &u32), ED_EFORMAT);
    ED_CHECK_INT(ed_gguf_get_u64(g, "t.i8", &u64), ED_EFORMAT);
    ED_CHECK_INT(ed_gguf_get_u32(g, "t.u16", &u32), 0);
    ED_CHECK_INT(u32, 60000);
    ED_CHECK_INT(ed_gguf_get_i32(g, "t.i16", &i32), 0);
    ED_CHECK_INT(i32, -30000);
    ED_CHECK_INT(ed_gguf_get_u32(g, "t.u32", &u32), 0);
    ED_CHECK_INT(u32, 0x80000000u);
    ED_CHECK_INT(ed_gguf_get_i32(g, "t.u32", &i32), ED_EFORMAT);
    ED_CHECK_INT(ed_gguf_get_u64(g, "t.u32", &u64), 0);
    ED_CHECK_INT(u64, 0x80000000u);
    ED_CHECK_INT(ed_gguf_get_i32(g, "t.i32", &i32), 0);
    ED_CHECK_INT(i32, -7);
    ED_CHECK_INT(ed_gguf_get_u64(g, "t.u64", &u64), 0);
    ED_CHECK_INT(u64, (uint64_t)1 << 40);
    ED_CHECK_INT(ed_gguf_get_u32(g, "t.u64", &u32), ED_EFORMAT);
    ED_CHECK_INT(ed_gguf_get_i32(g, "t.i64", &i32), 0);
    ED_CHECK_INT(i32, INT32_MIN);
    ED_CHECK_INT(ed_gguf_get_u32(g, "t.f32", &u32), ED_EFORMAT);
    ED_CHECK_INT(ed_gguf_get_u32(g, "absent", &u32), ED_ENOENT);
    ED_CHECK_INT(ed_gguf_get_u64(g, "absent", &u64), ED_ENOENT);
    ED_CHECK_INT(ed_gguf_get_i32(g, "absent", &i32), ED_ENOENT);
    /* Floats. */
    ED_CHECK_INT(ed_gguf_get_f32(g, "t.f32", &f), 0);
    ED_CHECK_NEAR(f, 1.25, 0);
    ED_CHECK_INT(ed_gguf_get_f32(g, "t.f64", &f), 0);
    ED_CHECK_NEAR(f, 0.5, 0);
    ED_CHECK_INT(ed_gguf_get_f32(g, "t.f64_big", &f), ED_EFORMAT);
    ED_CHECK_INT(ed_gguf_get_f32(g, "t.u8", &f), ED_EFORMAT);
    ED_CHECK_INT(ed_gguf_get_f32(g, "absent", &f), ED_ENOENT);
    /* Bool. */
    ED_CHECK_INT(ed_gguf_get_bool(g, "t.bool", &flag), 0);
    ED_CHECK(flag);
    ED_CHECK_INT(ed_gguf_get_bool(g, "t.u8", &flag), ED_EFORMAT);
    ED_CHECK_INT(ed_gguf_get_bool(g, "absent", &flag), ED_ENOENT);

    /* Arrays. */
    ed_gguf_arr_t arr;
    ED_CHECK_INT(ed_gguf_get_arr(g, "t.u8", &arr), ED_EFORMAT);
    ED_CHECK_INT(ed_gguf_get_arr(g, "absent", &arr), ED_ENOENT);
    ED_CHECK_INT(ed_gguf_get_arr(g, "t.arr_i32", &arr), 0);
    ED_CHECK_INT(arr.type, ED_GGUF_INT32);
    ED_CHECK_INT(arr.n, 3);
    int32_t ints[3];
    memcpy(ints, arr.data, sizeof ints);
    ED_CHECK(ints[0] == 1 && ints[1] == -2 && ints[2] == 3);
    ED_CHECK_INT(ed_gguf_arr_str(&arr, 0, &s), ED_EINVAL);
    ED_CHECK_INT(ed_gguf_get_arr(g, "t.arr_str", &arr), 0);
    ED_CHECK_INT(arr.type, ED_GGUF_STRING);
    ED_CHECK_INT(arr.n, 4);
    const char *want[4] = {"<s>", "", "hello", "\xe2\x96\x81world"};
    for (uint64_t i = 0; i < 4; i++) {
        ED_CHECK_INT(ed_gguf_arr_str(&arr, i, &s), 0);
        ED_CHECK(ed_str_eq(s, want[i]));
    }
    ED_CHECK_INT(ed_gguf_arr_str(&arr, 3, &s), 0); /* random access after sequential */
    ED_CHECK(ed_str_eq(s, want[3]));
    ED_CHECK_INT(ed_gguf_arr_str(&arr, 1, &s), 0);
    ED_CHECK_INT(s.len, 0);
    ED_CHECK_INT(ed_gguf_arr_str(&arr, 4, &s), ED_ERANGE);
    ED_CHECK_INT(ed_gguf_arr_str(NULL, 0, &s), ED_EINVAL);
    ED_CHECK_INT(ed_gguf_get_arr(g, "t.arr_empty", &arr), 0);
    ED_CHECK_INT(arr.n, 0);
    ED_CHECK_INT(ed_gguf_arr_str(&arr, 0, &s), ED_ERANGE);

    /* Entries in file order, raw bytes. */
    ed_str_t key;
    ed_gguf_vtype_t type;
    const void *raw;
    uint64_t raw_bytes;
    ED_CHECK_INT(ed_gguf_kv_at(g, 0, &key, &type, &raw, &raw_bytes), 0);
    ED_CHECK(ed_str_eq(key, "general.architecture"));
    ED_CHECK_INT(type, ED_GGUF_STRING);
    ED_CHECK_INT(raw_bytes, 8 + 5);
    ED_CHECK(memcmp((const char *)raw + 8, "llama", 5) == 0);
    ED_CHECK_INT(ed_gguf_kv_at(g, 15, &key, &type, &raw, &raw_bytes), 0);
    ED_CHECK(ed_str_eq(key, "t.arr_empty"));
    ED_CHECK_INT(raw_bytes, 12);
    ED_CHECK_INT(ed_gguf_kv_at(g, 16, &key, &type, &raw, &raw_bytes), ED_ERANGE);
    ED_CHECK_STR(ed_gguf_vtype_name(ED_GGUF_FLOAT64), "float64");
    ED_CHECK_STR(ed_gguf_vtype_name((ed_gguf_vtype_t)13), "unknown");

    /* Tensors. */
    ED_REQUIRE(ed_gguf_n_tensors(g) == 3);
    const ed_gguf_tensor_t *a = ed_gguf_tensor(g, 0), *q = ed_gguf_tensor(g, 1), *c = ed_gguf_tensor(g, 2);
    ED_CHECK(ed_gguf_tensor(g, 3) == NULL);
    ED_CHECK(ed_gguf_find_tensor(g, "a.weight") == a);
    ED_CHECK(ed_gguf_find_tensor(g, "b.weight") == q);
    ED_CHECK(ed_gguf_find_tensor(g, "c") == c);
    ED_CHECK(ed_gguf_find_tensor(g, "d") == NULL);
    ED_CHECK(ed_str_eq(a->name, "a.weight"));
    ED_CHECK_INT(a->type, ED_TYPE_F32);
    ED_CHECK_INT(a->n_dims, 2);
    ED_CHECK(a->ne[0] == 4 && a->ne[1] == 3 && a->ne[2] == 1 && a->ne[3] == 1);
    ED_CHECK_INT(a->offset, 0);
    ED_CHECK_INT(a->size, 48);
    ED_CHECK(memcmp(a->data, f32_data, 48) == 0);
    ED_CHECK_INT(((const uint8_t *)a->data - (const uint8_t *)copy) % 32, 0);
    ED_CHECK_INT(q->type, ED_TYPE_Q8_0);
    ED_CHECK_INT(q->offset, 64);
    ED_CHECK_INT(q->size, 68);
    ED_CHECK_INT(((const uint8_t *)q->data)[67], 67);
    ED_CHECK_INT(c->type, ED_TYPE_I8);
    ED_CHECK_INT(c->n_dims, 1);
    ED_CHECK_INT(c->offset, 160);
    ED_CHECK_INT(c->size, 5);
    ED_CHECK_INT(((const uint8_t *)c->data)[4], 5);
    ed_gguf_close(g);
    free(copy);
    ed_gguf_buf_free(&b);
}

ED_TEST(custom_alignment_places_tensors)
{
    ed_gguf_buf_t b = {0};
    build_valid(&b, 128);
    write_seed("valid-align-128.gguf", &b);
    ed_gguf_t *g;
    void *copy;
    char err[ED_ERR_LEN];
    ED_REQUIRE(open_copy(&g, &b, b.len, &copy, err) == 0);
    ED_CHECK_INT(ed_gguf_alignment(g), 128);
    ED_CHECK_INT(ed_gguf_data_offset(g) % 128, 0);
    for (uint64_t i = 0; i < ed_gguf_n_tensors(g); i++)
        ED_CHECK_INT(ed_gguf_tensor(g, i)->offset % 128, 0);
    ED_CHECK_INT(ed_gguf_tensor(g, 2)->offset, 256);
    ed_gguf_close(g);
    free(copy);
    ed_gguf_buf_free(&b);
}

ED_TEST(empty_file_and_version_2)
{
    ed_gguf_writer_t w;
    ed_gguf_writer_init(&w);
    w.version = 2;
    ed_gguf_buf_t b = {0};
    ed_gguf_writer_header(&w, &b);
    b.len = 24; /* no tensors: the padding after the header may be absent */
    write_seed("empty-v2.gguf", &b);
    ed_gguf_t *g;
    void *copy;
    char err[ED_ERR_LEN];
    ED_REQUIRE(open_copy(&g, &b, b.len, &copy, err) == 0);
    ED_CHECK_INT(ed_gguf_version(g), 2);
    ED_CHECK_INT(ed_gguf_n_kv(g), 0);
    ED_CHECK_INT(ed_gguf_n_tensors(g), 0);
    ED_CHECK(ed_gguf_find_tensor(g, "x") == NULL);
    ED_CHECK(!ed_gguf_has(g, "x"));
    ed_gguf_close(g);
    free(copy);
    ed_gguf_close(NULL);
    ed_gguf_writer_free(&w);
    ed_gguf_buf_free(&b);
}

ED_TEST(open_from_path)
{
    ed_gguf_buf_t b = {0};
    build_valid(&b, 32);
    char path[] = "/tmp/ed-gguf-XXXXXX";
    int fd = mkstemp(path);
    ED_REQUIRE(fd >= 0);
    ED_REQUIRE(write(fd, b.data, b.len) == (ssize_t)b.len);
    close(fd);
    ed_gguf_t *g;
    char err[ED_ERR_LEN];
    int rc = ed_gguf_open(&g, path, err);
    ED_CHECK_INT(rc, 0);
    if (rc == 0) {
        ED_CHECK_INT(ed_gguf_n_tensors(g), 3);
        ED_CHECK(memcmp(ed_gguf_find_tensor(g, "a.weight")->data, f32_data, 48) == 0);
        ed_gguf_close(g);
    }
    /* An empty file is a format error, not a crash in mmap. */
    ED_REQUIRE(truncate(path, 0) == 0);
    ED_CHECK_INT(ed_gguf_open(&g, path, err), ED_EFORMAT);
    ED_CHECK_STR(err, "magic: truncated at byte 0 (needs 4 bytes, the file has 0)");
    unlink(path);
    ED_CHECK_INT(ed_gguf_open(&g, path, err), ED_ENOENT);
    ED_CHECK(g == NULL);
    ED_CHECK(strstr(err, path) != NULL);
    ED_CHECK_INT(ed_gguf_open(&g, "/tmp", err), ED_EINVAL);
    ED_CHECK_STR(err, "/tmp: not a regular file");
    ed_gguf_buf_free(&b);
}

ED_TEST(truncation_at_every_byte)
{
    ed_gguf_buf_t b = {0};
    size_t end = build_valid(&b, 32);
    for (size_t len = 0; len < b.len; len++) {
        ed_gguf_t *g;
        void *copy;
        char err[ED_ERR_LEN] = "";
        int rc = open_copy(&g, &b, len, &copy, err);
        if (len < end) {
            if (rc != ED_EFORMAT || !err[0] || g != NULL)
                ED_CHECK_INT(rc, ED_EFORMAT);
        } else {
            ED_CHECK_INT(rc, 0); /* only trailing padding is missing */
            ed_gguf_close(g);
        }
        free(copy);
    }
    ed_gguf_buf_free(&b);
}

/* ---------------------------------------------------------- malformed ---- */

static void header(ed_gguf_buf_t *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv)
{
    ed_gguf_buf_bytes(b, "GGUF", 4);
    ed_gguf_buf_u32(b, version);
    ed_gguf_buf_u64(b, n_tensors);
    ed_gguf_buf_u64(b, n_kv);
}

static void kv_u32(ed_gguf_buf_t *b, const char *key, uint32_t v)
{
    ed_gguf_buf_str(b, key);
    ed_gguf_buf_u32(b, ED_GGUF_UINT32);
    ed_gguf_buf_u32(b, v);
}

static void info(ed_gguf_buf_t *b, const char *name, uint32_t n_dims, const uint64_t *ne,
                 uint32_t type, uint64_t offset)
{
    ed_gguf_buf_str(b, name);
    ed_gguf_buf_u32(b, n_dims);
    for (uint32_t d = 0; d < n_dims; d++)
        ed_gguf_buf_u64(b, ne[d]);
    ed_gguf_buf_u32(b, type);
    ed_gguf_buf_u64(b, offset);
}

/* Pads to 32 and appends `bytes` zero bytes of tensor data. */
static void data(ed_gguf_buf_t *b, size_t bytes)
{
    ed_gguf_buf_pad(b, 32);
    for (size_t i = 0; i < bytes; i++)
        ed_gguf_buf_u8(b, 0);
}

static void filler(ed_gguf_buf_t *b, size_t bytes)
{
    for (size_t i = 0; i < bytes; i++)
        ed_gguf_buf_u8(b, 0);
}

#define ONE(n) ((const uint64_t[]){n})
#define TWO(a, b) ((const uint64_t[]){a, b})

static void bad_magic(ed_gguf_buf_t *b) { ed_gguf_buf_bytes(b, "GGML\x03\0\0\0", 8); filler(b, 16); }
static void bad_magic_binary(ed_gguf_buf_t *b) { ed_gguf_buf_bytes(b, "\x7f" "EL\\", 4); filler(b, 20); }
static void version_0(ed_gguf_buf_t *b) { header(b, 0, 0, 0); }
static void version_1(ed_gguf_buf_t *b) { header(b, 1, 0, 0); }
static void version_4(ed_gguf_buf_t *b) { header(b, 4, 0, 0); }
static void big_endian(ed_gguf_buf_t *b) { header(b, 0x03000000u, 0, 0); }
static void huge_n_kv(ed_gguf_buf_t *b) { header(b, 3, 0, (uint64_t)1 << 63); filler(b, 64); }
static void huge_n_tensors(ed_gguf_buf_t *b) { header(b, 3, (uint64_t)1 << 63, 0); filler(b, 64); }
static void n_kv_above_limit(ed_gguf_buf_t *b) { header(b, 3, 0, ((uint64_t)1 << 20) + 1); filler(b, 15u << 20); }
static void n_tensors_above_limit(ed_gguf_buf_t *b) { header(b, 3, ((uint64_t)1 << 20) + 1, 0); filler(b, 34u << 20); }
static void huge_key_length(ed_gguf_buf_t *b)
{
    header(b, 3, 0, 1);
    ed_gguf_buf_u64(b, (uint64_t)1 << 63);
    filler(b, 32);
}
static void huge_string_length(ed_gguf_buf_t *b)
{
    header(b, 3, 0, 1);
    ed_gguf_buf_str(b, "general.name");
    ed_gguf_buf_u32(b, ED_GGUF_STRING);
    ed_gguf_buf_u64(b, (uint64_t)1 << 63);
    filler(b, 32);
}
static void huge_array_length(ed_gguf_buf_t *b)
{
    header(b, 3, 0, 1);
    ed_gguf_buf_str(b, "tokenizer.ggml.scores");
    ed_gguf_buf_u32(b, ED_GGUF_ARRAY);
    ed_gguf_buf_u32(b, ED_GGUF_FLOAT32);
    ed_gguf_buf_u64(b, (uint64_t)1 << 63);
    filler(b, 32);
}
static void huge_string_array(ed_gguf_buf_t *b)
{
    header(b, 3, 0, 1);
    ed_gguf_buf_str(b, "tokenizer.ggml.tokens");
    ed_gguf_buf_u32(b, ED_GGUF_ARRAY);
    ed_gguf_buf_u32(b, ED_GGUF_STRING);
    ed_gguf_buf_u64(b, (uint64_t)1 << 63);
    filler(b, 32);
}
static void huge_string_in_array(ed_gguf_buf_t *b)
{
    header(b, 3, 0, 1);
    ed_gguf_buf_str(b, "tokenizer.ggml.tokens");
    ed_gguf_buf_u32(b, ED_GGUF_ARRAY);
    ed_gguf_buf_u32(b, ED_GGUF_STRING);
    ed_gguf_buf_u64(b, 2);
    ed_gguf_buf_str(b, "a");
    ed_gguf_buf_u64(b, (uint64_t)1 << 63);
    filler(b, 8);
}
static void bad_value_type(ed_gguf_buf_t *b)
{
    header(b, 3, 0, 1);
    ed_gguf_buf_str(b, "x");
    ed_gguf_buf_u32(b, 13);
    filler(b, 8);
}
static void nested_array(ed_gguf_buf_t *b)
{
    header(b, 3, 0, 1);
    ed_gguf_buf_str(b, "x");
    ed_gguf_buf_u32(b, ED_GGUF_ARRAY);
    ed_gguf_buf_u32(b, ED_GGUF_ARRAY);
    ed_gguf_buf_u64(b, 1);
    filler(b, 16);
}
static void bad_array_type(ed_gguf_buf_t *b)
{
    header(b, 3, 0, 1);
    ed_gguf_buf_str(b, "x");
    ed_gguf_buf_u32(b, ED_GGUF_ARRAY);
    ed_gguf_buf_u32(b, 99);
    ed_gguf_buf_u64(b, 1);
    filler(b, 16);
}
static void empty_key(ed_gguf_buf_t *b) { header(b, 3, 0, 1); kv_u32(b, "", 1); }
static void duplicate_key(ed_gguf_buf_t *b)
{
    header(b, 3, 0, 3);
    kv_u32(b, "a", 1);
    kv_u32(b, "b", 2);
    kv_u32(b, "a", 3);
}
static void alignment_u64(ed_gguf_buf_t *b)
{
    header(b, 3, 0, 1);
    ed_gguf_buf_str(b, "general.alignment");
    ed_gguf_buf_u32(b, ED_GGUF_UINT64);
    ed_gguf_buf_u64(b, 32);
}
static void alignment_0(ed_gguf_buf_t *b) { header(b, 3, 0, 1); kv_u32(b, "general.alignment", 0); }
static void alignment_3(ed_gguf_buf_t *b) { header(b, 3, 0, 1); kv_u32(b, "general.alignment", 3); }
static void n_dims_0(ed_gguf_buf_t *b) { header(b, 3, 1, 0); info(b, "t", 0, NULL, 0, 0); data(b, 64); }
static void n_dims_5(ed_gguf_buf_t *b)
{
    header(b, 3, 1, 0);
    info(b, "t", 5, (const uint64_t[]){1, 1, 1, 1, 1}, 0, 0);
    data(b, 64);
}
static void dim_zero(ed_gguf_buf_t *b) { header(b, 3, 1, 0); info(b, "t", 2, TWO(4, 0), 0, 0); data(b, 64); }
static void dim_negative(ed_gguf_buf_t *b) { header(b, 3, 1, 0); info(b, "t", 1, ONE(UINT64_MAX), 0, 0); data(b, 64); }
static void dims_overflow(ed_gguf_buf_t *b)
{
    header(b, 3, 1, 0);
    info(b, "t", 2, TWO((uint64_t)1 << 32, (uint64_t)1 << 32), 0, 0);
    data(b, 64);
}
static void size_overflow(ed_gguf_buf_t *b) { header(b, 3, 1, 0); info(b, "t", 1, ONE((uint64_t)1 << 62), 0, 0); data(b, 64); }
static void type_unknown(ed_gguf_buf_t *b) { header(b, 3, 1, 0); info(b, "t", 1, ONE(4), 99, 0); data(b, 64); }
static void type_iq2(ed_gguf_buf_t *b) { header(b, 3, 1, 0); info(b, "t", 1, ONE(256), 16, 0); data(b, 128); }
static void type_internal(ed_gguf_buf_t *b) { header(b, 3, 1, 0); info(b, "t", 1, ONE(256), ED_TYPE_Q4_0_R8, 0); data(b, 160); }
static void type_huge(ed_gguf_buf_t *b) { header(b, 3, 1, 0); info(b, "t", 1, ONE(4), 0x80000000u, 0); data(b, 64); }
static void not_block_multiple(ed_gguf_buf_t *b)
{
    header(b, 3, 1, 0);
    info(b, "t", 2, TWO(33, 2), ED_TYPE_Q8_0, 0);
    data(b, 128);
}
static void misaligned_offset(ed_gguf_buf_t *b) { header(b, 3, 1, 0); info(b, "t", 1, ONE(4), 0, 4); data(b, 64); }
static void offset_past_end(ed_gguf_buf_t *b) { header(b, 3, 1, 0); info(b, "blk.0.attn_q.weight", 1, ONE(4), 0, 64); data(b, 64); }
static void offset_overflow(ed_gguf_buf_t *b)
{
    header(b, 3, 1, 0);
    info(b, "t", 1, ONE(4), 0, UINT64_MAX - 31);
    data(b, 64);
}
static void data_start_past_end(ed_gguf_buf_t *b) { header(b, 3, 1, 0); info(b, "t", 1, ONE(1), ED_TYPE_I8, 0); }
static void duplicate_tensor(ed_gguf_buf_t *b)
{
    header(b, 3, 2, 0);
    info(b, "t", 1, ONE(4), 0, 0);
    info(b, "t", 1, ONE(4), 0, 32);
    data(b, 64);
}
static void overlapping_tensors(ed_gguf_buf_t *b)
{
    header(b, 3, 3, 0);
    info(b, "a", 1, ONE(8), 0, 64);
    info(b, "b", 1, ONE(20), 0, 0);
    info(b, "c", 1, ONE(4), 0, 96);
    data(b, 128);
}
static void empty_tensor_name(ed_gguf_buf_t *b) { header(b, 3, 1, 0); info(b, "", 1, ONE(4), 0, 0); data(b, 64); }
static void long_tensor_name(ed_gguf_buf_t *b)
{
    char name[66];
    memset(name, 'x', 65);
    name[65] = '\0';
    header(b, 3, 1, 0);
    info(b, name, 1, ONE(4), 0, 0);
    data(b, 64);
}
static void odd_bytes_in_key(ed_gguf_buf_t *b)
{
    header(b, 3, 0, 2);
    kv_u32(b, "a\n\xff", 1);
    kv_u32(b, "a\n\xff", 1);
}

typedef struct {
    const char *name;
    void (*build)(ed_gguf_buf_t *);
    int code;
    const char *message;
} malformed_t;

static const malformed_t malformed[] = {
    {"bad_magic", bad_magic, ED_EFORMAT, "not a GGUF file: magic \"GGML\" (expected \"GGUF\")"},
    {"bad_magic_binary", bad_magic_binary, ED_EFORMAT, "not a GGUF file: magic \"\\x7fEL\\x5c\" (expected \"GGUF\")"},
    {"version_0", version_0, ED_EUNSUPPORTED, "GGUF version 0 is not supported (expected 2 or 3)"},
    {"version_1", version_1, ED_EUNSUPPORTED,
     "GGUF version 1 is not supported (expected 2 or 3; convert the file with a current llama.cpp)"},
    {"version_4", version_4, ED_EUNSUPPORTED, "GGUF version 4 is not supported (expected 2 or 3)"},
    {"big_endian", big_endian, ED_EUNSUPPORTED, "big-endian GGUF files are not supported"},
    {"huge_n_kv", huge_n_kv, ED_EFORMAT,
     "n_kv 9223372036854775808: the 64 bytes after the header hold at most 4 entries"},
    {"huge_n_tensors", huge_n_tensors, ED_EFORMAT,
     "n_tensors 9223372036854775808: the file (88 bytes) holds at most 1 tensor infos after 0 metadata entries"},
    {"n_kv_above_limit", n_kv_above_limit, ED_EUNSUPPORTED, "n_kv 1048577 exceeds the limit 1048576"},
    {"n_tensors_above_limit", n_tensors_above_limit, ED_EUNSUPPORTED, "n_tensors 1048577 exceeds the limit 1048576"},
    {"huge_key_length", huge_key_length, ED_EFORMAT, "metadata 0: key: length 9223372036854775808 exceeds 65535"},
    {"huge_string_length", huge_string_length, ED_EFORMAT,
     "metadata 0 (general.name): string value: truncated at byte 56 (needs 9223372036854775808 bytes, the file has 88)"},
    {"huge_array_length", huge_array_length, ED_EFORMAT,
     "metadata 0 (tokenizer.ggml.scores): array of 9223372036854775808 float32 needs more than the 32 bytes left in the file"},
    {"huge_string_array", huge_string_array, ED_EFORMAT,
     "metadata 0 (tokenizer.ggml.tokens): array of 9223372036854775808 strings needs more than the 32 bytes left in the file"},
    {"huge_string_in_array", huge_string_in_array, ED_EFORMAT,
     "metadata 0 (tokenizer.ggml.tokens): string 1 of 2: truncated at byte 86 (needs 9223372036854775808 bytes, the file has 94)"},
    {"bad_value_type", bad_value_type, ED_EFORMAT, "metadata 0 (x): value type 13 is not a GGUF type (0..12)"},
    {"nested_array", nested_array, ED_EUNSUPPORTED, "metadata 0 (x): nested arrays are not supported"},
    {"bad_array_type", bad_array_type, ED_EFORMAT, "metadata 0 (x): array element type 99 is not a GGUF type (0..12)"},
    {"empty_key", empty_key, ED_EFORMAT, "metadata 0: empty key"},
    {"duplicate_key", duplicate_key, ED_EFORMAT, "metadata 2 (a): duplicate key (first at metadata 0)"},
    {"odd_bytes_in_key", odd_bytes_in_key, ED_EFORMAT, "metadata 1 (a\\x0a\\xff): duplicate key (first at metadata 0)"},
    {"alignment_u64", alignment_u64, ED_EFORMAT, "general.alignment has type uint64 (expected uint32)"},
    {"alignment_0", alignment_0, ED_EFORMAT, "general.alignment 0 is not a power of two"},
    {"alignment_3", alignment_3, ED_EFORMAT, "general.alignment 3 is not a power of two"},
    {"n_dims_0", n_dims_0, ED_EFORMAT, "tensor 0 (t): n_dims 0 (expected 1..4)"},
    {"n_dims_5", n_dims_5, ED_EFORMAT, "tensor 0 (t): n_dims 5 (expected 1..4)"},
    {"dim_zero", dim_zero, ED_EFORMAT, "tensor 0 (t): ne[1] = 0 (expected 1..2^63-1)"},
    {"dim_negative", dim_negative, ED_EFORMAT, "tensor 0 (t): ne[0] = 18446744073709551615 (expected 1..2^63-1)"},
    {"dims_overflow", dims_overflow, ED_EOVERFLOW, "tensor 0 (t): ne[1] = 4294967296: the element count overflows 2^63-1"},
    {"size_overflow", size_overflow, ED_EOVERFLOW, "tensor 0 (t): f32 data of 4611686018427387904 elements overflows 64 bits"},
    {"type_unknown", type_unknown, ED_EFORMAT, "tensor 0 (t): type 99 is not a GGML tensor type"},
    {"type_internal", type_internal, ED_EFORMAT, "tensor 0 (t): type 64 is not a GGML tensor type"},
    {"type_huge", type_huge, ED_EFORMAT, "tensor 0 (t): type 2147483648 is not a GGML tensor type"},
    {"type_iq2", type_iq2, ED_EUNSUPPORTED, "tensor 0 (t): type 16 (iq2_xxs) is not supported"},
    {"not_block_multiple", not_block_multiple, ED_EFORMAT,
     "tensor 0 (t): ne[0] = 33 is not a multiple of the q8_0 block length 32"},
    {"misaligned_offset", misaligned_offset, ED_EFORMAT, "tensor 0 (t): offset 4 is not a multiple of the alignment 32"},
    {"offset_past_end", offset_past_end, ED_EFORMAT,
     "tensor 0 (blk.0.attn_q.weight): data [160, 176) extends past the end of the file (160 bytes)"},
    {"offset_overflow", offset_overflow, ED_EOVERFLOW,
     "tensor 0 (t): data offset 18446744073709551584 + size 16 overflows 64 bits"},
    {"data_start_past_end", data_start_past_end, ED_EFORMAT,
     "the data section starts at byte 64, past the end of the file (57 bytes)"},
    {"duplicate_tensor", duplicate_tensor, ED_EFORMAT, "tensor 1 (t): duplicate name (first at tensor 0)"},
    {"overlapping_tensors", overlapping_tensors, ED_EFORMAT,
     "tensor 0 (a): data [192, 224) overlaps tensor 1 (b) at [128, 208)"},
    {"empty_tensor_name", empty_tensor_name, ED_EFORMAT, "tensor 0: empty name"},
    {"long_tensor_name", long_tensor_name, ED_EFORMAT, "tensor 0: name: length 65 exceeds 64"},
};

ED_TEST(malformed_files_rejected_with_exact_errors)
{
    for (size_t i = 0; i < sizeof malformed / sizeof malformed[0]; i++) {
        const malformed_t *m = &malformed[i];
        ed_gguf_buf_t b = {0};
        m->build(&b);
        ED_REQUIRE(!b.failed);
        ed_gguf_t *g = (ed_gguf_t *)&b; /* must be reset to NULL */
        void *copy;
        char err[ED_ERR_LEN] = "";
        int rc = open_copy(&g, &b, b.len, &copy, err);
        if (rc != m->code || strcmp(err, m->message) != 0)
            ED__FAIL("%s: got %s \"%s\", expected %s \"%s\"", m->name, ed_err_name(rc), err,
                     ed_err_name(m->code), m->message);
        ED_CHECK(g == NULL);
        if (b.len < 4096) {
            char seed[96];
            snprintf(seed, sizeof seed, "bad-%s.gguf", m->name);
            write_seed(seed, &b);
        }
        free(copy);
        ed_gguf_buf_free(&b);
    }
}

/* ---------------------------------------------------------- real files ---- */

static ed_gguf_t *open_testdata(const char *rel)
{
    char path[256], err[ED_ERR_LEN];
    snprintf(path, sizeof path, "../shared/testdata/%s", rel);
    ed_gguf_t *g = NULL;
    int rc = ed_gguf_open(&g, path, err);
    if (rc)
        printf("#   %s: %s (%s)\n", path, err, ed_err_name(rc));
    return g;
}

ED_TEST(real_models)
{
    static const char *const files[] = {"models/tiny-llama-Q8_0.gguf", "models/tiny-llama-Q4_0.gguf",
                                        "models/tiny-llama-Q4_K_M.gguf"};
    for (size_t f = 0; f < 3; f++) {
        ed_gguf_t *g = open_testdata(files[f]);
        ED_REQUIRE(g != NULL);
        ed_str_t s;
        uint32_t u32;
        float eps;
        ED_CHECK_INT(ed_gguf_get_str(g, "general.architecture", &s), 0);
        ED_CHECK(ed_str_eq(s, "llama"));
        ED_CHECK_INT(ed_gguf_get_u32(g, "llama.block_count", &u32), 0);
        ED_CHECK_INT(u32, 4);
        ED_CHECK_INT(ed_gguf_get_u32(g, "llama.embedding_length", &u32), 0);
        ED_CHECK_INT(u32, 256);
        ED_CHECK_INT(ed_gguf_get_u32(g, "llama.attention.head_count_kv", &u32), 0);
        ED_CHECK_INT(u32, 4);
        ED_CHECK_INT(ed_gguf_get_f32(g, "llama.attention.layer_norm_rms_epsilon", &eps), 0);
        ED_CHECK_NEAR(eps, 1e-5, 1e-9);
        ed_gguf_arr_t tokens;
        ED_CHECK_INT(ed_gguf_get_arr(g, "tokenizer.ggml.tokens", &tokens), 0);
        ED_CHECK_INT(tokens.n, 32000);
        ED_CHECK_INT(ed_gguf_arr_str(&tokens, 1, &s), 0);
        ED_CHECK(ed_str_eq(s, "<s>"));
        ED_CHECK_INT(ed_gguf_n_tensors(g), 4 * 9 + 3);
        const ed_gguf_tensor_t *t = ed_gguf_find_tensor(g, "token_embd.weight");
        ED_REQUIRE(t != NULL);
        ED_CHECK(t->n_dims == 2 && t->ne[0] == 256 && t->ne[1] == 32000);
        t = ed_gguf_find_tensor(g, "blk.3.ffn_down.weight");
        ED_REQUIRE(t != NULL);
        ED_CHECK(t->ne[0] == 768 && t->ne[1] == 256);
        t = ed_gguf_find_tensor(g, "output_norm.weight");
        ED_REQUIRE(t != NULL);
        ED_CHECK_INT(t->type, ED_TYPE_F32);
        ed_gguf_close(g);
    }
}

ED_TEST(real_vocab_and_quant_files)
{
    static const struct {
        const char *file, *model;
        uint64_t n_vocab;
    } vocabs[] = {
        {"vocab/ggml-vocab-llama-spm.gguf", "llama", 32000},
        {"vocab/ggml-vocab-gpt-2.gguf", "gpt2", 50257},
        {"vocab/ggml-vocab-bert-bge.gguf", "bert", 30522},
    };
    for (size_t v = 0; v < 3; v++) {
        ed_gguf_t *g = open_testdata(vocabs[v].file);
        ED_REQUIRE(g != NULL);
        ed_str_t s;
        ED_CHECK_INT(ed_gguf_get_str(g, "tokenizer.ggml.model", &s), 0);
        ED_CHECK(ed_str_eq(s, vocabs[v].model));
        ed_gguf_arr_t tokens;
        ED_CHECK_INT(ed_gguf_get_arr(g, "tokenizer.ggml.tokens", &tokens), 0);
        ED_CHECK_INT(tokens.n, vocabs[v].n_vocab);
        ED_CHECK_INT(ed_gguf_arr_str(&tokens, tokens.n - 1, &s), 0);
        ED_CHECK(s.len > 0);
        ED_CHECK_INT(ed_gguf_n_tensors(g), 0);
        ed_gguf_close(g);
    }
    ed_gguf_t *g = open_testdata("quant/quant-vectors.gguf");
    ED_REQUIRE(g != NULL);
    const ed_gguf_tensor_t *src = ed_gguf_find_tensor(g, "source");
    ED_REQUIRE(src != NULL);
    ED_CHECK(src->type == ED_TYPE_F32 && src->ne[0] == 512 && src->ne[1] == 8);
    static const struct {
        const char *name;
        ed_type_t type;
    } quants[] = {{"q4_0", ED_TYPE_Q4_0}, {"q8_0", ED_TYPE_Q8_0}, {"q2_K", ED_TYPE_Q2_K},
                  {"q4_K", ED_TYPE_Q4_K}, {"q6_K", ED_TYPE_Q6_K}, {"bf16", ED_TYPE_BF16}};
    for (size_t q = 0; q < sizeof quants / sizeof quants[0]; q++) {
        const ed_gguf_tensor_t *t = ed_gguf_find_tensor(g, quants[q].name);
        ED_REQUIRE(t != NULL);
        ED_CHECK_INT(t->type, quants[q].type);
        uint64_t row_bytes;
        ED_CHECK_INT(ed_type_row_size(t->type, 512, &row_bytes), 0);
        ED_CHECK_INT(t->size, row_bytes * 8);
        char deq[32];
        snprintf(deq, sizeof deq, "%s.deq", quants[q].name);
        ED_CHECK(ed_gguf_find_tensor(g, deq) != NULL);
    }
    ed_gguf_close(g);
}

ED_TEST_MAIN(valid_file_every_accessor, custom_alignment_places_tensors, empty_file_and_version_2,
             open_from_path, truncation_at_every_byte, malformed_files_rejected_with_exact_errors,
             real_models, real_vocab_and_quant_files)
