/* x86/gemm_k.h - q4_K, q5_K, q6_K weights against q8_K activations, for
 * vec_dot.c and gemm.c (AVX2) and their _avx512 twins (VNNI: chosen by the
 * includer's flags). A pass of up to K_COLS activation rows walks the weight
 * rows, unpacking each super-block once for all of them; an output's float
 * steps are its own, so it is the same bits in any batch or alone (the dot product). */
#ifndef ED_KERNELS_X86_GEMM_K_H
#define ED_KERNELS_X86_GEMM_K_H

#include "kernels/gemm_passes.h"
#include "kernels/quant.h"

#include <immintrin.h>
#include <stdbool.h>

#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
#define K_VNNI 1
#else
#define K_VNNI 0
#endif

#define K_COLS 4 /* activation rows per pass over a weight row: 4 x 292 B per super-block stay in L1 */

static inline float hsum_ps(__m256 v)
{
    __m128 x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    x = _mm_add_ps(x, _mm_movehl_ps(x, x));
    x = _mm_add_ss(x, _mm_movehdup_ps(x));
    return _mm_cvtss_f32(x);
}

/* The 8 scales (low 8 bytes) and 8 mins (high 8 bytes) of q4_K/q5_K's 12
 * packed bytes (ed_k4_scales_words). */
static inline __m128i k4_scales_mins(const uint8_t packed[12])
{
    uint64_t first, second;
    ed_k4_scales_words(packed, &first, &second);
    return _mm_unpacklo_epi32(_mm_cvtsi64_si128((long long)first), _mm_cvtsi64_si128((long long)second));
}

/* Both instruction sets take a super-block as pairs of 32-element sub-blocks
 * p, p+1 (64 consecutive activations) and their int16 scales from a vector
 * holding scale p of the first 16 elements of sub-block p at int16 position
 * p of the low 128-bit lane and that of the last 16 at position p of the
 * high lane (q4_K/q5_K: the same scale in both). Levels are 0..63, so
 * the int16 steps are exact: maddubs' sums of 2 products (AVX2) and the
 * packed sums of 4 (VNNI) stay below 2^15. */
#if K_VNNI

/* vpternlogd immediates: the wanted function of operands a, b, c applied to
 * these three bytes; TERN_MUX is c ? a : b, bit by bit. */
enum { TERN_A = 0xF0, TERN_B = 0xCC, TERN_C = 0xAA };
enum {
    TERN_A_OR_B_AND_C = TERN_A | (TERN_B & TERN_C),
    TERN_MUX = (TERN_C & TERN_A) | (~TERN_C & TERN_B & 0xFF),
};

typedef __m256i k_scales_t; /* scales p (x4) and p+1 (x4) per lane: the layout packs_epi32 gives */

static inline k_scales_t k_pair_scales(__m256i scales, int p)
{
    long long first = 0x0100010001000100LL + 0x0202020202020202LL * p;
    long long second = first + 0x0202020202020202LL;
    return _mm256_shuffle_epi8(scales, _mm256_set_epi64x(second, first, second, first));
}

/* sumi plus sub-blocks p and p+1 (levels q0, q1; activations y[0..63])
 * times their scales: vpdpbusd sums each sub-block's byte products, and the
 * two sums, packed to int16, meet their scales in one vpdpwssd. */
static inline __m256i k_pair_dot(__m256i sumi, __m256i q0, __m256i q1, k_scales_t sc, const int8_t *y)
{
    __m256i dot0 = _mm256_dpbusd_epi32(_mm256_setzero_si256(), q0, _mm256_loadu_si256((const __m256i *)y));
    __m256i dot1 = _mm256_dpbusd_epi32(_mm256_setzero_si256(), q1, _mm256_loadu_si256((const __m256i *)(y + 32)));
    return _mm256_dpwssd_epi32(sumi, _mm256_packs_epi32(dot0, dot1), sc);
}

/* q5_K's levels of sub-blocks 2g, 2g+1 (nibbles q_low, q_high) get bits 2g
 * and 2g+1 of qh as their fifth bit; the rest of each shifted byte masked off. */
static inline void k5_fifth_bits(__m256i *q_low, __m256i *q_high, __m256i qh, int g)
{
    const __m256i fifth = _mm256_set1_epi8(0x10);
    __m256i moved_low = 2 * g <= 4 ? _mm256_slli_epi16(qh, 4 - 2 * g) : _mm256_srli_epi16(qh, 2 * g - 4);
    __m256i moved_high = 2 * g + 1 <= 4 ? _mm256_slli_epi16(qh, 3 - 2 * g) : _mm256_srli_epi16(qh, 2 * g - 3);
    *q_low = _mm256_ternarylogic_epi32(*q_low, moved_low, fifth, TERN_A_OR_B_AND_C);
    *q_high = _mm256_ternarylogic_epi32(*q_high, moved_high, fifth, TERN_A_OR_B_AND_C);
}

/* The 0..63 levels of q6_K's sub-blocks 4h..4h+3 from ql + 64h and qh + 32h. */
static inline void k6_levels(__m256i q[4], const uint8_t *ql, const uint8_t *qh)
{
    const __m256i low_mask = _mm256_set1_epi8(0x0F);
    const __m256i two_bits = _mm256_set1_epi8(0x33); /* the qh bits of two sub-blocks 2 apart */
    __m256i low01 = _mm256_loadu_si256((const __m256i *)ql);
    __m256i low23 = _mm256_loadu_si256((const __m256i *)(ql + 32));
    __m256i high = _mm256_loadu_si256((const __m256i *)qh);
    /* bits 0-1 and 4-5 (sub-blocks 0 and 2), then 2-3 and 6-7 (1 and 3), of each byte */
    __m256i high02 = _mm256_and_si256(high, two_bits);
    __m256i high13 = _mm256_and_si256(_mm256_srli_epi16(high, 2), two_bits);
    /* a level is its nibble in bits 0-3 and its two high bits in 4-5: the
     * nibble where low_mask is set, the high bits elsewhere */
    q[0] = _mm256_ternarylogic_epi32(low01, _mm256_slli_epi16(high02, 4), low_mask, TERN_MUX);
    q[1] = _mm256_ternarylogic_epi32(low23, _mm256_slli_epi16(high13, 4), low_mask, TERN_MUX);
    q[2] = _mm256_ternarylogic_epi32(_mm256_srli_epi16(low01, 4), high02, low_mask, TERN_MUX);
    q[3] = _mm256_ternarylogic_epi32(_mm256_srli_epi16(low23, 4), high13, low_mask, TERN_MUX);
}

#else /* AVX2 */

typedef struct {
    __m256i first, second; /* the int16 scales of sub-blocks p and p+1, per lane */
} k_scales_t;

/* Int16 position p of each 128-bit lane of scales, in all of that lane. */
static inline __m256i k_scale_at(__m256i scales, int p)
{
    return _mm256_shuffle_epi8(scales, _mm256_set1_epi16((short)(0x0202 * p + 0x0100)));
}

static inline k_scales_t k_pair_scales(__m256i scales, int p)
{
    return (k_scales_t){k_scale_at(scales, p), k_scale_at(scales, p + 1)};
}

/* sumi plus sub-blocks p and p+1 (levels q0, q1; activations y[0..63])
 * times their scales: maddubs (unsigned x signed byte pairs to int16),
 * then madd by the scales to int32. */
static inline __m256i k_pair_dot(__m256i sumi, __m256i q0, __m256i q1, k_scales_t sc, const int8_t *y)
{
    __m256i p0 = _mm256_madd_epi16(_mm256_maddubs_epi16(q0, _mm256_loadu_si256((const __m256i *)y)), sc.first);
    __m256i p1 =
        _mm256_madd_epi16(_mm256_maddubs_epi16(q1, _mm256_loadu_si256((const __m256i *)(y + 32))), sc.second);
    sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(p0, p1));
    /* in a register: GCC would regroup the sums of a whole super-block and
     * spill the products of several activation rows */
    __asm__("" : "+x"(sumi));
    return sumi;
}

/* Per byte, bit j of qh moved to bit 4 (the fifth bit of a q5_K level). A
 * 16-bit shift carries bits across bytes only into bits 0-3 or 5-7. */
static inline __m256i k5_fifth_bit(__m256i qh, int j)
{
    __m256i moved = j <= 4 ? _mm256_slli_epi16(qh, 4 - j) : _mm256_srli_epi16(qh, j - 4);
    return _mm256_and_si256(moved, _mm256_set1_epi8(0x10));
}

/* q5_K's levels of sub-blocks 2g, 2g+1 (nibbles q_low, q_high) get bits 2g
 * and 2g+1 of qh as their fifth bit. */
static inline void k5_fifth_bits(__m256i *q_low, __m256i *q_high, __m256i qh, int g)
{
    *q_low = _mm256_or_si256(*q_low, k5_fifth_bit(qh, 2 * g));
    *q_high = _mm256_or_si256(*q_high, k5_fifth_bit(qh, 2 * g + 1));
}

/* The 0..63 levels of q6_K's sub-blocks 4h..4h+3 from ql + 64h and qh + 32h. */
static inline void k6_levels(__m256i q[4], const uint8_t *ql, const uint8_t *qh)
{
    const __m256i low_mask = _mm256_set1_epi8(0x0F);
    const __m256i two_bits = _mm256_set1_epi8(0x30);
    __m256i low01 = _mm256_loadu_si256((const __m256i *)ql);
    __m256i low23 = _mm256_loadu_si256((const __m256i *)(ql + 32));
    __m256i high = _mm256_loadu_si256((const __m256i *)qh);
    q[0] = _mm256_or_si256(_mm256_and_si256(low01, low_mask), _mm256_and_si256(_mm256_slli_epi16(high, 4), two_bits));
    q[1] = _mm256_or_si256(_mm256_and_si256(low23, low_mask), _mm256_and_si256(_mm256_slli_epi16(high, 2), two_bits));
    q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(low01, 4), low_mask), _mm256_and_si256(high, two_bits));
    q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(low23, 4), low_mask),
                           _mm256_and_si256(_mm256_srli_epi16(high, 2), two_bits));
}

#endif

/* Activation row c's super-block i. */
static inline const ed_block_q8_K_t *k_act(const uint8_t *x, size_t x_row_bytes, int c, int i)
{
    return (const ed_block_q8_K_t *)(x + (size_t)c * x_row_bytes) + i;
}

/* Super-block i of a q4_K (q5 false) or q5_K row against activation rows
 * 0..cols-1: acc[c] += d * act_d * (scaled level sums), acc_min[c] +=
 * dmin * act_d * (mins times the activations' sub-block sums). The integer
 * sums are exact in any order; the float steps are each output's own. */
static inline __attribute__((always_inline)) void k4_block(bool q5, const uint8_t *row, int i, const uint8_t *x,
                                                           size_t x_row_bytes, int cols, __m256 acc[K_COLS],
                                                           __m256 acc_min[K_COLS])
{
    const ed_block_q4_K_t *b4 = (const ed_block_q4_K_t *)row + i;
    const ed_block_q5_K_t *b5 = (const ed_block_q5_K_t *)row + i;
    __m128i scales_mins = k4_scales_mins(q5 ? b5->scales : b4->scales);
    const __m128i mins_doubled = _mm_setr_epi8(8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15);
    __m256i mins = _mm256_cvtepu8_epi16(_mm_shuffle_epi8(scales_mins, mins_doubled)); /* min j at 2j, 2j+1 */
    __m256i scales = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(scales_mins));   /* int16, both lanes */
    uint32_t d_dmin = q5 ? (uint32_t)b5->dmin << 16 | b5->d : (uint32_t)b4->dmin << 16 | b4->d;
    __m128 d = _mm_cvtph_ps(_mm_cvtsi32_si128((int)d_dmin)); /* d, dmin */
    const uint8_t *qs = q5 ? b5->qs : b4->qs;
    __m256i qh = q5 ? _mm256_loadu_si256((const __m256i *)b5->qh) : _mm256_setzero_si256();
    const __m256i low_mask = _mm256_set1_epi8(0x0F);
    __m256i sumi[K_COLS];
#pragma GCC unroll 4
    for (int c = 0; c < cols; c++)
        sumi[c] = _mm256_setzero_si256();
#pragma GCC unroll 4
    for (int g = 0; g < 4; g++) { /* sub-blocks 2g, 2g+1: the nibbles of qs[32g..32g+31] */
        __m256i bits = _mm256_loadu_si256((const __m256i *)(qs + 32 * g));
        __m256i q_low = _mm256_and_si256(bits, low_mask);
        __m256i q_high = _mm256_and_si256(_mm256_srli_epi16(bits, 4), low_mask);
        if (q5)
            k5_fifth_bits(&q_low, &q_high, qh, g);
        k_scales_t sc = k_pair_scales(scales, 2 * g);
#pragma GCC unroll 4
        for (int c = 0; c < cols; c++)
            sumi[c] = k_pair_dot(sumi[c], q_low, q_high, sc, k_act(x, x_row_bytes, c, i)->qs + 64 * g);
    }
#pragma GCC unroll 4
    for (int c = 0; c < cols; c++) {
        const ed_block_q8_K_t *a = k_act(x, x_row_bytes, c, i);
        __m256i min_sums = _mm256_madd_epi16(mins, _mm256_loadu_si256((const __m256i *)a->bsums));
        __m128 da = _mm_mul_ps(d, _mm_set1_ps(a->d));
        acc[c] = _mm256_fmadd_ps(_mm256_broadcastss_ps(da), _mm256_cvtepi32_ps(sumi[c]), acc[c]);
        acc_min[c] = _mm256_fmadd_ps(_mm256_broadcastss_ps(_mm_movehdup_ps(da)), _mm256_cvtepi32_ps(min_sums),
                                     acc_min[c]);
    }
}

/* Super-block i of a q6_K row against activation rows 0..cols-1: acc[c] +=
 * d * act_d * sum(scale * (level - 32) * activation), the -32 bias taken
 * through the activations' sub-block sums. */
static inline __attribute__((always_inline)) void k6_block(const uint8_t *row, int i, const uint8_t *x,
                                                           size_t x_row_bytes, int cols, __m256 acc[K_COLS])
{
    const ed_block_q6_K_t *b = (const ed_block_q6_K_t *)row + i;
    /* scales 0, 2, .., 14 to the low 8 bytes and 1, 3, .., 15 to the high:
     * widened, sub-block p finds its two scales at int16 position p */
    const __m128i even_odd = _mm_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
    __m128i packed_scales = _mm_loadu_si128((const __m128i *)b->scales);
    __m256i scales = _mm256_cvtepi8_epi16(_mm_shuffle_epi8(packed_scales, even_odd));
    __m256i scales_in_order = _mm256_cvtepi8_epi16(packed_scales);
    float d = _cvtsh_ss(b->d);
    __m256i sumi[K_COLS];
#pragma GCC unroll 4
    for (int c = 0; c < cols; c++)
        sumi[c] = _mm256_setzero_si256();
#pragma GCC unroll 2
    for (int h = 0; h < 2; h++) {
        __m256i q[4];
        k6_levels(q, b->ql + 64 * h, b->qh + 32 * h);
#pragma GCC unroll 2
        for (int s = 0; s < 4; s += 2) {
            k_scales_t sc = k_pair_scales(scales, 4 * h + s);
#pragma GCC unroll 4
            for (int c = 0; c < cols; c++)
                sumi[c] = k_pair_dot(sumi[c], q[s], q[s + 1], sc, k_act(x, x_row_bytes, c, i)->qs + 128 * h + 32 * s);
        }
    }
#pragma GCC unroll 4
    for (int c = 0; c < cols; c++) {
        const ed_block_q8_K_t *a = k_act(x, x_row_bytes, c, i);
        /* the bias: 32 * sum_j sc_j * bsum_j */
        __m256i bias = _mm256_madd_epi16(scales_in_order, _mm256_loadu_si256((const __m256i *)a->bsums));
        __m256i sum = _mm256_sub_epi32(sumi[c], _mm256_slli_epi32(bias, 5));
        acc[c] = _mm256_fmadd_ps(_mm256_set1_ps(a->d * d), _mm256_cvtepi32_ps(sum), acc[c]);
    }
}

/* y[c * y_stride] = dot(weight row, activation row c) for c < cols (a
 * constant after inlining), super-block by super-block. */
static inline __attribute__((always_inline)) void k_row(int type, int n_blocks, const uint8_t *row,
                                                        const uint8_t *x, size_t x_row_bytes, int cols, float *y,
                                                        size_t y_stride)
{
    __m256 acc[K_COLS], acc_min[K_COLS];
#pragma GCC unroll 4
    for (int c = 0; c < cols; c++)
        acc[c] = acc_min[c] = _mm256_setzero_ps();
    for (int i = 0; i < n_blocks; i++) {
        if (type == ED_TYPE_Q6_K)
            k6_block(row, i, x, x_row_bytes, cols, acc);
        else
            k4_block(type == ED_TYPE_Q5_K, row, i, x, x_row_bytes, cols, acc, acc_min);
    }
#pragma GCC unroll 4
    for (int c = 0; c < cols; c++)
        y[(size_t)c * y_stride] = hsum_ps(type == ED_TYPE_Q6_K ? acc[c] : _mm256_sub_ps(acc[c], acc_min[c]));
}

#include "kernels/gemm_k_blocks.h"

#endif
