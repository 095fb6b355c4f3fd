/* gguf_check.h - edgectl's own small GGUF reader for `edgectl pull`: is the
 * downloaded file a GGUF model whose every tensor's data lies inside the
 * file? It reads the header, walks the metadata (for general.architecture)
 * and the tensor table, and allocates nothing. The daemon's full validator
 * (daemon/model/gguf.c: types it supports, alignment, duplicates, shapes)
 * still judges the file when it loads it; clients link nothing of the daemon. */
#ifndef ED_EDGECTL_GGUF_CHECK_H
#define ED_EDGECTL_GGUF_CHECK_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t version;       /* 2 or 3 */
    uint64_t n_tensors;
    uint64_t n_kv;          /* metadata entries */
    char architecture[64];  /* general.architecture (cut to 63 bytes), or "" when absent */
} ed_gguf_check_t;

/* Checks the file at path. Returns 0 and fills *out, or -1 with the reason
 * in why[0, why_len) ("truncated in the tensor table", ...). */
int ed_gguf_check_file(const char *path, ed_gguf_check_t *out, char *why, size_t why_len);
/* The same over the file's bytes data[0, size) (the fuzz driver's entry). */
int ed_gguf_check_memory(const void *data, uint64_t size, ed_gguf_check_t *out, char *why, size_t why_len);

#endif
