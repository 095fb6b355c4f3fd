/* Tests clients/edgectl/gguf_check.c, edgectl's own GGUF reader: the real
 * models of ../shared/testdata pass with their architecture and counts; a
 * hand-written file passes whole and fails cut at every byte, and a bad
 * magic, version or tensor extent is named. */
#include "clients/edgectl/gguf_check.c"
#include "../../test.h"

#include <stdio.h>
#include <stdlib.h>

static char path[64];

static void put(FILE *f, const void *p, size_t n) { fwrite(p, 1, n, f); }
static void put_u32(FILE *f, uint32_t v) { put(f, &v, 4); }
static void put_u64(FILE *f, uint64_t v) { put(f, &v, 8); }
static void put_str(FILE *f, const char *s) { put_u64(f, strlen(s)), put(f, s, strlen(s)); }

/* A GGUF v3 file: general.architecture = "llama", an array of strings, and
 * two tensors (f32 [4] and q8_0 [32, 2]) in a 32-byte-aligned data section
 * of 16 + 68 bytes; data_bytes lets the last tensor claim more than is there. */
static long write_model(uint32_t version, uint64_t data_bytes)
{
    snprintf(path, sizeof path, "/tmp/edgectl-gguf-%d.gguf", (int)getpid());
    FILE *f = fopen(path, "wb");
    put(f, "GGUF", 4);
    put_u32(f, version);
    put_u64(f, 2); /* tensors */
    put_u64(f, 2); /* metadata */
    put_str(f, "general.architecture");
    put_u32(f, 8);
    put_str(f, "llama");
    put_str(f, "tokenizer.ggml.tokens");
    put_u32(f, 9);
    put_u32(f, 8);
    put_u64(f, 2);
    put_str(f, "a");
    put_str(f, "bc");
    put_str(f, "norm");
    put_u32(f, 1);
    put_u64(f, 4);
    put_u32(f, 0);
    put_u64(f, 0);
    put_str(f, "w");
    put_u32(f, 2);
    put_u64(f, 32);
    put_u64(f, 2);
    put_u32(f, 8);
    put_u64(f, 32);
    long at = ftell(f);
    for (; at % 32; at++)
        fputc(0, f);
    for (uint64_t i = 0; i < 32 + data_bytes; i++)
        fputc(1, f);
    long size = ftell(f);
    fclose(f);
    return size;
}

ED_TEST(testdata_models_pass)
{
    static const char *const files[] = {"models/tiny-llama-Q4_0.gguf", "models/tiny-llama-Q4_K_M.gguf",
                                        "models/tiny-llama-Q8_0.gguf", "real/edged-tiny-26m-f16.gguf",
                                        "quant/quant-vectors.gguf", "vocab/ggml-vocab-llama-spm.gguf"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char file[256], why[256] = "";
        snprintf(file, sizeof file, "../shared/testdata/%s", files[i]);
        ed_gguf_check_t g;
        int rc = ed_gguf_check_file(file, &g, why, sizeof why);
        printf("# %s: rc %d, v%u, %s, %llu tensors %s\n", files[i], rc, g.version, g.architecture,
               (unsigned long long)g.n_tensors, why);
        ED_CHECK_INT(rc, 0);
    }
}

ED_TEST(hand_written_file)
{
    char why[256] = "";
    ed_gguf_check_t g;
    long size = write_model(3, 68);
    ED_REQUIRE(ed_gguf_check_file(path, &g, why, sizeof why) == 0);
    ED_CHECK_INT((int)g.version, 3);
    ED_CHECK_STR(g.architecture, "llama");
    ED_CHECK_INT((int)g.n_tensors, 2);
    ED_CHECK_INT((int)g.n_kv, 2);

    /* every cut fails (the last tensor's data is the file's tail) */
    FILE *f = fopen(path, "rb");
    char *data = malloc((size_t)size);
    ED_REQUIRE(fread(data, 1, (size_t)size, f) == (size_t)size);
    fclose(f);
    for (long cut = 0; cut < size; cut++) {
        f = fopen(path, "wb");
        fwrite(data, 1, (size_t)cut, f);
        fclose(f);
        ED_CHECK(ed_gguf_check_file(path, &g, why, sizeof why) == -1);
    }
    free(data);

    write_model(3, 67);
    ED_CHECK(ed_gguf_check_file(path, &g, why, sizeof why) == -1);
    ED_CHECK(strstr(why, "the tensor data needs") != NULL);
    write_model(1, 68);
    ED_CHECK(ed_gguf_check_file(path, &g, why, sizeof why) == -1);
    ED_CHECK_STR(why, "GGUF version 1 is not supported (expected 2 or 3)");
    f = fopen(path, "r+b");
    fputc('X', f);
    fclose(f);
    ED_CHECK(ed_gguf_check_file(path, &g, why, sizeof why) == -1);
    ED_CHECK_STR(why, "magic is not \"GGUF\"");
    unlink(path);
}

ED_TEST_MAIN(testdata_models_pass, hand_written_file)
