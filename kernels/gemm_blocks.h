/* gemm_blocks.h - the architecture-independent part of the batch-product
 * micro-kernels: the whole (n_rows x n_cols) product of q8_0 / q4_0 weights
 * against q8_0 activations, split into register tiles (and the few-rows
 * path), and the two entry points of the op table. Included last by
 * x86/gemm_tile.h and arm/gemm_tile.h, which define GEMM_TILE_ROWS,
 * GEMM_TILE_COLS, GEMV_MAX_BLOCKS, GEMV_MAX_COLS, gemm_tile() and
 * gemv_cols() for their instruction set. */
#ifndef ED_KERNELS_GEMM_BLOCKS_H
#define ED_KERNELS_GEMM_BLOCKS_H

/* The whole (n_rows x n_cols) product in full tiles, then the edges. */
static inline __attribute__((always_inline)) void gemm_blocks(int type, int n_blocks, const void *w_v,
                                                              size_t w_row_bytes, int n_rows,
                                                              const void *x_v, size_t x_row_bytes,
                                                              int n_cols, float *y, size_t y_stride)
{
    const uint8_t *w = w_v, *x = x_v;
    int r = 0;
    if (n_cols <= GEMV_MAX_COLS && n_blocks <= GEMV_MAX_BLOCKS) {
        switch (n_cols) { /* constant column counts: the loops unroll */
        case 1: gemv_cols(type, n_blocks, w, w_row_bytes, n_rows, x, x_row_bytes, 1, y, y_stride); break;
        case 2: gemv_cols(type, n_blocks, w, w_row_bytes, n_rows, x, x_row_bytes, 2, y, y_stride); break;
        case 3: gemv_cols(type, n_blocks, w, w_row_bytes, n_rows, x, x_row_bytes, 3, y, y_stride); break;
        default: gemv_cols(type, n_blocks, w, w_row_bytes, n_rows, x, x_row_bytes, 4, y, y_stride); break;
        }
        return;
    }
    for (; r + GEMM_TILE_ROWS <= n_rows; r += GEMM_TILE_ROWS) {
        const uint8_t *w_tile = w + (size_t)r * w_row_bytes;
        int c = 0;
        for (; c + GEMM_TILE_COLS <= n_cols; c += GEMM_TILE_COLS)
            gemm_tile(type, GEMM_TILE_ROWS, GEMM_TILE_COLS, n_blocks, w_tile, w_row_bytes,
                      x + (size_t)c * x_row_bytes, x_row_bytes, y + (size_t)c * y_stride + r, y_stride);
        for (; c < n_cols; c++)
            gemm_tile(type, GEMM_TILE_ROWS, 1, n_blocks, w_tile, w_row_bytes,
                      x + (size_t)c * x_row_bytes, x_row_bytes, y + (size_t)c * y_stride + r, y_stride);
    }
    for (; r < n_rows; r++) {
        const uint8_t *w_row = w + (size_t)r * w_row_bytes;
        int c = 0;
        for (; c + GEMM_TILE_COLS <= n_cols; c += GEMM_TILE_COLS)
            gemm_tile(type, 1, GEMM_TILE_COLS, n_blocks, w_row, w_row_bytes,
                      x + (size_t)c * x_row_bytes, x_row_bytes, y + (size_t)c * y_stride + r, y_stride);
        for (; c < n_cols; c++)
            gemm_tile(type, 1, 1, n_blocks, w_row, w_row_bytes, x + (size_t)c * x_row_bytes,
                      x_row_bytes, y + (size_t)c * y_stride + r, y_stride);
    }
}

static void gemm_q8_0(int n_blocks, const void *w, size_t w_row_bytes, int n_rows, const void *x,
                      size_t x_row_bytes, int n_cols, float *y, size_t y_stride)
{
    gemm_blocks(ED_TYPE_Q8_0, n_blocks, w, w_row_bytes, n_rows, x, x_row_bytes, n_cols, y, y_stride);
}

static void gemm_q4_0(int n_blocks, const void *w, size_t w_row_bytes, int n_rows, const void *x,
                      size_t x_row_bytes, int n_cols, float *y, size_t y_stride)
{
    gemm_blocks(ED_TYPE_Q4_0, n_blocks, w, w_row_bytes, n_rows, x, x_row_bytes, n_cols, y, y_stride);
}

#endif
