/* db.c - edged.db over SQLite: pragmas, the schema and its migrations,
 * the prepared statements, transactions, meta, generations and collections.
 * Documents and chunks are in db_documents.c, the lexical index (an FTS5
 * table in an attached :memory: database) in db_lexical.c, lineage and
 * adapters in db_adapters.c, adapt jobs in db_jobs.c. Foreign result codes become ED_E* codes here. */
#include "store/db_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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
    /* 5: adapt jobs (the persistent queue): the request in the clear
     * (collection names and options are not secret), the examples and the
     * loss history sealed, progress as plain numbers */
    "CREATE TABLE jobs(id TEXT PRIMARY KEY, owner_uid INTEGER NOT NULL, name TEXT NOT NULL,"
    " collections TEXT NOT NULL, options TEXT NOT NULL, examples BLOB," /* sealed */
    " state TEXT NOT NULL, reason TEXT NOT NULL DEFAULT '', created INTEGER NOT NULL,"
    " updated INTEGER NOT NULL, step INTEGER NOT NULL DEFAULT 0, max_steps INTEGER NOT NULL DEFAULT 0,"
    " tokens INTEGER NOT NULL DEFAULT 0, elapsed_s REAL NOT NULL DEFAULT 0, train_loss REAL,"
    " heldout_loss REAL, best_heldout_loss REAL, best_step INTEGER NOT NULL DEFAULT 0, eta_s REAL,"
    " adapter_id TEXT NOT NULL DEFAULT '', history BLOB);", /* sealed */
    /* 6: the documents a job's checkpoint learnt from (its last dataset's),
     * so that forgetting a document drops only the checkpoints that hold it,
     * also for a job not run since the start (NULL: unknown) */
    "ALTER TABLE jobs ADD COLUMN doc_ids BLOB;", /* sealed */
};

static const char *const STATEMENT_SQL[N_STATEMENTS] = {
#define ED__STMT_SQL(name, sql) sql,
    STATEMENTS(ED__STMT_SQL)
#undef ED__STMT_SQL
};


/* Translates the connection's last error, with what was being done. */
int ed__db_error(ed_db_t *db, int rc, const char *what, char err[ED_ERR_LEN])
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
sqlite3_stmt *ed__db_stmt(ed_db_t *db, int id)
{
    sqlite3_stmt *s = db->stmts[id];
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return s;
}

/* Steps a statement that returns no row. */
int ed__db_step_done(ed_db_t *db, sqlite3_stmt *s, const char *what, char err[ED_ERR_LEN])
{
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? 0 : ed__db_error(db, rc, what, err);
}

static int exec(ed_db_t *db, const char *sql, const char *what, char err[ED_ERR_LEN])
{
    int rc = sqlite3_exec(db->sql, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : ed__db_error(db, sqlite3_extended_errcode(db->sql), what, err);
}

int ed__db_bind_bytes(sqlite3_stmt *s, int column, const ed_db_bytes_t *b)
{
    if (!b || !b->data)
        return sqlite3_bind_null(s, column);
    return sqlite3_bind_blob64(s, column, b->len ? b->data : "", b->len, SQLITE_STATIC);
}

/* Copies a blob column (NULL stays NULL). */
int ed__db_column_bytes(sqlite3_stmt *s, int column, ed_db_bytes_t *out)
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
        return ed__db_error(db, sqlite3_extended_errcode(db->sql), "reading the schema version", err);
    int version = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int(s, 0) : -1;
    sqlite3_finalize(s);
    if (version < 0)
        return ed__db_error(db, sqlite3_extended_errcode(db->sql), "reading the schema version", err);
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
        rc = ed__db_error(db, rc, "cannot open", err);
        goto fail;
    }
    sqlite3_extended_result_codes(db->sql, 1);
    sqlite3_busy_timeout(db->sql, 5000);
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db->sql, "PRAGMA journal_mode=WAL", -1, &s, NULL) != SQLITE_OK) {
        rc = ed__db_error(db, sqlite3_extended_errcode(db->sql), "setting WAL mode", err);
        goto fail;
    }
    int wal = sqlite3_step(s) == SQLITE_ROW && strcmp((const char *)sqlite3_column_text(s, 0), "wal") == 0;
    sqlite3_finalize(s);
    if (!wal) {
        rc = ed__db_error(db, sqlite3_extended_errcode(db->sql), "setting WAL mode", err);
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
            rc = ed__db_error(db, sqlite3_extended_errcode(db->sql), "preparing statements", err);
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
    return ed__db_step_done(db, ed__db_stmt(db, STMT_BEGIN), "beginning a transaction", err);
}

int ed_db_commit(ed_db_t *db, char err[ED_ERR_LEN])
{
    return ed__db_step_done(db, ed__db_stmt(db, STMT_COMMIT), "committing", err);
}

void ed_db_rollback(ed_db_t *db)
{
    if (!sqlite3_get_autocommit(db->sql)) {
        char ignored[ED_ERR_LEN];
        ed__db_step_done(db, ed__db_stmt(db, STMT_ROLLBACK), "rolling back", ignored);
    }
}

int ed_db_checkpoint(ed_db_t *db, char err[ED_ERR_LEN])
{
    int rc = sqlite3_wal_checkpoint_v2(db->sql, "main", SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
    return rc == SQLITE_OK ? 0 : ed__db_error(db, rc, "checkpointing the WAL", err);
}

int ed_db_meta_get(ed_db_t *db, const char *key, ed_db_bytes_t *out, char err[ED_ERR_LEN])
{
    sqlite3_stmt *s = ed__db_stmt(db, STMT_META_GET);
    sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        rc = ed__db_column_bytes(s, 0, out);
        sqlite3_reset(s);
        return rc;
    }
    sqlite3_reset(s);
    if (rc == SQLITE_DONE) {
        snprintf(err, ED_ERR_LEN, "edged.db: no meta value %s", key);
        return ED_ENOENT;
    }
    return ed__db_error(db, rc, "reading meta", err);
}

int ed_db_meta_set(ed_db_t *db, const char *key, const void *value, size_t len, char err[ED_ERR_LEN])
{
    sqlite3_stmt *s = ed__db_stmt(db, STMT_META_SET);
    sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_blob64(s, 2, value, len, SQLITE_STATIC);
    return ed__db_step_done(db, s, "writing meta", err);
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
    sqlite3_stmt *s = ed__db_stmt(db, STMT_META_GET);
    sqlite3_bind_text(s, 1, key, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(s);
    *out = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_reset(s);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : ed__db_error(db, rc, "reading the generation", err);
}

int ed_db_generation_bump(ed_db_t *db, int64_t collection_id, int64_t *out, char err[ED_ERR_LEN])
{
    int64_t generation = 0;
    int rc = ed_db_generation(db, collection_id, &generation, err);
    if (rc != 0)
        return rc;
    char key[32];
    generation_key(collection_id, key);
    sqlite3_stmt *s = ed__db_stmt(db, STMT_META_SET);
    sqlite3_bind_text(s, 1, key, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 2, generation + 1);
    if ((rc = ed__db_step_done(db, s, "writing the generation", err)) != 0)
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
    sqlite3_stmt *s = ed__db_stmt(db, name ? STMT_COLLECTION_BY_NAME : STMT_COLLECTION_BY_ID);
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
        return ed__db_error(db, rc, "reading a collection", err);
    if (name)
        snprintf(err, ED_ERR_LEN, "no collection named \"%s\"", name);
    else
        snprintf(err, ED_ERR_LEN, "no collection with id %lld", (long long)id);
    return ED_ENOENT;
}

int ed_db_collection_create(ed_db_t *db, const char *name, uint32_t owner_uid, const char *embedder, int dim,
                            int64_t created, int64_t *id, char err[ED_ERR_LEN])
{
    sqlite3_stmt *s = ed__db_stmt(db, STMT_COLLECTION_INSERT);
    sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, owner_uid);
    sqlite3_bind_text(s, 3, embedder, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 4, dim);
    sqlite3_bind_int64(s, 5, created);
    int rc = ed__db_step_done(db, s, "creating a collection", err);
    if (rc == ED_EEXIST)
        snprintf(err, ED_ERR_LEN, "collection \"%s\" exists already", name);
    *id = rc == 0 ? sqlite3_last_insert_rowid(db->sql) : 0;
    return rc;
}

/* Runs an UPDATE of one collection; no row changed: ED_ENOENT. */
static int collection_update(ed_db_t *db, sqlite3_stmt *s, int64_t id, char err[ED_ERR_LEN])
{
    int rc = ed__db_step_done(db, s, "updating a collection", err);
    if (rc == 0 && sqlite3_changes(db->sql) == 0) {
        snprintf(err, ED_ERR_LEN, "no collection with id %lld", (long long)id);
        return ED_ENOENT;
    }
    return rc;
}

int ed_db_collection_set_allow(ed_db_t *db, int64_t id, const char *allow, char err[ED_ERR_LEN])
{
    sqlite3_stmt *s = ed__db_stmt(db, STMT_COLLECTION_SET_ALLOW);
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_text(s, 2, allow, -1, SQLITE_STATIC);
    return collection_update(db, s, id, err);
}

int ed_db_collection_set_embedder(ed_db_t *db, int64_t id, const char *embedder, int dim, char err[ED_ERR_LEN])
{
    sqlite3_stmt *s = ed__db_stmt(db, STMT_COLLECTION_SET_EMBEDDER);
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
        return ed__db_error(db, sqlite3_extended_errcode(db->sql), "listing collections", err);
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
    return rc == SQLITE_DONE ? 0 : ed__db_error(db, rc, "listing collections", err);
}

