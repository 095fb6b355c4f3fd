/* dump_logits - evaluates a token sequence with edged's forward pass and
 * writes the logits of every position as raw little-endian f32, (n_tokens,
 * n_vocab), for tests/reference/test_forward.py to compare with PyTorch;
 * the model is repacked for the kernels, as the daemon and `edged run` run it.
 * --batch N evaluates N tokens a pass (default: all at once), which also
 * sizes a sliding-window model's ring caches (kvcache.h) below the context.
 * usage: dump_logits [--batch N] MODEL.gguf OUT.f32 TOKEN... */
#include "kernels/kernels.h"
#include "kernels/pool.h"
#include "model/forward.h"
#include "model/gguf.h"
#include "model/model.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    int n_batch = 0;
    if (argc > 2 && strcmp(argv[1], "--batch") == 0) {
        n_batch = atoi(argv[2]);
        argc -= 2;
        argv += 2;
    }
    if (argc < 4 || n_batch < 0) {
        fprintf(stderr, "usage: dump_logits [--batch N] MODEL.gguf OUT.f32 TOKEN...\n");
        return 2;
    }
    int n_tokens = argc - 3;
    int32_t *tokens = malloc((size_t)n_tokens * sizeof *tokens);
    if (!tokens)
        return 1;
    for (int i = 0; i < n_tokens; i++) {
        char *end;
        errno = 0;
        long id = strtol(argv[3 + i], &end, 10);
        if (errno || *end || end == argv[3 + i] || id < 0 || id > INT32_MAX) {
            fprintf(stderr, "dump_logits: bad token id '%s'\n", argv[3 + i]);
            free(tokens);
            return 2;
        }
        tokens[i] = (int32_t)id;
    }

    char err[ED_ERR_LEN] = "";
    ed_gguf_t *gguf = NULL;
    ed_model_t model = {0};
    ed_pool_t *pool = NULL;
    ed_forward_t fw = {0};
    float *logits = NULL;
    FILE *out = NULL;
    const ed_kernels_t *kernels = ed_kernels_select(NULL);
    int rc = kernels ? 0 : ED_EUNSUPPORTED;
    if (rc == 0 && (rc = ed_gguf_open(&gguf, argv[1], err)) == 0 &&
        (rc = ed_model_load(&model, gguf, err)) == 0 && (rc = ed_pool_open(&pool, 1, err)) == 0 &&
        (rc = ed_model_repack(&model, kernels, pool, err)) == 0 &&
        (rc = ed_forward_init(&fw, &model, kernels, pool, n_tokens, n_batch, err)) == 0) {
        logits = malloc((size_t)n_tokens * (size_t)model.n_vocab * sizeof(float));
        rc = logits ? ed_forward_eval(&fw, tokens, n_tokens, logits, err) : ED_ENOMEM;
    }
    if (rc == 0) {
        size_t n = (size_t)n_tokens * (size_t)model.n_vocab;
        out = fopen(argv[2], "wb");
        int write_failed = !out || fwrite(logits, sizeof(float), n, out) != n;
        if ((out && fclose(out) != 0) || write_failed) {
            snprintf(err, sizeof err, "cannot write %s", argv[2]);
            rc = ED_EIO;
        }
    }
    if (rc != 0)
        fprintf(stderr, "dump_logits: %s: %s: %s\n", argv[1], ed_strerror(rc), err);
    free(logits);
    ed_forward_free(&fw);
    ed_pool_close(pool);
    ed_model_free(&model);
    ed_gguf_close(gguf);
    free(tokens);
    return rc == 0 ? 0 : 1;
}
