/* base.h - the one base model: its GGUF file opened and mapped once, its
 * weights loaded and repacked for the kernels (on the shared compute pool)
 * and its vocabulary, lent read-only to every borrower (the engine, the chat
 * embedder, later the trainer) so that none holds a copy of its own. The
 * first borrower that needs it loads it, on its own thread; the others wait
 * (ed_base_load), so that the daemon can serve (/health 503) meanwhile. */
#ifndef ED_MODEL_BASE_H
#define ED_MODEL_BASE_H

#include "core/error.h"
#include "kernels/kernels.h"
#include "kernels/pool.h"
#include "model/gguf.h"
#include "model/model.h"
#include "model/vocab.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct ed_base ed_base_t;

/* A base for the model file at `path`, not loaded yet (no I/O here).
 * `kernels` (NULL: the load fails, naming the CPU) and `pool` must outlive
 * it. Returns 0, or ED_ENOMEM with err. */
int ed_base_open(ed_base_t **out, const char *path, const ed_kernels_t *kernels, ed_pool_t *pool,
                 char err[ED_ERR_LEN]);
/* Releases the mapping and the weights; every borrower must be done with
 * them (their forward passes freed). Accepts NULL. */
void ed_base_close(ed_base_t *base);

/* Makes the model ready, any thread: the first caller loads it (gguf open,
 * ed_model_load, ed_vocab_load, ed_model_repack on the pool), later callers
 * wait for that load to end. Returns 0 once ready; the load's ED_E* code with
 * its reason ("model.gguf: not a GGUF file ...") in err, to every caller,
 * when it failed; ED_ECANCELED when *cancel (may be NULL) became true while
 * this caller waited for another's load. */
int ed_base_load(ed_base_t *base, const _Atomic bool *cancel, char err[ED_ERR_LEN]);

/* Once ed_base_load returned 0 (any thread, read-only; valid until close): */
const ed_model_t *ed_base_model(const ed_base_t *base);
const ed_vocab_t *ed_base_vocab(const ed_base_t *base);
const ed_gguf_t *ed_base_gguf(const ed_base_t *base);
const ed_kernels_t *ed_base_kernels(const ed_base_t *base);
ed_pool_t *ed_base_pool(const ed_base_t *base);
/* At any time: */
const char *ed_base_path(const ed_base_t *base);
int64_t ed_base_mtime(const ed_base_t *base); /* the file's mtime, unix seconds (0: unknown) */

#endif
