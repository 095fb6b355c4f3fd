/* jobs_forget.c - what a deleted document does to the queue (jobs.h):
 * checkpoints of unfinished (or failed) jobs that learnt from it go (known
 * by the documents stored with each job's row), stored adapters marked
 * stale are listed, and a stale adapter's job is queued again (retraining).
 * Serving and unserving adapters is the API's. */

#include "adapt/jobs_internal.h"

#include "core/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Whether job r may have learnt from document doc_id of `collection` (mu
 * held): by its last dataset's documents (this run's, or stored with its
 * row); with none known (a job of an older edged), by its collections. */
static bool trained_on(const rec_t *r, int64_t doc_id, const char *collection)
{
    if (r->doc_ids) {
        for (int i = 0; i < r->n_doc_ids; i++)
            if (r->doc_ids[i] == doc_id)
                return true;
    } else if (!collection) {
        return true; /* not run since the start: its collections are all we know */
    }
    if (!collection)
        return false;
    json_t *names = json_loads(r->job.collections, 0, NULL);
    bool hit = false;
    size_t k;
    json_t *v;
    json_array_foreach(names, k, v) hit = hit || (json_is_string(v) && strcmp(json_string_value(v), collection) == 0);
    json_decref(names);
    return hit;
}

/* Whether job r may hold a checkpoint to forget (mu held). */
static bool may_hold_checkpoint(const rec_t *r)
{
    return !ed_adapt_job_final(r->job.state) || strcmp(r->job.state, "failed") == 0;
}

/* Reads back, from the store, the documents of the jobs not run since the
 * start (but the current one, whose list the runner is making). Neither
 * lock is held while the store is read. */
static void load_documents(ed_jobs_t *jobs)
{
    pthread_mutex_lock(&jobs->mu);
    int n = 0;
    char (*ids)[ED_ADAPT_JOB_ID_LEN] = calloc((size_t)jobs->n + 1, sizeof *ids);
    for (int i = 0; ids && i < jobs->n; i++) {
        const rec_t *r = &jobs->recs[i];
        if (!r->docs_loaded && !r->doc_ids && may_hold_checkpoint(r) && strcmp(jobs->current, r->job.id) != 0)
            snprintf(ids[n++], ED_ADAPT_JOB_ID_LEN, "%s", r->job.id);
    }
    pthread_mutex_unlock(&jobs->mu);
    for (int i = 0; i < n; i++) {
        int64_t *docs = NULL;
        int n_docs = 0;
        bool known = false;
        char err[ED_ERR_LEN];
        pthread_mutex_lock(&jobs->store_mu);
        int rc = ed_store_job_docs(jobs->store, ids[i], &docs, &n_docs, &known, err);
        pthread_mutex_unlock(&jobs->store_mu);
        if (rc != 0 && rc != ED_ENOENT)
            ed_log_warn("adapt: %s: its documents: %s (its collections stand for them)", ids[i], err);
        pthread_mutex_lock(&jobs->mu);
        rec_t *r = ed__jobs_find(jobs, ids[i]);
        if (r && !r->doc_ids && !r->docs_loaded && rc == 0) {
            if (known) {
                r->doc_ids = docs;
                r->n_doc_ids = n_docs;
                docs = NULL;
            }
            r->docs_loaded = true; /* none stored: its collections stand for them */
        }
        pthread_mutex_unlock(&jobs->mu);
        free(docs);
    }
    free(ids);
}

void ed_jobs_forget(ed_jobs_t *jobs, int64_t doc_id, const char *collection)
{
    char err[ED_ERR_LEN];
    if (ed__jobs_ready(jobs, err) != 0)
        return; /* no store, so no checkpoint of the queue's */
    load_documents(jobs);
    pthread_mutex_lock(&jobs->mu);
    int n = 0;
    char (*ids)[ED_ADAPT_JOB_ID_LEN] = calloc((size_t)jobs->n + 1, sizeof *ids);
    for (int i = 0; ids && i < jobs->n; i++) {
        rec_t *r = &jobs->recs[i];
        bool failed = strcmp(r->job.state, "failed") == 0; /* it may have kept its checkpoint */
        if (!may_hold_checkpoint(r) || !trained_on(r, doc_id, collection))
            continue;
        snprintf(ids[n++], ED_ADAPT_JOB_ID_LEN, "%s", r->job.id);
        if (failed) {
            ed__jobs_unkeep(r); /* its checkpoint goes below */
        } else if (strcmp(jobs->current, r->job.id) == 0) {
            ed__jobs_stop_raise(jobs, STOP_FORGET);
        } else if (r->job.step > 0) {
            ed__jobs_restart(jobs, r);
        }
    }
    pthread_mutex_unlock(&jobs->mu);
    for (int i = 0; i < n; i++) {
        ed__jobs_checkpoint_delete(jobs, ids[i]);
        ed__jobs_persist(jobs, ids[i]);
        ed__jobs_history_save(jobs, ids[i]);
    }
    free(ids);
}

int ed_jobs_stale_adapters(ed_jobs_t *jobs, char (**ids)[32], int *n, char err[ED_ERR_LEN])
{
    *ids = NULL;
    *n = 0;
    ed_adapter_row_t *rows = NULL;
    int n_rows = 0;
    int rc = ed__jobs_ready(jobs, err);
    if (rc != 0)
        return rc;
    pthread_mutex_lock(&jobs->store_mu);
    rc = ed_store_adapters_list(jobs->store, &rows, &n_rows, err);
    if (rc == 0 && n_rows > 0 && !(*ids = calloc((size_t)n_rows, sizeof **ids)))
        rc = ed_errf(err, ED_ENOMEM, "out of memory");
    for (int i = 0; rc == 0 && i < n_rows; i++) {
        bool stale = false;
        if ((rc = ed_store_adapter_stale(jobs->store, rows[i].id, &stale, err)) == 0 && stale)
            snprintf((*ids)[(*n)++], 32, "%s", rows[i].id);
    }
    pthread_mutex_unlock(&jobs->store_mu);
    free(rows);
    if (rc != 0) {
        free(*ids);
        *ids = NULL;
        *n = 0;
    }
    return rc;
}

int ed_jobs_retrain(ed_jobs_t *jobs, const char *adapter_id, ed_adapt_job_t *out, char err[ED_ERR_LEN])
{
    int ready = ed__jobs_ready(jobs, err);
    if (ready != 0)
        return ready;
    pthread_mutex_lock(&jobs->mu);
    rec_t *r = NULL;
    for (int i = jobs->n - 1; i >= 0 && !r; i--)
        if (strcmp(jobs->recs[i].job.adapter_id, adapter_id) == 0)
            r = &jobs->recs[i];
    ed_adapt_job_t job = {0};
    bool already = false;
    char made_by[ED_ADAPT_JOB_ID_LEN] = ""; /* r is not kept past mu: a job added meanwhile moves the records */
    if (r) {
        snprintf(made_by, sizeof made_by, "%s", r->job.id);
        job.owner_uid = r->job.owner_uid;
        snprintf(job.name, sizeof job.name, "%s", r->job.name);
        snprintf(job.collections, sizeof job.collections, "%s", r->job.collections);
        job.max_steps = r->job.max_steps;
        json_t *o = json_loads(r->job.options, 0, NULL);
        json_object_set_new(o, "retrains", json_string(adapter_id));
        char *text = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        snprintf(job.options, sizeof job.options, "%s", text ? text : r->job.options);
        free(text);
        json_decref(o);
        /* one retraining per stale adapter */
        for (int i = 0; i < jobs->n && !already; i++) {
            json_t *other = json_loads(jobs->recs[i].job.options, 0, NULL);
            const char *of = json_string_value(json_object_get(other, "retrains"));
            already = of && strcmp(of, adapter_id) == 0 && strcmp(jobs->recs[i].job.state, "failed") != 0 &&
                      strcmp(jobs->recs[i].job.state, "cancelled") != 0;
            if (already)
                job = jobs->recs[i].job;
            json_decref(other);
        }
    }
    pthread_mutex_unlock(&jobs->mu);
    if (!made_by[0])
        return ed_errf(err, ED_ENOENT, "no job made adapter %.40s", adapter_id);
    if (already) {
        *out = job;
        return ED_EEXIST;
    }
    void *examples = NULL;
    size_t len = 0;
    pthread_mutex_lock(&jobs->store_mu);
    int rc = ed_store_job_examples(jobs->store, made_by, &examples, &len, err);
    pthread_mutex_unlock(&jobs->store_mu);
    if (rc == 0)
        rc = ed_jobs_create(jobs, &job, examples, len, err);
    if (examples)
        explicit_bzero(examples, len);
    free(examples);
    if (rc == 0)
        *out = job;
    return rc;
}
