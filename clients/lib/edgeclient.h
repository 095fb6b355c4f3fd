/* edgeclient.h - libedgeclient: a small blocking HTTP/1.1 client for edged's
 * Unix socket. One ed_client_t holds one keep-alive connection and sends one
 * request at a time; responses are parsed with llhttp (link libedgeclient.a
 * and libllhttp.a). Server-Sent Event streams are delivered event by event,
 * completion streams (chunks up to `data: [DONE]`) chunk by chunk. JSON is
 * left to the caller. This header stands alone (it is installed). */
#ifndef EDGECLIENT_H
#define EDGECLIENT_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Error codes: every function that can fail returns 0 or one of these. They
 * are edged's own ED_E* codes (daemon/core/error.h), same names after the
 * ED_CLIENT_ prefix and same values, repeated here so the header stands alone. */
enum {
    ED_CLIENT_OK = 0,
    ED_CLIENT_EINVAL = -1,     /* bad argument (e.g. CR/LF in a header) */
    ED_CLIENT_ENOMEM = -2,     /* out of memory */
    ED_CLIENT_EIO = -3,        /* socket error; `err` names it */
    ED_CLIENT_ENOENT = -4,     /* the socket path does not exist */
    ED_CLIENT_EACCES = -6,     /* no permission to connect to the socket */
    ED_CLIENT_EFORMAT = -10,   /* the server's response is not valid HTTP */
    ED_CLIENT_ETIMEDOUT = -12, /* no answer within the timeout */
    ED_CLIENT_ECANCELED = -13, /* an event callback asked to stop */
    ED_CLIENT_ETOOBIG = -17,   /* response larger than ED_CLIENT_MAX_BODY */
    ED_CLIENT_ECLOSED = -18,   /* the server closed the connection early */
    ED_CLIENT_EANSWER = -22,   /* the server answered with an HTTP error; `err` has its message */
};

#define ED_CLIENT_ERR_LEN 256                      /* size of a caller's `err` buffer */
#define ED_CLIENT_DEFAULT_SOCKET "/run/edged/edged.sock"
#define ED_CLIENT_DEFAULT_TIMEOUT_MS 30000
#define ED_CLIENT_MAX_BODY (64u << 20)             /* bytes of one buffered response body */

/* A static message for `err` (0 or an ED_CLIENT_E* code); never NULL. */
const char *ed_client_strerror(int err);

/* One header. Strings are NUL-terminated. */
typedef struct {
    const char *name;
    const char *value;
} ed_client_header_t;

/* A response. Filled by ed_client_request()/ed_client_stream(); the caller
 * releases it with ed_client_response_free() (also after a failure). */
typedef struct {
    int status;                  /* HTTP status code, 0 until the status line arrived */
    ed_client_header_t *headers; /* n_headers entries, names as the server sent them */
    size_t n_headers;
    char *body;      /* body bytes plus a NUL (not counted); NULL if there was none.
                        For a delivered event stream the body is not kept. */
    size_t body_len; /* bytes */
} ed_client_response_t;

typedef struct ed_client ed_client_t;

/* Resolves the socket path: `path` if non-NULL and non-empty, else
 * $EDGED_SOCKET if set and non-empty, else ED_CLIENT_DEFAULT_SOCKET. */
const char *ed_client_default_socket(const char *path);

/* Connects to the Unix socket `socket_path` (resolved by
 * ed_client_default_socket()). `timeout_ms` bounds connecting and every later
 * request (<= 0: ED_CLIENT_DEFAULT_TIMEOUT_MS). Returns 0, or ED_CLIENT_ENOENT,
 * ED_CLIENT_EACCES, ED_CLIENT_EIO (e.g. connection refused),
 * ED_CLIENT_ETIMEDOUT, with `err` saying which socket and why. */
int ed_client_open(ed_client_t **out, const char *socket_path, int timeout_ms,
                   char err[ED_CLIENT_ERR_LEN]);
/* Closes the connection; accepts NULL. */
void ed_client_close(ed_client_t *client);
/* The path the client connects to (owned by the client). */
const char *ed_client_socket(const ed_client_t *client);

/* Sends one request and reads the whole response into `resp` (which the
 * caller zero-initialises or has freed). `headers` (n_headers, may be NULL)
 * are sent after Host, and a Content-Length is added when `body` is non-NULL.
 * The connection is kept for the next request unless the server closes it;
 * a request on a kept connection that the server had closed in the meantime
 * is sent again once on a fresh connection (only when no response byte had
 * arrived). The timeout bounds the whole exchange. An HTTP error status is not
 * a failure: it returns 0 with resp->status set. Returns 0 or an ED_CLIENT_E*
 * code with `err` filled. */
int ed_client_request(ed_client_t *client, const char *method, const char *path,
                      const ed_client_header_t *headers, size_t n_headers,
                      const void *body, size_t body_len, ed_client_response_t *resp,
                      char err[ED_CLIENT_ERR_LEN]);

/* Called once per Server-Sent Event: `event` is the event's type ("message"
 * unless an `event:` field named another), `data` its data lines joined by
 * '\n' (NUL-terminated, `len` bytes). A `data: [DONE]` event is delivered too
 * and is the last. Return 0 to go on, non-zero to stop (the request then
 * returns ED_CLIENT_ECANCELED and the connection is closed). */
typedef int (*ed_client_event_fn)(void *user, const char *event, const char *data,
                                  size_t len);

/* Like ed_client_request(), for endpoints that answer with an event stream
 * (`Content-Type: text/event-stream`): sends `Accept: text/event-stream` and
 * calls `on_event` for each event as it arrives. The timeout bounds the wait
 * for each piece of the stream, not the whole stream. A response that is not
 * an event stream (e.g. an error JSON) is kept in resp->body instead. */
int ed_client_stream(ed_client_t *client, const char *method, const char *path,
                     const ed_client_header_t *headers, size_t n_headers,
                     const void *body, size_t body_len, ed_client_event_fn on_event,
                     void *user, ed_client_response_t *resp,
                     char err[ED_CLIENT_ERR_LEN]);

/* Called by ed_client_complete() with the data of each event of a completion
 * stream (one JSON chunk, NUL-terminated, `len` bytes), as it arrives. Return
 * 0 to go on, non-zero to stop (the call then returns ED_CLIENT_ECANCELED and
 * the connection is closed, which tells edged to cancel the generation). */
typedef int (*ed_client_data_fn)(void *user, const char *data, size_t len);

/* A streaming completion: POSTs the JSON `body` (body_len bytes, sent as
 * application/json; it should ask for "stream": true) to `path`, e.g.
 * "/v1/chat/completions" or "/v1/completions", and calls `on_data` for each
 * event until `data: [DONE]`, which ends the stream and is not delivered.
 * Returns 0 once [DONE] has arrived (the connection stays usable), or:
 *   ED_CLIENT_EANSWER  the server answered with an HTTP status >= 400: `err`
 *                      holds its message ({"error": {"message"}}, or the
 *                      status and the start of the body); resp->status and
 *                      resp->body (the error JSON) tell the rest,
 *   ED_CLIENT_EFORMAT  a 2xx answer that is not an event stream (kept in resp->body),
 *   ED_CLIENT_ECLOSED  the stream ended without [DONE],
 *   ED_CLIENT_ECANCELED, or what ed_client_stream() returns.
 * The timeout bounds the wait for each event, not the whole stream. */
int ed_client_complete(ed_client_t *client, const char *path, const char *body, size_t body_len,
                       ed_client_data_fn on_data, void *user, ed_client_response_t *resp,
                       char err[ED_CLIENT_ERR_LEN]);

/* The value of the first header named `name` (case-insensitive), or NULL. */
const char *ed_client_response_header(const ed_client_response_t *resp, const char *name);
/* Frees what `resp` holds and zeroes it; accepts a zeroed response. */
void ed_client_response_free(ed_client_response_t *resp);

#ifdef __cplusplus
}
#endif

#endif
