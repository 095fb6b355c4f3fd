/* x86/gemm.c - AVX2 micro-kernels of the batch products (q8_0, q4_0):
 * a 2 x 4 register tile (16 ymm registers), block dots with maddubs+madd;
 * the interleaved layouts (gemm_r8.h, gemm_q6k_r8.h) and the K-quants (gemm_k.h). */
#define GEMM_TILE_ROWS 2
#define GEMM_TILE_COLS 4
#define GEMM_Q8_OFFSET 0 /* maddubs saturates 255 * 127 * 2 */
#define gemm_block_dot(acc, u, s)                                                                  \
    _mm256_add_epi32((acc), _mm256_madd_epi16(_mm256_maddubs_epi16((u), (s)), _mm256_set1_epi16(1)))
#include "kernels/x86/gemm_tile.h"
#include "kernels/x86/gemm_r8.h"
#include "kernels/x86/gemm_k.h"
#include "kernels/x86/gemm_q6k_r8.h"

#include "kernels/gemm_table.h"

void ed__gemm_table_avx2(ed_gemm_fn table[ED_TYPE_COUNT])
{
    gemm_table_fill(table);
    table[ED_TYPE_Q4_0_R8] = gemm_q4_0_r8_avx2; /* gemm_r8.h: k-outer, up to R8X_COLS rows a pass */
    table[ED_TYPE_Q8_0_R8] = gemm_q8_0_r8_avx2;
    table[ED_TYPE_Q4_K_R8] = gemm_q4_K_r8_avx2;
    table[ED_TYPE_Q6_K_R8] = gemm_q6_K_r8_avx2; /* gemm_q6k_r8.h: k-outer, up to K6X_COLS rows a pass */
}
