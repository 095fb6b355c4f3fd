/* embed - embeds texts with edged's BERT embedder (daemon/model/bert.c) and
 * prints, per text, the token ids it ran and the L2-normalised vector, for
 * tests/reference/test_bert.py to compare with PyTorch:
 *     tokens N id id ...      (N: the text's count before truncation)
 *     embedding v0 v1 ...     (%.9g, n_embd values)
 * usage: embed [--threads N] MODEL.gguf TEXT... (EDGED_KERNELS picks kernels) */
#include "kernels/kernels.h"
#include "kernels/pool.h"
#include "model/bert.h"
#include "model/gguf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    int first = 1, n_threads = 2;
    if (argc > 3 && strcmp(argv[1], "--threads") == 0) {
        n_threads = atoi(argv[2]);
        first = 3;
    }
    if (argc - first < 2 || n_threads < 1) {
        fprintf(stderr, "usage: embed [--threads N] MODEL.gguf TEXT...\n");
        return 2;
    }
    char err[ED_ERR_LEN] = "";
    ed_gguf_t *gguf = NULL;
    ed_bert_t bert = {0};
    ed_pool_t *pool = NULL;
    float *vector = NULL;
    const ed_kernels_t *kernels = ed_kernels_select(NULL);
    int rc = kernels ? 0 : ED_EUNSUPPORTED;
    if (rc == 0 && (rc = ed_gguf_open(&gguf, argv[first], err)) == 0 &&
        (rc = ed_bert_load(&bert, gguf, err)) == 0 && (rc = ed_pool_open(&pool, n_threads, err)) == 0)
        rc = (vector = malloc((size_t)bert.n_embd * sizeof *vector)) ? 0 : ED_ENOMEM;
    for (int i = first + 1; i < argc && rc == 0; i++) {
        int n_tokens = 0;
        if ((rc = ed_bert_embed(&bert, kernels, pool, ED_POOL_HIGH, argv[i], strlen(argv[i]), vector, &n_tokens, err)) != 0)
            break;
        printf("tokens %d", n_tokens);
        for (int t = 0; t < n_tokens && t < bert.n_ctx; t++)
            printf(" %d", (int)bert.tokens[t]);
        printf("\nembedding");
        for (int e = 0; e < bert.n_embd; e++)
            printf(" %.9g", vector[e]);
        printf("\n");
    }
    if (rc != 0)
        fprintf(stderr, "embed: %s: %s: %s\n", argv[first], ed_strerror(rc), err);
    free(vector);
    ed_pool_close(pool);
    ed_bert_free(&bert);
    ed_gguf_close(gguf);
    return rc == 0 ? 0 : 1;
}
