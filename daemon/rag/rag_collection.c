/* rag_collection.c - the rag service's collections (see rag_collection.h):
 * access rules, the table, and each collection's index as a cache of the
 * record (load, rebuild from sealed vectors or by re-embedding chunk text,
 * save with the collection's generation). */
#include "rag/rag_collection.h"

#include "core/log.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REEMBED_KEEP_EVERY 64 /* chunks re-embedded between two keeps (one transaction each) */

/* ------------------------------------------------------------ access --- */

/* Owner, root, or an allow-list entry ("*", "uid:N", "gid:N"). */
bool ed_rag_may_read(const ed_collection_t *c, const ed_rag_caller_t *who)
{
    if (who->uid == 0 || who->uid == c->owner_uid)
        return true;
    const char *p = c->allow;
    while (*p) {
        while (*p == ' ')
            p++;
        size_t n = strcspn(p, " ");
        char *end;
        if (n == 1 && *p == '*')
            return true;
        if (n > 4 && strncmp(p, "uid:", 4) == 0 && strtoul(p + 4, &end, 10) == who->uid && end == p + n)
            return true;
        if (n > 4 && strncmp(p, "gid:", 4) == 0 && strtoul(p + 4, &end, 10) == who->gid && end == p + n)
            return true;
        p += n;
    }
    return false;
}

bool ed_rag_may_write(const ed_collection_t *c, const ed_rag_caller_t *who)
{
    return who->uid == 0 || who->uid == c->owner_uid;
}

/* Collection names are 1..127 bytes of [A-Za-z0-9._:@-]: safe in logs,
 * metric labels and file names. */
int ed_rag_check_name(const char *name, char err[ED_ERR_LEN])
{
    size_t n = strlen(name);
    if (n == 0 || n >= ED_STORE_NAME_MAX)
        return ed_errf(err, ED_EFORMAT, "collection: expected 1 to %d characters, got %zu", ED_STORE_NAME_MAX - 1, n);
    for (size_t i = 0; i < n; i++) {
        char ch = name[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                  strchr("._:@-", ch) != NULL;
        if (!ok)
            return ed_errf(err, ED_EFORMAT, "collection: \"%s\" may hold only letters, digits and . _ : @ -", name);
    }
    return 0;
}

/* "*", "uid:N" and "gid:N" entries, separated by spaces. */
int ed_rag_check_allow(const char *allow, char err[ED_ERR_LEN])
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
            return ed_errf(err, ED_EFORMAT, "allow: expected \"*\", \"uid:N\" or \"gid:N\", got \"%.*s\"",
                           (int)(n < 40 ? n : 40), p);
        p += n;
    }
    return 0;
}

/* ------------------------------------------------------- collections --- */

ed_rag_coll_t *ed_rag_colls_find(ed_rag_colls_t *colls, const char *name)
{
    for (int i = 0; i < colls->n; i++)
        if (strcmp(colls->items[i].c.name, name) == 0)
            return &colls->items[i];
    return NULL;
}

ed_rag_coll_t *ed_rag_colls_by_id(ed_rag_colls_t *colls, int64_t id)
{
    for (int i = 0; i < colls->n; i++)
        if (colls->items[i].c.id == id)
            return &colls->items[i];
    return NULL;
}

/* The named collection if the caller may read it: ED_ENOENT / ED_EACCES. */
int ed_rag_colls_readable(ed_rag_colls_t *colls, const char *name, const ed_rag_caller_t *who, ed_rag_coll_t **out,
                         char err[ED_ERR_LEN])
{
    ed_rag_coll_t *c = ed_rag_colls_find(colls, name);
    if (!c)
        return ed_errf(err, ED_ENOENT, "collection \"%s\" does not exist", name);
    if (!ed_rag_may_read(&c->c, who))
        return ed_errf(err, ED_EACCES, "collection \"%s\" belongs to uid %u and does not allow uid %u", name,
                       c->c.owner_uid, who->uid);
    *out = c;
    return 0;
}

void ed_rag_colls_count(ed_rag_colls_t *colls, ed_rag_coll_t *c, int64_t d_docs, int64_t d_chunks)
{
    pthread_mutex_lock(&colls->lock);
    c->n_documents += d_docs;
    c->n_chunks += d_chunks;
    c->n_vectors = ed_index_count(c->index);
    pthread_mutex_unlock(&colls->lock);
}

/* Saves c's index under "<id>.faiss" with the collection's generation. A failure
 * is logged only: the record is the truth and the next open rebuilds. */
void ed_rag_colls_save(ed_rag_colls_t *colls, ed_rag_coll_t *c)
{
    char name[64], err[ED_ERR_LEN];
    snprintf(name, sizeof name, "%lld.faiss", (long long)c->c.id);
    void *data = NULL;
    size_t len = 0;
    int64_t generation = 0;
    int rc = ed_store_collection_generation(colls->store, c->c.id, &generation, err);
    if (rc == 0)
        rc = ed_index_save(c->index, &data, &len, err);
    if (rc == 0)
        rc = ed_store_blob_save(colls->store, name, data, len, generation, err);
    free(data);
    if (rc != 0)
        ed_log_warn("rag: collection \"%s\": index not saved (rebuilt at the next start): %s", c->c.name, err);
}

typedef struct {
    int64_t *ids; /* (n, cap) */
    float *vectors; /* (n, dim) */
    int64_t n, cap;
    int dim;
    bool ids_only;
    int bad_dim; /* the width of a vector that did not match, or 0 */
} collect_t;

static int collect_vector(int64_t chunk_id, const float *vector, int dim, void *arg)
{
    collect_t *k = arg;
    if (k->n == k->cap) {
        int64_t cap = k->cap ? k->cap * 2 : 1024;
        int64_t *ids = realloc(k->ids, (size_t)cap * sizeof *ids);
        if (!ids)
            return ED_ENOMEM;
        k->ids = ids;
        if (!k->ids_only) {
            float *v = realloc(k->vectors, (size_t)cap * (size_t)k->dim * sizeof *v);
            if (!v)
                return ED_ENOMEM;
            k->vectors = v;
        }
        k->cap = cap;
    }
    if (!k->ids_only) {
        if (dim != k->dim) {
            k->bad_dim = dim;
            return ED_ECORRUPT;
        }
        memcpy(k->vectors + k->n * k->dim, vector, (size_t)dim * sizeof *vector);
    }
    k->ids[k->n++] = chunk_id;
    return 0;
}

/* Embeds "title\ncontext\ntext" into out (the embedder's dim). */
int ed_rag_embed_chunk(ed_embedder_t *embedder, const char *title, const char *context, size_t context_len,
                       const char *text, size_t len, float *out)
{
    size_t tlen = title ? strlen(title) : 0;
    char *buf = malloc(tlen + context_len + len + 3);
    if (!buf)
        return ED_ENOMEM;
    size_t n = 0;
    if (tlen) {
        memcpy(buf, title, tlen);
        n = tlen;
        buf[n++] = '\n';
    }
    if (context_len) {
        memcpy(buf + n, context, context_len);
        n += context_len;
        buf[n++] = '\n';
    }
    memcpy(buf + n, text, len);
    n += len;
    int rc = ed_embedder_embed(embedder, buf, n, out);
    free(buf);
    return rc;
}

static int cmp_id(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

typedef struct {
    const collect_t *k;
    float *vectors; /* (k->n, dim) */
    bool *done;     /* (k->n) */
    int64_t n_done;
    int dim;
} resume_t;

/* A vector kept by an earlier, stopped re-embedding: taken if its chunk is
 * still one of the collection's (ids ascend: the record's walk order). */
static int resume_vector(int64_t chunk_id, const float *vector, int dim, void *arg)
{
    (void)dim; /* the walk checked it */
    resume_t *r = arg;
    const int64_t *hit = bsearch(&chunk_id, r->k->ids, (size_t)r->k->n, sizeof *r->k->ids, cmp_id);
    if (hit && !r->done[hit - r->k->ids]) {
        int64_t i = hit - r->k->ids;
        memcpy(r->vectors + i * r->dim, vector, (size_t)r->dim * sizeof *vector);
        r->done[i] = true;
        r->n_done++;
    }
    return 0;
}

/* Keeps the vectors of the chunks pending[0..n) (indexes into k). */
static int keep(ed_rag_colls_t *colls, ed_rag_coll_t *c, const collect_t *k, const float *vectors,
                const int64_t *pending, int n, char err[ED_ERR_LEN])
{
    if (n == 0)
        return 0;
    int dim = colls->embedder->dim;
    int64_t ids[REEMBED_KEEP_EVERY];
    float *batch = malloc((size_t)n * (size_t)dim * sizeof *batch);
    if (!batch)
        return ed_errf(err, ED_ENOMEM, "out of memory keeping re-embedded vectors");
    for (int j = 0; j < n; j++) {
        ids[j] = k->ids[pending[j]];
        memcpy(batch + (size_t)j * dim, vectors + pending[j] * dim, (size_t)dim * sizeof *batch);
    }
    char why[ED_ERR_LEN];
    int rc = ed_store_reembed_keep(colls->store, c->c.id, colls->embedder->name, dim, ids, batch, n, why);
    free(batch);
    return rc == 0 ? 0 : ed_errf(err, rc, "keeping re-embedded vectors: %s", why);
}

/* Embeds the texts of c's chunks k->ids again with the configured embedder
 * into k->vectors. It resumes from the vectors an earlier, stopped run kept
 * and keeps its own every REEMBED_KEEP_EVERY chunks and when it is stopped,
 * so that a stop or a crash costs at most that much work. */
static int reembed(ed_rag_colls_t *colls, ed_rag_coll_t *c, collect_t *k, char err[ED_ERR_LEN])
{
    int dim = colls->embedder->dim;
    resume_t r = {.k = k, .dim = dim};
    r.vectors = malloc((size_t)(k->n ? k->n : 1) * (size_t)dim * sizeof *r.vectors);
    r.done = calloc((size_t)(k->n ? k->n : 1), sizeof *r.done);
    if (!r.vectors || !r.done) {
        free(r.vectors);
        free(r.done);
        return ed_errf(err, ED_ENOMEM, "out of memory re-embedding collection \"%s\"", c->c.name);
    }
    char why[ED_ERR_LEN];
    int rc = ed_store_reembed_foreach(colls->store, c->c.id, colls->embedder->name, dim, resume_vector, &r, why);
    if (rc != 0)
        ed_errf(err, rc, "reading the kept re-embedded vectors: %s", why);
    else if (r.n_done)
        ed_log_info("rag: collection \"%s\": resuming: %lld of %lld chunks were re-embedded before", c->c.name,
                    (long long)r.n_done, (long long)k->n);
    int64_t pending[REEMBED_KEEP_EVERY], n_done = r.n_done;
    int n_pending = 0;
    ed_document_t doc = {0};
    for (int64_t i = 0; rc == 0 && i < k->n; i++) {
        if (r.done[i])
            continue;
        if (colls->cancel && atomic_load(colls->cancel)) {
            rc = ed_errf(err, ED_ECANCELED, "the re-embedding stopped at chunk %lld of %lld", (long long)n_done,
                         (long long)k->n);
            break;
        }
        ed_chunk_t chunk;
        if ((rc = ed_store_chunk_get(colls->store, k->ids[i], &chunk, err)) != 0)
            break;
        /* the heading context lies in the document's text: read it once per document */
        if (chunk.context_len && doc.id != chunk.doc_id) {
            ed_document_free(&doc);
            rc = ed_store_document_get(colls->store, chunk.doc_id, true, &doc, err);
        }
        bool context = rc == 0 && chunk.context_len && doc.id == chunk.doc_id &&
                       chunk.context_offset + chunk.context_len <= doc.text_len;
        if (rc == 0)
            rc = ed_rag_embed_chunk(colls->embedder, chunk.title, context ? doc.text + chunk.context_offset : NULL,
                                    context ? chunk.context_len : 0, chunk.text, chunk.len, r.vectors + i * dim);
        ed_chunk_free(&chunk);
        if (rc != 0) {
            ed_errf(err, rc, "embedding chunk %lld: %s", (long long)k->ids[i], ed_strerror(rc));
            break;
        }
        pending[n_pending++] = i;
        if (n_pending == REEMBED_KEEP_EVERY) {
            rc = keep(colls, c, k, r.vectors, pending, n_pending, err);
            n_pending = 0;
        }
        if (colls->progress)
            colls->progress(colls->progress_arg, c->c.name, ++n_done, k->n);
    }
    if (rc == ED_ECANCELED) { /* what was done since the last keep is kept too */
        char kept[ED_ERR_LEN];
        if (keep(colls, c, k, r.vectors, pending, n_pending, kept) != 0)
            ed_log_warn("rag: collection \"%s\": %s", c->c.name, kept);
    }
    ed_document_free(&doc);
    free(r.done);
    free(k->vectors);
    k->vectors = r.vectors;
    return rc;
}

/* Builds c's index from the record: its sealed vectors, or (when they are
 * another embedder's) its chunk texts embedded again. */
static int coll_rebuild(ed_rag_colls_t *colls, ed_rag_coll_t *c, char err[ED_ERR_LEN])
{
    int dim = colls->embedder->dim;
    collect_t k = {.dim = dim, .ids_only = c->reembedded};
    int rc = ed_store_vectors_foreach(colls->store, c->c.id, collect_vector, &k, err);
    if (k.bad_dim)
        snprintf(err, ED_ERR_LEN, "a vector of collection \"%s\" is %d wide, expected %d", c->c.name, k.bad_dim,
                 dim);
    if (rc == 0 && c->reembedded)
        rc = reembed(colls, c, &k, err);
    /* the record takes the new vectors and the embedder's name: from now on
     * the collection is this embedder's, and its index file is saved */
    if (rc == 0 && c->reembedded &&
        (rc = ed_store_collection_revector(colls->store, c->c.id, colls->embedder->name, dim, k.ids, k.vectors, k.n,
                                           err)) == 0) {
        snprintf(c->c.embedder, sizeof c->c.embedder, "%s", colls->embedder->name);
        c->c.dim = dim;
        c->reembedded = false;
    }
    ed_index_t *index = NULL;
    if (rc == 0)
        rc = ed_index_init(&index, dim, colls->hnsw_threshold, err);
    if (rc == 0 && k.n > 0)
        rc = ed_index_add(index, k.ids, k.vectors, k.n, err);
    free(k.ids);
    free(k.vectors);
    if (rc != 0) {
        ed_index_free(index);
        return rc;
    }
    ed_index_free(c->index);
    c->index = index;
    return 0;
}

/* Loads c's index file, or rebuilds it from the record (and saves it) when
 * it is missing, corrupt, stale or does not match the record. */
static int coll_open_index(ed_rag_colls_t *colls, ed_rag_coll_t *c, char err[ED_ERR_LEN])
{
    char name[64], why[ED_ERR_LEN] = "";
    snprintf(name, sizeof name, "%lld.faiss", (long long)c->c.id);
    if (c->reembedded) {
        ed_log_warn("rag: collection \"%s\" was embedded with %s; re-embedding its %lld chunks with %s",
                    c->c.name, c->c.embedder, (long long)c->c.n_chunks, colls->embedder->name);
        int rc = coll_rebuild(colls, c, err);
        if (rc == 0)
            ed_rag_colls_save(colls, c);
        return rc;
    }
    void *data = NULL;
    size_t len = 0;
    int64_t generation = 0;
    int rc = ed_store_blob_load(colls->store, name, &data, &len, &generation, why);
    if (rc == 0) {
        ed_index_t *index = NULL;
        rc = ed_index_load(&index, data, len, colls->embedder->dim, colls->hnsw_threshold, why);
        int64_t now = -1;
        if (rc == 0 && ed_store_collection_generation(colls->store, c->c.id, &now, why) == 0 && generation != now) {
            snprintf(why, sizeof why, "stale (generation %lld, the collection is at %lld)", (long long)generation,
                     (long long)now);
            rc = ED_ESTATE;
        } else if (rc == 0 && now < 0) {
            rc = ED_EIO; /* why says what the record said */
        } else if (rc == 0 && ed_index_count(index) != c->c.n_chunks) {
            snprintf(why, sizeof why, "it holds %lld vectors for %lld chunks", (long long)ed_index_count(index),
                     (long long)c->c.n_chunks);
            rc = ED_ESTATE;
        }
        if (rc == 0) {
            ed_index_free(c->index);
            c->index = index;
        } else {
            ed_index_free(index);
        }
    } else if (rc == ED_ENOENT) {
        snprintf(why, sizeof why, "missing");
    }
    free(data);
    if (rc == 0)
        return 0;
    ed_log_warn("rag: collection \"%s\": index %s %s (%s); rebuilding it from the record", c->c.name, name,
                rc == ED_ENOENT ? "absent" : "unusable", why);
    if ((rc = coll_rebuild(colls, c, err)) != 0)
        return rc;
    ed_log_info("rag: collection \"%s\": index rebuilt with %lld vectors", c->c.name,
                (long long)ed_index_count(c->index));
    ed_rag_colls_save(colls, c);
    return 0;
}

int ed_rag_colls_add(ed_rag_colls_t *colls, const ed_collection_t *c, ed_rag_coll_t **out, char err[ED_ERR_LEN])
{
    ed_index_t *index = NULL;
    int rc = ed_index_init(&index, colls->embedder->dim, colls->hnsw_threshold, err);
    if (rc != 0)
        return rc;
    pthread_mutex_lock(&colls->lock);
    if (colls->n == colls->cap) {
        int cap = colls->cap ? colls->cap * 2 : 8;
        ed_rag_coll_t *items = realloc(colls->items, (size_t)cap * sizeof *items);
        if (!items) {
            pthread_mutex_unlock(&colls->lock);
            ed_index_free(index);
            return ed_errf(err, ED_ENOMEM, "out of memory");
        }
        colls->items = items;
        colls->cap = cap;
    }
    ed_rag_coll_t *n = &colls->items[colls->n++];
    memset(n, 0, sizeof *n);
    n->c = *c;
    n->index = index;
    n->n_documents = c->n_documents;
    n->n_chunks = c->n_chunks;
    n->reembedded = strcmp(c->embedder, colls->embedder->name) != 0 || c->dim != colls->embedder->dim;
    pthread_mutex_unlock(&colls->lock);
    *out = n;
    return 0;
}

static int add_recorded(const ed_collection_t *c, void *arg)
{
    ed_rag_coll_t *n;
    char err[ED_ERR_LEN];
    return ed_rag_colls_add(arg, c, &n, err);
}

void ed_rag_colls_init(ed_rag_colls_t *colls, ed_store_t *store, ed_embedder_t *embedder, int64_t hnsw_threshold)
{
    memset(colls, 0, sizeof *colls);
    colls->store = store;
    colls->embedder = embedder;
    colls->hnsw_threshold = hnsw_threshold;
    pthread_mutex_init(&colls->lock, NULL);
}

void ed_rag_colls_free(ed_rag_colls_t *colls)
{
    for (int i = 0; i < colls->n; i++)
        ed_index_free(colls->items[i].index);
    free(colls->items);
    pthread_mutex_destroy(&colls->lock);
    memset(colls, 0, sizeof *colls);
}

int ed_rag_colls_load(ed_rag_colls_t *colls, char err[ED_ERR_LEN])
{
    char why[ED_ERR_LEN];
    int rc = ed_store_collections_foreach(colls->store, add_recorded, colls, why);
    if (rc != 0)
        return ed_errf(err, rc, "reading the collections: %s", why);
    for (int i = 0; i < colls->n; i++) {
        if ((rc = coll_open_index(colls, &colls->items[i], why)) != 0)
            return ed_errf(err, rc, "collection \"%s\": %s", colls->items[i].c.name, why);
        ed_rag_colls_count(colls, &colls->items[i], 0, 0);
    }
    return 0;
}
