/* quant.c - scalar conversions of the GGUF formats: fp16/bf16, dequantization
 * (bit-exact with the ecosystem's reference: integer scales times float
 * deltas, in the same order of operations) and quantization from f32 (a
 * least-squares search over scales and mins). The dot products are in
 * ref/vec_dot.c and the arch folders. */
#include "kernels/quant.h"
#include "kernels/repack.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>

/* ------------------------------------------------------------ fp16, bf16 -- */

static uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float f32_from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

float ed_fp16_to_fp32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exponent = (h >> 10) & 0x1F;
    uint32_t mantissa = h & 0x3FF;
    if (exponent == 0x1F)
        return f32_from_bits(sign | 0x7F800000 | (mantissa << 13));
    if (exponent == 0) {
        float magnitude = (float)mantissa * 0x1p-24f; /* zero or subnormal: exact */
        return sign ? -magnitude : magnitude;
    }
    return f32_from_bits(sign | ((exponent + 112) << 23) | (mantissa << 13));
}

/* Shifts m right by `shift` bits, rounding to nearest, ties to even. */
static uint32_t shift_round_even(uint32_t m, int shift)
{
    uint32_t kept = m >> shift;
    uint32_t rest = m & ((1u << shift) - 1);
    uint32_t half = 1u << (shift - 1);
    if (rest > half || (rest == half && (kept & 1)))
        kept++;
    return kept;
}

uint16_t ed_fp32_to_fp16(float f)
{
    uint32_t x = f32_bits(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    x &= 0x7FFFFFFF;
    if (x > 0x7F800000) /* NaN: keep the top payload bits, force quiet */
        return (uint16_t)(sign | 0x7E00 | ((x >> 13) & 0x3FF));
    if (x >= 0x477FF000) /* rounds to 65536 or more: inf */
        return (uint16_t)(sign | 0x7C00);
    if (x >= 0x38800000) /* normal half: rebias the exponent; a carry may bump it */
        return (uint16_t)(sign | shift_round_even(x - (112u << 23), 13));
    int exponent = (int)(x >> 23);
    if (exponent < 102) /* below half the smallest subnormal, 2^-25 */
        return sign;
    /* subnormal half: the value in units of 2^-24 is m * 2^(exponent - 126) */
    uint32_t mantissa = (x & 0x7FFFFF) | 0x800000;
    return (uint16_t)(sign | shift_round_even(mantissa, 126 - exponent));
}

float ed_bf16_to_fp32(uint16_t h)
{
    return f32_from_bits((uint32_t)h << 16);
}

uint16_t ed_fp32_to_bf16(float f)
{
    uint32_t x = f32_bits(f);
    if ((x & 0x7FFFFFFF) > 0x7F800000)
        return (uint16_t)((x >> 16) | 0x40); /* NaN stays a quiet NaN */
    return (uint16_t)((x + 0x7FFF + ((x >> 16) & 1)) >> 16);
}

/* --------------------------------------------------------- scale fitting -- */

static int clamp_int(int v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

static int nearest(float v)
{
    return (int)lrintf(v);
}

/* Assigns q[i] = the level in [lo, hi] nearest x[i] / scale. */
static void assign_symmetric(int n, const float *x, float scale, int lo, int hi, int8_t *q)
{
    float inverse = scale != 0.0f ? 1.0f / scale : 0.0f;
    for (int i = 0; i < n; i++)
        q[i] = (int8_t)clamp_int(nearest(x[i] * inverse), lo, hi);
}

/* Fits x[i] ~ scale * q[i] with integer q[i] in [lo, hi] (lo < 0 < hi),
 * minimising the squared error: tries grids that put the largest-magnitude
 * element at or near either end of the range, refits the scale to each grid
 * by least squares, keeps the best, then alternates assignment and refit.
 * n <= ED_QK. Returns the scale (0 for an all-zero x); q gets the levels. */
static float fit_symmetric(int n, const float *x, int lo, int hi, int8_t *q)
{
    float amax = 0.0f, max = 0.0f;
    for (int i = 0; i < n; i++)
        if (fabsf(x[i]) > amax) {
            amax = fabsf(x[i]);
            max = x[i];
        }
    if (amax == 0.0f) {
        memset(q, 0, (size_t)n);
        return 0.0f;
    }
    int8_t trial[ED_QK];
    double best_score = -1.0;
    float scale = 0.0f;
    for (int end = 0; end < 2; end++) {
        float target = end ? (float)hi : (float)lo;
        for (int step = -9; step <= 9; step++) {
            float iscale = (target + copysignf(0.1f, target) * (float)step) / max;
            double sum_xq = 0.0, sum_qq = 0.0;
            for (int i = 0; i < n; i++) {
                int l = clamp_int(nearest(iscale * x[i]), lo, hi);
                trial[i] = (int8_t)l;
                sum_xq += (double)x[i] * l;
                sum_qq += (double)l * l;
            }
            if (sum_qq > 0.0 && sum_xq * sum_xq / sum_qq > best_score) {
                best_score = sum_xq * sum_xq / sum_qq;
                scale = (float)(sum_xq / sum_qq);
                memcpy(q, trial, (size_t)n);
            }
        }
    }
    for (int round = 0; round < 3; round++) {
        assign_symmetric(n, x, scale, lo, hi, q);
        double sum_xq = 0.0, sum_qq = 0.0;
        for (int i = 0; i < n; i++) {
            sum_xq += (double)x[i] * q[i];
            sum_qq += (double)q[i] * q[i];
        }
        if (sum_qq == 0.0)
            break;
        scale = (float)(sum_xq / sum_qq);
    }
    return scale;
}

/* Squared error of x[i] ~ scale * q[i] + offset. */
static double affine_error(int n, const float *x, const uint8_t *q, float scale, float offset)
{
    double error = 0.0;
    for (int i = 0; i < n; i++) {
        double diff = (double)scale * q[i] + offset - x[i];
        error += diff * diff;
    }
    return error;
}

/* Least-squares (scale, offset) for fixed levels q; with offset_nonpositive
 * the offset is held at or below 0 (the K-quants store -offset unsigned).
 * Returns false when the levels are all equal (no unique fit). */
static bool refit_affine(int n, const float *x, const uint8_t *q, bool offset_nonpositive,
                         float *scale, float *offset)
{
    double sum_q = 0, sum_qq = 0, sum_x = 0, sum_xq = 0;
    for (int i = 0; i < n; i++) {
        sum_q += q[i];
        sum_qq += (double)q[i] * q[i];
        sum_x += x[i];
        sum_xq += (double)x[i] * q[i];
    }
    double det = n * sum_qq - sum_q * sum_q;
    if (det <= 0.0)
        return false;
    double s = (n * sum_xq - sum_x * sum_q) / det;
    double o = (sum_qq * sum_x - sum_q * sum_xq) / det;
    if (offset_nonpositive && o > 0.0) {
        o = 0.0;
        s = sum_xq / sum_qq;
    }
    if (s <= 0.0)
        return false;
    *scale = (float)s;
    *offset = (float)o;
    return true;
}

/* Assigns q[i] = the level in [0, nmax] nearest (x[i] - offset) / scale. */
static void assign_affine(int n, const float *x, float scale, float offset, int nmax, uint8_t *q)
{
    float inverse = scale > 0.0f ? 1.0f / scale : 0.0f;
    for (int i = 0; i < n; i++)
        q[i] = (uint8_t)clamp_int(nearest((x[i] - offset) * inverse), 0, nmax);
}

/* Fits x[i] ~ scale * q[i] + offset with integer q[i] in [0, nmax]: grids
 * spanning [min, max] with 2 levels fewer up to 0.9 more are each refit by
 * least squares; the best is polished by alternating assignment and refit.
 * n <= ED_QK. Returns the scale (>= 0) and sets *offset. */
static float fit_affine(int n, const float *x, int nmax, bool offset_nonpositive, float *offset,
                        uint8_t *q)
{
    float min = x[0], max = x[0];
    for (int i = 1; i < n; i++) {
        min = fminf(min, x[i]);
        max = fmaxf(max, x[i]);
    }
    if (offset_nonpositive && min > 0.0f)
        min = 0.0f;
    if (max == min) {
        memset(q, 0, (size_t)n);
        *offset = min;
        return 0.0f;
    }
    float scale = (max - min) / (float)nmax;
    float best_offset = min;
    assign_affine(n, x, scale, min, nmax, q);
    double best = affine_error(n, x, q, scale, min);
    uint8_t trial[ED_QK];
    for (int step = 0; step <= 20; step++) {
        float iscale = ((float)nmax - 1.0f + 0.1f * (float)step) / (max - min);
        for (int i = 0; i < n; i++)
            trial[i] = (uint8_t)clamp_int(nearest(iscale * (x[i] - min)), 0, nmax);
        float s, o;
        if (!refit_affine(n, x, trial, offset_nonpositive, &s, &o))
            continue;
        double error = affine_error(n, x, trial, s, o);
        if (error < best) {
            best = error;
            scale = s;
            best_offset = o;
            memcpy(q, trial, (size_t)n);
        }
    }
    for (int round = 0; round < 3; round++) {
        assign_affine(n, x, scale, best_offset, nmax, trial);
        float s, o;
        if (!refit_affine(n, x, trial, offset_nonpositive, &s, &o))
            break;
        double error = affine_error(n, x, trial, s, o);
        if (!(error < best))
            break;
        best = error;
        scale = s;
        best_offset = o;
        memcpy(q, trial, (size_t)n);
    }
    *offset = best_offset;
    return scale;
}

/* ------------------------------------------------------- float formats -- */

static void f32_to_float(const void *src, float *dst, int64_t n)
{
    memcpy(dst, src, (size_t)n * sizeof(float));
}

static void f32_from_float(const float *src, void *dst, int64_t n)
{
    memcpy(dst, src, (size_t)n * sizeof(float));
}

static void f16_to_float(const void *src, float *dst, int64_t n)
{
    const uint16_t *h = src;
    for (int64_t i = 0; i < n; i++)
        dst[i] = ed_fp16_to_fp32(h[i]);
}

static void f16_from_float(const float *src, void *dst, int64_t n)
{
    uint16_t *h = dst;
    for (int64_t i = 0; i < n; i++)
        h[i] = ed_fp32_to_fp16(src[i]);
}

static void bf16_to_float(const void *src, float *dst, int64_t n)
{
    const uint16_t *h = src;
    for (int64_t i = 0; i < n; i++)
        dst[i] = ed_bf16_to_fp32(h[i]);
}

static void bf16_from_float(const float *src, void *dst, int64_t n)
{
    uint16_t *h = dst;
    for (int64_t i = 0; i < n; i++)
        h[i] = ed_fp32_to_bf16(src[i]);
}

/* ------------------------------------------------------ legacy formats -- */

/* Packs 32 4-bit levels: element j in the low nibble of qs[j], j+16 high. */
static void pack_nibbles(const uint8_t level[ED_QK], uint8_t qs[ED_QK / 2])
{
    for (int j = 0; j < ED_QK / 2; j++)
        qs[j] = (uint8_t)((level[j] & 0xF) | ((level[j + ED_QK / 2] & 0xF) << 4));
}

/* Packs the 5th bits of 32 5-bit levels into the little-endian u32 qh. */
static void pack_fifth_bits(const uint8_t level[ED_QK], uint8_t qh[4])
{
    uint32_t bits = 0;
    for (int j = 0; j < ED_QK; j++)
        bits |= (uint32_t)((level[j] >> 4) & 1) << j;
    for (int k = 0; k < 4; k++)
        qh[k] = (uint8_t)(bits >> (8 * k));
}

static uint32_t fifth_bits(const uint8_t qh[4])
{
    return (uint32_t)qh[0] | (uint32_t)qh[1] << 8 | (uint32_t)qh[2] << 16 | (uint32_t)qh[3] << 24;
}

/* Level of element j (0..31) of a 4-bit block. */
static int nibble(const uint8_t qs[ED_QK / 2], int j)
{
    return j < ED_QK / 2 ? qs[j] & 0xF : qs[j - ED_QK / 2] >> 4;
}

/* Symmetric fit of one 32-element block to levels [lo, hi] with the scale
 * rounded to fp16; level[] gets q - lo. Returns the fp16 scale. */
static uint16_t quantize_symmetric_block(const float *x, int lo, int hi, uint8_t level[ED_QK])
{
    int8_t q[ED_QK];
    uint16_t d = ed_fp32_to_fp16(fit_symmetric(ED_QK, x, lo, hi, q));
    assign_symmetric(ED_QK, x, ed_fp16_to_fp32(d), lo, hi, q);
    for (int j = 0; j < ED_QK; j++)
        level[j] = (uint8_t)(q[j] - lo);
    return d;
}

/* Affine fit of one 32-element block to levels [0, nmax] with scale and min
 * rounded to fp16. */
static void quantize_affine_block(const float *x, int nmax, uint16_t *d, uint16_t *m,
                                  uint8_t level[ED_QK])
{
    float offset;
    float scale = fit_affine(ED_QK, x, nmax, false, &offset, level);
    *d = ed_fp32_to_fp16(scale);
    *m = ed_fp32_to_fp16(offset);
    float d32 = ed_fp16_to_fp32(*d);
    if (d32 > 0.0f)
        assign_affine(ED_QK, x, d32, ed_fp16_to_fp32(*m), nmax, level);
    else
        memset(level, 0, ED_QK);
}

static void q4_0_to_float(const void *src, float *dst, int64_t n)
{
    const ed_block_q4_0_t *b = src;
    for (int64_t i = 0; i < n / ED_QK; i++, dst += ED_QK) {
        float d = ed_fp16_to_fp32(b[i].d);
        for (int j = 0; j < ED_QK; j++)
            dst[j] = (float)(nibble(b[i].qs, j) - 8) * d;
    }
}

static void q4_0_from_float(const float *src, void *dst, int64_t n)
{
    ed_block_q4_0_t *b = dst;
    uint8_t level[ED_QK];
    for (int64_t i = 0; i < n / ED_QK; i++, src += ED_QK) {
        b[i].d = quantize_symmetric_block(src, -8, 7, level);
        pack_nibbles(level, b[i].qs);
    }
}

static void q4_1_to_float(const void *src, float *dst, int64_t n)
{
    const ed_block_q4_1_t *b = src;
    for (int64_t i = 0; i < n / ED_QK; i++, dst += ED_QK) {
        float d = ed_fp16_to_fp32(b[i].d), m = ed_fp16_to_fp32(b[i].m);
        for (int j = 0; j < ED_QK; j++)
            dst[j] = (float)nibble(b[i].qs, j) * d + m;
    }
}

static void q4_1_from_float(const float *src, void *dst, int64_t n)
{
    ed_block_q4_1_t *b = dst;
    uint8_t level[ED_QK];
    for (int64_t i = 0; i < n / ED_QK; i++, src += ED_QK) {
        quantize_affine_block(src, 15, &b[i].d, &b[i].m, level);
        pack_nibbles(level, b[i].qs);
    }
}

static void q5_0_to_float(const void *src, float *dst, int64_t n)
{
    const ed_block_q5_0_t *b = src;
    for (int64_t i = 0; i < n / ED_QK; i++, dst += ED_QK) {
        float d = ed_fp16_to_fp32(b[i].d);
        uint32_t qh = fifth_bits(b[i].qh);
        for (int j = 0; j < ED_QK; j++)
            dst[j] = (float)((nibble(b[i].qs, j) | (int)((qh >> j) & 1) << 4) - 16) * d;
    }
}

static void q5_0_from_float(const float *src, void *dst, int64_t n)
{
    ed_block_q5_0_t *b = dst;
    uint8_t level[ED_QK];
    for (int64_t i = 0; i < n / ED_QK; i++, src += ED_QK) {
        b[i].d = quantize_symmetric_block(src, -16, 15, level);
        pack_nibbles(level, b[i].qs);
        pack_fifth_bits(level, b[i].qh);
    }
}

static void q5_1_to_float(const void *src, float *dst, int64_t n)
{
    const ed_block_q5_1_t *b = src;
    for (int64_t i = 0; i < n / ED_QK; i++, dst += ED_QK) {
        float d = ed_fp16_to_fp32(b[i].d), m = ed_fp16_to_fp32(b[i].m);
        uint32_t qh = fifth_bits(b[i].qh);
        for (int j = 0; j < ED_QK; j++)
            dst[j] = (float)(nibble(b[i].qs, j) | (int)((qh >> j) & 1) << 4) * d + m;
    }
}

static void q5_1_from_float(const float *src, void *dst, int64_t n)
{
    ed_block_q5_1_t *b = dst;
    uint8_t level[ED_QK];
    for (int64_t i = 0; i < n / ED_QK; i++, src += ED_QK) {
        quantize_affine_block(src, 31, &b[i].d, &b[i].m, level);
        pack_nibbles(level, b[i].qs);
        pack_fifth_bits(level, b[i].qh);
    }
}

static void q8_0_to_float(const void *src, float *dst, int64_t n)
{
    const ed_block_q8_0_t *b = src;
    for (int64_t i = 0; i < n / ED_QK; i++, dst += ED_QK) {
        float d = ed_fp16_to_fp32(b[i].d);
        for (int j = 0; j < ED_QK; j++)
            dst[j] = (float)b[i].qs[j] * d;
    }
}

/* Max-abs quantization to [-127, 127] (what activations get: fast, and the
 * SIMD dot products rely on -128 never occurring). Returns the scale. */
static float quantize_max_abs(int n, const float *x, int8_t *q)
{
    float amax = 0.0f;
    for (int j = 0; j < n; j++)
        amax = fmaxf(amax, fabsf(x[j]));
    float d = amax / 127.0f;
    float inverse = d != 0.0f ? 1.0f / d : 0.0f;
    for (int j = 0; j < n; j++)
        q[j] = (int8_t)roundf(x[j] * inverse);
    return d;
}

static void q8_0_from_float(const float *src, void *dst, int64_t n)
{
    ed_block_q8_0_t *b = dst;
    for (int64_t i = 0; i < n / ED_QK; i++, src += ED_QK)
        b[i].d = ed_fp32_to_fp16(quantize_max_abs(ED_QK, src, b[i].qs));
}

static void q8_1_to_float(const void *src, float *dst, int64_t n)
{
    const ed_block_q8_1_t *b = src;
    for (int64_t i = 0; i < n / ED_QK; i++, dst += ED_QK) {
        float d = ed_fp16_to_fp32(b[i].d);
        for (int j = 0; j < ED_QK; j++)
            dst[j] = (float)b[i].qs[j] * d;
    }
}

static void q8_1_from_float(const float *src, void *dst, int64_t n)
{
    ed_block_q8_1_t *b = dst;
    for (int64_t i = 0; i < n / ED_QK; i++, src += ED_QK) {
        float d = quantize_max_abs(ED_QK, src, b[i].qs);
        int sum = 0;
        for (int j = 0; j < ED_QK; j++)
            sum += b[i].qs[j];
        b[i].d = ed_fp32_to_fp16(d);
        b[i].s = ed_fp32_to_fp16((float)sum * d);
    }
}

/* ------------------------------------------------------------ K-quants -- */

/* Packs 256 2-bit levels as q2_K/q3_K store them: element 128h + 32s + l in
 * bits 2s of qs[32h + l]. */
static void pack_2bit(const uint8_t level[ED_QK_K], uint8_t qs[ED_QK_K / 4])
{
    memset(qs, 0, ED_QK_K / 4);
    for (int i = 0; i < ED_QK_K; i++)
        qs[32 * (i / 128) + i % 32] |= (uint8_t)((level[i] & 3) << (2 * ((i % 128) / 32)));
}

static int level_2bit(const uint8_t qs[ED_QK_K / 4], int i)
{
    return (qs[32 * (i / 128) + i % 32] >> (2 * ((i % 128) / 32))) & 3;
}

/* Packs 256 levels' low nibbles as q4_K/q5_K store them: element 64g + 32h + l
 * in nibble h of qs[32g + l]. */
static void pack_4bit_k(const uint8_t level[ED_QK_K], uint8_t qs[ED_QK_K / 2])
{
    memset(qs, 0, ED_QK_K / 2);
    for (int i = 0; i < ED_QK_K; i++)
        qs[32 * (i / 64) + i % 32] |= (uint8_t)((level[i] & 0xF) << (4 * ((i % 64) / 32)));
}

static void pack_k4_scales(const uint8_t scale[8], const uint8_t min[8], uint8_t packed[12])
{
    for (int j = 0; j < 4; j++) {
        packed[j] = (uint8_t)(scale[j] | (scale[j + 4] >> 4) << 6);
        packed[j + 4] = (uint8_t)(min[j] | (min[j + 4] >> 4) << 6);
        packed[j + 8] = (uint8_t)((scale[j + 4] & 0xF) | (min[j + 4] & 0xF) << 4);
    }
}

/* The common shape of q2_K, q4_K and q5_K: `n_sub` sub-blocks of
 * 256 / n_sub elements, levels [0, nmax], each sub-block with an unsigned
 * scale and min of `scale_bits` bits times the fp16 d and dmin. Fills the
 * levels, integer scales and mins, and d/dmin. */
static void quantize_k_affine(const float *x, int n_sub, int nmax, int scale_bits,
                              uint8_t level[ED_QK_K], uint8_t scale_q[16], uint8_t min_q[16],
                              uint16_t *d, uint16_t *dmin)
{
    int sub_len = ED_QK_K / n_sub;
    int scale_max = (1 << scale_bits) - 1;
    float scale[16], min[16], max_scale = 0.0f, max_min = 0.0f;
    for (int j = 0; j < n_sub; j++) {
        float offset;
        scale[j] = fit_affine(sub_len, x + j * sub_len, nmax, true, &offset, level + j * sub_len);
        min[j] = -offset;
        max_scale = fmaxf(max_scale, scale[j]);
        max_min = fmaxf(max_min, min[j]);
    }
    *d = ed_fp32_to_fp16(max_scale / (float)scale_max);
    *dmin = ed_fp32_to_fp16(max_min / (float)scale_max);
    float d32 = ed_fp16_to_fp32(*d), dmin32 = ed_fp16_to_fp32(*dmin);
    for (int j = 0; j < n_sub; j++) {
        scale_q[j] = d32 > 0.0f ? (uint8_t)clamp_int(nearest(scale[j] / d32), 0, scale_max) : 0;
        min_q[j] = dmin32 > 0.0f ? (uint8_t)clamp_int(nearest(min[j] / dmin32), 0, scale_max) : 0;
        float sub_scale = d32 * (float)scale_q[j];
        if (sub_scale > 0.0f)
            assign_affine(sub_len, x + j * sub_len, sub_scale, -dmin32 * (float)min_q[j], nmax,
                          level + j * sub_len);
        else
            memset(level + j * sub_len, 0, (size_t)sub_len);
    }
}

/* The common shape of q3_K and q6_K: 16 sub-blocks of 16 with symmetric
 * levels [lo, hi] and signed integer scales in [scale_lo, scale_hi] times the
 * fp16 d. Fills the levels (as q - lo) and scales; returns d. */
static uint16_t quantize_k_symmetric(const float *x, int lo, int hi, int scale_lo, int scale_hi,
                                     uint8_t level[ED_QK_K], int8_t scale_q[16])
{
    float scale[16];
    int8_t q[16];
    for (int j = 0; j < 16; j++)
        scale[j] = fit_symmetric(16, x + 16 * j, lo, hi, q);
    uint16_t d = ed_fp32_to_fp16(fit_symmetric(16, scale, scale_lo, scale_hi, scale_q));
    float d32 = ed_fp16_to_fp32(d);
    for (int j = 0; j < 16; j++) {
        float sub_scale = d32 * (float)scale_q[j];
        if (sub_scale != 0.0f)
            assign_symmetric(16, x + 16 * j, sub_scale, lo, hi, q);
        else
            memset(q, 0, sizeof q);
        for (int l = 0; l < 16; l++)
            level[16 * j + l] = (uint8_t)(q[l] - lo);
    }
    return d;
}

static void q2_K_to_float(const void *src, float *dst, int64_t n)
{
    const ed_block_q2_K_t *b = src;
    for (int64_t i = 0; i < n / ED_QK_K; i++, dst += ED_QK_K) {
        float d = ed_fp16_to_fp32(b[i].d), dmin = ed_fp16_to_fp32(b[i].dmin);
        for (int j = 0; j < 16; j++) {
            float sub_scale = d * (float)(b[i].scales[j] & 0xF);
            float sub_min = dmin * (float)(b[i].scales[j] >> 4);
            for (int l = 0; l < 16; l++)
                dst[16 * j + l] = sub_scale * (float)level_2bit(b[i].qs, 16 * j + l) - sub_min;
        }
    }
}

static void q2_K_from_float(const float *src, void *dst, int64_t n)
{
    ed_block_q2_K_t *b = dst;
    uint8_t level[ED_QK_K], scale[16], min[16];
    for (int64_t i = 0; i < n / ED_QK_K; i++, src += ED_QK_K) {
        quantize_k_affine(src, 16, 3, 4, level, scale, min, &b[i].d, &b[i].dmin);
        for (int j = 0; j < 16; j++)
            b[i].scales[j] = (uint8_t)(scale[j] | min[j] << 4);
        pack_2bit(level, b[i].qs);
    }
}

static void q3_K_to_float(const void *src, float *dst, int64_t n)
{
    const ed_block_q3_K_t *b = src;
    int8_t scale[16];
    for (int64_t i = 0; i < n / ED_QK_K; i++, dst += ED_QK_K) {
        float d = ed_fp16_to_fp32(b[i].d);
        ed_q3_K_scales(b[i].scales, scale);
        for (int j = 0; j < 16; j++) {
            float sub_scale = d * (float)scale[j];
            for (int l = 0; l < 16; l++) {
                int e = 16 * j + l;
                int high = (b[i].hmask[e % 32] >> (e / 32)) & 1;
                dst[e] = sub_scale * (float)(level_2bit(b[i].qs, e) - (high ? 0 : 4));
            }
        }
    }
}

static void q3_K_from_float(const float *src, void *dst, int64_t n)
{
    ed_block_q3_K_t *b = dst;
    uint8_t level[ED_QK_K];
    int8_t scale[16];
    for (int64_t i = 0; i < n / ED_QK_K; i++, src += ED_QK_K) {
        b[i].d = quantize_k_symmetric(src, -4, 3, -32, 31, level, scale);
        memset(b[i].scales, 0, sizeof b[i].scales);
        for (int j = 0; j < 16; j++) {
            int biased = scale[j] + 32;
            b[i].scales[j % 8] |= (uint8_t)((biased & 0xF) << (4 * (j / 8)));
            b[i].scales[8 + j % 4] |= (uint8_t)((biased >> 4) << (2 * (j / 4)));
        }
        memset(b[i].hmask, 0, sizeof b[i].hmask);
        for (int e = 0; e < ED_QK_K; e++)
            b[i].hmask[e % 32] |= (uint8_t)((level[e] >> 2) << (e / 32));
        pack_2bit(level, b[i].qs);
    }
}

static void q4_K_to_float(const void *src, float *dst, int64_t n)
{
    const ed_block_q4_K_t *b = src;
    uint8_t scale[8], min[8];
    for (int64_t i = 0; i < n / ED_QK_K; i++, dst += ED_QK_K) {
        float d = ed_fp16_to_fp32(b[i].d), dmin = ed_fp16_to_fp32(b[i].dmin);
        ed_k4_scales(b[i].scales, scale, min);
        for (int j = 0; j < 8; j++) {
            float sub_scale = d * (float)scale[j], sub_min = dmin * (float)min[j];
            const uint8_t *qs = b[i].qs + 32 * (j / 2);
            for (int l = 0; l < 32; l++)
                dst[32 * j + l] = sub_scale * (float)((qs[l] >> (4 * (j % 2))) & 0xF) - sub_min;
        }
    }
}

static void q4_K_from_float(const float *src, void *dst, int64_t n)
{
    ed_block_q4_K_t *b = dst;
    uint8_t level[ED_QK_K], scale[16], min[16];
    for (int64_t i = 0; i < n / ED_QK_K; i++, src += ED_QK_K) {
        quantize_k_affine(src, 8, 15, 6, level, scale, min, &b[i].d, &b[i].dmin);
        pack_k4_scales(scale, min, b[i].scales);
        pack_4bit_k(level, b[i].qs);
    }
}

static void q5_K_to_float(const void *src, float *dst, int64_t n)
{
    const ed_block_q5_K_t *b = src;
    uint8_t scale[8], min[8];
    for (int64_t i = 0; i < n / ED_QK_K; i++, dst += ED_QK_K) {
        float d = ed_fp16_to_fp32(b[i].d), dmin = ed_fp16_to_fp32(b[i].dmin);
        ed_k4_scales(b[i].scales, scale, min);
        for (int j = 0; j < 8; j++) {
            float sub_scale = d * (float)scale[j], sub_min = dmin * (float)min[j];
            const uint8_t *qs = b[i].qs + 32 * (j / 2);
            for (int l = 0; l < 32; l++) {
                int q = ((qs[l] >> (4 * (j % 2))) & 0xF) | ((b[i].qh[l] >> j) & 1) << 4;
                dst[32 * j + l] = sub_scale * (float)q - sub_min;
            }
        }
    }
}

static void q5_K_from_float(const float *src, void *dst, int64_t n)
{
    ed_block_q5_K_t *b = dst;
    uint8_t level[ED_QK_K], scale[16], min[16];
    for (int64_t i = 0; i < n / ED_QK_K; i++, src += ED_QK_K) {
        quantize_k_affine(src, 8, 31, 6, level, scale, min, &b[i].d, &b[i].dmin);
        pack_k4_scales(scale, min, b[i].scales);
        pack_4bit_k(level, b[i].qs);
        memset(b[i].qh, 0, sizeof b[i].qh);
        for (int e = 0; e < ED_QK_K; e++)
            b[i].qh[e % 32] |= (uint8_t)((level[e] >> 4) << (e / 32));
    }
}

static void q6_K_to_float(const void *src, float *dst, int64_t n)
{
    const ed_block_q6_K_t *b = src;
    for (int64_t i = 0; i < n / ED_QK_K; i++, dst += ED_QK_K) {
        float d = ed_fp16_to_fp32(b[i].d);
        for (int e = 0; e < ED_QK_K; e++) {
            int half = e / 128, s = (e % 128) / 32, l = e % 32;
            int low = (b[i].ql[64 * half + 32 * (s & 1) + l] >> (4 * (s >> 1))) & 0xF;
            int high = (b[i].qh[32 * half + l] >> (2 * s)) & 3;
            dst[e] = d * (float)b[i].scales[e / 16] * (float)((low | high << 4) - 32);
        }
    }
}

static void q6_K_from_float(const float *src, void *dst, int64_t n)
{
    ed_block_q6_K_t *b = dst;
    uint8_t level[ED_QK_K];
    for (int64_t i = 0; i < n / ED_QK_K; i++, src += ED_QK_K) {
        b[i].d = quantize_k_symmetric(src, -32, 31, -128, 127, level, b[i].scales);
        memset(b[i].ql, 0, sizeof b[i].ql);
        memset(b[i].qh, 0, sizeof b[i].qh);
        for (int e = 0; e < ED_QK_K; e++) {
            int half = e / 128, s = (e % 128) / 32, l = e % 32;
            b[i].ql[64 * half + 32 * (s & 1) + l] |= (uint8_t)((level[e] & 0xF) << (4 * (s >> 1)));
            b[i].qh[32 * half + l] |= (uint8_t)((level[e] >> 4) << (2 * s));
        }
    }
}

static void q8_K_to_float(const void *src, float *dst, int64_t n)
{
    const ed_block_q8_K_t *b = src;
    for (int64_t i = 0; i < n / ED_QK_K; i++, dst += ED_QK_K)
        for (int j = 0; j < ED_QK_K; j++)
            dst[j] = b[i].d * (float)b[i].qs[j];
}

static void q8_K_from_float(const float *src, void *dst, int64_t n)
{
    ed_block_q8_K_t *b = dst;
    for (int64_t i = 0; i < n / ED_QK_K; i++, src += ED_QK_K) {
        b[i].d = quantize_max_abs(ED_QK_K, src, b[i].qs);
        for (int j = 0; j < ED_QK_K / 16; j++) {
            int sum = 0;
            for (int l = 0; l < 16; l++)
                sum += b[i].qs[16 * j + l];
            b[i].bsums[j] = (int16_t)sum;
        }
    }
}

/* ---------------------------------------------------------------- traits -- */

static const ed_quant_traits_t traits_table[ED_TYPE_COUNT] = {
    [ED_TYPE_F32] = {f32_to_float, f32_from_float, ED_TYPE_F32},
    [ED_TYPE_F16] = {f16_to_float, f16_from_float, ED_TYPE_F32},
    [ED_TYPE_BF16] = {bf16_to_float, bf16_from_float, ED_TYPE_F32},
    [ED_TYPE_Q4_0] = {q4_0_to_float, q4_0_from_float, ED_TYPE_Q8_0},
    [ED_TYPE_Q4_1] = {q4_1_to_float, q4_1_from_float, ED_TYPE_Q8_1},
    [ED_TYPE_Q5_0] = {q5_0_to_float, q5_0_from_float, ED_TYPE_Q8_0},
    [ED_TYPE_Q5_1] = {q5_1_to_float, q5_1_from_float, ED_TYPE_Q8_1},
    [ED_TYPE_Q8_0] = {q8_0_to_float, q8_0_from_float, ED_TYPE_Q8_0},
    [ED_TYPE_Q8_1] = {q8_1_to_float, q8_1_from_float, ED_TYPE_Q8_1},
    [ED_TYPE_Q2_K] = {q2_K_to_float, q2_K_from_float, ED_TYPE_Q8_K},
    [ED_TYPE_Q3_K] = {q3_K_to_float, q3_K_from_float, ED_TYPE_Q8_K},
    [ED_TYPE_Q4_K] = {q4_K_to_float, q4_K_from_float, ED_TYPE_Q8_K},
    [ED_TYPE_Q5_K] = {q5_K_to_float, q5_K_from_float, ED_TYPE_Q8_K},
    [ED_TYPE_Q6_K] = {q6_K_to_float, q6_K_from_float, ED_TYPE_Q8_K},
    [ED_TYPE_Q8_K] = {q8_K_to_float, q8_K_from_float, ED_TYPE_Q8_K},
    [ED_TYPE_Q4_0_R8] = {ed__q4_0_r8_to_float, ed__q4_0_r8_from_float, ED_TYPE_Q8_0_X8},
    [ED_TYPE_Q8_0_R8] = {ed__q8_0_r8_to_float, ed__q8_0_r8_from_float, ED_TYPE_Q8_0_X8},
    [ED_TYPE_Q8_0_X8] = {ed__q8_0_x8_to_float, ed__q8_0_x8_from_float, ED_TYPE_Q8_0_X8},
    [ED_TYPE_Q4_K_R8] = {ed__q4_K_r8_to_float, ed__q4_K_r8_from_float, ED_TYPE_Q8_K_X8},
    [ED_TYPE_Q8_K_X8] = {ed__q8_K_x8_to_float, ed__q8_K_x8_from_float, ED_TYPE_Q8_K_X8},
    [ED_TYPE_Q6_K_R8] = {ed__q6_K_r8_to_float, ed__q6_K_r8_from_float, ED_TYPE_Q8_K_X8},
};

const ed_quant_traits_t *ed_quant_traits(int type)
{
    if (type < 0 || type >= ED_TYPE_COUNT || !traits_table[type].to_float)
        return NULL;
    return &traits_table[type];
}
