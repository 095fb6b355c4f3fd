/* vec_dot_avx512.c - the AVX-512 VNNI dot-product table, layered on the AVX2
 * table (dispatch fills AVX2 first): it overrides only the types whose VNNI
 * version measured faster, the K-quants q4_K, q5_K and q6_K, each the
 * one-row, one-column case of gemm_k.h's products (vpdpbusd + vpdpwssd).
 * Vectors are 256-bit: Zen 4 runs 512-bit ones at half rate, and a 512-bit
 * q4_K measured slower. */
#include "kernels/quant.h"
#include "kernels/x86/gemm_k.h"

void ed_vec_dot_table_avx512(ed_vec_dot_fn table[ED_TYPE_COUNT])
{
    table[ED_TYPE_Q4_K] = k_dot_q4_K; /* gemm_k_blocks.h */
    table[ED_TYPE_Q5_K] = k_dot_q5_K;
    table[ED_TYPE_Q6_K] = k_dot_q6_K;
}
