/* vec_dot_avx512.c - the AVX-512 VNNI dot-product table, layered on the AVX2
 * table (dispatch fills AVX2 first): it overrides only the types whose VNNI
 * version measured faster, the K-quants q4_K, q5_K and q6_K. vpdpbusd sums a
 * sub-block's byte products; two sub-blocks' sums, packed to int16, meet
 * their scales in one vpdpwssd. Vectors are 256-bit: Zen 4 runs 512-bit ones
 * at half rate, and a 512-bit q4_K measured slower. */
#include "kernels/quant.h"
#include "kernels/x86/vec_dot_k.h"

#include <immintrin.h>

/* vpternlogd immediates: the wanted function of operands a, b, c applied to
 * these three bytes; TERN_MUX is c ? a : b, bit by bit. */
enum { TERN_A = 0xF0, TERN_B = 0xCC, TERN_C = 0xAA };
enum {
    TERN_A_OR_B_AND_C = TERN_A | (TERN_B & TERN_C),
    TERN_MUX = (TERN_C & TERN_A) | (~TERN_C & TERN_B & 0xFF),
};

/* Int16 scales p (x4) and p+1 (x4) in each 128-bit lane, from 8 int16 scales
 * in each lane: the layout packs_epi32 gives the sums of two sub-blocks. */
static inline __m256i pair_scales(__m256i scales, int p)
{
    long long first = 0x0100010001000100LL + 0x0202020202020202LL * p;
    long long second = first + 0x0202020202020202LL;
    return _mm256_shuffle_epi8(scales, _mm256_set_epi64x(second, first, second, first));
}

/* acc plus two sub-blocks' 8-lane sums (each lane a sum of 4 products of a
 * level 0..63 and an activation) times their scales (pair_scales): packed to
 * int16, exact as a lane's magnitude is at most 4 * 63 * 128 < 2^15. */
static inline __m256i scale_pair(__m256i acc, __m256i first, __m256i second, __m256i scales)
{
    return _mm256_dpwssd_epi32(acc, _mm256_packs_epi32(first, second), scales);
}

/* The shared body of q4_K and q5_K, as in x86/vec_dot.c: sub-block pair g's
 * levels are the nibbles of qs[32g..32g+31] plus, for q5_K, 16 * the qh bits
 * 2g and 2g+1. Returns the scaled level sums; lane j of *min_sums gets min_j
 * times the activation sum of sub-block j. */
static inline __m256i dot_k4(const uint8_t *qs, const uint8_t *qh, const uint8_t packed_scales[12],
                             const ed_block_q8_K_t *a, __m256i *min_sums)
{
    __m128i scales_mins = k4_scales_mins(packed_scales);
    const __m128i mins_doubled = _mm_setr_epi8(8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15);
    *min_sums = _mm256_madd_epi16(_mm256_cvtepu8_epi16(_mm_shuffle_epi8(scales_mins, mins_doubled)),
                                  _mm256_loadu_si256((const __m256i *)a->bsums));
    __m256i scales = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(scales_mins)); /* int16, both lanes */
    const __m256i low_mask = _mm256_set1_epi8(0x0F);
    const __m256i fifth = _mm256_set1_epi8(0x10);
    __m256i high_bits = qh ? _mm256_loadu_si256((const __m256i *)qh) : _mm256_setzero_si256();
    __m256i sumi = _mm256_setzero_si256();
#pragma GCC unroll 4
    for (int g = 0; g < 4; g++) {
        __m256i bits = _mm256_loadu_si256((const __m256i *)(qs + 32 * g));
        __m256i q_low = _mm256_and_si256(bits, low_mask);
        __m256i q_high = _mm256_and_si256(_mm256_srli_epi16(bits, 4), low_mask);
        if (qh) {
            /* bits 2g and 2g+1 to bit 4; the rest of each shifted byte masked off */
            __m256i moved_low = 2 * g <= 4 ? _mm256_slli_epi16(high_bits, 4 - 2 * g)
                                           : _mm256_srli_epi16(high_bits, 2 * g - 4);
            __m256i moved_high = 2 * g + 1 <= 4 ? _mm256_slli_epi16(high_bits, 3 - 2 * g)
                                                : _mm256_srli_epi16(high_bits, 2 * g - 3);
            q_low = _mm256_ternarylogic_epi32(q_low, moved_low, fifth, TERN_A_OR_B_AND_C);
            q_high = _mm256_ternarylogic_epi32(q_high, moved_high, fifth, TERN_A_OR_B_AND_C);
        }
        __m256i y_low = _mm256_loadu_si256((const __m256i *)(a->qs + 64 * g));
        __m256i y_high = _mm256_loadu_si256((const __m256i *)(a->qs + 64 * g + 32));
        __m256i dot_low = _mm256_dpbusd_epi32(_mm256_setzero_si256(), q_low, y_low);
        __m256i dot_high = _mm256_dpbusd_epi32(_mm256_setzero_si256(), q_high, y_high);
        sumi = scale_pair(sumi, dot_low, dot_high, pair_scales(scales, 2 * g));
    }
    return sumi;
}

static void dot_q4_K(int n, float *out, const void *w_row, const void *act_row)
{
    *out = k4_dot(n, w_row, act_row, false, dot_k4);
}

static void dot_q5_K(int n, float *out, const void *w_row, const void *act_row)
{
    *out = k4_dot(n, w_row, act_row, true, dot_k4);
}

static void dot_q6_K(int n, float *out, const void *w_row, const void *act_row)
{
    const ed_block_q6_K_t *w = w_row;
    const ed_block_q8_K_t *a = act_row;
    const __m256i low_mask = _mm256_set1_epi8(0x0F);
    const __m256i two_bits = _mm256_set1_epi8(0x33); /* the qh bits of two sub-blocks 2 apart */
    /* scales 0, 2, .., 14 to the low 8 bytes and 1, 3, .., 15 to the high:
     * widened, a 32-element sub-block finds its two scales at the same int16
     * position of the two lanes that hold its two 16-element halves */
    const __m128i even_odd = _mm_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
    __m256 acc = _mm256_setzero_ps();
    for (int i = 0; i < n / ED_QK_K; i++) {
        __m128i packed_scales = _mm_loadu_si128((const __m128i *)w[i].scales);
        __m256i scales = _mm256_cvtepi8_epi16(_mm_shuffle_epi8(packed_scales, even_odd));
        /* the levels' -32 bias, through the activation sums: 32 * sum_j sc_j * bsum_j */
        __m256i bias = _mm256_madd_epi16(_mm256_cvtepi8_epi16(packed_scales),
                                         _mm256_loadu_si256((const __m256i *)a[i].bsums));
        __m256i sumi = _mm256_setzero_si256();
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            __m256i low01 = _mm256_loadu_si256((const __m256i *)(w[i].ql + 64 * h));
            __m256i low23 = _mm256_loadu_si256((const __m256i *)(w[i].ql + 64 * h + 32));
            __m256i high = _mm256_loadu_si256((const __m256i *)(w[i].qh + 32 * h));
            /* bits 0-1 and 4-5 (sub-blocks 0 and 2), then 2-3 and 6-7 (1 and 3), of each byte */
            __m256i high02 = _mm256_and_si256(high, two_bits);
            __m256i high13 = _mm256_and_si256(_mm256_srli_epi16(high, 2), two_bits);
            /* a level is its nibble in bits 0-3 and its two high bits in 4-5:
             * the nibble where low_mask is set, the high bits elsewhere */
            __m256i q[4] = {
                _mm256_ternarylogic_epi32(low01, _mm256_slli_epi16(high02, 4), low_mask, TERN_MUX),
                _mm256_ternarylogic_epi32(low23, _mm256_slli_epi16(high13, 4), low_mask, TERN_MUX),
                _mm256_ternarylogic_epi32(_mm256_srli_epi16(low01, 4), high02, low_mask, TERN_MUX),
                _mm256_ternarylogic_epi32(_mm256_srli_epi16(low23, 4), high13, low_mask, TERN_MUX),
            };
            __m256i dots[4];
#pragma GCC unroll 4
            for (int s = 0; s < 4; s++) {
                __m256i y = _mm256_loadu_si256((const __m256i *)(a[i].qs + 128 * h + 32 * s));
                dots[s] = _mm256_dpbusd_epi32(_mm256_setzero_si256(), q[s], y);
            }
            /* sub-block s of half h finds its scales at int16 position 4h+s */
            sumi = scale_pair(sumi, dots[0], dots[1], pair_scales(scales, 4 * h));
            sumi = scale_pair(sumi, dots[2], dots[3], pair_scales(scales, 4 * h + 2));
        }
        sumi = _mm256_sub_epi32(sumi, _mm256_slli_epi32(bias, 5));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(a[i].d * _cvtsh_ss(w[i].d)), _mm256_cvtepi32_ps(sumi), acc);
    }
    *out = hsum_ps(acc);
}

void ed_vec_dot_table_avx512(ed_vec_dot_fn table[ED_TYPE_COUNT])
{
    table[ED_TYPE_Q4_K] = dot_q4_K;
    table[ED_TYPE_Q5_K] = dot_q5_K;
    table[ED_TYPE_Q6_K] = dot_q6_K;
}
