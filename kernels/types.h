/* types.h - the tensor element types of the GGUF ecosystem (numbered as GGUF
 * files number them) and their block geometry. Only sizes live here; the
 * block layouts and conversions are in quant.h. Shared by the kernels and the
 * GGUF reader, which validates tensor sizes with ed_type_row_size(). */
#ifndef ED_KERNELS_TYPES_H
#define ED_KERNELS_TYPES_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/error.h"

typedef enum {
    ED_TYPE_F32 = 0,
    ED_TYPE_F16 = 1,
    ED_TYPE_Q4_0 = 2,
    ED_TYPE_Q4_1 = 3,
    ED_TYPE_Q5_0 = 6,
    ED_TYPE_Q5_1 = 7,
    ED_TYPE_Q8_0 = 8,
    ED_TYPE_Q8_1 = 9,
    ED_TYPE_Q2_K = 10,
    ED_TYPE_Q3_K = 11,
    ED_TYPE_Q4_K = 12,
    ED_TYPE_Q5_K = 13,
    ED_TYPE_Q6_K = 14,
    ED_TYPE_Q8_K = 15,
    ED_TYPE_I8 = 24,
    ED_TYPE_I16 = 25,
    ED_TYPE_I32 = 26,
    ED_TYPE_BF16 = 30,
    /* Layouts edged makes at load time for its kernels (kernels/repack.h);
     * never read from a file: the GGUF reader accepts only types below
     * ED_TYPE_FIRST_INTERNAL. */
    ED_TYPE_FIRST_INTERNAL = 64,
    ED_TYPE_Q4_0_R8 = 64, /* q4_0 weights, 8 blocks interleaved by 4-element groups */
    ED_TYPE_Q8_0_R8 = 65, /* q8_0 weights, the same */
    ED_TYPE_Q8_0_X8 = 66, /* q8_0 activations in the matching order, with block sums */
    ED_TYPE_Q4_K_R8 = 67, /* q4_K weights, each super-block's 8 sub-blocks interleaved the same way */
    ED_TYPE_Q8_K_X8 = 68, /* q8_K activations in the matching order, with sub-block sums */
    ED_TYPE_Q6_K_R8 = 69, /* q6_K weights, interleaved as q4_K_r8 (against q8_K_x8 too) */
    ED_TYPE_COUNT = 70, /* bound for tables indexed by type; not every value below it is a type */
} ed_type_t;

#define ED_QK_K 256 /* elements per K-quant super-block */

typedef struct {
    const char *name;   /* "q4_K", as GGUF tools print it; NULL: not a known type */
    uint32_t block_len; /* elements per block */
    uint32_t block_size; /* bytes per block */
    uint32_t group;     /* rows are padded to whole groups of this many blocks (1: no padding) */
} ed_type_info_t;

/* Geometry of `type`, or NULL when `type` is not a type edged knows. */
const ed_type_info_t *ed_type_info(int type);
/* Looks a file type up by name ("q8_0", case-insensitive); -1 when unknown
 * (the internal layouts have names for printing only). */
int ed_type_from_name(const char *name);
/* Bytes of a row of `n` elements (padded to whole groups for the internal
 * layouts). Returns 0 and sets *out, or ED_KERR_EINVAL when n is not a multiple of
 * the block length (or the type is unknown), or ED_KERR_EOVERFLOW when the size
 * does not fit in 64 bits. */
int ed_type_row_size(int type, uint64_t n, uint64_t *out);

#endif
