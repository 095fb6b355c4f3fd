/* ranking.h - the ranking of one search: the query's dense and lexical
 * candidate lists over the chosen collections, fused (fusion.h), and for
 * hybrid search a bounded second round for questions that need two notes.
 * Fetching the ranked chunks is the caller's. Runs on the rag worker (the
 * store and the indexes are the worker's). */
#ifndef ED_RAG_RANKING_H
#define ED_RAG_RANKING_H

#include "core/error.h"
#include "rag/embedder.h"
#include "rag/fusion.h"
#include "rag/index.h"
#include "rag/rag.h"
#include "store/store.h"

#define ED_RANKING_CANDIDATES 50 /* per list before fusion, at least */

typedef struct {
    ed_store_t *store;
    ed_embedder_t *embedder;
    ed_index_t *const *indexes;    /* (n), the collections' vector indexes */
    const int64_t *collection_ids; /* (n), the same collections in the store */
    int n;
} ed_ranking_scope_t;

/* Ranks the chunks of scope for query in mode into out (room for top_k),
 * best first; out[i].score is the mode's score (dense: inner product,
 * lexical: BM25, hybrid: the fused score). A query without content words
 * (only stop words and punctuation) has no lexical candidates: lexical
 * search finds nothing, hybrid search ranks by the dense list alone.
 * 0, ED_ENOMEM or the embedder's, index's or store's error. */
int ed_ranking_search(const ed_ranking_scope_t *scope, const char *query, ed_rag_mode_t mode, int top_k,
                      ed_fusion_hit_t *out, int *n_out, char err[ED_ERR_LEN]);

#endif
