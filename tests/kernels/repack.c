/* tests/kernels/repack.c - the interleaved layouts of kernels/repack.h:
 * repacking keeps every weight (dequantized bit for bit as the file layout,
 * padding zero), quantizing straight to a layout equals repacking the file
 * type's quantization, the q8_0_x8 activations hold q8_0's values and block
 * sums, every op table's SIMD quantizer (q8_0, q8_0_x8, q8_K, q8_K_x8) writes the
 * scalar one's bytes (ties included), and the interleaved dot products agree with the file layout's.
 * The products themselves are in tests/kernels/matmul.c. */
#include "kernels/kernels.h"
#include "kernels/matmul.h"
#include "kernels/repack.h"
#include "tests/test.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

static uint64_t rng_state = 99;

static float rng_uniform(float lo, float hi)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return lo + (hi - lo) * (float)((rng_state >> 40) * (1.0 / 16777216.0));
}

static const int widths[] = {32, 96, 256, 608, 2048}; /* a partial group alone, whole groups, both */

static size_t row_bytes(int type, int n)
{
    uint64_t bytes = 0;
    ED_CHECK_INT(ed_type_row_size(type, (uint64_t)n, &bytes), 0);
    return (size_t)bytes;
}

static void check_repack(int file_type)
{
    int type = ed_repack_type(file_type);
    ED_REQUIRE(type >= 0);
    const ed_quant_traits_t *file = ed_quant_traits(file_type), *packed = ed_quant_traits(type);
    ED_REQUIRE(file && packed);
    ED_CHECK_INT(packed->vec_dot_type, ED_TYPE_Q8_0_X8);
    for (size_t w = 0; w < sizeof widths / sizeof widths[0]; w++) {
        int n = widths[w], rows = 3;
        size_t file_row = row_bytes(file_type, n), packed_row = row_bytes(type, n);
        /* rows are padded to whole groups of 8 blocks, each the file's bytes */
        ED_CHECK_INT(packed_row, (size_t)((n / ED_QK + ED_R8 - 1) / ED_R8 * ED_R8) * (file_row / (size_t)(n / ED_QK)));
        float *x = malloc(sizeof(float) * (size_t)n * rows), *a = malloc(sizeof(float) * (size_t)n),
              *b = malloc(sizeof(float) * (size_t)n);
        uint8_t *q = malloc(file_row * rows), *r = malloc(packed_row * rows), *direct = malloc(packed_row);
        ED_REQUIRE(x && a && b && q && r && direct);
        for (int i = 0; i < n * rows; i++)
            x[i] = rng_uniform(-3, 3);
        for (int row = 0; row < rows; row++)
            file->from_float(x + (size_t)row * n, q + row * file_row, n);
        memset(r, 0xAA, packed_row * rows);
        ed_repack_rows(file_type, q, r, n, 0, 1); /* in two calls, as a split would */
        ed_repack_rows(file_type, q, r, n, 1, rows);
        for (int row = 0; row < rows; row++) {
            file->to_float(q + row * file_row, a, n);
            packed->to_float(r + row * packed_row, b, n);
            ED_CHECK(memcmp(a, b, sizeof(float) * (size_t)n) == 0);
            /* quantizing straight to the layout gives the repacked bytes */
            packed->from_float(x + (size_t)row * n, direct, n);
            ED_CHECK(memcmp(direct, r + row * packed_row, packed_row) == 0);
        }
        /* the last group's missing blocks are zero: scale 0 and quants 0 */
        int missing = (ED_R8 - n / ED_QK % ED_R8) % ED_R8;
        size_t group = packed_row / (size_t)((n / ED_QK + ED_R8 - 1) / ED_R8);
        const uint8_t *last = r + packed_row - group;
        for (int j = ED_R8 - missing; j < ED_R8; j++) {
            ED_CHECK(last[2 * j] == 0 && last[2 * j + 1] == 0);
            for (size_t unit = 0; unit < (group - 2 * ED_R8) / 32; unit++)
                for (int i = 0; i < 4; i++)
                    ED_CHECK(last[2 * ED_R8 + 32 * unit + 4 * (size_t)j + (size_t)i] == 0);
        }
        free(x), free(a), free(b), free(q), free(r), free(direct);
    }
}

ED_TEST(q4_0_repack_keeps_every_weight)
{
    check_repack(ED_TYPE_Q4_0);
}

ED_TEST(q8_0_repack_keeps_every_weight)
{
    check_repack(ED_TYPE_Q8_0);
}

/* q4_K_r8 keeps each super-block's bytes (d, dmin, scales, and the levels
 * reordered), and q8_K_x8 holds q8_K's values with sums per 32. */
ED_TEST(q4_K_repack_keeps_every_weight)
{
    enum { N = 3 * ED_QK_K };
    static float x[N], a[N], b[N];
    static ed_block_q4_K_t file[3];
    static ed_block_q4_K_r8_t packed[3], direct[3];
    const ed_quant_traits_t *q4k = ed_quant_traits(ED_TYPE_Q4_K), *r8 = ed_quant_traits(ED_TYPE_Q4_K_R8);
    ED_CHECK_INT(ed_repack_type(ED_TYPE_Q4_K), ED_TYPE_Q4_K_R8);
    ED_CHECK_INT(r8->vec_dot_type, ED_TYPE_Q8_K_X8);
    for (int i = 0; i < N; i++)
        x[i] = rng_uniform(-3, 3);
    q4k->from_float(x, file, N);
    ed_repack_rows(ED_TYPE_Q4_K, file, packed, N, 0, 1);
    q4k->to_float(file, a, N);
    r8->to_float(packed, b, N);
    ED_CHECK(memcmp(a, b, sizeof a) == 0);
    r8->from_float(x, direct, N);
    ED_CHECK(memcmp(direct, packed, sizeof packed) == 0);
    for (int i = 0; i < 3; i++)
        ED_CHECK(packed[i].d == file[i].d && packed[i].dmin == file[i].dmin &&
                 memcmp(packed[i].scales, file[i].scales, 12) == 0);

    static ed_block_q8_K_t act[3];
    static ed_block_q8_K_x8_t act_x8[3];
    ed_quant_traits(ED_TYPE_Q8_K)->from_float(x, act, N);
    ed_quant_traits(ED_TYPE_Q8_K_X8)->from_float(x, act_x8, N);
    ed_quant_traits(ED_TYPE_Q8_K)->to_float(act, a, N);
    ed_quant_traits(ED_TYPE_Q8_K_X8)->to_float(act_x8, b, N);
    ED_CHECK(memcmp(a, b, sizeof a) == 0);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < ED_R8; j++)
            ED_CHECK_INT(act_x8[i].sum[j], act[i].bsums[2 * j] + act[i].bsums[2 * j + 1]);
    /* the dot products agree with q4_K's */
    const ed_kernels_t *ref = ed_kernels_by_name("ref");
    float file_dot, packed_dot;
    ref->vec_dot[ED_TYPE_Q4_K](N, &file_dot, file, act);
    ref->vec_dot[ED_TYPE_Q4_K_R8](N, &packed_dot, packed, act_x8);
    printf("# q4_K: file %.7g, interleaved %.7g\n", file_dot, packed_dot);
    ED_CHECK(fabsf(file_dot - packed_dot) <= 1e-5f * (fabsf(file_dot) + 1));
}

/* q6_K_r8 keeps each super-block's d, its scales (split by half) and
 * every level; it shares q4_K_r8's q8_K_x8 activations, and its dot
 * products agree with q6_K's against q8_K. */
ED_TEST(q6_K_repack_keeps_every_weight)
{
    enum { N = 3 * ED_QK_K };
    static float x[N], a[N], b[N];
    static ed_block_q6_K_t file[3];
    static ed_block_q6_K_r8_t packed[3], direct[3];
    const ed_quant_traits_t *q6k = ed_quant_traits(ED_TYPE_Q6_K), *r8 = ed_quant_traits(ED_TYPE_Q6_K_R8);
    ED_CHECK_INT(ed_repack_type(ED_TYPE_Q6_K), ED_TYPE_Q6_K_R8);
    ED_CHECK_INT(r8->vec_dot_type, ED_TYPE_Q8_K_X8);
    ED_CHECK_INT(row_bytes(ED_TYPE_Q6_K_R8, N), row_bytes(ED_TYPE_Q6_K, N));
    for (int i = 0; i < N; i++)
        x[i] = rng_uniform(-3, 3) * (i % 53 == 7 ? 6.0f : 1.0f);
    q6k->from_float(x, file, N);
    memset(packed, 0xAA, sizeof packed);
    ed_repack_rows(ED_TYPE_Q6_K, file, packed, N, 0, 1);
    q6k->to_float(file, a, N);
    r8->to_float(packed, b, N);
    ED_CHECK(memcmp(a, b, sizeof a) == 0);
    r8->from_float(x, direct, N);
    ED_CHECK(memcmp(direct, packed, sizeof packed) == 0);
    for (int i = 0; i < 3; i++) {
        ED_CHECK(packed[i].d == file[i].d);
        for (int j = 0; j < ED_R8; j++)
            ED_CHECK(packed[i].scales[0][j] == file[i].scales[2 * j] &&
                     packed[i].scales[1][j] == file[i].scales[2 * j + 1]);
    }
    /* levels at both extremes (0 and 63) go through every bit position */
    for (int i = 0; i < N; i++)
        x[i] = (i / 7) % 2 ? 1.0f : -1.0f;
    q6k->from_float(x, file, N);
    ed_repack_rows(ED_TYPE_Q6_K, file, packed, N, 0, 1);
    q6k->to_float(file, a, N);
    r8->to_float(packed, b, N);
    ED_CHECK(memcmp(a, b, sizeof a) == 0);

    static ed_block_q8_K_t act[3];
    static ed_block_q8_K_x8_t act_x8[3];
    for (int i = 0; i < N; i++)
        x[i] = rng_uniform(-3, 3);
    x[5] = 40.0f; /* one quant at -128 or 127 */
    q6k->from_float(x, file, N);
    ed_repack_rows(ED_TYPE_Q6_K, file, packed, N, 0, 1);
    for (int i = 0; i < N; i++)
        x[i] = rng_uniform(-2, 2);
    ed_quant_traits(ED_TYPE_Q8_K)->from_float(x, act, N);
    ed_quant_traits(ED_TYPE_Q8_K_X8)->from_float(x, act_x8, N);
    const ed_kernels_t *ref = ed_kernels_by_name("ref");
    float file_dot, packed_dot;
    ref->vec_dot[ED_TYPE_Q6_K](N, &file_dot, file, act);
    ref->vec_dot[ED_TYPE_Q6_K_R8](N, &packed_dot, packed, act_x8);
    printf("# q6_K: file %.7g, interleaved %.7g\n", file_dot, packed_dot);
    ED_CHECK(fabsf(file_dot - packed_dot) <= 1e-5f * (fabsf(file_dot) + 1));
}

ED_TEST(only_q4_0_q8_0_q4_K_and_q6_K_have_a_layout)
{
    ED_CHECK_INT(ed_repack_type(ED_TYPE_Q5_K), -1);
    ED_CHECK_INT(ed_repack_type(ED_TYPE_F16), -1);
    ED_CHECK_INT(ed_repack_type(ED_TYPE_Q4_0_R8), -1);
    ED_CHECK_INT(ed_type_from_name("q4_0_r8"), -1); /* not a file type */
    ED_CHECK_STR(ed_type_info(ED_TYPE_Q4_0_R8)->name, "q4_0_r8");
}

ED_TEST(x8_activations_hold_q8_0_values_and_sums)
{
    const ed_quant_traits_t *q8 = ed_quant_traits(ED_TYPE_Q8_0), *x8 = ed_quant_traits(ED_TYPE_Q8_0_X8);
    for (size_t w = 0; w < sizeof widths / sizeof widths[0]; w++) {
        int n = widths[w], n_blocks = n / ED_QK;
        float x[2048], a[2048], b[2048];
        ed_block_q8_0_t blocks[64];
        ed_group_q8_0_x8_t groups[8];
        for (int i = 0; i < n; i++)
            x[i] = rng_uniform(-5, 5);
        q8->from_float(x, blocks, n);
        x8->from_float(x, groups, n);
        q8->to_float(blocks, a, n);
        x8->to_float(groups, b, n);
        ED_CHECK(memcmp(a, b, sizeof(float) * (size_t)n) == 0);
        for (int i = 0; i < n_blocks; i++) {
            int sum = 0;
            for (int e = 0; e < ED_QK; e++)
                sum += blocks[i].qs[e];
            ED_CHECK_INT(groups[i / ED_R8].sum[i % ED_R8], sum);
            ED_CHECK(groups[i / ED_R8].d[i % ED_R8] == ed_fp16_to_fp32(blocks[i].d));
        }
    }
}

/* Blocks whose scaled values fall exactly halfway: roundf takes them away
 * from zero, a SIMD round-to-nearest-even would not. */
static void fill_ties(float *x, int n)
{
    for (int i = 0; i < n; i++) {
        int e = i % ED_QK;
        x[i] = e == 0 ? 127.0f : (e % 2 ? 1.0f : -1.0f) * ((float)(e % 13) + 0.5f);
    }
}

ED_TEST(simd_quantizers_write_the_scalar_bytes)
{
    static const int act_types[] = {ED_TYPE_Q8_0, ED_TYPE_Q8_0_X8, ED_TYPE_Q8_K, ED_TYPE_Q8_K_X8};
    enum { N = 2048 + 96 };
    static float x[N];
    static uint8_t want[N * 2], got[N * 2];
    int checked = 0;
    for (int pass = 0; pass < 3; pass++) {
        if (pass == 0)
            fill_ties(x, N);
        for (int i = 0; pass > 0 && i < N; i++) /* wide and tiny magnitudes, and zero blocks */
            x[i] = i / ED_QK % 5 == 4 ? 0.0f : rng_uniform(-1, 1) * (pass == 1 ? 1e3f : 1e-3f);
        for (size_t t = 0; t < sizeof act_types / sizeof act_types[0]; t++) {
            int n = N / (int)ed_type_info(act_types[t])->block_len * (int)ed_type_info(act_types[t])->block_len;
            size_t bytes = row_bytes(act_types[t], n);
            memset(want, 0x55, bytes);
            ed_quant_traits(act_types[t])->from_float(x, want, n);
            for (const char *const *name = ed_kernels_names(); *name; name++) {
                const ed_kernels_t *k = ed_kernels_by_name(*name);
                if (!k || !k->quantize[act_types[t]])
                    continue;
                memset(got, 0x33, bytes);
                k->quantize[act_types[t]](x, got, n);
                if (memcmp(want, got, bytes) != 0)
                    ED__FAIL("%s %s pass %d: bytes differ from the scalar quantizer", k->name,
                             ed_type_info(act_types[t])->name, pass);
                checked++;
            }
        }
    }
    printf("# %d table/type/pass combinations checked\n", checked);
}

ED_TEST(interleaved_dots_agree_with_the_file_layout)
{
    enum { N = 608 };
    float x[N], w[N];
    for (int i = 0; i < N; i++)
        x[i] = rng_uniform(-2, 2), w[i] = rng_uniform(-1, 1);
    ed_block_q8_0_t act[N / ED_QK];
    ed_group_q8_0_x8_t act_x8[3];
    ed_quant_traits(ED_TYPE_Q8_0)->from_float(x, act, N);
    ed_quant_traits(ED_TYPE_Q8_0_X8)->from_float(x, act_x8, N);
    const ed_kernels_t *ref = ed_kernels_by_name("ref");
    static const int file_types[] = {ED_TYPE_Q4_0, ED_TYPE_Q8_0};
    for (size_t t = 0; t < 2; t++) {
        uint8_t file_row[N / ED_QK * 34], packed_row[3 * 272];
        ed_quant_traits(file_types[t])->from_float(w, file_row, N);
        ed_repack_rows(file_types[t], file_row, packed_row, N, 0, 1);
        float file_dot, packed_dot;
        ref->vec_dot[file_types[t]](N, &file_dot, file_row, act);
        ref->vec_dot[ed_repack_type(file_types[t])](N, &packed_dot, packed_row, act_x8);
        printf("# %s: file %.7g, interleaved %.7g\n", ed_type_info(file_types[t])->name, file_dot, packed_dot);
        ED_CHECK(fabsf(file_dot - packed_dot) <= 1e-5f * (fabsf(file_dot) + 1));
    }
}

/* q6_K_r8 rows longer than the offsets a pass precomputes (64 super-blocks)
 * take another path in the SIMD kernels: every table still gives the
 * reference's result within the forward tests' tolerance (1e-5 of the sum
 * of the products' magnitudes, tests/kernels/matmul.c; the AVX-512 table
 * gives its bits), and a row alone the same bits as in a batch. */
ED_TEST(q6_K_r8_long_rows_match_the_reference)
{
    enum { N_IN = 65 * ED_QK_K, N_OUT = 3, BATCH = 9 };
    static float x[BATCH * N_IN], w_f[N_IN], want[BATCH * N_OUT], got[BATCH * N_OUT], alone[N_OUT];
    static float w_seen[N_OUT * N_IN];
    static double magnitude[BATCH * N_OUT];
    size_t row = row_bytes(ED_TYPE_Q6_K_R8, N_IN);
    uint8_t *w = malloc(row * N_OUT);
    size_t scratch_size = ed_matmul_scratch_size(ED_TYPE_Q6_K_R8, N_IN, BATCH);
    void *scratch = malloc(scratch_size);
    char err[ED_KERR_LEN];
    ed_pool_t *pool = NULL;
    ED_REQUIRE(w && scratch && ed_pool_open(&pool, 1, err) == 0);
    for (int i = 0; i < BATCH * N_IN; i++)
        x[i] = rng_uniform(-2, 2);
    for (int r = 0; r < N_OUT; r++) {
        for (int i = 0; i < N_IN; i++)
            w_f[i] = rng_uniform(-1, 1);
        ed_quant_traits(ED_TYPE_Q6_K_R8)->from_float(w_f, w + row * (size_t)r, N_IN);
        ed_quant_traits(ED_TYPE_Q6_K_R8)->to_float(w + row * (size_t)r, w_seen + (size_t)r * N_IN, N_IN);
    }
    for (int c = 0; c < BATCH; c++)
        for (int r = 0; r < N_OUT; r++)
            for (int i = 0; i < N_IN; i++)
                magnitude[c * N_OUT + r] += fabs((double)w_seen[(size_t)r * N_IN + i] * x[(size_t)c * N_IN + i]);
    ed_matmul_t m = {w, ED_TYPE_Q6_K_R8, N_IN, N_OUT, x, want, BATCH};
    ED_CHECK_INT(ed_matmul_forward(ed_kernels_by_name("ref"), pool, ED_POOL_HIGH, &m, scratch, scratch_size), 0);
    for (const char *const *name = ed_kernels_names(); *name; name++) {
        const ed_kernels_t *k = ed_kernels_by_name(*name);
        if (!k)
            continue;
        m.y = got;
        ED_CHECK_INT(ed_matmul_forward(k, pool, ED_POOL_HIGH, &m, scratch, scratch_size), 0);
        for (int i = 0; i < BATCH * N_OUT; i++)
            if (!(fabs((double)got[i] - want[i]) <= 1e-5 * magnitude[i]))
                ED__FAIL("%s: long q6_K_r8 row %d: %.9g, the reference %.9g", k->name, i, got[i], want[i]);
        if (strcmp(k->name, "avx512") == 0 && memcmp(got, want, sizeof got) != 0)
            ED__FAIL("%s: long q6_K_r8 rows differ from the reference's bits", k->name);
        for (int c = 0; c < BATCH; c++) {
            ed_matmul_t one = {w, ED_TYPE_Q6_K_R8, N_IN, N_OUT, x + (size_t)c * N_IN, alone, 1};
            ED_CHECK_INT(ed_matmul_forward(k, pool, ED_POOL_HIGH, &one, scratch, scratch_size), 0);
            if (memcmp(alone, got + (size_t)c * N_OUT, sizeof alone) != 0)
                ED__FAIL("%s: row %d of a long q6_K_r8 batch differs from the row alone", k->name, c);
        }
    }
    ed_pool_close(pool);
    free(w), free(scratch);
}

ED_TEST_MAIN(q4_0_repack_keeps_every_weight, q8_0_repack_keeps_every_weight, q4_K_repack_keeps_every_weight,
             q6_K_repack_keeps_every_weight,
             only_q4_0_q8_0_q4_K_and_q6_K_have_a_layout,
             x8_activations_hold_q8_0_values_and_sums, simd_quantizers_write_the_scalar_bytes,
             interleaved_dots_agree_with_the_file_layout, q6_K_r8_long_rows_match_the_reference)
