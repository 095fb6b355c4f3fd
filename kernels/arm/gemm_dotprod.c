/* arm/gemm_dotprod.c - SDOT micro-kernels of the batch products (q8_0,
 * q4_0) for Armv8.2 dotprod CPUs (Pi 5): a 4 x 4 tile, two SDOTs per block. */
#define GEMM_TILE_ROWS 4
#define GEMM_TILE_COLS 4

#include <arm_neon.h>

static inline int32x4_t gemm_block_dot(int8x16_t a0, int8x16_t a1, int8x16_t b0, int8x16_t b1)
{
    return vdotq_s32(vdotq_s32(vdupq_n_s32(0), a0, b0), a1, b1);
}

#include "kernels/arm/gemm_tile.h"

void ed__gemm_table_neon_dotprod(ed_gemm_fn table[ED_TYPE_COUNT])
{
    table[ED_TYPE_Q8_0] = gemm_q8_0;
    table[ED_TYPE_Q4_0] = gemm_q4_0;
}
