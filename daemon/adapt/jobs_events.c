/* jobs_events.c - job states and the event ring (jobs_internal.h): a state
 * change or progress becomes a JSON event in a ring of EVENT_RING, which
 * SSE subscribers read on the loop thread (ed_jobs_events) after the
 * uv_async wake-up that also announces stored adapters. */

#include "adapt/jobs_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Appends an event (mu held); wakes the loop thread. */
/* The event's text: body with "job" added (body consumed; NULL: none). */
static char *event_text(const char *id, json_t *body)
{
    if (!body)
        return NULL;
    json_object_set_new(body, "job", json_string(id));
    char *text = json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(6));
    json_decref(body);
    return text;
}

void ed__jobs_emit(ed_jobs_t *jobs, const char *id, json_t *body)
{
    char *text = event_text(id, body);
    if (!text)
        return;
    uint64_t seq = ++jobs->next_seq;
    event_t *e = &jobs->events[seq % EVENT_RING];
    free(e->json);
    e->seq = seq;
    snprintf(e->job, sizeof e->job, "%s", id);
    e->json = text;
    uv_async_send(&jobs->async);
}

json_t *ed__jobs_number_or_null(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

/* A final job's "end" event, without "job". */
static json_t *end_body(const ed_adapt_job_t *job)
{
    return json_pack("{s:s,s:s,s:s,s:s*,s:I,s:o}", "type", "end", "state", job->state, "reason", job->reason,
                     "adapter_id", job->adapter_id[0] ? job->adapter_id : NULL, "step", (json_int_t)job->step,
                     "best_heldout_loss", ed__jobs_number_or_null(job->best_heldout_loss));
}

char *ed_jobs_end_event(const ed_adapt_job_t *job)
{
    return event_text(job->id, end_body(job));
}

/* Sets a job's state and reason (mu held) and says so. */
void ed__jobs_set_state(ed_jobs_t *jobs, rec_t *r, const char *state, const char *reason)
{
    snprintf(r->job.state, sizeof r->job.state, "%s", state);
    snprintf(r->job.reason, sizeof r->job.reason, "%s", reason ? reason : "");
    ed__jobs_emit(jobs, r->job.id,
                  json_pack("{s:s,s:s,s:s}", "type", "state", "state", state, "reason", r->job.reason));
    if (ed_adapt_job_final(state))
        ed__jobs_emit(jobs, r->job.id, end_body(&r->job));
}

bool ed_jobs_events(ed_jobs_t *jobs, const char *id, uint64_t *cursor, void (*fn)(const char *json, void *arg),
                    void *arg)
{
    /* copied under mu, sent after it: a slow or failing socket write never
     * holds the queue's lock (the runner's progress takes it every step) */
    char *stack[16];
    char **texts = stack;
    int n = 0, cap = (int)(sizeof stack / sizeof stack[0]);
    pthread_mutex_lock(&jobs->mu);
    uint64_t oldest = jobs->next_seq >= EVENT_RING ? jobs->next_seq - EVENT_RING + 1 : 1;
    bool complete = *cursor + 1 >= oldest;
    uint64_t s = *cursor + 1 > oldest ? *cursor + 1 : oldest;
    for (; s <= jobs->next_seq; s++) {
        const event_t *e = &jobs->events[s % EVENT_RING];
        if (e->seq != s || !e->json || strcmp(e->job, id) != 0)
            continue;
        if (n == cap) {
            int grown_cap = cap * 2;
            char **grown = malloc((size_t)grown_cap * sizeof *grown);
            if (!grown)
                break; /* out of memory: the rest is read at the next call */
            memcpy(grown, texts, (size_t)n * sizeof *grown);
            if (texts != stack)
                free(texts);
            texts = grown;
            cap = grown_cap;
        }
        if (!(texts[n] = strdup(e->json)))
            break;
        n++;
    }
    *cursor = s - 1; /* past what was copied */
    pthread_mutex_unlock(&jobs->mu);
    for (int i = 0; i < n; i++) {
        fn(texts[i], arg);
        free(texts[i]);
    }
    if (texts != stack)
        free(texts);
    return complete;
}

uint64_t ed_jobs_events_head(ed_jobs_t *jobs)
{
    pthread_mutex_lock(&jobs->mu);
    uint64_t head = jobs->next_seq;
    pthread_mutex_unlock(&jobs->mu);
    return head;
}

/* Loop thread: adapters to announce, events to read. */
void ed__jobs_on_async(uv_async_t *async)
{
    ed_jobs_t *jobs = async->data;
    pthread_mutex_lock(&jobs->mu);
    char (*added)[32] = jobs->added;
    int n_added = jobs->n_added;
    jobs->added = NULL;
    jobs->n_added = 0;
    pthread_mutex_unlock(&jobs->mu);
    for (int i = 0; i < n_added; i++)
        if (jobs->hooks.adapter_added)
            jobs->hooks.adapter_added(added[i], jobs->hooks.arg);
    free(added);
    if (jobs->hooks.events)
        jobs->hooks.events(jobs->hooks.arg);
}
