/* store_jobs.c - the store's adapt jobs (the persistent queue of
 * adapt/jobs.c): rows with a random id, the request in the clear, the
 * examples, the loss history and the documents learnt from sealed
 * ("job:ID:examples", "job:ID:history", "job:ID:docs").
 * Part of the store (store.c); one thread at a time per handle. */
#include "store/store_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool ed_adapt_job_final(const char *state)
{
    return strcmp(state, "done") == 0 || strcmp(state, "failed") == 0 || strcmp(state, "cancelled") == 0;
}

static int write_result(ed_store_t *store, int rc, char err[ED_ERR_LEN])
{
    return rc == 0 || rc == ED_ENOENT || rc == ED_EINVAL || rc == ED_EEXIST ? rc
                                                                            : ed__store_write_failed(store, rc, err);
}

int ed_store_job_create(ed_store_t *store, ed_adapt_job_t *job, const void *examples, size_t len, char err[ED_ERR_LEN])
{
    int rc = ed__store_check_writable(store, err);
    if (rc != 0)
        return rc;
    uint8_t random[8];
    if (ed_seal_random(store->seal, random, sizeof random) != 0)
        return ed_errf(err, ED_EIO, "no random bytes for a job id");
    int n = snprintf(job->id, sizeof job->id, "job-");
    for (size_t i = 0; i < sizeof random; i++)
        n += snprintf(job->id + n, sizeof job->id - (size_t)n, "%02x", random[i]);
    job->created = job->updated = ed__store_now_seconds();
    job->step = job->tokens = job->best_step = 0;
    job->elapsed_s = 0;
    job->train_loss = job->heldout_loss = job->best_heldout_loss = job->eta_s = NAN;
    job->adapter_id[0] = '\0';
    ed_db_bytes_t sealed = {0};
    char identity[IDENTITY_LEN];
    snprintf(identity, sizeof identity, "job:%s:examples", job->id);
    if (examples && (rc = ed__store_seal_bytes(store, identity, examples, len, &sealed, err)) != 0)
        return rc;
    rc = ed_db_job_insert(store->db, job, &sealed, err);
    free(sealed.data);
    return write_result(store, rc, err);
}

int ed_store_job_get(ed_store_t *store, const char *id, ed_adapt_job_t *out, char err[ED_ERR_LEN])
{
    return ed_db_job_get(store->db, id, out, err);
}

int ed_store_jobs_list(ed_store_t *store, ed_adapt_job_t **jobs, int *n, char err[ED_ERR_LEN])
{
    return ed_db_jobs_list(store->db, jobs, n, err);
}

int ed_store_job_update(ed_store_t *store, ed_adapt_job_t *job, char err[ED_ERR_LEN])
{
    int rc = ed__store_check_writable(store, err);
    if (rc != 0)
        return rc;
    job->updated = ed__store_now_seconds();
    return write_result(store, ed_db_job_update(store->db, job, err), err);
}

int ed_store_job_set_history(ed_store_t *store, const char *id, const void *data, size_t len, char err[ED_ERR_LEN])
{
    int rc = ed__store_check_writable(store, err);
    if (rc != 0)
        return rc;
    char identity[IDENTITY_LEN];
    snprintf(identity, sizeof identity, "job:%.40s:history", id);
    ed_db_bytes_t sealed = {0};
    if ((rc = ed__store_seal_bytes(store, identity, data, len, &sealed, err)) != 0)
        return rc;
    rc = ed_db_job_set_sealed(store->db, id, ED_DB_JOB_HISTORY, &sealed, err);
    free(sealed.data);
    return write_result(store, rc, err);
}

static const char *const SEALED_NAMES[] = {"examples", "history", "docs"};

static int read_sealed(ed_store_t *store, const char *id, ed_db_job_sealed_t column, void **data, size_t *len,
                       char err[ED_ERR_LEN])
{
    *data = NULL;
    *len = 0;
    ed_db_bytes_t sealed;
    int rc = ed_db_job_sealed(store->db, id, column, &sealed, err);
    if (rc != 0)
        return rc;
    char identity[IDENTITY_LEN];
    snprintf(identity, sizeof identity, "job:%.40s:%s", id, SEALED_NAMES[column]);
    char *plain = NULL;
    rc = ed__store_unseal_string(store, identity, &sealed, true, &plain, len, err);
    free(sealed.data);
    *data = plain;
    return rc;
}

int ed_store_job_examples(ed_store_t *store, const char *id, void **data, size_t *len, char err[ED_ERR_LEN])
{
    return read_sealed(store, id, ED_DB_JOB_EXAMPLES, data, len, err);
}

int ed_store_job_history(ed_store_t *store, const char *id, void **data, size_t *len, char err[ED_ERR_LEN])
{
    return read_sealed(store, id, ED_DB_JOB_HISTORY, data, len, err);
}

/* Document ids travel as 8-byte little-endian integers. */
int ed_store_job_set_docs(ed_store_t *store, const char *id, const int64_t *ids, int n, char err[ED_ERR_LEN])
{
    int rc = ed__store_check_writable(store, err);
    if (rc != 0)
        return rc;
    size_t len = (size_t)(n > 0 ? n : 0) * 8;
    uint8_t *plain = malloc(len ? len : 1);
    if (!plain)
        return ed__store_out_of_memory(err);
    for (int i = 0; i < n; i++)
        for (int b = 0; b < 8; b++)
            plain[(size_t)i * 8 + (size_t)b] = (uint8_t)((uint64_t)ids[i] >> (8 * b));
    char identity[IDENTITY_LEN];
    snprintf(identity, sizeof identity, "job:%.40s:docs", id);
    ed_db_bytes_t sealed = {0};
    rc = ed__store_seal_bytes(store, identity, plain, len, &sealed, err);
    free(plain);
    if (rc != 0)
        return rc;
    rc = ed_db_job_set_sealed(store->db, id, ED_DB_JOB_DOCS, &sealed, err);
    free(sealed.data);
    return write_result(store, rc, err);
}

int ed_store_job_docs(ed_store_t *store, const char *id, int64_t **ids, int *n, bool *known, char err[ED_ERR_LEN])
{
    *ids = NULL;
    *n = 0;
    *known = false;
    void *data = NULL;
    size_t len = 0;
    int rc = read_sealed(store, id, ED_DB_JOB_DOCS, &data, &len, err);
    if (rc != 0 || !data) {
        free(data);
        return rc;
    }
    if (len % 8 != 0) {
        free(data);
        return ed_errf(err, ED_ECORRUPT, "job %.40s: its document ids are %zu bytes", id, len);
    }
    const uint8_t *p = data;
    int64_t *out = malloc(len ? len : 1);
    if (!out) {
        free(data);
        return ed__store_out_of_memory(err);
    }
    for (size_t i = 0; i < len / 8; i++) {
        uint64_t v = 0;
        for (int b = 0; b < 8; b++)
            v |= (uint64_t)p[i * 8 + (size_t)b] << (8 * b);
        out[i] = (int64_t)v;
    }
    free(data);
    *ids = out;
    *n = (int)(len / 8);
    *known = true;
    return 0;
}

int ed_store_job_delete(ed_store_t *store, const char *id, char err[ED_ERR_LEN])
{
    int rc = ed__store_check_writable(store, err);
    if (rc != 0)
        return rc;
    return write_result(store, ed_db_job_delete(store->db, id, err), err);
}

int ed_store_jobs_unfinished(ed_store_t *store, int *n, char err[ED_ERR_LEN])
{
    return ed_db_jobs_unfinished(store->db, n, err);
}
