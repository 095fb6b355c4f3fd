/* gemm_r8_blocks.h - the architecture-independent part of the batch
 * products of the interleaved layouts (kernels/repack.h): passes of R8_COLS
 * activation rows over every weight row of a chunk, and the op table's entry
 * points. Included last by x86/gemm_r8.h and arm/gemm_r8.h, which define
 * R8_COLS and r8_row() (one weight row against up to R8_COLS activation
 * rows) for their instruction set. */
#ifndef ED_KERNELS_GEMM_R8_BLOCKS_H
#define ED_KERNELS_GEMM_R8_BLOCKS_H

static inline __attribute__((always_inline)) void r8_rows(int type, int n_groups, const uint8_t *w,
                                                          size_t w_row_bytes, int n_rows, const uint8_t *x,
                                                          size_t x_row_bytes, int cols, float *y,
                                                          size_t y_stride)
{
    for (int r = 0; r < n_rows; r++)
        r8_row(type, n_groups, w + (size_t)r * w_row_bytes, x, x_row_bytes, cols, y + r, y_stride);
}

/* The activation rows of a pass stay in L1 while the chunk's weight rows
 * stream past (from L2, or from memory for a matrix-vector product: one
 * activation row reads the weights once). */
static inline __attribute__((always_inline)) void gemm_r8(int type, int n_blocks, const void *w_v,
                                                          size_t w_row_bytes, int n_rows, const void *x_v,
                                                          size_t x_row_bytes, int n_cols, float *y,
                                                          size_t y_stride)
{
    const uint8_t *w = w_v, *x = x_v;
    int n_groups = (n_blocks + ED_R8 - 1) / ED_R8;
    for (int c = 0; c < n_cols; c += R8_COLS) {
        const uint8_t *xc = x + (size_t)c * x_row_bytes;
        float *yc = y + (size_t)c * y_stride;
        switch (n_cols - c) { /* constant column counts: the loops unroll */
        case 1: r8_rows(type, n_groups, w, w_row_bytes, n_rows, xc, x_row_bytes, 1, yc, y_stride); break;
        case 2: r8_rows(type, n_groups, w, w_row_bytes, n_rows, xc, x_row_bytes, 2, yc, y_stride); break;
        case 3: r8_rows(type, n_groups, w, w_row_bytes, n_rows, xc, x_row_bytes, 3, yc, y_stride); break;
        default: r8_rows(type, n_groups, w, w_row_bytes, n_rows, xc, x_row_bytes, R8_COLS, yc, y_stride); break;
        }
    }
}

static void gemm_q4_0_r8(int n_blocks, const void *w, size_t w_row_bytes, int n_rows, const void *x,
                         size_t x_row_bytes, int n_cols, float *y, size_t y_stride)
{
    gemm_r8(ED_TYPE_Q4_0_R8, n_blocks, w, w_row_bytes, n_rows, x, x_row_bytes, n_cols, y, y_stride);
}

static void gemm_q8_0_r8(int n_blocks, const void *w, size_t w_row_bytes, int n_rows, const void *x,
                         size_t x_row_bytes, int n_cols, float *y, size_t y_stride)
{
    gemm_r8(ED_TYPE_Q8_0_R8, n_blocks, w, w_row_bytes, n_rows, x, x_row_bytes, n_cols, y, y_stride);
}

#endif
