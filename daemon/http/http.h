/* http.h - the HTTP/1.1 request parser: llhttp in strict mode (the only
 * file that includes llhttp.h), plus the limits and the smuggling checks
 * llhttp leaves to its user (obs-fold, whitespace before the colon). When a
 * request's head is complete it calls the connection's on_head (route,
 * authorise, Expect: 100-continue, size checks) before reading any body;
 * it stops when the message is complete. It owns the request's header and
 * body buffers until ed_http_parser_next(). */
#ifndef ED_HTTP_HTTP_H
#define ED_HTTP_HTTP_H

#include "http/request.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t max_header_bytes;
    uint32_t max_headers;
    uint32_t max_url_bytes;
    uint64_t max_body_bytes;
    uint64_t max_large_body_bytes;   /* routes whose bodies are files (adapter imports) */
    const char *large_body_option;   /* the option that sets it ("adapt.max_adapter_bytes"), for a 413 */
} ed_http_limits_t;

typedef enum {
    ED_HTTP_NEED_MORE, /* all input consumed, no event */
    ED_HTTP_MESSAGE,   /* request complete, body included */
    ED_HTTP_FAILED,    /* a protocol or limit error: answer it (ed_http_parser_error) and close */
    ED_HTTP_REFUSED,   /* on_head refused the request and answered it itself: close */
} ed_http_event_t;

typedef struct ed_http_parser ed_http_parser_t;

/* Called when a request's head is complete, before its body is read: req's
 * method, target, path, query and headers are valid. Return 0 to go on and
 * read the body, non-zero to refuse (the callee has answered the request). */
typedef int (*ed_http_on_head_fn)(void *arg, ed_request_t *req);

/* Allocates a parser for one connection. NULL when out of memory. */
ed_http_parser_t *ed_http_parser_new(const ed_http_limits_t *limits, ed_http_on_head_fn on_head,
                                     void *arg);
void ed_http_parser_free(ed_http_parser_t *parser);
/* Limits may change between requests (config reload). */
void ed_http_parser_set_limits(ed_http_parser_t *parser, const ed_http_limits_t *limits);

/* Parses from `data`; stops at the first event. *consumed says how many
 * bytes were used; the caller keeps the rest and feeds it again after
 * handling the event (pipelining). Fills `req` as it goes. */
ed_http_event_t ed_http_parser_feed(ed_http_parser_t *parser, ed_request_t *req, const char *data,
                                    size_t len, size_t *consumed);

/* After ED_HTTP_FAILED: the status to answer (400, 411, 413, 414, 431, 505), the
 * error code for the JSON body and a message a person can act on. */
int ed_http_parser_error(const ed_http_parser_t *parser, const char **code, const char **message);

/* True while a request has started (some bytes of it arrived) and not finished. */
bool ed_http_parser_in_request(const ed_http_parser_t *parser);
/* The body's announced length: Content-Length, or -1 when chunked. Valid in on_head. */
int64_t ed_http_parser_content_length(const ed_http_parser_t *parser);

/* From on_head: this request's body may reach limits.max_large_body_bytes
 * instead of max_body_bytes. The limit in force for the current request: */
void ed_http_parser_allow_large_body(ed_http_parser_t *parser);
uint64_t ed_http_parser_body_limit(const ed_http_parser_t *parser);

/* Resets for the next request on the same connection (after the response). */
void ed_http_parser_next(ed_http_parser_t *parser);

#endif
