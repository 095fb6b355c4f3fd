/* adapt_events.c - GET /v1/adapt/jobs/{id}/events (api/adapt.h): a
 * snapshot of the job, then its events as the queue appends them, as SSE.
 * Progress is lossy under backpressure; the end is not: it waits for the
 * client to drain the stream, which then ends. */
#include "api/adapt_internal.h"

#include "api/status.h"
#include "http/sse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void sub_unlink(adapt_t *a, sub_t *sub)
{
    for (sub_t **p = &a->subs; *p; p = &(*p)->next)
        if (*p == sub) {
            *p = sub->next;
            return;
        }
}

/* Ends the stream and frees the subscriber (unlinked already). */
static void sub_free(sub_t *sub)
{
    ed_sse_end(sub->req);
    free(sub->pending_end);
    free(sub);
}

void ed__adapt_sub_end(adapt_t *a, sub_t *sub)
{
    sub_unlink(a, sub);
    ed_request_on_abort(sub->req, NULL, NULL);
    sub_free(sub);
}

static void on_sub_drain(ed_request_t *req, void *arg)
{
    ed_app_t *app = req->app;
    sub_t *sub = arg;
    int rc = ed_sse_send(req, sub->pending_end, strlen(sub->pending_end));
    if (rc == ED_EAGAIN) {
        ed_sse_on_drain(req, on_sub_drain, sub);
        return;
    }
    sub->ended = true;
    if (app->adapt)
        ed__adapt_sub_end(app->adapt, sub);
}

static void sub_send(const char *json, void *arg)
{
    sub_t *sub = arg;
    if (sub->ended)
        return;
    if (sub->pending_end)
        return;
    /* progress is lossy under backpressure (the next one says more); the end is not: it waits for a drain */
    int rc = ed_sse_send(sub->req, json, strlen(json));
    if (strstr(json, "\"type\":\"end\"")) {
        if (rc == ED_EAGAIN && (sub->pending_end = strdup(json)))
            ed_sse_on_drain(sub->req, on_sub_drain, sub);
        else
            sub->ended = true;
    }
}

void ed__adapt_subs_publish(adapt_t *a)
{
    for (sub_t *sub = a->subs, *next; sub; sub = next) {
        next = sub->next;
        ed_jobs_events(a->jobs, sub->id, &sub->cursor, sub_send, sub);
        if (sub->ended)
            ed__adapt_sub_end(a, sub);
    }
}

static void on_sub_abort(ed_request_t *req, void *arg)
{
    ed_app_t *app = req->app;
    sub_t *sub = arg;
    if (app->adapt)
        sub_unlink(app->adapt, sub);
    sub_free(sub);
}

void ed_api_adapt_jobs_events(ed_request_t *req)
{
    adapt_t *a = ed__adapt_require(req);
    ed_adapt_job_t job;
    if (!a || !ed__adapt_require_job(req, a, &job))
        return;
    sub_t *sub = calloc(1, sizeof *sub);
    if (!sub) {
        ed_api_fail(req, ED_ENOMEM, ED_API_STORE, NULL, "out of memory");
        return;
    }
    sub->req = req;
    snprintf(sub->id, sizeof sub->id, "%s", job.id);
    sub->cursor = ed_jobs_events_head(a->jobs);
    ed_jobs_get(a->jobs, job.id, &job); /* after the cursor: nothing between them is lost */
    if (ed_sse_start(req) != 0) {
        free(sub);
        return;
    }
    json_t *first = ed__adapt_job_json(&job);
    json_object_set_new(first, "type", json_string("snapshot"));
    ed_sse_send_json(req, first);
    if (ed_adapt_job_final(job.state)) {
        char *end = ed_jobs_end_event(&job);
        if (end)
            ed_sse_send(req, end, strlen(end));
        free(end);
        ed_sse_end(req);
        free(sub);
        return;
    }
    sub->next = a->subs;
    a->subs = sub;
    ed_request_on_abort(req, on_sub_abort, sub);
}
