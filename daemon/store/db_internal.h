/* db_internal.h - what db.c shares with the other db_*.c files of the
 * SQLite wrapper (db_documents.c, db_lexical.c, db_adapters.c,
 * db_jobs.c): the prepared
 * statements (their SQL and ids), the connection, and the helpers that step
 * statements and translate SQLite's result codes. Only db*.c include it. */
#ifndef ED_STORE_DB_INTERNAL_H
#define ED_STORE_DB_INTERNAL_H

#include "store/db.h"

#include <sqlite3.h>

#define COLLECTION_COLUMNS                                                                               \
    "SELECT id, name, owner_uid, allow, embedder, dim,"                                                  \
    " (SELECT count(*) FROM documents d WHERE d.collection_id = c.id),"                                  \
    " (SELECT count(*) FROM chunks k WHERE k.collection_id = c.id) FROM collections c "
/* BM25 column weights of the lexical table (title, body). FTS5's bm25()
 * sums a term's weighted hits over the columns and normalises by the row's
 * whole length (k1 1.2, b 0.75), so equal weights are BM25 over title + text
 * as one document, the reference retriever of the personal DEV set
 * (tests/bench/retrieval_bench.py: top-3 40/79/3 of 40/80/34, as its
 * README's). A title word counting 1.25 to 2 times puts the answering note
 * first more often (medium top-1 62 -> 65..70 of 80) but loses one from the
 * top 3 (a note titled "Dr. Ailsa Zamora" outranks the appointment with
 * Dr. Zamora that the question asks about). */
#define LEXICAL_WEIGHTS "1.0, 1.0"
#define DOCUMENT_COLUMNS "SELECT id, collection_id, created, n_chunks, n_tokens, version, title, source, metadata"

#define JOB_COLUMNS                                                                                      \
    "SELECT id, owner_uid, name, collections, options, state, reason, created, updated, step, max_steps,"  \
    " tokens, elapsed_s, train_loss, heldout_loss, best_heldout_loss, best_step, eta_s, adapter_id FROM jobs"

/* name, SQL */
#define STATEMENTS(X)                                                                                    \
    X(BEGIN, "BEGIN IMMEDIATE")                                                                          \
    X(COMMIT, "COMMIT")                                                                                  \
    X(ROLLBACK, "ROLLBACK")                                                                              \
    X(META_GET, "SELECT value FROM meta WHERE key = ?1")                                                 \
    X(META_SET, "INSERT INTO meta(key, value) VALUES(?1, ?2)"                                            \
                " ON CONFLICT(key) DO UPDATE SET value = excluded.value")                                \
    X(COLLECTION_BY_NAME, COLLECTION_COLUMNS "WHERE name = ?1")                                          \
    X(COLLECTION_BY_ID, COLLECTION_COLUMNS "WHERE id = ?1")                                              \
    X(COLLECTION_INSERT, "INSERT INTO collections(name, owner_uid, embedder, dim, created)"              \
                         " VALUES(?1, ?2, ?3, ?4, ?5)")                                                  \
    X(COLLECTION_SET_ALLOW, "UPDATE collections SET allow = ?2 WHERE id = ?1")                           \
    X(COLLECTION_SET_EMBEDDER, "UPDATE collections SET embedder = ?2, dim = ?3 WHERE id = ?1")           \
    X(DOCUMENT_INSERT, "INSERT INTO documents(collection_id, created, n_chunks, n_tokens)"               \
                       " VALUES(?1, ?2, ?3, ?4)")                                                        \
    X(DOCUMENT_SEAL, "UPDATE documents SET title = ?2, source = ?3, metadata = ?4, text = ?5"            \
                     " WHERE id = ?1")                                                                   \
    X(DOCUMENT_GET, DOCUMENT_COLUMNS ", CASE WHEN ?2 THEN text END FROM documents WHERE id = ?1")        \
    X(DOCUMENT_LIST, DOCUMENT_COLUMNS ", NULL FROM documents WHERE id > ?1"                              \
                     " AND (?3 = 0 OR collection_id = ?3) ORDER BY id LIMIT ?2")                         \
    X(DOCUMENT_CHUNK_COUNT, "SELECT count(*) FROM chunks WHERE doc_id = ?1")                             \
    X(DOCUMENT_BY_SOURCE, "SELECT id, version, n_chunks, n_tokens, content_mac FROM documents"           \
                          " WHERE collection_id = ?1 AND source_key = ?2")                               \
    X(DOCUMENT_SET_KEYS, "UPDATE documents SET source_key = ?2, content_mac = ?3 WHERE id = ?1")        \
    X(DOCUMENT_RENEW, "UPDATE documents SET version = version + 1, n_chunks = ?2, n_tokens = ?3"         \
                      " WHERE id = ?1")                                                                  \
    X(STALE_MARK, "INSERT OR IGNORE INTO adapters_stale(adapter_id, since, doc_id)"                      \
                  " SELECT adapter_id, ?2, doc_id FROM lineage WHERE doc_id = ?1")                       \
    X(LINEAGE_DELETE, "DELETE FROM lineage WHERE doc_id = ?1")                                           \
    X(CHUNKS_DELETE, "DELETE FROM chunks WHERE doc_id = ?1")                                             \
    X(LEXICAL_DELETE, "DELETE FROM mem.lexical WHERE rowid BETWEEN ?1 AND ?2")                           \
    X(DOCUMENT_DELETE, "DELETE FROM documents WHERE id = ?1")                                            \
    X(CHUNK_INSERT, "INSERT INTO chunks(doc_id, idx, collection_id, byte_offset, byte_len, n_tokens,"    \
                    " text, vector, context_offset, context_len)"                                        \
                    " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)")                                  \
    X(CHUNK_GET, "SELECT k.byte_offset, k.byte_len, k.n_tokens, k.text, d.title, k.context_offset,"      \
                 " k.context_len FROM chunks k"                                                          \
                 " JOIN documents d ON d.id = k.doc_id WHERE k.doc_id = ?1 AND k.idx = ?2")              \
    X(LEXICAL_INSERT, "INSERT INTO mem.lexical(rowid, title, body, collection_id) VALUES(?1, ?2, ?3, ?4)") \
    X(LEXICAL_SEARCH, "SELECT rowid, -bm25(lexical, " LEXICAL_WEIGHTS ") FROM mem.lexical"              \
                      " WHERE lexical MATCH ?1 AND collection_id IN (SELECT value FROM json_each(?2))"   \
                      " ORDER BY bm25(lexical, " LEXICAL_WEIGHTS ") LIMIT ?3")                           \
    X(LEXICAL_TERM_ROWS, "SELECT doc FROM mem.lexical_terms WHERE term = ?1")                             \
    X(LINEAGE_ADD, "INSERT OR IGNORE INTO lineage(adapter_id, doc_id) VALUES(?1, ?2)")                   \
    X(ADAPTER_STALE, "SELECT 1 FROM adapters_stale WHERE adapter_id = ?1")                                \
    X(CHUNK_SET_VECTOR, "UPDATE chunks SET vector = ?3 WHERE doc_id = ?1 AND idx = ?2")                 \
    X(REEMBED_PUT, "INSERT OR REPLACE INTO reembedded(doc_id, idx, collection_id, embedder, vector)"      \
                   " VALUES(?1, ?2, ?3, ?4, ?5)")                                                        \
    X(REEMBED_FOREACH, "SELECT doc_id, idx, vector FROM reembedded WHERE collection_id = ?1"              \
                       " AND embedder = ?2 ORDER BY doc_id, idx")                                        \
    X(REEMBED_CLEAR, "DELETE FROM reembedded WHERE collection_id = ?1")                                  \
    X(REEMBED_DELETE_DOC, "DELETE FROM reembedded WHERE doc_id = ?1")                                   \
    X(ADAPTER_INSERT, "INSERT INTO adapters(id, name, version, fingerprint, rank, alpha, targets, size,"    \
                      " created, source, status) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)")  \
    X(ADAPTER_VERSION_SET, "INSERT INTO adapter_versions(name, last) VALUES(?1, ?2)"                      \
                           " ON CONFLICT(name) DO UPDATE SET last = max(last, excluded.last)")           \
    X(ADAPTER_NEXT_VERSION, "SELECT max(coalesce((SELECT last FROM adapter_versions WHERE name = ?1), 0),"  \
                            " coalesce((SELECT max(version) FROM adapters WHERE name = ?1), 0)) + 1")    \
    X(ADAPTERS_LIST, "SELECT id, name, version, fingerprint, rank, alpha, targets, size, created, source,"  \
                     " status FROM adapters ORDER BY name, version")                                     \
    X(ADAPTER_DELETE, "DELETE FROM adapters WHERE id = ?1")                                             \
    X(JOB_INSERT, "INSERT INTO jobs(id, owner_uid, name, collections, options, examples, state, reason,"    \
                  " created, updated, max_steps) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)")   \
    X(JOB_GET, JOB_COLUMNS " WHERE id = ?1")                                                              \
    X(JOBS_LIST, JOB_COLUMNS " ORDER BY rowid")                                                           \
    X(JOB_UPDATE, "UPDATE jobs SET state = ?2, reason = ?3, updated = ?4, step = ?5, max_steps = ?6,"      \
                  " tokens = ?7, elapsed_s = ?8, train_loss = ?9, heldout_loss = ?10,"                   \
                  " best_heldout_loss = ?11, best_step = ?12, eta_s = ?13, adapter_id = ?14 WHERE id = ?1") \
    X(JOB_SET_HISTORY, "UPDATE jobs SET history = ?2 WHERE id = ?1")                                     \
    X(JOB_SET_DOCS, "UPDATE jobs SET doc_ids = ?2 WHERE id = ?1")                                        \
    X(JOB_EXAMPLES, "SELECT examples FROM jobs WHERE id = ?1")                                          \
    X(JOB_HISTORY, "SELECT history FROM jobs WHERE id = ?1")                                            \
    X(JOB_DOCS, "SELECT doc_ids FROM jobs WHERE id = ?1")                                               \
    X(JOB_DELETE, "DELETE FROM jobs WHERE id = ?1")                                                     \
    X(JOBS_UNFINISHED, "SELECT count(*) FROM jobs WHERE state NOT IN ('done', 'failed', 'cancelled')")

enum {
#define ED__STMT_ENUM(name, sql) STMT_##name,
    STATEMENTS(ED__STMT_ENUM)
#undef ED__STMT_ENUM
    N_STATEMENTS
};


struct ed_db {
    sqlite3 *sql;
    sqlite3_stmt *stmts[N_STATEMENTS]; /* prepared at open */
};

/* Translates the connection's last error, with what was being done. */
int ed__db_error(ed_db_t *db, int rc, const char *what, char err[ED_ERR_LEN]);

/* The prepared statement `id`, reset and with its bindings cleared. */
sqlite3_stmt *ed__db_stmt(ed_db_t *db, int id);

/* Steps a statement that returns no row. */
int ed__db_step_done(ed_db_t *db, sqlite3_stmt *s, const char *what, char err[ED_ERR_LEN]);

/* Binds `b` (NULL or no data: SQL NULL) to `column`; the bytes must outlive the step. */
int ed__db_bind_bytes(sqlite3_stmt *s, int column, const ed_db_bytes_t *b);

/* Copies a blob column (NULL stays NULL). */
int ed__db_column_bytes(sqlite3_stmt *s, int column, ed_db_bytes_t *out);

#endif
