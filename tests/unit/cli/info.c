/* tests/unit/cli/info.c - `model-info` on the tiny Llama of
 * ../shared/testdata: the metadata lines, the tensor table, the totals and
 * the KV-cache arithmetic; a rejected file prints nothing. */
#include "cli/info.h"
#include "tests/test.h"

#include <stdbool.h>
#include <stdio.h>

/* Runs ed_model_info_print into a string (caller frees). */
static char *info_of(const char *path, uint32_t n_ctx, int *rc, char err[ED_ERR_LEN])
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    if (!out)
        return NULL;
    *rc = ed_model_info_print(out, path, n_ctx, err);
    fclose(out);
    return text;
}

static bool has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; (p = strstr(p, line)); p += n)
        if ((p == text || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0'))
            return true;
    return false;
}

ED_TEST(tiny_llama_summary)
{
    char err[ED_ERR_LEN];
    int rc = -1;
    char *text = info_of("../shared/testdata/models/tiny-llama-Q8_0.gguf", 0, &rc, err);
    ED_REQUIRE(text != NULL);
    ED_CHECK_INT(rc, 0);
    ED_CHECK(has_line(text, "architecture                         llama"));
    ED_CHECK(has_line(text, "  block_count                        4"));
    ED_CHECK(has_line(text, "  attention.head_count_kv            4"));
    ED_CHECK(has_line(text, "  rope.freq_base                     10000"));
    ED_CHECK(has_line(text, "  model                              \"llama\""));
    ED_CHECK(has_line(text, "  vocabulary size                    32000"));
    ED_CHECK(has_line(text, "  bos id                             1"));
    ED_CHECK(has_line(text, "  chat template                      no"));
    ED_CHECK(has_line(text, "tensors (39):"));
    ED_CHECK(has_line(text, "  token_embd.weight                  q8_0  [256, 32000]                8704000"));
    ED_CHECK(has_line(text, "  f32       9 tensors           9216 bytes (     0.01 MiB)"));
    /* 2 (K and V) * 4 layers * 2048 positions * 4 KV heads * 32 dims * 2 bytes. */
    ED_CHECK(has_line(text, "memory at n_ctx 2048:"));
    ED_CHECK(has_line(text, "  KV cache (f16)                           4194304 bytes (     4.00 MiB)"));
    if (ed__test_failures)
        printf("%s", text);
    free(text);

    text = info_of("../shared/testdata/models/tiny-llama-Q8_0.gguf", 256, &rc, err);
    ED_REQUIRE(text != NULL);
    ED_CHECK(has_line(text, "memory at n_ctx 256:"));
    ED_CHECK(has_line(text, "  KV cache (f16)                            524288 bytes (     0.50 MiB)"));
    free(text);
}

ED_TEST(rejected_file_prints_nothing)
{
    char err[ED_ERR_LEN];
    int rc = 0;
    char *text = info_of("../shared/testdata/models/tiny-llama-Q8_0.logits.f32", 0, &rc, err);
    ED_REQUIRE(text != NULL);
    ED_CHECK_INT(rc, ED_EFORMAT);
    ED_CHECK(strstr(err, "not a GGUF file") != NULL);
    ED_CHECK_STR(text, "");
    free(text);
    text = info_of("/nonexistent/model.gguf", 0, &rc, err);
    ED_REQUIRE(text != NULL);
    ED_CHECK_INT(rc, ED_ENOENT);
    free(text);
}

ED_TEST_MAIN(tiny_llama_summary, rejected_file_prints_nothing)
