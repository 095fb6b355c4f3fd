/* adapt_internal.h - internal to api/adapt*.c: the adapt endpoints' state
 * (api.h's struct ed_adapt) and what the files share: adapt.c (the glue to
 * the queue, scheduler, engine and registry; forgetting), adapt_jobs.c
 * (the job routes), adapt_request.c (reading and checking POST /v1/adapt)
 * and adapt_events.c (SSE subscribers of job events). Loop thread only. */
#ifndef ED_API_ADAPT_INTERNAL_H
#define ED_API_ADAPT_INTERNAL_H

#include "api/adapt.h"

#include "adapt/jobs.h"
#include "api/params.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct sub {
    ed_request_t *req;
    char id[ED_ADAPT_JOB_ID_LEN];
    uint64_t cursor;
    bool ended;       /* its job's end was sent */
    char *pending_end; /* the end, waiting for the client to drain the stream */
    struct sub *next;
} sub_t;

typedef struct ed_adapt {
    ed_app_t *app;
    ed_jobs_t *jobs;
    uv_timer_t timer;
    bool prompt_set;
    sub_t *subs;
    int in_flight; /* pool work using jobs: the queue is freed after the last */
    bool closed;
    bool forced;   /* the scheduler is forced for a run_now job */
} adapt_t;

/* A POST /v1/adapt body, read and checked (adapt_request.c). */
typedef struct {
    ed_adapt_job_t job; /* name, collections, options and max_steps filled; the owner is the caller's */
    char **collections; /* (n_collections) the names asked for, each malloc'd */
    int n_collections;
    char *examples; /* JSONL of {"messages": [...]} lines, or NULL; wiped when freed */
    size_t examples_len;
    bool run_now;
} ed_adapt_request_t;

/* ---- adapt.c ---- */

/* Pool work that uses a->jobs starts (hold) and ends on the loop thread
 * (unhold); a closed queue is freed after the last. */
void ed__adapt_hold(adapt_t *a);
void ed__adapt_unhold(adapt_t *a);

/* ---- adapt_jobs.c ---- */

/* The queue, or NULL after answering 503 (opening or not open). */
adapt_t *ed__adapt_require(ed_request_t *req);
/* Whether the caller is an admin (access.admin). */
bool ed__adapt_is_admin(const ed_request_t *req);
/* A job as the API shows it (GET of one job adds "losses"). */
json_t *ed__adapt_job_json(const ed_adapt_job_t *j);
/* The job {id} names, if the caller may see it; else answers 404. */
bool ed__adapt_require_job(ed_request_t *req, adapt_t *a, ed_adapt_job_t *out);

/* ---- adapt_request.c ---- */

/* Reads and checks a POST /v1/adapt body (len bytes) into *out, which the
 * caller zeroed; ED_EINVAL with err naming the field. *out is freed with
 * ed__adapt_request_free whatever this returns. */
int ed__adapt_request_read(const char *body, size_t len, const ed_config_t *cfg, ed_adapt_request_t *out,
                           ed_param_error_t *err);
/* Frees what ed__adapt_request_read filled (not *request itself). */
void ed__adapt_request_free(ed_adapt_request_t *request);

/* ---- adapt_events.c ---- */

/* Sends every subscriber the events of its job it has not seen; ends the
 * streams whose job ended. */
void ed__adapt_subs_publish(adapt_t *a);
/* Ends one event stream and frees its subscriber. */
void ed__adapt_sub_end(adapt_t *a, sub_t *sub);

#endif
