/* vec_dot_dotprod.c - the NEON dotprod dot-product table (Pi 5, Cortex-A76):
 * the kernels of vec_dot_neon.h with sdot (vdotq_s32), four int8 products
 * per int32 lane in one instruction. */
#include "kernels/quant.h"

#include <arm_neon.h>

static inline int32x4_t dot_i8x16(int32x4_t acc, int8x16_t a, int8x16_t b)
{
    return vdotq_s32(acc, a, b);
}

#include "kernels/arm/vec_dot_neon.h"

void ed_vec_dot_table_neon_dotprod(ed_vec_dot_fn table[ED_TYPE_COUNT])
{
    neon_fill_table(table);
}
