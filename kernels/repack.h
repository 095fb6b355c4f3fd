/* repack.h - the interleaved layouts edged makes at load time for its matrix
 * kernels. GGUF keeps each block's 32 elements together, so a SIMD dot
 * product sums one block across all its lanes and must scale and accumulate
 * in float once per block, a serial chain that bounds a matrix-vector product
 * far below memory bandwidth. Here 8 consecutive blocks of a row form a group
 * whose quants are interleaved in 4-element units: lane j of every 32-byte
 * vector belongs to block j, so integer products of a whole group accumulate
 * per lane and are scaled once per 8 blocks. Same bytes per block as the file
 * (rows are padded to whole groups); activations get the matching order. */
#ifndef ED_KERNELS_REPACK_H
#define ED_KERNELS_REPACK_H

#include "kernels/quant.h"

#define ED_R8 8 /* blocks per group */

/* q4_0 weights: qs[m][4j + i] holds element 8m + i of block j in its low
 * nibble and element 8m + 4 + i in its high nibble (levels 0..15, value
 * d * (level - 8) as in q4_0). Padding blocks are all zero. */
typedef struct {
    uint16_t d[ED_R8];              /* fp16 scale of block j */
    uint8_t qs[ED_QK / 8][4 * ED_R8];
} ed_group_q4_0_r8_t;

/* q8_0 weights: qs[k][4j + i] = element 4k + i of block j. */
typedef struct {
    uint16_t d[ED_R8];              /* fp16 scale of block j */
    int8_t qs[ED_QK / 4][4 * ED_R8];
} ed_group_q8_0_r8_t;

/* Activations for both: q8_0 blocks in the q8_0_r8 order, scales widened to
 * f32, and each block's quant sum (the weights' level offset times it is
 * the offset's share of the dot product). */
typedef struct {
    float d[ED_R8];                 /* block j's scale: the fp16 scale of q8_0, widened */
    int32_t sum[ED_R8];             /* sum of block j's 32 quants */
    int8_t qs[ED_QK / 4][4 * ED_R8];
} ed_group_q8_0_x8_t;

/* q4_K weights, a super-block at a time: its 8 sub-blocks of 32 take the
 * place of q4_0_r8's 8 blocks (qs[m][4j + i]: element 8m + i of sub-block j
 * in the low nibble, 8m + 4 + i in the high one); d, dmin and the 12 packed
 * scale bytes as in q4_K. */
typedef struct {
    uint16_t d;                     /* fp16 scale of the scales */
    uint16_t dmin;                  /* fp16 scale of the mins */
    uint8_t scales[12];             /* 8 6-bit scales and 8 6-bit mins (ed_k4_scales) */
    uint8_t qs[ED_QK / 8][4 * ED_R8];
} ed_block_q4_K_r8_t;

/* Their activations: q8_K's values in the matching order, and the sum of
 * each sub-block of 32 (the min term). */
typedef struct {
    float d;                        /* x = d * q */
    int32_t sum[ED_R8];             /* sum of sub-block j's 32 quants */
    int8_t qs[ED_QK / 4][4 * ED_R8];
} ed_block_q8_K_x8_t;

/* q6_K weights, a super-block at a time, against the same q8_K_x8
 * activations as q4_K_r8 (so a Q4_K_M layer's q4_K and q6_K products share
 * one quantized input). Lane j of every vector is sub-block j of 32, which
 * is q6_K's sub-blocks 2j (its elements 0..15, vectors k = 0..3) and 2j + 1
 * (16..31, k = 4..7). Why this layout:
 * - the levels stay unsigned 0..63 (value - 32), the unsigned operand of
 *   maddubs / vpdpbusd as they are; the offset's share, 32 times each
 *   16-element activation sum, is computed once per activation row and
 *   super-block (a pass's prologue) and starts the integer sums;
 * - a lane's products over k = 0..3 (then 4..7) are one q6_K sub-block of
 *   16, so its int8 scale applies once per lane and half: two int32 vectors
 *   per super-block and activation row, not one scale per 4 elements as the
 *   file layout needs. The sums are too wide for 16-bit lanes (16 * 63 *
 *   128), so the scale is applied in float, fused into the accumulation;
 * - 4 + 2 bits as 4-bit pairs (ql, as q4_K_r8's qs) and 2-bit quads (qh):
 *   level k of a lane is a nibble of ql[k / 2] or'ed with bits 2 (k % 4)
 *   of qh[k / 4] moved to bits 4-5, a mask and a shift or two per vector.
 * ql[m][4j + i]: element 8m + i of sub-block j (low nibble of the level),
 * element 8m + 4 + i (high nibble); qh[h][4j + i] bits 2t, 2t + 1: the
 * level's bits 4-5 of element 4 (4h + t) + i. Same bytes as q6_K. */
typedef struct {
    uint16_t d;                     /* fp16: x = d * scale * (level - 32) */
    int8_t scales[2][ED_R8];        /* scales[h][j]: q6_K's scale 2j + h (half h of sub-block j) */
    uint8_t ql[ED_QK / 8][4 * ED_R8];
    uint8_t qh[2][4 * ED_R8];
} ed_block_q6_K_r8_t;

_Static_assert(sizeof(ed_block_q4_K_r8_t) == sizeof(ed_block_q4_K_t), "q4_K_r8 block size");
_Static_assert(sizeof(ed_block_q6_K_r8_t) == sizeof(ed_block_q6_K_t), "q6_K_r8 block size");
_Static_assert(sizeof(ed_block_q8_K_x8_t) == 4 + 32 + 256, "q8_K_x8 block size");
_Static_assert(sizeof(ed_group_q4_0_r8_t) == ED_R8 * sizeof(ed_block_q4_0_t), "q4_0_r8 group size");
_Static_assert(sizeof(ed_group_q8_0_r8_t) == ED_R8 * sizeof(ed_block_q8_0_t), "q8_0_r8 group size");
_Static_assert(sizeof(ed_group_q8_0_x8_t) == 320, "q8_0_x8 group size");

/* The interleaved type for weights of `type` (q4_0 -> q4_0_r8, q8_0 ->
 * q8_0_r8, q4_K -> q4_K_r8, q6_K -> q6_K_r8), or -1 when there is none. */
int ed_repack_type(int type);
/* Writes n_rows rows of n_in elements from `type` (GGUF layout) to
 * ed_repack_type(type) at dst (ed_type_row_size bytes per row, padded).
 * n_in is a multiple of the block length. Rows [row_begin, row_end) only, so
 * callers can split the work. */
void ed_repack_rows(int type, const void *src, void *dst, int n_in, int64_t row_begin, int64_t row_end);

/* Conversions of the traits table (quant.c), one row of n elements each. */
void ed__q4_0_r8_to_float(const void *src, float *dst, int64_t n);
void ed__q4_0_r8_from_float(const float *src, void *dst, int64_t n);
void ed__q8_0_r8_to_float(const void *src, float *dst, int64_t n);
void ed__q8_0_r8_from_float(const float *src, void *dst, int64_t n);
void ed__q8_0_x8_to_float(const void *src, float *dst, int64_t n);
void ed__q8_0_x8_from_float(const float *src, void *dst, int64_t n);
void ed__q4_K_r8_to_float(const void *src, float *dst, int64_t n);
void ed__q4_K_r8_from_float(const float *src, void *dst, int64_t n);
void ed__q8_K_x8_to_float(const void *src, float *dst, int64_t n);
void ed__q8_K_x8_from_float(const float *src, void *dst, int64_t n);
void ed__q6_K_r8_to_float(const void *src, float *dst, int64_t n);
void ed__q6_K_r8_from_float(const float *src, void *dst, int64_t n);

#endif
