/* gemm_passes.h - the loop the batch micro-kernels share (x86 and ARM, the
 * interleaved layouts and the K-quants): passes of up to max_cols activation
 * rows walk every weight row of a chunk, and a row kernel unpacks each
 * weight block once for all the rows of the pass. The activation rows of a
 * pass stay in L1 while the weight rows stream past (from L2 in a batch,
 * from memory for a matrix-vector product, which thus reads them once). */
#ifndef ED_KERNELS_GEMM_PASSES_H
#define ED_KERNELS_GEMM_PASSES_H

#include <stddef.h>
#include <stdint.h>

/* y[c * y_stride] = dot(weight row, activation row c) for c < cols (a
 * constant after inlining), n_blocks blocks of the weight type. */
typedef void (*gemm_row_fn)(int type, int n_blocks, const uint8_t *row, const uint8_t *x, size_t x_row_bytes,
                            int cols, float *y, size_t y_stride);

static inline __attribute__((always_inline)) void gemm_pass(gemm_row_fn row_fn, int type, int n_blocks,
                                                            const uint8_t *w, size_t w_row_bytes, int n_rows,
                                                            const uint8_t *x, size_t x_row_bytes, int cols,
                                                            float *y, size_t y_stride)
{
    for (int r = 0; r < n_rows; r++)
        row_fn(type, n_blocks, w + (size_t)r * w_row_bytes, x, x_row_bytes, cols, y + r, y_stride);
}

/* The ed_gemm_fn contract (kernels.h) over a row kernel inlined with
 * constant column counts 1 .. max_cols (at most 4). */
static inline __attribute__((always_inline)) void gemm_passes(gemm_row_fn row_fn, int max_cols, int type,
                                                              int n_blocks, const void *w_v, size_t w_row_bytes,
                                                              int n_rows, const void *x_v, size_t x_row_bytes,
                                                              int n_cols, float *y, size_t y_stride)
{
    const uint8_t *w = w_v, *x = x_v;
    for (int c = 0; c < n_cols; c += max_cols) {
        const uint8_t *xc = x + (size_t)c * x_row_bytes;
        float *yc = y + (size_t)c * y_stride;
        switch (n_cols - c < max_cols ? n_cols - c : max_cols) {
        case 1: gemm_pass(row_fn, type, n_blocks, w, w_row_bytes, n_rows, xc, x_row_bytes, 1, yc, y_stride); break;
        case 2: gemm_pass(row_fn, type, n_blocks, w, w_row_bytes, n_rows, xc, x_row_bytes, 2, yc, y_stride); break;
        case 3: gemm_pass(row_fn, type, n_blocks, w, w_row_bytes, n_rows, xc, x_row_bytes, 3, yc, y_stride); break;
        default: gemm_pass(row_fn, type, n_blocks, w, w_row_bytes, n_rows, xc, x_row_bytes, 4, yc, y_stride); break;
        }
    }
}

#endif
