/* vec_dot.c - the scalar reference dot products, one per weight format, each
 * against its activation format (quant.h: vec_dot_type). Integer sums per
 * block, times the float scales: the specification the SIMD versions in x86/
 * and arm/ are tested against. */
#include "kernels/quant.h"
#include "kernels/repack.h"

#include <math.h>

static void dot_f32(int n, float *out, const void *w_row, const void *act_row)
{
    const float *w = w_row, *a = act_row;
    double sum = 0.0;
    for (int i = 0; i < n; i++)
        sum += (double)w[i] * a[i];
    *out = (float)sum;
}

static void dot_f16(int n, float *out, const void *w_row, const void *act_row)
{
    const uint16_t *w = w_row;
    const float *a = act_row;
    double sum = 0.0;
    for (int i = 0; i < n; i++)
        sum += (double)ed_fp16_to_fp32(w[i]) * a[i];
    *out = (float)sum;
}

static void dot_bf16(int n, float *out, const void *w_row, const void *act_row)
{
    const uint16_t *w = w_row;
    const float *a = act_row;
    double sum = 0.0;
    for (int i = 0; i < n; i++)
        sum += (double)ed_bf16_to_fp32(w[i]) * a[i];
    *out = (float)sum;
}

/* Level of element j (0..31) of a 4-bit legacy block. */
static int nibble(const uint8_t qs[ED_QK / 2], int j)
{
    return j < ED_QK / 2 ? qs[j] & 0xF : qs[j - ED_QK / 2] >> 4;
}

static int fifth_bit(const uint8_t qh[4], int j)
{
    return (qh[j / 8] >> (j % 8)) & 1;
}

static void dot_q4_0(int n, float *out, const void *w_row, const void *act_row)
{
    const ed_block_q4_0_t *w = w_row;
    const ed_block_q8_0_t *a = act_row;
    float sum = 0.0f;
    for (int i = 0; i < n / ED_QK; i++) {
        int sumi = 0;
        for (int j = 0; j < ED_QK; j++)
            sumi += (nibble(w[i].qs, j) - 8) * a[i].qs[j];
        sum += (float)sumi * ed_fp16_to_fp32(w[i].d) * ed_fp16_to_fp32(a[i].d);
    }
    *out = sum;
}

static void dot_q4_1(int n, float *out, const void *w_row, const void *act_row)
{
    const ed_block_q4_1_t *w = w_row;
    const ed_block_q8_1_t *a = act_row;
    float sum = 0.0f;
    for (int i = 0; i < n / ED_QK; i++) {
        int sumi = 0;
        for (int j = 0; j < ED_QK; j++)
            sumi += nibble(w[i].qs, j) * a[i].qs[j];
        sum += (float)sumi * ed_fp16_to_fp32(w[i].d) * ed_fp16_to_fp32(a[i].d) +
               ed_fp16_to_fp32(w[i].m) * ed_fp16_to_fp32(a[i].s);
    }
    *out = sum;
}

static void dot_q5_0(int n, float *out, const void *w_row, const void *act_row)
{
    const ed_block_q5_0_t *w = w_row;
    const ed_block_q8_0_t *a = act_row;
    float sum = 0.0f;
    for (int i = 0; i < n / ED_QK; i++) {
        int sumi = 0;
        for (int j = 0; j < ED_QK; j++)
            sumi += ((nibble(w[i].qs, j) | fifth_bit(w[i].qh, j) << 4) - 16) * a[i].qs[j];
        sum += (float)sumi * ed_fp16_to_fp32(w[i].d) * ed_fp16_to_fp32(a[i].d);
    }
    *out = sum;
}

static void dot_q5_1(int n, float *out, const void *w_row, const void *act_row)
{
    const ed_block_q5_1_t *w = w_row;
    const ed_block_q8_1_t *a = act_row;
    float sum = 0.0f;
    for (int i = 0; i < n / ED_QK; i++) {
        int sumi = 0;
        for (int j = 0; j < ED_QK; j++)
            sumi += (nibble(w[i].qs, j) | fifth_bit(w[i].qh, j) << 4) * a[i].qs[j];
        sum += (float)sumi * ed_fp16_to_fp32(w[i].d) * ed_fp16_to_fp32(a[i].d) +
               ed_fp16_to_fp32(w[i].m) * ed_fp16_to_fp32(a[i].s);
    }
    *out = sum;
}

static void dot_q8_0(int n, float *out, const void *w_row, const void *act_row)
{
    const ed_block_q8_0_t *w = w_row;
    const ed_block_q8_0_t *a = act_row;
    float sum = 0.0f;
    for (int i = 0; i < n / ED_QK; i++) {
        int sumi = 0;
        for (int j = 0; j < ED_QK; j++)
            sumi += w[i].qs[j] * a[i].qs[j];
        sum += (float)sumi * ed_fp16_to_fp32(w[i].d) * ed_fp16_to_fp32(a[i].d);
    }
    *out = sum;
}

/* K-quants: per super-block, d * sum(scale_j * dot_j) - dmin * sum(min_j *
 * activation sum_j), the activation sums read from Q8_K's bsums. */

static int level_2bit(const uint8_t qs[ED_QK_K / 4], int e)
{
    return (qs[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3;
}

static void dot_q2_K(int n, float *out, const void *w_row, const void *act_row)
{
    const ed_block_q2_K_t *w = w_row;
    const ed_block_q8_K_t *a = act_row;
    float sum = 0.0f;
    for (int i = 0; i < n / ED_QK_K; i++) {
        int sumi = 0, summ = 0;
        for (int j = 0; j < 16; j++) {
            int dot = 0;
            for (int l = 0; l < 16; l++)
                dot += level_2bit(w[i].qs, 16 * j + l) * a[i].qs[16 * j + l];
            sumi += (w[i].scales[j] & 0xF) * dot;
            summ += (w[i].scales[j] >> 4) * a[i].bsums[j];
        }
        sum += a[i].d * (ed_fp16_to_fp32(w[i].d) * (float)sumi -
                         ed_fp16_to_fp32(w[i].dmin) * (float)summ);
    }
    *out = sum;
}

static void dot_q3_K(int n, float *out, const void *w_row, const void *act_row)
{
    const ed_block_q3_K_t *w = w_row;
    const ed_block_q8_K_t *a = act_row;
    int8_t scale[16];
    float sum = 0.0f;
    for (int i = 0; i < n / ED_QK_K; i++) {
        ed_q3_K_scales(w[i].scales, scale);
        int sumi = 0;
        for (int j = 0; j < 16; j++) {
            int dot = 0;
            for (int l = 0; l < 16; l++) {
                int e = 16 * j + l;
                int high = (w[i].hmask[e % 32] >> (e / 32)) & 1;
                dot += (level_2bit(w[i].qs, e) - (high ? 0 : 4)) * a[i].qs[e];
            }
            sumi += scale[j] * dot;
        }
        sum += a[i].d * ed_fp16_to_fp32(w[i].d) * (float)sumi;
    }
    *out = sum;
}

static void dot_q4_K(int n, float *out, const void *w_row, const void *act_row)
{
    const ed_block_q4_K_t *w = w_row;
    const ed_block_q8_K_t *a = act_row;
    uint8_t scale[8], min[8];
    float sum = 0.0f;
    for (int i = 0; i < n / ED_QK_K; i++) {
        ed_k4_scales(w[i].scales, scale, min);
        int sumi = 0, summ = 0;
        for (int j = 0; j < 8; j++) {
            const uint8_t *qs = w[i].qs + 32 * (j / 2);
            int dot = 0;
            for (int l = 0; l < 32; l++)
                dot += ((qs[l] >> (4 * (j % 2))) & 0xF) * a[i].qs[32 * j + l];
            sumi += scale[j] * dot;
            summ += min[j] * (a[i].bsums[2 * j] + a[i].bsums[2 * j + 1]);
        }
        sum += a[i].d * (ed_fp16_to_fp32(w[i].d) * (float)sumi -
                         ed_fp16_to_fp32(w[i].dmin) * (float)summ);
    }
    *out = sum;
}

static void dot_q5_K(int n, float *out, const void *w_row, const void *act_row)
{
    const ed_block_q5_K_t *w = w_row;
    const ed_block_q8_K_t *a = act_row;
    uint8_t scale[8], min[8];
    float sum = 0.0f;
    for (int i = 0; i < n / ED_QK_K; i++) {
        ed_k4_scales(w[i].scales, scale, min);
        int sumi = 0, summ = 0;
        for (int j = 0; j < 8; j++) {
            const uint8_t *qs = w[i].qs + 32 * (j / 2);
            int dot = 0;
            for (int l = 0; l < 32; l++) {
                int q = ((qs[l] >> (4 * (j % 2))) & 0xF) | ((w[i].qh[l] >> j) & 1) << 4;
                dot += q * a[i].qs[32 * j + l];
            }
            sumi += scale[j] * dot;
            summ += min[j] * (a[i].bsums[2 * j] + a[i].bsums[2 * j + 1]);
        }
        sum += a[i].d * (ed_fp16_to_fp32(w[i].d) * (float)sumi -
                         ed_fp16_to_fp32(w[i].dmin) * (float)summ);
    }
    *out = sum;
}

static void dot_q6_K(int n, float *out, const void *w_row, const void *act_row)
{
    const ed_block_q6_K_t *w = w_row;
    const ed_block_q8_K_t *a = act_row;
    float sum = 0.0f;
    for (int i = 0; i < n / ED_QK_K; i++) {
        int sumi = 0;
        for (int j = 0; j < 16; j++) {
            int dot = 0;
            for (int l = 0; l < 16; l++) {
                int e = 16 * j + l;
                int half = e / 128, s = (e % 128) / 32, k = e % 32;
                int low = (w[i].ql[64 * half + 32 * (s & 1) + k] >> (4 * (s >> 1))) & 0xF;
                int high = (w[i].qh[32 * half + k] >> (2 * s)) & 3;
                dot += ((low | high << 4) - 32) * a[i].qs[e];
            }
            sumi += w[i].scales[j] * dot;
        }
        sum += a[i].d * ed_fp16_to_fp32(w[i].d) * (float)sumi;
    }
    *out = sum;
}

/* ------------------------------------------------- interleaved layouts -- */

/* The sum of 8 per-block lanes in the order of a SIMD register's halving
 * reduction ((0+4) + (2+6)) + ((1+5) + (3+7)), as the x86 kernels sum. */
static float sum_lanes(const float acc[ED_R8])
{
    return ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
}

/* Lane j accumulates block j of every group: the block's exact integer dot
 * times (weight scale * activation scale), fused. */
static void dot_q4_0_r8(int n, float *out, const void *w_row, const void *act_row)
{
    const ed_group_q4_0_r8_t *w = w_row;
    const ed_group_q8_0_x8_t *a = act_row;
    float acc[ED_R8] = {0};
    for (int g = 0; g < (n / ED_QK + ED_R8 - 1) / ED_R8; g++)
        for (int j = 0; j < ED_R8; j++) {
            int sumi = -8 * a[g].sum[j];
            for (int m = 0; m < ED_QK / 8; m++)
                for (int i = 0; i < 4; i++) {
                    uint8_t q = w[g].qs[m][4 * j + i];
                    sumi += (q & 0xF) * a[g].qs[2 * m][4 * j + i] + (q >> 4) * a[g].qs[2 * m + 1][4 * j + i];
                }
            acc[j] = fmaf((float)sumi, ed_fp16_to_fp32(w[g].d[j]) * a[g].d[j], acc[j]);
        }
    *out = sum_lanes(acc);
}

static void dot_q8_0_r8(int n, float *out, const void *w_row, const void *act_row)
{
    const ed_group_q8_0_r8_t *w = w_row;
    const ed_group_q8_0_x8_t *a = act_row;
    float acc[ED_R8] = {0};
    for (int g = 0; g < (n / ED_QK + ED_R8 - 1) / ED_R8; g++)
        for (int j = 0; j < ED_R8; j++) {
            int sumi = 0;
            for (int k = 0; k < ED_QK / 4; k++)
                for (int i = 0; i < 4; i++)
                    sumi += w[g].qs[k][4 * j + i] * a[g].qs[k][4 * j + i];
            acc[j] = fmaf((float)sumi, ed_fp16_to_fp32(w[g].d[j]) * a[g].d[j], acc[j]);
        }
    *out = sum_lanes(acc);
}

/* Lane j is sub-block j of every super-block: its exact integer dot times
 * its scale, and its min times its activation sum, each scaled in float. */
static void dot_q4_K_r8(int n, float *out, const void *w_row, const void *act_row)
{
    const ed_block_q4_K_r8_t *w = w_row;
    const ed_block_q8_K_x8_t *a = act_row;
    float acc[ED_R8] = {0}, acc_min[ED_R8] = {0};
    for (int b = 0; b < n / ED_QK_K; b++) {
        uint8_t scale[8], min[8];
        ed_k4_scales(w[b].scales, scale, min);
        float d = ed_fp16_to_fp32(w[b].d) * a[b].d, dmin = ed_fp16_to_fp32(w[b].dmin) * a[b].d;
        for (int j = 0; j < ED_R8; j++) {
            int sumi = 0;
            for (int m = 0; m < ED_QK / 8; m++)
                for (int i = 0; i < 4; i++) {
                    uint8_t q = w[b].qs[m][4 * j + i];
                    sumi += (q & 0xF) * a[b].qs[2 * m][4 * j + i] + (q >> 4) * a[b].qs[2 * m + 1][4 * j + i];
                }
            acc[j] = fmaf((float)(scale[j] * sumi), d, acc[j]);
            acc_min[j] = fmaf((float)(min[j] * a[b].sum[j]), dmin, acc_min[j]);
        }
    }
    *out = sum_lanes(acc) - sum_lanes(acc_min);
}

/* Lane j is sub-block j of 32 of every super-block, two q6_K sub-blocks of
 * 16 (h = 0, 1): each one's exact integer dot ((level - 32) times the
 * activations) is added in float times (d * scale) * activation d, the
 * lower half first. Every SIMD kernel of q6_K_r8 takes these steps. */
static void dot_q6_K_r8(int n, float *out, const void *w_row, const void *act_row)
{
    const ed_block_q6_K_r8_t *w = w_row;
    const ed_block_q8_K_x8_t *a = act_row;
    float acc[ED_R8] = {0};
    for (int b = 0; b < n / ED_QK_K; b++) {
        float d = ed_fp16_to_fp32(w[b].d);
        for (int j = 0; j < ED_R8; j++)
            for (int h = 0; h < 2; h++) {
                int sumi = 0;
                for (int k = 4 * h; k < 4 * h + 4; k++)
                    for (int i = 0; i < 4; i++) {
                        int level = ((w[b].ql[k / 2][4 * j + i] >> (4 * (k % 2))) & 0xF) |
                                    ((w[b].qh[k / 4][4 * j + i] >> (2 * (k % 4))) & 3) << 4;
                        sumi += (level - 32) * a[b].qs[k][4 * j + i];
                    }
                acc[j] = fmaf((float)sumi, d * (float)w[b].scales[h][j] * a[b].d, acc[j]);
            }
    }
    *out = sum_lanes(acc);
}

void ed_vec_dot_table_ref(ed_vec_dot_fn table[ED_TYPE_COUNT])
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
    table[ED_TYPE_Q4_K] = dot_q4_K;
    table[ED_TYPE_Q5_K] = dot_q5_K;
    table[ED_TYPE_Q6_K] = dot_q6_K;
    table[ED_TYPE_Q4_0_R8] = dot_q4_0_r8;
    table[ED_TYPE_Q8_0_R8] = dot_q8_0_r8;
    table[ED_TYPE_Q4_K_R8] = dot_q4_K_r8;
    table[ED_TYPE_Q6_K_R8] = dot_q6_K_r8;
}
