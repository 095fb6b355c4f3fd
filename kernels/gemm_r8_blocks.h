/* gemm_r8_blocks.h - the op table's entry points for the batch products of
 * the interleaved layouts (kernels/repack.h), over gemm_passes.h. Included
 * last by x86/gemm_r8.h and arm/gemm_r8.h, which define R8_COLS and r8_row()
 * (one weight row against up to R8_COLS activation rows) for their
 * instruction set. */
#ifndef ED_KERNELS_GEMM_R8_BLOCKS_H
#define ED_KERNELS_GEMM_R8_BLOCKS_H

#include "kernels/gemm_passes.h"

static void gemm_q4_0_r8(int n_blocks, const void *w, size_t w_row_bytes, int n_rows, const void *x,
                         size_t x_row_bytes, int n_cols, float *y, size_t y_stride)
{
    gemm_passes(r8_row, R8_COLS, ED_TYPE_Q4_0_R8, n_blocks, w, w_row_bytes, n_rows, x, x_row_bytes, n_cols, y,
                y_stride);
}

static void gemm_q8_0_r8(int n_blocks, const void *w, size_t w_row_bytes, int n_rows, const void *x,
                         size_t x_row_bytes, int n_cols, float *y, size_t y_stride)
{
    gemm_passes(r8_row, R8_COLS, ED_TYPE_Q8_0_R8, n_blocks, w, w_row_bytes, n_rows, x, x_row_bytes, n_cols, y,
                y_stride);
}

#endif
