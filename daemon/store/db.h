/* db.h - the record in SQLite (the only user of SQLite): edged.db in WAL
 * mode with synchronous=FULL and secure_delete, its schema and migrations,
 * prepared statements over collections, documents, chunks, lineage and
 * meta, and the in-memory FTS5 table (an attached :memory: database, so no
 * plaintext index reaches the disk). Sealed columns arrive and leave as
 * opaque bytes: sealing is store.c's business. */
#ifndef ED_STORE_DB_H
#define ED_STORE_DB_H

#include "store/store.h"

typedef struct ed_db ed_db_t;

#define ED_DB_SCHEMA_VERSION 6
#define ED_DB_KEY_LEN 32 /* bytes of a source key or content digest (ED_SEAL_MAC_LEN) */

typedef struct {
    void *data; /* malloc'd (NULL for a NULL column) */
    size_t len; /* bytes */
} ed_db_bytes_t;

/* Opens (creating) the database at path and migrates it to
 * ED_DB_SCHEMA_VERSION. */
int ed_db_open(ed_db_t **out, const char *path, char err[ED_ERR_LEN]);
void ed_db_close(ed_db_t *db); /* accepts NULL */

/* Transactions: begin, commit (durable when 0 is returned), rollback. */
int ed_db_begin(ed_db_t *db, char err[ED_ERR_LEN]);
int ed_db_commit(ed_db_t *db, char err[ED_ERR_LEN]);
void ed_db_rollback(ed_db_t *db);
/* Checkpoints the WAL into the database and truncates it to zero bytes. */
int ed_db_checkpoint(ed_db_t *db, char err[ED_ERR_LEN]);

/* meta: small named values. Absent: ED_ENOENT. */
int ed_db_meta_get(ed_db_t *db, const char *key, ed_db_bytes_t *out, char err[ED_ERR_LEN]);
int ed_db_meta_set(ed_db_t *db, const char *key, const void *value, size_t len, char err[ED_ERR_LEN]);
/* Generation counters: the store's (collection_id 0) or one collection's;
 * 0 until first bumped. */
int ed_db_generation(ed_db_t *db, int64_t collection_id, int64_t *out, char err[ED_ERR_LEN]);
/* Adds one to a generation (inside the caller's transaction). */
int ed_db_generation_bump(ed_db_t *db, int64_t collection_id, int64_t *out, char err[ED_ERR_LEN]);

/* collections (no sealed fields). */
int ed_db_collection_get(ed_db_t *db, const char *name, int64_t id, ed_collection_t *out, char err[ED_ERR_LEN]);
int ed_db_collection_create(ed_db_t *db, const char *name, uint32_t owner_uid, const char *embedder, int dim,
                            int64_t created, int64_t *id, char err[ED_ERR_LEN]);
int ed_db_collection_set_allow(ed_db_t *db, int64_t id, const char *allow, char err[ED_ERR_LEN]);
int ed_db_collection_set_embedder(ed_db_t *db, int64_t id, const char *embedder, int dim, char err[ED_ERR_LEN]);
/* Every collection by id; fn returns non-zero to stop (the walk returns 0). */
int ed_db_collections_foreach(ed_db_t *db, int (*fn)(const ed_collection_t *c, void *arg), void *arg,
                              char err[ED_ERR_LEN]);

/* documents: a row without its sealed fields first (the id names them),
 * then the sealed fields. */
typedef struct {
    int64_t id, collection_id, created;
    int n_chunks, n_tokens;
    int version; /* 1, then one more per replacement */
    ed_db_bytes_t title, source, metadata, text; /* sealed */
} ed_db_document_t;
void ed_db_document_free(ed_db_document_t *doc);

int ed_db_document_insert(ed_db_t *db, int64_t collection_id, int64_t created, int n_chunks, int n_tokens,
                          int64_t *id, char err[ED_ERR_LEN]);
int ed_db_document_seal(ed_db_t *db, int64_t id, const ed_db_bytes_t *title, const ed_db_bytes_t *source,
                        const ed_db_bytes_t *metadata, const ed_db_bytes_t *text, char err[ED_ERR_LEN]);
/* One document's row; text only when with_text. Absent: ED_ENOENT. */
int ed_db_document_get(ed_db_t *db, int64_t id, bool with_text, ed_db_document_t *out, char err[ED_ERR_LEN]);
/* Up to limit rows (no text) with id > after_id, ascending; collection_id 0
 * means every collection. */
int ed_db_documents_list(ed_db_t *db, int64_t collection_id, int64_t after_id, int limit, ed_db_document_t *out,
                         int *n_out, char err[ED_ERR_LEN]);
/* Deletes the document, its chunks and its FTS rows, marks the adapters in
 * its lineage stale (inside the caller's transaction). Absent: ED_ENOENT. */
int ed_db_document_delete(ed_db_t *db, int64_t id, int64_t now, int *n_chunks, char err[ED_ERR_LEN]);

/* A replacement's record part (inside the caller's transaction): drops the
 * document's chunks, kept vectors and lexical rows and the lineage of the
 * adapters trained on it, marking them stale, as a deletion does; keeps the
 * row (its id) with one more version and the new counts. *n_old_chunks: the
 * chunks that went. Absent: ED_ENOENT. */
int ed_db_document_renew(ed_db_t *db, int64_t id, int n_chunks, int n_tokens, int64_t now, int *n_old_chunks,
                         char err[ED_ERR_LEN]);
/* The document of a collection whose source_key is the given one. Absent:
 * ED_ENOENT. */
typedef struct {
    int64_t id;
    int version, n_chunks, n_tokens;
    bool has_content_mac; /* false for a row of an older schema not yet digested */
    uint8_t content_mac[ED_DB_KEY_LEN];
} ed_db_source_match_t;
int ed_db_document_by_source(ed_db_t *db, int64_t collection_id, const uint8_t source_key[ED_DB_KEY_LEN],
                             ed_db_source_match_t *out, char err[ED_ERR_LEN]);
/* Records a document's source key (NULL: it has no source) and content
 * digest. A source key another document of the collection has: ED_EEXIST. */
int ed_db_document_set_keys(ed_db_t *db, int64_t id, const uint8_t *source_key,
                            const uint8_t content_mac[ED_DB_KEY_LEN], char err[ED_ERR_LEN]);
/* Every document without a content digest (rows of schema 2), with its text,
 * by id; fn returns non-zero to stop (the walk then returns 0). */
int ed_db_documents_undigested(ed_db_t *db, int (*fn)(const ed_db_document_t *doc, void *arg), void *arg,
                               char err[ED_ERR_LEN]);

/* chunks */
int ed_db_chunk_insert(ed_db_t *db, int64_t doc_id, int index, int64_t collection_id, size_t offset, size_t len,
                       int n_tokens, size_t context_offset, size_t context_len, const ed_db_bytes_t *text,
                       const ed_db_bytes_t *vector, char err[ED_ERR_LEN]);
typedef struct {
    int64_t doc_id;
    int index;
    size_t offset, len;
    int n_tokens;
    size_t context_offset, context_len; /* the heading embedded with it, in the document's text */
    ed_db_bytes_t text, title; /* sealed: the chunk's text, the document's title */
} ed_db_chunk_t;
/* Replaces a chunk's sealed vector (a re-embedding). ED_ENOENT when absent. */
int ed_db_chunk_set_vector(ed_db_t *db, int64_t doc_id, int index, const ed_db_bytes_t *vector,
                           char err[ED_ERR_LEN]);
void ed_db_chunk_free(ed_db_chunk_t *chunk);

/* The vectors of a re-embedding under way, kept so that a stopped one
 * resumes (one row per chunk; a later embedder's replaces it). */
int ed_db_reembed_put(ed_db_t *db, int64_t doc_id, int index, int64_t collection_id, const char *embedder,
                      const ed_db_bytes_t *vector, char err[ED_ERR_LEN]);
/* Every row of the collection and embedder, in (doc, index) order; fn gets
 * the sealed vector and returns non-zero to stop. */
int ed_db_reembed_foreach(ed_db_t *db, int64_t collection_id, const char *embedder,
                          int (*fn)(int64_t doc_id, int index, const void *sealed, size_t len, void *arg),
                          void *arg, char err[ED_ERR_LEN]);
/* Drops the collection's rows (the re-embedding is recorded, or abandoned). */
int ed_db_reembed_clear(ed_db_t *db, int64_t collection_id, char err[ED_ERR_LEN]);
int ed_db_chunk_get(ed_db_t *db, int64_t doc_id, int index, ed_db_chunk_t *out, char err[ED_ERR_LEN]);
/* Every chunk of a collection (collection_id 0: of all), in (doc, index)
 * order: fn gets the sealed text or vector (the other is NULL) and returns
 * non-zero to stop (the walk then returns 0). */
int ed_db_chunks_foreach(ed_db_t *db, int64_t collection_id, bool vectors,
                         int (*fn)(int64_t doc_id, int index, int64_t collection_id, const void *sealed,
                                   size_t len, void *arg),
                         void *arg, char err[ED_ERR_LEN]);

/* The in-memory FTS5 table: a chunk's text, with its document's title. */
int ed_db_lexical_add(ed_db_t *db, int64_t chunk_id, int64_t collection_id, const char *title, const char *text,
                      size_t len, char err[ED_ERR_LEN]);
/* BM25 over the table, restricted to the collections; query is plain text. */
int ed_db_lexical_search(ed_db_t *db, const char *query, const int64_t *collection_ids, int n_collections,
                         int top_k, ed_lexical_hit_t *hits, int *n_hits, char err[ED_ERR_LEN]);

/* Rows of the table (of every collection) whose title or text holds term
 * (one token, lower case, without diacritics); 0 when none. */
int ed_db_lexical_term_rows(ed_db_t *db, const char *term, int64_t *n_rows, char err[ED_ERR_LEN]);

/* lineage */
int ed_db_lineage_add(ed_db_t *db, const char *adapter_id, int64_t doc_id, char err[ED_ERR_LEN]);
int ed_db_adapter_stale(ed_db_t *db, const char *adapter_id, bool *stale, char err[ED_ERR_LEN]);

/* adapters (the registry's rows; the files are store.c's). */
int ed_db_adapter_insert(ed_db_t *db, const ed_adapter_row_t *row, char err[ED_ERR_LEN]);
/* The next version of name: one more than the largest it has had (1: none). */
int ed_db_adapter_next_version(ed_db_t *db, const char *name, int *out, char err[ED_ERR_LEN]);
/* Every row, by name then version; *out malloc'd (*n rows). */
int ed_db_adapters_list(ed_db_t *db, ed_adapter_row_t **out, int *n, char err[ED_ERR_LEN]);
/* Absent: ED_ENOENT. */
int ed_db_adapter_delete(ed_db_t *db, const char *id, char err[ED_ERR_LEN]);

/* adapt jobs (db_jobs.c): the row without its sealed fields (examples,
 * history, document ids), which travel as opaque bytes. */
typedef enum { ED_DB_JOB_EXAMPLES, ED_DB_JOB_HISTORY, ED_DB_JOB_DOCS } ed_db_job_sealed_t;
int ed_db_job_insert(ed_db_t *db, const ed_adapt_job_t *job, const ed_db_bytes_t *examples, char err[ED_ERR_LEN]);
/* Absent: ED_ENOENT. */
int ed_db_job_get(ed_db_t *db, const char *id, ed_adapt_job_t *out, char err[ED_ERR_LEN]);
/* Every row in creation order; *out malloc'd (*n rows). */
int ed_db_jobs_list(ed_db_t *db, ed_adapt_job_t **out, int *n, char err[ED_ERR_LEN]);
/* Writes state, reason, progress, adapter id and updated. Absent: ED_ENOENT. */
int ed_db_job_update(ed_db_t *db, const ed_adapt_job_t *job, char err[ED_ERR_LEN]);
/* Writes the sealed history or document ids (not the examples: they come with the row). Absent: ED_ENOENT. */
int ed_db_job_set_sealed(ed_db_t *db, const char *id, ed_db_job_sealed_t column, const ed_db_bytes_t *bytes,
                         char err[ED_ERR_LEN]);
/* A sealed column; NULL stays NULL. Absent: ED_ENOENT. */
int ed_db_job_sealed(ed_db_t *db, const char *id, ed_db_job_sealed_t column, ed_db_bytes_t *out,
                     char err[ED_ERR_LEN]);
int ed_db_job_delete(ed_db_t *db, const char *id, char err[ED_ERR_LEN]);
/* Rows not in a final state (done, failed, cancelled). */
int ed_db_jobs_unfinished(ed_db_t *db, int *n, char err[ED_ERR_LEN]);

#endif
