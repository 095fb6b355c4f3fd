/* x86/quantize.c - AVX2 quantizers of the activations every matrix product
 * starts with (q8_0, q8_0_x8 for the interleaved weights, q8_K and q8_K_x8
 * for the K-quants), bit for bit
 * what the scalar ones in quant.c and repack.c write: the same max-abs
 * scale, the same reciprocal, and roundf's ties away from zero. */
#include "kernels/dispatch.h"
#include "kernels/repack.h"

#include <immintrin.h>
#include <string.h>

/* roundf: the nearest integer, halfway cases away from zero. */
static inline __m256 round_half_away(__m256 x)
{
    __m256 t = _mm256_round_ps(x, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    const __m256 sign_bit = _mm256_set1_ps(-0.0f);
    __m256 frac = _mm256_andnot_ps(sign_bit, _mm256_sub_ps(x, t)); /* exact */
    __m256 away = _mm256_and_ps(_mm256_cmp_ps(frac, _mm256_set1_ps(0.5f), _CMP_GE_OQ),
                                _mm256_or_ps(_mm256_set1_ps(1.0f), _mm256_and_ps(x, sign_bit)));
    return _mm256_add_ps(t, away);
}

/* max |x[i]| over n (a multiple of 8) floats. */
static inline float max_abs(const float *x, int n)
{
    const __m256 sign_bit = _mm256_set1_ps(-0.0f);
    __m256 amax = _mm256_setzero_ps();
    for (int i = 0; i < n; i += 8)
        amax = _mm256_max_ps(amax, _mm256_andnot_ps(sign_bit, _mm256_loadu_ps(x + i)));
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(amax), _mm256_extractf128_ps(amax, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}

/* 32 quants roundf(x[i] * inverse), in element order. */
static inline void quantize_32(const float *x, float inverse, int8_t q[32])
{
    __m256 scale = _mm256_set1_ps(inverse);
    __m256i i32[4];
    for (int i = 0; i < 4; i++)
        i32[i] = _mm256_cvtps_epi32(round_half_away(_mm256_mul_ps(_mm256_loadu_ps(x + 8 * i), scale)));
    /* packs works within 128-bit lanes: the permute puts the bytes back in order */
    __m256i bytes = _mm256_packs_epi16(_mm256_packs_epi32(i32[0], i32[1]), _mm256_packs_epi32(i32[2], i32[3]));
    bytes = _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256((__m256i *)q, bytes);
}

/* n (a multiple of 32) quants with the max-abs scale the scalar code
 * computes (amax / 127, before any fp16 rounding), returned. */
static inline float quantize_max_abs(const float *x, int n, int8_t *q)
{
    float d = max_abs(x, n) / 127.0f, inverse = d != 0.0f ? 1.0f / d : 0.0f;
    for (int i = 0; i < n; i += 32)
        quantize_32(x + i, inverse, q + i);
    return d;
}

static void quantize_q8_0(const float *src, void *dst, int64_t n)
{
    ed_block_q8_0_t *b = dst;
    for (int64_t i = 0; i < n / ED_QK; i++)
        b[i].d = _cvtss_sh(quantize_max_abs(src + ED_QK * i, ED_QK, b[i].qs), _MM_FROUND_TO_NEAREST_INT);
}

static void quantize_q8_0_x8(const float *src, void *dst, int64_t n)
{
    int n_blocks = (int)(n / ED_QK);
    for (int g = 0; g < (n_blocks + ED_R8 - 1) / ED_R8; g++) {
        ed_group_q8_0_x8_t *out = (ed_group_q8_0_x8_t *)dst + g;
        memset(out, 0, sizeof *out);
        for (int j = 0; j < ED_R8 && ED_R8 * g + j < n_blocks; j++) {
            int8_t q[ED_QK];
            float d = quantize_max_abs(src + (int64_t)ED_QK * (ED_R8 * g + j), ED_QK, q);
            out->d[j] = _cvtsh_ss(_cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT));
            __m256i wide = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1),
                                                                  _mm256_loadu_si256((const __m256i *)q)),
                                             _mm256_set1_epi16(1));
            __m128i sum = _mm_add_epi32(_mm256_castsi256_si128(wide), _mm256_extracti128_si256(wide, 1));
            sum = _mm_hadd_epi32(sum, sum);
            out->sum[j] = _mm_cvtsi128_si32(_mm_hadd_epi32(sum, sum));
            for (int k = 0; k < ED_QK / 4; k++)
                memcpy(&out->qs[k][4 * j], q + 4 * k, 4);
        }
    }
}

/* The K-quants' activations: one f32 scale per 256, and the sum of every 16
 * quants (the min and bias terms of the dot products). */
static void quantize_q8_K(const float *src, void *dst, int64_t n)
{
    ed_block_q8_K_t *b = dst;
    for (int64_t i = 0; i < n / ED_QK_K; i++) {
        b[i].d = quantize_max_abs(src + ED_QK_K * i, ED_QK_K, b[i].qs);
        for (int j = 0; j < ED_QK_K / 16; j++) {
            int sum = 0;
            for (int l = 0; l < 16; l++)
                sum += b[i].qs[16 * j + l];
            b[i].bsums[j] = (int16_t)sum;
        }
    }
}

/* q8_K in q4_K_r8's order, with sums per 32. */
static void quantize_q8_K_x8(const float *src, void *dst, int64_t n)
{
    for (int64_t i = 0; i < n / ED_QK_K; i++) {
        ed_block_q8_K_x8_t *out = (ed_block_q8_K_x8_t *)dst + i;
        int8_t q[ED_QK_K];
        out->d = quantize_max_abs(src + ED_QK_K * i, ED_QK_K, q);
        for (int j = 0; j < ED_R8; j++) {
            int sum = 0;
            for (int e = 0; e < ED_QK; e++)
                sum += q[ED_QK * j + e];
            out->sum[j] = sum;
            for (int k = 0; k < ED_QK / 4; k++)
                memcpy(&out->qs[k][4 * j], q + ED_QK * j + 4 * k, 4);
        }
    }
}

void ed__quantize_table_avx2(ed_from_float_fn table[ED_TYPE_COUNT])
{
    table[ED_TYPE_Q8_0] = quantize_q8_0;
    table[ED_TYPE_Q8_0_X8] = quantize_q8_0_x8;
    table[ED_TYPE_Q8_K] = quantize_q8_K;
    table[ED_TYPE_Q8_K_X8] = quantize_q8_K_x8;
}
