/* info.h - `edged model-info FILE [--ctx N]`: a human-readable summary of a
 * GGUF model (architecture, hyper-parameters, tokenizer, tensors, totals per
 * type) and the memory it needs at a context length. Reads through the
 * validated reader of gguf.h; prints nothing of a file it rejects. */
#ifndef ED_CLI_INFO_H
#define ED_CLI_INFO_H

#include "core/error.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* Prints the summary of the GGUF file at `path` to `out`, ending with whether
 * edged can serve it (the daemon's loaders are run on it). n_ctx: the
 * context length (tokens) for the memory estimate; 0 takes the model's own
 * `<arch>.context_length`. Returns 0 when edged can serve it; the reader's
 * ED_E* code with `err` when the file was rejected (nothing is printed then);
 * or the loader's code with `err` when the summary was printed but edged
 * cannot serve the model. */
int ed_model_info_print(FILE *out, const char *path, uint32_t n_ctx, char err[ED_ERR_LEN]);

/* Whether the daemon's loaders accept the GGUF file at `path` in its role:
 * a chat model ([model] path) or, with `embedding`, the store's embedding
 * model (rag.embedding_model). Returns 0, or the reader's / loader's code
 * (ED_EINVAL for the wrong role) with `why` naming the file. */
int ed_info_check_servable(const char *path, bool embedding, char why[ED_ERR_LEN]);

/* `edged model-info FILE [--ctx N]` (argv[0] is "model-info"). Returns the
 * exit status: 0 (edged can serve it), 1 (it cannot, or no GGUF), 2 (bad
 * arguments). */
int ed_info_main(int argc, char **argv);

#endif
