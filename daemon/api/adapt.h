/* adapt.h - the adapt endpoints (group adapt) over the job queue
 * (adapt/jobs.h), and the glue that feeds the queue: the scheduler's window
 * (pushed on change and every second), the served model's prompt format,
 * trained adapters into the registry, stale adapters after a deletion
 * (adapt.on_stale), and SSE subscribers of job events. Loop thread only. */
#ifndef ED_API_ADAPT_H
#define ED_API_ADAPT_H

#include "api/api.h"
#include "core/config.h"
#include "http/request.h"
#include "model/base.h"

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

/* Opens the job queue (after the store opened once) into app->adapt; its
 * store opens on the queue's thread meanwhile. Failure is logged; the
 * endpoints then answer 503 (also while it opens). */
void ed_api_adapt_open(ed_app_t *app, uv_loop_t *loop, const ed_config_t *cfg, ed_base_t *base);
/* Whether the job queue is still reading its store (/health says
 * "starting" meanwhile). */
bool ed_api_adapt_opening(const ed_app_t *app);
/* SIGTERM: ends event streams and stops the runner (a running job writes
 * its checkpoint on the runner's thread and resumes at the next start; the
 * loop does not wait for it, uv_run does). Once it returns nothing of the
 * queue calls the scheduler's gate. Idempotent. */
void ed_api_adapt_close(ed_app_t *app);
/* New [adapt] options. */
void ed_api_adapt_reconfigure(ed_app_t *app, const ed_config_t *cfg);
/* Document doc_id (of `collection`, NULL: unknown) was deleted or replaced:
 * checkpoints that learnt from it go, and adapt.on_stale is applied to the
 * adapters now stale. */
void ed_api_adapt_forget(ed_app_t *app, int64_t doc_id, const char *collection);

/* Handlers (routes.c). */
void ed_api_adapt_create(ed_request_t *req);
void ed_api_adapt_jobs_list(ed_request_t *req);
void ed_api_adapt_jobs_get(ed_request_t *req);
void ed_api_adapt_jobs_events(ed_request_t *req);
void ed_api_adapt_jobs_cancel(ed_request_t *req);

#endif
