/* x86/vec_dot_k.h - what the AVX2 (vec_dot.c) and AVX-512 VNNI
 * (vec_dot_avx512.c) dot products share: the horizontal sum, q4_K/q5_K's
 * scale unpacking and their loop over super-blocks around the includer's
 * sub-block body. Static inline: each file compiles it with its own flags. */
#ifndef ED_KERNELS_X86_VEC_DOT_K_H
#define ED_KERNELS_X86_VEC_DOT_K_H

#include "kernels/quant.h"

#include <immintrin.h>
#include <stdbool.h>

static inline float hsum_ps(__m256 v)
{
    __m128 x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    x = _mm_add_ps(x, _mm_movehl_ps(x, x));
    x = _mm_add_ss(x, _mm_movehdup_ps(x));
    return _mm_cvtss_f32(x);
}

/* The 8 scales (low 8 bytes) and 8 mins (high 8 bytes) of q4_K/q5_K's 12
 * packed bytes (the layout of ed_k4_scales), unpacked eight at a time in
 * general registers: measured faster than vector shuffles, which compete
 * with the dot products for the vector ports. */
static inline __m128i k4_scales_mins(const uint8_t packed[12])
{
    uint64_t low_bytes;
    uint32_t nibbles;
    __builtin_memcpy(&low_bytes, packed, sizeof low_bytes);
    __builtin_memcpy(&nibbles, packed + 8, sizeof nibbles);
    uint64_t first = low_bytes & 0x3F3F3F3F3F3F3F3FULL; /* scales 0-3, mins 0-3 */
    uint64_t second = (nibbles & 0x0F0F0F0FULL) | (uint64_t)((nibbles >> 4) & 0x0F0F0F0F) << 32 |
                      ((low_bytes >> 2) & 0x3030303030303030ULL); /* scales 4-7, mins 4-7 */
    return _mm_unpacklo_epi32(_mm_cvtsi64_si128((long long)first), _mm_cvtsi64_si128((long long)second));
}

/* act_d * d and act_d * dmin of a q4_K/q5_K super-block, in lanes 0 and 1. */
static inline __m128 k4_float_scales(uint16_t d, uint16_t dmin, float act_d)
{
    __m128 both = _mm_cvtph_ps(_mm_cvtsi32_si128((int)((uint32_t)dmin << 16 | d)));
    return _mm_mul_ps(both, _mm_set1_ps(act_d));
}

/* A super-block's scaled level sums (8 lanes) from its quants qs, fifth bits
 * qh (NULL for q4_K) and packed scales; lane j of *min_sums gets min_j times
 * the activation sum of sub-block j. */
typedef __m256i (*k4_body_fn)(const uint8_t *qs, const uint8_t *qh, const uint8_t packed_scales[12],
                              const ed_block_q8_K_t *a, __m256i *min_sums);

/* dot(w_row, act_row) of q4_K (q5 false) or q5_K rows over n elements. */
static inline __attribute__((always_inline)) float k4_dot(int n, const void *w_row, const void *act_row, bool q5,
                                                          k4_body_fn body)
{
    const ed_block_q8_K_t *a = act_row;
    __m256 acc = _mm256_setzero_ps(), acc_min = _mm256_setzero_ps();
    for (int i = 0; i < n / ED_QK_K; i++) {
        const ed_block_q4_K_t *b4 = (const ed_block_q4_K_t *)w_row + i;
        const ed_block_q5_K_t *b5 = (const ed_block_q5_K_t *)w_row + i;
        __m256i min_sums;
        __m256i sumi = q5 ? body(b5->qs, b5->qh, b5->scales, &a[i], &min_sums)
                          : body(b4->qs, NULL, b4->scales, &a[i], &min_sums);
        __m128 d = q5 ? k4_float_scales(b5->d, b5->dmin, a[i].d) : k4_float_scales(b4->d, b4->dmin, a[i].d);
        acc = _mm256_fmadd_ps(_mm256_broadcastss_ps(d), _mm256_cvtepi32_ps(sumi), acc);
        acc_min = _mm256_fmadd_ps(_mm256_broadcastss_ps(_mm_movehdup_ps(d)), _mm256_cvtepi32_ps(min_sums),
                                  acc_min);
    }
    return hsum_ps(_mm256_sub_ps(acc, acc_min));
}

#endif
