/* work.h - a request's slow step on libuv's thread pool, so the loop thread
 * goes on serving every other connection meanwhile. Tokenizing runs at
 * about 3 MiB/s on one core and a body may hold max_body_bytes (8 MiB by
 * default): on the loop thread one such request would stall every client,
 * /health included, for seconds. */
#ifndef ED_API_WORK_H
#define ED_API_WORK_H

#include "http/request.h"

#include <stdbool.h>

/* Runs run(arg) on a pool thread, then done(req, arg, gone) on the loop
 * thread; gone: the client left meanwhile. run must not touch the request,
 * the loop or anything else the loop thread owns. done answers the request
 * (for a client that left, with ed_api_end_gone). When the work cannot be
 * queued, both run at once, here. */
void ed_api_offload(ed_request_t *req, void (*run)(void *arg), void (*done)(ed_request_t *req, void *arg, bool gone),
                    void *arg);

/* Ends a request whose client has left ("cancelled"; nothing reaches the
 * wire, but the request must still be answered to be released). */
void ed_api_end_gone(ed_request_t *req);

#endif
