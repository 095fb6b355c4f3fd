/* repack.c - the interleaved layouts of repack.h: repacking GGUF rows, and
 * the conversions of their traits (a group at a time through the file
 * type's conversions, or for q6_K_r8's to_float its arithmetic, so the
 * values are exactly those of the file layout). */
#include "kernels/repack.h"

#include <string.h>

int ed_repack_type(int type)
{
    switch (type) {
    case ED_TYPE_Q4_0: return ED_TYPE_Q4_0_R8;
    case ED_TYPE_Q8_0: return ED_TYPE_Q8_0_R8;
    case ED_TYPE_Q4_K: return ED_TYPE_Q4_K_R8;
    case ED_TYPE_Q6_K: return ED_TYPE_Q6_K_R8;
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

/* A q4_K super-block: sub-block j = 2g + h holds element l at qs[32g + l],
 * nibble h; interleaved as q4_0_r8 interleaves blocks. */
static uint8_t q4_K_level(const ed_block_q4_K_t *b, int j, int l)
{
    return (b->qs[32 * (j / 2) + l] >> (4 * (j % 2))) & 0xF;
}

static void q4_K_pack(void *packed, const void *file_block, int count)
{
    ed_block_q4_K_r8_t *out = packed;
    const ed_block_q4_K_t *b = file_block;
    (void)count;
    out->d = b->d, out->dmin = b->dmin;
    memcpy(out->scales, b->scales, sizeof out->scales);
    for (int j = 0; j < ED_R8; j++)
        for (int m = 0; m < ED_QK / 8; m++)
            for (int i = 0; i < 4; i++)
                out->qs[m][4 * j + i] = (uint8_t)(q4_K_level(b, j, 8 * m + i) | q4_K_level(b, j, 8 * m + 4 + i) << 4);
}

static void q4_K_unpack(const void *packed, void *file_block, int count)
{
    const ed_block_q4_K_r8_t *in = packed;
    ed_block_q4_K_t *b = file_block;
    (void)count;
    b->d = in->d, b->dmin = in->dmin;
    memcpy(b->scales, in->scales, sizeof b->scales);
    memset(b->qs, 0, sizeof b->qs);
    for (int j = 0; j < ED_R8; j++)
        for (int m = 0; m < ED_QK / 8; m++)
            for (int i = 0; i < 4; i++)
                for (int h = 0; h < 2; h++) {
                    int l = 8 * m + 4 * h + i;
                    uint8_t level = (in->qs[m][4 * j + i] >> (4 * h)) & 0xF;
                    b->qs[32 * (j / 2) + l] |= (uint8_t)(level << (4 * (j % 2)));
                }
}

/* Level of element 4k + i of sub-block j of 32 (k = 0..7, i = 0..3) of a
 * q6_K_r8 block. */
static int q6_K_r8_level(const ed_block_q6_K_r8_t *in, int j, int k, int i)
{
    return ((in->ql[k / 2][4 * j + i] >> (4 * (k % 2))) & 0xF) | ((in->qh[k / 4][4 * j + i] >> (2 * (k % 4))) & 3) << 4;
}

static uint32_t load32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* Four bytes at a time (a model's q6_K matrices are repacked at every load):
 * sub-block j of 32 is q6_K's quarter j % 4 of half j / 4, whose 32 low
 * nibbles are one nibble of 32 consecutive ql bytes and whose 32 high bit
 * pairs are one pair of 32 consecutive qh bytes. Shifts move whole words,
 * and the per-byte masks keep each byte's own bits (any byte order). */
static void q6_K_pack(void *packed, const void *file_block, int count)
{
    ed_block_q6_K_r8_t *out = packed;
    const ed_block_q6_K_t *b = file_block;
    (void)count;
    out->d = b->d;
    for (int j = 0; j < ED_R8; j++) {
        int half = j / 4, quarter = j % 4;
        const uint8_t *ql = b->ql + 64 * half + 32 * (quarter & 1), *qh = b->qh + 32 * half;
        int low_shift = 4 * (quarter >> 1), high_shift = 2 * quarter;
        out->scales[0][j] = b->scales[2 * j];
        out->scales[1][j] = b->scales[2 * j + 1];
        for (int m = 0; m < ED_QK / 8; m++) { /* elements 8m..8m+3 low, 8m+4..8m+7 high */
            uint32_t lo = (load32(ql + 8 * m) >> low_shift) & 0x0F0F0F0Fu;
            uint32_t hi = (load32(ql + 8 * m + 4) >> low_shift) & 0x0F0F0F0Fu;
            uint32_t word = lo | hi << 4;
            memcpy(&out->ql[m][4 * j], &word, 4);
        }
        for (int h = 0; h < 2; h++) { /* vectors k = 4h + t: elements 4k..4k+3, bit pair t */
            uint32_t word = 0;
            for (int t = 0; t < 4; t++)
                word |= ((load32(qh + 4 * (4 * h + t)) >> high_shift) & 0x03030303u) << (2 * t);
            memcpy(&out->qh[h][4 * j], &word, 4);
        }
    }
}

static void q6_K_unpack(const void *packed, void *file_block, int count)
{
    const ed_block_q6_K_r8_t *in = packed;
    ed_block_q6_K_t *b = file_block;
    (void)count;
    memset(b, 0, sizeof *b);
    b->d = in->d;
    for (int j = 0; j < ED_R8; j++) {
        b->scales[2 * j] = in->scales[0][j];
        b->scales[2 * j + 1] = in->scales[1][j];
        for (int k = 0; k < 8; k++)
            for (int i = 0; i < 4; i++) {
                int e = ED_QK * j + 4 * k + i, level = q6_K_r8_level(in, j, k, i);
                int half = e / 128, s = (e % 128) / 32, l = e % 32;
                b->ql[64 * half + 32 * (s & 1) + l] |= (uint8_t)((level & 0xF) << (4 * (s >> 1)));
                b->qh[32 * half + l] |= (uint8_t)((level >> 4) << (2 * s));
            }
    }
}

/* A weight layout: the file type it interleaves and how a group is made. */
typedef struct {
    int file_type;
    int group_blocks;   /* file blocks per group: ED_R8, or 1 (a K-quant super-block) */
    size_t block_bytes; /* one file block */
    void (*pack)(void *group, const void *file_blocks, int count);
    void (*unpack)(const void *group, void *file_blocks, int count);
} layout_t;

static const layout_t q4_0_r8 = {ED_TYPE_Q4_0, ED_R8, sizeof(ed_block_q4_0_t), q4_0_group_pack, q4_0_group_unpack};
static const layout_t q8_0_r8 = {ED_TYPE_Q8_0, ED_R8, sizeof(ed_block_q8_0_t), q8_0_group_pack, q8_0_group_unpack};
static const layout_t q4_K_r8 = {ED_TYPE_Q4_K, 1, sizeof(ed_block_q4_K_t), q4_K_pack, q4_K_unpack};
static const layout_t q6_K_r8 = {ED_TYPE_Q6_K, 1, sizeof(ed_block_q6_K_t), q6_K_pack, q6_K_unpack};

static const layout_t *layout_of(int file_type)
{
    switch (file_type) {
    case ED_TYPE_Q4_0: return &q4_0_r8;
    case ED_TYPE_Q8_0: return &q8_0_r8;
    case ED_TYPE_Q6_K: return &q6_K_r8;
    default: return &q4_K_r8;
    }
}

/* Blocks of a row of n elements, groups of them, and the count in group g. */
static int row_blocks(const layout_t *layout, int64_t n)
{
    return (int)(n / ed_type_info(layout->file_type)->block_len);
}

static int row_groups(const layout_t *layout, int n_blocks)
{
    return (n_blocks + layout->group_blocks - 1) / layout->group_blocks;
}

static int in_group(const layout_t *layout, int n_blocks, int g)
{
    return n_blocks - layout->group_blocks * g < layout->group_blocks ? n_blocks - layout->group_blocks * g
                                                                      : layout->group_blocks;
}

void ed_repack_rows(int type, const void *src, void *dst, int n_in, int64_t row_begin, int64_t row_end)
{
    const layout_t *layout = layout_of(type);
    int n_blocks = row_blocks(layout, n_in), groups = row_groups(layout, n_blocks);
    size_t group_bytes = (size_t)layout->group_blocks * layout->block_bytes;
    for (int64_t r = row_begin; r < row_end; r++)
        for (int g = 0; g < groups; g++)
            layout->pack((uint8_t *)dst + (size_t)(r * groups + g) * group_bytes,
                         (const uint8_t *)src + (size_t)(r * n_blocks + layout->group_blocks * g) * layout->block_bytes,
                         in_group(layout, n_blocks, g));
}

/* ------------------------------------------------------------ conversions -- */

/* A row group by group through one group's file blocks on the stack, so the
 * values are exactly those of the file type's conversions. */
typedef union {
    ed_block_q4_0_t q4_0[ED_R8];
    ed_block_q8_0_t q8_0[ED_R8];
    ed_block_q4_K_t q4_K;
    ed_block_q6_K_t q6_K;
} file_blocks_t;

static void layout_to_float(const layout_t *layout, const void *src, float *dst, int64_t n)
{
    int n_blocks = row_blocks(layout, n);
    int64_t block_len = ed_type_info(layout->file_type)->block_len, group_len = layout->group_blocks * block_len;
    file_blocks_t blocks;
    for (int g = 0; g < row_groups(layout, n_blocks); g++) {
        int count = in_group(layout, n_blocks, g);
        layout->unpack((const uint8_t *)src + (size_t)g * layout->group_blocks * layout->block_bytes, &blocks, count);
        ed_quant_traits(layout->file_type)->to_float(&blocks, dst + group_len * g, count * block_len);
    }
}

static void layout_from_float(const layout_t *layout, const float *src, void *dst, int64_t n)
{
    int n_blocks = row_blocks(layout, n);
    int64_t block_len = ed_type_info(layout->file_type)->block_len, group_len = layout->group_blocks * block_len;
    file_blocks_t blocks;
    for (int g = 0; g < row_groups(layout, n_blocks); g++) {
        int count = in_group(layout, n_blocks, g);
        ed_quant_traits(layout->file_type)->from_float(src + group_len * g, &blocks, count * block_len);
        layout->pack((uint8_t *)dst + (size_t)g * layout->group_blocks * layout->block_bytes, &blocks, count);
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

void ed__q4_K_r8_to_float(const void *src, float *dst, int64_t n)
{
    layout_to_float(&q4_K_r8, src, dst, n);
}

void ed__q4_K_r8_from_float(const float *src, void *dst, int64_t n)
{
    layout_from_float(&q4_K_r8, src, dst, n);
}

void ed__q8_K_x8_to_float(const void *src, float *dst, int64_t n)
{
    for (int64_t i = 0; i < n / ED_QK_K; i++) {
        const ed_block_q8_K_x8_t *in = (const ed_block_q8_K_x8_t *)src + i;
        for (int j = 0; j < ED_R8; j++)
            for (int e = 0; e < ED_QK; e++)
                dst[ED_QK_K * i + ED_QK * j + e] = in->d * (float)in->qs[e / 4][4 * j + e % 4];
    }
}

/* q8_K (one max-abs f32 scale per 256), reordered, with sums per 32. */
void ed__q8_K_x8_from_float(const float *src, void *dst, int64_t n)
{
    for (int64_t i = 0; i < n / ED_QK_K; i++) {
        ed_block_q8_K_t b;
        ed_block_q8_K_x8_t *out = (ed_block_q8_K_x8_t *)dst + i;
        ed_quant_traits(ED_TYPE_Q8_K)->from_float(src + ED_QK_K * i, &b, ED_QK_K);
        out->d = b.d;
        for (int j = 0; j < ED_R8; j++) {
            out->sum[j] = b.bsums[2 * j] + b.bsums[2 * j + 1];
            for (int k = 0; k < ED_QK / 4; k++)
                memcpy(&out->qs[k][4 * j], &b.qs[ED_QK * j + 4 * k], 4);
        }
    }
}

/* Straight from the layout (the backward pass dequantizes tiles of it at
 * every training step), as q6_K_to_float computes each value. */
void ed__q6_K_r8_to_float(const void *src, float *dst, int64_t n)
{
    for (int64_t b = 0; b < n / ED_QK_K; b++) {
        const ed_block_q6_K_r8_t *in = (const ed_block_q6_K_r8_t *)src + b;
        float d = ed_fp16_to_fp32(in->d);
        for (int j = 0; j < ED_R8; j++)
            for (int k = 0; k < 8; k++) {
                float scale = d * (float)in->scales[k / 4][j];
                for (int i = 0; i < 4; i++)
                    dst[ED_QK_K * b + ED_QK * j + 4 * k + i] = scale * (float)(q6_K_r8_level(in, j, k, i) - 32);
            }
    }
}

void ed__q6_K_r8_from_float(const float *src, void *dst, int64_t n)
{
    layout_from_float(&q6_K_r8, src, dst, n);
}
