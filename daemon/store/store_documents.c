/* store_documents.c - the store's documents and chunks: idempotent put by
 * source (a keyed source MAC and content digest), get, list and delete, the
 * chunks with their sealed vectors, the vectors kept for a re-embedding, and
 * lexical search over the chunks. Part of the store (store.c). */
#include "store/store_internal.h"

#include "core/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static int check_document(const ed_document_in_t *doc, char err[ED_ERR_LEN])
{
    if (!doc->title || !doc->source || (!doc->text && doc->text_len)) {
        snprintf(err, ED_ERR_LEN, "a document needs a title, a source and its text (\"\" allowed)");
        return ED_EINVAL;
    }
    if (strlen(doc->source) > ED_STORE_SOURCE_MAX) {
        snprintf(err, ED_ERR_LEN, "source: %zu bytes, at most %d", strlen(doc->source), ED_STORE_SOURCE_MAX);
        return ED_EINVAL;
    }
    if (doc->n_chunks < 0 || doc->n_chunks > ED_STORE_MAX_CHUNKS_PER_DOC || (doc->n_chunks && !doc->chunks)) {
        snprintf(err, ED_ERR_LEN, "a document has 0 to %d chunks, not %d", ED_STORE_MAX_CHUNKS_PER_DOC,
                 doc->n_chunks);
        return ED_EINVAL;
    }
    for (int i = 0; i < doc->n_chunks; i++) {
        const ed_chunk_in_t *c = &doc->chunks[i];
        if (c->offset > doc->text_len || c->len > doc->text_len - c->offset || !c->vector ||
            c->context_offset > doc->text_len || c->context_len > doc->text_len - c->context_offset) {
            snprintf(err, ED_ERR_LEN,
                     "chunk %d (bytes %zu+%zu, context %zu+%zu) lies outside the text (%zu bytes) or has no vector",
                     i, c->offset, c->len, c->context_offset, c->context_len, doc->text_len);
            return ED_EINVAL;
        }
    }
    return 0;
}

_Static_assert(ED_DB_KEY_LEN == ED_SEAL_MAC_LEN, "a source key or content digest is one ed_seal_mac");

/* Domains of the keyed digests (ed_seal_mac). */
static const char MAC_SOURCE[] = "document source v1";
static const char MAC_CONTENT[] = "document content v1";

/* The keyed digest a document's source is found by. */
static int source_key(ed_store_t *store, const char *source, uint8_t out[ED_DB_KEY_LEN], char err[ED_ERR_LEN])
{
    ed_seal_part_t part = {source, strlen(source)};
    int rc = ed_seal_mac(store->seal, MAC_SOURCE, &part, 1, out);
    if (rc != 0)
        snprintf(err, ED_ERR_LEN, "cannot digest a document's source");
    return rc;
}

/* The keyed digest of what a document holds: title, metadata (absent and ""
 * differ) and text. Two documents with the same digest store the same. */
static int content_mac(ed_store_t *store, const char *title, const char *metadata_json, const char *text,
                       size_t text_len, uint8_t out[ED_DB_KEY_LEN], char err[ED_ERR_LEN])
{
    ed_seal_part_t parts[4] = {
        {title, strlen(title)},
        {metadata_json ? "1" : "0", 1},
        {metadata_json ? metadata_json : "", metadata_json ? strlen(metadata_json) : 0},
        {text_len ? text : "", text_len},
    };
    int rc = ed_seal_mac(store->seal, MAC_CONTENT, parts, 4, out);
    if (rc != 0)
        snprintf(err, ED_ERR_LEN, "cannot digest a document's content");
    return rc;
}

/* Seals and records one document's fields and chunks inside the open
 * transaction; its row (id) exists and holds no chunk. */
static int document_write(ed_store_t *store, const ed_document_in_t *doc, const ed_collection_t *c,
                          int64_t id, char err[ED_ERR_LEN])
{
    int rc = 0;
    char identity[IDENTITY_LEN];
    ed_db_bytes_t title = {0}, source = {0}, metadata = {0}, text = {0};
    ed__store_identity_doc(identity, id, "title");
    if ((rc = ed__store_seal_bytes(store, identity, doc->title, strlen(doc->title), &title, err)) != 0)
        goto done;
    ed__store_identity_doc(identity, id, "source");
    if ((rc = ed__store_seal_bytes(store, identity, doc->source, strlen(doc->source), &source, err)) != 0)
        goto done;
    ed__store_identity_doc(identity, id, "metadata");
    if (doc->metadata_json &&
        (rc = ed__store_seal_bytes(store, identity, doc->metadata_json, strlen(doc->metadata_json), &metadata, err)) != 0)
        goto done;
    ed__store_identity_doc(identity, id, "text");
    if ((rc = ed__store_seal_bytes(store, identity, doc->text ? doc->text : "", doc->text_len, &text, err)) != 0 ||
        (rc = ed_db_document_seal(store->db, id, &title, &source, &metadata, &text, err)) != 0)
        goto done;
    for (int i = 0; i < doc->n_chunks && rc == 0; i++) {
        const ed_chunk_in_t *chunk = &doc->chunks[i];
        const char *chunk_text = doc->text ? doc->text + chunk->offset : "";
        ed_db_bytes_t sealed_text = {0}, sealed_vector = {0};
        ed__store_identity_chunk(identity, id, i, "text");
        rc = ed__store_seal_bytes(store, identity, chunk_text, chunk->len, &sealed_text, err);
        ed__store_identity_chunk(identity, id, i, "vec");
        if (rc == 0)
            rc = ed__store_seal_bytes(store, identity, chunk->vector, (size_t)c->dim * sizeof(float), &sealed_vector, err);
        if (rc == 0)
            rc = ed_db_chunk_insert(store->db, id, i, c->id, chunk->offset, chunk->len, chunk->n_tokens,
                                    chunk->context_offset, chunk->context_len, &sealed_text, &sealed_vector, err);
        if (rc == 0)
            rc = ed_db_lexical_add(store->db, ed_chunk_id(id, i), c->id, doc->title ? doc->title : "", chunk_text,
                                   chunk->len, err);
        free(sealed_text.data);
        free(sealed_vector.data);
    }
done:
    free(title.data);
    free(source.data);
    free(metadata.data);
    free(text.data);
    return rc;
}

/* The digests of a document and what its source holds now: 0 with *match
 * (found), ED_ENOENT (no source, or none of the collection's documents has
 * it), or another error. key and mac receive the digests (key only with a
 * source). */
static int document_find(ed_store_t *store, const ed_document_in_t *doc, uint8_t key[ED_DB_KEY_LEN],
                         uint8_t mac[ED_DB_KEY_LEN], ed_db_source_match_t *match, char err[ED_ERR_LEN])
{
    int rc = content_mac(store, doc->title, doc->metadata_json, doc->text, doc->text_len, mac, err);
    if (rc != 0)
        return rc;
    if (!doc->source[0]) {
        snprintf(err, ED_ERR_LEN, "the document has no source");
        return ED_ENOENT;
    }
    if ((rc = source_key(store, doc->source, key, err)) != 0)
        return rc;
    return ed_db_document_by_source(store->db, doc->collection_id, key, match, err);
}

/* What storing doc would do, given what its source holds (match). */
static void document_outcome(const ed_document_in_t *doc, const ed_db_source_match_t *match,
                             const uint8_t mac[ED_DB_KEY_LEN], ed_document_put_t *out)
{
    bool same = match->has_content_mac && memcmp(match->content_mac, mac, ED_DB_KEY_LEN) == 0;
    *out = (ed_document_put_t){.id = match->id, .version = match->version, .n_chunks = match->n_chunks,
                               .n_tokens = match->n_tokens,
                               .outcome = same && !doc->force ? ED_DOCUMENT_UNCHANGED : ED_DOCUMENT_REPLACED};
}

int ed_store_document_match(ed_store_t *store, const ed_document_in_t *doc, ed_document_put_t *out,
                            char err[ED_ERR_LEN])
{
    memset(out, 0, sizeof *out);
    uint8_t key[ED_DB_KEY_LEN], mac[ED_DB_KEY_LEN];
    ed_db_source_match_t match;
    int rc = check_document(doc, err);
    if (rc == 0 && (rc = document_find(store, doc, key, mac, &match, err)) == 0)
        document_outcome(doc, &match, mac, out);
    return rc;
}

/* Records one document inside the open transaction: added, left as it is
 * (its source holds the same content), or replaced in place (same id, one
 * more version). */
static int document_put(ed_store_t *store, const ed_document_in_t *doc, const ed_collection_t *c,
                        ed_document_put_t *out, char err[ED_ERR_LEN])
{
    uint8_t key[ED_DB_KEY_LEN], mac[ED_DB_KEY_LEN];
    ed_db_source_match_t match;
    int rc = document_find(store, doc, key, mac, &match, err);
    if (rc == 0) {
        document_outcome(doc, &match, mac, out);
        if (out->outcome == ED_DOCUMENT_UNCHANGED)
            return 0;
        out->version++;
        out->n_chunks = doc->n_chunks;
        out->n_tokens = doc->n_tokens;
        rc = ed_db_document_renew(store->db, match.id, doc->n_chunks, doc->n_tokens, ed__store_now_seconds(),
                                  &out->n_old_chunks, err);
    } else if (rc == ED_ENOENT) {
        *out = (ed_document_put_t){.version = 1, .outcome = ED_DOCUMENT_ADDED, .n_chunks = doc->n_chunks,
                                   .n_tokens = doc->n_tokens};
        rc = ed_db_document_insert(store->db, doc->collection_id, ed__store_now_seconds(), doc->n_chunks, doc->n_tokens,
                                   &out->id, err);
    }
    if (rc == 0)
        rc = document_write(store, doc, c, out->id, err);
    if (rc == 0)
        rc = ed_db_document_set_keys(store->db, out->id, doc->source[0] ? key : NULL, mac, err);
    return rc;
}

int ed_store_documents_add(ed_store_t *store, const ed_document_in_t *docs, int n_docs, int64_t *ids_out,
                           char err[ED_ERR_LEN])
{
    if (n_docs <= 0 || !docs || !ids_out) {
        snprintf(err, ED_ERR_LEN, "no documents to add");
        return ED_EINVAL;
    }
    ed_document_put_t *results = calloc((size_t)n_docs, sizeof *results);
    if (!results)
        return ed__store_out_of_memory(err);
    int rc = ed_store_documents_put(store, docs, n_docs, results, err);
    for (int i = 0; i < n_docs; i++)
        ids_out[i] = results[i].id;
    free(results);
    return rc;
}

int ed_store_documents_put(ed_store_t *store, const ed_document_in_t *docs, int n_docs, ed_document_put_t *results,
                           char err[ED_ERR_LEN])
{
    int rc = ed__store_check_writable(store, err);
    if (rc != 0)
        return rc;
    if (n_docs <= 0 || !docs || !results) {
        snprintf(err, ED_ERR_LEN, "no documents to add");
        return ED_EINVAL;
    }
    ed_collection_t c = {0};
    for (int i = 0; i < n_docs; i++) {
        if (c.id != docs[i].collection_id &&
            (rc = ed_store_collection_by_id(store, docs[i].collection_id, &c, err)) != 0)
            return rc;
        if ((rc = check_document(&docs[i], err)) != 0)
            return rc;
    }
    if ((rc = ed_db_begin(store->db, err)) != 0)
        return ed__store_write_failed(store, rc, err);
    int64_t generation = store->generation;
    bool changed = false, replaced = false;
    for (int i = 0; i < n_docs && rc == 0; i++) {
        if (c.id != docs[i].collection_id)
            rc = ed_store_collection_by_id(store, docs[i].collection_id, &c, err);
        if (rc == 0)
            rc = document_put(store, &docs[i], &c, &results[i], err);
        changed |= rc == 0 && results[i].outcome != ED_DOCUMENT_UNCHANGED;
        replaced |= rc == 0 && results[i].outcome == ED_DOCUMENT_REPLACED;
    }
    int64_t bumped = 0, ignored;
    for (int i = 0; i < n_docs && rc == 0; i++)
        if (results[i].outcome != ED_DOCUMENT_UNCHANGED && docs[i].collection_id != bumped &&
            (rc = ed_db_generation_bump(store->db, bumped = docs[i].collection_id, &ignored, err)) != 0)
            break;
    if (rc == 0 && (!changed || (rc = ed_db_generation_bump(store->db, 0, &generation, err)) == 0) &&
        (rc = ed_db_commit(store->db, err)) == 0) {
        store->generation = generation;
        /* Committed; as after a deletion, the replaced text's sealed pages
         * leave the WAL now (a failed checkpoint says so). */
        char why[ED_ERR_LEN];
        if (replaced && (rc = ed_db_checkpoint(store->db, why)) != 0) {
            ed_log_warn("store: after replacing documents: %s", why);
            ed__store_write_failed(store, rc, why);
        }
        return 0;
    }
    ed_db_rollback(store->db);
    memset(results, 0, (size_t)n_docs * sizeof *results);
    return ed__store_write_failed(store, rc, err);
}

void ed_document_free(ed_document_t *doc)
{
    if (!doc)
        return;
    free(doc->title);
    free(doc->source);
    free(doc->metadata_json);
    free(doc->text);
    memset(doc, 0, sizeof *doc);
}

/* Unseals a document row into out. */
static int document_unseal(ed_store_t *store, const ed_db_document_t *row, ed_document_t *out,
                           char err[ED_ERR_LEN])
{
    memset(out, 0, sizeof *out);
    out->id = row->id;
    out->collection_id = row->collection_id;
    out->n_chunks = row->n_chunks;
    out->n_tokens = row->n_tokens;
    out->version = row->version;
    out->created = row->created;
    char identity[IDENTITY_LEN];
    int rc;
    ed__store_identity_doc(identity, row->id, "title");
    if ((rc = ed__store_unseal_string(store, identity, &row->title, false, &out->title, NULL, err)) != 0)
        goto fail;
    ed__store_identity_doc(identity, row->id, "source");
    if ((rc = ed__store_unseal_string(store, identity, &row->source, false, &out->source, NULL, err)) != 0)
        goto fail;
    ed__store_identity_doc(identity, row->id, "metadata");
    if ((rc = ed__store_unseal_string(store, identity, &row->metadata, true, &out->metadata_json, NULL, err)) != 0)
        goto fail;
    ed__store_identity_doc(identity, row->id, "text");
    if (row->text.data &&
        (rc = ed__store_unseal_string(store, identity, &row->text, false, &out->text, &out->text_len, err)) != 0)
        goto fail;
    return 0;
fail:
    ed_document_free(out);
    return rc;
}

/* The digests of a document stored before schema 3, found at open. */
typedef struct {
    int64_t id, collection_id;
    bool has_source;
    uint8_t key[ED_DB_KEY_LEN], mac[ED_DB_KEY_LEN];
} digest_t;

typedef struct {
    ed_store_t *store;
    digest_t *items;
    size_t n, cap;
    int64_t n_damaged;
    int rc;
    char *err;
} digest_walk_t;

static int digest_row(const ed_db_document_t *row, void *arg)
{
    digest_walk_t *w = arg;
    if (w->n == w->cap) {
        size_t cap = w->cap ? 2 * w->cap : 64;
        digest_t *grown = realloc(w->items, cap * sizeof *grown);
        if (!grown) {
            w->rc = ed__store_out_of_memory(w->err);
            return 1;
        }
        w->items = grown;
        w->cap = cap;
    }
    ed_document_t doc;
    char why[ED_ERR_LEN];
    int rc = document_unseal(w->store, row, &doc, why);
    if (rc == 0 && !doc.text)
        rc = ED_ECORRUPT;
    if (rc == ED_ECORRUPT) {
        /* Still reported, as ED_ECORRUPT, by whoever reads the document. */
        ed_log_warn("store: document %lld: %s; left without digests", (long long)row->id, why);
        w->n_damaged++;
        return 0;
    }
    digest_t *d = &w->items[w->n];
    *d = (digest_t){.id = row->id, .collection_id = row->collection_id, .has_source = rc == 0 && doc.source[0]};
    if (rc == 0)
        rc = content_mac(w->store, doc.title, doc.metadata_json, doc.text, doc.text_len, d->mac, why);
    if (rc == 0 && d->has_source)
        rc = source_key(w->store, doc.source, d->key, why);
    ed_document_free(&doc);
    if (rc != 0) {
        snprintf(w->err, ED_ERR_LEN, "%s", why);
        w->rc = rc;
        return 1;
    }
    w->n++;
    return 0;
}

/* Gives documents stored before schema 3 their source key and content
 * digest, in one transaction. Of several with one source in a collection
 * (made before ingest was idempotent) the oldest takes the source; the
 * others stay as they are, found by id only. */
int ed__store_digest_older_documents(ed_store_t *store, char err[ED_ERR_LEN])
{
    digest_walk_t w = {.store = store, .err = err};
    int rc = ed_db_documents_undigested(store->db, digest_row, &w, err);
    if (rc == 0)
        rc = w.rc;
    if (rc == 0 && w.n > 0 && (rc = ed_db_begin(store->db, err)) == 0) {
        for (size_t i = 0; i < w.n && rc == 0; i++) {
            digest_t *d = &w.items[i];
            ed_db_source_match_t match;
            if (d->has_source) {
                rc = ed_db_document_by_source(store->db, d->collection_id, d->key, &match, err);
                d->has_source = rc == ED_ENOENT;
                rc = rc == ED_ENOENT ? 0 : rc;
            }
            if (rc == 0)
                rc = ed_db_document_set_keys(store->db, d->id, d->has_source ? d->key : NULL, d->mac, err);
        }
        if (rc == 0 && (rc = ed_db_commit(store->db, err)) == 0)
            ed_log_info("store: %zu documents of an older schema given their digests", w.n);
        else
            ed_db_rollback(store->db);
    }
    free(w.items);
    return rc;
}

int ed_store_document_get(ed_store_t *store, int64_t id, bool with_text, ed_document_t *out, char err[ED_ERR_LEN])
{
    memset(out, 0, sizeof *out);
    ed_db_document_t row;
    int rc = ed_db_document_get(store->db, id, with_text, &row, err);
    if (rc != 0)
        return rc;
    if (with_text && !row.text.data) {
        snprintf(err, ED_ERR_LEN, "sealed record doc:%lld:text is missing", (long long)id);
        rc = ED_ECORRUPT;
    } else {
        rc = document_unseal(store, &row, out, err);
    }
    ed_db_document_free(&row);
    return rc;
}

int ed_store_documents_list(ed_store_t *store, int64_t collection_id, int64_t after_id, int limit,
                            ed_document_t *out, int *n_out, char err[ED_ERR_LEN])
{
    *n_out = 0;
    if (limit <= 0)
        return 0;
    ed_db_document_t *rows = calloc((size_t)limit, sizeof *rows);
    if (!rows)
        return ed__store_out_of_memory(err);
    int n_rows = 0, rc = ed_db_documents_list(store->db, collection_id, after_id, limit, rows, &n_rows, err);
    for (int i = 0; i < n_rows; i++) {
        if (rc == 0 && (rc = document_unseal(store, &rows[i], &out[i], err)) == 0)
            (*n_out)++;
        ed_db_document_free(&rows[i]);
    }
    free(rows);
    if (rc != 0) {
        for (int i = 0; i < *n_out; i++)
            ed_document_free(&out[i]);
        *n_out = 0;
    }
    return rc;
}

int ed_store_document_delete(ed_store_t *store, int64_t id, int *n_chunks_out, char err[ED_ERR_LEN])
{
    *n_chunks_out = 0;
    int rc = ed__store_check_writable(store, err);
    if (rc != 0)
        return rc;
    if ((rc = ed_db_begin(store->db, err)) != 0)
        return ed__store_write_failed(store, rc, err);
    int n_chunks = 0;
    int64_t generation = 0, ignored;
    ed_db_document_t row = {0};
    rc = ed_db_document_get(store->db, id, false, &row, err);
    int64_t collection_id = row.collection_id;
    ed_db_document_free(&row);
    if (rc != 0 || (rc = ed_db_document_delete(store->db, id, ed__store_now_seconds(), &n_chunks, err)) != 0 ||
        (rc = ed_db_generation_bump(store->db, collection_id, &ignored, err)) != 0 ||
        (rc = ed_db_generation_bump(store->db, 0, &generation, err)) != 0 ||
        (rc = ed_db_commit(store->db, err)) != 0) {
        ed_db_rollback(store->db);
        return rc == ED_ENOENT ? rc : ed__store_write_failed(store, rc, err);
    }
    store->generation = generation;
    *n_chunks_out = n_chunks;
    /* The delete is committed; a failed checkpoint leaves sealed pages in the
     * WAL until the next one, and says so. */
    char why[ED_ERR_LEN];
    if ((rc = ed_db_checkpoint(store->db, why)) != 0) {
        ed_log_warn("store: after deleting document %lld: %s", (long long)id, why);
        ed__store_write_failed(store, rc, why);
    }
    return 0;
}

void ed_chunk_free(ed_chunk_t *chunk)
{
    if (!chunk)
        return;
    free(chunk->text);
    free(chunk->title);
    memset(chunk, 0, sizeof *chunk);
}

int ed_store_chunk_get(ed_store_t *store, int64_t chunk_id, ed_chunk_t *out, char err[ED_ERR_LEN])
{
    memset(out, 0, sizeof *out);
    if (chunk_id < 0) {
        snprintf(err, ED_ERR_LEN, "no chunk with id %lld", (long long)chunk_id);
        return ED_ENOENT;
    }
    int64_t doc_id = chunk_id / ED_STORE_MAX_CHUNKS_PER_DOC;
    int index = (int)(chunk_id % ED_STORE_MAX_CHUNKS_PER_DOC);
    ed_db_chunk_t row;
    int rc = ed_db_chunk_get(store->db, doc_id, index, &row, err);
    if (rc != 0)
        return rc;
    out->chunk_id = chunk_id;
    out->doc_id = doc_id;
    out->index = index;
    out->offset = row.offset;
    out->len = row.len;
    out->n_tokens = row.n_tokens;
    out->context_offset = row.context_offset;
    out->context_len = row.context_len;
    char identity[IDENTITY_LEN];
    ed__store_identity_chunk(identity, doc_id, index, "text");
    rc = ed__store_unseal_string(store, identity, &row.text, false, &out->text, NULL, err);
    ed__store_identity_doc(identity, doc_id, "title");
    if (rc == 0)
        rc = ed__store_unseal_string(store, identity, &row.title, false, &out->title, NULL, err);
    ed_db_chunk_free(&row);
    if (rc != 0)
        ed_chunk_free(out);
    return rc;
}

typedef struct {
    ed_store_t *store;
    const char *embedder; /* kept vectors: theirs */
    int dim;
    float *vector; /* (dim) */
    int (*fn)(int64_t chunk_id, const float *vector, int dim, void *arg);
    void *arg;
    int rc;
    char *err;
} vectors_walk_t;

/* Unseals one vector record of w->dim floats into w->vector and hands it on. */
static int walk_vector(vectors_walk_t *w, const char *identity, int64_t chunk_id, const void *sealed, size_t len)
{
    size_t want = (size_t)w->dim * sizeof(float), got = 0;
    if (len != ed_seal_size(want)) {
        snprintf(w->err, ED_ERR_LEN, "sealed record %s holds %zu bytes, not the %zu of a %d-wide vector",
                 identity, len, ed_seal_size(want), w->dim);
        w->rc = ED_ECORRUPT;
        return 1;
    }
    if ((w->rc = ed_seal_unseal(w->store->seal, identity, sealed, len, (uint8_t *)w->vector, &got, w->err)) != 0)
        return 1;
    return w->fn(chunk_id, w->vector, w->dim, w->arg) != 0;
}

static int vectors_chunk(int64_t doc_id, int index, int64_t collection_id, const void *sealed, size_t len,
                         void *arg)
{
    (void)collection_id;
    char identity[IDENTITY_LEN];
    ed__store_identity_chunk(identity, doc_id, index, "vec");
    return walk_vector(arg, identity, ed_chunk_id(doc_id, index), sealed, len);
}

int ed_store_vectors_foreach(ed_store_t *store, int64_t collection_id,
                             int (*fn)(int64_t chunk_id, const float *vector, int dim, void *arg), void *arg,
                             char err[ED_ERR_LEN])
{
    ed_collection_t c;
    int rc = ed_store_collection_by_id(store, collection_id, &c, err);
    if (rc != 0)
        return rc;
    vectors_walk_t w = {.store = store, .dim = c.dim, .fn = fn, .arg = arg, .err = err};
    w.vector = malloc((size_t)c.dim * sizeof(float) + ED_SEAL_OVERHEAD);
    if (!w.vector)
        return ed__store_out_of_memory(err);
    rc = ed_db_chunks_foreach(store->db, collection_id, true, vectors_chunk, &w, err);
    free(w.vector);
    return rc != 0 ? rc : w.rc;
}

/* A kept vector's identity binds it to its chunk and its embedder. */
static void identity_kept(char out[IDENTITY_LEN], int64_t doc_id, int index, const char *embedder)
{
    snprintf(out, IDENTITY_LEN, "chunk:%lld:%d:vec:%.64s", (long long)doc_id, index, embedder);
}

static int kept_vector(int64_t doc_id, int index, const void *sealed, size_t len, void *arg)
{
    vectors_walk_t *w = arg;
    char identity[IDENTITY_LEN];
    identity_kept(identity, doc_id, index, w->embedder);
    return walk_vector(w, identity, ed_chunk_id(doc_id, index), sealed, len);
}

int ed_store_reembed_keep(ed_store_t *store, int64_t collection_id, const char *embedder, int dim,
                          const int64_t *chunk_ids, const float *vectors, int n, char err[ED_ERR_LEN])
{
    int rc = ed__store_check_writable(store, err);
    if (rc != 0 || (rc = ed__store_check_embedder(embedder, dim, err)) != 0)
        return rc;
    if ((rc = ed_db_begin(store->db, err)) != 0)
        return ed__store_write_failed(store, rc, err);
    char identity[IDENTITY_LEN];
    for (int i = 0; i < n && rc == 0; i++) {
        int64_t doc_id = chunk_ids[i] / ED_STORE_MAX_CHUNKS_PER_DOC;
        int index = (int)(chunk_ids[i] % ED_STORE_MAX_CHUNKS_PER_DOC);
        ed_db_bytes_t sealed = {0};
        identity_kept(identity, doc_id, index, embedder);
        rc = ed__store_seal_bytes(store, identity, vectors + (size_t)i * dim, (size_t)dim * sizeof(float), &sealed, err);
        if (rc == 0)
            rc = ed_db_reembed_put(store->db, doc_id, index, collection_id, embedder, &sealed, err);
        free(sealed.data);
    }
    if (rc == 0 && (rc = ed_db_commit(store->db, err)) == 0)
        return 0;
    ed_db_rollback(store->db);
    return ed__store_write_failed(store, rc, err);
}

int ed_store_reembed_foreach(ed_store_t *store, int64_t collection_id, const char *embedder, int dim,
                             int (*fn)(int64_t chunk_id, const float *vector, int dim, void *arg), void *arg,
                             char err[ED_ERR_LEN])
{
    int rc = ed__store_check_embedder(embedder, dim, err);
    if (rc != 0)
        return rc;
    vectors_walk_t w = {.store = store, .embedder = embedder, .dim = dim, .fn = fn, .arg = arg, .err = err};
    if (!(w.vector = malloc((size_t)dim * sizeof(float) + ED_SEAL_OVERHEAD)))
        return ed__store_out_of_memory(err);
    rc = ed_db_reembed_foreach(store->db, collection_id, embedder, kept_vector, &w, err);
    free(w.vector);
    return rc != 0 ? rc : w.rc;
}

int ed_store_lexical_term_chunks(ed_store_t *store, const char *term, int64_t *n_chunks, char err[ED_ERR_LEN])
{
    return ed_db_lexical_term_rows(store->db, term, n_chunks, err);
}

int ed_store_lexical_search(ed_store_t *store, const char *query, const int64_t *collection_ids,
                            int n_collections, int top_k, ed_lexical_hit_t *hits, int *n_hits,
                            char err[ED_ERR_LEN])
{
    return ed_db_lexical_search(store->db, query ? query : "", collection_ids, n_collections, top_k, hits, n_hits,
                                err);
}
