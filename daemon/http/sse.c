/* sse.c - see sse.h. Each event is one HTTP chunk: "<hex size>\r\n" then
 * "data: ...\n" per line and a blank line, then "\r\n". */
#include "http/sse.h"
#include "core/buf.h"
#include "http/conn.h"

#include <stdlib.h>
#include <string.h>

int ed_sse_start(ed_request_t *req)
{
    if (req->responded)
        return ED_ESTATE;
    if (req->conn->closing)
        return ED_ECLOSED;
    req->responded = true;
    req->streaming = true;
    req->status = 200;
    ed_http_add_header(req, "Cache-Control", "no-cache");
    ed_buf_t out;
    ed_buf_init(&out);
    ed__conn_format_head(req->conn, req, 200, "text/event-stream; charset=utf-8", -1, &out);
    if (ed_buf_failed(&out)) {
        ed_buf_free(&out);
        return ED_ENOMEM;
    }
    size_t n;
    char *data = ed_buf_steal(&out, &n);
    return ed__conn_write(req->conn, data, n, false);
}

int ed_sse_send(ed_request_t *req, const char *data, size_t len)
{
    if (!req->streaming)
        return ED_ESTATE;
    if (req->conn->closing)
        return ED_ECLOSED;
    if (!ed__conn_writable(req->conn))
        return ED_EAGAIN;
    ed_buf_t event;
    ed_buf_init(&event);
    const char *line = data, *end = data + len;
    do {
        const char *nl = memchr(line, '\n', (size_t)(end - line));
        const char *stop = nl ? nl : end;
        ed_buf_puts(&event, "data: ");
        ed_buf_append(&event, line, (size_t)(stop - line));
        ed_buf_puts(&event, "\n");
        line = nl ? nl + 1 : end;
    } while (line < end);
    ed_buf_puts(&event, "\n");
    ed_buf_t chunk;
    ed_buf_init(&chunk);
    ed_buf_printf(&chunk, "%zx\r\n", event.len);
    ed_buf_append(&chunk, event.data, event.len);
    ed_buf_puts(&chunk, "\r\n");
    bool failed = ed_buf_failed(&event) || ed_buf_failed(&chunk);
    ed_buf_free(&event);
    if (failed) {
        ed_buf_free(&chunk);
        return ED_ENOMEM;
    }
    req->bytes_out += len;
    size_t n;
    char *bytes = ed_buf_steal(&chunk, &n);
    return ed__conn_write(req->conn, bytes, n, false);
}

int ed_sse_send_json(ed_request_t *req, json_t *json)
{
    char *text = json ? json_dumps(json, JSON_COMPACT) : NULL;
    json_decref(json);
    if (!text)
        return ED_ENOMEM;
    int rc = ed_sse_send(req, text, strlen(text));
    free(text);
    return rc;
}

void ed_sse_on_drain(ed_request_t *req, void (*fn)(ed_request_t *, void *), void *arg)
{
    req->conn->on_drain = fn;
    req->conn->on_drain_arg = arg;
}

void ed_sse_end(ed_request_t *req)
{
    char *last = strdup("0\r\n\r\n");
    ed__conn_write(req->conn, last, last ? 5 : 0, true);
}
