/* rag.h - the personal store as a service of the daemon: ingest (markup ->
 * chunks -> vectors -> sealed record -> index), listing, reading, deleting,
 * searching (dense, lexical, hybrid) with per-collection access rules, and
 * the retrieval step of answering with context. Work that touches the disk
 * or embeds runs on one worker (libuv's thread pool, one job at a time,
 * since the store is single-threaded); results come back on the loop thread
 * through the callbacks. Every callback runs on the loop thread exactly once.
 * Each submit returns 0 (its callback follows) or an ED_E* code with err (the
 * callback is never called): bad arguments, a full queue (ED_EBUSY), too
 * many documents; errors found by the worker come through the callback.
 * The index files are caches: at open a missing, stale or corrupt one is
 * rebuilt from the record. */
#ifndef ED_RAG_RAG_H
#define ED_RAG_RAG_H

#include "core/config.h"
#include "core/error.h"
#include "kernels/pool.h"
#include "model/base.h"
#include "rag/markup.h"
#include "rag/retrieve.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct ed_rag ed_rag_t;

/* Who asks: the peer's credentials (SO_PEERCRED). Root may read everything. */
typedef struct {
    uint32_t uid, gid;
} ed_rag_caller_t;

/* Opens the store under cfg->state.directory with cfg->store.key_file, the
 * embedder cfg->rag.embedder names (hash; model with cfg->rag.embedding_model),
 * and every collection's index (rebuilt from the record when missing, stale
 * or corrupt, re-embedded when the record is another embedder's: logged with
 * the reason and progress). That work runs on the worker, so that a large
 * store does not hold the loop thread or delay start-up: ed_rag_open returns
 * at once and on_open(rc, err, arg) follows on the loop thread, exactly
 * once. Until it has, every request is refused with ED_EAGAIN and a line
 * saying what the opening is doing; after a failure, with ED_ESTATE and the
 * reason. ed_rag_close during the opening stops a re-embedding (what it did
 * is kept and the next open resumes from it) and on_open gets ED_ECANCELED.
 * Returns 0 with *out, or ED_ENOMEM (on_open is then never called). */
typedef void (*ed_rag_open_cb)(int rc, const char *err, void *arg);
/* `base` (the chat model, for rag.embedder = chat; NULL without one) and
 * `pool` (the daemon's one compute pool, for rag.embedder = model) are lent
 * and must outlive the store; the opening waits for the base to load. */
int ed_rag_open(ed_rag_t **out, uv_loop_t *loop, const ed_config_t *cfg, ed_base_t *base, ed_pool_t *pool,
                ed_rag_open_cb on_open, void *arg, char err[ED_ERR_LEN]);

typedef enum { ED_RAG_OPENING, ED_RAG_OPEN, ED_RAG_FAILED } ed_rag_state_t;
/* The state; for OPENING what it is doing ("re-embedding collection \"notes\":
 * 120 of 4000 chunks"), for FAILED why. Loop thread. */
ed_rag_state_t ed_rag_state(const ed_rag_t *rag, char reason[ED_ERR_LEN]);

/* Waits for the worker's job in flight, saves nothing new (every write was
 * durable already) and frees. Accepts NULL. */
void ed_rag_close(ed_rag_t *rag);
/* Live reloadable options (top_k, max_context_tokens, max_batch_documents). */
void ed_rag_reconfigure(ed_rag_t *rag, const ed_config_t *cfg);

/* ---- ingest ---- */
#define ED_RAG_SOURCE_MAX 1024 /* bytes of a document's source, at most */

typedef struct {
    const char *title, *source; /* NUL-terminated, may be NULL; source: at most ED_RAG_SOURCE_MAX bytes */
    const char *metadata_json;  /* a JSON object's text or NULL */
    const char *body;           /* len bytes of `kind`; copied at submit */
    size_t len;
    ed_markup_kind_t kind;
    bool force;                 /* replace what its source holds even when the content is the same */
} ed_rag_doc_in_t;

/* What ingesting a document did (with a source; without one it is always
 * ADDED): ADDED a new document; UNCHANGED, its source (in that collection)
 * held the same content (title, metadata, text after markup), which is left
 * as it was, not embedded again; REPLACED, its source held other content (or
 * force was set), replaced in place: the same id, one more version, the old
 * chunks, vectors and lexical rows gone and adapters trained on it stale. */
typedef enum { ED_RAG_ADDED, ED_RAG_UNCHANGED, ED_RAG_REPLACED } ed_rag_outcome_t;
const char *ed_rag_outcome_name(ed_rag_outcome_t outcome); /* "added", "unchanged", "replaced" */

typedef struct {
    int64_t id;
    int n_chunks;
    int n_tokens;
    int version; /* 1, then one more per replacement */
    ed_rag_outcome_t outcome;
} ed_rag_doc_out_t;

/* Adds docs[0..n) to `collection` (created, owned by the caller, when it does
 * not exist; an existing one must be the caller's or allow it), each added,
 * left unchanged or replaced by its source (ed_rag_outcome_t). All or none:
 * cb(0, ...) means every document is durable (a crash the next instant loses
 * none; a replacement leaves the old or the new version, never a mix).
 * Errors, with err naming the document index and the reason ("documents[i]:"
 * or "documents[i].source:"):
 * ED_EFORMAT (invalid UTF-8, NUL, empty text, a source too long: 400), ED_EACCES (403),
 * ED_ETOOBIG (more than rag.max_batch_documents: 413), ED_EREADONLY (507 /
 * 503 with the store's reason), ED_EBUSY (the worker's queue is full: 503). */
typedef void (*ed_rag_ingest_cb)(int rc, const char *err, const ed_rag_doc_out_t *docs, int n, void *arg);
int ed_rag_ingest(ed_rag_t *rag, const ed_rag_caller_t *caller, const char *collection,
                  const ed_rag_doc_in_t *docs, int n, ed_rag_ingest_cb cb, void *arg, char err[ED_ERR_LEN]);

/* ---- documents ---- */
typedef struct {
    int64_t id;
    char collection[128];
    char *title, *source, *metadata_json; /* malloc'd */
    char *text;                           /* with_text only */
    size_t text_len;
    int n_chunks, n_tokens;
    int version; /* 1, then one more per replacement */
    int64_t created;
} ed_rag_doc_t;

typedef void (*ed_rag_docs_cb)(int rc, const char *err, const ed_rag_doc_t *docs, int n, int64_t next_after,
                               void *arg);
/* Lists documents the caller may read, id > after, at most limit (1..1000),
 * of one collection (NULL: every readable one). next_after: the id to pass
 * for the next page, 0 at the end. An unknown collection is ED_ENOENT;
 * another's collection ED_EACCES. */
int ed_rag_list(ed_rag_t *rag, const ed_rag_caller_t *caller, const char *collection, int64_t after, int limit,
                ed_rag_docs_cb cb, void *arg, char err[ED_ERR_LEN]);
/* One document (n = 1), with its text when asked. ED_ENOENT, ED_EACCES,
 * ED_ECORRUPT (its seal does not open: never returned as text). */
int ed_rag_get(ed_rag_t *rag, const ed_rag_caller_t *caller, int64_t id, bool with_text, ed_rag_docs_cb cb,
               void *arg, char err[ED_ERR_LEN]);
/* Deletes a document: its chunks, vectors and text; adapters trained on it
 * become stale. Only the collection's owner (or root) may delete. */
typedef void (*ed_rag_status_cb)(int rc, const char *err, void *arg);
int ed_rag_delete(ed_rag_t *rag, const ed_rag_caller_t *caller, int64_t id, ed_rag_status_cb cb, void *arg,
                  char err[ED_ERR_LEN]);

/* ---- collections ---- */
typedef struct {
    char name[128];
    uint32_t owner_uid;
    char allow[512];   /* readers besides the owner and root: "uid:N gid:N *", "" for none */
    char embedder[64]; /* what built its vectors */
    int dim;
    int64_t documents, chunks;
} ed_rag_collection_t;

typedef void (*ed_rag_collections_cb)(int rc, const char *err, const ed_rag_collection_t *colls, int n,
                                      void *arg);
/* Every collection the caller may read, by name. */
int ed_rag_collections(ed_rag_t *rag, const ed_rag_caller_t *caller, ed_rag_collections_cb cb, void *arg,
                       char err[ED_ERR_LEN]);
/* Replaces collection `name`'s allow list (space-separated "*", "uid:N",
 * "gid:N"; "" leaves it to its owner and root). Only the owner or root may;
 * cb gets the updated collection (n = 1). ED_ENOENT, ED_EACCES, ED_EFORMAT
 * (a bad entry, named). */
int ed_rag_set_access(ed_rag_t *rag, const ed_rag_caller_t *caller, const char *name, const char *allow,
                      ed_rag_collections_cb cb, void *arg, char err[ED_ERR_LEN]);

/* ---- search and retrieval ---- */
typedef enum {
    ED_RAG_HYBRID = 0, /* the two below fused by weighted reciprocal rank, then a bounded second round (ranking.h) */
    ED_RAG_DENSE,      /* faiss inner product over the embedder's vectors */
    ED_RAG_LEXICAL,    /* BM25 over the in-memory FTS5 table */
} ed_rag_mode_t;

typedef struct {
    int64_t chunk_id, doc_id;
    int chunk_index;
    double score;        /* the mode's own score (fused: the RRF score) */
    char collection[128];
    char *title, *text;  /* malloc'd */
    size_t offset, len;  /* into the document's stored text */
    int n_tokens;
} ed_rag_hit_t;

typedef void (*ed_rag_search_cb)(int rc, const char *err, const ed_rag_hit_t *hits, int n, void *arg);
/* Searches `collections` (NULL/0: every collection the caller may read) for
 * the top_k (1..100) chunks. An unknown collection is ED_ENOENT, another's
 * ED_EACCES, both naming it. */
int ed_rag_search(ed_rag_t *rag, const ed_rag_caller_t *caller, const char *query,
                  const char *const *collections, int n_collections, int top_k, ed_rag_mode_t mode,
                  ed_rag_search_cb cb, void *arg, char err[ED_ERR_LEN]);

/* Retrieval for an answer: hybrid search, then the context block that fits
 * budget_tokens (0: rag.max_context_tokens, or a quarter of n_ctx when that
 * is 0) counted with `count` (the chat model's tokenizer), numbered, with
 * citations in the same order. The context and hits are valid during cb.
 * count is called on the loop thread only (the block is built there, just
 * before cb). */
typedef void (*ed_rag_context_cb)(int rc, const char *err, const ed_retrieve_context_t *context,
                                  const ed_rag_hit_t *hits, int n_hits, void *arg);
int ed_rag_retrieve(ed_rag_t *rag, const ed_rag_caller_t *caller, const char *query,
                    const char *const *collections, int n_collections, int top_k, int budget_tokens, int n_ctx,
                    ed_token_count_fn count, void *count_arg, ed_rag_context_cb cb, void *arg,
                    char err[ED_ERR_LEN]);

/* ---- embeddings (POST /v1/embeddings with the store's embedder) ---- */
typedef struct {
    const char *embedder;  /* its name, e.g. "model:bge-small.gguf" or "hash-v1-384" */
    int dim;
    const float *vectors;  /* (n, dim), L2-normalised */
    const int *n_tokens;   /* (n) the units each text gave (ed_embedder_embed_counted) */
    int n;
} ed_rag_vectors_t;
/* rc != 0: *failed is the input that failed (or -1) and err says why. */
typedef void (*ed_rag_embed_cb)(int rc, const char *err, int failed, const ed_rag_vectors_t *out, void *arg);
/* Embeds texts[0..n) (lens[i] bytes each; borrowed: valid until cb) with
 * the store's embedder on the worker, as ingest and search embed. */
int ed_rag_embed(ed_rag_t *rag, const char *const *texts, const size_t *lens, int n, ed_rag_embed_cb cb, void *arg,
                 char err[ED_ERR_LEN]);
/* The store's embedder's name, width and model file's mtime (0: built in)
 * once the store is open, else NULL. dim, created may be NULL. */
const char *ed_rag_embedder(const ed_rag_t *rag, int *dim, int64_t *created);

/* Counts for /metrics and tests; zero until the store is open. */
typedef struct {
    int64_t documents, chunks, vectors; /* vectors: in the indexes; equals chunks when consistent */
    int collections;
    bool read_only;
} ed_rag_stats_t;
void ed_rag_stats(const ed_rag_t *rag, ed_rag_stats_t *out);

#endif
