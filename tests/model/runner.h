/* runner.h - what the model tests share: a GGUF file opened as a model,
 * with the kernels this CPU runs, a compute pool and (when asked) a
 * single-sequence forward pass. Header-only, for tests/model/ programs. */
#ifndef ED_TESTS_MODEL_RUNNER_H
#define ED_TESTS_MODEL_RUNNER_H

#include "kernels/kernels.h"
#include "kernels/pool.h"
#include "model/forward.h"
#include "model/gguf.h"
#include "model/model.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    ed_gguf_t *gguf;
    ed_model_t model;
    const ed_kernels_t *kernels;
    ed_pool_t *pool;
    ed_forward_t fw; /* zeroed unless runner_open was given n_ctx > 0 */
} runner_t;

static inline void runner_close(runner_t *r)
{
    ed_forward_free(&r->fw);
    ed_pool_close(r->pool);
    ed_model_free(&r->model);
    ed_gguf_close(r->gguf);
}

/* Opens `path` with n_threads, its matrices repacked for the kernels when
 * `repack`; with n_ctx > 0 also a forward pass of n_ctx positions and
 * batches of n_batch (0: the default). 0, or an ED_E* code (printed as a TAP
 * comment, the runner closed). */
static inline int runner_open_with(runner_t *r, const char *path, int n_threads, int n_ctx, int n_batch,
                                   bool repack)
{
    char err[ED_ERR_LEN] = "";
    memset(r, 0, sizeof *r);
    r->kernels = ed_kernels_select(NULL);
    int rc = r->kernels ? 0 : ED_EUNSUPPORTED;
    if (rc == 0 && (rc = ed_gguf_open(&r->gguf, path, err)) == 0 &&
        (rc = ed_model_load(&r->model, r->gguf, err)) == 0 && (rc = ed_pool_open(&r->pool, n_threads, err)) == 0 &&
        (!repack || (rc = ed_model_repack(&r->model, r->kernels, r->pool, err)) == 0) && n_ctx > 0)
        rc = ed_forward_init(&r->fw, &r->model, r->kernels, r->pool, n_ctx, n_batch, err);
    if (rc != 0) {
        printf("# %s: %s (%s)\n", path, ed_strerror(rc), err);
        runner_close(r);
    }
    return rc;
}

/* The model as the daemon runs it: repacked. */
static inline int runner_open(runner_t *r, const char *path, int n_threads, int n_ctx, int n_batch)
{
    return runner_open_with(r, path, n_threads, n_ctx, n_batch, true);
}

#endif
