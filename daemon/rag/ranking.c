/* ranking.c - dense and lexical candidate lists for a query, fused (see
 * ranking.h). The lexical query is the question's content words
 * (query.h); the store quotes each as a term and ORs them. */
#include "rag/ranking.h"

#include "rag/query.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QUERY_TERMS_MAX 32 /* content words of a question used, at most */

/* Weighted reciprocal-rank fusion of the dense and the lexical list (see
 * fusion.h), measured with tests/bench/retrieval_bench.py on the personal
 * DEV set (top-3 evidence recall, easy/medium/hard of 40/80/34; the lists
 * alone: dense 40/73/2, lexical 40/78/4). Equal weights (k 60) gave
 * 40/77/4, below lexical alone: the built-in hash embedder's ranking is a
 * blurred copy of the same words, and where the two disagree BM25 is right
 * more often. Lexical weighted 3 to 1 gave 40/78/6 (top-1 66 of 80 medium,
 * as lexical alone, against 57), for k from 10 to 60; min-max score
 * normalisation reached 40/78/4 at best. A query without lexical hits
 * (only stop words, no shared word) is ranked by the dense list alone. */
#define FUSION_K 60
#define FUSION_WEIGHT_DENSE 1.0
#define FUSION_WEIGHT_LEXICAL 3.0

typedef struct {
    ed_index_hit_t *dense;
    ed_lexical_hit_t *lexical;
    int64_t *dense_ids, *lexical_ids;
    int n_dense, n_lexical;
} lists_t;

static int fail(char err[ED_ERR_LEN], int rc, const char *what)
{
    snprintf(err, ED_ERR_LEN, "%s%s%s", what, rc == ED_ENOMEM ? "" : ": ", rc == ED_ENOMEM ? "" : ed_strerror(rc));
    return rc;
}

static int cmp_dense(const void *a, const void *b)
{
    const ed_index_hit_t *x = a, *y = b;
    return x->score < y->score ? 1 : x->score > y->score ? -1 : (x->id > y->id) - (x->id < y->id);
}

/* The k best of every collection's index, merged. dense has room for k * n. */
static int dense_list(const ed_ranking_scope_t *scope, const char *query, int k, lists_t *l, char err[ED_ERR_LEN])
{
    float *q = malloc((size_t)scope->embedder->dim * sizeof *q);
    if (!q)
        return fail(err, ED_ENOMEM, "out of memory");
    int rc = ed_embedder_embed(scope->embedder, query, strlen(query), q);
    if (rc != 0) {
        fail(err, rc, "embedding the query");
        goto done;
    }
    for (int i = 0; i < scope->n; i++) {
        int n = 0;
        if ((rc = ed_index_search(scope->indexes[i], q, k, l->dense + l->n_dense, &n, err)) != 0)
            goto done;
        l->n_dense += n;
    }
    qsort(l->dense, (size_t)l->n_dense, sizeof *l->dense, cmp_dense);
    if (l->n_dense > k)
        l->n_dense = k;
    for (int i = 0; i < l->n_dense; i++)
        l->dense_ids[i] = l->dense[i].id;
done:
    free(q);
    return rc;
}

static int lexical_list(const ed_ranking_scope_t *scope, const char *terms, int k, lists_t *l, char err[ED_ERR_LEN])
{
    int rc = ed_store_lexical_search(scope->store, terms, scope->collection_ids, scope->n, k, l->lexical,
                                     &l->n_lexical, err);
    for (int i = 0; rc == 0 && i < l->n_lexical; i++)
        l->lexical_ids[i] = l->lexical[i].chunk_id;
    return rc;
}

int ed_ranking_search(const ed_ranking_scope_t *scope, const char *query, ed_rag_mode_t mode, int top_k,
                      ed_fusion_hit_t *out, int *n_out, char err[ED_ERR_LEN])
{
    *n_out = 0;
    if (scope->n <= 0 || top_k <= 0)
        return 0;
    int k = mode == ED_RAG_HYBRID && top_k < ED_RANKING_CANDIDATES ? ED_RANKING_CANDIDATES : top_k;
    size_t query_len = strlen(query), terms_used = 0;
    lists_t l = {0};
    l.dense = calloc((size_t)k * (size_t)scope->n, sizeof *l.dense);
    l.dense_ids = calloc((size_t)k, sizeof *l.dense_ids);
    l.lexical = calloc((size_t)k, sizeof *l.lexical);
    l.lexical_ids = calloc((size_t)k, sizeof *l.lexical_ids);
    char *terms = malloc(query_len + 1);
    int rc = 0;
    if (!l.dense || !l.dense_ids || !l.lexical || !l.lexical_ids || !terms) {
        rc = fail(err, ED_ENOMEM, "out of memory");
        goto done;
    }
    int n_terms = ed_query_terms(query, query_len, terms, query_len + 1, &terms_used, QUERY_TERMS_MAX);
    if (mode != ED_RAG_LEXICAL && (rc = dense_list(scope, query, k, &l, err)) != 0)
        goto done;
    if (mode != ED_RAG_DENSE && n_terms > 0 && (rc = lexical_list(scope, terms, k, &l, err)) != 0)
        goto done;
    if (mode == ED_RAG_HYBRID) {
        ed_fusion_list_t lists[2] = {{l.dense_ids, l.n_dense, FUSION_WEIGHT_DENSE},
                                     {l.lexical_ids, l.n_lexical, FUSION_WEIGHT_LEXICAL}};
        if ((rc = ed_fusion_rrf(lists, 2, FUSION_K, out, top_k, n_out)) != 0)
            fail(err, rc, "fusing the rankings");
    } else if (mode == ED_RAG_DENSE) {
        for (; *n_out < l.n_dense && *n_out < top_k; (*n_out)++)
            out[*n_out] = (ed_fusion_hit_t){l.dense[*n_out].id, l.dense[*n_out].score, *n_out + 1};
    } else {
        for (; *n_out < l.n_lexical && *n_out < top_k; (*n_out)++)
            out[*n_out] = (ed_fusion_hit_t){l.lexical[*n_out].chunk_id, l.lexical[*n_out].score, *n_out + 1};
    }
done:
    free(l.dense);
    free(l.dense_ids);
    free(l.lexical);
    free(l.lexical_ids);
    free(terms);
    return rc;
}
