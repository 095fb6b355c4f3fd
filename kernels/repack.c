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

static void q4_0_group_pack(void *group, const void *file_blocks, int count)
{
    ed_group_q4_0_r8_t *out = group;
    const ed_block_q4_0_t *blocks = file_blocks;
    memset(out, 0, sizeof *out);
    for (int j = 0; j < count; j++) {
        out->d[j] = blocks[j].d;
        for (int m = 0; m < ED_QK / 8; m++)
            for (int i = 0; i < 4; i++)
                out->qs[m][4 * j + i] =
                    (uint8_t)(q4_0_level(&blocks[j], 8 * m + i) | q4_0_level(&blocks[j], 8 * m + 4 + i) << 4);
    }
}

static void q4_0_group_unpack(const void *group, void *file_blocks, int count)
{
    const ed_group_q4_0_r8_t *in = group;
    ed_block_q4_0_t *blocks = file_blocks;
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

static void q8_0_group_pack(void *group, const void *file_blocks, int count)
{
    ed_group_q8_0_r8_t *out = group;
    const ed_block_q8_0_t *blocks = file_blocks;
    memset(out->d, 0, sizeof out->d);
    for (int j = 0; j < count; j++)
        out->d[j] = blocks[j].d;
    q8_interleave(out->qs, blocks, count);
}

static void q8_0_group_unpack(const void *group, void *file_blocks, int count)
{
    const ed_group_q8_0_r8_t *in = group;
    ed_block_q8_0_t *blocks = file_blocks;
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

/* A weight layout: the file type it interleaves and how a group is made. */
typedef struct {
    int file_type;
    size_t block_bytes; /* one file block */
    void (*pack)(void *group, const void *file_blocks, int count);
    void (*unpack)(const void *group, void *file_blocks, int count);
} layout_t;

static const layout_t q4_0_r8 = {ED_TYPE_Q4_0, sizeof(ed_block_q4_0_t), q4_0_group_pack, q4_0_group_unpack};
static const layout_t q8_0_r8 = {ED_TYPE_Q8_0, sizeof(ed_block_q8_0_t), q8_0_group_pack, q8_0_group_unpack};

void ed_repack_rows(int type, const void *src, void *dst, int n_in, int64_t row_begin, int64_t row_end)
{
    const layout_t *layout = type == ED_TYPE_Q4_0 ? &q4_0_r8 : &q8_0_r8;
    int n_blocks = n_in / ED_QK, groups = n_groups(n_blocks);
    size_t group_bytes = ED_R8 * layout->block_bytes;
    for (int64_t r = row_begin; r < row_end; r++)
        for (int g = 0; g < groups; g++)
            layout->pack((uint8_t *)dst + (size_t)(r * groups + g) * group_bytes,
                         (const uint8_t *)src + (size_t)(r * n_blocks + ED_R8 * g) * layout->block_bytes,
                         group_count(n_blocks, g));
}

/* ------------------------------------------------------------ conversions -- */

/* A row group by group through one group's file blocks on the stack, so the
 * values are exactly those of the file type's conversions. */
typedef union {
    ed_block_q4_0_t q4_0[ED_R8];
    ed_block_q8_0_t q8_0[ED_R8];
} file_blocks_t;

static void layout_to_float(const layout_t *layout, const void *src, float *dst, int64_t n)
{
    int n_blocks = (int)(n / ED_QK);
    file_blocks_t blocks;
    for (int g = 0; g < n_groups(n_blocks); g++) {
        int count = group_count(n_blocks, g);
        layout->unpack((const uint8_t *)src + (size_t)g * ED_R8 * layout->block_bytes, &blocks, count);
        ed_quant_traits(layout->file_type)->to_float(&blocks, dst + (int64_t)ED_R8 * ED_QK * g, (int64_t)count * ED_QK);
    }
}

static void layout_from_float(const layout_t *layout, const float *src, void *dst, int64_t n)
{
    int n_blocks = (int)(n / ED_QK);
    file_blocks_t blocks;
    for (int g = 0; g < n_groups(n_blocks); g++) {
        int count = group_count(n_blocks, g);
        ed_quant_traits(layout->file_type)->from_float(src + (int64_t)ED_R8 * ED_QK * g, &blocks, (int64_t)count * ED_QK);
        layout->pack((uint8_t *)dst + (size_t)g * ED_R8 * layout->block_bytes, &blocks, count);
    }
}

void ed__q4_0_r8_to_float(const void *src, float *dst, int64_t n)
{
    layout_to_float(&q4_0_r8, src, dst, n);
}

void ed__q4_0_r8_from_float(const float *src, void *dst, int64_t n)
{
    layout_from_float(&q4_0_r8, src, dst, n);
}

void ed__q8_0_r8_to_float(const void *src, float *dst, int64_t n)
{
    layout_to_float(&q8_0_r8, src, dst, n);
}

void ed__q8_0_r8_from_float(const float *src, void *dst, int64_t n)
{
    layout_from_float(&q8_0_r8, src, dst, n);
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
