/* db_documents.c - edged.db's documents and chunks: sealed rows inserted,
 * read, listed, renewed and deleted, looked up by source key, and the
 * vectors kept for a re-embedding. Part of the SQLite wrapper (db.c). */
#include "store/db_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ed_db_document_free(ed_db_document_t *doc)
{
    free(doc->title.data);
    free(doc->source.data);
    free(doc->metadata.data);
    free(doc->text.data);
    memset(doc, 0, sizeof *doc);
}

int ed_db_document_insert(ed_db_t *db, int64_t collection_id, int64_t created, int n_chunks, int n_tokens,
                          int64_t *id, char err[ED_ERR_LEN])
{
    sqlite3_stmt *s = ed__db_stmt(db, STMT_DOCUMENT_INSERT);
    sqlite3_bind_int64(s, 1, collection_id);
    sqlite3_bind_int64(s, 2, created);
    sqlite3_bind_int(s, 3, n_chunks);
    sqlite3_bind_int(s, 4, n_tokens);
    int rc = ed__db_step_done(db, s, "adding a document", err);
    if (rc == ED_ENOENT)
        snprintf(err, ED_ERR_LEN, "no collection with id %lld", (long long)collection_id);
    *id = rc == 0 ? sqlite3_last_insert_rowid(db->sql) : 0;
    return rc;
}

int ed_db_document_seal(ed_db_t *db, int64_t id, const ed_db_bytes_t *title, const ed_db_bytes_t *source,
                        const ed_db_bytes_t *metadata, const ed_db_bytes_t *text, char err[ED_ERR_LEN])
{
    sqlite3_stmt *s = ed__db_stmt(db, STMT_DOCUMENT_SEAL);
    sqlite3_bind_int64(s, 1, id);
    ed__db_bind_bytes(s, 2, title);
    ed__db_bind_bytes(s, 3, source);
    ed__db_bind_bytes(s, 4, metadata);
    ed__db_bind_bytes(s, 5, text);
    return ed__db_step_done(db, s, "writing a document", err);
}

static int document_from_row(sqlite3_stmt *s, ed_db_document_t *d)
{
    memset(d, 0, sizeof *d);
    d->id = sqlite3_column_int64(s, 0);
    d->collection_id = sqlite3_column_int64(s, 1);
    d->created = sqlite3_column_int64(s, 2);
    d->n_chunks = sqlite3_column_int(s, 3);
    d->n_tokens = sqlite3_column_int(s, 4);
    d->version = sqlite3_column_int(s, 5);
    if (ed__db_column_bytes(s, 6, &d->title) || ed__db_column_bytes(s, 7, &d->source) || ed__db_column_bytes(s, 8, &d->metadata) ||
        ed__db_column_bytes(s, 9, &d->text)) {
        ed_db_document_free(d);
        return ED_ENOMEM;
    }
    return 0;
}

int ed_db_document_get(ed_db_t *db, int64_t id, bool with_text, ed_db_document_t *out, char err[ED_ERR_LEN])
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *s = ed__db_stmt(db, STMT_DOCUMENT_GET);
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_int(s, 2, with_text);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        rc = document_from_row(s, out);
        sqlite3_reset(s);
        if (rc != 0)
            snprintf(err, ED_ERR_LEN, "out of memory reading document %lld", (long long)id);
        return rc;
    }
    sqlite3_reset(s);
    if (rc != SQLITE_DONE)
        return ed__db_error(db, rc, "reading a document", err);
    snprintf(err, ED_ERR_LEN, "no document with id %lld", (long long)id);
    return ED_ENOENT;
}

int ed_db_documents_list(ed_db_t *db, int64_t collection_id, int64_t after_id, int limit, ed_db_document_t *out,
                         int *n_out, char err[ED_ERR_LEN])
{
    *n_out = 0;
    sqlite3_stmt *s = ed__db_stmt(db, STMT_DOCUMENT_LIST);
    sqlite3_bind_int64(s, 1, after_id);
    sqlite3_bind_int(s, 2, limit);
    sqlite3_bind_int64(s, 3, collection_id);
    int rc;
    while (*n_out < limit && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (document_from_row(s, &out[*n_out]) != 0) {
            sqlite3_reset(s);
            snprintf(err, ED_ERR_LEN, "out of memory listing documents");
            return ED_ENOMEM;
        }
        (*n_out)++;
    }
    sqlite3_reset(s);
    if (*n_out < limit && rc != SQLITE_DONE)
        return ed__db_error(db, rc, "listing documents", err);
    return 0;
}

/* Removes what a document's text gave (chunks, kept vectors, lexical rows)
 * and the lineage of adapters trained on it, which are marked stale: the
 * part shared by a deletion and a replacement. *n_chunks: how many went. */
static int document_clear(ed_db_t *db, int64_t id, int64_t now, int *n_chunks, char err[ED_ERR_LEN])
{
    *n_chunks = 0;
    sqlite3_stmt *s = ed__db_stmt(db, STMT_DOCUMENT_CHUNK_COUNT);
    sqlite3_bind_int64(s, 1, id);
    int rc = sqlite3_step(s);
    int count = rc == SQLITE_ROW ? sqlite3_column_int(s, 0) : 0;
    sqlite3_reset(s);
    if (rc != SQLITE_ROW)
        return ed__db_error(db, rc, "counting chunks", err);
    s = ed__db_stmt(db, STMT_STALE_MARK);
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_int64(s, 2, now);
    if ((rc = ed__db_step_done(db, s, "marking adapters stale", err)) != 0)
        return rc;
    s = ed__db_stmt(db, STMT_LINEAGE_DELETE);
    sqlite3_bind_int64(s, 1, id);
    if ((rc = ed__db_step_done(db, s, "deleting lineage", err)) != 0)
        return rc;
    s = ed__db_stmt(db, STMT_CHUNKS_DELETE);
    sqlite3_bind_int64(s, 1, id);
    if ((rc = ed__db_step_done(db, s, "deleting chunks", err)) != 0)
        return rc;
    s = ed__db_stmt(db, STMT_REEMBED_DELETE_DOC);
    sqlite3_bind_int64(s, 1, id);
    if ((rc = ed__db_step_done(db, s, "deleting re-embedded vectors", err)) != 0)
        return rc;
    s = ed__db_stmt(db, STMT_LEXICAL_DELETE);
    sqlite3_bind_int64(s, 1, ed_chunk_id(id, 0));
    sqlite3_bind_int64(s, 2, ed_chunk_id(id, ED_STORE_MAX_CHUNKS_PER_DOC - 1));
    if ((rc = ed__db_step_done(db, s, "deleting lexical rows", err)) != 0)
        return rc;
    *n_chunks = count;
    return 0;
}

int ed_db_document_delete(ed_db_t *db, int64_t id, int64_t now, int *n_chunks, char err[ED_ERR_LEN])
{
    int rc = document_clear(db, id, now, n_chunks, err);
    if (rc != 0)
        return rc;
    sqlite3_stmt *s = ed__db_stmt(db, STMT_DOCUMENT_DELETE);
    sqlite3_bind_int64(s, 1, id);
    if ((rc = ed__db_step_done(db, s, "deleting a document", err)) != 0)
        return rc;
    if (sqlite3_changes(db->sql) == 0) {
        *n_chunks = 0;
        snprintf(err, ED_ERR_LEN, "no document with id %lld", (long long)id);
        return ED_ENOENT;
    }
    return 0;
}

int ed_db_document_renew(ed_db_t *db, int64_t id, int n_chunks, int n_tokens, int64_t now, int *n_old_chunks,
                         char err[ED_ERR_LEN])
{
    int rc = document_clear(db, id, now, n_old_chunks, err);
    if (rc != 0)
        return rc;
    sqlite3_stmt *s = ed__db_stmt(db, STMT_DOCUMENT_RENEW);
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_int(s, 2, n_chunks);
    sqlite3_bind_int(s, 3, n_tokens);
    if ((rc = ed__db_step_done(db, s, "replacing a document", err)) != 0)
        return rc;
    if (sqlite3_changes(db->sql) == 0) {
        *n_old_chunks = 0;
        snprintf(err, ED_ERR_LEN, "no document with id %lld", (long long)id);
        return ED_ENOENT;
    }
    return 0;
}

int ed_db_document_by_source(ed_db_t *db, int64_t collection_id, const uint8_t source_key[ED_DB_KEY_LEN],
                             ed_db_source_match_t *out, char err[ED_ERR_LEN])
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *s = ed__db_stmt(db, STMT_DOCUMENT_BY_SOURCE);
    sqlite3_bind_int64(s, 1, collection_id);
    sqlite3_bind_blob(s, 2, source_key, ED_DB_KEY_LEN, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        out->id = sqlite3_column_int64(s, 0);
        out->version = sqlite3_column_int(s, 1);
        out->n_chunks = sqlite3_column_int(s, 2);
        out->n_tokens = sqlite3_column_int(s, 3);
        out->has_content_mac = sqlite3_column_bytes(s, 4) == ED_DB_KEY_LEN;
        if (out->has_content_mac)
            memcpy(out->content_mac, sqlite3_column_blob(s, 4), ED_DB_KEY_LEN);
    }
    sqlite3_reset(s);
    if (rc == SQLITE_ROW)
        return 0;
    if (rc != SQLITE_DONE)
        return ed__db_error(db, rc, "finding a document by its source", err);
    snprintf(err, ED_ERR_LEN, "no document of that source in collection %lld", (long long)collection_id);
    return ED_ENOENT;
}

int ed_db_document_set_keys(ed_db_t *db, int64_t id, const uint8_t *source_key,
                            const uint8_t content_mac[ED_DB_KEY_LEN], char err[ED_ERR_LEN])
{
    sqlite3_stmt *s = ed__db_stmt(db, STMT_DOCUMENT_SET_KEYS);
    sqlite3_bind_int64(s, 1, id);
    if (source_key)
        sqlite3_bind_blob(s, 2, source_key, ED_DB_KEY_LEN, SQLITE_STATIC);
    else
        sqlite3_bind_null(s, 2);
    sqlite3_bind_blob(s, 3, content_mac, ED_DB_KEY_LEN, SQLITE_STATIC);
    int rc = ed__db_step_done(db, s, "recording a document's digests", err);
    if (rc == ED_EEXIST)
        snprintf(err, ED_ERR_LEN, "another document of the collection has the same source");
    return rc;
}

int ed_db_documents_undigested(ed_db_t *db, int (*fn)(const ed_db_document_t *doc, void *arg), void *arg,
                               char err[ED_ERR_LEN])
{
    /* Its own statement, so that fn may write (ed_db_document_set_keys). */
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db->sql, DOCUMENT_COLUMNS ", text FROM documents WHERE content_mac IS NULL ORDER BY id",
                           -1, &s, NULL) != SQLITE_OK)
        return ed__db_error(db, sqlite3_extended_errcode(db->sql), "reading documents without digests", err);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        ed_db_document_t doc;
        if (document_from_row(s, &doc) != 0) {
            sqlite3_finalize(s);
            snprintf(err, ED_ERR_LEN, "out of memory reading documents");
            return ED_ENOMEM;
        }
        int stop = fn(&doc, arg);
        ed_db_document_free(&doc);
        if (stop) {
            sqlite3_finalize(s);
            return 0;
        }
    }
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? 0 : ed__db_error(db, rc, "reading documents without digests", err);
}

int ed_db_chunk_insert(ed_db_t *db, int64_t doc_id, int index, int64_t collection_id, size_t offset, size_t len,
                       int n_tokens, size_t context_offset, size_t context_len, const ed_db_bytes_t *text,
                       const ed_db_bytes_t *vector, char err[ED_ERR_LEN])
{
    sqlite3_stmt *s = ed__db_stmt(db, STMT_CHUNK_INSERT);
    sqlite3_bind_int64(s, 1, doc_id);
    sqlite3_bind_int(s, 2, index);
    sqlite3_bind_int64(s, 3, collection_id);
    sqlite3_bind_int64(s, 4, (sqlite3_int64)offset);
    sqlite3_bind_int64(s, 5, (sqlite3_int64)len);
    sqlite3_bind_int(s, 6, n_tokens);
    ed__db_bind_bytes(s, 7, text);
    ed__db_bind_bytes(s, 8, vector);
    sqlite3_bind_int64(s, 9, (sqlite3_int64)context_offset);
    sqlite3_bind_int64(s, 10, (sqlite3_int64)context_len);
    return ed__db_step_done(db, s, "adding a chunk", err);
}

int ed_db_chunk_set_vector(ed_db_t *db, int64_t doc_id, int index, const ed_db_bytes_t *vector,
                           char err[ED_ERR_LEN])
{
    sqlite3_stmt *s = ed__db_stmt(db, STMT_CHUNK_SET_VECTOR);
    sqlite3_bind_int64(s, 1, doc_id);
    sqlite3_bind_int(s, 2, index);
    ed__db_bind_bytes(s, 3, vector);
    int rc = ed__db_step_done(db, s, "replacing a chunk's vector", err);
    if (rc == 0 && sqlite3_changes(db->sql) != 1) {
        snprintf(err, ED_ERR_LEN, "chunk %lld/%d does not exist", (long long)doc_id, index);
        return ED_ENOENT;
    }
    return rc;
}

int ed_db_reembed_put(ed_db_t *db, int64_t doc_id, int index, int64_t collection_id, const char *embedder,
                      const ed_db_bytes_t *vector, char err[ED_ERR_LEN])
{
    sqlite3_stmt *s = ed__db_stmt(db, STMT_REEMBED_PUT);
    sqlite3_bind_int64(s, 1, doc_id);
    sqlite3_bind_int(s, 2, index);
    sqlite3_bind_int64(s, 3, collection_id);
    sqlite3_bind_text(s, 4, embedder, -1, SQLITE_STATIC);
    ed__db_bind_bytes(s, 5, vector);
    return ed__db_step_done(db, s, "keeping a re-embedded vector", err);
}

int ed_db_reembed_foreach(ed_db_t *db, int64_t collection_id, const char *embedder,
                          int (*fn)(int64_t doc_id, int index, const void *sealed, size_t len, void *arg),
                          void *arg, char err[ED_ERR_LEN])
{
    sqlite3_stmt *s = ed__db_stmt(db, STMT_REEMBED_FOREACH);
    sqlite3_bind_int64(s, 1, collection_id);
    sqlite3_bind_text(s, 2, embedder, -1, SQLITE_STATIC);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        if (fn(sqlite3_column_int64(s, 0), sqlite3_column_int(s, 1), sqlite3_column_blob(s, 2),
               (size_t)sqlite3_column_bytes(s, 2), arg) != 0) {
            sqlite3_reset(s);
            return 0;
        }
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? 0 : ed__db_error(db, rc, "reading re-embedded vectors", err);
}

int ed_db_reembed_clear(ed_db_t *db, int64_t collection_id, char err[ED_ERR_LEN])
{
    sqlite3_stmt *s = ed__db_stmt(db, STMT_REEMBED_CLEAR);
    sqlite3_bind_int64(s, 1, collection_id);
    return ed__db_step_done(db, s, "dropping re-embedded vectors", err);
}

void ed_db_chunk_free(ed_db_chunk_t *chunk)
{
    free(chunk->text.data);
    free(chunk->title.data);
    memset(chunk, 0, sizeof *chunk);
}

int ed_db_chunk_get(ed_db_t *db, int64_t doc_id, int index, ed_db_chunk_t *out, char err[ED_ERR_LEN])
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *s = ed__db_stmt(db, STMT_CHUNK_GET);
    sqlite3_bind_int64(s, 1, doc_id);
    sqlite3_bind_int(s, 2, index);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        out->doc_id = doc_id;
        out->index = index;
        out->offset = (size_t)sqlite3_column_int64(s, 0);
        out->len = (size_t)sqlite3_column_int64(s, 1);
        out->n_tokens = sqlite3_column_int(s, 2);
        out->context_offset = (size_t)sqlite3_column_int64(s, 5);
        out->context_len = (size_t)sqlite3_column_int64(s, 6);
        rc = ed__db_column_bytes(s, 3, &out->text) || ed__db_column_bytes(s, 4, &out->title) ? ED_ENOMEM : 0;
        sqlite3_reset(s);
        if (rc != 0) {
            ed_db_chunk_free(out);
            snprintf(err, ED_ERR_LEN, "out of memory reading a chunk");
        }
        return rc;
    }
    sqlite3_reset(s);
    if (rc != SQLITE_DONE)
        return ed__db_error(db, rc, "reading a chunk", err);
    snprintf(err, ED_ERR_LEN, "no chunk %d of document %lld", index, (long long)doc_id);
    return ED_ENOENT;
}

int ed_db_chunks_foreach(ed_db_t *db, int64_t collection_id, bool vectors,
                         int (*fn)(int64_t doc_id, int index, int64_t collection_id, const void *sealed,
                                   size_t len, void *arg),
                         void *arg, char err[ED_ERR_LEN])
{
    sqlite3_stmt *s = NULL;
    const char *sql = vectors ? "SELECT doc_id, idx, collection_id, vector FROM chunks"
                                " WHERE ?1 = 0 OR collection_id = ?1 ORDER BY doc_id, idx"
                              : "SELECT doc_id, idx, collection_id, text FROM chunks"
                                " WHERE ?1 = 0 OR collection_id = ?1 ORDER BY doc_id, idx";
    if (sqlite3_prepare_v2(db->sql, sql, -1, &s, NULL) != SQLITE_OK)
        return ed__db_error(db, sqlite3_extended_errcode(db->sql), "reading chunks", err);
    sqlite3_bind_int64(s, 1, collection_id);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        int stop = fn(sqlite3_column_int64(s, 0), sqlite3_column_int(s, 1), sqlite3_column_int64(s, 2),
                      sqlite3_column_blob(s, 3), (size_t)sqlite3_column_bytes(s, 3), arg);
        if (stop) {
            sqlite3_finalize(s);
            return 0;
        }
    }
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? 0 : ed__db_error(db, rc, "reading chunks", err);
}
