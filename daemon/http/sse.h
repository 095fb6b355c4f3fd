/* sse.h - Server-Sent Events on a request's connection (chunked transfer
 * encoding), with backpressure: the daemon never queues more than a bounded
 * amount for a slow reader. A producer sends while ed_sse_send returns 0;
 * on ED_EAGAIN it keeps the event and waits for its drain callback. Loop
 * thread only. */
#ifndef ED_HTTP_SSE_H
#define ED_HTTP_SSE_H

#include "http/request.h"

#include <jansson.h>

/* Starts the stream: status 200, text/event-stream. Returns 0, ED_ESTATE if
 * the request was answered already, or ED_ECLOSED. */
int ed_sse_start(ed_request_t *req);
/* Sends one event whose data is `data` (newlines become separate data:
 * lines). Returns 0 (queued), ED_EAGAIN (not queued: too much is waiting;
 * retry after the drain callback) or ED_ECLOSED (the client is gone). */
int ed_sse_send(ed_request_t *req, const char *data, size_t len);
/* The same with compact JSON; the reference to `json` is stolen. */
int ed_sse_send_json(ed_request_t *req, json_t *json);
/* Calls fn once when the queue has drained enough to send again. */
void ed_sse_on_drain(ed_request_t *req, void (*fn)(ed_request_t *, void *), void *arg);
/* Ends the stream (the last chunk); the request is finished after it. */
void ed_sse_end(ed_request_t *req);

#endif
