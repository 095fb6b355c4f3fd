/* store_internal.h - what store.c shares with store_documents.c and
 * store_adapters.c: the store's state, record identities for sealing, and
 * the helpers that seal, unseal and turn the store read-only after a failed
 * write. Only store*.c include it. */
#ifndef ED_STORE_STORE_INTERNAL_H
#define ED_STORE_STORE_INTERNAL_H

#include "store/store.h"

#include "store/db.h"
#include "store/manifest.h"
#include "store/seal.h"

#include <limits.h>

#define IDENTITY_LEN 192 /* bytes of a record identity ("chunk:42:3:text") */

struct ed_store {
    char index_dir[PATH_MAX];     /* STATE_DIR/index */
    char adapters_dir[PATH_MAX];  /* STATE_DIR/adapters */
    char checkpoints_dir[PATH_MAX]; /* STATE_DIR/checkpoints (store_checkpoints.c; made on first save) */
    bool adapters_only;           /* ed_store_open_adapters: the record and the key, nothing else */
    char manifest_path[PATH_MAX]; /* STATE_DIR/index/MANIFEST */
    ed_db_t *db;
    ed_seal_t *seal;
    ed_manifest_t manifest;          /* as on disk */
    bool manifest_corrupt;           /* manifest_why says how; saving a blob writes a fresh one */
    char manifest_why[ED_ERR_LEN];
    int64_t generation;              /* committed */
    bool read_only;                  /* a write failed; read_only_why says which */
    char read_only_why[ED_ERR_LEN];
};

int64_t ed__store_now_seconds(void);

/* A write failed with rc: an I/O failure turns the store read-only for good. */
int ed__store_write_failed(ed_store_t *store, int rc, const char *err);

/* 0, or ED_EREADONLY (with why) once a write has failed. */
int ed__store_check_writable(const ed_store_t *store, char err[ED_ERR_LEN]);

/* Says "out of memory"; returns ED_ENOMEM. */
int ed__store_out_of_memory(char err[ED_ERR_LEN]);

/* Seals len bytes into a malloc'd out. */
int ed__store_seal_bytes(ed_store_t *store, const char *identity, const void *data, size_t len, ed_db_bytes_t *out,
                         char err[ED_ERR_LEN]);

/* Unseals a record into a malloc'd, NUL-terminated *out; a NULL column gives
 * NULL when nullable, else it is damage. */
int ed__store_unseal_string(ed_store_t *store, const char *identity, const ed_db_bytes_t *sealed, bool nullable,
                            char **out, size_t *out_len, char err[ED_ERR_LEN]);

/* A sealed file (store_checkpoints.c): seals data under identity and writes
 * it to path by the atomic protocol (mode 0600); reads path back and unseals
 * it into a malloc'd *out (ED_ENOENT, ED_ECORRUPT naming `what`). */
int ed__store_file_seal_write(ed_store_t *store, const char *path, const char *identity, const void *data, size_t len,
                              char err[ED_ERR_LEN]);
int ed__store_file_read_unseal(ed_store_t *store, const char *path, const char *identity, const char *what,
                               void **out, size_t *out_len, char err[ED_ERR_LEN]);

/* The sealing identities of a document's field and of a chunk's field. */
void ed__store_identity_doc(char out[IDENTITY_LEN], int64_t doc_id, const char *field);
void ed__store_identity_chunk(char out[IDENTITY_LEN], int64_t doc_id, int index, const char *field);

/* Checks an embedder name and vector width. */
int ed__store_check_embedder(const char *embedder, int dim, char err[ED_ERR_LEN]);

/* Gives documents stored before schema 3 their source key and content
 * digest (store_documents.c; run at open). */
int ed__store_digest_older_documents(ed_store_t *store, char err[ED_ERR_LEN]);

#endif
