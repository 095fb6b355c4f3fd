/* jobs_history.c - a job's loss curve (jobs_internal.h): grown by the
 * runner's progress, stored as compact JSON next to the job's row, loaded
 * back for a job not run since the start, and read thinned by
 * ed_jobs_history. */

#include "adapt/jobs_internal.h"

#include "core/log.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>


/* The history as JSON (a compact array of [step, tokens, elapsed_s,
 * train_loss, heldout_loss|null]); mu held. */
static char *history_json(const rec_t *r)
{
    json_t *a = json_array();
    for (int i = 0; a && i < r->n_history; i++) {
        const ed_run_point_t *p = &r->history[i];
        json_array_append_new(a, json_pack("[I,I,f,o,o]", (json_int_t)p->step, (json_int_t)p->tokens, p->elapsed_s,
                                           ed__jobs_number_or_null(p->train_loss),
                                           ed__jobs_number_or_null(p->heldout_loss)));
    }
    char *text = a ? json_dumps(a, JSON_COMPACT | JSON_REAL_PRECISION(7)) : NULL;
    json_decref(a);
    return text;
}

void ed__jobs_history_save(ed_jobs_t *jobs, const char *id)
{
    pthread_mutex_lock(&jobs->mu);
    rec_t *r = ed__jobs_find(jobs, id);
    char *text = r ? history_json(r) : NULL;
    pthread_mutex_unlock(&jobs->mu);
    if (!text)
        return;
    char err[ED_ERR_LEN];
    pthread_mutex_lock(&jobs->store_mu);
    int rc = ed_store_job_set_history(jobs->store, id, text, strlen(text), err);
    pthread_mutex_unlock(&jobs->store_mu);
    if (rc != 0 && rc != ED_ENOENT)
        ed_log_warn("adapt: %s: %s", id, err);
    free(text);
}

int ed__jobs_history_push(rec_t *r, const ed_run_point_t *p)
{
    if (r->n_history > 0 && r->history[r->n_history - 1].step == p->step) {
        r->history[r->n_history - 1] = *p; /* an evaluation after its step's point */
        return 0;
    }
    if (r->n_history == r->cap_history) {
        int cap = r->cap_history ? r->cap_history * 2 : 64;
        ed_run_point_t *grown = realloc(r->history, (size_t)cap * sizeof *grown);
        if (!grown)
            return ED_ENOMEM;
        r->history = grown;
        r->cap_history = cap;
    }
    r->history[r->n_history++] = *p;
    return 0;
}

/* A stored history back into memory, unless memory has one by then: read
 * without mu (a reader of the queue never waits for the store), installed
 * under it. */
void ed__jobs_history_load(ed_jobs_t *jobs, const char *id)
{
    rec_t stored = {0}; /* only its history */
    void *data = NULL;
    size_t len = 0;
    char err[ED_ERR_LEN];
    pthread_mutex_lock(&jobs->store_mu);
    int rc = ed_store_job_history(jobs->store, id, &data, &len, err);
    pthread_mutex_unlock(&jobs->store_mu);
    json_t *a = rc == 0 && data ? json_loadb(data, len, 0, NULL) : NULL;
    free(data);
    size_t i;
    json_t *v;
    json_array_foreach(a, i, v)
    {
        ed_run_point_t p = {
            .step = json_integer_value(json_array_get(v, 0)),
            .tokens = json_integer_value(json_array_get(v, 1)),
            .elapsed_s = json_number_value(json_array_get(v, 2)),
            .train_loss = json_is_number(json_array_get(v, 3)) ? json_number_value(json_array_get(v, 3)) : NAN,
            .heldout_loss = json_is_number(json_array_get(v, 4)) ? json_number_value(json_array_get(v, 4)) : NAN,
        };
        if (ed__jobs_history_push(&stored, &p) != 0)
            break;
    }
    json_decref(a);
    pthread_mutex_lock(&jobs->mu);
    rec_t *r = ed__jobs_find(jobs, id);
    if (r && !r->history_loaded) {
        free(r->history);
        r->history = stored.history;
        r->n_history = stored.n_history;
        r->cap_history = stored.cap_history;
        r->history_loaded = true;
        stored.history = NULL;
    }
    pthread_mutex_unlock(&jobs->mu);
    free(stored.history);
}

/* Drops the points after step `steps` (a resumed run reports them again). */
void ed__jobs_history_truncate(ed_jobs_t *jobs, const char *id, int64_t steps)
{
    pthread_mutex_lock(&jobs->mu);
    rec_t *r = ed__jobs_find(jobs, id);
    while (r && r->n_history > 0 && r->history[r->n_history - 1].step > steps)
        r->n_history--;
    pthread_mutex_unlock(&jobs->mu);
}

void ed__jobs_history_replace(ed_jobs_t *jobs, const char *id, const ed_run_result_t *result)
{
    pthread_mutex_lock(&jobs->mu);
    rec_t *r = ed__jobs_find(jobs, id);
    if (r) {
        r->n_history = 0;
        for (int i = 0; i < result->n_history; i++)
            if (ed__jobs_history_push(r, &result->history[i]) != 0)
                break;
    }
    pthread_mutex_unlock(&jobs->mu);
}

int ed_jobs_history(ed_jobs_t *jobs, const char *id, int max, ed_run_point_t **out, int *n)
{
    *out = NULL;
    *n = 0;
    char err[ED_ERR_LEN];
    if (ed__jobs_ready(jobs, err) != 0)
        return ED_ENOENT; /* no job is known */
    pthread_mutex_lock(&jobs->mu);
    rec_t *r = ed__jobs_find(jobs, id);
    bool load = r && !r->history_loaded && strcmp(jobs->current, id) != 0;
    pthread_mutex_unlock(&jobs->mu);
    if (load)
        ed__jobs_history_load(jobs, id);
    pthread_mutex_lock(&jobs->mu);
    r = ed__jobs_find(jobs, id);
    int rc = r ? 0 : ED_ENOENT;
    if (r && r->n_history > 0 && max > 0) {
        int take = r->n_history < max ? r->n_history : max;
        *out = malloc((size_t)take * sizeof **out);
        if (!*out) {
            rc = ED_ENOMEM;
        } else {
            /* evenly thinned; the newest point is always the last */
            for (int i = 0; i < take; i++) {
                int src = take == 1 ? r->n_history - 1
                                    : (int)((int64_t)i * (r->n_history - 1) / (take - 1));
                (*out)[i] = r->history[src];
            }
            *n = take;
        }
    }
    pthread_mutex_unlock(&jobs->mu);
    return rc;
}
