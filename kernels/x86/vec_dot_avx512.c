/* vec_dot_avx512.c - the AVX-512 VNNI dot-product table. It is layered on
 * the AVX2 table (dispatch fills AVX2 first) and overrides only the types
 * whose VNNI version measurably beats AVX2; so far none has been measured to,
 * since the matrix-vector product is bound by memory bandwidth, so the table
 * leaves every entry as the caller filled it. */
#include "kernels/quant.h"

void ed_vec_dot_table_avx512(ed_vec_dot_fn table[ED_TYPE_COUNT])
{
    (void)table;
}
