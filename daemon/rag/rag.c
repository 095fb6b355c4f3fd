/* rag.c - the personal store as a service (see rag.h): a bounded queue of
 * jobs run one at a time on libuv's thread pool over the store, the embedder
 * and one vector index per collection; results go back to the loop thread.
 * Index files are caches of the record: saved after each change with the
 * collection's generation, rebuilt at open when missing, stale or corrupt. */
#include "rag/rag.h"

#include "core/log.h"
#include "core/metrics.h"
#include "kernels/kernels.h"
#include "kernels/pool.h"
#include "rag/chunker.h"
#include "rag/embedder.h"
#include "rag/embedder_chat.h"
#include "rag/embedder_model.h"
#include "rag/fusion.h"
#include "rag/index.h"
#include "rag/ranking.h"
#include "rag/rag_collection.h"
#include "store/store.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QUEUE_MAX 64          /* jobs waiting for the worker, at most (ED_EBUSY beyond) */
#define LIST_PAGE 256         /* documents read per store call while filtering a list */
#define PROGRESS_LOG_S 5      /* a re-embedding at open logs its progress this often */

typedef enum {
    JOB_OPEN, JOB_EMBED, JOB_INGEST, JOB_LIST, JOB_GET, JOB_DELETE, JOB_SEARCH, JOB_RETRIEVE, JOB_COLLECTIONS,
    JOB_SET_ACCESS,
} job_kind_t;

typedef struct job {
    struct job *next;
    ed_rag_t *rag;
    job_kind_t kind;
    ed_rag_caller_t caller;
    char collection[ED_STORE_NAME_MAX]; /* "" : none given */
    uint64_t t0_ns;                    /* submitted (uv_hrtime) */
    /* ingest */
    ed_rag_doc_in_t *in; /* (n_in), strings and bodies owned */
    int n_in;
    ed_rag_doc_out_t *out; /* (n_in) */
    /* list, get, delete */
    int64_t id, after, next_after;
    int limit;
    bool with_text;
    ed_rag_doc_t *docs; /* (n_docs) */
    int n_docs;
    /* search, retrieve */
    char *query;
    char (*names)[ED_STORE_NAME_MAX]; /* (n_names) */
    int n_names, top_k, budget_tokens, n_ctx;
    ed_rag_mode_t mode;
    ed_token_count_fn count;
    void *count_arg;
    ed_rag_hit_t *hits; /* (n_hits) */
    int n_hits;
    /* collections, set access */
    char *allow;
    ed_rag_collection_t *colls; /* (n_colls) */
    int n_colls;
    /* open */
    ed_config_t *cfg;
    /* embed: texts borrowed from the caller */
    const char *const *texts;
    const size_t *lens;
    int n_texts;
    float *vectors;
    int *n_tokens;
    int failed;
    /* the answer */
    void (*cb)(void); /* the kind's callback, cast back by answer() */
    void *arg;
    int rc;
    char err[ED_ERR_LEN];
} job_t;

struct ed_rag {
    uv_loop_t *loop;
    ed_store_t *store;
    ed_embedder_t *embedder;
    ed_pool_t *pool; /* the model embedder's compute threads, or NULL */
    ed_rag_colls_t colls; /* every collection with its index */
    pthread_mutex_t lock; /* worker_busy, status */
    pthread_cond_t idle;
    bool worker_busy; /* a job's work callback is running */
    /* the opening (ed_rag_open) */
    _Atomic int state;         /* ed_rag_state_t: the loop thread writes it */
    char status[ED_ERR_LEN];   /* what the opening does, or why it failed */
    _Atomic bool cancel;       /* ed_rag_close: a re-embedding stops */
    _Atomic int64_t reembed_done, reembed_total; /* the re-embedding under way, for /metrics */
    uint64_t t_open_ns, t_logged_ns;
    /* options */
    int chunk_tokens, chunk_overlap;
    int max_batch, max_context_tokens; /* reloadable, loop thread */
    /* the queue (loop thread) */
    uv_work_t work;
    job_t *running; /* handed to the thread pool, NULL when idle */
    job_t *head, *tail;
    int n_queued;
    bool closing;
    /* figures */
    _Atomic bool read_only;
    _Atomic uint64_t ingest_count, ingest_ns, search_count, search_ns, ingested_docs;
};

static int fail(char err[ED_ERR_LEN], int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char err[ED_ERR_LEN], int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, ED_ERR_LEN, fmt, ap);
    va_end(ap);
    return rc;
}

/* --------------------------------------------------------- the jobs --- */

static void doc_in_free(ed_rag_doc_in_t *d)
{
    free((char *)d->title);
    free((char *)d->source);
    free((char *)d->metadata_json);
    free((char *)d->body);
}

static void rag_doc_free(ed_rag_doc_t *d)
{
    free(d->title);
    free(d->source);
    free(d->metadata_json);
    free(d->text);
}

static void hit_free(ed_rag_hit_t *h)
{
    free(h->title);
    free(h->text);
}

static void job_free(job_t *job)
{
    if (!job)
        return;
    free(job->allow);
    free(job->colls);
    for (int i = 0; i < job->n_in; i++)
        doc_in_free(&job->in[i]);
    free(job->in);
    free(job->out);
    for (int i = 0; i < job->n_docs; i++)
        rag_doc_free(&job->docs[i]);
    free(job->docs);
    for (int i = 0; i < job->n_hits; i++)
        hit_free(&job->hits[i]);
    free(job->hits);
    free(job->names);
    free(job->query);
    free(job->cfg);
    free(job->vectors);
    free(job->n_tokens);
    free(job);
}

static bool store_writable(ed_rag_t *rag, char err[ED_ERR_LEN])
{
    const char *why = NULL;
    if (!ed_store_read_only(rag->store, &why))
        return true;
    atomic_store(&rag->read_only, true);
    snprintf(err, ED_ERR_LEN, "the store is read-only: %s", why ? why : "a write failed");
    return false;
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
        return fail(err, rc, "documents[%d]: %s", i, why);
    ed_chunker_config_t cc = {.chunk_tokens = rag->chunk_tokens, .chunk_overlap = rag->chunk_overlap};
    rc = ed_chunker_split(&cc, p->markup.text, p->markup.len, p->markup.headings, p->markup.n_headings, &p->spans,
                          &p->n_spans, why);
    if (rc != 0)
        return fail(err, rc, "documents[%d]: %s", i, why);
    if (p->n_spans == 0)
        return fail(err, ED_EFORMAT, "documents[%d]: the text is empty (nothing but white space after markup)", i);
    if (p->n_spans > ED_STORE_MAX_CHUNKS_PER_DOC)
        return fail(err, ED_ETOOBIG, "documents[%d]: %d chunks, at most %d per document", i, p->n_spans,
                    ED_STORE_MAX_CHUNKS_PER_DOC);
    int dim = rag->embedder->dim;
    p->vectors = malloc((size_t)p->n_spans * (size_t)dim * sizeof *p->vectors);
    p->chunks = calloc((size_t)p->n_spans, sizeof *p->chunks);
    if (!p->vectors || !p->chunks)
        return fail(err, ED_ENOMEM, "documents[%d]: out of memory", i);
    for (int s = 0; s < p->n_spans; s++) {
        const ed_chunk_span_t *sp = &p->spans[s];
        rc = ed_rag_embed_chunk(rag->embedder, in->title, p->markup.text + sp->context_offset, sp->context_len,
                         p->markup.text + sp->offset, sp->len, p->vectors + (size_t)s * dim);
        if (rc != 0)
            return fail(err, rc, "documents[%d]: embedding chunk %d: %s", i, s, ed_strerror(rc));
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

static void run_ingest(ed_rag_t *rag, job_t *job)
{
    ed_rag_coll_t *c = ed_rag_colls_find(&rag->colls, job->collection);
    if (c && !ed_rag_may_read(&c->c, &job->caller)) {
        job->rc = fail(job->err, ED_EACCES, "collection \"%s\" belongs to uid %u and does not allow uid %u",
                       job->collection, c->c.owner_uid, job->caller.uid);
        return;
    }
    if (!store_writable(rag, job->err)) {
        job->rc = ED_EREADONLY;
        return;
    }
    prepared_t *p = calloc((size_t)job->n_in, sizeof *p);
    ed_document_in_t *docs = calloc((size_t)job->n_in, sizeof *docs);
    int64_t *ids = calloc((size_t)job->n_in, sizeof *ids);
    int rc = p && docs && ids ? 0 : fail(job->err, ED_ENOMEM, "out of memory");
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

/* Moves a store document into an answer's document. */
static void doc_take(ed_rag_t *rag, ed_document_t *d, ed_rag_doc_t *out)
{
    ed_rag_coll_t *c = ed_rag_colls_by_id(&rag->colls, d->collection_id);
    *out = (ed_rag_doc_t){.id = d->id, .title = d->title, .source = d->source, .metadata_json = d->metadata_json,
                          .text = d->text, .text_len = d->text_len, .n_chunks = d->n_chunks,
                          .n_tokens = d->n_tokens, .created = d->created};
    snprintf(out->collection, sizeof out->collection, "%s", c ? c->c.name : "");
    memset(d, 0, sizeof *d);
}

static void run_list(ed_rag_t *rag, job_t *job)
{
    ed_rag_coll_t *only = NULL;
    if (job->collection[0] && (job->rc = ed_rag_colls_readable(&rag->colls, job->collection, &job->caller, &only, job->err)))
        return;
    job->docs = calloc((size_t)job->limit, sizeof *job->docs);
    ed_document_t *page = calloc(LIST_PAGE, sizeof *page);
    if (!job->docs || !page) {
        free(page);
        job->rc = fail(job->err, ED_ENOMEM, "out of memory");
        return;
    }
    int64_t after = job->after;
    bool more = false;
    for (;;) {
        int n = 0;
        int rc = ed_store_documents_list(rag->store, only ? only->c.id : 0, after, LIST_PAGE, page, &n, job->err);
        if (rc != 0) {
            job->rc = rc;
            break;
        }
        if (n > 0)
            after = page[n - 1].id;
        for (int i = 0; i < n; i++) {
            ed_rag_coll_t *c = ed_rag_colls_by_id(&rag->colls, page[i].collection_id);
            bool readable = c && ed_rag_may_read(&c->c, &job->caller);
            if (readable && job->n_docs == job->limit)
                more = true;
            if (readable && !more)
                doc_take(rag, &page[i], &job->docs[job->n_docs++]);
            ed_document_free(&page[i]);
        }
        if (n < LIST_PAGE || more)
            break;
    }
    free(page);
    job->next_after = more && job->n_docs ? job->docs[job->n_docs - 1].id : 0;
}

/* The document and its collection, if the caller may read it. */
static int doc_readable(ed_rag_t *rag, job_t *job, bool with_text, ed_document_t *d, ed_rag_coll_t **c)
{
    int rc = ed_store_document_get(rag->store, job->id, false, d, job->err);
    if (rc == ED_ENOENT)
        return fail(job->err, ED_ENOENT, "document %lld does not exist", (long long)job->id);
    if (rc != 0)
        return rc;
    *c = ed_rag_colls_by_id(&rag->colls, d->collection_id);
    if (!*c || !ed_rag_may_read(&(*c)->c, &job->caller)) {
        ed_document_free(d);
        return fail(job->err, ED_EACCES, "document %lld is in collection \"%s\", which uid %u may not read",
                    (long long)job->id, *c ? (*c)->c.name : "?", job->caller.uid);
    }
    if (with_text) {
        ed_document_free(d);
        rc = ed_store_document_get(rag->store, job->id, true, d, job->err);
    }
    return rc;
}

static void run_get(ed_rag_t *rag, job_t *job)
{
    ed_document_t d = {0};
    ed_rag_coll_t *c;
    if ((job->rc = doc_readable(rag, job, job->with_text, &d, &c)) != 0)
        return;
    if (!(job->docs = calloc(1, sizeof *job->docs))) {
        ed_document_free(&d);
        job->rc = fail(job->err, ED_ENOMEM, "out of memory");
        return;
    }
    doc_take(rag, &d, &job->docs[0]);
    job->n_docs = 1;
}

static void run_delete(ed_rag_t *rag, job_t *job)
{
    ed_document_t d = {0};
    ed_rag_coll_t *c;
    if ((job->rc = doc_readable(rag, job, false, &d, &c)) != 0)
        return;
    ed_document_free(&d);
    if (!ed_rag_may_write(&c->c, &job->caller)) {
        job->rc = fail(job->err, ED_EACCES, "only the owner of collection \"%s\" (uid %u) may delete from it",
                       c->c.name, c->c.owner_uid);
        return;
    }
    if (!store_writable(rag, job->err)) {
        job->rc = ED_EREADONLY;
        return;
    }
    int n = 0;
    if ((job->rc = ed_store_document_delete(rag->store, job->id, &n, job->err)) != 0) {
        if (job->rc == ED_EREADONLY)
            atomic_store(&rag->read_only, true);
        return;
    }
    int64_t *ids = malloc((size_t)(n ? n : 1) * sizeof *ids);
    char why[ED_ERR_LEN];
    int rc = ids ? 0 : ED_ENOMEM;
    for (int i = 0; ids && i < n; i++)
        ids[i] = ed_chunk_id(job->id, i);
    if (rc == 0)
        rc = ed_index_remove(c->index, ids, n, NULL, why);
    else
        snprintf(why, sizeof why, "out of memory");
    if (rc != 0)
        ed_log_error("rag: document %lld deleted but its vectors stay until the next start: %s", (long long)job->id,
                     why);
    free(ids);
    ed_rag_colls_count(&rag->colls, c, -1, -n);
    ed_rag_colls_save(&rag->colls, c);
}

static void run_search(ed_rag_t *rag, job_t *job)
{
    int n_sel = 0;
    ed_rag_coll_t **sel = calloc((size_t)(rag->colls.n ? rag->colls.n : 1), sizeof *sel);
    int64_t *sel_ids = calloc((size_t)(rag->colls.n ? rag->colls.n : 1), sizeof *sel_ids);
    ed_index_t **sel_indexes = calloc((size_t)(rag->colls.n ? rag->colls.n : 1), sizeof *sel_indexes);
    ed_fusion_hit_t *fused = calloc((size_t)job->top_k, sizeof *fused);
    int rc = 0;
    if (!sel || !sel_ids || !sel_indexes || !fused) {
        rc = fail(job->err, ED_ENOMEM, "out of memory");
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
        rc = fail(job->err, ED_ENOMEM, "out of memory");
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

/* ------------------------------------------------------- collections --- */

static void coll_describe(ed_rag_colls_t *colls, const ed_rag_coll_t *c, ed_rag_collection_t *out)
{
    memset(out, 0, sizeof *out);
    snprintf(out->name, sizeof out->name, "%s", c->c.name);
    out->owner_uid = c->c.owner_uid;
    snprintf(out->allow, sizeof out->allow, "%s", c->c.allow);
    snprintf(out->embedder, sizeof out->embedder, "%s", c->c.embedder);
    out->dim = c->c.dim;
    pthread_mutex_lock(&colls->lock);
    out->documents = c->n_documents;
    out->chunks = c->n_chunks;
    pthread_mutex_unlock(&colls->lock);
}

static void run_collections(ed_rag_t *rag, job_t *job)
{
    ed_rag_colls_t *colls = &rag->colls;
    job->colls = calloc((size_t)(colls->n ? colls->n : 1), sizeof *job->colls);
    if (!job->colls) {
        job->rc = fail(job->err, ED_ENOMEM, "out of memory");
        return;
    }
    for (int i = 0; i < colls->n; i++)
        if (ed_rag_may_read(&colls->items[i].c, &job->caller))
            coll_describe(colls, &colls->items[i], &job->colls[job->n_colls++]);
}

/* "*", "uid:N" and "gid:N" entries, separated by spaces. */
static int check_allow(const char *allow, char err[ED_ERR_LEN])
{
    for (const char *p = allow; *p;) {
        while (*p == ' ')
            p++;
        size_t n = strcspn(p, " ");
        if (n == 0)
            break;
        bool ok = n == 1 && *p == '*';
        if (!ok && n > 4 && (strncmp(p, "uid:", 4) == 0 || strncmp(p, "gid:", 4) == 0)) {
            ok = n <= 14;
            for (size_t i = 4; ok && i < n; i++)
                ok = p[i] >= '0' && p[i] <= '9';
        }
        if (!ok)
            return fail(err, ED_EFORMAT, "allow: expected \"*\", \"uid:N\" or \"gid:N\", got \"%.*s\"",
                        (int)(n < 40 ? n : 40), p);
        p += n;
    }
    return 0;
}

static void run_set_access(ed_rag_t *rag, job_t *job)
{
    ed_rag_coll_t *c = ed_rag_colls_find(&rag->colls, job->collection);
    if (!c || !ed_rag_may_read(&c->c, &job->caller)) {
        job->rc = fail(job->err, ED_ENOENT, "collection \"%s\" does not exist", job->collection);
        return;
    }
    if (!ed_rag_may_write(&c->c, &job->caller)) {
        job->rc = fail(job->err, ED_EACCES, "only the owner of collection \"%s\" (uid %u) may change who reads it",
                       c->c.name, c->c.owner_uid);
        return;
    }
    if (!store_writable(rag, job->err)) {
        job->rc = ED_EREADONLY;
        return;
    }
    if ((job->rc = ed_store_collection_set_allow(rag->store, c->c.id, job->allow, job->err)) != 0)
        return;
    pthread_mutex_lock(&rag->colls.lock);
    snprintf(c->c.allow, sizeof c->c.allow, "%s", job->allow);
    pthread_mutex_unlock(&rag->colls.lock);
    job->colls = calloc(1, sizeof *job->colls);
    if (!job->colls) {
        job->rc = fail(job->err, ED_ENOMEM, "out of memory");
        return;
    }
    coll_describe(&rag->colls, c, &job->colls[0]);
    job->n_colls = 1;
}

/* ---------------------------------------------------------- embed --- */

static void run_embed(ed_rag_t *rag, job_t *job)
{
    int dim = rag->embedder->dim;
    job->failed = -1;
    job->vectors = malloc((size_t)job->n_texts * (size_t)dim * sizeof *job->vectors);
    job->n_tokens = calloc((size_t)job->n_texts, sizeof *job->n_tokens);
    if (!job->vectors || !job->n_tokens) {
        job->rc = fail(job->err, ED_ENOMEM, "out of memory for %d vectors of %d", job->n_texts, dim);
        return;
    }
    for (int i = 0; i < job->n_texts; i++) {
        int rc = ed_embedder_embed_counted(rag->embedder, job->texts[i], job->lens[i], job->vectors + (size_t)i * dim,
                                           &job->n_tokens[i]);
        if (rc != 0) {
            job->failed = i;
            job->rc = fail(job->err, rc, "%s could not embed it: %s", rag->embedder->name, ed_strerror(rc));
            return;
        }
    }
}

/* ------------------------------------------------------------ queue --- */

static void run_open(ed_rag_t *rag, job_t *job);
static void answer_open(ed_rag_t *rag, job_t *job);

static void work_cb(uv_work_t *work)
{
    job_t *job = work->data;
    ed_rag_t *rag = job->rag;
    switch (job->kind) {
    case JOB_OPEN: run_open(rag, job); break;
    case JOB_EMBED: run_embed(rag, job); break;
    case JOB_INGEST: run_ingest(rag, job); break;
    case JOB_LIST: run_list(rag, job); break;
    case JOB_GET: run_get(rag, job); break;
    case JOB_DELETE: run_delete(rag, job); break;
    case JOB_SEARCH:
    case JOB_RETRIEVE: run_search(rag, job); break;
    case JOB_COLLECTIONS: run_collections(rag, job); break;
    case JOB_SET_ACCESS: run_set_access(rag, job); break;
    }
    pthread_mutex_lock(&rag->lock);
    rag->worker_busy = false;
    pthread_cond_broadcast(&rag->idle);
    pthread_mutex_unlock(&rag->lock);
}

static int count_tokens(ed_token_count_fn count, void *arg, const char *text, size_t len)
{
    return count ? count(text, len, arg) : ed_chunker_estimate_tokens(text, len, NULL);
}

/* The context block for a retrieve job, built on the loop thread (where the
 * chat model's counter may be called). */
static void answer_retrieve(ed_rag_t *rag, job_t *job)
{
    ed_rag_context_cb cb = (ed_rag_context_cb)job->cb;
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

static void answer(ed_rag_t *rag, job_t *job)
{
    const char *err = job->rc ? job->err : NULL;
    if (job->rc && !job->err[0])
        snprintf(job->err, sizeof job->err, "%s", ed_strerror(job->rc));
    uint64_t ns = uv_hrtime() - job->t0_ns;
    switch (job->kind) {
    case JOB_OPEN: answer_open(rag, job); break;
    case JOB_EMBED: {
        ed_rag_vectors_t v = {rag->embedder->name, rag->embedder->dim, job->vectors, job->n_tokens, job->n_texts};
        ((ed_rag_embed_cb)job->cb)(job->rc, err, job->failed, job->rc ? NULL : &v, job->arg);
        break;
    }
    case JOB_INGEST:
        atomic_fetch_add(&rag->ingest_count, 1);
        atomic_fetch_add(&rag->ingest_ns, ns);
        ((ed_rag_ingest_cb)job->cb)(job->rc, err, job->rc ? NULL : job->out, job->rc ? 0 : job->n_in, job->arg);
        break;
    case JOB_LIST:
    case JOB_GET:
        ((ed_rag_docs_cb)job->cb)(job->rc, err, job->docs, job->rc ? 0 : job->n_docs, job->next_after, job->arg);
        break;
    case JOB_DELETE: ((ed_rag_status_cb)job->cb)(job->rc, err, job->arg); break;
    case JOB_SEARCH:
        atomic_fetch_add(&rag->search_count, 1);
        atomic_fetch_add(&rag->search_ns, ns);
        ((ed_rag_search_cb)job->cb)(job->rc, err, job->hits, job->rc ? 0 : job->n_hits, job->arg);
        break;
    case JOB_COLLECTIONS:
    case JOB_SET_ACCESS:
        ((ed_rag_collections_cb)job->cb)(job->rc, err, job->colls, job->rc ? 0 : job->n_colls, job->arg);
        break;
    case JOB_RETRIEVE:
        atomic_fetch_add(&rag->search_count, 1);
        atomic_fetch_add(&rag->search_ns, ns);
        if (job->rc)
            ((ed_rag_context_cb)job->cb)(job->rc, err, NULL, NULL, 0, job->arg);
        else
            answer_retrieve(rag, job);
        break;
    }
}

static void rag_free(ed_rag_t *rag);
static void start_next(ed_rag_t *rag);

static void after_work_cb(uv_work_t *work, int status)
{
    (void)status; /* jobs are never cancelled through uv_cancel */
    job_t *job = work->data;
    ed_rag_t *rag = job->rag;
    rag->running = NULL;
    answer(rag, job);
    job_free(job);
    if (rag->closing)
        rag_free(rag);
    else
        start_next(rag);
}

/* Hands `job` to the thread pool; the worker must be idle. */
static void start_job(ed_rag_t *rag, job_t *job)
{
    rag->running = job;
    rag->work.data = job;
    pthread_mutex_lock(&rag->lock);
    rag->worker_busy = true;
    pthread_mutex_unlock(&rag->lock);
    int rc = uv_queue_work(rag->loop, &rag->work, work_cb, after_work_cb);
    if (rc != 0) {
        pthread_mutex_lock(&rag->lock);
        rag->worker_busy = false;
        pthread_mutex_unlock(&rag->lock);
        rag->running = NULL;
        job->rc = fail(job->err, ED_EIO, "cannot queue the work: %s", uv_strerror(rc));
        answer(rag, job);
        job_free(job);
    }
}

static void start_next(ed_rag_t *rag)
{
    if (rag->running || !rag->head)
        return;
    job_t *job = rag->head;
    rag->head = job->next;
    if (!rag->head)
        rag->tail = NULL;
    rag->n_queued--;
    start_job(rag, job);
}

static job_t *job_new(ed_rag_t *rag, job_kind_t kind, const ed_rag_caller_t *caller, void (*cb)(void), void *arg)
{
    job_t *job = calloc(1, sizeof *job);
    if (!job)
        return NULL;
    job->rag = rag;
    job->kind = kind;
    job->caller = *caller;
    job->cb = cb;
    job->arg = arg;
    job->t0_ns = uv_hrtime();
    return job;
}

/* Queues a job (freed on refusal). 0, or ED_EBUSY / ED_ESTATE with err. */
static int submit(ed_rag_t *rag, job_t *job, char err[ED_ERR_LEN])
{
    if (rag->closing) {
        job_free(job);
        return fail(err, ED_ESTATE, "the store is closing");
    }
    char status[ED_ERR_LEN];
    ed_rag_state_t state = ed_rag_state(rag, status);
    if (state != ED_RAG_OPEN) {
        job_free(job);
        return state == ED_RAG_OPENING ? fail(err, ED_EAGAIN, "the personal store is opening: %s", status)
                                       : fail(err, ED_ESTATE, "the personal store did not open: %s", status);
    }
    if (rag->n_queued >= QUEUE_MAX) {
        job_free(job);
        return fail(err, ED_EBUSY, "the store's queue is full (%d requests waiting)", QUEUE_MAX);
    }
    if (rag->tail)
        rag->tail->next = job;
    else
        rag->head = job;
    rag->tail = job;
    rag->n_queued++;
    start_next(rag);
    return 0;
}

/* ----------------------------------------------------------- metrics --- */

static void render_metrics(ed_buf_t *out, void *arg)
{
    ed_rag_t *rag = arg;
    ed_rag_stats_t st;
    ed_rag_stats(rag, &st);
    ed_buf_printf(out,
                  "# HELP edged_rag_documents Documents in the personal store.\n# TYPE edged_rag_documents gauge\n"
                  "edged_rag_documents %lld\n"
                  "# HELP edged_rag_chunks Chunks in the personal store.\n# TYPE edged_rag_chunks gauge\n"
                  "edged_rag_chunks %lld\n"
                  "# HELP edged_rag_vectors Vectors in the collections' indexes.\n# TYPE edged_rag_vectors gauge\n"
                  "edged_rag_vectors %lld\n"
                  "# HELP edged_rag_read_only 1 when the store turned read-only after a failed write.\n"
                  "# TYPE edged_rag_read_only gauge\nedged_rag_read_only %d\n",
                  (long long)st.documents, (long long)st.chunks, (long long)st.vectors, st.read_only);
    ed_buf_printf(out, "# HELP edged_rag_collection_vectors Vectors in one collection's index.\n"
                       "# TYPE edged_rag_collection_vectors gauge\n");
    pthread_mutex_lock(&rag->colls.lock);
    for (int i = 0; i < rag->colls.n; i++)
        ed_buf_printf(out, "edged_rag_collection_vectors{collection=\"%s\"} %lld\n", rag->colls.items[i].c.name,
                      (long long)rag->colls.items[i].n_vectors);
    ed_buf_printf(out, "# HELP edged_rag_collection_chunks Chunk rows of one collection.\n"
                       "# TYPE edged_rag_collection_chunks gauge\n");
    for (int i = 0; i < rag->colls.n; i++)
        ed_buf_printf(out, "edged_rag_collection_chunks{collection=\"%s\"} %lld\n", rag->colls.items[i].c.name,
                      (long long)rag->colls.items[i].n_chunks);
    pthread_mutex_unlock(&rag->colls.lock);
    ed_buf_printf(out,
                  "# HELP edged_rag_ingest_seconds Ingest requests, queueing included.\n"
                  "# TYPE edged_rag_ingest_seconds summary\nedged_rag_ingest_seconds_sum %.6f\n"
                  "edged_rag_ingest_seconds_count %llu\n"
                  "# HELP edged_rag_search_seconds Searches and retrievals, queueing included.\n"
                  "# TYPE edged_rag_search_seconds summary\nedged_rag_search_seconds_sum %.6f\n"
                  "edged_rag_search_seconds_count %llu\n",
                  (double)atomic_load(&rag->ingest_ns) / 1e9, (unsigned long long)atomic_load(&rag->ingest_count),
                  (double)atomic_load(&rag->search_ns) / 1e9, (unsigned long long)atomic_load(&rag->search_count));
}

/* ------------------------------------------------------------ public --- */

void ed_rag_stats(const ed_rag_t *rag, ed_rag_stats_t *out)
{
    memset(out, 0, sizeof *out);
    ed_rag_t *r = (ed_rag_t *)rag; /* the lock is not part of the value */
    pthread_mutex_lock(&r->colls.lock);
    for (int i = 0; i < r->colls.n; i++) {
        out->documents += r->colls.items[i].n_documents;
        out->chunks += r->colls.items[i].n_chunks;
        out->vectors += r->colls.items[i].n_vectors;
    }
    out->collections = r->colls.n;
    pthread_mutex_unlock(&r->colls.lock);
    out->read_only = atomic_load(&r->read_only);
}

void ed_rag_reconfigure(ed_rag_t *rag, const ed_config_t *cfg)
{
    rag->max_batch = (int)cfg->rag.max_batch_documents;
    rag->max_context_tokens = (int)cfg->rag.max_context_tokens;
}

static int open_embedder(ed_rag_t *rag, const ed_config_t *cfg, char err[ED_ERR_LEN])
{
    if (strcmp(cfg->rag.embedder, "hash") == 0)
        return ed_embedder_hash_init(&rag->embedder, err);
    bool chat = strcmp(cfg->rag.embedder, "chat") == 0;
    if (!chat && strcmp(cfg->rag.embedder, "model") != 0)
        return fail(err, ED_EUNSUPPORTED, "rag.embedder = %s is not available; use hash, model or chat",
                    cfg->rag.embedder);
    if (!chat && !cfg->rag.embedding_model[0])
        return fail(err, ED_ECONFIG, "rag.embedder = model needs rag.embedding_model (a BERT-family GGUF file)");
    if (chat && !cfg->model.path[0])
        return fail(err, ED_ECONFIG, "rag.embedder = chat needs a chat model ([model] path)");
    const ed_kernels_t *kernels = ed_kernels_select(getenv("EDGED_KERNELS"));
    if (!kernels)
        return fail(err, ED_EUNSUPPORTED, "no compute kernels for this CPU");
    int rc = ed_pool_open(&rag->pool, cfg->model.threads ? (int)cfg->model.threads : 2, err);
    if (rc == 0 && chat)
        rc = ed_embedder_chat_init(&rag->embedder, cfg->model.path, kernels, rag->pool, err);
    else if (rc == 0)
        rc = ed_embedder_model_init(&rag->embedder, cfg->rag.embedding_model, kernels, rag->pool, err);
    return rc;
}

/* The opening's line for refusals and /health; worker or loop thread. */
static void set_status(ed_rag_t *rag, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_status(ed_rag_t *rag, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pthread_mutex_lock(&rag->lock);
    vsnprintf(rag->status, sizeof rag->status, fmt, ap);
    pthread_mutex_unlock(&rag->lock);
    va_end(ap);
}

/* From a collection's re-embedding, after each chunk: the status line, and a
 * log line every PROGRESS_LOG_S seconds. */
static void on_rebuild_progress(void *arg, const char *collection, int64_t done, int64_t total)
{
    ed_rag_t *rag = arg;
    set_status(rag, "re-embedding collection \"%s\": %lld of %lld chunks", collection, (long long)done,
               (long long)total);
    atomic_store(&rag->reembed_done, done);
    atomic_store(&rag->reembed_total, total);
    uint64_t now = uv_hrtime();
    if (now - rag->t_logged_ns >= PROGRESS_LOG_S * 1000000000ull || done == total) {
        rag->t_logged_ns = now;
        ed_log_info("rag: collection \"%s\": re-embedded %lld of %lld chunks (%.0f%%)", collection,
                    (long long)done, (long long)total, total ? 100.0 * (double)done / (double)total : 100.0);
    }
}

/* What every scrape shows from ed_rag_open on, the opening included. */
static void render_state(ed_buf_t *out, void *arg)
{
    ed_rag_t *rag = arg;
    ed_buf_printf(out,
                  "# HELP edged_rag_opening 1 while the personal store opens (loads or re-embeds its indexes).\n"
                  "# TYPE edged_rag_opening gauge\nedged_rag_opening %d\n"
                  "# HELP edged_rag_reembed_chunks_done Chunks re-embedded so far by the opening's re-embedding.\n"
                  "# TYPE edged_rag_reembed_chunks_done gauge\nedged_rag_reembed_chunks_done %lld\n"
                  "# HELP edged_rag_reembed_chunks_total Chunks of the collection the opening re-embeds.\n"
                  "# TYPE edged_rag_reembed_chunks_total gauge\nedged_rag_reembed_chunks_total %lld\n",
                  atomic_load(&rag->state) == ED_RAG_OPENING, (long long)atomic_load(&rag->reembed_done),
                  (long long)atomic_load(&rag->reembed_total));
}

/* Frees what an opening set up; rag_free and a failed opening. */
static void release(ed_rag_t *rag)
{
    if (rag->colls.store)
        ed_rag_colls_free(&rag->colls);
    memset(&rag->colls, 0, sizeof rag->colls);
    ed_embedder_free(rag->embedder);
    rag->embedder = NULL;
    ed_pool_close(rag->pool);
    rag->pool = NULL;
    ed_store_close(rag->store);
    rag->store = NULL;
}

static void run_open(ed_rag_t *rag, job_t *job)
{
    const ed_config_t *cfg = job->cfg;
    char why[ED_ERR_LEN];
    set_status(rag, "opening the store in %s", cfg->state.directory);
    int rc = ed_store_open(&rag->store, cfg->state.directory, cfg->store.key_file[0] ? cfg->store.key_file : NULL,
                           why);
    if (rc != 0) {
        job->rc = fail(job->err, rc, "store: %s", why);
        goto out;
    }
    set_status(rag, "loading the embedder (rag.embedder = %s)", cfg->rag.embedder);
    if ((rc = open_embedder(rag, cfg, why)) != 0) {
        job->rc = fail(job->err, rc, "embedder: %s", why);
        goto out;
    }
    ed_rag_colls_init(&rag->colls, rag->store, rag->embedder, cfg->rag.hnsw_threshold);
    rag->colls.cancel = &rag->cancel;
    rag->colls.progress = on_rebuild_progress;
    rag->colls.progress_arg = rag;
    set_status(rag, "loading the collections' indexes");
    if ((rc = ed_rag_colls_load(&rag->colls, job->err)) != 0) {
        job->rc = rc;
        goto out;
    }
    const char *ro = NULL;
    atomic_store(&rag->read_only, ed_store_read_only(rag->store, &ro));
out:
    if (job->rc != 0)
        release(rag);
}

/* The opening's end, on the loop thread. */
static void answer_open(ed_rag_t *rag, job_t *job)
{
    if (job->rc == 0 && rag->closing) /* ed_rag_close came first: it is freed next */
        job->rc = fail(job->err, ED_ECANCELED, "the store was closed while it opened");
    if (job->rc == 0) {
        atomic_store(&rag->state, ED_RAG_OPEN);
        set_status(rag, "open");
        ed_metrics_register(render_metrics, rag);
        ed_rag_stats_t st;
        ed_rag_stats(rag, &st);
        ed_log_info("rag: store %s open in %.2f s: %d collections, %lld documents, %lld chunks, embedder %s",
                    job->cfg->state.directory, (double)(uv_hrtime() - rag->t_open_ns) / 1e9, st.collections,
                    (long long)st.documents, (long long)st.chunks, rag->embedder->name);
    } else {
        atomic_store(&rag->state, ED_RAG_FAILED);
        set_status(rag, "%s", job->err);
        if (job->rc == ED_ECANCELED) /* edged is stopping; the caller logs real failures */
            ed_log_info("rag: the opening stopped: %s", job->err);
    }
    ((ed_rag_open_cb)job->cb)(job->rc, job->rc ? job->err : NULL, job->arg);
}

int ed_rag_open(ed_rag_t **out, uv_loop_t *loop, const ed_config_t *cfg, ed_rag_open_cb on_open, void *arg,
                char err[ED_ERR_LEN])
{
    *out = NULL;
    ed_rag_t *rag = calloc(1, sizeof *rag);
    if (!rag)
        return fail(err, ED_ENOMEM, "out of memory");
    pthread_mutex_init(&rag->lock, NULL);
    pthread_cond_init(&rag->idle, NULL);
    rag->loop = loop;
    rag->chunk_tokens = (int)cfg->rag.chunk_tokens;
    rag->chunk_overlap = (int)cfg->rag.chunk_overlap;
    if (rag->chunk_overlap >= rag->chunk_tokens)
        rag->chunk_overlap = rag->chunk_tokens / 4;
    ed_rag_reconfigure(rag, cfg);
    atomic_init(&rag->state, ED_RAG_OPENING);
    snprintf(rag->status, sizeof rag->status, "starting");
    rag->t_open_ns = rag->t_logged_ns = uv_hrtime();
    job_t *job = job_new(rag, JOB_OPEN, &(ed_rag_caller_t){0, 0}, (void (*)(void))on_open, arg);
    if (!job || !(job->cfg = malloc(sizeof *job->cfg))) {
        job_free(job);
        rag_free(rag);
        return fail(err, ED_ENOMEM, "out of memory");
    }
    *job->cfg = *cfg;
    ed_metrics_register(render_state, rag);
    start_job(rag, job);
    *out = rag;
    return 0;
}

ed_rag_state_t ed_rag_state(const ed_rag_t *rag, char reason[ED_ERR_LEN])
{
    ed_rag_t *r = (ed_rag_t *)rag; /* the lock is not part of the value */
    pthread_mutex_lock(&r->lock);
    snprintf(reason, ED_ERR_LEN, "%s", r->status);
    pthread_mutex_unlock(&r->lock);
    return (ed_rag_state_t)atomic_load(&r->state);
}

static void rag_free(ed_rag_t *rag)
{
    release(rag);
    pthread_mutex_destroy(&rag->lock);
    pthread_cond_destroy(&rag->idle);
    free(rag);
}

void ed_rag_close(ed_rag_t *rag)
{
    if (!rag)
        return;
    ed_metrics_unregister(render_metrics, rag);
    ed_metrics_unregister(render_state, rag);
    rag->closing = true;
    atomic_store(&rag->cancel, true); /* an opening's re-embedding stops */
    while (rag->head) { /* never started: answered as cancelled */
        job_t *job = rag->head;
        rag->head = job->next;
        job->rc = fail(job->err, ED_ECANCELED, "the daemon is stopping");
        answer(rag, job);
        job_free(job);
    }
    rag->tail = NULL;
    rag->n_queued = 0;
    if (!rag->running) {
        rag_free(rag);
        return;
    }
    /* The job in flight finishes its write; its answer comes through
     * after_work_cb, which then frees the rest. */
    pthread_mutex_lock(&rag->lock);
    while (rag->worker_busy)
        pthread_cond_wait(&rag->idle, &rag->lock);
    pthread_mutex_unlock(&rag->lock);
}

/* ----------------------------------------------------------- submits --- */

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
        return fail(err, ED_EFORMAT, "documents: expected at least one document");
    if (n > rag->max_batch)
        return fail(err, ED_ETOOBIG, "documents: %d documents, at most %d in one request (rag.max_batch_documents)",
                    n, rag->max_batch);
    for (int i = 0; i < n; i++) {
        char why[ED_ERR_LEN];
        if (docs[i].len == 0)
            return fail(err, ED_EFORMAT, "documents[%d]: the text is empty", i);
        if ((rc = ed_markup_check_utf8(docs[i].body, docs[i].len, why)) != 0)
            return fail(err, rc, "documents[%d]: %s", i, why);
    }
    job_t *job = job_new(rag, JOB_INGEST, caller, (void (*)(void))cb, arg);
    if (!job)
        return fail(err, ED_ENOMEM, "out of memory");
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
        job_free(job);
        return fail(err, ED_ENOMEM, "out of memory");
    }
    return submit(rag, job, err);
}

int ed_rag_list(ed_rag_t *rag, const ed_rag_caller_t *caller, const char *collection, int64_t after, int limit,
                ed_rag_docs_cb cb, void *arg, char err[ED_ERR_LEN])
{
    if (limit < 1 || limit > 1000)
        return fail(err, ED_EINVAL, "limit: expected 1 to 1000, got %d", limit);
    if (collection && strlen(collection) >= ED_STORE_NAME_MAX)
        return fail(err, ED_ENOENT, "collection \"%.64s...\" does not exist", collection);
    job_t *job = job_new(rag, JOB_LIST, caller, (void (*)(void))cb, arg);
    if (!job)
        return fail(err, ED_ENOMEM, "out of memory");
    snprintf(job->collection, sizeof job->collection, "%s", collection ? collection : "");
    job->after = after;
    job->limit = limit;
    return submit(rag, job, err);
}

int ed_rag_get(ed_rag_t *rag, const ed_rag_caller_t *caller, int64_t id, bool with_text, ed_rag_docs_cb cb,
               void *arg, char err[ED_ERR_LEN])
{
    job_t *job = job_new(rag, JOB_GET, caller, (void (*)(void))cb, arg);
    if (!job)
        return fail(err, ED_ENOMEM, "out of memory");
    job->id = id;
    job->with_text = with_text;
    return submit(rag, job, err);
}

int ed_rag_delete(ed_rag_t *rag, const ed_rag_caller_t *caller, int64_t id, ed_rag_status_cb cb, void *arg,
                  char err[ED_ERR_LEN])
{
    job_t *job = job_new(rag, JOB_DELETE, caller, (void (*)(void))cb, arg);
    if (!job)
        return fail(err, ED_ENOMEM, "out of memory");
    job->id = id;
    return submit(rag, job, err);
}

/* Fills a search or retrieve job's query and collection names. */
static int search_job(job_t *job, const char *query, const char *const *collections, int n_collections, int top_k,
                      char err[ED_ERR_LEN])
{
    if (!query || !*query)
        return fail(err, ED_EINVAL, "query: expected a non-empty string");
    if (top_k < 1 || top_k > 100)
        return fail(err, ED_EINVAL, "top_k: expected 1 to 100, got %d", top_k);
    if (n_collections < 0 || n_collections > 64)
        return fail(err, ED_EINVAL, "collections: expected at most 64, got %d", n_collections);
    job->top_k = top_k;
    if (!(job->query = strdup(query)))
        return fail(err, ED_ENOMEM, "out of memory");
    if (n_collections > 0 && collections) {
        if (!(job->names = calloc((size_t)n_collections, sizeof *job->names)))
            return fail(err, ED_ENOMEM, "out of memory");
        for (int i = 0; i < n_collections; i++) {
            if (strlen(collections[i]) >= ED_STORE_NAME_MAX)
                return fail(err, ED_ENOENT, "collection \"%.64s...\" does not exist", collections[i]);
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
    job_t *job = job_new(rag, JOB_SEARCH, caller, (void (*)(void))cb, arg);
    if (!job)
        return fail(err, ED_ENOMEM, "out of memory");
    job->mode = mode;
    int rc = search_job(job, query, collections, n_collections, top_k, err);
    if (rc != 0) {
        job_free(job);
        return rc;
    }
    return submit(rag, job, err);
}

int ed_rag_retrieve(ed_rag_t *rag, const ed_rag_caller_t *caller, const char *query, const char *const *collections,
                    int n_collections, int top_k, int budget_tokens, int n_ctx, ed_token_count_fn count,
                    void *count_arg, ed_rag_context_cb cb, void *arg, char err[ED_ERR_LEN])
{
    job_t *job = job_new(rag, JOB_RETRIEVE, caller, (void (*)(void))cb, arg);
    if (!job)
        return fail(err, ED_ENOMEM, "out of memory");
    job->mode = ED_RAG_HYBRID;
    job->budget_tokens = budget_tokens;
    job->n_ctx = n_ctx;
    job->count = count;
    job->count_arg = count_arg;
    int rc = search_job(job, query, collections, n_collections, top_k, err);
    if (rc != 0) {
        job_free(job);
        return rc;
    }
    return submit(rag, job, err);
}

int ed_rag_collections(ed_rag_t *rag, const ed_rag_caller_t *caller, ed_rag_collections_cb cb, void *arg,
                       char err[ED_ERR_LEN])
{
    job_t *job = job_new(rag, JOB_COLLECTIONS, caller, (void (*)(void))cb, arg);
    if (!job)
        return fail(err, ED_ENOMEM, "out of memory");
    return submit(rag, job, err);
}

int ed_rag_set_access(ed_rag_t *rag, const ed_rag_caller_t *caller, const char *name, const char *allow,
                      ed_rag_collections_cb cb, void *arg, char err[ED_ERR_LEN])
{
    int rc = ed_rag_check_name(name, err);
    if (rc != 0)
        return rc;
    if (strlen(allow) >= sizeof ((ed_collection_t *)0)->allow)
        return fail(err, ED_EFORMAT, "allow: at most %zu bytes", sizeof ((ed_collection_t *)0)->allow - 1);
    if ((rc = check_allow(allow, err)) != 0)
        return rc;
    job_t *job = job_new(rag, JOB_SET_ACCESS, caller, (void (*)(void))cb, arg);
    if (!job || !(job->allow = strdup(allow))) {
        job_free(job);
        return fail(err, ED_ENOMEM, "out of memory");
    }
    snprintf(job->collection, sizeof job->collection, "%s", name);
    return submit(rag, job, err);
}

int ed_rag_embed(ed_rag_t *rag, const char *const *texts, const size_t *lens, int n, ed_rag_embed_cb cb, void *arg,
                 char err[ED_ERR_LEN])
{
    if (n <= 0)
        return fail(err, ED_EINVAL, "nothing to embed");
    job_t *job = job_new(rag, JOB_EMBED, &(ed_rag_caller_t){0, 0}, (void (*)(void))cb, arg);
    if (!job)
        return fail(err, ED_ENOMEM, "out of memory");
    job->texts = texts;
    job->lens = lens;
    job->n_texts = n;
    job->failed = -1;
    return submit(rag, job, err);
}

const char *ed_rag_embedder(const ed_rag_t *rag, int *dim, int64_t *created)
{
    if (atomic_load(&rag->state) != ED_RAG_OPEN)
        return NULL;
    if (dim)
        *dim = rag->embedder->dim;
    if (created)
        *created = rag->embedder->created;
    return rag->embedder->name;
}
