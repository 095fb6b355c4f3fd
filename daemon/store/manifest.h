/* manifest.h - index/MANIFEST: the list of live blob files with each one's
 * size, SHA-256 (of the bytes on disk) and generation, as JSON carrying a
 * SHA-256 of its own content; written by the atomic protocol (atomic.c). */
#ifndef ED_STORE_MANIFEST_H
#define ED_STORE_MANIFEST_H

#include "core/error.h"

#include <stdint.h>

#define ED_MANIFEST_NAME_MAX 128 /* bytes of a blob name, NUL included */

typedef struct {
    char name[ED_MANIFEST_NAME_MAX]; /* file name under index/ */
    int64_t size;                    /* bytes of the file on disk */
    char sha256[65];                 /* of the file's bytes, lowercase hex */
    int64_t generation;              /* the store generation saved with it */
} ed_manifest_entry_t;

typedef struct {
    ed_manifest_entry_t *entries; /* (n_entries), malloc'd */
    int n_entries;
} ed_manifest_t;

/* Loads the manifest at path into m (zeroed first). An absent file is an
 * empty manifest; a malformed one or one whose checksum does not match is
 * ED_ECORRUPT with err, and m is left empty. */
int ed_manifest_load(ed_manifest_t *m, const char *path, char err[ED_ERR_LEN]);
/* Writes m to path by the atomic protocol. */
int ed_manifest_save(const ed_manifest_t *m, const char *path, char err[ED_ERR_LEN]);
/* The entry named name, or NULL. */
const ed_manifest_entry_t *ed_manifest_find(const ed_manifest_t *m, const char *name);
/* Adds entry e, or replaces the entry of the same name. */
int ed_manifest_set(ed_manifest_t *m, const ed_manifest_entry_t *e);
void ed_manifest_free(ed_manifest_t *m); /* leaves m empty */

#endif
