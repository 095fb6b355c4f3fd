/* rag_documents.c - the jobs over what the store holds, as a caller may
 * see it (see rag.h): list, get and delete documents; list the collections
 * and change who may read one. Access is checked on the worker against the
 * collections' table (rag_collection.h). */
#include "rag/rag_service.h"

#include "core/log.h"
#include "rag/index.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIST_PAGE 256         /* documents read per store call while filtering a list */

static void rag_doc_free(ed_rag_doc_t *d)
{
    free(d->title);
    free(d->source);
    free(d->metadata_json);
    free(d->text);
}

/* Moves a store document into an answer's document. */
static void doc_take(ed_rag_t *rag, ed_document_t *d, ed_rag_doc_t *out)
{
    ed_rag_coll_t *c = ed_rag_colls_by_id(&rag->colls, d->collection_id);
    *out = (ed_rag_doc_t){.id = d->id, .title = d->title, .source = d->source, .metadata_json = d->metadata_json,
                          .text = d->text, .text_len = d->text_len, .n_chunks = d->n_chunks,
                          .n_tokens = d->n_tokens, .version = d->version, .created = d->created};
    snprintf(out->collection, sizeof out->collection, "%s", c ? c->c.name : "");
    memset(d, 0, sizeof *d);
}

static void run_list(ed_rag_t *rag, ed__rag_job_t *job)
{
    ed_rag_coll_t *only = NULL;
    if (job->collection[0] && (job->rc = ed_rag_colls_readable(&rag->colls, job->collection, &job->caller, &only, job->err)))
        return;
    job->docs = calloc((size_t)job->limit, sizeof *job->docs);
    ed_document_t *page = calloc(LIST_PAGE, sizeof *page);
    if (!job->docs || !page) {
        free(page);
        job->rc = ed_errf(job->err, ED_ENOMEM, "out of memory");
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
static int doc_readable(ed_rag_t *rag, ed__rag_job_t *job, bool with_text, ed_document_t *d, ed_rag_coll_t **c)
{
    int rc = ed_store_document_get(rag->store, job->id, false, d, job->err);
    if (rc == ED_ENOENT)
        return ed_errf(job->err, ED_ENOENT, "document %lld does not exist", (long long)job->id);
    if (rc != 0)
        return rc;
    *c = ed_rag_colls_by_id(&rag->colls, d->collection_id);
    if (!*c || !ed_rag_may_read(&(*c)->c, &job->caller)) {
        ed_document_free(d);
        return ed_errf(job->err, ED_EACCES, "document %lld is in collection \"%s\", which uid %u may not read",
                       (long long)job->id, *c ? (*c)->c.name : "?", job->caller.uid);
    }
    if (with_text) {
        ed_document_free(d);
        rc = ed_store_document_get(rag->store, job->id, true, d, job->err);
    }
    return rc;
}

static void run_get(ed_rag_t *rag, ed__rag_job_t *job)
{
    ed_document_t d = {0};
    ed_rag_coll_t *c;
    if ((job->rc = doc_readable(rag, job, job->with_text, &d, &c)) != 0)
        return;
    if (!(job->docs = calloc(1, sizeof *job->docs))) {
        ed_document_free(&d);
        job->rc = ed_errf(job->err, ED_ENOMEM, "out of memory");
        return;
    }
    doc_take(rag, &d, &job->docs[0]);
    job->n_docs = 1;
}

static void run_delete(ed_rag_t *rag, ed__rag_job_t *job)
{
    ed_document_t d = {0};
    ed_rag_coll_t *c;
    if ((job->rc = doc_readable(rag, job, false, &d, &c)) != 0)
        return;
    ed_document_free(&d);
    if (!ed_rag_may_write(&c->c, &job->caller)) {
        job->rc = ed_errf(job->err, ED_EACCES, "only the owner of collection \"%s\" (uid %u) may delete from it",
                          c->c.name, c->c.owner_uid);
        return;
    }
    if (!ed__rag_store_writable(rag, job->err)) {
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

static void run_collections(ed_rag_t *rag, ed__rag_job_t *job)
{
    ed_rag_colls_t *colls = &rag->colls;
    job->colls = calloc((size_t)(colls->n ? colls->n : 1), sizeof *job->colls);
    if (!job->colls) {
        job->rc = ed_errf(job->err, ED_ENOMEM, "out of memory");
        return;
    }
    for (int i = 0; i < colls->n; i++)
        if (ed_rag_may_read(&colls->items[i].c, &job->caller))
            coll_describe(colls, &colls->items[i], &job->colls[job->n_colls++]);
}

static void run_set_access(ed_rag_t *rag, ed__rag_job_t *job)
{
    ed_rag_coll_t *c = ed_rag_colls_find(&rag->colls, job->collection);
    if (!c || !ed_rag_may_read(&c->c, &job->caller)) {
        job->rc = ed_errf(job->err, ED_ENOENT, "collection \"%s\" does not exist", job->collection);
        return;
    }
    if (!ed_rag_may_write(&c->c, &job->caller)) {
        job->rc = ed_errf(job->err, ED_EACCES, "only the owner of collection \"%s\" (uid %u) may change who reads it",
                          c->c.name, c->c.owner_uid);
        return;
    }
    if (!ed__rag_store_writable(rag, job->err)) {
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
        job->rc = ed_errf(job->err, ED_ENOMEM, "out of memory");
        return;
    }
    coll_describe(&rag->colls, c, &job->colls[0]);
    job->n_colls = 1;
}

/* --------------------------------------------------------- answers --- */

static void answer_docs(ed_rag_t *rag, ed__rag_job_t *job, const char *err)
{
    (void)rag;
    job->cb.docs(job->rc, err, job->docs, job->rc ? 0 : job->n_docs, job->next_after, job->arg);
}

static void free_docs(ed__rag_job_t *job)
{
    for (int i = 0; i < job->n_docs; i++)
        rag_doc_free(&job->docs[i]);
    free(job->docs);
}

static void answer_status(ed_rag_t *rag, ed__rag_job_t *job, const char *err)
{
    (void)rag;
    job->cb.status(job->rc, err, job->arg);
}

static void free_nothing(ed__rag_job_t *job)
{
    (void)job;
}

static void answer_collections(ed_rag_t *rag, ed__rag_job_t *job, const char *err)
{
    (void)rag;
    job->cb.collections(job->rc, err, job->colls, job->rc ? 0 : job->n_colls, job->arg);
}

static void free_collections(ed__rag_job_t *job)
{
    free(job->allow);
    free(job->colls);
}

static const ed__rag_kind_t KIND_LIST = {run_list, answer_docs, free_docs};
static const ed__rag_kind_t KIND_GET = {run_get, answer_docs, free_docs};
static const ed__rag_kind_t KIND_DELETE = {run_delete, answer_status, free_nothing};
static const ed__rag_kind_t KIND_COLLECTIONS = {run_collections, answer_collections, free_collections};
static const ed__rag_kind_t KIND_SET_ACCESS = {run_set_access, answer_collections, free_collections};

/* ----------------------------------------------------------- submits --- */

int ed_rag_list(ed_rag_t *rag, const ed_rag_caller_t *caller, const char *collection, int64_t after, int limit,
                ed_rag_docs_cb cb, void *arg, char err[ED_ERR_LEN])
{
    if (limit < 1 || limit > 1000)
        return ed_errf(err, ED_EINVAL, "limit: expected 1 to 1000, got %d", limit);
    if (collection && strlen(collection) >= ED_STORE_NAME_MAX)
        return ed_errf(err, ED_ENOENT, "collection \"%.64s...\" does not exist", collection);
    ed__rag_job_t *job = ed__rag_job_new(rag, &KIND_LIST, caller, (ed__rag_cb_t){.docs = cb}, arg);
    if (!job)
        return ed_errf(err, ED_ENOMEM, "out of memory");
    snprintf(job->collection, sizeof job->collection, "%s", collection ? collection : "");
    job->after = after;
    job->limit = limit;
    return ed__rag_submit(rag, job, err);
}

int ed_rag_get(ed_rag_t *rag, const ed_rag_caller_t *caller, int64_t id, bool with_text, ed_rag_docs_cb cb,
               void *arg, char err[ED_ERR_LEN])
{
    ed__rag_job_t *job = ed__rag_job_new(rag, &KIND_GET, caller, (ed__rag_cb_t){.docs = cb}, arg);
    if (!job)
        return ed_errf(err, ED_ENOMEM, "out of memory");
    job->id = id;
    job->with_text = with_text;
    return ed__rag_submit(rag, job, err);
}

int ed_rag_delete(ed_rag_t *rag, const ed_rag_caller_t *caller, int64_t id, ed_rag_status_cb cb, void *arg,
                  char err[ED_ERR_LEN])
{
    ed__rag_job_t *job = ed__rag_job_new(rag, &KIND_DELETE, caller, (ed__rag_cb_t){.status = cb}, arg);
    if (!job)
        return ed_errf(err, ED_ENOMEM, "out of memory");
    job->id = id;
    return ed__rag_submit(rag, job, err);
}

int ed_rag_collections(ed_rag_t *rag, const ed_rag_caller_t *caller, ed_rag_collections_cb cb, void *arg,
                       char err[ED_ERR_LEN])
{
    ed__rag_job_t *job = ed__rag_job_new(rag, &KIND_COLLECTIONS, caller, (ed__rag_cb_t){.collections = cb}, arg);
    if (!job)
        return ed_errf(err, ED_ENOMEM, "out of memory");
    return ed__rag_submit(rag, job, err);
}

int ed_rag_set_access(ed_rag_t *rag, const ed_rag_caller_t *caller, const char *name, const char *allow,
                      ed_rag_collections_cb cb, void *arg, char err[ED_ERR_LEN])
{
    int rc = ed_rag_check_name(name, err);
    if (rc != 0)
        return rc;
    if (strlen(allow) >= sizeof ((ed_collection_t *)0)->allow)
        return ed_errf(err, ED_EFORMAT, "allow: at most %zu bytes", sizeof ((ed_collection_t *)0)->allow - 1);
    if ((rc = ed_rag_check_allow(allow, err)) != 0)
        return rc;
    ed__rag_job_t *job = ed__rag_job_new(rag, &KIND_SET_ACCESS, caller, (ed__rag_cb_t){.collections = cb}, arg);
    if (!job || !(job->allow = strdup(allow))) {
        ed__rag_job_free(job);
        return ed_errf(err, ED_ENOMEM, "out of memory");
    }
    snprintf(job->collection, sizeof job->collection, "%s", name);
    return ed__rag_submit(rag, job, err);
}
