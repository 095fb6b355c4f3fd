/* repack.c - the interleaved layouts of repack.h: repacking GGUF rows, and
 * the conversions of their traits (a group at a time through the q4_0 and
 * q8_0 conversions, so the values are exactly those of the file layout). */
#include "kernels/repack.h"

#include <string.h>

int ed_repack_type(int type)
{
    switch (type) {
    case ED_TYPE_Q4_0: return ED_TYPE_Q4_0_R8;
    case ED_TYPE_Q8_0: return ED_TYPE_Q8_0_R8;
    default: return -1;
    }
}

/* A group is made from (or back into) `count` <= ED_R8 blocks in file
 * order; the blocks a row's last group lacks are zero. */

/* Element e (0..31) of a q4_0 block: the low nibble of qs[e] below 16, the
 * high nibble of qs[e - 16] from 16. */
static uint8_t q4_0_level(const ed_block_q4_0_t *b, int e)
{
    return e < 16 ? b->qs[e] & 0xF : b->qs[e - 16] >> 4;
}

static void q4_0_group_pack(ed_group_q4_0_r8_t *out, const ed_block_q4_0_t *blocks, int count)
{
    memset(out, 0, sizeof *out);
    for (int j = 0; j < count; j++) {
        out->d[j] = blocks[j].d;
        for (int m = 0; m < ED_QK / 8; m++)
            for (int i = 0; i < 4; i++)
                out->qs[m][4 * j + i] =
                    (uint8_t)(q4_0_level(&blocks[j], 8 * m + i) | q4_0_level(&blocks[j], 8 * m + 4 + i) << 4);
    }
}

static void q4_0_group_unpack(const ed_group_q4_0_r8_t *in, ed_block_q4_0_t *blocks, int count)
{
    for (int j = 0; j < count; j++) {
        blocks[j].d = in->d[j];
        memset(blocks[j].qs, 0, sizeof blocks[j].qs);
        for (int m = 0; m < ED_QK / 8; m++)
            for (int i = 0; i < 4; i++)
                for (int h = 0; h < 2; h++) {
                    int e = 8 * m + 4 * h + i;
                    uint8_t level = (in->qs[m][4 * j + i] >> (4 * h)) & 0xF;
                    blocks[j].qs[e % 16] |= (uint8_t)(level << (4 * (e / 16)));
                }
    }
}

/* The quants of q8_0 blocks in the q8_0_r8 / q8_0_x8 order, and back. */
static void q8_interleave(int8_t qs[ED_QK / 4][4 * ED_R8], const ed_block_q8_0_t *blocks, int count)
{
    memset(qs, 0, ED_QK * ED_R8);
    for (int j = 0; j < count; j++)
        for (int k = 0; k < ED_QK / 4; k++)
            memcpy(&qs[k][4 * j], &blocks[j].qs[4 * k], 4);
}

static void q8_deinterleave(const int8_t qs[ED_QK / 4][4 * ED_R8], ed_block_q8_0_t *blocks, int count)
{
    for (int j = 0; j < count; j++)
        for (int k = 0; k < ED_QK / 4; k++)
            memcpy(&blocks[j].qs[4 * k], &qs[k][4 * j], 4);
}

static void q8_0_group_pack(ed_group_q8_0_r8_t *out, const ed_block_q8_0_t *blocks, int count)
{
    memset(out->d, 0, sizeof out->d);
    for (int j = 0; j < count; j++)
        out->d[j] = blocks[j].d;
    q8_interleave(out->qs, blocks, count);
}

static void q8_0_group_unpack(const ed_group_q8_0_r8_t *in, ed_block_q8_0_t *blocks, int count)
{
    for (int j = 0; j < count; j++)
        blocks[j].d = in->d[j];
    q8_deinterleave(in->qs, blocks, count);
}

static int n_groups(int n_blocks)
{
    return (n_blocks + ED_R8 - 1) / ED_R8;
}

/* Blocks of group g in a row of n_blocks. */
static int group_count(int n_blocks, int g)
{
    return n_blocks - ED_R8 * g < ED_R8 ? n_blocks - ED_R8 * g : ED_R8;
}

void ed_repack_rows(int type, const void *src, void *dst, int n_in, int64_t row_begin, int64_t row_end)
{
    int n_blocks = n_in / ED_QK, groups = n_groups(n_blocks);
    for (int64_t r = row_begin; r < row_end; r++)
        for (int g = 0; g < groups; g++) {
            int64_t first = r * n_blocks + ED_R8 * g;
            if (type == ED_TYPE_Q4_0)
                q4_0_group_pack((ed_group_q4_0_r8_t *)dst + r * groups + g,
                                (const ed_block_q4_0_t *)src + first, group_count(n_blocks, g));
            else
                q8_0_group_pack((ed_group_q8_0_r8_t *)dst + r * groups + g,
                                (const ed_block_q8_0_t *)src + first, group_count(n_blocks, g));
        }
}

/* ------------------------------------------------------------ conversions -- */

void ed__q4_0_r8_to_float(const void *src, float *dst, int64_t n)
{
    int n_blocks = (int)(n / ED_QK);
    ed_block_q4_0_t blocks[ED_R8];
    for (int g = 0; g < n_groups(n_blocks); g++) {
        int count = group_count(n_blocks, g);
        q4_0_group_unpack((const ed_group_q4_0_r8_t *)src + g, blocks, count);
        ed_quant_traits(ED_TYPE_Q4_0)->to_float(blocks, dst + (int64_t)ED_R8 * ED_QK * g, (int64_t)count * ED_QK);
    }
}

void ed__q4_0_r8_from_float(const float *src, void *dst, int64_t n)
{
    int n_blocks = (int)(n / ED_QK);
    ed_block_q4_0_t blocks[ED_R8];
    for (int g = 0; g < n_groups(n_blocks); g++) {
        int count = group_count(n_blocks, g);
        ed_quant_traits(ED_TYPE_Q4_0)->from_float(src + (int64_t)ED_R8 * ED_QK * g, blocks, (int64_t)count * ED_QK);
        q4_0_group_pack((ed_group_q4_0_r8_t *)dst + g, blocks, count);
    }
}

void ed__q8_0_r8_to_float(const void *src, float *dst, int64_t n)
{
    int n_blocks = (int)(n / ED_QK);
    ed_block_q8_0_t blocks[ED_R8];
    for (int g = 0; g < n_groups(n_blocks); g++) {
        int count = group_count(n_blocks, g);
        q8_0_group_unpack((const ed_group_q8_0_r8_t *)src + g, blocks, count);
        ed_quant_traits(ED_TYPE_Q8_0)->to_float(blocks, dst + (int64_t)ED_R8 * ED_QK * g, (int64_t)count * ED_QK);
    }
}

void ed__q8_0_r8_from_float(const float *src, void *dst, int64_t n)
{
    int n_blocks = (int)(n / ED_QK);
    ed_block_q8_0_t blocks[ED_R8];
    for (int g = 0; g < n_groups(n_blocks); g++) {
        int count = group_count(n_blocks, g);
        ed_quant_traits(ED_TYPE_Q8_0)->from_float(src + (int64_t)ED_R8 * ED_QK * g, blocks, (int64_t)count * ED_QK);
        q8_0_group_pack((ed_group_q8_0_r8_t *)dst + g, blocks, count);
    }
}

void ed__q8_0_x8_to_float(const void *src, float *dst, int64_t n)
{
    int n_blocks = (int)(n / ED_QK);
    for (int g = 0; g < n_groups(n_blocks); g++) {
        const ed_group_q8_0_x8_t *in = (const ed_group_q8_0_x8_t *)src + g;
        for (int j = 0; j < group_count(n_blocks, g); j++)
            for (int e = 0; e < ED_QK; e++)
                dst[(int64_t)ED_QK * (ED_R8 * g + j) + e] = in->d[j] * (float)in->qs[e / 4][4 * j + e % 4];
    }
}

/* The activations of every matrix product: quantized as q8_0 (max-abs, the
 * scale rounded to fp16), then reordered. */
void ed__q8_0_x8_from_float(const float *src, void *dst, int64_t n)
{
    int n_blocks = (int)(n / ED_QK);
    ed_block_q8_0_t blocks[ED_R8];
    for (int g = 0; g < n_groups(n_blocks); g++) {
        ed_group_q8_0_x8_t *out = (ed_group_q8_0_x8_t *)dst + g;
        int count = group_count(n_blocks, g);
        ed_quant_traits(ED_TYPE_Q8_0)->from_float(src + (int64_t)ED_R8 * ED_QK * g, blocks, (int64_t)count * ED_QK);
        memset(out->d, 0, sizeof out->d);
        memset(out->sum, 0, sizeof out->sum);
        for (int j = 0; j < count; j++) {
            out->d[j] = ed_fp16_to_fp32(blocks[j].d);
            for (int e = 0; e < ED_QK; e++)
                out->sum[j] += blocks[j].qs[e];
        }
        q8_interleave(out->qs, blocks, count);
    }
}
