/* db.c - edged.db over SQLite: pragmas, the schema and its migrations,
 * prepared statements for every store operation, and the lexical index (an
 * FTS5 table in an attached :memory: database, filled by store.c from the
 * unsealed chunks at open). Foreign result codes become ED_E* codes here. */
#include "store/db.h"

#include "store/lexical.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Migrations: entry i takes the schema from version i to version i + 1. */
static const char *const MIGRATIONS[ED_DB_SCHEMA_VERSION] = {
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value NOT NULL);"
    "CREATE TABLE collections(id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE,"
    " owner_uid INTEGER NOT NULL, allow TEXT NOT NULL DEFAULT '', embedder TEXT NOT NULL,"
    " dim INTEGER NOT NULL, created INTEGER NOT NULL);"
    "CREATE TABLE documents(id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " collection_id INTEGER NOT NULL REFERENCES collections(id), created INTEGER NOT NULL,"
    " n_chunks INTEGER NOT NULL, n_tokens INTEGER NOT NULL,"
    " title BLOB, source BLOB, metadata BLOB, text BLOB);" /* sealed */
    "CREATE INDEX documents_by_collection ON documents(collection_id, id);"
    "CREATE TABLE chunks(doc_id INTEGER NOT NULL REFERENCES documents(id), idx INTEGER NOT NULL,"
    " collection_id INTEGER NOT NULL, byte_offset INTEGER NOT NULL, byte_len INTEGER NOT NULL,"
    " n_tokens INTEGER NOT NULL, text BLOB NOT NULL, vector BLOB NOT NULL," /* sealed */
    " PRIMARY KEY(doc_id, idx)) WITHOUT ROWID;"
    "CREATE INDEX chunks_by_collection ON chunks(collection_id);"
    "CREATE TABLE lineage(adapter_id TEXT NOT NULL, doc_id INTEGER NOT NULL,"
    " PRIMARY KEY(adapter_id, doc_id)) WITHOUT ROWID;"
    "CREATE INDEX lineage_by_doc ON lineage(doc_id);"
    "CREATE TABLE adapters_stale(adapter_id TEXT PRIMARY KEY, since INTEGER NOT NULL,"
    " doc_id INTEGER NOT NULL);",
    /* 2: where each chunk's heading context lies in its document's text (a
     * re-embedding embeds it as ingest did), and the vectors of a
     * re-embedding under way, so that a stopped one resumes */
    "ALTER TABLE chunks ADD COLUMN context_offset INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE chunks ADD COLUMN context_len INTEGER NOT NULL DEFAULT 0;"
    "CREATE TABLE reembedded(doc_id INTEGER NOT NULL, idx INTEGER NOT NULL, collection_id INTEGER NOT NULL,"
    " embedder TEXT NOT NULL, vector BLOB NOT NULL," /* sealed */
    " PRIMARY KEY(doc_id, idx)) WITHOUT ROWID;"
    "CREATE INDEX reembedded_by_collection ON reembedded(collection_id, embedder);",
    /* 3: idempotent ingest. A document's version (1, then one more for each
     * replacement); source_key, a keyed digest of its source (NULL: none),
     * unique in its collection, so that a source is found without storing it
     * in the clear; content_mac, a keyed digest of what it holds (title,
     * metadata, text), NULL until store.c computes it for a row of an older
     * schema */
    "ALTER TABLE documents ADD COLUMN version INTEGER NOT NULL DEFAULT 1;"
    "ALTER TABLE documents ADD COLUMN source_key BLOB;"
    "ALTER TABLE documents ADD COLUMN content_mac BLOB;"
    "CREATE UNIQUE INDEX documents_by_source ON documents(collection_id, source_key)"
    " WHERE source_key IS NOT NULL;",
    /* 4: the adapter registry: one row per imported or trained adapter (its
     * sealed file is STATE_DIR/adapters/ID); versions count up per name; the
     * active one is meta's "active_adapter" */
    "CREATE TABLE adapters(id TEXT PRIMARY KEY, name TEXT NOT NULL, version INTEGER NOT NULL,"
    " fingerprint TEXT NOT NULL, rank INTEGER NOT NULL, alpha REAL, targets TEXT NOT NULL,"
    " size INTEGER NOT NULL, created INTEGER NOT NULL, source TEXT NOT NULL, status TEXT NOT NULL,"
    " UNIQUE(name, version));"
    "CREATE TABLE adapter_versions(name TEXT PRIMARY KEY, last INTEGER NOT NULL);",
};

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
    X(ADAPTER_DELETE, "DELETE FROM adapters WHERE id = ?1")

enum {
#define ED__STMT_ENUM(name, sql) STMT_##name,
    STATEMENTS(ED__STMT_ENUM)
#undef ED__STMT_ENUM
    N_STATEMENTS
};

static const char *const STATEMENT_SQL[N_STATEMENTS] = {
#define ED__STMT_SQL(name, sql) sql,
    STATEMENTS(ED__STMT_SQL)
#undef ED__STMT_SQL
};

struct ed_db {
    sqlite3 *sql;
    sqlite3_stmt *stmts[N_STATEMENTS]; /* prepared at open */
};

/* Translates the connection's last error, with what was being done. */
static int db_error(ed_db_t *db, int rc, const char *what, char err[ED_ERR_LEN])
{
    snprintf(err, ED_ERR_LEN, "edged.db: %s: %s", what, db->sql ? sqlite3_errmsg(db->sql) : sqlite3_errstr(rc));
    switch (rc & 0xff) {
    case SQLITE_CONSTRAINT:
        if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
            return ED_ENOENT;
        return rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY ? ED_EEXIST : ED_EINVAL;
    case SQLITE_NOMEM:
        return ED_ENOMEM;
    case SQLITE_FULL:
        return ED_ENOSPC;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        return ED_ECORRUPT;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return ED_EBUSY;
    case SQLITE_READONLY:
    case SQLITE_PERM:
        return ED_EACCES;
    case SQLITE_TOOBIG:
        return ED_ETOOBIG;
    case SQLITE_ERROR:
        return ED_EINVAL;
    default:
        return ED_EIO;
    }
}

/* The prepared statement `id`, reset and with its bindings cleared. */
static sqlite3_stmt *stmt(ed_db_t *db, int id)
{
    sqlite3_stmt *s = db->stmts[id];
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return s;
}

/* Steps a statement that returns no row. */
static int step_done(ed_db_t *db, sqlite3_stmt *s, const char *what, char err[ED_ERR_LEN])
{
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? 0 : db_error(db, rc, what, err);
}

static int exec(ed_db_t *db, const char *sql, const char *what, char err[ED_ERR_LEN])
{
    int rc = sqlite3_exec(db->sql, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : db_error(db, sqlite3_extended_errcode(db->sql), what, err);
}

static int bind_bytes(sqlite3_stmt *s, int column, const ed_db_bytes_t *b)
{
    if (!b || !b->data)
        return sqlite3_bind_null(s, column);
    return sqlite3_bind_blob64(s, column, b->len ? b->data : "", b->len, SQLITE_STATIC);
}

/* Copies a blob column (NULL stays NULL). */
static int column_bytes(sqlite3_stmt *s, int column, ed_db_bytes_t *out)
{
    out->data = NULL;
    out->len = 0;
    if (sqlite3_column_type(s, column) == SQLITE_NULL)
        return 0;
    const void *data = sqlite3_column_blob(s, column);
    size_t len = (size_t)sqlite3_column_bytes(s, column);
    out->data = malloc(len + 1);
    if (!out->data)
        return ED_ENOMEM;
    if (len)
        memcpy(out->data, data, len);
    out->len = len;
    return 0;
}

static int migrate(ed_db_t *db, char err[ED_ERR_LEN])
{
    int rc = exec(db, "CREATE TABLE IF NOT EXISTS schema_version(version INTEGER NOT NULL)",
                  "creating the schema version table", err);
    if (rc != 0)
        return rc;
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db->sql, "SELECT coalesce(max(version), 0) FROM schema_version", -1, &s, NULL) != SQLITE_OK)
        return db_error(db, sqlite3_extended_errcode(db->sql), "reading the schema version", err);
    int version = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int(s, 0) : -1;
    sqlite3_finalize(s);
    if (version < 0)
        return db_error(db, sqlite3_extended_errcode(db->sql), "reading the schema version", err);
    if (version > ED_DB_SCHEMA_VERSION) {
        snprintf(err, ED_ERR_LEN, "edged.db has schema version %d, newer than this edged knows (%d)", version,
                 ED_DB_SCHEMA_VERSION);
        return ED_EUNSUPPORTED;
    }
    for (; version < ED_DB_SCHEMA_VERSION; version++) {
        char bump[96];
        snprintf(bump, sizeof bump, "INSERT INTO schema_version(version) VALUES(%d)", version + 1);
        if ((rc = exec(db, "BEGIN IMMEDIATE", "starting a migration", err)) != 0)
            return rc;
        if ((rc = exec(db, MIGRATIONS[version], "migrating the schema", err)) != 0 ||
            (rc = exec(db, bump, "recording the schema version", err)) != 0 ||
            (rc = exec(db, "COMMIT", "committing a migration", err)) != 0) {
            sqlite3_exec(db->sql, "ROLLBACK", NULL, NULL, NULL);
            return rc;
        }
    }
    return 0;
}

int ed_db_open(ed_db_t **out, const char *path, char err[ED_ERR_LEN])
{
    *out = NULL;
    ed_db_t *db = calloc(1, sizeof *db);
    if (!db) {
        snprintf(err, ED_ERR_LEN, "out of memory");
        return ED_ENOMEM;
    }
    int rc;
    /* Created 0600 here so that SQLite's -wal and -shm files inherit it. */
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        int e = errno;
        snprintf(err, ED_ERR_LEN, "%s: %s", path, strerror(e));
        rc = ed_err_from_errno(e);
        goto fail;
    }
    close(fd);
    rc = sqlite3_open_v2(path, &db->sql, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        rc = db_error(db, rc, "cannot open", err);
        goto fail;
    }
    sqlite3_extended_result_codes(db->sql, 1);
    sqlite3_busy_timeout(db->sql, 5000);
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db->sql, "PRAGMA journal_mode=WAL", -1, &s, NULL) != SQLITE_OK) {
        rc = db_error(db, sqlite3_extended_errcode(db->sql), "setting WAL mode", err);
        goto fail;
    }
    int wal = sqlite3_step(s) == SQLITE_ROW && strcmp((const char *)sqlite3_column_text(s, 0), "wal") == 0;
    sqlite3_finalize(s);
    if (!wal) {
        rc = db_error(db, sqlite3_extended_errcode(db->sql), "setting WAL mode", err);
        goto fail;
    }
    if ((rc = exec(db,
                   "PRAGMA synchronous=FULL; PRAGMA secure_delete=ON; PRAGMA foreign_keys=ON;"
                   " PRAGMA temp_store=MEMORY",
                   "setting pragmas", err)) != 0 ||
        (rc = migrate(db, err)) != 0 ||
        (rc = exec(db,
                   "ATTACH DATABASE ':memory:' AS mem;"
                   " CREATE VIRTUAL TABLE mem.lexical USING fts5(title, body, collection_id UNINDEXED,"
                   " tokenize = 'unicode61 remove_diacritics 2');"
                   " CREATE VIRTUAL TABLE mem.lexical_terms USING fts5vocab(lexical, row)",
                   "making the in-memory lexical table", err)) != 0)
        goto fail;
    for (int i = 0; i < N_STATEMENTS; i++) {
        if (sqlite3_prepare_v3(db->sql, STATEMENT_SQL[i], -1, SQLITE_PREPARE_PERSISTENT, &db->stmts[i], NULL) !=
            SQLITE_OK) {
            rc = db_error(db, sqlite3_extended_errcode(db->sql), "preparing statements", err);
            goto fail;
        }
    }
    *out = db;
    return 0;
fail:
    ed_db_close(db);
    return rc;
}

void ed_db_close(ed_db_t *db)
{
    if (!db)
        return;
    for (int i = 0; i < N_STATEMENTS; i++)
        sqlite3_finalize(db->stmts[i]);
    sqlite3_close(db->sql);
    free(db);
}

int ed_db_begin(ed_db_t *db, char err[ED_ERR_LEN])
{
    return step_done(db, stmt(db, STMT_BEGIN), "beginning a transaction", err);
}

int ed_db_commit(ed_db_t *db, char err[ED_ERR_LEN])
{
    return step_done(db, stmt(db, STMT_COMMIT), "committing", err);
}

void ed_db_rollback(ed_db_t *db)
{
    if (!sqlite3_get_autocommit(db->sql)) {
        char ignored[ED_ERR_LEN];
        step_done(db, stmt(db, STMT_ROLLBACK), "rolling back", ignored);
    }
}

int ed_db_checkpoint(ed_db_t *db, char err[ED_ERR_LEN])
{
    int rc = sqlite3_wal_checkpoint_v2(db->sql, "main", SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
    return rc == SQLITE_OK ? 0 : db_error(db, rc, "checkpointing the WAL", err);
}

int ed_db_meta_get(ed_db_t *db, const char *key, ed_db_bytes_t *out, char err[ED_ERR_LEN])
{
    sqlite3_stmt *s = stmt(db, STMT_META_GET);
    sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        rc = column_bytes(s, 0, out);
        sqlite3_reset(s);
        return rc;
    }
    sqlite3_reset(s);
    if (rc == SQLITE_DONE) {
        snprintf(err, ED_ERR_LEN, "edged.db: no meta value %s", key);
        return ED_ENOENT;
    }
    return db_error(db, rc, "reading meta", err);
}

int ed_db_meta_set(ed_db_t *db, const char *key, const void *value, size_t len, char err[ED_ERR_LEN])
{
    sqlite3_stmt *s = stmt(db, STMT_META_SET);
    sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_blob64(s, 2, value, len, SQLITE_STATIC);
    return step_done(db, s, "writing meta", err);
}

/* The meta key of a generation counter: the store's, or one collection's. */
static void generation_key(int64_t collection_id, char key[32])
{
    if (collection_id)
        snprintf(key, 32, "generation:%lld", (long long)collection_id);
    else
        snprintf(key, 32, "generation");
}

int ed_db_generation(ed_db_t *db, int64_t collection_id, int64_t *out, char err[ED_ERR_LEN])
{
    char key[32];
    generation_key(collection_id, key);
    sqlite3_stmt *s = stmt(db, STMT_META_GET);
    sqlite3_bind_text(s, 1, key, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(s);
    *out = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_reset(s);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : db_error(db, rc, "reading the generation", err);
}

int ed_db_generation_bump(ed_db_t *db, int64_t collection_id, int64_t *out, char err[ED_ERR_LEN])
{
    int64_t generation = 0;
    int rc = ed_db_generation(db, collection_id, &generation, err);
    if (rc != 0)
        return rc;
    char key[32];
    generation_key(collection_id, key);
    sqlite3_stmt *s = stmt(db, STMT_META_SET);
    sqlite3_bind_text(s, 1, key, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 2, generation + 1);
    if ((rc = step_done(db, s, "writing the generation", err)) != 0)
        return rc;
    *out = generation + 1;
    return 0;
}

static void collection_from_row(sqlite3_stmt *s, ed_collection_t *c)
{
    memset(c, 0, sizeof *c);
    c->id = sqlite3_column_int64(s, 0);
    snprintf(c->name, sizeof c->name, "%s", (const char *)sqlite3_column_text(s, 1));
    c->owner_uid = (uint32_t)sqlite3_column_int64(s, 2);
    snprintf(c->allow, sizeof c->allow, "%s", (const char *)sqlite3_column_text(s, 3));
    snprintf(c->embedder, sizeof c->embedder, "%s", (const char *)sqlite3_column_text(s, 4));
    c->dim = sqlite3_column_int(s, 5);
    c->n_documents = sqlite3_column_int64(s, 6);
    c->n_chunks = sqlite3_column_int64(s, 7);
}

int ed_db_collection_get(ed_db_t *db, const char *name, int64_t id, ed_collection_t *out, char err[ED_ERR_LEN])
{
    sqlite3_stmt *s = stmt(db, name ? STMT_COLLECTION_BY_NAME : STMT_COLLECTION_BY_ID);
    if (name)
        sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
    else
        sqlite3_bind_int64(s, 1, id);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        collection_from_row(s, out);
    sqlite3_reset(s);
    if (rc == SQLITE_ROW)
        return 0;
    if (rc != SQLITE_DONE)
        return db_error(db, rc, "reading a collection", err);
    if (name)
        snprintf(err, ED_ERR_LEN, "no collection named \"%s\"", name);
    else
        snprintf(err, ED_ERR_LEN, "no collection with id %lld", (long long)id);
    return ED_ENOENT;
}

int ed_db_collection_create(ed_db_t *db, const char *name, uint32_t owner_uid, const char *embedder, int dim,
                            int64_t created, int64_t *id, char err[ED_ERR_LEN])
{
    sqlite3_stmt *s = stmt(db, STMT_COLLECTION_INSERT);
    sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, owner_uid);
    sqlite3_bind_text(s, 3, embedder, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 4, dim);
    sqlite3_bind_int64(s, 5, created);
    int rc = step_done(db, s, "creating a collection", err);
    if (rc == ED_EEXIST)
        snprintf(err, ED_ERR_LEN, "collection \"%s\" exists already", name);
    *id = rc == 0 ? sqlite3_last_insert_rowid(db->sql) : 0;
    return rc;
}

/* Runs an UPDATE of one collection; no row changed: ED_ENOENT. */
static int collection_update(ed_db_t *db, sqlite3_stmt *s, int64_t id, char err[ED_ERR_LEN])
{
    int rc = step_done(db, s, "updating a collection", err);
    if (rc == 0 && sqlite3_changes(db->sql) == 0) {
        snprintf(err, ED_ERR_LEN, "no collection with id %lld", (long long)id);
        return ED_ENOENT;
    }
    return rc;
}

int ed_db_collection_set_allow(ed_db_t *db, int64_t id, const char *allow, char err[ED_ERR_LEN])
{
    sqlite3_stmt *s = stmt(db, STMT_COLLECTION_SET_ALLOW);
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_text(s, 2, allow, -1, SQLITE_STATIC);
    return collection_update(db, s, id, err);
}

int ed_db_collection_set_embedder(ed_db_t *db, int64_t id, const char *embedder, int dim, char err[ED_ERR_LEN])
{
    sqlite3_stmt *s = stmt(db, STMT_COLLECTION_SET_EMBEDDER);
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_text(s, 2, embedder, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 3, dim);
    return collection_update(db, s, id, err);
}

int ed_db_collections_foreach(ed_db_t *db, int (*fn)(const ed_collection_t *c, void *arg), void *arg,
                              char err[ED_ERR_LEN])
{
    /* Its own statement, so that fn may call back into the store. */
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db->sql, COLLECTION_COLUMNS "ORDER BY id", -1, &s, NULL) != SQLITE_OK)
        return db_error(db, sqlite3_extended_errcode(db->sql), "listing collections", err);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        ed_collection_t c;
        collection_from_row(s, &c);
        int stop = fn(&c, arg);
        if (stop) {
            sqlite3_finalize(s);
            return 0;
        }
    }
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? 0 : db_error(db, rc, "listing collections", err);
}

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
    sqlite3_stmt *s = stmt(db, STMT_DOCUMENT_INSERT);
    sqlite3_bind_int64(s, 1, collection_id);
    sqlite3_bind_int64(s, 2, created);
    sqlite3_bind_int(s, 3, n_chunks);
    sqlite3_bind_int(s, 4, n_tokens);
    int rc = step_done(db, s, "adding a document", err);
    if (rc == ED_ENOENT)
        snprintf(err, ED_ERR_LEN, "no collection with id %lld", (long long)collection_id);
    *id = rc == 0 ? sqlite3_last_insert_rowid(db->sql) : 0;
    return rc;
}

int ed_db_document_seal(ed_db_t *db, int64_t id, const ed_db_bytes_t *title, const ed_db_bytes_t *source,
                        const ed_db_bytes_t *metadata, const ed_db_bytes_t *text, char err[ED_ERR_LEN])
{
    sqlite3_stmt *s = stmt(db, STMT_DOCUMENT_SEAL);
    sqlite3_bind_int64(s, 1, id);
    bind_bytes(s, 2, title);
    bind_bytes(s, 3, source);
    bind_bytes(s, 4, metadata);
    bind_bytes(s, 5, text);
    return step_done(db, s, "writing a document", err);
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
    if (column_bytes(s, 6, &d->title) || column_bytes(s, 7, &d->source) || column_bytes(s, 8, &d->metadata) ||
        column_bytes(s, 9, &d->text)) {
        ed_db_document_free(d);
        return ED_ENOMEM;
    }
    return 0;
}

int ed_db_document_get(ed_db_t *db, int64_t id, bool with_text, ed_db_document_t *out, char err[ED_ERR_LEN])
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *s = stmt(db, STMT_DOCUMENT_GET);
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
        return db_error(db, rc, "reading a document", err);
    snprintf(err, ED_ERR_LEN, "no document with id %lld", (long long)id);
    return ED_ENOENT;
}

int ed_db_documents_list(ed_db_t *db, int64_t collection_id, int64_t after_id, int limit, ed_db_document_t *out,
                         int *n_out, char err[ED_ERR_LEN])
{
    *n_out = 0;
    sqlite3_stmt *s = stmt(db, STMT_DOCUMENT_LIST);
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
        return db_error(db, rc, "listing documents", err);
    return 0;
}

/* Removes what a document's text gave (chunks, kept vectors, lexical rows)
 * and the lineage of adapters trained on it, which are marked stale: the
 * part shared by a deletion and a replacement. *n_chunks: how many went. */
static int document_clear(ed_db_t *db, int64_t id, int64_t now, int *n_chunks, char err[ED_ERR_LEN])
{
    *n_chunks = 0;
    sqlite3_stmt *s = stmt(db, STMT_DOCUMENT_CHUNK_COUNT);
    sqlite3_bind_int64(s, 1, id);
    int rc = sqlite3_step(s);
    int count = rc == SQLITE_ROW ? sqlite3_column_int(s, 0) : 0;
    sqlite3_reset(s);
    if (rc != SQLITE_ROW)
        return db_error(db, rc, "counting chunks", err);
    s = stmt(db, STMT_STALE_MARK);
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_int64(s, 2, now);
    if ((rc = step_done(db, s, "marking adapters stale", err)) != 0)
        return rc;
    s = stmt(db, STMT_LINEAGE_DELETE);
    sqlite3_bind_int64(s, 1, id);
    if ((rc = step_done(db, s, "deleting lineage", err)) != 0)
        return rc;
    s = stmt(db, STMT_CHUNKS_DELETE);
    sqlite3_bind_int64(s, 1, id);
    if ((rc = step_done(db, s, "deleting chunks", err)) != 0)
        return rc;
    s = stmt(db, STMT_REEMBED_DELETE_DOC);
    sqlite3_bind_int64(s, 1, id);
    if ((rc = step_done(db, s, "deleting re-embedded vectors", err)) != 0)
        return rc;
    s = stmt(db, STMT_LEXICAL_DELETE);
    sqlite3_bind_int64(s, 1, ed_chunk_id(id, 0));
    sqlite3_bind_int64(s, 2, ed_chunk_id(id, ED_STORE_MAX_CHUNKS_PER_DOC - 1));
    if ((rc = step_done(db, s, "deleting lexical rows", err)) != 0)
        return rc;
    *n_chunks = count;
    return 0;
}

int ed_db_document_delete(ed_db_t *db, int64_t id, int64_t now, int *n_chunks, char err[ED_ERR_LEN])
{
    int rc = document_clear(db, id, now, n_chunks, err);
    if (rc != 0)
        return rc;
    sqlite3_stmt *s = stmt(db, STMT_DOCUMENT_DELETE);
    sqlite3_bind_int64(s, 1, id);
    if ((rc = step_done(db, s, "deleting a document", err)) != 0)
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
    sqlite3_stmt *s = stmt(db, STMT_DOCUMENT_RENEW);
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_int(s, 2, n_chunks);
    sqlite3_bind_int(s, 3, n_tokens);
    if ((rc = step_done(db, s, "replacing a document", err)) != 0)
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
    sqlite3_stmt *s = stmt(db, STMT_DOCUMENT_BY_SOURCE);
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
        return db_error(db, rc, "finding a document by its source", err);
    snprintf(err, ED_ERR_LEN, "no document of that source in collection %lld", (long long)collection_id);
    return ED_ENOENT;
}

int ed_db_document_set_keys(ed_db_t *db, int64_t id, const uint8_t *source_key,
                            const uint8_t content_mac[ED_DB_KEY_LEN], char err[ED_ERR_LEN])
{
    sqlite3_stmt *s = stmt(db, STMT_DOCUMENT_SET_KEYS);
    sqlite3_bind_int64(s, 1, id);
    if (source_key)
        sqlite3_bind_blob(s, 2, source_key, ED_DB_KEY_LEN, SQLITE_STATIC);
    else
        sqlite3_bind_null(s, 2);
    sqlite3_bind_blob(s, 3, content_mac, ED_DB_KEY_LEN, SQLITE_STATIC);
    int rc = step_done(db, s, "recording a document's digests", err);
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
        return db_error(db, sqlite3_extended_errcode(db->sql), "reading documents without digests", err);
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
    return rc == SQLITE_DONE ? 0 : db_error(db, rc, "reading documents without digests", err);
}

int ed_db_chunk_insert(ed_db_t *db, int64_t doc_id, int index, int64_t collection_id, size_t offset, size_t len,
                       int n_tokens, size_t context_offset, size_t context_len, const ed_db_bytes_t *text,
                       const ed_db_bytes_t *vector, char err[ED_ERR_LEN])
{
    sqlite3_stmt *s = stmt(db, STMT_CHUNK_INSERT);
    sqlite3_bind_int64(s, 1, doc_id);
    sqlite3_bind_int(s, 2, index);
    sqlite3_bind_int64(s, 3, collection_id);
    sqlite3_bind_int64(s, 4, (sqlite3_int64)offset);
    sqlite3_bind_int64(s, 5, (sqlite3_int64)len);
    sqlite3_bind_int(s, 6, n_tokens);
    bind_bytes(s, 7, text);
    bind_bytes(s, 8, vector);
    sqlite3_bind_int64(s, 9, (sqlite3_int64)context_offset);
    sqlite3_bind_int64(s, 10, (sqlite3_int64)context_len);
    return step_done(db, s, "adding a chunk", err);
}

int ed_db_chunk_set_vector(ed_db_t *db, int64_t doc_id, int index, const ed_db_bytes_t *vector,
                           char err[ED_ERR_LEN])
{
    sqlite3_stmt *s = stmt(db, STMT_CHUNK_SET_VECTOR);
    sqlite3_bind_int64(s, 1, doc_id);
    sqlite3_bind_int(s, 2, index);
    bind_bytes(s, 3, vector);
    int rc = step_done(db, s, "replacing a chunk's vector", err);
    if (rc == 0 && sqlite3_changes(db->sql) != 1) {
        snprintf(err, ED_ERR_LEN, "chunk %lld/%d does not exist", (long long)doc_id, index);
        return ED_ENOENT;
    }
    return rc;
}

int ed_db_reembed_put(ed_db_t *db, int64_t doc_id, int index, int64_t collection_id, const char *embedder,
                      const ed_db_bytes_t *vector, char err[ED_ERR_LEN])
{
    sqlite3_stmt *s = stmt(db, STMT_REEMBED_PUT);
    sqlite3_bind_int64(s, 1, doc_id);
    sqlite3_bind_int(s, 2, index);
    sqlite3_bind_int64(s, 3, collection_id);
    sqlite3_bind_text(s, 4, embedder, -1, SQLITE_STATIC);
    bind_bytes(s, 5, vector);
    return step_done(db, s, "keeping a re-embedded vector", err);
}

int ed_db_reembed_foreach(ed_db_t *db, int64_t collection_id, const char *embedder,
                          int (*fn)(int64_t doc_id, int index, const void *sealed, size_t len, void *arg),
                          void *arg, char err[ED_ERR_LEN])
{
    sqlite3_stmt *s = stmt(db, STMT_REEMBED_FOREACH);
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
    return rc == SQLITE_DONE ? 0 : db_error(db, rc, "reading re-embedded vectors", err);
}

int ed_db_reembed_clear(ed_db_t *db, int64_t collection_id, char err[ED_ERR_LEN])
{
    sqlite3_stmt *s = stmt(db, STMT_REEMBED_CLEAR);
    sqlite3_bind_int64(s, 1, collection_id);
    return step_done(db, s, "dropping re-embedded vectors", err);
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
    sqlite3_stmt *s = stmt(db, STMT_CHUNK_GET);
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
        rc = column_bytes(s, 3, &out->text) || column_bytes(s, 4, &out->title) ? ED_ENOMEM : 0;
        sqlite3_reset(s);
        if (rc != 0) {
            ed_db_chunk_free(out);
            snprintf(err, ED_ERR_LEN, "out of memory reading a chunk");
        }
        return rc;
    }
    sqlite3_reset(s);
    if (rc != SQLITE_DONE)
        return db_error(db, rc, "reading a chunk", err);
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
        return db_error(db, sqlite3_extended_errcode(db->sql), "reading chunks", err);
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
    return rc == SQLITE_DONE ? 0 : db_error(db, rc, "reading chunks", err);
}

int ed_db_lexical_add(ed_db_t *db, int64_t chunk_id, int64_t collection_id, const char *title, const char *text,
                      size_t len, char err[ED_ERR_LEN])
{
    if (!title)
        title = "";
    size_t title_len = strlen(title), title_used = 0, text_used = 0;
    char *title_words = malloc(title_len + 2), *text_words = malloc(len + 2);
    if (!title_words || !text_words) {
        free(title_words);
        free(text_words);
        snprintf(err, ED_ERR_LEN, "out of memory");
        return ED_ENOMEM;
    }
    ed_lexical_words(title, title_len, false, title_words, title_len + 2, &title_used, INT_MAX);
    ed_lexical_words(len ? text : "", len, false, text_words, len + 2, &text_used, INT_MAX);
    sqlite3_stmt *s = stmt(db, STMT_LEXICAL_INSERT);
    sqlite3_bind_int64(s, 1, chunk_id);
    sqlite3_bind_text64(s, 2, title_words, title_used, SQLITE_STATIC, SQLITE_UTF8);
    sqlite3_bind_text64(s, 3, text_words, text_used, SQLITE_STATIC, SQLITE_UTF8);
    sqlite3_bind_int64(s, 4, collection_id);
    int rc = step_done(db, s, "adding to the lexical index", err);
    free(title_words);
    free(text_words);
    return rc;
}

#define QUERY_TERMS_MAX 32    /* terms of a lexical query used, at most */
#define QUERY_TERM_BYTES 128  /* bytes of a longer term are not a word: skipped */

/* Writes the FTS5 query for plain text: each word (ASCII letters and digits,
 * and any non-ASCII byte) quoted, joined by OR. Returns the number of terms. */
static int match_expression(const char *query, char *out, size_t cap)
{
    size_t used = 0;
    int n_terms = 0;
    const unsigned char *p = (const unsigned char *)query;
    out[0] = '\0';
    while (*p && n_terms < QUERY_TERMS_MAX) {
        while (*p && !(isalnum(*p) || *p >= 0x80))
            p++;
        const unsigned char *start = p;
        while (*p && (isalnum(*p) || *p >= 0x80))
            p++;
        size_t len = (size_t)(p - start);
        if (len == 0 || len > QUERY_TERM_BYTES)
            continue;
        int n = snprintf(out + used, cap - used, "%s\"%.*s\"", n_terms ? " OR " : "", (int)len,
                         (const char *)start);
        if (n < 0 || (size_t)n >= cap - used)
            break;
        used += (size_t)n;
        n_terms++;
    }
    out[used] = '\0';
    return n_terms;
}

int ed_db_lexical_search(ed_db_t *db, const char *query, const int64_t *collection_ids, int n_collections,
                         int top_k, ed_lexical_hit_t *hits, int *n_hits, char err[ED_ERR_LEN])
{
    *n_hits = 0;
    char match[QUERY_TERMS_MAX * (QUERY_TERM_BYTES + 6) + 1];
    if (top_k <= 0 || n_collections <= 0 || match_expression(query, match, sizeof match) == 0)
        return 0;
    size_t cap = (size_t)n_collections * 21 + 3, used = 0;
    char *ids = malloc(cap);
    if (!ids) {
        snprintf(err, ED_ERR_LEN, "out of memory");
        return ED_ENOMEM;
    }
    ids[used++] = '[';
    for (int i = 0; i < n_collections; i++)
        used += (size_t)snprintf(ids + used, cap - used, "%s%lld", i ? "," : "", (long long)collection_ids[i]);
    snprintf(ids + used, cap - used, "]");
    sqlite3_stmt *s = stmt(db, STMT_LEXICAL_SEARCH);
    sqlite3_bind_text(s, 1, match, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, ids, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 3, top_k);
    int rc;
    while (*n_hits < top_k && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        hits[*n_hits].chunk_id = sqlite3_column_int64(s, 0);
        hits[*n_hits].score = sqlite3_column_double(s, 1);
        (*n_hits)++;
    }
    if (*n_hits < top_k && rc != SQLITE_DONE)
        rc = db_error(db, rc, "searching the lexical index", err);
    else
        rc = 0;
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    free(ids);
    return rc;
}

int ed_db_lexical_term_rows(ed_db_t *db, const char *term, int64_t *n_rows, char err[ED_ERR_LEN])
{
    sqlite3_stmt *s = stmt(db, STMT_LEXICAL_TERM_ROWS);
    sqlite3_bind_text(s, 1, term, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    *n_rows = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : db_error(db, rc, "counting a term's rows", err);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return rc;
}

int ed_db_lineage_add(ed_db_t *db, const char *adapter_id, int64_t doc_id, char err[ED_ERR_LEN])
{
    sqlite3_stmt *s = stmt(db, STMT_LINEAGE_ADD);
    sqlite3_bind_text(s, 1, adapter_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, doc_id);
    return step_done(db, s, "recording lineage", err);
}

int ed_db_adapter_stale(ed_db_t *db, const char *adapter_id, bool *stale, char err[ED_ERR_LEN])
{
    sqlite3_stmt *s = stmt(db, STMT_ADAPTER_STALE);
    sqlite3_bind_text(s, 1, adapter_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    *stale = rc == SQLITE_ROW;
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : db_error(db, rc, "reading adapter staleness", err);
}

/* ---- adapters ---- */

int ed_db_adapter_insert(ed_db_t *db, const ed_adapter_row_t *row, char err[ED_ERR_LEN])
{
    sqlite3_stmt *s = stmt(db, STMT_ADAPTER_INSERT);
    sqlite3_bind_text(s, 1, row->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, row->name, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 3, row->version);
    sqlite3_bind_text(s, 4, row->fingerprint, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 5, row->rank);
    if (row->has_alpha)
        sqlite3_bind_double(s, 6, row->alpha);
    sqlite3_bind_text(s, 7, row->targets, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 8, row->size);
    sqlite3_bind_int64(s, 9, row->created);
    sqlite3_bind_text(s, 10, row->source, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 11, row->status, -1, SQLITE_STATIC);
    int rc = step_done(db, s, "recording an adapter", err);
    if (rc != 0)
        return rc;
    /* versions are never reused, even after the newest one is deleted */
    s = stmt(db, STMT_ADAPTER_VERSION_SET);
    sqlite3_bind_text(s, 1, row->name, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 2, row->version);
    return step_done(db, s, "recording an adapter's version", err);
}

int ed_db_adapter_next_version(ed_db_t *db, const char *name, int *out, char err[ED_ERR_LEN])
{
    sqlite3_stmt *s = stmt(db, STMT_ADAPTER_NEXT_VERSION);
    sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    *out = rc == SQLITE_ROW ? sqlite3_column_int(s, 0) : 1;
    sqlite3_reset(s);
    return rc == SQLITE_ROW ? 0 : db_error(db, rc, "reading an adapter's versions", err);
}

static void column_text(sqlite3_stmt *s, int column, char *out, size_t cap)
{
    const unsigned char *t = sqlite3_column_text(s, column);
    snprintf(out, cap, "%s", t ? (const char *)t : "");
}

int ed_db_adapters_list(ed_db_t *db, ed_adapter_row_t **out, int *n, char err[ED_ERR_LEN])
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *s = stmt(db, STMT_ADAPTERS_LIST);
    int rc, cap = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 8;
            ed_adapter_row_t *grown = realloc(*out, (size_t)cap * sizeof **out);
            if (!grown) {
                sqlite3_reset(s);
                free(*out);
                *out = NULL;
                *n = 0;
                snprintf(err, ED_ERR_LEN, "out of memory listing adapters");
                return ED_ENOMEM;
            }
            *out = grown;
        }
        ed_adapter_row_t *r = &(*out)[(*n)++];
        memset(r, 0, sizeof *r);
        column_text(s, 0, r->id, sizeof r->id);
        column_text(s, 1, r->name, sizeof r->name);
        r->version = sqlite3_column_int(s, 2);
        column_text(s, 3, r->fingerprint, sizeof r->fingerprint);
        r->rank = sqlite3_column_int(s, 4);
        r->has_alpha = sqlite3_column_type(s, 5) != SQLITE_NULL;
        r->alpha = (float)sqlite3_column_double(s, 5);
        column_text(s, 6, r->targets, sizeof r->targets);
        r->size = sqlite3_column_int64(s, 7);
        r->created = sqlite3_column_int64(s, 8);
        column_text(s, 9, r->source, sizeof r->source);
        column_text(s, 10, r->status, sizeof r->status);
    }
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) {
        free(*out);
        *out = NULL;
        *n = 0;
        return db_error(db, rc, "listing adapters", err);
    }
    return 0;
}

int ed_db_adapter_delete(ed_db_t *db, const char *id, char err[ED_ERR_LEN])
{
    sqlite3_stmt *s = stmt(db, STMT_ADAPTER_DELETE);
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    int rc = step_done(db, s, "deleting an adapter", err);
    if (rc == 0 && sqlite3_changes(db->sql) == 0) {
        snprintf(err, ED_ERR_LEN, "no adapter %s", id);
        return ED_ENOENT;
    }
    return rc;
}
