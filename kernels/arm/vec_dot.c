/* vec_dot.c - the plain ARMv8 NEON dot-product table (Pi 4, Cortex-A72):
 * the kernels of vec_dot_neon.h with int8 products widened by vmull_s8 and
 * pair-summed into int32 lanes. */
#include "kernels/quant.h"

#include <arm_neon.h>

static inline int32x4_t dot_i8x16(int32x4_t acc, int8x16_t a, int8x16_t b)
{
    int16x8_t low = vmull_s8(vget_low_s8(a), vget_low_s8(b));
    int16x8_t high = vmull_high_s8(a, b);
    return vpadalq_s16(vpadalq_s16(acc, low), high);
}

#include "kernels/arm/vec_dot_neon.h"

void ed_vec_dot_table_neon(ed_vec_dot_fn table[ED_TYPE_COUNT])
{
    neon_fill_table(table);
}
