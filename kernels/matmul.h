/* matmul.h - matrix-vector and matrix-matrix products of quantized weights
 * with f32 activations, split over the pool. The activations are quantized
 * once to the weight type's vec_dot_type (8-bit for the quantized formats);
 * a batch (prompt processing) runs cache-blocked over the op table's
 * register-tiled micro-kernels, which also serve one activation row; types
 * without a micro-kernel take one dot product per output. */
#ifndef ED_KERNELS_MATMUL_H
#define ED_KERNELS_MATMUL_H

#include <stddef.h>

#include "kernels/kernels.h"
#include "kernels/pool.h"

typedef struct {
    const void *w;   /* (n_out, n_in) of w_type, rows contiguous (as in a GGUF tensor) */
    int w_type;      /* ed_type_t with quant traits */
    int n_in;        /* a multiple of w_type's block length */
    int n_out;
    const float *x;  /* (n_batch, n_in) */
    float *y;        /* (n_batch, n_out); must not overlap x */
    int n_batch;
} ed_matmul_t;

/* Bytes of scratch ed_matmul_forward needs for these shapes (the quantized
 * activations); 0 for f32 activations. Callers size it once, at model load. */
size_t ed_matmul_scratch_size(int w_type, int n_in, int n_batch);

/* y = x w^T. scratch: at least ed_matmul_scratch_size() bytes, 64-byte
 * aligned for best speed. Returns 0, or ED_KERR_EINVAL for an unknown type, a bad
 * shape or too little scratch. Calls ed_pool_run at priority prio. */
int ed_matmul_forward(const ed_kernels_t *k, ed_pool_t *pool, ed_pool_prio_t prio,
                      const ed_matmul_t *m, void *scratch, size_t scratch_size);

#define ED_MATMUL_MAX_MANY 3 /* products of one input in one pass: q, k and v */

/* ms[0..count) of the same x (same pointer, n_in and n_batch) and weight
 * types of the same vec_dot_type: x is quantized once and every product's
 * chunks go to the pool in one run (a decode step's q/k/v or gate/up
 * products are too short to pay for a wake-up each). Each product gives
 * what ed_matmul_forward gives it alone. ED_KERR_EINVAL also when the products
 * do not share their input. */
int ed_matmul_forward_many(const ed_kernels_t *k, ed_pool_t *pool, ed_pool_prio_t prio,
                           const ed_matmul_t *ms, int count, void *scratch, size_t scratch_size);

#endif
