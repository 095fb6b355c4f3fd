/* edgeclient.c - libedgeclient: connects to edged's Unix socket, writes
 * HTTP/1.1 requests, parses responses with llhttp (strict, never lenient) and
 * splits Server-Sent Event streams into events; completion streams end at
 * `data: [DONE]`. Blocking I/O with poll() deadlines; one request at a time
 * per client; no JSON parser (callers parse it), only the reading of an error
 * answer's "message" string. */
#include "edgeclient.h"

#include "llhttp.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define READ_CHUNK 16384 /* bytes read from the socket at a time */

struct ed_client {
    char *socket_path; /* owned, NUL-terminated */
    int fd;            /* -1 while not connected */
    int timeout_ms;    /* per connect, per request; per read for streams */
    int served;        /* responses already read on fd (keep-alive reuse) */
    llhttp_settings_t settings;
    llhttp_t parser;
    char buf[READ_CHUNK];
};

/* A growable, always NUL-terminated byte string. */
typedef struct {
    char *ptr;
    size_t len; /* bytes, without the NUL */
    size_t cap; /* bytes allocated */
} strbuf_t;

/* What the llhttp callbacks of one response see (parser.data). */
typedef struct {
    ed_client_response_t *resp;
    strbuf_t field, value;      /* the header being parsed */
    strbuf_t body;              /* the body, unless it is delivered as events */
    int head_only;              /* the request was HEAD: no body follows */
    int informational;          /* a 1xx response is being skipped */
    int complete;               /* the final response has been parsed */
    int failure;                /* ED_CLIENT_E* a callback ran into */
    ed_client_event_fn on_event; /* NULL: no event delivery */
    void *user;
    int is_stream; /* the body is an event stream being delivered */
    /* Server-Sent Events, https://html.spec.whatwg.org/#event-stream-interpretation */
    strbuf_t line;       /* the line being read */
    strbuf_t data;       /* data lines of the event so far, each ending in '\n' */
    strbuf_t event_type; /* from an `event:` field; empty = "message" */
    int has_data;        /* a data field was seen since the last dispatch */
    int after_cr;        /* the last line ended in CR: skip an LF that follows */
} exchange_t;

/* ---------------------------------------------------------------- errors ---- */

const char *ed_client_strerror(int err)
{
    switch (err) {
    case ED_CLIENT_OK: return "success";
    case ED_CLIENT_EINVAL: return "invalid argument";
    case ED_CLIENT_ENOMEM: return "out of memory";
    case ED_CLIENT_EIO: return "input/output error";
    case ED_CLIENT_ENOENT: return "no such file or directory";
    case ED_CLIENT_EACCES: return "permission denied";
    case ED_CLIENT_EFORMAT: return "malformed input";
    case ED_CLIENT_ETIMEDOUT: return "timed out";
    case ED_CLIENT_ECANCELED: return "operation canceled";
    case ED_CLIENT_ETOOBIG: return "too large";
    case ED_CLIENT_ECLOSED: return "connection closed";
    case ED_CLIENT_EANSWER: return "the server answered with an error";
    }
    return "unknown error";
}

static int fail(char err[ED_CLIENT_ERR_LEN], int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(char err[ED_CLIENT_ERR_LEN], int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, ED_CLIENT_ERR_LEN, fmt, ap);
        va_end(ap);
    }
    return code;
}

/* ---------------------------------------------------------------- strbuf ---- */

static int strbuf_append(strbuf_t *s, const char *data, size_t len)
{
    if (len > ED_CLIENT_MAX_BODY || s->len > ED_CLIENT_MAX_BODY - len)
        return ED_CLIENT_ETOOBIG;
    if (s->len + len + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 256;
        while (cap < s->len + len + 1)
            cap *= 2;
        char *p = realloc(s->ptr, cap);
        if (!p)
            return ED_CLIENT_ENOMEM;
        s->ptr = p;
        s->cap = cap;
    }
    if (len)
        memcpy(s->ptr + s->len, data, len);
    s->len += len;
    s->ptr[s->len] = '\0';
    return 0;
}

static void strbuf_clear(strbuf_t *s)
{
    s->len = 0;
    if (s->ptr)
        s->ptr[0] = '\0';
}

static void strbuf_free(strbuf_t *s)
{
    free(s->ptr);
    *s = (strbuf_t){0};
}

/* ---------------------------------------------------------------- time ---- */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits until fd is ready for `events` or the deadline passes: 0, or
 * ED_CLIENT_ETIMEDOUT / ED_CLIENT_EIO. */
static int wait_fd(int fd, short events, int64_t deadline_ms)
{
    for (;;) {
        int64_t left = deadline_ms - now_ms();
        if (left <= 0)
            return ED_CLIENT_ETIMEDOUT;
        struct pollfd pfd = {.fd = fd, .events = events};
        int n = poll(&pfd, 1, left > INT32_MAX ? INT32_MAX : (int)left);
        if (n > 0)
            return 0;
        if (n == 0)
            return ED_CLIENT_ETIMEDOUT;
        if (errno != EINTR)
            return ED_CLIENT_EIO;
    }
}

/* ---------------------------------------------------------------- connection ---- */

const char *ed_client_default_socket(const char *path)
{
    if (path && *path)
        return path;
    const char *env = getenv("EDGED_SOCKET");
    return env && *env ? env : ED_CLIENT_DEFAULT_SOCKET;
}

static int connect_error(const char *path, int errno_value, char err[ED_CLIENT_ERR_LEN])
{
    switch (errno_value) {
    case ENOENT:
        return fail(err, ED_CLIENT_ENOENT, "cannot connect to %s: no such socket", path);
    case EACCES:
    case EPERM:
        return fail(err, ED_CLIENT_EACCES, "cannot connect to %s: permission denied", path);
    case ECONNREFUSED:
        return fail(err, ED_CLIENT_EIO, "cannot connect to %s: connection refused (nothing is listening)",
                    path);
    default:
        return fail(err, ED_CLIENT_EIO, "cannot connect to %s: %s", path, strerror(errno_value));
    }
}

/* Opens client->fd within the timeout. */
static int client_connect(ed_client_t *client, char err[ED_CLIENT_ERR_LEN])
{
    const char *path = client->socket_path;
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof addr.sun_path)
        return fail(err, ED_CLIENT_EINVAL, "cannot connect to %s: the path is longer than %zu bytes",
                    path, sizeof addr.sun_path - 1);
    memcpy(addr.sun_path, path, strlen(path) + 1);

    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return fail(err, ED_CLIENT_EIO, "cannot create a socket: %s", strerror(errno));
    int64_t deadline = now_ms() + client->timeout_ms;
    for (;;) {
        if (connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0)
            break;
        int e = errno;
        if (e == EINTR)
            continue;
        if (e == EAGAIN) { /* the listener's backlog is full: try again shortly */
            if (now_ms() >= deadline)
                goto timed_out;
            struct timespec pause = {.tv_nsec = 10 * 1000000};
            nanosleep(&pause, NULL);
            continue;
        }
        if (e == EINPROGRESS) {
            if (wait_fd(fd, POLLOUT, deadline) != 0)
                goto timed_out;
            int so_error = 0;
            socklen_t so_len = sizeof so_error;
            if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &so_len) != 0)
                so_error = errno;
            if (so_error == 0)
                break;
            e = so_error;
        }
        close(fd);
        return connect_error(path, e, err);
    }
    client->fd = fd;
    client->served = 0;
    return 0;

timed_out:
    close(fd);
    return fail(err, ED_CLIENT_ETIMEDOUT, "cannot connect to %s: no answer within %d ms", path,
                client->timeout_ms);
}

static void client_disconnect(ed_client_t *client)
{
    if (client->fd >= 0)
        close(client->fd);
    client->fd = -1;
    client->served = 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t len);
static int on_header_value(llhttp_t *p, const char *at, size_t len);
static int on_header_value_complete(llhttp_t *p);
static int on_headers_complete(llhttp_t *p);
static int on_body(llhttp_t *p, const char *at, size_t len);
static int on_message_complete(llhttp_t *p);

int ed_client_open(ed_client_t **out, const char *socket_path, int timeout_ms,
                   char err[ED_CLIENT_ERR_LEN])
{
    *out = NULL;
    int rc = ED_CLIENT_ENOMEM;
    ed_client_t *client = calloc(1, sizeof *client);
    if (!client)
        goto fail_alloc;
    client->fd = -1;
    client->timeout_ms = timeout_ms > 0 ? timeout_ms : ED_CLIENT_DEFAULT_TIMEOUT_MS;
    client->socket_path = strdup(ed_client_default_socket(socket_path));
    if (!client->socket_path)
        goto fail_alloc;
    llhttp_settings_init(&client->settings);
    client->settings.on_header_field = on_header_field;
    client->settings.on_header_value = on_header_value;
    client->settings.on_header_value_complete = on_header_value_complete;
    client->settings.on_headers_complete = on_headers_complete;
    client->settings.on_body = on_body;
    client->settings.on_message_complete = on_message_complete;
    rc = client_connect(client, err);
    if (rc != 0)
        goto fail_connect;
    *out = client;
    return 0;

fail_alloc:
    fail(err, rc, "out of memory");
fail_connect:
    ed_client_close(client);
    return rc;
}

void ed_client_close(ed_client_t *client)
{
    if (!client)
        return;
    client_disconnect(client);
    free(client->socket_path);
    free(client);
}

const char *ed_client_socket(const ed_client_t *client) { return client->socket_path; }

/* ---------------------------------------------------------------- responses ---- */

const char *ed_client_response_header(const ed_client_response_t *resp, const char *name)
{
    for (size_t i = 0; i < resp->n_headers; i++)
        if (strcasecmp(resp->headers[i].name, name) == 0)
            return resp->headers[i].value;
    return NULL;
}

static void free_headers(ed_client_response_t *resp)
{
    for (size_t i = 0; i < resp->n_headers; i++) {
        free((char *)resp->headers[i].name);
        free((char *)resp->headers[i].value);
    }
    free(resp->headers);
    resp->headers = NULL;
    resp->n_headers = 0;
}

void ed_client_response_free(ed_client_response_t *resp)
{
    if (!resp)
        return;
    free_headers(resp);
    free(resp->body);
    *resp = (ed_client_response_t){0};
}

/* ---------------------------------------------------------------- llhttp callbacks ---- */

/* Records a failure for the read loop and stops the parser. */
static int callback_fail(exchange_t *ex, int code)
{
    ex->failure = code;
    return HPE_USER;
}

static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
    exchange_t *ex = p->data;
    int rc = strbuf_append(&ex->field, at, len);
    return rc ? callback_fail(ex, rc) : 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t len)
{
    exchange_t *ex = p->data;
    int rc = strbuf_append(&ex->value, at, len);
    return rc ? callback_fail(ex, rc) : 0;
}

static int on_header_value_complete(llhttp_t *p)
{
    exchange_t *ex = p->data;
    ed_client_response_t *resp = ex->resp;
    ed_client_header_t *grown = realloc(resp->headers, (resp->n_headers + 1) * sizeof *grown);
    if (!grown)
        return callback_fail(ex, ED_CLIENT_ENOMEM);
    resp->headers = grown;
    char *name = strdup(ex->field.ptr ? ex->field.ptr : "");
    char *value = strdup(ex->value.ptr ? ex->value.ptr : "");
    if (!name || !value) {
        free(name);
        free(value);
        return callback_fail(ex, ED_CLIENT_ENOMEM);
    }
    resp->headers[resp->n_headers++] = (ed_client_header_t){name, value};
    strbuf_clear(&ex->field);
    strbuf_clear(&ex->value);
    return 0;
}

static int on_headers_complete(llhttp_t *p)
{
    exchange_t *ex = p->data;
    int status = llhttp_get_status_code(p);
    ex->informational = status >= 100 && status < 200;
    if (ex->informational)
        return 0;
    ex->resp->status = status;
    const char *type = ed_client_response_header(ex->resp, "Content-Type");
    ex->is_stream = ex->on_event && status >= 200 && status < 300 && type &&
                    strncasecmp(type, "text/event-stream", 17) == 0;
    return ex->head_only ? 1 : 0;
}

/* Handles one complete SSE line (without its terminator). */
static int sse_line(exchange_t *ex, const char *line, size_t len)
{
    if (len == 0) { /* a blank line dispatches the event */
        if (!ex->has_data)
            goto reset;
        size_t data_len = ex->data.len - 1; /* without the last '\n' */
        ex->data.ptr[data_len] = '\0';
        const char *type = ex->event_type.len ? ex->event_type.ptr : "message";
        if (ex->on_event(ex->user, type, ex->data.ptr, data_len) != 0)
            return ED_CLIENT_ECANCELED;
    reset:
        strbuf_clear(&ex->data);
        strbuf_clear(&ex->event_type);
        ex->has_data = 0;
        return 0;
    }
    if (line[0] == ':') /* a comment, e.g. a keep-alive ping */
        return 0;
    const char *colon = memchr(line, ':', len);
    size_t name_len = colon ? (size_t)(colon - line) : len;
    const char *value = colon ? colon + 1 : line + len;
    size_t value_len = len - (size_t)(value - line);
    if (value_len && value[0] == ' ') {
        value++;
        value_len--;
    }
    if (name_len == 4 && memcmp(line, "data", 4) == 0) {
        int rc = strbuf_append(&ex->data, value, value_len);
        if (rc == 0)
            rc = strbuf_append(&ex->data, "\n", 1);
        ex->has_data = 1;
        return rc;
    }
    if (name_len == 5 && memcmp(line, "event", 5) == 0) {
        strbuf_clear(&ex->event_type);
        return strbuf_append(&ex->event_type, value, value_len);
    }
    return 0; /* id, retry and unknown fields are not used */
}

/* Splits event-stream bytes into lines ending in CRLF, LF or CR. */
static int sse_feed(exchange_t *ex, const char *at, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        char c = at[i];
        if (ex->after_cr && c == '\n') {
            ex->after_cr = 0;
            continue;
        }
        ex->after_cr = 0;
        if (c == '\r' || c == '\n') {
            ex->after_cr = c == '\r';
            int rc = sse_line(ex, ex->line.ptr ? ex->line.ptr : "", ex->line.len);
            strbuf_clear(&ex->line);
            if (rc != 0)
                return rc;
            continue;
        }
        size_t run = 1; /* append the whole run up to the next line end at once */
        while (i + run < len && at[i + run] != '\r' && at[i + run] != '\n')
            run++;
        int rc = strbuf_append(&ex->line, at + i, run);
        if (rc != 0)
            return rc;
        i += run - 1;
    }
    return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t len)
{
    exchange_t *ex = p->data;
    if (ex->informational)
        return 0;
    int rc;
    if (ex->is_stream) {
        rc = sse_feed(ex, at, len);
    } else {
        rc = strbuf_append(&ex->body, at, len);
    }
    return rc ? callback_fail(ex, rc) : 0;
}

static int on_message_complete(llhttp_t *p)
{
    exchange_t *ex = p->data;
    if (ex->informational) { /* e.g. 100 Continue: the final response follows */
        free_headers(ex->resp);
        ex->informational = 0;
        return 0;
    }
    ex->complete = 1;
    return HPE_PAUSED;
}

/* ---------------------------------------------------------------- requests ---- */

static int is_token(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (*s <= ' ' || *s >= 127 || strchr("\"(),/:;<=>?@[\\]{}", *s))
            return 0;
    return 1;
}

static int is_field_value(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < ' ' && *s != '\t')
            return 0;
    return 1;
}

/* Writes the request head and body into `out`. */
static int build_request(strbuf_t *out, const char *method, const char *path,
                         const ed_client_header_t *headers, size_t n_headers, const void *body,
                         size_t body_len, int accept_stream, char err[ED_CLIENT_ERR_LEN])
{
    if (!is_token(method))
        return fail(err, ED_CLIENT_EINVAL, "invalid method \"%s\"", method);
    if (path[0] != '/')
        return fail(err, ED_CLIENT_EINVAL, "invalid path \"%s\": it must start with '/'", path);
    for (const char *c = path; *c; c++)
        if ((unsigned char)*c <= ' ' || *c == 127)
            return fail(err, ED_CLIENT_EINVAL, "invalid path: it contains a space or control byte");
    for (size_t i = 0; i < n_headers; i++)
        if (!is_token(headers[i].name) || !is_field_value(headers[i].value))
            return fail(err, ED_CLIENT_EINVAL, "invalid header \"%s\"", headers[i].name);

    const char *pieces[5] = {method, " ", path, " HTTP/1.1\r\nHost: localhost\r\n",
                             accept_stream ? "Accept: text/event-stream\r\n" : ""};
    int rc = 0;
    for (size_t i = 0; i < 5 && rc == 0; i++)
        rc = strbuf_append(out, pieces[i], strlen(pieces[i]));
    if (body && rc == 0) {
        char line[64];
        int n = snprintf(line, sizeof line, "Content-Length: %zu\r\n", body_len);
        rc = strbuf_append(out, line, (size_t)n);
    }
    for (size_t i = 0; i < n_headers && rc == 0; i++) {
        const char *header[4] = {headers[i].name, ": ", headers[i].value, "\r\n"};
        for (size_t k = 0; k < 4 && rc == 0; k++)
            rc = strbuf_append(out, header[k], strlen(header[k]));
    }
    if (rc == 0)
        rc = strbuf_append(out, "\r\n", 2);
    if (body && body_len && rc == 0)
        rc = strbuf_append(out, body, body_len);
    return rc ? fail(err, rc, "cannot build the request: %s", ed_client_strerror(rc)) : 0;
}

/* Result of one attempt: whether a failure may be retried on a fresh connection. */
typedef struct {
    int rc;
    int retry; /* the kept connection was found closed before any response byte */
} attempt_t;

static attempt_t send_all(ed_client_t *client, const strbuf_t *req, int64_t deadline,
                          char err[ED_CLIENT_ERR_LEN])
{
    size_t sent = 0;
    while (sent < req->len) {
        ssize_t n = send(client->fd, req->ptr + sent, req->len - sent, MSG_NOSIGNAL);
        if (n >= 0) {
            sent += (size_t)n;
            continue;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN) {
            if (wait_fd(client->fd, POLLOUT, deadline) != 0)
                return (attempt_t){fail(err, ED_CLIENT_ETIMEDOUT,
                                        "%s: the server did not accept the request within %d ms",
                                        client->socket_path, client->timeout_ms), 0};
            continue;
        }
        if (errno == EPIPE || errno == ECONNRESET)
            return (attempt_t){fail(err, ED_CLIENT_ECLOSED, "%s: the server closed the connection",
                                    client->socket_path),
                               client->served > 0};
        return (attempt_t){fail(err, ED_CLIENT_EIO, "%s: cannot send: %s", client->socket_path,
                                strerror(errno)), 0};
    }
    return (attempt_t){0, 0};
}

/* Reads until the response is complete, feeding llhttp. */
static attempt_t read_response(ed_client_t *client, exchange_t *ex, int64_t deadline,
                               char err[ED_CLIENT_ERR_LEN])
{
    size_t received = 0; /* bytes of this response so far */
    while (!ex->complete) {
        if (wait_fd(client->fd, POLLIN, deadline) != 0)
            return (attempt_t){fail(err, ED_CLIENT_ETIMEDOUT, "%s: no response within %d ms",
                                    client->socket_path, client->timeout_ms), 0};
        ssize_t n = recv(client->fd, client->buf, sizeof client->buf, 0);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        int reused = client->served > 0 && received == 0;
        if (n < 0 && errno != ECONNRESET)
            return (attempt_t){fail(err, ED_CLIENT_EIO, "%s: cannot read: %s", client->socket_path,
                                    strerror(errno)), 0};
        if (n <= 0) { /* end of stream: a body delimited by close ends here */
            llhttp_errno_t finished = received ? llhttp_finish(&client->parser) : HPE_OK;
            if ((finished == HPE_OK || finished == HPE_PAUSED) && ex->complete)
                break;
            return (attempt_t){fail(err, ED_CLIENT_ECLOSED,
                                    "%s: the server closed the connection %s", client->socket_path,
                                    received ? "before the response was complete"
                                             : "without answering"),
                               reused};
        }
        received += (size_t)n;
        if (ex->is_stream) /* streams: the timeout bounds each wait, not the whole */
            deadline = now_ms() + client->timeout_ms;
        llhttp_errno_t e = llhttp_execute(&client->parser, client->buf, (size_t)n);
        if (e == HPE_PAUSED) {
            const char *end = llhttp_get_error_pos(&client->parser);
            if (end && end < client->buf + n) /* bytes after the response: unasked for */
                client_disconnect(client);
            break;
        }
        if (e == HPE_USER) {
            int rc = ex->failure;
            if (rc == ED_CLIENT_ECANCELED)
                return (attempt_t){fail(err, rc, "the event stream was stopped by the caller"), 0};
            return (attempt_t){fail(err, rc, "%s: cannot read the response: %s",
                                    client->socket_path, ed_client_strerror(rc)), 0};
        }
        if (e != HPE_OK)
            return (attempt_t){fail(err, ED_CLIENT_EFORMAT, "%s: malformed response: %s (%s)",
                                    client->socket_path, llhttp_errno_name(e),
                                    llhttp_get_error_reason(&client->parser)), 0};
    }
    return (attempt_t){0, 0};
}

static void exchange_free(exchange_t *ex)
{
    strbuf_free(&ex->field);
    strbuf_free(&ex->value);
    strbuf_free(&ex->body);
    strbuf_free(&ex->line);
    strbuf_free(&ex->data);
    strbuf_free(&ex->event_type);
}

/* One attempt on the current connection (connecting first if there is none). */
static attempt_t attempt(ed_client_t *client, const strbuf_t *req, int head_only,
                         ed_client_event_fn on_event, void *user, ed_client_response_t *resp,
                         char err[ED_CLIENT_ERR_LEN])
{
    if (client->fd < 0) {
        int rc = client_connect(client, err);
        if (rc != 0)
            return (attempt_t){rc, 0};
    }
    ed_client_response_free(resp);
    exchange_t ex = {.resp = resp, .head_only = head_only, .on_event = on_event, .user = user};
    llhttp_init(&client->parser, HTTP_RESPONSE, &client->settings);
    client->parser.data = &ex;

    int64_t deadline = now_ms() + client->timeout_ms;
    attempt_t result = send_all(client, req, deadline, err);
    if (result.rc == 0)
        result = read_response(client, &ex, deadline, err);
    if (result.rc != 0 || !llhttp_should_keep_alive(&client->parser))
        client_disconnect(client);
    else if (client->fd >= 0)
        client->served++;
    if (result.rc == 0 && ex.body.ptr) { /* the response takes the body */
        resp->body = ex.body.ptr;
        resp->body_len = ex.body.len;
        ex.body = (strbuf_t){0};
    }
    exchange_free(&ex);
    return result;
}

static int exchange(ed_client_t *client, const char *method, const char *path,
                    const ed_client_header_t *headers, size_t n_headers, const void *body,
                    size_t body_len, ed_client_event_fn on_event, void *user,
                    ed_client_response_t *resp, char err[ED_CLIENT_ERR_LEN])
{
    strbuf_t req = {0};
    int rc = build_request(&req, method, path, headers, n_headers, body, body_len,
                           on_event != NULL, err);
    if (rc == 0) {
        int head_only = strcmp(method, "HEAD") == 0;
        attempt_t result = attempt(client, &req, head_only, on_event, user, resp, err);
        if (result.rc != 0 && result.retry)
            result = attempt(client, &req, head_only, on_event, user, resp, err);
        rc = result.rc;
    }
    strbuf_free(&req);
    return rc;
}

int ed_client_request(ed_client_t *client, const char *method, const char *path,
                      const ed_client_header_t *headers, size_t n_headers, const void *body,
                      size_t body_len, ed_client_response_t *resp, char err[ED_CLIENT_ERR_LEN])
{
    return exchange(client, method, path, headers, n_headers, body, body_len, NULL, NULL, resp,
                    err);
}

int ed_client_stream(ed_client_t *client, const char *method, const char *path,
                     const ed_client_header_t *headers, size_t n_headers, const void *body,
                     size_t body_len, ed_client_event_fn on_event, void *user,
                     ed_client_response_t *resp, char err[ED_CLIENT_ERR_LEN])
{
    if (!on_event)
        return fail(err, ED_CLIENT_EINVAL, "ed_client_stream needs an event callback");
    return exchange(client, method, path, headers, n_headers, body, body_len, on_event, user,
                    resp, err);
}

/* ---------------------------------------------------------------- completions ---- */

/* What a completion stream's event callback sees. */
typedef struct {
    ed_client_data_fn on_data;
    void *user;
    int done; /* `data: [DONE]` arrived: later events are not delivered */
} completion_t;

static int completion_event(void *user, const char *event, const char *data, size_t len)
{
    completion_t *c = user;
    (void)event;
    if (c->done)
        return 0;
    if (len == 6 && memcmp(data, "[DONE]", 6) == 0) {
        c->done = 1;
        return 0;
    }
    return c->on_data(c->user, data, len);
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)(c | 0x20);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Reads the 4 hex digits at `s` (at least 4 bytes before `end`): the code unit, or -1. */
static long hex4(const char *s, const char *end)
{
    if (end - s < 4)
        return -1;
    long v = 0;
    for (int i = 0; i < 4; i++) {
        int d = hex_digit(s[i]);
        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    return v;
}

/* Appends code point `cp` as UTF-8 to out[*n] if it fits whole in size - 1 bytes. */
static void put_utf8(char *out, size_t size, size_t *n, unsigned long cp)
{
    char u[4];
    size_t k;
    if (cp < 0x80) {
        u[0] = (char)cp;
        k = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xc0 | cp >> 6);
        u[1] = (char)(0x80 | (cp & 0x3f));
        k = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xe0 | cp >> 12);
        u[1] = (char)(0x80 | (cp >> 6 & 0x3f));
        u[2] = (char)(0x80 | (cp & 0x3f));
        k = 3;
    } else {
        u[0] = (char)(0xf0 | cp >> 18);
        u[1] = (char)(0x80 | (cp >> 12 & 0x3f));
        u[2] = (char)(0x80 | (cp >> 6 & 0x3f));
        u[3] = (char)(0x80 | (cp & 0x3f));
        k = 4;
    }
    if (*n + k < size) {
        memcpy(out + *n, u, k);
        *n += k;
    }
}

/* Decodes the JSON string value of the first "message" key in an error body
 * ({"error": {"message": "..."}}) into `out` (`size` bytes), cut to the whole
 * characters that fit. Returns 0, or -1 when the body has no such string. */
static int error_message(const char *body, size_t len, char *out, size_t size)
{
    static const char key[] = "\"message\"";
    const char *end = body + len;
    const char *p = body;
    for (;;) {
        p = p < end ? memmem(p, (size_t)(end - p), key, sizeof key - 1) : NULL;
        if (!p)
            return -1;
        p += sizeof key - 1;
        while (p < end && strchr(" \t\r\n", *p))
            p++;
        if (p < end && *p == ':')
            break;
    }
    for (p++; p < end && strchr(" \t\r\n", *p); p++)
        ;
    if (p >= end || *p != '"')
        return -1;
    size_t n = 0;
    for (p++; p < end && *p != '"'; p++) {
        if (*p != '\\') { /* a UTF-8 sequence is copied whole or not at all */
            size_t k = 1;
            while (p + k < end && ((unsigned char)p[k] & 0xc0) == 0x80)
                k++;
            if (n + k < size) {
                memcpy(out + n, p, k);
                n += k;
            }
            p += k - 1;
            continue;
        }
        if (++p >= end)
            return -1;
        unsigned long cp;
        switch (*p) {
        case '"': case '\\': case '/': cp = (unsigned char)*p; break;
        case 'b': cp = '\b'; break;
        case 'f': cp = '\f'; break;
        case 'n': cp = '\n'; break;
        case 'r': cp = '\r'; break;
        case 't': cp = '\t'; break;
        case 'u': {
            long unit = hex4(p + 1, end);
            if (unit < 0)
                return -1;
            p += 4;
            cp = (unsigned long)unit;
            long low = unit >= 0xd800 && unit < 0xdc00 && end - p > 6 && p[1] == '\\' && p[2] == 'u'
                           ? hex4(p + 3, end) : -1;
            if (low >= 0xdc00 && low < 0xe000) { /* a surrogate pair */
                cp = 0x10000 + ((unsigned long)(unit - 0xd800) << 10) + (unsigned long)(low - 0xdc00);
                p += 6;
            } else if (cp >= 0xd800 && cp < 0xe000) {
                cp = 0xfffd; /* a lone surrogate */
            }
            break;
        }
        default:
            return -1;
        }
        put_utf8(out, size, &n, cp);
    }
    if (p >= end)
        return -1;
    out[n] = '\0';
    return 0;
}

/* Fills `err` for an error answer: its message, or its status and body start. */
static int answer_error(const ed_client_response_t *resp, char err[ED_CLIENT_ERR_LEN])
{
    const char *body = resp->body ? resp->body : "";
    if (err && error_message(body, resp->body_len, err, ED_CLIENT_ERR_LEN) == 0 && err[0])
        return ED_CLIENT_EANSWER;
    size_t shown = strcspn(body, "\r\n");
    return fail(err, ED_CLIENT_EANSWER, "HTTP %d%s%.*s", resp->status, shown ? ": " : "",
                (int)(shown > 160 ? 160 : shown), body);
}

int ed_client_complete(ed_client_t *client, const char *path, const char *body, size_t body_len,
                       ed_client_data_fn on_data, void *user, ed_client_response_t *resp,
                       char err[ED_CLIENT_ERR_LEN])
{
    if (!on_data || !body)
        return fail(err, ED_CLIENT_EINVAL, "ed_client_complete needs a body and a data callback");
    static const ed_client_header_t json_type = {"Content-Type", "application/json"};
    completion_t completion = {.on_data = on_data, .user = user};
    int rc = ed_client_stream(client, "POST", path, &json_type, 1, body, body_len,
                              completion_event, &completion, resp, err);
    if (rc != 0)
        return rc;
    if (resp->status >= 400)
        return answer_error(resp, err);
    if (completion.done)
        return 0;
    const char *type = ed_client_response_header(resp, "Content-Type");
    if (resp->body || resp->status < 200 || resp->status > 299 || !type ||
        strncasecmp(type, "text/event-stream", 17) != 0)
        return fail(err, ED_CLIENT_EFORMAT, "%s %s: expected an event stream, got HTTP %d (%s)",
                    "POST", path, resp->status, type ? type : "no Content-Type");
    return fail(err, ED_CLIENT_ECLOSED, "POST %s: the event stream ended without data: [DONE]",
                path);
}
