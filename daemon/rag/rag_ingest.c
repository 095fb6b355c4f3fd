/* rag_ingest.c - the ingest job (see rag.h): each document's markup
 * stripped, chunked and embedded on the worker, then the batch recorded in
 * one transaction and added to its collection's index (a cache of the
 * record). The submit checks sizes and UTF-8 on the loop thread and copies
 * the documents. */
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
} prepared_t;

static int prepare_doc(ed_rag_t *rag, const ed_rag_doc_in_t *in, int i, prepared_t *p, char err[ED_ERR_LEN])
{
    char why[ED_ERR_LEN];
    int rc = ed_markup_strip(&p->markup, in->kind, in->body, in->len, why);
    if (rc != 0)
        return ed_errf(err, rc, "documents[%d]: %s", i, why);
    ed_chunker_config_t cc = {.chunk_tokens = rag->chunk_tokens, .chunk_overlap = rag->chunk_overlap};
    rc = ed_chunker_split(&cc, p->markup.text, p->markup.len, p->markup.headings, p->markup.n_headings, &p->spans,
                          &p->n_spans, why);
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
    int64_t *ids = calloc((size_t)job->n_in, sizeof *ids);
    int rc = p && docs && ids ? 0 : ed_errf(job->err, ED_ENOMEM, "out of memory");
    for (int i = 0; rc == 0 && i < job->n_in; i++)
        rc = prepare_doc(rag, &job->in[i], i, &p[i], job->err);
    if (rc == 0 && !c) {
        ed_collection_t made;
        rc = ed_store_collection_create(rag->store, job->collection, job->caller.uid, rag->embedder->name,
                                        rag->embedder->dim, &made, job->err);
        if (rc == 0)
            rc = ed_rag_colls_add(&rag->colls, &made, &c, job->err);
        if (rc == 0)
            ed_log_info("rag: collection \"%s\" created for uid %u (%s)", made.name, made.owner_uid, made.embedder);
    }
    int64_t n_chunks = 0;
    for (int i = 0; rc == 0 && i < job->n_in; i++) {
        const ed_rag_doc_in_t *in = &job->in[i];
        docs[i] = (ed_document_in_t){
            .collection_id = c->c.id,
            .title = in->title ? in->title : "",
            .source = in->source ? in->source : "",
            .metadata_json = in->metadata_json,
            .text = p[i].markup.text,
            .text_len = p[i].markup.len,
            .chunks = p[i].chunks,
            .n_chunks = p[i].n_spans,
            .n_tokens = ed_chunker_estimate_tokens(p[i].markup.text, p[i].markup.len, NULL),
        };
        n_chunks += p[i].n_spans;
    }
    if (rc == 0)
        rc = ed_store_documents_add(rag->store, docs, job->n_in, ids, job->err);
    /* Durable from here on; the index is a cache of the record. */
    for (int i = 0; rc == 0 && i < job->n_in; i++) {
        job->out[i] = (ed_rag_doc_out_t){ids[i], p[i].n_spans, docs[i].n_tokens};
        int64_t *cids = malloc((size_t)p[i].n_spans * sizeof *cids);
        char why[ED_ERR_LEN];
        int irc = cids ? 0 : ED_ENOMEM;
        for (int s = 0; cids && s < p[i].n_spans; s++)
            cids[s] = ed_chunk_id(ids[i], s);
        if (irc == 0)
            irc = ed_index_add(c->index, cids, p[i].vectors, p[i].n_spans, why);
        else
            snprintf(why, sizeof why, "out of memory");
        if (irc != 0)
            ed_log_error("rag: collection \"%s\": document %lld stored but not indexed (rebuilt at the next "
                         "start): %s", c->c.name, (long long)ids[i], why);
        free(cids);
    }
    if (rc == 0) {
        ed_rag_colls_count(&rag->colls, c, job->n_in, n_chunks);
        ed_rag_colls_save(&rag->colls, c);
        atomic_fetch_add(&rag->ingested_docs, (uint64_t)job->n_in);
    }
    if (rc == ED_EREADONLY)
        atomic_store(&rag->read_only, true);
    for (int i = 0; p && i < job->n_in; i++)
        prepared_free(&p[i]);
    free(p);
    free(docs);
    free(ids);
    job->rc = rc;
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
