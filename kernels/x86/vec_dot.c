/* vec_dot.c - AVX2+FMA+F16C dot products of every weight format against its
 * activation format; ref/vec_dot.c is their specification. 4-bit levels are
 * widened to bytes, multiplied by int8 activations with maddubs (unsigned x
 * signed pairs), summed to int32 with madd, and scaled in float. */
#include "kernels/quant.h"
#include "kernels/x86/gemm_k.h"

#include <immintrin.h>

static inline float fp16(uint16_t h)
{
    return _cvtsh_ss(h);
}

/* 32 bytes: the low nibbles of qs[0..15], then the high nibbles. */
static inline __m256i nibbles_32(const uint8_t *qs)
{
    __m128i packed = _mm_loadu_si128((const __m128i *)qs);
    __m256i both = _mm256_set_m128i(_mm_srli_epi16(packed, 4), packed);
    return _mm256_and_si256(both, _mm256_set1_epi8(0x0F));
}

/* 32 bytes, byte j = 0xFF where bit j of the little-endian u32 qh is set. */
static inline __m256i bits_to_bytes_32(const uint8_t qh[4])
{
    uint32_t bits;
    __builtin_memcpy(&bits, qh, sizeof bits);
    const __m256i spread = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202,
                                             0x0101010101010101, 0x0000000000000000);
    __m256i bytes = _mm256_shuffle_epi8(_mm256_set1_epi32((int)bits), spread);
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ULL);
    return _mm256_cmpeq_epi8(_mm256_and_si256(bytes, bit), bit);
}

/* Sum of u[i]*s[i] (u unsigned bytes, s signed bytes) as 8 int32 lanes. */
static inline __m256i dot_u8_s8(__m256i u, __m256i s)
{
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

/* The same for two signed operands: moves x's sign onto y. */
static inline __m256i dot_s8_s8(__m256i x, __m256i y)
{
    return dot_u8_s8(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
}

/* ------------------------------------------------------- float formats -- */

static void dot_f32(int n, float *out, const void *w_row, const void *act_row)
{
    const float *w = w_row, *a = act_row;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    __m256 acc2 = _mm256_setzero_ps(), acc3 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 32 <= n; i += 32) {
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), _mm256_loadu_ps(a + i), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 8), _mm256_loadu_ps(a + i + 8), acc1);
        acc2 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 16), _mm256_loadu_ps(a + i + 16), acc2);
        acc3 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 24), _mm256_loadu_ps(a + i + 24), acc3);
    }
    for (; i + 8 <= n; i += 8)
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), _mm256_loadu_ps(a + i), acc0);
    float sum = hsum_ps(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
    for (; i < n; i++)
        sum += w[i] * a[i];
    *out = sum;
}

static inline __m256 load_f16x8(const uint16_t *w)
{
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)w));
}

static void dot_f16(int n, float *out, const void *w_row, const void *act_row)
{
    const uint16_t *w = w_row;
    const float *a = act_row;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    __m256 acc2 = _mm256_setzero_ps(), acc3 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 32 <= n; i += 32) {
        acc0 = _mm256_fmadd_ps(load_f16x8(w + i), _mm256_loadu_ps(a + i), acc0);
        acc1 = _mm256_fmadd_ps(load_f16x8(w + i + 8), _mm256_loadu_ps(a + i + 8), acc1);
        acc2 = _mm256_fmadd_ps(load_f16x8(w + i + 16), _mm256_loadu_ps(a + i + 16), acc2);
        acc3 = _mm256_fmadd_ps(load_f16x8(w + i + 24), _mm256_loadu_ps(a + i + 24), acc3);
    }
    for (; i + 8 <= n; i += 8)
        acc0 = _mm256_fmadd_ps(load_f16x8(w + i), _mm256_loadu_ps(a + i), acc0);
    float sum = hsum_ps(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
    for (; i < n; i++)
        sum += fp16(w[i]) * a[i];
    *out = sum;
}

static inline __m256 load_bf16x8(const uint16_t *w)
{
    __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)w));
    return _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));
}

static void dot_bf16(int n, float *out, const void *w_row, const void *act_row)
{
    const uint16_t *w = w_row;
    const float *a = act_row;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        acc0 = _mm256_fmadd_ps(load_bf16x8(w + i), _mm256_loadu_ps(a + i), acc0);
        acc1 = _mm256_fmadd_ps(load_bf16x8(w + i + 8), _mm256_loadu_ps(a + i + 8), acc1);
    }
    for (; i + 8 <= n; i += 8)
        acc0 = _mm256_fmadd_ps(load_bf16x8(w + i), _mm256_loadu_ps(a + i), acc0);
    float sum = hsum_ps(_mm256_add_ps(acc0, acc1));
    for (; i < n; i++)
        sum += ed_bf16_to_fp32(w[i]) * a[i];
    *out = sum;
}

/* ------------------------------------------------------ legacy formats -- */

static void dot_q4_0(int n, float *out, const void *w_row, const void *act_row)
{
    const ed_block_q4_0_t *w = w_row;
    const ed_block_q8_0_t *a = act_row;
    int nb = n / ED_QK;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    const __m256i eight = _mm256_set1_epi8(8);
    int i = 0;
    for (; i + 2 <= nb; i += 2) {
        __m256i w0 = _mm256_sub_epi8(nibbles_32(w[i].qs), eight);
        __m256i w1 = _mm256_sub_epi8(nibbles_32(w[i + 1].qs), eight);
        __m256i p0 = dot_s8_s8(w0, _mm256_loadu_si256((const __m256i *)a[i].qs));
        __m256i p1 = dot_s8_s8(w1, _mm256_loadu_si256((const __m256i *)a[i + 1].qs));
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(fp16(w[i].d) * fp16(a[i].d)), _mm256_cvtepi32_ps(p0), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_set1_ps(fp16(w[i + 1].d) * fp16(a[i + 1].d)),
                               _mm256_cvtepi32_ps(p1), acc1);
    }
    for (; i < nb; i++) {
        __m256i w0 = _mm256_sub_epi8(nibbles_32(w[i].qs), eight);
        __m256i p0 = dot_s8_s8(w0, _mm256_loadu_si256((const __m256i *)a[i].qs));
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(fp16(w[i].d) * fp16(a[i].d)), _mm256_cvtepi32_ps(p0), acc0);
    }
    *out = hsum_ps(_mm256_add_ps(acc0, acc1));
}

static void dot_q4_1(int n, float *out, const void *w_row, const void *act_row)
{
    const ed_block_q4_1_t *w = w_row;
    const ed_block_q8_1_t *a = act_row;
    __m256 acc = _mm256_setzero_ps();
    float min_terms = 0.0f;
    for (int i = 0; i < n / ED_QK; i++) {
        __m256i p = dot_u8_s8(nibbles_32(w[i].qs), _mm256_loadu_si256((const __m256i *)a[i].qs));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(fp16(w[i].d) * fp16(a[i].d)), _mm256_cvtepi32_ps(p), acc);
        min_terms += fp16(w[i].m) * fp16(a[i].s);
    }
    *out = hsum_ps(acc) + min_terms;
}

static void dot_q5_0(int n, float *out, const void *w_row, const void *act_row)
{
    const ed_block_q5_0_t *w = w_row;
    const ed_block_q8_0_t *a = act_row;
    __m256 acc = _mm256_setzero_ps();
    for (int i = 0; i < n / ED_QK; i++) {
        /* (q | 16*bit) - 16 as bytes: OR 0xF0 (-16) into the elements whose bit is clear */
        __m256i high = _mm256_andnot_si256(bits_to_bytes_32(w[i].qh), _mm256_set1_epi8((char)0xF0));
        __m256i q = _mm256_or_si256(nibbles_32(w[i].qs), high);
        __m256i p = dot_s8_s8(q, _mm256_loadu_si256((const __m256i *)a[i].qs));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(fp16(w[i].d) * fp16(a[i].d)), _mm256_cvtepi32_ps(p), acc);
    }
    *out = hsum_ps(acc);
}

static void dot_q5_1(int n, float *out, const void *w_row, const void *act_row)
{
    const ed_block_q5_1_t *w = w_row;
    const ed_block_q8_1_t *a = act_row;
    __m256 acc = _mm256_setzero_ps();
    float min_terms = 0.0f;
    for (int i = 0; i < n / ED_QK; i++) {
        __m256i high = _mm256_and_si256(bits_to_bytes_32(w[i].qh), _mm256_set1_epi8(0x10));
        __m256i q = _mm256_or_si256(nibbles_32(w[i].qs), high);
        __m256i p = dot_u8_s8(q, _mm256_loadu_si256((const __m256i *)a[i].qs));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(fp16(w[i].d) * fp16(a[i].d)), _mm256_cvtepi32_ps(p), acc);
        min_terms += fp16(w[i].m) * fp16(a[i].s);
    }
    *out = hsum_ps(acc) + min_terms;
}

static void dot_q8_0(int n, float *out, const void *w_row, const void *act_row)
{
    const ed_block_q8_0_t *w = w_row;
    const ed_block_q8_0_t *a = act_row;
    int nb = n / ED_QK;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 2 <= nb; i += 2) {
        __m256i p0 = dot_s8_s8(_mm256_loadu_si256((const __m256i *)w[i].qs),
                               _mm256_loadu_si256((const __m256i *)a[i].qs));
        __m256i p1 = dot_s8_s8(_mm256_loadu_si256((const __m256i *)w[i + 1].qs),
                               _mm256_loadu_si256((const __m256i *)a[i + 1].qs));
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(fp16(w[i].d) * fp16(a[i].d)), _mm256_cvtepi32_ps(p0), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_set1_ps(fp16(w[i + 1].d) * fp16(a[i + 1].d)),
                               _mm256_cvtepi32_ps(p1), acc1);
    }
    for (; i < nb; i++) {
        __m256i p0 = dot_s8_s8(_mm256_loadu_si256((const __m256i *)w[i].qs),
                               _mm256_loadu_si256((const __m256i *)a[i].qs));
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(fp16(w[i].d) * fp16(a[i].d)), _mm256_cvtepi32_ps(p0), acc0);
    }
    *out = hsum_ps(_mm256_add_ps(acc0, acc1));
}

/* ------------------------------------------------------------ K-quants -- */

/* Scales two 16-element halves of a 16 x int16 product vector by sc_low and
 * sc_high and sums pairs to 8 x int32. */
static inline __m256i scale_halves(__m256i products, int sc_low, int sc_high)
{
    __m256i scales = _mm256_set_m128i(_mm_set1_epi16((short)sc_high), _mm_set1_epi16((short)sc_low));
    return _mm256_madd_epi16(products, scales);
}

/* sum_j mins[j] * bsums[j] over 16 int16 pairs. */
static inline int dot_i16x16(const int16_t *mins, const int16_t *bsums)
{
    __m256i p = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)mins),
                                  _mm256_loadu_si256((const __m256i *)bsums));
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(p), _mm256_extracti128_si256(p, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(s);
}

static void dot_q2_K(int n, float *out, const void *w_row, const void *act_row)
{
    const ed_block_q2_K_t *w = w_row;
    const ed_block_q8_K_t *a = act_row;
    const __m256i three = _mm256_set1_epi8(3);
    __m256 acc = _mm256_setzero_ps();
    float min_terms = 0.0f;
    for (int i = 0; i < n / ED_QK_K; i++) {
        int16_t mins[16];
        for (int j = 0; j < 16; j++)
            mins[j] = (int16_t)(w[i].scales[j] >> 4);
        float da = a[i].d;
        min_terms += da * fp16(w[i].dmin) * (float)dot_i16x16(mins, a[i].bsums);
        __m256i sumi = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            __m256i bits = _mm256_loadu_si256((const __m256i *)(w[i].qs + 32 * h));
            for (int s = 0; s < 4; s++) {
                __m256i q = _mm256_and_si256(_mm256_srli_epi16(bits, 2 * s), three);
                __m256i y = _mm256_loadu_si256((const __m256i *)(a[i].qs + 128 * h + 32 * s));
                const uint8_t *sc = w[i].scales + 8 * h + 2 * s;
                __m256i p = _mm256_maddubs_epi16(q, y);
                sumi = _mm256_add_epi32(sumi, scale_halves(p, sc[0] & 0xF, sc[1] & 0xF));
            }
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(da * fp16(w[i].d)), _mm256_cvtepi32_ps(sumi), acc);
    }
    *out = hsum_ps(acc) - min_terms;
}

static void dot_q3_K(int n, float *out, const void *w_row, const void *act_row)
{
    const ed_block_q3_K_t *w = w_row;
    const ed_block_q8_K_t *a = act_row;
    const __m256i three = _mm256_set1_epi8(3);
    const __m256i four = _mm256_set1_epi8(4);
    __m256 acc = _mm256_setzero_ps();
    for (int i = 0; i < n / ED_QK_K; i++) {
        int8_t scale[16];
        ed_q3_K_scales(w[i].scales, scale);
        __m256i hmask = _mm256_loadu_si256((const __m256i *)w[i].hmask);
        __m256i sumi = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            __m256i bits = _mm256_loadu_si256((const __m256i *)(w[i].qs + 32 * h));
            for (int s = 0; s < 4; s++) {
                int group = 4 * h + s;
                __m256i q = _mm256_and_si256(_mm256_srli_epi16(bits, 2 * s), three);
                /* 4 where the high bit is clear: subtracted as -4 * y */
                __m256i bit = _mm256_set1_epi8((char)(1 << group));
                __m256i clear = _mm256_andnot_si256(
                    _mm256_cmpeq_epi8(_mm256_and_si256(hmask, bit), bit), four);
                __m256i y = _mm256_loadu_si256((const __m256i *)(a[i].qs + 32 * group));
                __m256i p = _mm256_sub_epi16(_mm256_maddubs_epi16(q, y), _mm256_maddubs_epi16(clear, y));
                sumi = _mm256_add_epi32(sumi, scale_halves(p, scale[2 * group], scale[2 * group + 1]));
            }
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(a[i].d * fp16(w[i].d)), _mm256_cvtepi32_ps(sumi), acc);
    }
    *out = hsum_ps(acc);
}

void ed_vec_dot_table_avx2(ed_vec_dot_fn table[ED_TYPE_COUNT])
{
    table[ED_TYPE_F32] = dot_f32;
    table[ED_TYPE_F16] = dot_f16;
    table[ED_TYPE_BF16] = dot_bf16;
    table[ED_TYPE_Q4_0] = dot_q4_0;
    table[ED_TYPE_Q4_1] = dot_q4_1;
    table[ED_TYPE_Q5_0] = dot_q5_0;
    table[ED_TYPE_Q5_1] = dot_q5_1;
    table[ED_TYPE_Q8_0] = dot_q8_0;
    table[ED_TYPE_Q2_K] = dot_q2_K;
    table[ED_TYPE_Q3_K] = dot_q3_K;
    table[ED_TYPE_Q4_K] = k_dot_q4_K; /* gemm_k_blocks.h */
    table[ED_TYPE_Q5_K] = k_dot_q5_K;
    table[ED_TYPE_Q6_K] = k_dot_q6_K;
}
