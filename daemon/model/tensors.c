/* tensors.c - see tensors.h. One check serves vectors and matrices: the
 * expected shape is [ne0] (ne1 == 0) or [ne0, ne1] (ne1 < 0: >= -ne1 rows). */
#include "model/tensors.h"
#include "kernels/quant.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static int find(const ed_gguf_t *gguf, const char *name, int64_t ne0, int64_t ne1, bool optional,
                const ed_gguf_tensor_t **out, char err[ED_ERR_LEN])
{
    const ed_gguf_tensor_t *t = ed_gguf_find_tensor(gguf, name);
    *out = NULL;
    if (!t)
        return optional ? 0 : ed_errf(err, ED_EFORMAT, "tensor %s is missing", name);
    bool rows_ok = ne1 == 0 || (ne1 > 0 ? t->ne[1] == ne1 : t->ne[1] >= -ne1);
    if (t->n_dims != (ne1 ? 2u : 1u) || t->ne[0] != ne0 || !rows_ok) {
        char got[96] = "", want[64];
        for (uint32_t d = 0; d < t->n_dims; d++) {
            size_t used = strlen(got);
            snprintf(got + used, sizeof got - used, "%s%" PRId64, d ? ", " : "", t->ne[d]);
        }
        if (ne1)
            snprintf(want, sizeof want, "%" PRId64 ", %s%" PRId64, ne0, ne1 < 0 ? ">= " : "", ne1 < 0 ? -ne1 : ne1);
        else
            snprintf(want, sizeof want, "%" PRId64, ne0);
        return ed_errf(err, ED_EFORMAT, "tensor %s has shape [%s], expected [%s]", name, got, want);
    }
    const ed_type_info_t *info = ed_type_info(t->type);
    const char *type_name = info ? info->name : "unknown";
    if (ne1 == 0 && t->type != ED_TYPE_F32)
        return ed_errf(err, ED_EUNSUPPORTED, "tensor %s has type %s, expected f32", name, type_name);
    if (ne1 != 0 && (!info || !ed_quant_traits(t->type) || ne0 % info->block_len != 0))
        return ed_errf(err, ED_EUNSUPPORTED, "tensor %s has type %s, which edged cannot use for a weight matrix",
                       name, type_name);
    *out = t;
    return 0;
}

int ed_tensors_find_vector(const ed_gguf_t *gguf, const char *name, int64_t n, bool optional, const float **out,
                           char err[ED_ERR_LEN])
{
    const ed_gguf_tensor_t *t;
    int rc = find(gguf, name, n, 0, optional, &t, err);
    *out = t ? (const float *)t->data : NULL;
    return rc;
}

int ed_tensors_find_matrix(const ed_gguf_t *gguf, const char *name, int64_t n_in, int64_t n_out, bool optional,
                           ed_matrix_t *out, char err[ED_ERR_LEN])
{
    const ed_gguf_tensor_t *t;
    int rc = find(gguf, name, n_in, n_out, optional, &t, err);
    out->data = t ? t->data : NULL;
    out->type = t ? (int)t->type : 0;
    return rc;
}
