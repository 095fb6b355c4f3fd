/* response.c - answering a request: complete responses, JSON, the error
 * body every failure uses, extra headers, status texts (request.h). */
#include "http/conn.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/utf8.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

const char *ed_request_header(const ed_request_t *req, const char *name)
{
    for (uint32_t i = 0; i < req->n_headers; i++)
        if (strcasecmp(req->headers[i].name, name) == 0)
            return req->headers[i].value;
    return NULL;
}

void ed_http_add_header(ed_request_t *req, const char *name, const char *value)
{
    if (req->n_extra_headers == ED_HTTP_MAX_EXTRA_HEADERS) {
        ed_log_error("internal: too many response headers; %s dropped", name);
        return;
    }
    snprintf(req->extra_headers[req->n_extra_headers][0], sizeof req->extra_headers[0][0], "%s", name);
    snprintf(req->extra_headers[req->n_extra_headers][1], sizeof req->extra_headers[0][1], "%s", value);
    req->n_extra_headers++;
}

void ed_request_on_abort(ed_request_t *req, void (*fn)(ed_request_t *, void *), void *arg)
{
    req->on_abort = fn;
    req->on_abort_arg = arg;
}

void ed_http_respond(ed_request_t *req, int status, const char *content_type, const char *body,
                     size_t len)
{
    if (req->responded) {
        ed_log_error("internal: %s answered twice", req->path ? req->path : "request");
        return;
    }
    req->responded = true;
    req->status = status;
    req->bytes_out = len;
    ed_buf_t out;
    ed_buf_init(&out);
    ed__conn_format_head(req->conn, req, status, content_type, (long long)len, &out);
    if (req->method != ED_HTTP_HEAD)
        ed_buf_append(&out, body, len);
    if (ed_buf_failed(&out)) {
        ed_buf_free(&out);
        ed_log_error("out of memory writing a %zu-byte response", len);
        req->conn->close_after_response = true;
        ed__conn_write(req->conn, NULL, 0, true);
        return;
    }
    size_t n;
    char *data = ed_buf_steal(&out, &n);
    ed__conn_write(req->conn, data, n, true);
}

void ed_http_respond_json(ed_request_t *req, int status, json_t *json)
{
    static const char no_memory[] =
        "{\"error\":{\"message\":\"out of memory\",\"type\":\"server_error\",\"code\":\"internal_error\"}}";
    char *text = json ? json_dumps(json, JSON_COMPACT) : NULL;
    json_decref(json);
    if (!text) {
        ed_http_respond(req, 500, "application/json", no_memory, sizeof no_memory - 1);
        return;
    }
    ed_http_respond(req, status, "application/json", text, strlen(text));
    free(text);
}

/* Replaces each byte that does not start a valid UTF-8 sequence with '?':
 * messages quote client input (paths, header values) and JSON needs UTF-8. */
static void make_utf8(char *s)
{
    unsigned char *p = (unsigned char *)s;
    size_t n = strlen(s);
    while (n > 0) {
        int len = ed_utf8_next(p, n);
        if (len <= 0) { /* malformed, or cut short by the string's end */
            *p++ = '?';
            n--;
            continue;
        }
        p += len;
        n -= (size_t)len;
    }
}

void ed_http_error(ed_request_t *req, int status, const char *code, const char *fmt, ...)
{
    char message[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    make_utf8(message); /* vsnprintf may also have cut a sequence in half */
    json_t *body = json_pack("{s:{s:s,s:s,s:s}}", "error", "message", message, "type",
                             ed_http_error_type(status), "code", code);
    ed_http_respond_json(req, status, body);
}

const char *ed_http_error_type(int status)
{
    switch (status) {
    case 401: return "authentication_error";
    case 403: return "permission_error";
    case 404: return "not_found_error";
    case 429: return "rate_limit_error";
    case 503: return "unavailable_error";
    default: return status >= 500 ? "server_error" : "invalid_request_error";
    }
}

const char *ed_http_status_text(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 417: return "Expectation Failed";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    case 507: return "Insufficient Storage";
    default: return "Unknown";
    }
}
