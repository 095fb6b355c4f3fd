/* status.h - the one ED_E* -> HTTP status table of the API: every handler
 * answers an error code through it, so one code gives one status (and one
 * Retry-After policy) from every endpoint. The error's `code` word names its
 * source: the model's "not_ready" is the store's "store_opening". Loop
 * thread only (ed_api_fail); ed_api_status is a pure lookup. */
#ifndef ED_API_STATUS_H
#define ED_API_STATUS_H

#include "http/request.h"

/* Whose error it is: the code word in the answer depends on it, the status
 * and whether Retry-After is sent do not. */
typedef enum {
    ED_API_MODEL = 0, /* the engine, the model, the tokenizer, the request itself */
    ED_API_STORE = 1, /* the personal store (rag/rag.h) */
} ed_api_source_t;

typedef struct {
    int status;        /* HTTP status */
    int retry_after_s; /* > 0: answered with Retry-After (seconds) */
    const char *code;  /* error.code of the body */
} ed_api_status_t;

/* The row of err (a negative ED_E* code; 0 and unknown codes read as a 500
 * internal_error) for source. */
ed_api_status_t ed_api_status(int err, ed_api_source_t source);

/* Answers err with its row: status, Retry-After when the row has one, and
 * {"error": {message (from fmt, made valid UTF-8), type, param, code}};
 * param (may be NULL or "") is sent only with a 400. */
void ed_api_fail(ed_request_t *req, int err, ed_api_source_t source, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

#endif
