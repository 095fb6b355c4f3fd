/* rag_collection.h - the rag service's table of collections (rag.c's
 * helper): each recorded collection with its vector index, the access rules
 * (owner, allow list, root), and the index's life as a cache of the record:
 * loaded at open, rebuilt from the record when missing, stale or corrupt,
 * saved after each change. The worker thread owns the table; the counters
 * are read by other threads (metrics) under `lock`. */
#ifndef ED_RAG_RAG_COLLECTION_H
#define ED_RAG_RAG_COLLECTION_H

#include "rag/embedder.h"
#include "rag/index.h"
#include "rag/rag.h"
#include "store/store.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct {
    ed_collection_t c;   /* as recorded (name, owner, allow, embedder, dim) */
    ed_index_t *index;   /* vectors of the configured embedder */
    bool reembedded;     /* its record holds another embedder's vectors until the re-embedding at open is recorded */
    int64_t n_vectors;   /* ed_index_count(index), under lock */
    int64_t n_documents, n_chunks; /* rows of the record, under lock */
} ed_rag_coll_t;

typedef struct {
    ed_store_t *store;       /* borrowed */
    ed_embedder_t *embedder; /* borrowed */
    int64_t hnsw_threshold;
    ed_rag_coll_t *items;    /* (n, cap); pointers stay valid until the next add */
    int n, cap;
    pthread_mutex_t lock;    /* items and the counters vs. readers on other threads */
    /* optional, for the re-embedding at load: stop when *cancel is set
     * (ED_ECANCELED, nothing recorded), and progress after each chunk */
    const _Atomic bool *cancel;
    void (*progress)(void *arg, const char *collection, int64_t done, int64_t total);
    void *progress_arg;
} ed_rag_colls_t;

void ed_rag_colls_init(ed_rag_colls_t *colls, ed_store_t *store, ed_embedder_t *embedder, int64_t hnsw_threshold);
void ed_rag_colls_free(ed_rag_colls_t *colls);
/* Reads every recorded collection and opens its index (loading the saved
 * one, or rebuilding it with the reason logged). 0 or an ED_E* code. */
int ed_rag_colls_load(ed_rag_colls_t *colls, char err[ED_ERR_LEN]);
/* Appends a collection just created in the store, with an empty index. */
int ed_rag_colls_add(ed_rag_colls_t *colls, const ed_collection_t *c, ed_rag_coll_t **out, char err[ED_ERR_LEN]);

ed_rag_coll_t *ed_rag_colls_find(ed_rag_colls_t *colls, const char *name);
ed_rag_coll_t *ed_rag_colls_by_id(ed_rag_colls_t *colls, int64_t id);
/* The named collection if `who` may read it; ED_ENOENT or ED_EACCES with err. */
int ed_rag_colls_readable(ed_rag_colls_t *colls, const char *name, const ed_rag_caller_t *who, ed_rag_coll_t **out,
                          char err[ED_ERR_LEN]);
/* Adds to c's counters and refreshes its vector count. */
void ed_rag_colls_count(ed_rag_colls_t *colls, ed_rag_coll_t *c, int64_t d_documents, int64_t d_chunks);
/* Saves c's index as the blob "<id>.faiss" with the collection's generation; a
 * failure is logged only (the next open rebuilds it). */
void ed_rag_colls_save(ed_rag_colls_t *colls, ed_rag_coll_t *c);

/* Owner, root, or an allow-list entry ("*", "uid:N", "gid:N"). */
bool ed_rag_may_read(const ed_collection_t *c, const ed_rag_caller_t *who);
/* Owner or root. */
bool ed_rag_may_write(const ed_collection_t *c, const ed_rag_caller_t *who);
/* An allow list as ed_rag_may_read reads it: "*", "uid:N" and "gid:N"
 * entries separated by spaces ("" for none); ED_EFORMAT naming the first bad
 * entry otherwise. */
int ed_rag_check_allow(const char *allow, char err[ED_ERR_LEN]);
/* Collection names: 1..127 bytes of [A-Za-z0-9._:@-] (safe in logs, metric
 * labels and file names); ED_EFORMAT with err otherwise. */
int ed_rag_check_name(const char *name, char err[ED_ERR_LEN]);
/* Embeds "title\ncontext\ntext" (title, context optional) into out. */
int ed_rag_embed_chunk(ed_embedder_t *embedder, const char *title, const char *context, size_t context_len,
                       const char *text, size_t len, float *out);

#endif
