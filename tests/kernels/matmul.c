/* tests/kernels/matmul.c - ed_matmul_forward against a float reference
 * (weights dequantized, activations quantized and dequantized the way the
 * dot product sees them, products summed in double) for every weight type
 * with a dot product, every op table this CPU runs, 1, 2 and 3 threads, odd
 * shapes, one activation row and batches (the micro-kernel path), and each
 * row of a batch bit-identical to the same row alone. */
#include "kernels/matmul.h"
#include "tests/test.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

static uint64_t rng_state = 12345;

static float rng_uniform(float lo, float hi)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return lo + (hi - lo) * (float)((rng_state >> 40) * (1.0 / 16777216.0));
}

typedef struct {
    int n_in, n_out, n_batch;
} shape_t;

/* Runs one product on every table and thread count and checks the largest
 * error of an output relative to its sum |w x|. */
static void check_type(int type, const shape_t *shape)
{
    const ed_quant_traits_t *traits = ed_quant_traits(type);
    const ed_quant_traits_t *act_traits = ed_quant_traits(traits->vec_dot_type);
    int n_in = shape->n_in, n_out = shape->n_out, n_batch = shape->n_batch;
    uint64_t w_row_bytes = 0, act_row_bytes = 0;
    ED_REQUIRE(ed_type_row_size(type, (uint64_t)n_in, &w_row_bytes) == 0);
    ED_REQUIRE(ed_type_row_size(traits->vec_dot_type, (uint64_t)n_in, &act_row_bytes) == 0);

    float *w_f = malloc(sizeof(float) * (size_t)n_in * n_out);
    float *x = malloc(sizeof(float) * (size_t)n_in * n_batch);
    float *x_seen = malloc(sizeof(float) * (size_t)n_in * n_batch);
    uint8_t *w = malloc(w_row_bytes * (size_t)n_out);
    uint8_t *x_q = malloc(act_row_bytes);
    double *expect = malloc(sizeof(double) * (size_t)n_out * n_batch);
    double *magnitude = malloc(sizeof(double) * (size_t)n_out * n_batch);
    float *y = malloc(sizeof(float) * (size_t)n_out * n_batch);
    size_t scratch_size = ed_matmul_scratch_size(type, n_in, n_batch);
    /* q8_1 activations carry d * sum(q) rounded to fp16 for the min term of
     * q4_1/q5_1 (as GGUF's format does): a relative error of up to 2^-11 of
     * that term, which the dequantized activations do not show */
    double tol = traits->vec_dot_type == ED_TYPE_Q8_1 ? 1e-3 : 1e-5;
    void *scratch = malloc(scratch_size + 1);
    ED_REQUIRE(w_f && x && x_seen && w && x_q && expect && magnitude && y && scratch);

    for (int r = 0; r < n_out; r++) {
        for (int i = 0; i < n_in; i++) /* rows of different scales, like real weights */
            w_f[(size_t)r * n_in + i] = rng_uniform(-1, 1) * (1.0f + (float)(r % 5));
        traits->from_float(w_f + (size_t)r * n_in, w + r * w_row_bytes, n_in);
        traits->to_float(w + r * w_row_bytes, w_f + (size_t)r * n_in, n_in);
    }
    for (int c = 0; c < n_batch; c++) {
        float *x_row = x + (size_t)c * n_in, *seen = x_seen + (size_t)c * n_in;
        for (int i = 0; i < n_in; i++)
            x_row[i] = rng_uniform(-2, 2);
        act_traits->from_float(x_row, x_q, n_in);
        act_traits->to_float(x_q, seen, n_in);
    }
    for (int c = 0; c < n_batch; c++)
        for (int r = 0; r < n_out; r++) {
            double sum = 0, mag = 0;
            for (int i = 0; i < n_in; i++) {
                double p = (double)w_f[(size_t)r * n_in + i] * x_seen[(size_t)c * n_in + i];
                sum += p;
                mag += fabs(p);
            }
            expect[(size_t)c * n_out + r] = sum;
            magnitude[(size_t)c * n_out + r] = mag;
        }

    for (const char *const *name = ed_kernels_names(); *name; name++) {
        const ed_kernels_t *k = ed_kernels_by_name(*name);
        if (!k)
            continue;
        for (int n_threads = 1; n_threads <= 3; n_threads++) {
            char err[ED_KERR_LEN];
            ed_pool_t *pool = NULL;
            ED_REQUIRE(ed_pool_open(&pool, n_threads, err) == 0);
            ed_matmul_t m = {w, type, n_in, n_out, x, y, n_batch};
            for (size_t i = 0; i < (size_t)n_out * n_batch; i++)
                y[i] = NAN;
            ED_CHECK_INT(ed_matmul_forward(k, pool, n_threads == 2 ? ED_POOL_LOW : ED_POOL_HIGH, &m,
                                           scratch, scratch_size),
                         0);
            double maxdiff = 0;
            for (size_t i = 0; i < (size_t)n_out * n_batch; i++) {
                double d = fabs(y[i] - expect[i]) / (magnitude[i] + 1e-30);
                if (!(d <= maxdiff))
                    maxdiff = isnan(d) ? INFINITY : d;
            }
            if (n_threads == 3)
                printf("# matmul %s %s %dx%d batch %d maxdiff=%.3g%s\n", ed_type_info(type)->name,
                       k->name, n_out, n_in, n_batch, maxdiff,
                       k->gemm[type] ? " (micro-kernel)" : "");
            if (!(maxdiff <= tol))
                printf("#   %s %s %d threads: maxdiff %.3g\n", ed_type_info(type)->name, k->name,
                       n_threads, maxdiff);
            ED_CHECK(maxdiff <= tol);
            /* a row's result does not depend on the rows beside it: continuous
             * batching needs each sequence to get what it gets alone */
            for (int c = 0; n_batch > 1 && n_threads == 1 && c < n_batch; c += n_batch - 1) {
                float *alone = malloc(sizeof(float) * (size_t)n_out);
                ED_REQUIRE(alone);
                ed_matmul_t one = {w, type, n_in, n_out, x + (size_t)c * n_in, alone, 1};
                ED_CHECK_INT(ed_matmul_forward(k, pool, ED_POOL_HIGH, &one, scratch, scratch_size), 0);
                if (memcmp(alone, y + (size_t)c * n_out, sizeof(float) * (size_t)n_out) != 0) {
                    printf("#   %s %s: row %d of a batch of %d differs from the row alone\n",
                           ed_type_info(type)->name, k->name, c, n_batch);
                    ED_CHECK(false);
                }
                free(alone);
            }
            ed_pool_close(pool);
        }
    }
    free(w_f), free(x), free(x_seen), free(w), free(x_q), free(expect), free(magnitude), free(y),
        free(scratch);
}

static const int weight_types[] = {ED_TYPE_F32,  ED_TYPE_F16,  ED_TYPE_BF16, ED_TYPE_Q4_0,
                                   ED_TYPE_Q4_1, ED_TYPE_Q5_0, ED_TYPE_Q5_1, ED_TYPE_Q8_0,
                                   ED_TYPE_Q2_K, ED_TYPE_Q3_K, ED_TYPE_Q4_K, ED_TYPE_Q5_K,
                                   ED_TYPE_Q6_K, ED_TYPE_Q4_0_R8, ED_TYPE_Q8_0_R8,
                                   ED_TYPE_Q4_K_R8, ED_TYPE_Q6_K_R8};

static void check_all_types(int n_batch)
{
    for (size_t t = 0; t < sizeof weight_types / sizeof weight_types[0]; t++) {
        int type = weight_types[t];
        int block = (int)ed_type_info(type)->block_len;
        /* odd block counts; row counts prime, above and below the panel size */
        /* interleaved layouts: a padded group alone, and whole groups then a padded one */
        bool grouped = ed_type_info(type)->group > 1;
        shape_t shapes[] = {{block == 1 ? 97 : block * 3, 67, n_batch},
                            {block == 1 ? 160 : block * (block == ED_QK_K ? 1 : grouped ? 19 : 5), 7, n_batch}};
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
            check_type(type, &shapes[s]);
    }
}

ED_TEST(matvec_every_type)
{
    check_all_types(1);
}

ED_TEST(matmul_few_rows_every_type)
{
    check_all_types(2); /* decode steps of a few slots */
    check_all_types(4);
}

ED_TEST(matmul_small_batch_every_type)
{
    check_all_types(5);
}

ED_TEST(matmul_large_batch_every_type)
{
    check_all_types(71); /* more than one panel, not a multiple of the tile */
}

/* Products sharing their input in one pass give, bit for bit, what each
 * gives alone (the q/k/v and gate/up products of a layer); products that do
 * not share it are refused. */
ED_TEST(many_products_of_one_input)
{
    enum { N_IN = 608, N_BATCH = 3 };
    /* each set shares one activation format: q8_0_x8, q8_K, q8_0, q8_K_x8 */
    static const int types[][3] = {{ED_TYPE_Q4_0_R8, ED_TYPE_Q8_0_R8, ED_TYPE_Q4_0_R8},
                                   {ED_TYPE_Q4_K, ED_TYPE_Q6_K, ED_TYPE_Q4_K},
                                   {ED_TYPE_Q4_0, ED_TYPE_Q8_0, ED_TYPE_Q4_0},
                                   {ED_TYPE_Q4_K_R8, ED_TYPE_Q6_K_R8, ED_TYPE_Q4_K_R8}};
    static const int n_out[3] = {67, 16, 33};
    static float x[N_BATCH * N_IN], w_f[67 * N_IN];
    for (int i = 0; i < N_BATCH * N_IN; i++)
        x[i] = rng_uniform(-2, 2);
    for (int i = 0; i < 67 * N_IN; i++)
        w_f[i] = rng_uniform(-1, 1);
    char err[ED_KERR_LEN];
    ed_pool_t *pool = NULL;
    ED_REQUIRE(ed_pool_open(&pool, 2, err) == 0);
    size_t scratch_size = ed_matmul_scratch_size(ED_TYPE_Q8_0, N_IN + 256, N_BATCH) * 2;
    void *scratch = malloc(scratch_size);
    ED_REQUIRE(scratch);
    for (int set = 0; set < (int)(sizeof types / sizeof types[0]); set++) {
        int n_in = ed_type_info(types[set][0])->block_len == ED_QK_K ? 512 : N_IN;
        ed_matmul_t ms[3];
        uint8_t *w[3];
        float *y_many[3], *y_one[3];
        for (int i = 0; i < 3; i++) {
            uint64_t row = 0;
            ED_REQUIRE(ed_type_row_size(types[set][i], (uint64_t)n_in, &row) == 0);
            w[i] = malloc(row * (size_t)n_out[i]);
            y_many[i] = malloc(sizeof(float) * (size_t)n_out[i] * N_BATCH);
            y_one[i] = malloc(sizeof(float) * (size_t)n_out[i] * N_BATCH);
            ED_REQUIRE(w[i] && y_many[i] && y_one[i]);
            for (int r = 0; r < n_out[i]; r++)
                ed_quant_traits(types[set][i])->from_float(w_f + (size_t)r * n_in, w[i] + r * row, n_in);
            ms[i] = (ed_matmul_t){w[i], types[set][i], n_in, n_out[i], x, y_many[i], N_BATCH};
        }
        for (const char *const *name = ed_kernels_names(); *name; name++) {
            const ed_kernels_t *k = ed_kernels_by_name(*name);
            if (!k)
                continue;
            for (int n_batch = 1; n_batch <= N_BATCH; n_batch += N_BATCH - 1) {
                for (int i = 0; i < 3; i++)
                    ms[i].n_batch = n_batch;
                ED_CHECK_INT(ed_matmul_forward_many(k, pool, ED_POOL_HIGH, ms, 3, scratch, scratch_size), 0);
                for (int i = 0; i < 3; i++) {
                    ed_matmul_t one = ms[i];
                    one.y = y_one[i];
                    ED_CHECK_INT(ed_matmul_forward(k, pool, ED_POOL_HIGH, &one, scratch, scratch_size), 0);
                    if (memcmp(y_one[i], y_many[i], sizeof(float) * (size_t)n_out[i] * (size_t)n_batch) != 0)
                        ED__FAIL("%s %s: product %d of a shared pass differs from it alone", k->name,
                                 ed_type_info(types[set][i])->name, i);
                }
            }
        }
        ed_matmul_t bad[3] = {ms[0], ms[1], ms[2]};
        const ed_kernels_t *k = ed_kernels_select(NULL);
        bad[1].x = x + N_IN; /* another input */
        ED_CHECK_INT(ed_matmul_forward_many(k, pool, ED_POOL_HIGH, bad, 3, scratch, scratch_size), ED_KERR_EINVAL);
        bad[1] = ms[1];
        bad[2].n_batch = 1;
        ED_CHECK_INT(ed_matmul_forward_many(k, pool, ED_POOL_HIGH, bad, 3, scratch, scratch_size), ED_KERR_EINVAL);
        ED_CHECK_INT(ed_matmul_forward_many(k, pool, ED_POOL_HIGH, ms, 0, scratch, scratch_size), ED_KERR_EINVAL);
        ED_CHECK_INT(ed_matmul_forward_many(k, pool, ED_POOL_HIGH, ms, ED_MATMUL_MAX_MANY + 1, scratch, scratch_size),
                     ED_KERR_EINVAL);
        for (int i = 0; i < 3; i++)
            free(w[i]), free(y_many[i]), free(y_one[i]);
    }
    /* weights wanting different activation formats cannot share a pass */
    static uint8_t w4[16 * 8 * 18], wk[16 * 144];
    static float y[64];
    ed_matmul_t mixed[2] = {{w4, ED_TYPE_Q4_0, 256, 16, x, y, 1}, {wk, ED_TYPE_Q4_K, 256, 16, x, y + 16, 1}};
    ED_CHECK_INT(ed_matmul_forward_many(ed_kernels_select(NULL), pool, ED_POOL_HIGH, mixed, 2, scratch, scratch_size),
                 ED_KERR_EINVAL);
    free(scratch);
    ed_pool_close(pool);
}

/* Rows longer than the per-column values a batch kernel keeps (AVX-512:
 * 64 groups of 256) take another path: each row of a batch is still what
 * it gives alone, on every table. */
ED_TEST(long_rows_batch_rows_match_alone)
{
    enum { N_IN = 65 * 256 + 32, N_OUT = 5, N_BATCH = 9 };
    static const int types[] = {ED_TYPE_Q4_0_R8, ED_TYPE_Q8_0_R8, ED_TYPE_Q4_K_R8};
    float *x = malloc(sizeof(float) * N_IN * N_BATCH), *w_f = malloc(sizeof(float) * N_IN * N_OUT);
    float *y = malloc(sizeof(float) * N_OUT * N_BATCH), alone[N_OUT];
    ED_REQUIRE(x && w_f && y);
    for (int i = 0; i < N_IN * N_BATCH; i++)
        x[i] = rng_uniform(-2, 2);
    for (int i = 0; i < N_IN * N_OUT; i++)
        w_f[i] = rng_uniform(-1, 1);
    char err[ED_KERR_LEN];
    ed_pool_t *pool = NULL;
    ED_REQUIRE(ed_pool_open(&pool, 1, err) == 0);
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        int n_in = types[t] == ED_TYPE_Q4_K_R8 ? 65 * 256 : N_IN;
        uint64_t row = 0;
        ED_REQUIRE(ed_type_row_size(types[t], (uint64_t)n_in, &row) == 0);
        size_t scratch_size = ed_matmul_scratch_size(types[t], n_in, N_BATCH);
        uint8_t *w = malloc(row * N_OUT), *scratch = malloc(scratch_size);
        ED_REQUIRE(w && scratch);
        for (int r = 0; r < N_OUT; r++)
            ed_quant_traits(types[t])->from_float(w_f + (size_t)r * n_in, w + r * row, n_in);
        for (const char *const *name = ed_kernels_names(); *name; name++) {
            const ed_kernels_t *k = ed_kernels_by_name(*name);
            if (!k)
                continue;
            ed_matmul_t m = {w, types[t], n_in, N_OUT, x, y, N_BATCH};
            ED_CHECK_INT(ed_matmul_forward(k, pool, ED_POOL_HIGH, &m, scratch, scratch_size), 0);
            for (int c = 0; c < N_BATCH; c++) {
                ed_matmul_t one = {w, types[t], n_in, N_OUT, x + (size_t)c * n_in, alone, 1};
                ED_CHECK_INT(ed_matmul_forward(k, pool, ED_POOL_HIGH, &one, scratch, scratch_size), 0);
                if (memcmp(alone, y + (size_t)c * N_OUT, sizeof alone) != 0)
                    ED__FAIL("%s %s: row %d of a batch of %d (%d-element rows) differs from the row alone",
                             k->name, ed_type_info(types[t])->name, c, N_BATCH, n_in);
            }
        }
        free(w), free(scratch);
    }
    ed_pool_close(pool);
    free(x), free(w_f), free(y);
}

ED_TEST(rejects_bad_arguments)
{
    const ed_kernels_t *k = ed_kernels_select("ref");
    char err[ED_KERR_LEN];
    ed_pool_t *pool = NULL;
    ED_REQUIRE(ed_pool_open(&pool, 1, err) == 0);
    static float x[64], y[4];
    static uint8_t w[4 * 34], scratch[34];
    ed_matmul_t m = {w, ED_TYPE_Q8_0, 32, 4, x, y, 1};
    ED_CHECK_INT(ed_matmul_scratch_size(ED_TYPE_Q8_0, 32, 1), 34);
    ED_CHECK_INT(ed_matmul_scratch_size(ED_TYPE_F16, 32, 7), 0);
    ED_CHECK_INT(ed_matmul_forward(k, pool, ED_POOL_HIGH, &m, scratch, 33), ED_KERR_EINVAL);
    m.n_in = 48; /* not whole blocks */
    ED_CHECK_INT(ed_matmul_forward(k, pool, ED_POOL_HIGH, &m, scratch, 34), ED_KERR_EINVAL);
    m.n_in = 32;
    m.w_type = 4; /* not a type */
    ED_CHECK_INT(ed_matmul_forward(k, pool, ED_POOL_HIGH, &m, scratch, 34), ED_KERR_EINVAL);
    m.w_type = ED_TYPE_Q8_0;
    m.n_batch = 0;
    ED_CHECK_INT(ed_matmul_forward(k, pool, ED_POOL_HIGH, &m, scratch, 34), ED_KERR_EINVAL);
    ed_pool_close(pool);
}

ED_TEST_MAIN(matvec_every_type, matmul_few_rows_every_type, matmul_small_batch_every_type, matmul_large_batch_every_type,
             many_products_of_one_input, long_rows_batch_rows_match_alone, rejects_bad_arguments)
