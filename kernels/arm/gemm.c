/* arm/gemm.c - plain NEON micro-kernels of the batch products (q8_0, q4_0,
 * the interleaved layouts of repack.h, and the K-quants of gemm_k.h) for CPUs
 * without SDOT (Pi 4): widening multiplies, pairwise accumulation. */
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

/* The interleaved layouts' sums: the products of one byte position over
 * several k share an int16 lane, 8 of them for 4-bit levels (q4_0_r8,
 * q4_K_r8: 8 * 15 * 127 < 2^15), 2 for q8_0_r8 (2 * 128 * 127); then
 * adjacent lanes are added twice (to int32 pairs, then to 4-byte units),
 * leaving unit j's sum in lane j. */
typedef struct {
    int16x8_t low, high;             /* byte positions 0-7, 8-15: products over this span of k */
    int32x4_t pairs_low, pairs_high; /* adjacent positions of low, high added, over the spans done */
} r8_sums_t;

static inline __attribute__((always_inline)) void r8_sums_init(r8_sums_t *s)
{
    s->low = s->high = vdupq_n_s16(0);
    s->pairs_low = s->pairs_high = vdupq_n_s32(0);
}

static inline __attribute__((always_inline)) void r8_sums_add(int type, int cols, r8_sums_t *s, int k, int8x16_t w,
                                                              int8x16_t x)
{
    const int span = type == ED_TYPE_Q8_0_R8 ? 2 : 8;
    (void)cols;
    if (k % span == 0) {
        s->low = vmull_s8(vget_low_s8(w), vget_low_s8(x));
        s->high = vmull_high_s8(w, x);
    } else {
        s->low = vmlal_s8(s->low, vget_low_s8(w), vget_low_s8(x));
        s->high = vmlal_high_s8(s->high, w, x);
    }
    if (k == span - 1) {
        s->pairs_low = vpaddlq_s16(s->low);
        s->pairs_high = vpaddlq_s16(s->high);
    } else if (k % span == span - 1) {
        s->pairs_low = vpadalq_s16(s->pairs_low, s->low);
        s->pairs_high = vpadalq_s16(s->pairs_high, s->high);
    }
}

static inline __attribute__((always_inline)) int32x4_t r8_sums_get(int type, int cols, const r8_sums_t *s)
{
    (void)type, (void)cols;
    return vpaddq_s32(s->pairs_low, s->pairs_high);
}

#include "kernels/arm/gemm_r8.h"
#include "kernels/arm/gemm_q6k_r8.h"
#include "kernels/arm/gemm_k.h"

#include "kernels/gemm_table.h"

void ed__gemm_table_neon(ed_gemm_fn table[ED_TYPE_COUNT])
{
    gemm_table_fill(table);
}
