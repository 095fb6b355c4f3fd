/* db_jobs.c - edged.db's adapt jobs: the persistent queue's rows (the
 * request in the clear, progress as numbers) and their sealed columns
 * (examples, loss history, document ids), which arrive and leave as opaque
 * bytes. Part of the SQLite wrapper (db.c). */
#include "store/db_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void column_text(sqlite3_stmt *s, int column, char *out, size_t cap)
{
    const unsigned char *t = sqlite3_column_text(s, column);
    snprintf(out, cap, "%s", t ? (const char *)t : "");
}

static double column_real(sqlite3_stmt *s, int column)
{
    return sqlite3_column_type(s, column) == SQLITE_NULL ? NAN : sqlite3_column_double(s, column);
}

static void bind_real(sqlite3_stmt *s, int column, double v)
{
    if (isfinite(v))
        sqlite3_bind_double(s, column, v);
    else
        sqlite3_bind_null(s, column);
}

/* One row of JOB_COLUMNS. */
static void read_row(sqlite3_stmt *s, ed_adapt_job_t *j)
{
    memset(j, 0, sizeof *j);
    column_text(s, 0, j->id, sizeof j->id);
    j->owner_uid = (uint32_t)sqlite3_column_int64(s, 1);
    column_text(s, 2, j->name, sizeof j->name);
    column_text(s, 3, j->collections, sizeof j->collections);
    column_text(s, 4, j->options, sizeof j->options);
    column_text(s, 5, j->state, sizeof j->state);
    column_text(s, 6, j->reason, sizeof j->reason);
    j->created = sqlite3_column_int64(s, 7);
    j->updated = sqlite3_column_int64(s, 8);
    j->step = sqlite3_column_int64(s, 9);
    j->max_steps = sqlite3_column_int64(s, 10);
    j->tokens = sqlite3_column_int64(s, 11);
    j->elapsed_s = sqlite3_column_double(s, 12);
    j->train_loss = column_real(s, 13);
    j->heldout_loss = column_real(s, 14);
    j->best_heldout_loss = column_real(s, 15);
    j->best_step = sqlite3_column_int64(s, 16);
    j->eta_s = column_real(s, 17);
    column_text(s, 18, j->adapter_id, sizeof j->adapter_id);
}

int ed_db_job_insert(ed_db_t *db, const ed_adapt_job_t *job, const ed_db_bytes_t *examples, char err[ED_ERR_LEN])
{
    sqlite3_stmt *s = ed__db_stmt(db, STMT_JOB_INSERT);
    sqlite3_bind_text(s, 1, job->id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, job->owner_uid);
    sqlite3_bind_text(s, 3, job->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, job->collections, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 5, job->options, -1, SQLITE_STATIC);
    ed__db_bind_bytes(s, 6, examples);
    sqlite3_bind_text(s, 7, job->state, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 8, job->reason, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 9, job->created);
    sqlite3_bind_int64(s, 10, job->updated);
    sqlite3_bind_int64(s, 11, job->max_steps);
    return ed__db_step_done(db, s, "recording a job", err);
}

int ed_db_job_get(ed_db_t *db, const char *id, ed_adapt_job_t *out, char err[ED_ERR_LEN])
{
    sqlite3_stmt *s = ed__db_stmt(db, STMT_JOB_GET);
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        read_row(s, out);
    sqlite3_reset(s);
    if (rc == SQLITE_DONE) {
        snprintf(err, ED_ERR_LEN, "no job %.40s", id);
        return ED_ENOENT;
    }
    return rc == SQLITE_ROW ? 0 : ed__db_error(db, rc, "reading a job", err);
}

int ed_db_jobs_list(ed_db_t *db, ed_adapt_job_t **out, int *n, char err[ED_ERR_LEN])
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *s = ed__db_stmt(db, STMT_JOBS_LIST);
    int rc, cap = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 8;
            ed_adapt_job_t *grown = realloc(*out, (size_t)cap * sizeof **out);
            if (!grown) {
                sqlite3_reset(s);
                free(*out);
                *out = NULL;
                *n = 0;
                snprintf(err, ED_ERR_LEN, "out of memory listing jobs");
                return ED_ENOMEM;
            }
            *out = grown;
        }
        read_row(s, &(*out)[(*n)++]);
    }
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) {
        free(*out);
        *out = NULL;
        *n = 0;
        return ed__db_error(db, rc, "listing jobs", err);
    }
    return 0;
}

static int changed_one(ed_db_t *db, int rc, const char *id, char err[ED_ERR_LEN])
{
    if (rc == 0 && sqlite3_changes(db->sql) == 0) {
        snprintf(err, ED_ERR_LEN, "no job %.40s", id);
        return ED_ENOENT;
    }
    return rc;
}

int ed_db_job_update(ed_db_t *db, const ed_adapt_job_t *job, char err[ED_ERR_LEN])
{
    sqlite3_stmt *s = ed__db_stmt(db, STMT_JOB_UPDATE);
    sqlite3_bind_text(s, 1, job->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, job->state, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, job->reason, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 4, job->updated);
    sqlite3_bind_int64(s, 5, job->step);
    sqlite3_bind_int64(s, 6, job->max_steps);
    sqlite3_bind_int64(s, 7, job->tokens);
    sqlite3_bind_double(s, 8, isfinite(job->elapsed_s) ? job->elapsed_s : 0);
    bind_real(s, 9, job->train_loss);
    bind_real(s, 10, job->heldout_loss);
    bind_real(s, 11, job->best_heldout_loss);
    sqlite3_bind_int64(s, 12, job->best_step);
    bind_real(s, 13, job->eta_s);
    sqlite3_bind_text(s, 14, job->adapter_id, -1, SQLITE_STATIC);
    return changed_one(db, ed__db_step_done(db, s, "updating a job", err), job->id, err);
}

int ed_db_job_set_sealed(ed_db_t *db, const char *id, ed_db_job_sealed_t column, const ed_db_bytes_t *bytes,
                         char err[ED_ERR_LEN])
{
    if (column == ED_DB_JOB_EXAMPLES)
        return ed_errf(err, ED_EINVAL, "a job's examples come with its row");
    bool history = column == ED_DB_JOB_HISTORY;
    sqlite3_stmt *s = ed__db_stmt(db, history ? STMT_JOB_SET_HISTORY : STMT_JOB_SET_DOCS);
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    ed__db_bind_bytes(s, 2, bytes);
    return changed_one(db,
                       ed__db_step_done(db, s, history ? "recording a job's history" : "recording a job's documents",
                                        err),
                       id, err);
}

int ed_db_job_sealed(ed_db_t *db, const char *id, ed_db_job_sealed_t column, ed_db_bytes_t *out,
                     char err[ED_ERR_LEN])
{
    out->data = NULL;
    out->len = 0;
    sqlite3_stmt *s = ed__db_stmt(db, column == ED_DB_JOB_HISTORY ? STMT_JOB_HISTORY
                                      : column == ED_DB_JOB_DOCS  ? STMT_JOB_DOCS
                                                                  : STMT_JOB_EXAMPLES);
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    int copied = rc == SQLITE_ROW ? ed__db_column_bytes(s, 0, out) : 0;
    sqlite3_reset(s);
    if (rc == SQLITE_DONE) {
        snprintf(err, ED_ERR_LEN, "no job %.40s", id);
        return ED_ENOENT;
    }
    if (rc != SQLITE_ROW)
        return ed__db_error(db, rc, "reading a job", err);
    if (copied != 0) {
        snprintf(err, ED_ERR_LEN, "out of memory reading a job");
        return copied;
    }
    return 0;
}

int ed_db_job_delete(ed_db_t *db, const char *id, char err[ED_ERR_LEN])
{
    sqlite3_stmt *s = ed__db_stmt(db, STMT_JOB_DELETE);
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    return changed_one(db, ed__db_step_done(db, s, "deleting a job", err), id, err);
}

int ed_db_jobs_unfinished(ed_db_t *db, int *n, char err[ED_ERR_LEN])
{
    sqlite3_stmt *s = ed__db_stmt(db, STMT_JOBS_UNFINISHED);
    int rc = sqlite3_step(s);
    *n = rc == SQLITE_ROW ? sqlite3_column_int(s, 0) : 0;
    sqlite3_reset(s);
    return rc == SQLITE_ROW ? 0 : ed__db_error(db, rc, "counting jobs", err);
}
