/* arm/gemm_dotprod.c - SDOT micro-kernels of the batch products (q8_0,
 * q4_0, and the K-quants of gemm_k.h) for Armv8.2 dotprod CPUs (Pi 5): a
 * 4 x 4 tile, two SDOTs per block; for the interleaved layouts, one SDOT per
 * 16 bytes lands each 4-byte unit in its block's lane. */
#define GEMM_TILE_ROWS 4
#define GEMM_TILE_COLS 4

#include <arm_neon.h>

static inline int32x4_t gemm_block_dot(int8x16_t a0, int8x16_t a1, int8x16_t b0, int8x16_t b1)
{
    return vdotq_s32(vdotq_s32(vdupq_n_s32(0), a0, b0), a1, b1);
}

#include "kernels/arm/gemm_tile.h"

/* The interleaved layouts' sums: one SDOT per 16 bytes puts each 4-byte
 * unit's products in its lane (q4_0 levels 0..15 are fine as signed bytes).
 * One activation row gets two chains (even and odd k), as SDOT's latency
 * exceeds its issue interval; several rows are independent chains already. */
typedef struct {
    int32x4_t chain[2];
} r8_sums_t;

static inline __attribute__((always_inline)) void r8_sums_init(r8_sums_t *s)
{
    s->chain[0] = s->chain[1] = vdupq_n_s32(0);
}

static inline __attribute__((always_inline)) void r8_sums_add(int type, int cols, r8_sums_t *s, int k, int8x16_t w,
                                                              int8x16_t x)
{
    (void)type;
    int chain = cols == 1 ? k % 2 : 0;
    s->chain[chain] = vdotq_s32(s->chain[chain], w, x);
}

static inline __attribute__((always_inline)) int32x4_t r8_sums_get(int type, int cols, const r8_sums_t *s)
{
    (void)type;
    return cols == 1 ? vaddq_s32(s->chain[0], s->chain[1]) : s->chain[0];
}

#include "kernels/arm/gemm_r8.h"
#include "kernels/arm/gemm_q6k_r8.h"
#include "kernels/arm/gemm_k.h"

#include "kernels/gemm_table.h"

void ed__gemm_table_neon_dotprod(ed_gemm_fn table[ED_TYPE_COUNT])
{
    gemm_table_fill(table);
}
