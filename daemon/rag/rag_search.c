/* rag_search.c - the search and retrieve jobs (see rag.h): the readable
 * collections chosen, ranked by ranking.h (dense, lexical, or both fused,
 * with a bounded second round), hits read back from the record.
 * A retrieval's context block is built on the loop thread (retrieve.h). */
#include "rag/rag_service.h"

#include "rag/chunker.h"
#include "rag/fusion.h"
#include "rag/index.h"
#include "rag/ranking.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void hit_free(ed_rag_hit_t *h)
{
    free(h->title);
    free(h->text);
}

static void run_search(ed_rag_t *rag, ed__rag_job_t *job)
{
    int n_sel = 0;
    ed_rag_coll_t **sel = calloc((size_t)(rag->colls.n ? rag->colls.n : 1), sizeof *sel);
    int64_t *sel_ids = calloc((size_t)(rag->colls.n ? rag->colls.n : 1), sizeof *sel_ids);
    ed_index_t **sel_indexes = calloc((size_t)(rag->colls.n ? rag->colls.n : 1), sizeof *sel_indexes);
    ed_fusion_hit_t *fused = calloc((size_t)job->top_k, sizeof *fused);
    int rc = 0;
    if (!sel || !sel_ids || !sel_indexes || !fused) {
        rc = ed_errf(job->err, ED_ENOMEM, "out of memory");
        goto done;
    }
    if (job->n_names == 0) {
        for (int i = 0; i < rag->colls.n; i++)
            if (ed_rag_may_read(&rag->colls.items[i].c, &job->caller))
                sel[n_sel++] = &rag->colls.items[i];
    } else {
        for (int i = 0; i < job->n_names; i++) {
            ed_rag_coll_t *c;
            if ((rc = ed_rag_colls_readable(&rag->colls, job->names[i], &job->caller, &c, job->err)) != 0)
                goto done;
            bool dup = false;
            for (int j = 0; j < n_sel; j++)
                dup = dup || sel[j] == c;
            if (!dup)
                sel[n_sel++] = c;
        }
    }
    for (int i = 0; i < n_sel; i++) {
        sel_ids[i] = sel[i]->c.id;
        sel_indexes[i] = sel[i]->index;
    }
    int n_out = 0;
    ed_ranking_scope_t scope = {rag->store, rag->embedder, sel_indexes, sel_ids, n_sel};
    if ((rc = ed_ranking_search(&scope, job->query, job->mode, job->top_k, fused, &n_out, job->err)) != 0)
        goto done;
    if (!(job->hits = calloc((size_t)(n_out ? n_out : 1), sizeof *job->hits))) {
        rc = ed_errf(job->err, ED_ENOMEM, "out of memory");
        goto done;
    }
    for (int i = 0; i < n_out; i++) {
        ed_chunk_t chunk;
        if ((rc = ed_store_chunk_get(rag->store, fused[i].id, &chunk, job->err)) != 0)
            goto done;
        ed_document_t d = {0};
        rc = ed_store_document_get(rag->store, chunk.doc_id, false, &d, job->err);
        ed_rag_coll_t *c = rc == 0 ? ed_rag_colls_by_id(&rag->colls, d.collection_id) : NULL;
        ed_document_free(&d);
        if (rc != 0) {
            ed_chunk_free(&chunk);
            goto done;
        }
        ed_rag_hit_t *h = &job->hits[job->n_hits++];
        *h = (ed_rag_hit_t){.chunk_id = chunk.chunk_id, .doc_id = chunk.doc_id, .chunk_index = chunk.index,
                            .score = fused[i].score, .title = chunk.title, .text = chunk.text,
                            .offset = chunk.offset, .len = chunk.len, .n_tokens = chunk.n_tokens};
        snprintf(h->collection, sizeof h->collection, "%s", c ? c->c.name : "");
    }
done:
    job->rc = rc;
    free(sel);
    free(sel_ids);
    free(sel_indexes);
    free(fused);
}

/* ---------------------------------------------------------- answers --- */

static int count_tokens(ed_token_count_fn count, void *arg, const char *text, size_t len)
{
    return count ? count(text, len, arg) : ed_chunker_estimate_tokens(text, len, NULL);
}

static void answer_search(ed_rag_t *rag, ed__rag_job_t *job, const char *err)
{
    atomic_fetch_add(&rag->search_count, 1);
    atomic_fetch_add(&rag->search_ns, uv_hrtime() - job->t0_ns);
    job->cb.search(job->rc, err, job->hits, job->rc ? 0 : job->n_hits, job->arg);
}

/* The context block for a retrieve job, built on the loop thread (where the
 * chat model's counter may be called). */
static void answer_retrieve(ed_rag_t *rag, ed__rag_job_t *job, const char *err)
{
    ed_rag_context_cb cb = job->cb.context;
    atomic_fetch_add(&rag->search_count, 1);
    atomic_fetch_add(&rag->search_ns, uv_hrtime() - job->t0_ns);
    if (job->rc) {
        cb(job->rc, err, NULL, NULL, 0, job->arg);
        return;
    }
    ed_retrieve_context_t ctx = {0};
    ed_retrieve_chunk_t *chunks = calloc((size_t)(job->n_hits ? job->n_hits : 1), sizeof *chunks);
    if (!chunks) {
        cb(ED_ENOMEM, "out of memory", NULL, NULL, 0, job->arg);
        return;
    }
    for (int i = 0; i < job->n_hits; i++) {
        const ed_rag_hit_t *h = &job->hits[i];
        chunks[i] = (ed_retrieve_chunk_t){h->text, strlen(h->text), h->title, h->doc_id, h->chunk_index, h->score,
                                          count_tokens(job->count, job->count_arg, h->text, strlen(h->text))};
    }
    int budget = job->budget_tokens;
    if (budget <= 0)
        budget = rag->max_context_tokens > 0 ? rag->max_context_tokens : job->n_ctx / 4;
    int rc = ed_retrieve_context_build(chunks, job->n_hits, budget, job->count, job->count_arg, &ctx, job->err);
    if (rc == 0)
        cb(0, NULL, &ctx, job->hits, job->n_hits, job->arg);
    else
        cb(rc, job->err, NULL, NULL, 0, job->arg);
    ed_retrieve_context_free(&ctx);
    free(chunks);
}

static void free_search(ed__rag_job_t *job)
{
    for (int i = 0; i < job->n_hits; i++)
        hit_free(&job->hits[i]);
    free(job->hits);
    free(job->names);
    free(job->query);
}

static const ed__rag_kind_t KIND_SEARCH = {run_search, answer_search, free_search};
static const ed__rag_kind_t KIND_RETRIEVE = {run_search, answer_retrieve, free_search};

/* ----------------------------------------------------------- submits --- */

/* Fills a search or retrieve job's query and collection names. */
static int search_job(ed__rag_job_t *job, const char *query, const char *const *collections, int n_collections,
                      int top_k, char err[ED_ERR_LEN])
{
    if (!query || !*query)
        return ed_errf(err, ED_EINVAL, "query: expected a non-empty string");
    if (top_k < 1 || top_k > 100)
        return ed_errf(err, ED_EINVAL, "top_k: expected 1 to 100, got %d", top_k);
    if (n_collections < 0 || n_collections > 64)
        return ed_errf(err, ED_EINVAL, "collections: expected at most 64, got %d", n_collections);
    job->top_k = top_k;
    if (!(job->query = strdup(query)))
        return ed_errf(err, ED_ENOMEM, "out of memory");
    if (n_collections > 0 && collections) {
        if (!(job->names = calloc((size_t)n_collections, sizeof *job->names)))
            return ed_errf(err, ED_ENOMEM, "out of memory");
        for (int i = 0; i < n_collections; i++) {
            if (strlen(collections[i]) >= ED_STORE_NAME_MAX)
                return ed_errf(err, ED_ENOENT, "collection \"%.64s...\" does not exist", collections[i]);
            snprintf(job->names[i], ED_STORE_NAME_MAX, "%s", collections[i]);
        }
        job->n_names = n_collections;
    }
    return 0;
}

int ed_rag_search(ed_rag_t *rag, const ed_rag_caller_t *caller, const char *query, const char *const *collections,
                  int n_collections, int top_k, ed_rag_mode_t mode, ed_rag_search_cb cb, void *arg,
                  char err[ED_ERR_LEN])
{
    ed__rag_job_t *job = ed__rag_job_new(rag, &KIND_SEARCH, caller, (ed__rag_cb_t){.search = cb}, arg);
    if (!job)
        return ed_errf(err, ED_ENOMEM, "out of memory");
    job->mode = mode;
    int rc = search_job(job, query, collections, n_collections, top_k, err);
    if (rc != 0) {
        ed__rag_job_free(job);
        return rc;
    }
    return ed__rag_submit(rag, job, err);
}

int ed_rag_retrieve(ed_rag_t *rag, const ed_rag_caller_t *caller, const char *query, const char *const *collections,
                    int n_collections, int top_k, int budget_tokens, int n_ctx, ed_token_count_fn count,
                    void *count_arg, ed_rag_context_cb cb, void *arg, char err[ED_ERR_LEN])
{
    ed__rag_job_t *job = ed__rag_job_new(rag, &KIND_RETRIEVE, caller, (ed__rag_cb_t){.context = cb}, arg);
    if (!job)
        return ed_errf(err, ED_ENOMEM, "out of memory");
    job->mode = ED_RAG_HYBRID;
    job->budget_tokens = budget_tokens;
    job->n_ctx = n_ctx;
    job->count = count;
    job->count_arg = count_arg;
    int rc = search_job(job, query, collections, n_collections, top_k, err);
    if (rc != 0) {
        ed__rag_job_free(job);
        return rc;
    }
    return ed__rag_submit(rag, job, err);
}
