/* x86/gemm_avx512.c - AVX-512 VNNI micro-kernels of the batch products
 * (q8_0, q4_0): a 4 x 4 tile of ymm accumulators (AVX-512VL gives 32 of
 * them), one vpdpbusd per block pair instead of maddubs+madd, which also
 * starts from the weights' offset term; the interleaved layouts
 * (gemm_r8.h; batches of more than 4 rows in zmm row pairs, gemm_r8_zmm.h)
 * and the K-quants (gemm_k.h). */
#define GEMM_TILE_ROWS 4
#define GEMM_TILE_COLS 4
#define GEMM_Q8_OFFSET 1
#define gemm_block_dot(acc, u, s) _mm256_dpbusd_epi32((acc), (u), (s))
#include "kernels/x86/gemm_tile.h"
#include "kernels/x86/gemm_r8.h"
#include "kernels/x86/gemm_k.h"
#include "kernels/x86/gemm_r8_zmm.h"
#include "kernels/x86/gemm_q6k_r8.h"

#include "kernels/gemm_table.h"

void ed__gemm_table_avx512(ed_gemm_fn table[ED_TYPE_COUNT])
{
    gemm_table_fill(table);
    table[ED_TYPE_Q4_0_R8] = gemm_q4_0_r8_zmm;
    table[ED_TYPE_Q8_0_R8] = gemm_q8_0_r8_zmm;
    table[ED_TYPE_Q4_K_R8] = gemm_q4_K_r8_zmm;
    table[ED_TYPE_Q6_K] = gemm_q6_K_zmm;
    table[ED_TYPE_Q6_K_R8] = gemm_q6_K_r8_zmm;
}
