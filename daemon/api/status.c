/* status.c - see status.h. One row per code of core/error.h's ED_ERRNO_MAP:
 * a code added there without a row here does not compile. */
#include "api/status.h"
#include "api/params.h"
#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* One row: {status, {Retry-After s: model, store}, {code: model, store}}. DESIGN section 5: 400 for what the request
 * got wrong, 503 with Retry-After while a queue is full or something opens
 * or loads, 507 when memory or disk would not suffice (a read-only store is
 * one), 500 for the rest. */
#define ROW_EINVAL       {400, {0, 0}, {"invalid_value", "invalid_value"}}
#define ROW_ENOMEM       {500, {0, 0}, {"internal_error", "internal_error"}}
#define ROW_EIO          {500, {0, 0}, {"internal_error", "internal_error"}}
#define ROW_ENOENT       {404, {0, 0}, {"not_found", "not_found"}}
#define ROW_EEXIST       {500, {0, 0}, {"internal_error", "internal_error"}}
#define ROW_EACCES       {403, {0, 0}, {"forbidden", "forbidden"}}
#define ROW_EAGAIN       {503, {5, 1}, {"not_ready", "store_opening"}} /* the model loads / the store opens */
#define ROW_ERANGE       {400, {0, 0}, {"context_length_exceeded", "invalid_value"}}
#define ROW_EOVERFLOW    {500, {0, 0}, {"internal_error", "internal_error"}}
#define ROW_EFORMAT      {400, {0, 0}, {"invalid_value", "invalid_value"}}
#define ROW_EUNSUPPORTED {500, {0, 0}, {"internal_error", "internal_error"}}
#define ROW_ETIMEDOUT    {500, {0, 0}, {"internal_error", "internal_error"}}
#define ROW_ECANCELED    {503, {5, 0}, {"not_ready", "store_unavailable"}} /* the daemon stops */
#define ROW_EBUSY        {503, {1, 1}, {"queue_full", "queue_full"}}
#define ROW_ENOSPC       {500, {0, 0}, {"internal_error", "internal_error"}}
#define ROW_ECONFIG      {500, {0, 0}, {"internal_error", "internal_error"}}
#define ROW_ETOOBIG      {413, {0, 0}, {"body_too_large", "too_many_documents"}}
#define ROW_ECLOSED      {500, {0, 0}, {"internal_error", "internal_error"}}
#define ROW_ESTATE       {503, {5, 0}, {"not_ready", "store_unavailable"}} /* the store failed: no use retrying */
#define ROW_ECORRUPT     {500, {0, 0}, {"corrupt", "corrupt"}}
#define ROW_EREADONLY    {507, {0, 0}, {"store_read_only", "store_read_only"}}
#define ROW_EANSWER      {500, {0, 0}, {"internal_error", "internal_error"}}

typedef struct {
    int status;
    int retry_after_s[2]; /* by ed_api_source_t */
    const char *code[2];
} row_t;

#define ED__STATUS_ROW(name, value, msg) [-(value)] = ROW_##name,
static const row_t rows[] = {
    [0] = {500, {0, 0}, {"internal_error", "internal_error"}}, /* not an error: a caller's bug */
    ED_ERRNO_MAP(ED__STATUS_ROW)
};
#undef ED__STATUS_ROW

ed_api_status_t ed_api_status(int err, ed_api_source_t source)
{
    const row_t *row = err <= 0 && -err < (int)(sizeof rows / sizeof rows[0]) && rows[-err].status ? &rows[-err]
                                                                                                    : &rows[0];
    int s = source == ED_API_STORE ? 1 : 0;
    return (ed_api_status_t){row->status, row->retry_after_s[s], row->code[s]};
}

void ed_api_fail(ed_request_t *req, int err, ed_api_source_t source, const char *param, const char *fmt, ...)
{
    ed_api_status_t st = ed_api_status(err, source);
    char message[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    if (st.retry_after_s > 0) {
        char seconds[16];
        snprintf(seconds, sizeof seconds, "%d", st.retry_after_s);
        ed_http_add_header(req, "Retry-After", seconds);
    }
    const char *shown_param = st.status == 400 && param && *param ? param : NULL;
    json_t *body = json_pack("{s:{s:o,s:s,s:s*,s:s}}", "error", "message", ed_params_text(message, strlen(message)),
                             "type", ed_http_error_type(st.status), "param", shown_param, "code", st.code);
    ed_http_respond_json(req, st.status, body);
}
