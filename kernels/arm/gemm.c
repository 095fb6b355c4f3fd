/* arm/gemm.c - plain NEON micro-kernels of the batch products (q8_0, q4_0)
 * for CPUs without SDOT (Pi 4): widening multiplies, pairwise accumulation. */
#define GEMM_TILE_ROWS 2
#define GEMM_TILE_COLS 4

#include <arm_neon.h>

static inline int32x4_t gemm_block_dot(int8x16_t a0, int8x16_t a1, int8x16_t b0, int8x16_t b1)
{
    int16x8_t p0 = vmlal_s8(vmull_s8(vget_low_s8(a0), vget_low_s8(b0)), vget_high_s8(a0), vget_high_s8(b0));
    int16x8_t p1 = vmlal_s8(vmull_s8(vget_low_s8(a1), vget_low_s8(b1)), vget_high_s8(a1), vget_high_s8(b1));
    return vpadalq_s16(vpaddlq_s16(p0), p1);
}

#include "kernels/arm/gemm_tile.h"

void ed__gemm_table_neon(ed_gemm_fn table[ED_TYPE_COUNT])
{
    table[ED_TYPE_Q8_0] = gemm_q8_0;
    table[ED_TYPE_Q4_0] = gemm_q4_0;
}
