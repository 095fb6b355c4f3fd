/* tests/unit/client/edgeclient.c - libedgeclient against a forked canned
 * server on a temporary Unix socket: Content-Length, chunked and
 * close-delimited bodies, keep-alive reuse and reconnection, Server-Sent
 * Events split across reads, completion streams up to [DONE] and their error
 * answers, error JSON, timeouts, malformed responses. */
#include "edgeclient.h"

#include "core/error.h"
#include "tests/test.h"

#include <errno.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

/* One canned answer: pieces written one at a time with a pause between. */
typedef struct {
    const char *pieces[8];
    int close_after; /* close the connection after writing */
    int silent;      /* read the request, never answer */
} reply_t;

#define REPLY(...) {.pieces = {__VA_ARGS__}}
#define REPLY_CLOSE(...) {.pieces = {__VA_ARGS__}, .close_after = 1}

typedef struct {
    char dir[64];
    char path[96];     /* the socket */
    char log_path[96]; /* every request byte the server read */
    pid_t pid;
    char requests[8192]; /* what the server read, filled by server_stop() */
} server_t;

static void pause_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Reads one request (head plus Content-Length body) into `log`: 1, or 0 at EOF. */
static int read_request(int fd, FILE *log)
{
    char buf[65536];
    size_t len = 0;
    char *end = NULL;
    while (!end) {
        ssize_t n = read(fd, buf + len, sizeof buf - 1 - len);
        if (n <= 0)
            return 0;
        len += (size_t)n;
        buf[len] = '\0';
        end = strstr(buf, "\r\n\r\n");
    }
    size_t body = 0;
    const char *cl = strcasestr(buf, "\r\nContent-Length:");
    if (cl && cl < end)
        body = strtoul(cl + 17, NULL, 10);
    size_t want = (size_t)(end + 4 - buf) + body;
    while (len < want) {
        ssize_t n = read(fd, buf + len, sizeof buf - 1 - len);
        if (n <= 0)
            return 0;
        len += (size_t)n;
    }
    fwrite(buf, 1, len, log);
    fflush(log);
    return 1;
}

/* The server process: answers `replies` in order; exits with the number of
 * connections it accepted. */
static void serve(int listener, const char *log_path, const reply_t *replies, size_t n)
{
    alarm(10); /* never outlive a test that gave up on it */
    FILE *log = fopen(log_path, "w");
    int conn = -1, n_conn = 0;
    for (size_t i = 0; i < n; i++) {
        if (conn < 0) {
            conn = accept(listener, NULL, NULL);
            n_conn++;
        }
        if (!read_request(conn, log)) { /* the client went away: expect a new connection */
            close(conn);
            conn = -1;
            i--;
            continue;
        }
        if (replies[i].silent) {
            char c;
            while (read(conn, &c, 1) > 0) {
            }
            close(conn);
            conn = -1;
            continue;
        }
        for (int p = 0; p < 8 && replies[i].pieces[p]; p++) {
            if (p)
                pause_ms(20);
            if (write(conn, replies[i].pieces[p], strlen(replies[i].pieces[p])) < 0)
                break;
        }
        if (replies[i].close_after) {
            close(conn);
            conn = -1;
        }
    }
    if (conn >= 0) { /* wait for the client to finish with the connection */
        char c;
        while (read(conn, &c, 1) > 0) {
        }
    }
    fclose(log);
    _exit(n_conn);
}

static void server_start(server_t *s, const reply_t *replies, size_t n)
{
    snprintf(s->dir, sizeof s->dir, "/tmp/edgeclient-test-XXXXXX");
    if (!mkdtemp(s->dir)) {
        perror("mkdtemp");
        exit(1);
    }
    snprintf(s->path, sizeof s->path, "%s/sock", s->dir);
    snprintf(s->log_path, sizeof s->log_path, "%s/requests", s->dir);
    int listener = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s", s->path);
    if (bind(listener, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(listener, 8) != 0) {
        perror("bind");
        exit(1);
    }
    s->pid = fork();
    if (s->pid == 0)
        serve(listener, s->log_path, replies, n);
    close(listener);
}

/* Waits for the server; returns the number of connections it accepted. */
static int server_stop(server_t *s)
{
    int status = 0;
    waitpid(s->pid, &status, 0);
    FILE *f = fopen(s->log_path, "r");
    size_t n = f ? fread(s->requests, 1, sizeof s->requests - 1, f) : 0;
    s->requests[n] = '\0';
    if (f)
        fclose(f);
    unlink(s->path);
    unlink(s->log_path);
    rmdir(s->dir);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

#define JSON_OK "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n{\"status\":\"ok\"}"

ED_TEST(codes_match_edged_error_table)
{
    ED_CHECK_INT(ED_CLIENT_EINVAL, ED_EINVAL);
    ED_CHECK_INT(ED_CLIENT_ENOMEM, ED_ENOMEM);
    ED_CHECK_INT(ED_CLIENT_EIO, ED_EIO);
    ED_CHECK_INT(ED_CLIENT_ENOENT, ED_ENOENT);
    ED_CHECK_INT(ED_CLIENT_EACCES, ED_EACCES);
    ED_CHECK_INT(ED_CLIENT_EFORMAT, ED_EFORMAT);
    ED_CHECK_INT(ED_CLIENT_ETIMEDOUT, ED_ETIMEDOUT);
    ED_CHECK_INT(ED_CLIENT_ECANCELED, ED_ECANCELED);
    ED_CHECK_INT(ED_CLIENT_ETOOBIG, ED_ETOOBIG);
    ED_CHECK_INT(ED_CLIENT_ECLOSED, ED_ECLOSED);
    ED_CHECK_INT(ED_CLIENT_EANSWER, ED_EANSWER);
    ED_CHECK_STR(ed_client_strerror(ED_CLIENT_ETIMEDOUT), "timed out");
}

ED_TEST(default_socket_follows_environment)
{
    unsetenv("EDGED_SOCKET");
    ED_CHECK_STR(ed_client_default_socket(NULL), "/run/edged/edged.sock");
    setenv("EDGED_SOCKET", "/tmp/x.sock", 1);
    ED_CHECK_STR(ed_client_default_socket(NULL), "/tmp/x.sock");
    ED_CHECK_STR(ed_client_default_socket(""), "/tmp/x.sock");
    ED_CHECK_STR(ed_client_default_socket("/a/b"), "/a/b");
}

ED_TEST(content_length_response)
{
    reply_t replies[] = {REPLY(JSON_OK)};
    server_t s;
    server_start(&s, replies, 1);
    char err[ED_CLIENT_ERR_LEN] = "";
    ed_client_t *c = NULL;
    ED_REQUIRE(ed_client_open(&c, s.path, 2000, err) == 0);
    ed_client_response_t resp = {0};
    ED_CHECK_INT(ed_client_request(c, "GET", "/health", NULL, 0, NULL, 0, &resp, err), 0);
    ED_CHECK_INT(resp.status, 200);
    ED_CHECK_STR(resp.body, "{\"status\":\"ok\"}");
    ED_CHECK_INT(resp.body_len, 15);
    ED_CHECK_STR(ed_client_response_header(&resp, "content-type"), "application/json");
    ED_CHECK(ed_client_response_header(&resp, "X-Missing") == NULL);
    ed_client_response_free(&resp);
    ed_client_close(c);
    ED_CHECK_INT(server_stop(&s), 1);
}

ED_TEST(request_carries_headers_and_body)
{
    reply_t replies[] = {REPLY(JSON_OK)};
    server_t s;
    server_start(&s, replies, 1);
    char err[ED_CLIENT_ERR_LEN] = "";
    ed_client_t *c = NULL;
    ED_REQUIRE(ed_client_open(&c, s.path, 2000, err) == 0);
    ed_client_header_t h[] = {{"Content-Type", "application/json"}, {"X-Request-Id", "abc-1"}};
    ed_client_response_t resp = {0};
    ED_CHECK_INT(ed_client_request(c, "POST", "/v1/x", h, 2, "{\"a\":1}", 7, &resp, err), 0);
    ed_client_response_free(&resp);
    ed_client_close(c);
    ED_CHECK_INT(server_stop(&s), 1);
    const char *log = s.requests;
    ED_CHECK(strncmp(log, "POST /v1/x HTTP/1.1\r\nHost: localhost\r\n", 38) == 0);
    ED_CHECK(strstr(log, "\r\nContent-Length: 7\r\n") != NULL);
    ED_CHECK(strstr(log, "\r\nX-Request-Id: abc-1\r\n") != NULL);
    ED_CHECK(strstr(log, "\r\n\r\n{\"a\":1}") != NULL);
}

ED_TEST(rejects_header_injection)
{
    reply_t replies[] = {REPLY(JSON_OK)};
    server_t s;
    server_start(&s, replies, 1);
    char err[ED_CLIENT_ERR_LEN] = "";
    ed_client_t *c = NULL;
    ED_REQUIRE(ed_client_open(&c, s.path, 2000, err) == 0);
    ed_client_header_t bad[] = {{"X-A", "1\r\nX-Injected: 2"}};
    ed_client_response_t resp = {0};
    ED_CHECK_INT(ed_client_request(c, "GET", "/health", bad, 1, NULL, 0, &resp, err),
                 ED_CLIENT_EINVAL);
    ED_CHECK_INT(ed_client_request(c, "GET", "/a b", NULL, 0, NULL, 0, &resp, err),
                 ED_CLIENT_EINVAL);
    ED_CHECK_INT(ed_client_request(c, "GET", "/health", NULL, 0, NULL, 0, &resp, err), 0);
    ed_client_response_free(&resp);
    ed_client_close(c);
    server_stop(&s);
}

ED_TEST(chunked_response_split_across_reads)
{
    reply_t replies[] = {REPLY("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Enc",
                           "oding: chunked\r\n\r\n5\r\nhel", "lo\r\n6\r\n world\r\n0",
                           "\r\n\r\n")};
    server_t s;
    server_start(&s, replies, 1);
    char err[ED_CLIENT_ERR_LEN] = "";
    ed_client_t *c = NULL;
    ED_REQUIRE(ed_client_open(&c, s.path, 2000, err) == 0);
    ed_client_response_t resp = {0};
    ED_CHECK_INT(ed_client_request(c, "GET", "/metrics", NULL, 0, NULL, 0, &resp, err), 0);
    ED_CHECK_INT(resp.status, 200);
    ED_CHECK_STR(resp.body, "hello world");
    ed_client_response_free(&resp);
    ed_client_close(c);
    ED_CHECK_INT(server_stop(&s), 1);
}

ED_TEST(close_delimited_response)
{
    reply_t replies[] = {REPLY_CLOSE("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil ", "the end"),
                         REPLY(JSON_OK)};
    server_t s;
    server_start(&s, replies, 2);
    char err[ED_CLIENT_ERR_LEN] = "";
    ed_client_t *c = NULL;
    ED_REQUIRE(ed_client_open(&c, s.path, 2000, err) == 0);
    ed_client_response_t resp = {0};
    ED_CHECK_INT(ed_client_request(c, "GET", "/a", NULL, 0, NULL, 0, &resp, err), 0);
    ED_CHECK_STR(resp.body, "until the end");
    ED_CHECK_INT(ed_client_request(c, "GET", "/b", NULL, 0, NULL, 0, &resp, err), 0);
    ED_CHECK_INT(resp.status, 200);
    ed_client_response_free(&resp);
    ed_client_close(c);
    ED_CHECK_INT(server_stop(&s), 2);
}

ED_TEST(keep_alive_reuses_connection)
{
    reply_t replies[] = {REPLY(JSON_OK),
                         REPLY(JSON_OK),
                         REPLY(JSON_OK)};
    server_t s;
    server_start(&s, replies, 3);
    char err[ED_CLIENT_ERR_LEN] = "";
    ed_client_t *c = NULL;
    ED_REQUIRE(ed_client_open(&c, s.path, 2000, err) == 0);
    ed_client_response_t resp = {0};
    for (int i = 0; i < 3; i++) {
        ED_CHECK_INT(ed_client_request(c, "GET", "/health", NULL, 0, NULL, 0, &resp, err), 0);
        ED_CHECK_INT(resp.status, 200);
    }
    ed_client_response_free(&resp);
    ed_client_close(c);
    ED_CHECK_INT(server_stop(&s), 1);
}

ED_TEST(connection_close_reconnects)
{
    reply_t replies[] = {REPLY_CLOSE("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"),
                         REPLY(JSON_OK)};
    server_t s;
    server_start(&s, replies, 2);
    char err[ED_CLIENT_ERR_LEN] = "";
    ed_client_t *c = NULL;
    ED_REQUIRE(ed_client_open(&c, s.path, 2000, err) == 0);
    ed_client_response_t resp = {0};
    ED_CHECK_INT(ed_client_request(c, "GET", "/a", NULL, 0, NULL, 0, &resp, err), 0);
    ED_CHECK_STR(resp.body, "ok");
    ED_CHECK_INT(ed_client_request(c, "GET", "/b", NULL, 0, NULL, 0, &resp, err), 0);
    ED_CHECK_INT(resp.body_len, 15);
    ed_client_response_free(&resp);
    ed_client_close(c);
    ED_CHECK_INT(server_stop(&s), 2);
}

ED_TEST(idle_close_by_server_is_retried_once)
{
    /* The server drops a kept connection silently (as edged's idle timeout does). */
    reply_t replies[] = {REPLY_CLOSE("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
                         REPLY(JSON_OK)};
    server_t s;
    server_start(&s, replies, 2);
    char err[ED_CLIENT_ERR_LEN] = "";
    ed_client_t *c = NULL;
    ED_REQUIRE(ed_client_open(&c, s.path, 2000, err) == 0);
    ed_client_response_t resp = {0};
    ED_CHECK_INT(ed_client_request(c, "GET", "/a", NULL, 0, NULL, 0, &resp, err), 0);
    pause_ms(50);
    ED_CHECK_INT(ed_client_request(c, "GET", "/b", NULL, 0, NULL, 0, &resp, err), 0);
    ED_CHECK_INT(resp.status, 200);
    ed_client_response_free(&resp);
    ed_client_close(c);
    ED_CHECK_INT(server_stop(&s), 2);
}

typedef struct {
    int n;
    char events[8][64];
    char types[8][16];
    int stop_after; /* 0: never stop */
} events_t;

static int record_event(void *user, const char *event, const char *data, size_t len)
{
    events_t *e = user;
    if (e->n < 8) {
        snprintf(e->events[e->n], sizeof e->events[0], "%.*s", (int)len, data);
        snprintf(e->types[e->n], sizeof e->types[0], "%s", event);
    }
    e->n++;
    return e->stop_after && e->n >= e->stop_after;
}

#define SSE_HEAD "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"

ED_TEST(sse_events_split_across_reads)
{
    reply_t replies[] = {REPLY(SSE_HEAD "11\r\ndata: {\"a\":1}\n\nda\r\n",
                           "17\r\nta: {\"b\":2}\r\n\r\n: ping\r\n\r\n",
                           "2b\r\nevent: note\ndata: line1\ndata: line2\n\nid: 7\n\r\n",
                           "e\r\ndata: [DONE]\n\n\r\n0\r\n\r\n"),
                         REPLY(JSON_OK)};
    server_t s;
    server_start(&s, replies, 2);
    char err[ED_CLIENT_ERR_LEN] = "";
    ed_client_t *c = NULL;
    ED_REQUIRE(ed_client_open(&c, s.path, 2000, err) == 0);
    events_t ev = {0};
    ed_client_response_t resp = {0};
    int rc = ed_client_stream(c, "POST", "/v1/completions", NULL, 0, "{}", 2, record_event, &ev,
                              &resp, err);
    ED_CHECK_INT(rc, 0);
    if (rc)
        printf("# %s\n", err);
    ED_CHECK_INT(resp.status, 200);
    ED_CHECK(resp.body == NULL);
    ED_REQUIRE(ev.n == 4);
    ED_CHECK_STR(ev.events[0], "{\"a\":1}");
    ED_CHECK_STR(ev.events[1], "{\"b\":2}");
    ED_CHECK_STR(ev.events[2], "line1\nline2");
    ED_CHECK_STR(ev.types[2], "note");
    ED_CHECK_STR(ev.types[1], "message");
    ED_CHECK_STR(ev.events[3], "[DONE]");
    /* the connection is still good after the stream */
    ED_CHECK_INT(ed_client_request(c, "GET", "/health", NULL, 0, NULL, 0, &resp, err), 0);
    ED_CHECK_INT(resp.status, 200);
    ed_client_response_free(&resp);
    ed_client_close(c);
    ED_CHECK_INT(server_stop(&s), 1);
    ED_CHECK(strstr(s.requests, "\r\nAccept: text/event-stream\r\n") != NULL);
}

ED_TEST(sse_callback_can_stop_the_stream)
{
    reply_t replies[] = {REPLY(SSE_HEAD "1b\r\ndata: 1\n\ndata: 2\n\ndata: 3\n\n\r\n", "0\r\n\r\n")};
    server_t s;
    server_start(&s, replies, 1);
    char err[ED_CLIENT_ERR_LEN] = "";
    ed_client_t *c = NULL;
    ED_REQUIRE(ed_client_open(&c, s.path, 2000, err) == 0);
    events_t ev = {.stop_after = 2};
    ed_client_response_t resp = {0};
    ED_CHECK_INT(ed_client_stream(c, "GET", "/s", NULL, 0, NULL, 0, record_event, &ev, &resp, err),
                 ED_CLIENT_ECANCELED);
    ED_CHECK_INT(ev.n, 2);
    ed_client_response_free(&resp);
    ed_client_close(c);
    server_stop(&s);
}

ED_TEST(error_json_is_a_response_not_a_failure)
{
    const char *body = "{\"error\": {\"message\": \"too big\", \"type\": \"invalid_request_error\", "
                       "\"code\": \"body_too_large\"}}";
    char reply[512];
    snprintf(reply, sizeof reply,
             "HTTP/1.1 413 Payload Too Large\r\nContent-Type: application/json\r\n"
             "Connection: close\r\nContent-Length: %zu\r\n\r\n%s",
             strlen(body), body);
    reply_t replies[] = {REPLY_CLOSE(reply)};
    server_t s;
    server_start(&s, replies, 1);
    char err[ED_CLIENT_ERR_LEN] = "";
    ed_client_t *c = NULL;
    ED_REQUIRE(ed_client_open(&c, s.path, 2000, err) == 0);
    events_t ev = {0};
    ed_client_response_t resp = {0};
    /* through the stream call: a non-stream answer keeps its body */
    ED_CHECK_INT(ed_client_stream(c, "POST", "/v1/x", NULL, 0, "x", 1, record_event, &ev, &resp, err),
                 0);
    ED_CHECK_INT(resp.status, 413);
    ED_CHECK_STR(resp.body, body);
    ED_CHECK_INT(ev.n, 0);
    ed_client_response_free(&resp);
    ed_client_close(c);
    server_stop(&s);
}

/* `data` framed as one chunk of a chunked body, into out[size]. */
static const char *chunk(char *out, size_t size, const char *data)
{
    snprintf(out, size, "%zx\r\n%s\r\n", strlen(data), data);
    return out;
}

static int record_data(void *user, const char *data, size_t len)
{
    return record_event(user, "message", data, len);
}

ED_TEST(completion_stream_stops_at_done)
{
    char c1[64], c2[128];
    reply_t replies[] = {REPLY(SSE_HEAD, chunk(c1, sizeof c1, "data: {\"c\":1}\n\n"),
                               chunk(c2, sizeof c2, "data: {\"c\":2}\n\ndata: [DONE]\n\ndata: late\n\n"),
                               "0\r\n\r\n"),
                         REPLY(JSON_OK)};
    server_t s;
    server_start(&s, replies, 2);
    char err[ED_CLIENT_ERR_LEN] = "";
    ed_client_t *c = NULL;
    ED_REQUIRE(ed_client_open(&c, s.path, 2000, err) == 0);
    events_t ev = {0};
    ed_client_response_t resp = {0};
    const char *body = "{\"prompt\":\"hi\",\"stream\":true}";
    int rc = ed_client_complete(c, "/v1/completions", body, strlen(body), record_data, &ev, &resp, err);
    ED_CHECK_INT(rc, 0);
    if (rc)
        printf("# %s\n", err);
    ED_CHECK_INT(resp.status, 200);
    ED_REQUIRE(ev.n == 2); /* [DONE] and what follows it are not delivered */
    ED_CHECK_STR(ev.events[0], "{\"c\":1}");
    ED_CHECK_STR(ev.events[1], "{\"c\":2}");
    /* the connection is still good after the stream */
    ED_CHECK_INT(ed_client_request(c, "GET", "/health", NULL, 0, NULL, 0, &resp, err), 0);
    ED_CHECK_INT(resp.status, 200);
    ed_client_response_free(&resp);
    ed_client_close(c);
    ED_CHECK_INT(server_stop(&s), 1);
    ED_CHECK(strncmp(s.requests, "POST /v1/completions HTTP/1.1\r\n", 31) == 0);
    ED_CHECK(strstr(s.requests, "\r\nContent-Type: application/json\r\n") != NULL);
    ED_CHECK(strstr(s.requests, "\r\nAccept: text/event-stream\r\n") != NULL);
    ED_CHECK(strstr(s.requests, "\r\n\r\n{\"prompt\":\"hi\",\"stream\":true}") != NULL);
}

ED_TEST(completion_callback_can_stop_the_stream)
{
    char c1[64];
    reply_t replies[] = {REPLY(SSE_HEAD, chunk(c1, sizeof c1, "data: 1\n\ndata: 2\n\ndata: 3\n\n"),
                               "0\r\n\r\n")};
    server_t s;
    server_start(&s, replies, 1);
    char err[ED_CLIENT_ERR_LEN] = "";
    ed_client_t *c = NULL;
    ED_REQUIRE(ed_client_open(&c, s.path, 2000, err) == 0);
    events_t ev = {.stop_after = 1};
    ed_client_response_t resp = {0};
    ED_CHECK_INT(ed_client_complete(c, "/v1/chat/completions", "{}", 2, record_data, &ev, &resp, err),
                 ED_CLIENT_ECANCELED);
    ED_CHECK_INT(ev.n, 1);
    ed_client_response_free(&resp);
    ed_client_close(c);
    server_stop(&s);
}

/* A reply `status` with a JSON (or text) `body`, into out[size]. */
static const char *error_reply(char *out, size_t size, const char *status, const char *type,
                               const char *body)
{
    snprintf(out, size, "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n\r\n%s", status,
             type, strlen(body), body);
    return out;
}

ED_TEST(completion_error_answer_carries_the_message)
{
    char busy[512], bad[512], plain[256];
    reply_t replies[] = {
        REPLY(error_reply(busy, sizeof busy, "503 Service Unavailable", "application/json",
                          "{\"error\": {\"type\": \"unavailable_error\", \"code\": \"queue_full\", "
                          "\"message\" : \"queue \\\"full\\\"\\tcaf\\u00e9 \\ud83d\\ude00\\n\"}}")),
        REPLY(error_reply(bad, sizeof bad, "400 Bad Request", "application/json",
                          "{\"error\":{\"message\":\"max_tokens: expected an integer\","
                          "\"type\":\"invalid_request_error\",\"param\":\"max_tokens\"}}")),
        REPLY(error_reply(plain, sizeof plain, "500 Internal Server Error", "text/plain",
                          "oops\nsecond line")),
    };
    server_t s;
    server_start(&s, replies, 3);
    char err[ED_CLIENT_ERR_LEN] = "";
    ed_client_t *c = NULL;
    ED_REQUIRE(ed_client_open(&c, s.path, 2000, err) == 0);
    events_t ev = {0};
    ed_client_response_t resp = {0};
    ED_CHECK_INT(ed_client_complete(c, "/v1/chat/completions", "{}", 2, record_data, &ev, &resp, err),
                 ED_CLIENT_EANSWER);
    ED_CHECK_STR(err, "queue \"full\"\tcaf\xc3\xa9 \xf0\x9f\x98\x80\n");
    ED_CHECK_INT(resp.status, 503);
    ED_CHECK(resp.body && strstr(resp.body, "queue_full") != NULL);
    ED_CHECK_INT(ed_client_complete(c, "/v1/completions", "{}", 2, record_data, &ev, &resp, err),
                 ED_CLIENT_EANSWER);
    ED_CHECK_STR(err, "max_tokens: expected an integer");
    ED_CHECK_INT(resp.status, 400);
    ED_CHECK_INT(ed_client_complete(c, "/v1/completions", "{}", 2, record_data, &ev, &resp, err),
                 ED_CLIENT_EANSWER);
    ED_CHECK_STR(err, "HTTP 500: oops");
    ED_CHECK_INT(ev.n, 0);
    ED_CHECK_STR(ed_client_strerror(ED_CLIENT_EANSWER), "the server answered with an error");
    ed_client_response_free(&resp);
    ed_client_close(c);
    server_stop(&s);
}

ED_TEST(completion_long_message_is_cut_at_a_character)
{
    char body[1024] = "{\"error\":{\"message\":\"";
    for (int i = 0; i < 200; i++)
        strcat(body, "\xc3\xa9"); /* 400 bytes of two-byte characters */
    strcat(body, "\"}}");
    char reply[1200];
    reply_t replies[] = {REPLY(error_reply(reply, sizeof reply, "503 Service Unavailable",
                                           "application/json", body))};
    server_t s;
    server_start(&s, replies, 1);
    char err[ED_CLIENT_ERR_LEN] = "";
    ed_client_t *c = NULL;
    ED_REQUIRE(ed_client_open(&c, s.path, 2000, err) == 0);
    events_t ev = {0};
    ed_client_response_t resp = {0};
    ED_CHECK_INT(ed_client_complete(c, "/v1/completions", "{}", 2, record_data, &ev, &resp, err),
                 ED_CLIENT_EANSWER);
    ED_CHECK_INT(strlen(err), ED_CLIENT_ERR_LEN - 2); /* 127 whole characters */
    ED_CHECK(strncmp(err, "\xc3\xa9\xc3\xa9", 4) == 0);
    ed_client_response_free(&resp);
    ed_client_close(c);
    server_stop(&s);
}

ED_TEST(completion_without_done_or_stream_is_an_error)
{
    char c1[64];
    reply_t replies[] = {REPLY(SSE_HEAD, chunk(c1, sizeof c1, "data: {\"c\":1}\n\n"), "0\r\n\r\n"),
                         REPLY(JSON_OK)};
    server_t s;
    server_start(&s, replies, 2);
    char err[ED_CLIENT_ERR_LEN] = "";
    ed_client_t *c = NULL;
    ED_REQUIRE(ed_client_open(&c, s.path, 2000, err) == 0);
    events_t ev = {0};
    ed_client_response_t resp = {0};
    ED_CHECK_INT(ed_client_complete(c, "/v1/completions", "{}", 2, record_data, &ev, &resp, err),
                 ED_CLIENT_ECLOSED);
    ED_CHECK(strstr(err, "without data: [DONE]") != NULL);
    ED_CHECK_INT(ev.n, 1);
    ED_CHECK_INT(ed_client_complete(c, "/v1/completions", "{}", 2, record_data, &ev, &resp, err),
                 ED_CLIENT_EFORMAT);
    ED_CHECK(strstr(err, "expected an event stream, got HTTP 200 (application/json)") != NULL);
    ED_CHECK_STR(resp.body, "{\"status\":\"ok\"}");
    ED_CHECK_INT(ed_client_complete(c, "/v1/completions", NULL, 0, record_data, &ev, &resp, err),
                 ED_CLIENT_EINVAL);
    ed_client_response_free(&resp);
    ed_client_close(c);
    server_stop(&s);
}

ED_TEST(informational_response_is_skipped)
{
    reply_t replies[] = {REPLY("HTTP/1.1 100 Continue\r\n\r\n", JSON_OK)};
    server_t s;
    server_start(&s, replies, 1);
    char err[ED_CLIENT_ERR_LEN] = "";
    ed_client_t *c = NULL;
    ED_REQUIRE(ed_client_open(&c, s.path, 2000, err) == 0);
    ed_client_response_t resp = {0};
    ED_CHECK_INT(ed_client_request(c, "POST", "/x", NULL, 0, "", 0, &resp, err), 0);
    ED_CHECK_INT(resp.status, 200);
    ED_CHECK_INT(resp.n_headers, 2);
    ed_client_response_free(&resp);
    ed_client_close(c);
    server_stop(&s);
}

ED_TEST(silent_server_times_out)
{
    reply_t replies[] = {{.silent = 1}};
    server_t s;
    server_start(&s, replies, 1);
    char err[ED_CLIENT_ERR_LEN] = "";
    ed_client_t *c = NULL;
    ED_REQUIRE(ed_client_open(&c, s.path, 200, err) == 0);
    ed_client_response_t resp = {0};
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ED_CHECK_INT(ed_client_request(c, "GET", "/health", NULL, 0, NULL, 0, &resp, err),
                 ED_CLIENT_ETIMEDOUT);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double elapsed = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    ED_CHECK(elapsed >= 0.19 && elapsed < 1.5);
    ED_CHECK(strstr(err, "no response within 200 ms") != NULL);
    ed_client_response_free(&resp);
    ed_client_close(c);
    server_stop(&s);
}

/* One GET answered by `raw` (then the server closes) fails with `code` and
 * an error message holding `message`. */
static void check_reply_fails(const char *raw, int code, const char *message)
{
    reply_t replies[] = {REPLY_CLOSE(raw)};
    server_t s;
    server_start(&s, replies, 1);
    char err[ED_CLIENT_ERR_LEN] = "";
    ed_client_t *c = NULL;
    ED_REQUIRE(ed_client_open(&c, s.path, 2000, err) == 0);
    ed_client_response_t resp = {0};
    ED_CHECK_INT(ed_client_request(c, "GET", "/a", NULL, 0, NULL, 0, &resp, err), code);
    ED_CHECK(strstr(err, message) != NULL);
    ed_client_response_free(&resp);
    ed_client_close(c);
    server_stop(&s);
}

ED_TEST(truncated_response_is_an_error)
{
    check_reply_fails("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", ED_CLIENT_ECLOSED,
                      "before the response was complete");
}

ED_TEST(malformed_response_is_an_error)
{
    check_reply_fails("HTTP/1.1 2x0 OK\r\n\r\n", ED_CLIENT_EFORMAT, "malformed response");
}

ED_TEST(missing_socket_names_the_path)
{
    char err[ED_CLIENT_ERR_LEN] = "";
    ed_client_t *c = NULL;
    ED_CHECK_INT(ed_client_open(&c, "/nonexistent/edged.sock", 500, err), ED_CLIENT_ENOENT);
    ED_CHECK(c == NULL);
    ED_CHECK_STR(err, "cannot connect to /nonexistent/edged.sock: no such socket");
}

ED_TEST(socket_nobody_listens_on_is_refused)
{
    char dir[] = "/tmp/edgeclient-test-XXXXXX", path[64];
    ED_REQUIRE(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/sock", dir);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path);
    ED_REQUIRE(bind(fd, (struct sockaddr *)&addr, sizeof addr) == 0);
    close(fd); /* bound, never listened: a stale socket */
    char err[ED_CLIENT_ERR_LEN] = "";
    ed_client_t *c = NULL;
    ED_CHECK_INT(ed_client_open(&c, path, 500, err), ED_CLIENT_EIO);
    ED_CHECK(strstr(err, "connection refused") != NULL);
    unlink(path);
    rmdir(dir);
}

ED_TEST_MAIN(codes_match_edged_error_table, default_socket_follows_environment,
             content_length_response, request_carries_headers_and_body, rejects_header_injection,
             chunked_response_split_across_reads, close_delimited_response,
             keep_alive_reuses_connection, connection_close_reconnects,
             idle_close_by_server_is_retried_once, sse_events_split_across_reads,
             sse_callback_can_stop_the_stream, error_json_is_a_response_not_a_failure,
             completion_stream_stops_at_done, completion_callback_can_stop_the_stream,
             completion_error_answer_carries_the_message,
             completion_long_message_is_cut_at_a_character,
             completion_without_done_or_stream_is_an_error,
             informational_response_is_skipped, silent_server_times_out,
             truncated_response_is_an_error, malformed_response_is_an_error,
             missing_socket_names_the_path, socket_nobody_listens_on_is_refused)
