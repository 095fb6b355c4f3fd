/* store.h - the personal store: the record of collections, documents,
 * chunks and lineage in SQLite (db.c, the only user of SQLite), personal
 * text and vectors sealed with AES-256-GCM (seal.c, the only user of
 * mbedTLS), named blobs (the faiss index files) written by the atomic file
 * protocol under a checksummed manifest (atomic.c), and an in-memory FTS5
 * table for lexical search, rebuilt from the record at open so that no
 * plaintext index touches the disk. One thread at a time (the caller
 * serialises); every write is durable when the call returns 0. */
#ifndef ED_STORE_STORE_H
#define ED_STORE_STORE_H

#include "core/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ed_store ed_store_t;

#define ED_STORE_NAME_MAX 128 /* bytes of a collection name */

/* Opens (creating when absent) STATE_DIR/edged.db and STATE_DIR/index/.
 * The key that wraps the data key comes from $CREDENTIALS_DIRECTORY/edged-key
 * when that file exists (systemd LoadCredentialEncrypted=), else from
 * key_file, else STATE_DIR/key; a missing key file is created with 32 random
 * bytes, mode 0600. A wrong key is ED_EACCES ("the data key does not unwrap:
 * wrong key file?"). Returns 0 or an ED_E* code with err. */
int ed_store_open(ed_store_t **out, const char *state_dir, const char *key_file, char err[ED_ERR_LEN]);
void ed_store_close(ed_store_t *store); /* accepts NULL */

/* After an fsync (or other write) failure the store turns read-only: every
 * write then returns ED_EREADONLY and `why` says what failed first. */
bool ed_store_read_only(const ed_store_t *store, const char **why);

/* Bumped by every committed change to chunks (add or delete); saved with
 * each blob so a stale index file is recognised at start. */
int64_t ed_store_generation(const ed_store_t *store);
/* The same for one collection: bumped by every committed change to its
 * chunks, so its index file is stale only when it changed. 0 or an error. */
int ed_store_collection_generation(ed_store_t *store, int64_t id, int64_t *out, char err[ED_ERR_LEN]);

/* ---- collections ---- */
typedef struct {
    int64_t id;
    char name[ED_STORE_NAME_MAX];
    uint32_t owner_uid;  /* the peer that created it */
    char allow[512];     /* extra readers: "uid:N gid:N ..." ("" = owner only; "*" = anyone) */
    char embedder[64];   /* what built its vectors, e.g. "hash-v1-384", "model:bge-small-en-v1.5" */
    int dim;             /* vector width */
    int64_t n_documents;
    int64_t n_chunks;
} ed_collection_t;

/* Finds collection `name`; absent: ED_ENOENT. */
int ed_store_collection_get(ed_store_t *store, const char *name, ed_collection_t *out, char err[ED_ERR_LEN]);
/* Finds it by id. */
int ed_store_collection_by_id(ed_store_t *store, int64_t id, ed_collection_t *out, char err[ED_ERR_LEN]);
/* Creates collection `name` (owner, embedder, dim); ED_EEXIST if it exists. */
int ed_store_collection_create(ed_store_t *store, const char *name, uint32_t owner_uid,
                               const char *embedder, int dim, ed_collection_t *out, char err[ED_ERR_LEN]);
/* Replaces the allow list. */
int ed_store_collection_set_allow(ed_store_t *store, int64_t id, const char *allow, char err[ED_ERR_LEN]);
/* Records a new embedder/dim for a collection (before a re-index). */
int ed_store_collection_set_embedder(ed_store_t *store, int64_t id, const char *embedder, int dim,
                                     char err[ED_ERR_LEN]);
/* A re-embedding: replaces the vectors of the collection's chunks
 * chunk_ids[0..n) (every one of them) with vectors (n, dim) and records the
 * new embedder and dim, all in one transaction, which also drops the
 * collection's kept vectors (below). ED_EINVAL when n is not the
 * collection's chunk count. */
int ed_store_collection_revector(ed_store_t *store, int64_t id, const char *embedder, int dim,
                                 const int64_t *chunk_ids, const float *vectors, int64_t n, char err[ED_ERR_LEN]);
/* Every collection, for listing and rebuilding: fn returns non-zero to stop. */
int ed_store_collections_foreach(ed_store_t *store, int (*fn)(const ed_collection_t *c, void *arg),
                                 void *arg, char err[ED_ERR_LEN]);

/* ---- documents and chunks ---- */
typedef struct {
    size_t offset, len; /* bytes of the document's text this chunk covers */
    int n_tokens;
    const float *vector; /* (collection dim) */
    size_t context_offset, context_len; /* the heading embedded with it (in the text; len 0: none) */
} ed_chunk_in_t;

typedef struct {
    int64_t collection_id;
    const char *title, *source; /* NUL-terminated; may be "" */
    const char *metadata_json;  /* a JSON object's text, or NULL */
    const char *text;           /* the document's text (after markup stripping) */
    size_t text_len;
    const ed_chunk_in_t *chunks;
    int n_chunks;
    int n_tokens; /* of the whole text */
    bool force;   /* replace what its source holds even when the content is the same */
} ed_document_in_t;

#define ED_STORE_SOURCE_MAX 1024 /* bytes of a document's source, at most */

/* What storing a document did. A document with a source (not "") is the
 * collection's only one of that source: storing it again with the same
 * content (title, metadata, text) leaves the stored one as it is; with other
 * content (or force) replaces it in place: same id, version + 1, its old
 * chunks, vectors and lexical rows gone and the adapters trained on it
 * marked stale, as a deletion does. Without a source it is always added. */
typedef enum { ED_DOCUMENT_ADDED, ED_DOCUMENT_UNCHANGED, ED_DOCUMENT_REPLACED } ed_document_outcome_t;
typedef struct {
    int64_t id;
    int version;                   /* of the stored document: 1, then one more per replacement */
    ed_document_outcome_t outcome;
    int n_chunks, n_tokens;        /* of the stored document (unchanged: the one kept) */
    int n_old_chunks;              /* replaced: chunks ed_chunk_id(id, 0 .. n-1) the index must drop */
} ed_document_put_t;

/* Stores documents in one transaction (all or none; a crash leaves every
 * replaced document's old or new version, never a mix). Text, title, source,
 * metadata, chunk text and vectors are sealed; the source is found by a
 * keyed digest of it and the content compared by a keyed digest of it
 * (ed_seal_mac), so neither is on disk in the clear nor as a plain hash; the
 * FTS5 table learns the chunks. results[i] says what happened to document
 * i; chunk ids are (document id, chunk index) pairs, see ed_chunk_id. Two
 * documents of one call with the same source are stored in order (the
 * second finds the first). */
int ed_store_documents_put(ed_store_t *store, const ed_document_in_t *docs, int n_docs, ed_document_put_t *results,
                           char err[ED_ERR_LEN]);
/* ed_store_documents_put with only the ids (bulk loads, tests). */
int ed_store_documents_add(ed_store_t *store, const ed_document_in_t *docs, int n_docs, int64_t *ids_out,
                           char err[ED_ERR_LEN]);
/* What ed_store_documents_put would do with doc now, without writing: 0 with
 * *out (UNCHANGED or REPLACED, the stored document's id, version and counts)
 * when a document of the collection has its source; ED_ENOENT when none has
 * (or doc has no source). Lets the caller skip embedding an unchanged one. */
int ed_store_document_match(ed_store_t *store, const ed_document_in_t *doc, ed_document_put_t *out,
                            char err[ED_ERR_LEN]);

/* A chunk's global id as used in the vector index: doc_id * 65536 + index. */
static inline int64_t ed_chunk_id(int64_t doc_id, int index)
{
    return doc_id * 65536 + index;
}
#define ED_STORE_MAX_CHUNKS_PER_DOC 65536

typedef struct {
    int64_t id;
    int64_t collection_id;
    char *title, *source, *metadata_json; /* unsealed copies, malloc'd */
    char *text;                           /* only when asked for; malloc'd */
    size_t text_len;
    int n_chunks;
    int n_tokens;
    int version;     /* 1, then one more per replacement */
    int64_t created; /* unix seconds */
} ed_document_t;
void ed_document_free(ed_document_t *doc); /* frees the strings, not doc */

/* One document; with_text also unseals its text. Absent: ED_ENOENT. A seal
 * that fails to open is ED_ECORRUPT naming the record. */
int ed_store_document_get(ed_store_t *store, int64_t id, bool with_text, ed_document_t *out,
                          char err[ED_ERR_LEN]);
/* Up to `limit` documents with id > after_id, ascending, of one collection
 * (collection_id > 0) or of every collection; *n_out filled. Text not included. */
int ed_store_documents_list(ed_store_t *store, int64_t collection_id, int64_t after_id, int limit,
                            ed_document_t *out, int *n_out, char err[ED_ERR_LEN]);
/* Deletes a document, its chunks and its text (secure_delete, WAL truncated),
 * and marks adapters trained on it stale. *n_chunks_out: how many chunk ids
 * (ed_chunk_id(id, 0 .. n-1)) the index must drop. */
int ed_store_document_delete(ed_store_t *store, int64_t id, int *n_chunks_out, char err[ED_ERR_LEN]);

typedef struct {
    int64_t chunk_id, doc_id;
    int index;
    size_t offset, len; /* into the document's text */
    int n_tokens;
    size_t context_offset, context_len; /* the heading embedded with it, in the document's text */
    char *text;  /* unsealed, malloc'd, NUL-terminated */
    char *title; /* the document's, malloc'd */
} ed_chunk_t;
void ed_chunk_free(ed_chunk_t *chunk);
int ed_store_chunk_get(ed_store_t *store, int64_t chunk_id, ed_chunk_t *out, char err[ED_ERR_LEN]);

/* A re-embedding under way keeps what it has done, so that a stop (or a
 * crash) costs only the work since the last keep: vectors (n, dim) of
 * chunk_ids[0..n) for `embedder`, sealed, in one transaction. */
int ed_store_reembed_keep(ed_store_t *store, int64_t collection_id, const char *embedder, int dim,
                          const int64_t *chunk_ids, const float *vectors, int n, char err[ED_ERR_LEN]);
/* The kept vectors of the collection made by `embedder` (dim wide): fn gets
 * each unsealed and returns non-zero to stop. A seal that fails is
 * ED_ECORRUPT. */
int ed_store_reembed_foreach(ed_store_t *store, int64_t collection_id, const char *embedder, int dim,
                             int (*fn)(int64_t chunk_id, const float *vector, int dim, void *arg), void *arg,
                             char err[ED_ERR_LEN]);

/* Every chunk's vector in a collection (for rebuilding its index): fn gets
 * unsealed vectors and returns non-zero to stop. An unknown collection is
 * ED_ENOENT; a vector whose seal fails is ED_ECORRUPT (the walk stops). */
int ed_store_vectors_foreach(ed_store_t *store, int64_t collection_id,
                             int (*fn)(int64_t chunk_id, const float *vector, int dim, void *arg), void *arg,
                             char err[ED_ERR_LEN]);

/* BM25 over the in-memory FTS5 table, restricted to the given collections;
 * best first (score: higher is better, i.e. -bm25()). The query is plain
 * text: it is split into terms and quoted, never parsed as FTS5 syntax.
 * No collections (n_collections 0) or no word in the query: no hits. */
typedef struct {
    int64_t chunk_id;
    double score;
} ed_lexical_hit_t;
int ed_store_lexical_search(ed_store_t *store, const char *query, const int64_t *collection_ids,
                            int n_collections, int top_k, ed_lexical_hit_t *hits, int *n_hits,
                            char err[ED_ERR_LEN]);

/* Chunks of every collection whose title or text holds term (one word,
 * lower case; the lexical index's document frequency); 0 when none. */
int ed_store_lexical_term_chunks(ed_store_t *store, const char *term, int64_t *n_chunks, char err[ED_ERR_LEN]);

/* ---- lineage (documents -> adapters; the adaptation issues fill it) ---- */
int ed_store_lineage_add(ed_store_t *store, const char *adapter_id, int64_t doc_id, char err[ED_ERR_LEN]);
/* Whether adapter_id was marked stale by a deletion. */
int ed_store_adapter_stale(ed_store_t *store, const char *adapter_id, bool *stale, char err[ED_ERR_LEN]);

/* ---- adapters (the registry's record: rows and sealed files) ---- */
typedef struct {
    char id[32];          /* "ad-" + 12 hex digits, random */
    char name[128];
    int version;          /* 1, 2, ... per name, never reused */
    char fingerprint[32]; /* of the base it was loaded against */
    int rank;             /* largest rank of its matrices */
    bool has_alpha;
    float alpha;
    char targets[160];    /* "attn_q,attn_k,..." */
    int64_t size;         /* bytes of the plain GGUF */
    int64_t created;      /* unix seconds */
    char source[16];      /* "imported" or "trained" */
    char status[16];      /* "ready" or "failed" (active, stale, incompatible are derived) */
} ed_adapter_row_t;

/* Opens only the record the adapter registry needs (edged.db and the data
 * key; no lexical table, no index files) beside the store ed_store_open
 * opened, which must have opened once already (it makes the data key and
 * runs the migrations). Its own SQLite connection: the two may be used from
 * different threads, each by one thread at a time. */
int ed_store_open_adapters(ed_store_t **out, const char *state_dir, const char *key_file, char err[ED_ERR_LEN]);
/* Stores a new adapter: row->name, fingerprint, rank, alpha, targets,
 * source and status are the caller's; id, version, size and created are
 * filled in. The plain GGUF (len bytes) is sealed (identity "adapter:ID")
 * and written to STATE_DIR/adapters/ID by the atomic protocol before the
 * row is committed, so a crash leaves at worst an orphan file. */
int ed_store_adapter_add(ed_store_t *store, ed_adapter_row_t *row, const void *gguf, size_t len,
                         char err[ED_ERR_LEN]);
/* Every row (malloc'd, by name then version). */
int ed_store_adapters_list(ed_store_t *store, ed_adapter_row_t **rows, int *n, char err[ED_ERR_LEN]);
/* The plain GGUF of adapter id (malloc'd). ED_ENOENT, ED_ECORRUPT (the seal
 * does not open). */
int ed_store_adapter_read(ed_store_t *store, const char *id, void **data, size_t *len, char err[ED_ERR_LEN]);
/* Deletes the row and its file (and the active mark when it was active). */
int ed_store_adapter_delete(ed_store_t *store, const char *id, char err[ED_ERR_LEN]);
/* The active adapter's id ("" for none), persisted in meta. */
int ed_store_adapter_get_active(ed_store_t *store, char id[32], char err[ED_ERR_LEN]);
int ed_store_adapter_set_active(ed_store_t *store, const char *id, char err[ED_ERR_LEN]);

/* ---- adapt jobs (the persistent queue; store_jobs.c) ---- */
#define ED_ADAPT_JOB_ID_LEN 24 /* "job-" + 16 hex digits, NUL */

/* One job's row. The request (collections, options) is kept in the clear:
 * collection names and training options are not personal text; the
 * examples (chat text), the loss history and the ids of the documents its
 * checkpoint learnt from are sealed and travel apart. */
typedef struct {
    char id[ED_ADAPT_JOB_ID_LEN];
    uint32_t owner_uid;
    char name[128];         /* of the adapter it makes */
    char collections[1024]; /* a JSON array of collection names */
    char options[2048];     /* a JSON object: the training options as requested, defaults filled */
    char state[24];         /* queued, waiting_for_window, running, paused, done, failed, cancelled */
    char reason[256];       /* why it is in that state ("" none) */
    int64_t created, updated; /* unix seconds */
    int64_t step, max_steps, tokens, best_step;
    double elapsed_s;       /* seconds of training so far */
    double train_loss, heldout_loss, best_heldout_loss; /* nats per token; NAN: none yet */
    double eta_s;           /* NAN: unknown */
    char adapter_id[32];    /* the adapter it produced ("" none yet) */
} ed_adapt_job_t;

/* Whether state is final (done, failed, cancelled). */
bool ed_adapt_job_final(const char *state);

/* Records a new job: job->owner_uid, name, collections, options, state,
 * reason and max_steps are the caller's; id, created and updated are filled
 * in, progress zeroed. examples (len bytes, may be NULL) is sealed
 * (identity "job:ID:examples"). */
int ed_store_job_create(ed_store_t *store, ed_adapt_job_t *job, const void *examples, size_t len, char err[ED_ERR_LEN]);
/* One job; absent: ED_ENOENT. */
int ed_store_job_get(ed_store_t *store, const char *id, ed_adapt_job_t *out, char err[ED_ERR_LEN]);
/* Every job, oldest first (malloc'd rows). */
int ed_store_jobs_list(ed_store_t *store, ed_adapt_job_t **jobs, int *n, char err[ED_ERR_LEN]);
/* Writes the job's state, reason, progress and adapter id (updated = now). */
int ed_store_job_update(ed_store_t *store, ed_adapt_job_t *job, char err[ED_ERR_LEN]);
/* The loss history (opaque bytes, sealed as "job:ID:history"). */
int ed_store_job_set_history(ed_store_t *store, const char *id, const void *data, size_t len, char err[ED_ERR_LEN]);
/* The sealed examples or history, unsealed into a malloc'd *data (NULL, 0:
 * none). ED_ENOENT (no job), ED_ECORRUPT (the seal does not open). */
int ed_store_job_examples(ed_store_t *store, const char *id, void **data, size_t *len, char err[ED_ERR_LEN]);
int ed_store_job_history(ed_store_t *store, const char *id, void **data, size_t *len, char err[ED_ERR_LEN]);
/* The documents the job's checkpoint learnt from (its last dataset's), n
 * ids, sealed as "job:ID:docs" with the row. Read back: *ids malloc'd and
 * *known true, or *ids NULL and *known false when none were stored (a job
 * of an older edged, or not run yet). ED_ENOENT (no job). */
int ed_store_job_set_docs(ed_store_t *store, const char *id, const int64_t *ids, int n, char err[ED_ERR_LEN]);
int ed_store_job_docs(ed_store_t *store, const char *id, int64_t **ids, int *n, bool *known, char err[ED_ERR_LEN]);
/* Deletes the row (its sealed fields with it, secure_delete). ED_ENOENT. */
int ed_store_job_delete(ed_store_t *store, const char *id, char err[ED_ERR_LEN]);
/* Jobs not in a final state. */
int ed_store_jobs_unfinished(ed_store_t *store, int *n, char err[ED_ERR_LEN]);

/* ---- training checkpoints (store_checkpoints.c) ---- */
/* A name: 1 to ED_STORE_CHECKPOINT_NAME_MAX - 1 bytes of [A-Za-z0-9._-], not
 * starting with '.' nor ending in ".tmp"; others are ED_EINVAL. Both an
 * ed_store_open and an ed_store_open_adapters store serve them. */
#define ED_STORE_CHECKPOINT_NAME_MAX 65
/* Seals len bytes (identity "checkpoint:NAME") and writes them to
 * STATE_DIR/checkpoints/NAME by the atomic protocol, replacing the one
 * before: a crash leaves the old or the new checkpoint, whole. */
int ed_store_checkpoint_save(ed_store_t *store, const char *name, const void *data, size_t len,
                             char err[ED_ERR_LEN]);
/* The unsealed bytes of checkpoint NAME (*data malloc'd). ED_ENOENT (none),
 * ED_ECORRUPT (the seal does not open: damaged, or another store's). */
int ed_store_checkpoint_load(ed_store_t *store, const char *name, void **data, size_t *len, char err[ED_ERR_LEN]);
/* Removes checkpoint NAME; ED_ENOENT when there is none. */
int ed_store_checkpoint_delete(ed_store_t *store, const char *name, char err[ED_ERR_LEN]);
/* Every checkpoint: fn gets its name and sealed size, returns non-zero to stop. */
int ed_store_checkpoints_foreach(ed_store_t *store, int (*fn)(const char *name, int64_t size, void *arg), void *arg,
                                 char err[ED_ERR_LEN]);

/* ---- sealed blobs (index files) ---- */
/* Seals bytes and writes STATE_DIR/index/NAME by the atomic protocol (tmp,
 * fsync, rename, fsync dir), then records NAME's SHA-256, size and
 * `generation` in the manifest (written the same way). */
int ed_store_blob_save(ed_store_t *store, const char *name, const void *data, size_t len,
                       int64_t generation, char err[ED_ERR_LEN]);
/* Loads and unseals NAME, verifying it against the manifest. ED_ENOENT
 * (absent), ED_ECORRUPT (checksum or seal mismatch); *generation is what was
 * saved with it. *data is malloc'd. */
int ed_store_blob_load(ed_store_t *store, const char *name, void **data, size_t *len, int64_t *generation,
                       char err[ED_ERR_LEN]);

#endif
