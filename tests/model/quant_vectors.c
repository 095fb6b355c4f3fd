/* quant_vectors.c - edged's block formats against the reference's test
 * vectors (../shared/testdata/quant/quant-vectors.gguf): dequantizing each
 * `<type>` tensor must reproduce `<type>.deq` bit for bit, and quantizing
 * `source` must err (RMS) no more than the reference's quantizer did. */
#include "kernels/quant.h"
#include "model/gguf.h"
#include "tests/test.h"

#define VECTORS "../shared/testdata/quant/quant-vectors.gguf"

static const char *const format_names[] = {
    "q4_0", "q4_1", "q5_0", "q5_1", "q8_0", "q2_K", "q3_K", "q4_K", "q5_K", "q6_K", "f16", "bf16",
};
enum { N_FORMATS = sizeof format_names / sizeof format_names[0] };

static ed_gguf_t *open_vectors(void)
{
    char err[ED_ERR_LEN] = "";
    ed_gguf_t *gguf = NULL;
    int rc = ed_gguf_open(&gguf, VECTORS, err);
    if (rc != 0)
        printf("# %s: %s (%s)\n", VECTORS, ed_strerror(rc), err);
    return gguf;
}

/* The tensor `name` as a float array of `n` elements (F32 in the file). */
static const float *f32_tensor(const ed_gguf_t *gguf, const char *name, int64_t n)
{
    const ed_gguf_tensor_t *t = ed_gguf_find_tensor(gguf, name);
    if (!t || t->type != ED_TYPE_F32 || t->size != (uint64_t)n * sizeof(float)) {
        printf("# tensor %s: missing or not f32 of %lld elements\n", name, (long long)n);
        return NULL;
    }
    return t->data;
}

static double rms_error(const float *a, const float *b, int64_t n)
{
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++)
        sum += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
    return sqrt(sum / (double)n);
}

ED_TEST(lists_tensors)
{
    ed_gguf_t *gguf = open_vectors();
    ED_REQUIRE(gguf);
    for (uint64_t i = 0; i < ed_gguf_n_tensors(gguf); i++) {
        const ed_gguf_tensor_t *t = ed_gguf_tensor(gguf, i);
        printf("# %.*s type=%d ne=%lldx%lld\n", (int)t->name.len, t->name.ptr, t->type,
               (long long)t->ne[0], (long long)t->ne[1]);
    }
    ED_CHECK(ed_gguf_n_tensors(gguf) == 1 + 2 * N_FORMATS);
    ed_gguf_close(gguf);
}

ED_TEST(dequantizes_bit_exact)
{
    ed_gguf_t *gguf = open_vectors();
    ED_REQUIRE(gguf);
    const ed_gguf_tensor_t *source = ed_gguf_find_tensor(gguf, "source");
    ED_REQUIRE(source);
    int64_t n = source->ne[0] * source->ne[1];
    float *ours = malloc((size_t)n * sizeof(float));
    ED_REQUIRE(ours);
    for (int f = 0; f < N_FORMATS; f++) {
        char deq_name[32];
        snprintf(deq_name, sizeof deq_name, "%s.deq", format_names[f]);
        const ed_gguf_tensor_t *t = ed_gguf_find_tensor(gguf, format_names[f]);
        const float *expected = f32_tensor(gguf, deq_name, n);
        ED_CHECK(t && expected);
        if (!t || !expected)
            continue;
        ED_CHECK_INT(t->type, ed_type_from_name(format_names[f]));
        const ed_quant_traits_t *traits = ed_quant_traits(t->type);
        ED_CHECK(traits);
        if (!traits)
            continue;
        traits->to_float(t->data, ours, n);
        int64_t mismatches = 0, first = -1;
        for (int64_t i = 0; i < n; i++)
            if (memcmp(&ours[i], &expected[i], sizeof(float)) != 0 && mismatches++ == 0)
                first = i;
        printf("# %s: %lld of %lld values differ\n", format_names[f], (long long)mismatches,
               (long long)n);
        if (mismatches)
            printf("#   first at %lld: ours %.9g, reference %.9g\n", (long long)first,
                   ours[first], expected[first]);
        ED_CHECK_INT(mismatches, 0);
    }
    free(ours);
    ed_gguf_close(gguf);
}

ED_TEST(quantizes_no_worse_than_reference)
{
    ed_gguf_t *gguf = open_vectors();
    ED_REQUIRE(gguf);
    const ed_gguf_tensor_t *source_tensor = ed_gguf_find_tensor(gguf, "source");
    ED_REQUIRE(source_tensor);
    int64_t n = source_tensor->ne[0] * source_tensor->ne[1];
    const float *source = f32_tensor(gguf, "source", n);
    ED_REQUIRE(source);
    float *ours = malloc((size_t)n * sizeof(float));
    void *blocks = malloc((size_t)n * sizeof(float));
    ED_REQUIRE(ours && blocks);
    for (int f = 0; f < N_FORMATS; f++) {
        char deq_name[32];
        snprintf(deq_name, sizeof deq_name, "%s.deq", format_names[f]);
        const float *reference = f32_tensor(gguf, deq_name, n);
        const ed_quant_traits_t *traits = ed_quant_traits(ed_type_from_name(format_names[f]));
        ED_CHECK(reference && traits);
        if (!reference || !traits)
            continue;
        traits->from_float(source, blocks, n);
        traits->to_float(blocks, ours, n);
        double ours_rms = rms_error(ours, source, n);
        double reference_rms = rms_error(reference, source, n);
        printf("# %s: rms ours=%.6g reference=%.6g ratio=%.4f\n", format_names[f], ours_rms,
               reference_rms, reference_rms > 0 ? ours_rms / reference_rms : 1.0);
        ED_CHECK(ours_rms <= reference_rms * 1.01 + 1e-12);
    }
    free(blocks);
    free(ours);
    ed_gguf_close(gguf);
}

ED_TEST_MAIN(lists_tensors, dequantizes_bit_exact, quantizes_no_worse_than_reference)
