/* types.c - the block geometry table of types.h. */
#include "kernels/types.h"
#include "kernels/error.h"

#include <strings.h>

static const ed_type_info_t type_table[ED_TYPE_COUNT] = {
    [ED_TYPE_F32] = {"f32", 1, 4, 1},
    [ED_TYPE_F16] = {"f16", 1, 2, 1},
    [ED_TYPE_BF16] = {"bf16", 1, 2, 1},
    [ED_TYPE_Q4_0] = {"q4_0", 32, 2 + 16, 1},
    [ED_TYPE_Q4_1] = {"q4_1", 32, 2 + 2 + 16, 1},
    [ED_TYPE_Q5_0] = {"q5_0", 32, 2 + 4 + 16, 1},
    [ED_TYPE_Q5_1] = {"q5_1", 32, 2 + 2 + 4 + 16, 1},
    [ED_TYPE_Q8_0] = {"q8_0", 32, 2 + 32, 1},
    [ED_TYPE_Q8_1] = {"q8_1", 32, 2 + 2 + 32, 1},
    [ED_TYPE_Q2_K] = {"q2_K", ED_QK_K, ED_QK_K / 16 + ED_QK_K / 4 + 2 + 2, 1},
    [ED_TYPE_Q3_K] = {"q3_K", ED_QK_K, ED_QK_K / 8 + ED_QK_K / 4 + 12 + 2, 1},
    [ED_TYPE_Q4_K] = {"q4_K", ED_QK_K, 2 + 2 + 12 + ED_QK_K / 2, 1},
    [ED_TYPE_Q5_K] = {"q5_K", ED_QK_K, 2 + 2 + 12 + ED_QK_K / 8 + ED_QK_K / 2, 1},
    [ED_TYPE_Q6_K] = {"q6_K", ED_QK_K, ED_QK_K / 2 + ED_QK_K / 4 + ED_QK_K / 16 + 2, 1},
    [ED_TYPE_Q8_K] = {"q8_K", ED_QK_K, 4 + ED_QK_K + ED_QK_K / 16 * 2, 1},
    [ED_TYPE_I8] = {"i8", 1, 1, 1},
    [ED_TYPE_I16] = {"i16", 1, 2, 1},
    [ED_TYPE_I32] = {"i32", 1, 4, 1},
    [ED_TYPE_Q4_0_R8] = {"q4_0_r8", 32, 2 + 16, 8},
    [ED_TYPE_Q8_0_R8] = {"q8_0_r8", 32, 2 + 32, 8},
    [ED_TYPE_Q8_0_X8] = {"q8_0_x8", 32, 4 + 4 + 32, 8},
    [ED_TYPE_Q4_K_R8] = {"q4_K_r8", ED_QK_K, 2 + 2 + 12 + ED_QK_K / 2, 1},
    [ED_TYPE_Q8_K_X8] = {"q8_K_x8", ED_QK_K, 4 + 4 * 8 + ED_QK_K, 1},
    [ED_TYPE_Q6_K_R8] = {"q6_K_r8", ED_QK_K, ED_QK_K / 2 + ED_QK_K / 4 + ED_QK_K / 16 + 2, 1},
};

const ed_type_info_t *ed_type_info(int type)
{
    if (type < 0 || type >= ED_TYPE_COUNT || !type_table[type].name)
        return NULL;
    return &type_table[type];
}

int ed_type_from_name(const char *name)
{
    for (int t = 0; t < ED_TYPE_FIRST_INTERNAL; t++)
        if (type_table[t].name && strcasecmp(type_table[t].name, name) == 0)
            return t;
    return -1;
}

int ed_type_row_size(int type, uint64_t n, uint64_t *out)
{
    const ed_type_info_t *info = ed_type_info(type);
    if (!info || n % info->block_len != 0)
        return ED_KERR_EINVAL;
    uint64_t blocks = n / info->block_len;
    blocks = (blocks + info->group - 1) / info->group * info->group;
    if (blocks > UINT64_MAX / info->block_size)
        return ED_KERR_EOVERFLOW;
    *out = blocks * info->block_size;
    return 0;
}
