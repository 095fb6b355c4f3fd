/* http.c - the request parser of http.h over llhttp (strict: no lenient
 * flag is ever set). llhttp hands tokens in fragments; they are appended to
 * one head buffer with NUL separators and turned into pointers when the head
 * is complete. The message-complete callback pauses llhttp so that pipelined
 * requests are handled one at a time. */
#include "http/http.h"
#include "core/error.h"

#include <llhttp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { PHASE_IDLE, PHASE_HEAD, PHASE_BODY } phase_t;

struct ed_http_parser {
    llhttp_t llhttp;
    llhttp_settings_t settings;
    ed_http_limits_t limits;
    ed_http_on_head_fn on_head;
    void *on_head_arg;
    ed_request_t *req; /* the request being filled, during feed */

    phase_t phase;
    uint64_t head_raw;         /* raw bytes of the current head received so far */
    char *head;                /* tokens, NUL-separated: target, then name/value pairs */
    size_t head_len, head_cap;
    size_t target_len;
    uint32_t n_headers;
    uint32_t *offsets;         /* 2 per header: name, value (into head) */
    uint32_t offsets_cap;      /* in headers */
    ed_http_header_t *headers; /* built at head complete */
    bool in_field;             /* a header name is being received */
    uint32_t value_pieces;     /* callbacks for the current header value so far */
    uint64_t value_end;        /* stream offset just past the last value piece */
    bool scan_cr;              /* head scan: the previous byte was CR */
    bool scan_seen_line;       /* head scan: a non-empty line was seen */
    bool scan_done;            /* head scan: the empty line ending the head was seen */
    uint32_t scan_line_len;    /* head scan: bytes in the current line */
    const char *feed_start;    /* the buffer of the current feed call */
    uint64_t feed_offset;      /* its offset in the connection's byte stream */
    int64_t content_length;
    uint64_t body_limit;        /* of the current request: limits.max_body_bytes, or the large one */
    const char *body_limit_name; /* the option that sets it, for the 413 */

    char *body;
    size_t body_len, body_cap;

    bool refused;              /* on_head answered */
    int status;                /* != 0: failed */
    const char *code;
    char message[256];
};

static int fail(ed_http_parser_t *p, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(ed_http_parser_t *p, int status, const char *code, const char *fmt, ...)
{
    if (p->status == 0) {
        p->status = status;
        p->code = code;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->message, sizeof p->message, fmt, ap);
        va_end(ap);
    }
    return -1; /* HPE_USER */
}

static ed_http_parser_t *self(llhttp_t *l) { return (ed_http_parser_t *)l->data; }

/* Appends to the head buffer, enforcing the header-bytes limit. */
static int head_append(ed_http_parser_t *p, const char *at, size_t len)
{
    if (p->head_len + len + 1 > (size_t)p->limits.max_header_bytes + 2 * p->limits.max_headers + 2)
        return fail(p, 431, "headers_too_large",
                    "request headers exceed %u bytes (server.max_header_bytes)",
                    p->limits.max_header_bytes);
    if (p->head_len + len + 1 > p->head_cap) {
        size_t cap = p->head_cap ? p->head_cap : 1024;
        while (cap < p->head_len + len + 1)
            cap *= 2;
        char *head = realloc(p->head, cap);
        if (!head)
            return fail(p, 503, "out_of_memory", "the server is out of memory");
        p->head = head;
        p->head_cap = cap;
    }
    memcpy(p->head + p->head_len, at, len);
    p->head_len += len;
    return 0;
}

static int on_message_begin(llhttp_t *l)
{
    ed_http_parser_t *p = self(l);
    p->phase = PHASE_HEAD;
    return 0;
}

static int on_url(llhttp_t *l, const char *at, size_t len)
{
    ed_http_parser_t *p = self(l);
    p->target_len += len;
    if (p->target_len > p->limits.max_url_bytes)
        return fail(p, 414, "uri_too_long", "request target exceeds %u bytes (server.max_url_bytes)",
                    p->limits.max_url_bytes);
    return head_append(p, at, len);
}

static int on_url_complete(llhttp_t *l) { return head_append(self(l), "", 1); }

static bool is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static int on_header_field(llhttp_t *l, const char *at, size_t len)
{
    ed_http_parser_t *p = self(l);
    if (!p->in_field) {
        if (p->n_headers >= p->limits.max_headers)
            return fail(p, 431, "headers_too_large", "more than %u request headers (server.max_headers)",
                        p->limits.max_headers);
        if (p->n_headers >= p->offsets_cap) {
            uint32_t cap = p->offsets_cap ? p->offsets_cap * 2 : 16;
            uint32_t *offsets = realloc(p->offsets, (size_t)cap * 2 * sizeof *offsets);
            ed_http_header_t *headers = realloc(p->headers, (size_t)cap * sizeof *headers);
            if (offsets)
                p->offsets = offsets;
            if (headers)
                p->headers = headers;
            if (!offsets || !headers)
                return fail(p, 503, "out_of_memory", "the server is out of memory");
            p->offsets_cap = cap;
        }
        p->offsets[2 * p->n_headers] = (uint32_t)p->head_len;
        p->in_field = true;
    }
    for (size_t i = 0; i < len; i++)
        if (!is_tchar((unsigned char)at[i]))
            return fail(p, 400, "bad_request", "invalid character 0x%02x in a header name",
                        (unsigned char)at[i]);
    return head_append(p, at, len);
}

static int on_header_field_complete(llhttp_t *l)
{
    ed_http_parser_t *p = self(l);
    p->in_field = false;
    int rc = head_append(p, "", 1);
    if (rc == 0)
        p->offsets[2 * p->n_headers + 1] = (uint32_t)p->head_len;
    return rc;
}

static int on_header_value(llhttp_t *l, const char *at, size_t len)
{
    ed_http_parser_t *p = self(l);
    /* llhttp accepts obsolete line folding: it reports the folded line as a
     * further piece of the same value with the line break skipped. A value
     * split across reads is contiguous in the byte stream; a fold is not. */
    uint64_t offset = p->feed_offset + (uint64_t)(at - p->feed_start);
    if (p->value_pieces > 0 && offset != p->value_end)
        return fail(p, 400, "bad_request", "obsolete line folding in a header value is not accepted");
    p->value_pieces++;
    p->value_end = offset + len;
    return head_append(p, at, len);
}

static int on_header_value_complete(llhttp_t *l)
{
    ed_http_parser_t *p = self(l);
    int rc = head_append(p, "", 1);
    if (rc == 0)
        p->n_headers++;
    p->value_pieces = 0;
    return rc;
}

static ed_http_method_t method_of(uint8_t method)
{
    switch (method) {
    case HTTP_GET: return ED_HTTP_GET;
    case HTTP_HEAD: return ED_HTTP_HEAD;
    case HTTP_POST: return ED_HTTP_POST;
    case HTTP_PUT: return ED_HTTP_PUT;
    case HTTP_DELETE: return ED_HTTP_DELETE;
    case HTTP_PATCH: return ED_HTTP_PATCH;
    case HTTP_OPTIONS: return ED_HTTP_OPTIONS;
    default: return ED_HTTP_OTHER;
    }
}

static int on_headers_complete(llhttp_t *l)
{
    ed_http_parser_t *p = self(l);
    ed_request_t *req = p->req;
    p->phase = PHASE_BODY;

    for (uint32_t i = 0; i < p->n_headers; i++) {
        p->headers[i].name = p->head + p->offsets[2 * i];
        p->headers[i].value = p->head + p->offsets[2 * i + 1];
    }
    req->headers = p->headers;
    req->n_headers = p->n_headers;
    req->method = method_of(l->method);
    req->method_name = llhttp_method_name((llhttp_method_t)l->method);
    req->target = p->head;
    req->path = p->head;
    char *q = strchr(p->head, '?');
    if (q) {
        *q = '\0';
        req->query = q + 1;
    } else {
        req->query = p->head + strlen(p->head); /* "" */
    }
    req->keep_alive = llhttp_should_keep_alive(l);

    bool chunked = (l->flags & F_CHUNKED) != 0;
    bool has_length = (l->flags & F_CONTENT_LENGTH) != 0;
    p->content_length = chunked ? -1 : has_length ? (int64_t)l->content_length : 0;
    bool wants_body = req->method & (ED_HTTP_POST | ED_HTTP_PUT | ED_HTTP_PATCH);
    if (wants_body && !chunked && !has_length)
        return fail(p, 411, "length_required",
                    "a %s request needs a Content-Length or a chunked Transfer-Encoding",
                    req->method_name);
    /* beyond both limits: refused before routing; between them, after it */
    uint64_t largest = p->limits.max_large_body_bytes > p->limits.max_body_bytes ? p->limits.max_large_body_bytes
                                                                                  : p->limits.max_body_bytes;
    p->body_limit = p->limits.max_body_bytes;
    p->body_limit_name = "server.max_body_bytes";
    if (has_length && l->content_length > largest && largest == p->limits.max_body_bytes)
        return fail(p, 413, "body_too_large",
                    "request body is %llu bytes; the limit is %llu (server.max_body_bytes)",
                    (unsigned long long)l->content_length,
                    (unsigned long long)p->limits.max_body_bytes);
    if (has_length && l->content_length > largest)
        return fail(p, 413, "body_too_large",
                    "request body is %llu bytes; the limit is %llu (server.max_body_bytes; %llu for files, %s)",
                    (unsigned long long)l->content_length, (unsigned long long)p->limits.max_body_bytes,
                    (unsigned long long)largest, p->limits.large_body_option ? p->limits.large_body_option : "");
    if (p->on_head && p->on_head(p->on_head_arg, req) != 0) {
        p->refused = true;
        return -1;
    }
    if (has_length && l->content_length > p->body_limit)
        return fail(p, 413, "body_too_large", "request body is %llu bytes; the limit is %llu (%s)",
                    (unsigned long long)l->content_length, (unsigned long long)p->body_limit,
                    p->body_limit_name);
    if (has_length && l->content_length > 0) {
        size_t want = (size_t)l->content_length + 1;
        if (want > p->body_cap) {
            char *body = realloc(p->body, want);
            if (!body)
                return fail(p, 503, "out_of_memory", "the server is out of memory");
            p->body = body;
            p->body_cap = want;
        }
    }
    return 0;
}

static int on_body(llhttp_t *l, const char *at, size_t len)
{
    ed_http_parser_t *p = self(l);
    if (p->body_len + len > p->body_limit)
        return fail(p, 413, "body_too_large", "request body exceeds %llu bytes (%s)",
                    (unsigned long long)p->body_limit, p->body_limit_name);
    if (p->body_len + len + 1 > p->body_cap) {
        size_t cap = p->body_cap ? p->body_cap : 4096;
        while (cap < p->body_len + len + 1)
            cap *= 2;
        char *body = realloc(p->body, cap);
        if (!body)
            return fail(p, 503, "out_of_memory", "the server is out of memory");
        p->body = body;
        p->body_cap = cap;
    }
    memcpy(p->body + p->body_len, at, len);
    p->body_len += len;
    return 0;
}

/* A chunk's size is known before its data: refuse an oversized body early. */
static int on_chunk_header(llhttp_t *l)
{
    ed_http_parser_t *p = self(l);
    if (l->content_length > p->body_limit - p->body_len)
        return fail(p, 413, "body_too_large", "request body exceeds %llu bytes (%s)",
                    (unsigned long long)p->body_limit, p->body_limit_name);
    return 0;
}

static int on_message_complete(llhttp_t *l)
{
    ed_http_parser_t *p = self(l);
    ed_request_t *req = p->req;
    if (!p->body) {
        p->body = malloc(1);
        if (!p->body)
            return fail(p, 503, "out_of_memory", "the server is out of memory");
        p->body_cap = 1;
    }
    p->body[p->body_len] = '\0';
    req->body = p->body;
    req->body_len = p->body_len;
    req->keep_alive = llhttp_should_keep_alive(l);
    return HPE_PAUSED;
}

ed_http_parser_t *ed_http_parser_new(const ed_http_limits_t *limits, ed_http_on_head_fn on_head,
                                     void *arg)
{
    ed_http_parser_t *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->limits = *limits;
    p->on_head = on_head;
    p->on_head_arg = arg;
    llhttp_settings_init(&p->settings);
    p->settings.on_message_begin = on_message_begin;
    p->settings.on_url = on_url;
    p->settings.on_url_complete = on_url_complete;
    p->settings.on_header_field = on_header_field;
    p->settings.on_header_field_complete = on_header_field_complete;
    p->settings.on_header_value = on_header_value;
    p->settings.on_header_value_complete = on_header_value_complete;
    p->settings.on_headers_complete = on_headers_complete;
    p->settings.on_body = on_body;
    p->settings.on_chunk_header = on_chunk_header;
    p->settings.on_message_complete = on_message_complete;
    llhttp_init(&p->llhttp, HTTP_REQUEST, &p->settings);
    p->llhttp.data = p;
    return p;
}

void ed_http_parser_free(ed_http_parser_t *p)
{
    if (!p)
        return;
    free(p->head);
    free(p->offsets);
    free(p->headers);
    free(p->body);
    free(p);
}

void ed_http_parser_set_limits(ed_http_parser_t *p, const ed_http_limits_t *limits)
{
    p->limits = *limits;
}

static void translate_llhttp_error(ed_http_parser_t *p, llhttp_errno_t err)
{
    const char *reason = llhttp_get_error_reason(&p->llhttp);
    switch (err) {
    case HPE_INVALID_VERSION:
        fail(p, 505, "http_version_not_supported", "HTTP version not supported: %s", reason);
        break;
    case HPE_PAUSED_UPGRADE:
        fail(p, 400, "bad_request", "protocol upgrades (including HTTP/2) are not supported");
        break;
    default:
        fail(p, 400, "bad_request", "malformed request: %s", reason ? reason : llhttp_errno_name(err));
        break;
    }
}

/* llhttp 8 tolerates a bare LF (and a bare CR after the request line) as a
 * line ending; request smuggling feeds on such disagreements, so the head's
 * raw bytes are checked here: every CR is followed by LF and every LF
 * follows a CR. The scan stops at the empty line that ends the head. */
static int scan_line_endings(ed_http_parser_t *p, const char *data, size_t len)
{
    for (size_t i = 0; i < len && !p->scan_done; i++) {
        char c = data[i];
        if (p->scan_cr && c != '\n')
            return fail(p, 400, "bad_request", "a CR not followed by LF in the request head");
        if (c == '\n') {
            if (!p->scan_cr)
                return fail(p, 400, "bad_request", "a bare LF line ending in the request head (CRLF is required)");
            if (p->scan_line_len == 0 && p->scan_seen_line)
                p->scan_done = true;
            p->scan_seen_line |= p->scan_line_len > 0;
            p->scan_line_len = 0;
        } else if (c != '\r') {
            p->scan_line_len++;
        }
        p->scan_cr = c == '\r';
    }
    return 0;
}

ed_http_event_t ed_http_parser_feed(ed_http_parser_t *p, ed_request_t *req, const char *data,
                                    size_t len, size_t *consumed)
{
    *consumed = 0;
    if (p->status)
        return ED_HTTP_FAILED;
    if (p->refused)
        return ED_HTTP_REFUSED;
    if (len == 0)
        return ED_HTTP_NEED_MORE;
    p->req = req;
    if (p->phase != PHASE_BODY && scan_line_endings(p, data, len) != 0)
        return ED_HTTP_FAILED;
    p->feed_start = data;
    llhttp_errno_t err = llhttp_execute(&p->llhttp, data, len);
    if (err == HPE_OK) {
        *consumed = len;
        p->feed_offset += len;
        if (p->phase == PHASE_HEAD) {
            p->head_raw += len;
            if (p->head_raw > (uint64_t)p->limits.max_header_bytes + 64) {
                fail(p, 431, "headers_too_large", "request headers exceed %u bytes (server.max_header_bytes)",
                     p->limits.max_header_bytes);
                return ED_HTTP_FAILED;
            }
        }
        return ED_HTTP_NEED_MORE;
    }
    const char *pos = llhttp_get_error_pos(&p->llhttp);
    *consumed = pos && pos >= data && pos <= data + len ? (size_t)(pos - data) : len;
    p->feed_offset += *consumed;
    if (err == HPE_PAUSED) {
        llhttp_resume(&p->llhttp);
        return ED_HTTP_MESSAGE;
    }
    if (p->refused)
        return ED_HTTP_REFUSED;
    if (p->status == 0)
        translate_llhttp_error(p, err);
    return ED_HTTP_FAILED;
}

int ed_http_parser_error(const ed_http_parser_t *p, const char **code, const char **message)
{
    *code = p->code ? p->code : "bad_request";
    *message = p->message;
    return p->status ? p->status : 400;
}

bool ed_http_parser_in_request(const ed_http_parser_t *p) { return p->phase != PHASE_IDLE; }
int64_t ed_http_parser_content_length(const ed_http_parser_t *p) { return p->content_length; }

void ed_http_parser_allow_large_body(ed_http_parser_t *p)
{
    p->body_limit = p->limits.max_large_body_bytes;
    p->body_limit_name = p->limits.large_body_option ? p->limits.large_body_option : "the large body limit";
}

uint64_t ed_http_parser_body_limit(const ed_http_parser_t *p) { return p->body_limit; }

void ed_http_parser_next(ed_http_parser_t *p)
{
    p->phase = PHASE_IDLE;
    p->head_raw = 0;
    p->head_len = 0;
    p->target_len = 0;
    p->n_headers = 0;
    p->in_field = false;
    p->content_length = 0;
    p->body_len = 0;
    p->scan_cr = p->scan_seen_line = p->scan_done = false;
    p->scan_line_len = 0;
    if (p->body_cap > (1u << 20)) { /* do not keep a large body buffer on an idle connection */
        free(p->body);
        p->body = NULL;
        p->body_cap = 0;
    }
}
