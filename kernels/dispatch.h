/* dispatch.h - internal: the functions each architecture folder provides to
 * fill an op table (dispatch.c calls them once, after checking the CPU). An
 * arch fill starts from the reference table and replaces what it speeds up. */
#ifndef ED_KERNELS_DISPATCH_H
#define ED_KERNELS_DISPATCH_H

#include "kernels/kernels.h"

void ed__kernels_fill_ref(ed_kernels_t *k); /* kernels/ref/ops.c */
void ed__kernels_fill_ref_backward(ed_kernels_t *k); /* kernels/ref/backward.c (fill_ref calls it) */
#if defined(__x86_64__)
void ed__kernels_fill_avx2(ed_kernels_t *k);        /* kernels/x86/ops.c */
void ed__kernels_fill_avx2_backward(ed_kernels_t *k); /* kernels/x86/backward.c (fill_avx2 calls it) */
void ed__gemm_table_avx2(ed_gemm_fn table[ED_TYPE_COUNT]);   /* kernels/x86/gemm.c */
void ed__gemm_table_avx512(ed_gemm_fn table[ED_TYPE_COUNT]); /* kernels/x86/gemm_avx512.c */
void ed__kernels_fill_avx512_backward(ed_kernels_t *k); /* kernels/x86/backward_avx512.c */
void ed__quantize_table_avx2(ed_from_float_fn table[ED_TYPE_COUNT]); /* kernels/x86/quantize.c */
#endif
#if defined(__aarch64__)
void ed__kernels_fill_neon(ed_kernels_t *k);                       /* kernels/arm/ops.c */
void ed__kernels_fill_neon_backward(ed_kernels_t *k); /* kernels/arm/backward.c (fill_neon calls it) */
void ed__gemm_table_neon(ed_gemm_fn table[ED_TYPE_COUNT]);         /* kernels/arm/gemm.c */
void ed__gemm_table_neon_dotprod(ed_gemm_fn table[ED_TYPE_COUNT]); /* kernels/arm/gemm_dotprod.c */
void ed__quantize_table_neon(ed_from_float_fn table[ED_TYPE_COUNT]); /* kernels/arm/quantize.c */
#endif

#endif
