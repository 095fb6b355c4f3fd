/* quant.h - the GGUF block formats: block layouts (byte for byte as GGUF files
 * store them), IEEE half / bfloat16 conversion, dequantization, quantization,
 * and the per-ISA dot-product tables. The scalar code (quant.c, ref/vec_dot.c)
 * is the specification; x86/ and arm/ hold the SIMD dot products. The matrix
 * drivers that call these live in the op table (kernels.h). */
#ifndef ED_KERNELS_QUANT_H
#define ED_KERNELS_QUANT_H

#include "kernels/types.h"

#include <stdint.h>

#define ED_QK 32 /* elements per block of the legacy formats (q4_0 ... q8_1) */

/* Legacy formats: one fp16 scale d (and min m) per 32 elements; element j of
 * a 4/5-bit block sits in the low nibble of qs[j] for j < 16 and in the high
 * nibble of qs[j - 16] otherwise; the 5th bit of element j is bit j of qh. */
typedef struct {
    uint16_t d;             /* fp16 scale: x = d * (q - 8) */
    uint8_t qs[ED_QK / 2];  /* 4-bit quants */
} ed_block_q4_0_t;

typedef struct {
    uint16_t d;             /* fp16 scale */
    uint16_t m;             /* fp16 min: x = d * q + m */
    uint8_t qs[ED_QK / 2];  /* 4-bit quants */
} ed_block_q4_1_t;

typedef struct {
    uint16_t d;             /* fp16 scale: x = d * (q - 16) */
    uint8_t qh[4];          /* 5th bits, bit j = element j (little-endian u32) */
    uint8_t qs[ED_QK / 2];  /* low 4 bits */
} ed_block_q5_0_t;

typedef struct {
    uint16_t d;             /* fp16 scale */
    uint16_t m;             /* fp16 min: x = d * q + m */
    uint8_t qh[4];          /* 5th bits */
    uint8_t qs[ED_QK / 2];  /* low 4 bits */
} ed_block_q5_1_t;

typedef struct {
    uint16_t d;             /* fp16 scale: x = d * q */
    int8_t qs[ED_QK];
} ed_block_q8_0_t;

typedef struct {
    uint16_t d;             /* fp16 scale: x = d * q */
    uint16_t s;             /* fp16 d * sum(qs), for the min term of q4_1/q5_1 dots */
    int8_t qs[ED_QK];
} ed_block_q8_1_t;

/* K-quants: super-blocks of 256 elements split into sub-blocks of 16 or 32,
 * each with a small integer scale (and min) times the fp16 super-block d. */
typedef struct {
    uint8_t scales[ED_QK_K / 16]; /* per 16: low nibble scale, high nibble min */
    uint8_t qs[ED_QK_K / 4];      /* 2-bit quants; element 128h + 32s + l at qs[32h + l] bits 2s */
    uint16_t d;                   /* fp16 scale of the scales */
    uint16_t dmin;                /* fp16 scale of the mins: x = d*sc*q - dmin*m */
} ed_block_q2_K_t;

typedef struct {
    uint8_t hmask[ED_QK_K / 8];   /* high bit; element 32s + l at hmask[l] bit s; clear means -4 */
    uint8_t qs[ED_QK_K / 4];      /* low 2 bits, laid out as in q2_K */
    uint8_t scales[12];           /* 16 6-bit scales, biased by 32 (ed_q3_K_scales) */
    uint16_t d;                   /* fp16: x = d * (sc - 32) * q, q in [-4, 3] */
} ed_block_q3_K_t;

typedef struct {
    uint16_t d;                   /* fp16 scale of the scales */
    uint16_t dmin;                /* fp16 scale of the mins */
    uint8_t scales[12];           /* 8 6-bit scales and 8 6-bit mins (ed_k4_scales) */
    uint8_t qs[ED_QK_K / 2];      /* element 64g + 32h + l at qs[32g + l], nibble h */
} ed_block_q4_K_t;

typedef struct {
    uint16_t d;
    uint16_t dmin;
    uint8_t scales[12];           /* as q4_K */
    uint8_t qh[ED_QK_K / 8];      /* 5th bit; element 32s + l at qh[l] bit s */
    uint8_t qs[ED_QK_K / 2];      /* low 4 bits, laid out as in q4_K */
} ed_block_q5_K_t;

typedef struct {
    uint8_t ql[ED_QK_K / 2];      /* low 4 bits; element 128h + 32s + l at ql[64h + 32(s&1) + l], nibble s>>1 */
    uint8_t qh[ED_QK_K / 4];      /* high 2 bits; the same element at qh[32h + l] bits 2s */
    int8_t scales[ED_QK_K / 16];  /* per 16 elements */
    uint16_t d;                   /* fp16: x = d * sc * (q - 32) */
} ed_block_q6_K_t;

typedef struct {
    float d;                      /* x = d * q */
    int8_t qs[ED_QK_K];
    int16_t bsums[ED_QK_K / 16];  /* sum of each 16 qs, for the min terms */
} ed_block_q8_K_t;

_Static_assert(sizeof(ed_block_q4_0_t) == 18, "q4_0 block size");
_Static_assert(sizeof(ed_block_q4_1_t) == 20, "q4_1 block size");
_Static_assert(sizeof(ed_block_q5_0_t) == 22, "q5_0 block size");
_Static_assert(sizeof(ed_block_q5_1_t) == 24, "q5_1 block size");
_Static_assert(sizeof(ed_block_q8_0_t) == 34, "q8_0 block size");
_Static_assert(sizeof(ed_block_q8_1_t) == 36, "q8_1 block size");
_Static_assert(sizeof(ed_block_q2_K_t) == ED_QK_K / 16 + ED_QK_K / 4 + 4, "q2_K block size");
_Static_assert(sizeof(ed_block_q3_K_t) == ED_QK_K / 8 + ED_QK_K / 4 + 12 + 2, "q3_K block size");
_Static_assert(sizeof(ed_block_q4_K_t) == 4 + 12 + ED_QK_K / 2, "q4_K block size");
_Static_assert(sizeof(ed_block_q5_K_t) == 4 + 12 + ED_QK_K / 8 + ED_QK_K / 2, "q5_K block size");
_Static_assert(sizeof(ed_block_q6_K_t) == ED_QK_K / 2 + ED_QK_K / 4 + ED_QK_K / 16 + 2, "q6_K block size");
_Static_assert(sizeof(ed_block_q8_K_t) == 4 + ED_QK_K + ED_QK_K / 8, "q8_K block size");

/* IEEE binary16 and bfloat16; conversions from f32 round to nearest even,
 * keep inf, and keep NaN a NaN. */
float ed_fp16_to_fp32(uint16_t h);
uint16_t ed_fp32_to_fp16(float f);
float ed_bf16_to_fp32(uint16_t h);
uint16_t ed_fp32_to_bf16(float f);

/* n: element count, a multiple of the type's block length. */
typedef void (*ed_to_float_fn)(const void *src, float *dst, int64_t n);
typedef void (*ed_from_float_fn)(const float *src, void *dst, int64_t n);
/* *out = dot(w_row, act_row) over n elements; w_row is in the weight type,
 * act_row in that type's vec_dot_type; n is a multiple of the block length. */
typedef void (*ed_vec_dot_fn)(int n, float *out, const void *w_row, const void *act_row);

typedef struct {
    ed_to_float_fn to_float;      /* dequantize (scalar reference; bit-exact with the ecosystem) */
    ed_from_float_fn from_float;  /* quantize (error no worse than the ecosystem's quantizer) */
    ed_type_t vec_dot_type;       /* the activation format the dot product wants */
} ed_quant_traits_t;

/* Traits of `type`, or NULL when edged cannot convert it. */
const ed_quant_traits_t *ed_quant_traits(int type);

/* Per-ISA dot-product tables: each fills table[type] for the types it
 * accelerates and leaves the others untouched (the caller pre-fills with the
 * reference). Only the functions of the architecture being compiled exist:
 * ref always; avx2/avx512 on x86_64; neon/neon_dotprod on aarch64. */
void ed_vec_dot_table_ref(ed_vec_dot_fn table[ED_TYPE_COUNT]);
void ed_vec_dot_table_avx2(ed_vec_dot_fn table[ED_TYPE_COUNT]);
void ed_vec_dot_table_avx512(ed_vec_dot_fn table[ED_TYPE_COUNT]);
void ed_vec_dot_table_neon(ed_vec_dot_fn table[ED_TYPE_COUNT]);
void ed_vec_dot_table_neon_dotprod(ed_vec_dot_fn table[ED_TYPE_COUNT]);

/* The 12 packed scale bytes of q4_K/q5_K: 8 6-bit scales and 8 6-bit mins.
 * Sub-blocks 0-3 keep theirs in the low 6 bits of bytes 0-3 (scales) and 4-7
 * (mins); sub-blocks 4-7 keep the low 4 bits in the nibbles of bytes 8-11
 * and the top 2 bits in the top bits of bytes 0-7. */
static inline void ed_k4_scales(const uint8_t packed[12], uint8_t scale[8], uint8_t min[8])
{
    for (int j = 0; j < 4; j++) {
        scale[j] = packed[j] & 63;
        min[j] = packed[j + 4] & 63;
        scale[j + 4] = (uint8_t)((packed[j + 8] & 0xF) | ((packed[j] >> 6) << 4));
        min[j + 4] = (uint8_t)((packed[j + 8] >> 4) | ((packed[j + 4] >> 6) << 4));
    }
}

/* The same unpacked eight bytes at a time in general registers, for the
 * SIMD kernels (measured faster than vector shuffles, which compete with the
 * dot products for the vector ports): `first` holds scales 0-3 then mins
 * 0-3, `second` scales 4-7 then mins 4-7, one byte each, little-endian. */
static inline void ed_k4_scales_words(const uint8_t packed[12], uint64_t *first, uint64_t *second)
{
    uint64_t low_bytes;
    uint32_t nibbles;
    __builtin_memcpy(&low_bytes, packed, sizeof low_bytes);
    __builtin_memcpy(&nibbles, packed + 8, sizeof nibbles);
    *first = low_bytes & 0x3F3F3F3F3F3F3F3FULL;
    *second = (nibbles & 0x0F0F0F0FULL) | (uint64_t)((nibbles >> 4) & 0x0F0F0F0F) << 32 |
              ((low_bytes >> 2) & 0x3030303030303030ULL);
}

/* The 12 packed scale bytes of q3_K: 16 6-bit scales, returned unbiased
 * (-32..31). Scale j keeps its low 4 bits in the nibble j/8 of byte j%8 and
 * its top 2 bits in bits 2*(j/4) of byte 8 + j%4. */
static inline void ed_q3_K_scales(const uint8_t packed[12], int8_t scale[16])
{
    for (int j = 0; j < 16; j++) {
        int low = (packed[j % 8] >> (4 * (j / 8))) & 0xF;
        int high = (packed[8 + j % 4] >> (2 * (j / 4))) & 3;
        scale[j] = (int8_t)((low | (high << 4)) - 32);
    }
}

#endif
