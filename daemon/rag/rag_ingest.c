/* rag_ingest.c - the ingest job (see rag.h): each document's markup
 * stripped, then, unless its source holds the same content already, chunked
 * and embedded on the worker; the batch recorded in one transaction (added,
 * or replacing by source) and its collection's index (a cache of the
 * record) brought up to date. The submit checks sizes, sources and UTF-8
 * on the loop thread and copies the documents. */
#include "rag/rag_service.h"

#include "core/log.h"
#include "rag/chunker.h"
#include "rag/index.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void doc_in_free(ed_rag_doc_in_t *d)
{
    free((char *)d->title);
    free((char *)d->source);
    free((char *)d->metadata_json);
    free((char *)d->body);
}

/* The parts of one document before it goes to the store. */
typedef struct {
    ed_markup_t markup;
    ed_chunk_span_t *spans; /* (n_spans) */
    int n_spans;
    float *vectors;         /* (n_spans, dim) */
    ed_chunk_in_t *chunks;  /* (n_spans) */
    bool unchanged;         /* its source holds this content already: not embedded, not stored */
    ed_document_put_t kept; /* when unchanged: the stored document */
} prepared_t;

static int strip_doc(const ed_rag_doc_in_t *in, int i, prepared_t *p, char err[ED_ERR_LEN])
{
    char why[ED_ERR_LEN];
    int rc = ed_markup_strip(&p->markup, in->kind, in->body, in->len, why);
    return rc != 0 ? ed_errf(err, rc, "documents[%d]: %s", i, why) : 0;
}

static int embed_doc(ed_rag_t *rag, const ed_rag_doc_in_t *in, int i, prepared_t *p, char err[ED_ERR_LEN])
{
    char why[ED_ERR_LEN];
    ed_chunker_config_t cc = {.chunk_tokens = rag->chunk_tokens, .chunk_overlap = rag->chunk_overlap};
    int rc = ed_chunker_split(&cc, p->markup.text, p->markup.len, p->markup.headings, p->markup.n_headings,
                              &p->spans, &p->n_spans, why);
    if (rc != 0)
        return ed_errf(err, rc, "documents[%d]: %s", i, why);
    if (p->n_spans == 0)
        return ed_errf(err, ED_EFORMAT, "documents[%d]: the text is empty (nothing but white space after markup)", i);
    if (p->n_spans > ED_STORE_MAX_CHUNKS_PER_DOC)
        return ed_errf(err, ED_ETOOBIG, "documents[%d]: %d chunks, at most %d per document", i, p->n_spans,
                       ED_STORE_MAX_CHUNKS_PER_DOC);
    int dim = rag->embedder->dim;
    p->vectors = malloc((size_t)p->n_spans * (size_t)dim * sizeof *p->vectors);
    p->chunks = calloc((size_t)p->n_spans, sizeof *p->chunks);
    if (!p->vectors || !p->chunks)
        return ed_errf(err, ED_ENOMEM, "documents[%d]: out of memory", i);
    for (int s = 0; s < p->n_spans; s++) {
        const ed_chunk_span_t *sp = &p->spans[s];
        rc = ed_rag_embed_chunk(rag->embedder, in->title, p->markup.text + sp->context_offset, sp->context_len,
                         p->markup.text + sp->offset, sp->len, p->vectors + (size_t)s * dim);
        if (rc != 0)
            return ed_errf(err, rc, "documents[%d]: embedding chunk %d: %s", i, s, ed_strerror(rc));
        p->chunks[s] = (ed_chunk_in_t){sp->offset, sp->len, sp->n_tokens, p->vectors + (size_t)s * dim,
                                       sp->context_offset, sp->context_len};
    }
    return 0;
}

static void prepared_free(prepared_t *p)
{
    ed_markup_free(&p->markup);
    free(p->spans);
    free(p->vectors);
    free(p->chunks);
}

/* The store's view of an ingested document (pointers into in and p). */
static ed_document_in_t doc_for_store(const ed_rag_doc_in_t *in, const prepared_t *p, int64_t collection_id)
{
    return (ed_document_in_t){
        .collection_id = collection_id,
        .title = in->title ? in->title : "",
        .source = in->source ? in->source : "",
        .metadata_json = in->metadata_json,
        .text = p->markup.text,
        .text_len = p->markup.len,
        .chunks = p->chunks,
        .n_chunks = p->n_spans,
        .n_tokens = ed_chunker_estimate_tokens(p->markup.text, p->markup.len, NULL),
        .force = in->force,
    };
}

/* Whether document i's source holds its content already (then p->kept says
 * what is stored), so that it need not be embedded. */
static int find_unchanged(ed_rag_t *rag, const ed_rag_coll_t *c, const ed_rag_doc_in_t *in, int i, prepared_t *p,
                          char err[ED_ERR_LEN])
{
    if (!c || !in->source || !in->source[0] || in->force)
        return 0;
    ed_document_in_t doc = doc_for_store(in, p, c->c.id);
    char why[ED_ERR_LEN];
    int rc = ed_store_document_match(rag->store, &doc, &p->kept, why);
    if (rc == ED_ENOENT)
        return 0;
    if (rc != 0)
        return ed_errf(err, rc, "documents[%d]: %s", i, why);
    p->unchanged = p->kept.outcome == ED_DOCUMENT_UNCHANGED;
    return 0;
}

static ed_rag_outcome_t outcome_of(ed_document_outcome_t outcome)
{
    switch (outcome) {
    case ED_DOCUMENT_UNCHANGED: return ED_RAG_UNCHANGED;
    case ED_DOCUMENT_REPLACED: return ED_RAG_REPLACED;
    case ED_DOCUMENT_ADDED: break;
    }
    return ED_RAG_ADDED;
}

/* Brings a collection's index (a cache of the record) up to what the store
 * now holds for one document: its old chunks dropped, its new ones added.
 * A failure is logged: the next start rebuilds the index. */
static void index_document(ed_rag_coll_t *c, const ed_document_put_t *put, const prepared_t *p)
{
    int n = put->n_old_chunks > p->n_spans ? put->n_old_chunks : p->n_spans;
    int64_t *cids = malloc((size_t)(n ? n : 1) * sizeof *cids);
    char why[ED_ERR_LEN] = "out of memory";
    int rc = cids ? 0 : ED_ENOMEM;
    for (int s = 0; cids && s < n; s++)
        cids[s] = ed_chunk_id(put->id, s);
    if (rc == 0 && put->n_old_chunks > 0)
        rc = ed_index_remove(c->index, cids, put->n_old_chunks, NULL, why);
    if (rc == 0)
        rc = ed_index_add(c->index, cids, p->vectors, p->n_spans, why);
    if (rc != 0)
        ed_log_error("rag: collection \"%s\": document %lld stored but not indexed (rebuilt at the next start): %s",
                     c->c.name, (long long)put->id, why);
    free(cids);
}

static void run_ingest(ed_rag_t *rag, ed__rag_job_t *job)
{
    ed_rag_coll_t *c = ed_rag_colls_find(&rag->colls, job->collection);
    if (c && !ed_rag_may_read(&c->c, &job->caller)) {
        job->rc = ed_errf(job->err, ED_EACCES, "collection \"%s\" belongs to uid %u and does not allow uid %u",
                          job->collection, c->c.owner_uid, job->caller.uid);
        return;
    }
    if (!ed__rag_store_writable(rag, job->err)) {
        job->rc = ED_EREADONLY;
        return;
    }
    prepared_t *p = calloc((size_t)job->n_in, sizeof *p);
    ed_document_in_t *docs = calloc((size_t)job->n_in, sizeof *docs);
    ed_document_put_t *puts = calloc((size_t)job->n_in, sizeof *puts);
    int *which = calloc((size_t)job->n_in, sizeof *which); /* docs[k] is job->in[which[k]] */
    int rc = p && docs && puts && which ? 0 : ed_errf(job->err, ED_ENOMEM, "out of memory");
    for (int i = 0; rc == 0 && i < job->n_in; i++)
        if ((rc = strip_doc(&job->in[i], i, &p[i], job->err)) == 0 &&
            (rc = find_unchanged(rag, c, &job->in[i], i, &p[i], job->err)) == 0 && !p[i].unchanged)
            rc = embed_doc(rag, &job->in[i], i, &p[i], job->err);
    if (rc == 0 && !c) {
        ed_collection_t made;
        rc = ed_store_collection_create(rag->store, job->collection, job->caller.uid, rag->embedder->name,
                                        rag->embedder->dim, &made, job->err);
        if (rc == 0)
            rc = ed_rag_colls_add(&rag->colls, &made, &c, job->err);
        if (rc == 0)
            ed_log_info("rag: collection \"%s\" created for uid %u (%s)", made.name, made.owner_uid, made.embedder);
    }
    int n_put = 0;
    for (int i = 0; rc == 0 && i < job->n_in; i++) {
        if (p[i].unchanged)
            continue;
        which[n_put] = i;
        docs[n_put++] = doc_for_store(&job->in[i], &p[i], c->c.id);
    }
    if (rc == 0 && n_put > 0)
        rc = ed_store_documents_put(rag->store, docs, n_put, puts, job->err);
    /* Durable from here on; the index is a cache of the record. */
    int64_t n_docs = 0, n_chunks = 0, n_written = 0;
    for (int k = 0; rc == 0 && k < n_put; k++) {
        const ed_document_put_t *put = &puts[k];
        int i = which[k];
        if (put->outcome == ED_DOCUMENT_UNCHANGED) {
            p[i].unchanged = true; /* an earlier document of the batch had the same source and content */
            p[i].kept = *put;
            continue;
        }
        index_document(c, put, &p[i]);
        n_docs += put->outcome == ED_DOCUMENT_ADDED;
        n_chunks += p[i].n_spans - put->n_old_chunks;
        n_written++;
        job->out[i] = (ed_rag_doc_out_t){put->id, put->n_chunks, put->n_tokens, put->version, outcome_of(put->outcome)};
    }
    for (int i = 0; rc == 0 && i < job->n_in; i++)
        if (p[i].unchanged)
            job->out[i] = (ed_rag_doc_out_t){p[i].kept.id, p[i].kept.n_chunks, p[i].kept.n_tokens, p[i].kept.version,
                                             ED_RAG_UNCHANGED};
    if (rc == 0 && n_written > 0) {
        ed_rag_colls_count(&rag->colls, c, n_docs, n_chunks);
        ed_rag_colls_save(&rag->colls, c);
        atomic_fetch_add(&rag->ingested_docs, (uint64_t)n_written);
    }
    if (rc == ED_EREADONLY)
        atomic_store(&rag->read_only, true);
    for (int i = 0; p && i < job->n_in; i++)
        prepared_free(&p[i]);
    free(p);
    free(docs);
    free(puts);
    free(which);
    job->rc = rc;
}

_Static_assert(ED_RAG_SOURCE_MAX == ED_STORE_SOURCE_MAX, "the service and the store bound a source alike");

const char *ed_rag_outcome_name(ed_rag_outcome_t outcome)
{
    switch (outcome) {
    case ED_RAG_UNCHANGED: return "unchanged";
    case ED_RAG_REPLACED: return "replaced";
    case ED_RAG_ADDED: break;
    }
    return "added";
}

static void answer_ingest(ed_rag_t *rag, ed__rag_job_t *job, const char *err)
{
    atomic_fetch_add(&rag->ingest_count, 1);
    atomic_fetch_add(&rag->ingest_ns, uv_hrtime() - job->t0_ns);
    job->cb.ingest(job->rc, err, job->rc ? NULL : job->out, job->rc ? 0 : job->n_in, job->arg);
}

static void free_ingest(ed__rag_job_t *job)
{
    for (int i = 0; i < job->n_in; i++)
        doc_in_free(&job->in[i]);
    free(job->in);
    free(job->out);
}

static const ed__rag_kind_t KIND_INGEST = {run_ingest, answer_ingest, free_ingest};

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

int ed_rag_ingest(ed_rag_t *rag, const ed_rag_caller_t *caller, const char *collection, const ed_rag_doc_in_t *docs,
                  int n, ed_rag_ingest_cb cb, void *arg, char err[ED_ERR_LEN])
{
    int rc = ed_rag_check_name(collection ? collection : "", err);
    if (rc != 0)
        return rc;
    if (n <= 0)
        return ed_errf(err, ED_EFORMAT, "documents: expected at least one document");
    if (n > rag->max_batch)
        return ed_errf(err, ED_ETOOBIG, "documents: %d documents, at most %d in one request (rag.max_batch_documents)",
                       n, rag->max_batch);
    for (int i = 0; i < n; i++) {
        char why[ED_ERR_LEN];
        if (docs[i].len == 0)
            return ed_errf(err, ED_EFORMAT, "documents[%d]: the text is empty", i);
        if ((rc = ed_markup_check_utf8(docs[i].body, docs[i].len, why)) != 0)
            return ed_errf(err, rc, "documents[%d]: %s", i, why);
        size_t source_len = docs[i].source ? strlen(docs[i].source) : 0;
        if (source_len > ED_RAG_SOURCE_MAX)
            return ed_errf(err, ED_EFORMAT, "documents[%d].source: %zu bytes, at most %d", i, source_len,
                           ED_RAG_SOURCE_MAX);
    }
    ed__rag_job_t *job = ed__rag_job_new(rag, &KIND_INGEST, caller, (ed__rag_cb_t){.ingest = cb}, arg);
    if (!job)
        return ed_errf(err, ED_ENOMEM, "out of memory");
    snprintf(job->collection, sizeof job->collection, "%s", collection);
    job->in = calloc((size_t)n, sizeof *job->in);
    job->out = calloc((size_t)n, sizeof *job->out);
    bool ok = job->in && job->out;
    for (int i = 0; ok && i < n; i++) {
        ed_rag_doc_in_t *d = &job->in[i];
        job->n_in = i + 1;
        d->kind = docs[i].kind;
        d->len = docs[i].len;
        d->force = docs[i].force;
        d->title = dup_or_null(docs[i].title);
        d->source = dup_or_null(docs[i].source);
        d->metadata_json = dup_or_null(docs[i].metadata_json);
        char *body = malloc(docs[i].len + 1);
        if (body) {
            memcpy(body, docs[i].body, docs[i].len);
            body[docs[i].len] = '\0';
        }
        d->body = body;
        ok = body && (!docs[i].title || d->title) && (!docs[i].source || d->source) &&
             (!docs[i].metadata_json || d->metadata_json);
    }
    if (!ok) {
        ed__rag_job_free(job);
        return ed_errf(err, ED_ENOMEM, "out of memory");
    }
    return ed__rag_submit(rag, job, err);
}
