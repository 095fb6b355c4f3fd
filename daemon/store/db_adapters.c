/* db_adapters.c - edged.db's adapter registry: adapter rows, their version
 * counters, and the lineage that says which documents an adapter was trained
 * on (and so when it is stale). Part of the SQLite wrapper (db.c). */
#include "store/db_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ed_db_lineage_add(ed_db_t *db, const char *adapter_id, int64_t doc_id, char err[ED_ERR_LEN])
{
    sqlite3_stmt *s = ed__db_stmt(db, STMT_LINEAGE_ADD);
    sqlite3_bind_text(s, 1, adapter_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, doc_id);
    return ed__db_step_done(db, s, "recording lineage", err);
}

int ed_db_adapter_stale(ed_db_t *db, const char *adapter_id, bool *stale, char err[ED_ERR_LEN])
{
    sqlite3_stmt *s = ed__db_stmt(db, STMT_ADAPTER_STALE);
    sqlite3_bind_text(s, 1, adapter_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    *stale = rc == SQLITE_ROW;
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : ed__db_error(db, rc, "reading adapter staleness", err);
}

/* ---- adapters ---- */

int ed_db_adapter_insert(ed_db_t *db, const ed_adapter_row_t *row, char err[ED_ERR_LEN])
{
    sqlite3_stmt *s = ed__db_stmt(db, STMT_ADAPTER_INSERT);
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
    int rc = ed__db_step_done(db, s, "recording an adapter", err);
    if (rc != 0)
        return rc;
    /* versions are never reused, even after the newest one is deleted */
    s = ed__db_stmt(db, STMT_ADAPTER_VERSION_SET);
    sqlite3_bind_text(s, 1, row->name, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 2, row->version);
    return ed__db_step_done(db, s, "recording an adapter's version", err);
}

int ed_db_adapter_next_version(ed_db_t *db, const char *name, int *out, char err[ED_ERR_LEN])
{
    sqlite3_stmt *s = ed__db_stmt(db, STMT_ADAPTER_NEXT_VERSION);
    sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    *out = rc == SQLITE_ROW ? sqlite3_column_int(s, 0) : 1;
    sqlite3_reset(s);
    return rc == SQLITE_ROW ? 0 : ed__db_error(db, rc, "reading an adapter's versions", err);
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
    sqlite3_stmt *s = ed__db_stmt(db, STMT_ADAPTERS_LIST);
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
        return ed__db_error(db, rc, "listing adapters", err);
    }
    return 0;
}

int ed_db_adapter_delete(ed_db_t *db, const char *id, char err[ED_ERR_LEN])
{
    sqlite3_stmt *s = ed__db_stmt(db, STMT_ADAPTER_DELETE);
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    int rc = ed__db_step_done(db, s, "deleting an adapter", err);
    if (rc == 0 && sqlite3_changes(db->sql) == 0) {
        snprintf(err, ED_ERR_LEN, "no adapter %s", id);
        return ED_ENOENT;
    }
    return rc;
}
