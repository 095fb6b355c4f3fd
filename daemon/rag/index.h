/* index.h - one collection's vector index, the only user of faiss: an
 * ID-mapped exact inner-product index (IndexIDMap over IndexFlatIP) that
 * becomes an ID-mapped HNSW graph (HNSW32, inner product) once it holds more
 * than `hnsw_threshold` vectors, and goes back to exact below half of that.
 * Vectors are L2-normalised by the embedder, so the score is the cosine.
 * Serialises to bytes for the store to seal. One thread at a time. */
#ifndef ED_RAG_INDEX_H
#define ED_RAG_INDEX_H

#include "core/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ed_index ed_index_t;

typedef struct {
    int64_t id;  /* the chunk id given to ed_index_add */
    float score; /* inner product with the query, higher is closer */
} ed_index_hit_t;

/* An empty index of `dim`-wide vectors. hnsw_threshold: vectors above
 * which it uses HNSW (0: always). */
int ed_index_init(ed_index_t **out, int dim, int64_t hnsw_threshold, char err[ED_ERR_LEN]);
void ed_index_free(ed_index_t *index); /* accepts NULL */

/* Adds n vectors (n * dim floats, row-major) under ids that are not in the
 * index; crossing the threshold rebuilds it as HNSW. */
int ed_index_add(ed_index_t *index, const int64_t *ids, const float *vectors, int64_t n, char err[ED_ERR_LEN]);

/* Removes the ids that are present (others are ignored); *n_removed (may be
 * NULL) says how many were. HNSW cannot unlink a node, so its removed ids
 * are hidden from searches and the graph is rebuilt once they pass a
 * quarter of it. */
int ed_index_remove(ed_index_t *index, const int64_t *ids, int64_t n, int64_t *n_removed, char err[ED_ERR_LEN]);

/* The k nearest vectors to query (dim floats), best first, into hits
 * (room for k); *n_hits <= k (fewer when the index holds fewer). */
int ed_index_search(ed_index_t *index, const float *query, int k, ed_index_hit_t *hits, int *n_hits,
                    char err[ED_ERR_LEN]);

int64_t ed_index_count(const ed_index_t *index); /* vectors searchable */
bool ed_index_is_hnsw(const ed_index_t *index);

/* The index as bytes (*data malloc'd): a small header (magic "EDIX",
 * version, dim, hidden ids; host byte order, for this machine's state
 * directory) followed by faiss's own serialisation. */
int ed_index_save(const ed_index_t *index, void **data, size_t *len, char err[ED_ERR_LEN]);
/* Reads what ed_index_save wrote; a wrong magic, version or dim, or bytes
 * faiss rejects, are ED_ECORRUPT (the caller then rebuilds from the store). */
int ed_index_load(ed_index_t **out, const void *data, size_t len, int dim, int64_t hnsw_threshold,
                  char err[ED_ERR_LEN]);

#endif
