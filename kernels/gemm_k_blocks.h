/* gemm_k_blocks.h - the op table's entry points for the K-quant batch
 * products (q4_K, q5_K, q6_K against q8_K), over gemm_passes.h. Included
 * last by x86/gemm_k.h and arm/gemm_k.h, which define K_COLS and k_row()
 * (one weight row against up to K_COLS activation rows) for their
 * instruction set. */
#ifndef ED_KERNELS_GEMM_K_BLOCKS_H
#define ED_KERNELS_GEMM_K_BLOCKS_H

#include "kernels/gemm_passes.h"

static void gemm_q4_K(int n_blocks, const void *w, size_t w_row_bytes, int n_rows, const void *x,
                      size_t x_row_bytes, int n_cols, float *y, size_t y_stride)
{
    gemm_passes(k_row, K_COLS, ED_TYPE_Q4_K, n_blocks, w, w_row_bytes, n_rows, x, x_row_bytes, n_cols, y, y_stride);
}

static void gemm_q5_K(int n_blocks, const void *w, size_t w_row_bytes, int n_rows, const void *x,
                      size_t x_row_bytes, int n_cols, float *y, size_t y_stride)
{
    gemm_passes(k_row, K_COLS, ED_TYPE_Q5_K, n_blocks, w, w_row_bytes, n_rows, x, x_row_bytes, n_cols, y, y_stride);
}

static void gemm_q6_K(int n_blocks, const void *w, size_t w_row_bytes, int n_rows, const void *x,
                      size_t x_row_bytes, int n_cols, float *y, size_t y_stride)
{
    gemm_passes(k_row, K_COLS, ED_TYPE_Q6_K, n_blocks, w, w_row_bytes, n_rows, x, x_row_bytes, n_cols, y, y_stride);
}

/* The one-row, one-column case, for the dot-product tables (x86/vec_dot.c,
 * x86/vec_dot_avx512.c, arm/vec_dot_neon.h): the ed_vec_dot_fn contract. */
static inline void k_dot_q4_K(int n, float *out, const void *w_row, const void *act_row)
{
    gemm_q4_K(n / ED_QK_K, w_row, 0, 1, act_row, 0, 1, out, 0);
}

static inline void k_dot_q5_K(int n, float *out, const void *w_row, const void *act_row)
{
    gemm_q5_K(n / ED_QK_K, w_row, 0, 1, act_row, 0, 1, out, 0);
}

static inline void k_dot_q6_K(int n, float *out, const void *w_row, const void *act_row)
{
    gemm_q6_K(n / ED_QK_K, w_row, 0, 1, act_row, 0, 1, out, 0);
}

#endif
