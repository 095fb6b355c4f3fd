/* tensors.h - the GGUF tensor checks every model loader (model.c, bert.c)
 * uses: find a weight by name, check its shape, and check that edged can
 * use its type (f32 for vectors; a type with quant traits whose blocks fit
 * a row for matrices), so the forward passes never meet a surprise. */
#ifndef ED_MODEL_TENSORS_H
#define ED_MODEL_TENSORS_H

#include "core/error.h"
#include "model/gguf.h"
#include "model/model.h" /* ed_matrix_t */

#include <stdbool.h>
#include <stdint.h>

/* Finds `name` as an f32 vector of n elements. Absent and optional: 0 with
 * *out = NULL. Else ED_EFORMAT (missing, wrong shape) or ED_EUNSUPPORTED
 * (not f32) with err naming the tensor. */
int ed_tensors_find_vector(const ed_gguf_t *gguf, const char *name, int64_t n, bool optional, const float **out,
                           char err[ED_ERR_LEN]);

/* Finds `name` as a matrix of n_out rows of n_in elements (GGUF shape
 * [n_in, n_out]); n_out < 0: at least -n_out rows. Fills out->data and
 * out->type (data NULL when absent and optional; out->owned is untouched).
 * Errors as ed_tensors_find_vector. */
int ed_tensors_find_matrix(const ed_gguf_t *gguf, const char *name, int64_t n_in, int64_t n_out, bool optional,
                           ed_matrix_t *out, char err[ED_ERR_LEN]);

#endif
