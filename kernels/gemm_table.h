/* gemm_table.h - the one list of batch micro-kernels, shared by the four
 * op tables (x86 AVX2 and AVX-512, ARM NEON and dotprod). Each of their
 * gemm*.c files compiles the same static gemm_* functions for its
 * instruction set, includes this header last and fills its table with it. */
#ifndef ED_KERNELS_GEMM_TABLE_H
#define ED_KERNELS_GEMM_TABLE_H

static void gemm_table_fill(ed_gemm_fn table[ED_TYPE_COUNT])
{
    table[ED_TYPE_Q8_0] = gemm_q8_0;
    table[ED_TYPE_Q4_0] = gemm_q4_0;
    table[ED_TYPE_Q4_0_R8] = gemm_q4_0_r8;
    table[ED_TYPE_Q8_0_R8] = gemm_q8_0_r8;
    table[ED_TYPE_Q4_K_R8] = gemm_q4_K_r8;
    table[ED_TYPE_Q6_K_R8] = gemm_q6_K_r8;
    table[ED_TYPE_Q4_K] = gemm_q4_K;
    table[ED_TYPE_Q5_K] = gemm_q5_K;
    table[ED_TYPE_Q6_K] = gemm_q6_K;
}

#endif
