/* Tests daemon/http/http.c: the request parser's events, limits and the
 * smuggling shapes, fed whole and byte by byte. */
#include "http/http.h"
#include "../../test.h"

static const ed_http_limits_t limits = {
    .max_header_bytes = 1024, .max_headers = 8, .max_url_bytes = 64, .max_body_bytes = 100};

typedef struct {
    ed_http_event_t ev;
    int status;
    const char *code;
    size_t consumed;
    char path[128], body[256];
    size_t body_len;
} outcome_t;

/* Feeds `text` in pieces of `step` bytes (0: all at once) until an event. */
static outcome_t parse(const char *text, size_t step)
{
    outcome_t out = {0};
    ed_http_parser_t *p = ed_http_parser_new(&limits, NULL, NULL);
    ed_request_t req = {0};
    size_t len = strlen(text), pos = 0;
    out.ev = ED_HTTP_NEED_MORE;
    while (pos < len && out.ev == ED_HTTP_NEED_MORE) {
        size_t n = step && len - pos > step ? step : len - pos, used;
        out.ev = ed_http_parser_feed(p, &req, text + pos, n, &used);
        pos += used;
    }
    out.consumed = pos;
    if (out.ev == ED_HTTP_FAILED) {
        const char *msg;
        out.status = ed_http_parser_error(p, &out.code, &msg);
    }
    if (out.ev == ED_HTTP_MESSAGE) {
        snprintf(out.path, sizeof out.path, "%s", req.path);
        out.body_len = req.body_len;
        memcpy(out.body, req.body, req.body_len < sizeof out.body ? req.body_len : sizeof out.body);
    }
    ed_http_parser_free(p);
    return out;
}

static void expect_status(const char *text, int status)
{
    for (size_t step = 0; step <= 1; step++) {
        outcome_t o = parse(text, step);
        if (o.ev != ED_HTTP_FAILED || o.status != status)
            printf("#   step %zu: %.40s... -> ev %d status %d (want %d)\n", step, text, o.ev, o.status, status);
        ED_CHECK_INT(o.ev, ED_HTTP_FAILED);
        ED_CHECK_INT(o.status, status);
    }
}

ED_TEST(simple_and_fragmented)
{
    for (size_t step = 0; step <= 3; step++) {
        outcome_t o = parse("POST /v1/x?a=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello", step);
        ED_CHECK_INT(o.ev, ED_HTTP_MESSAGE);
        ED_CHECK_STR(o.path, "/v1/x");
        ED_CHECK_INT(o.body_len, 5);
        ED_CHECK(memcmp(o.body, "hello", 5) == 0);
    }
}

ED_TEST(chunked_body)
{
    outcome_t o = parse("POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n", 1);
    ED_CHECK_INT(o.ev, ED_HTTP_MESSAGE);
    ED_CHECK_INT(o.body_len, 5);
    ED_CHECK(memcmp(o.body, "abcde", 5) == 0);
}

ED_TEST(pipelined_requests_stop_after_each)
{
    const char *two = "GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n";
    outcome_t o = parse(two, 0);
    ED_CHECK_INT(o.ev, ED_HTTP_MESSAGE);
    ED_CHECK_STR(o.path, "/a");
    ED_CHECK_INT(o.consumed, strlen("GET /a HTTP/1.1\r\n\r\n"));
}

ED_TEST(limits_give_their_status)
{
    char big[2048];
    snprintf(big, sizeof big, "GET / HTTP/1.1\r\nX-Big: %01100d\r\n\r\n", 0);
    expect_status(big, 431);
    expect_status("GET / HTTP/1.1\r\nA: 1\r\nB: 1\r\nC: 1\r\nD: 1\r\nE: 1\r\nF: 1\r\nG: 1\r\nH: 1\r\nI: 1\r\n\r\n", 431);
    snprintf(big, sizeof big, "GET /%070d HTTP/1.1\r\n\r\n", 0);
    expect_status(big, 414);
    expect_status("POST / HTTP/1.1\r\nContent-Length: 101\r\n\r\n", 413);
    expect_status("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n65\r\n", 413); /* 0x65 = 101 */
    expect_status("POST / HTTP/1.1\r\n\r\n", 411);
    expect_status("PUT / HTTP/1.1\r\n\r\n", 411);
}

ED_TEST(smuggling_shapes_are_rejected)
{
    expect_status("POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400);
    expect_status("POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", 400);
    expect_status("GET / HTTP/1.1\nHost: a\n\n", 400);
    expect_status("GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n", 400);
    expect_status("GET / HTTP/1.1\r\nX: a\r\n  folded\r\n\r\n", 400);
    expect_status("GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400);
    expect_status("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400);
    expect_status("POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400);
    expect_status("GET / HTTP/9.9\r\n\r\n", 505);
    expect_status("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400);
    expect_status("\x01\x02garbage\r\n\r\n", 400);
}

ED_TEST_MAIN(simple_and_fragmented, chunked_body, pipelined_requests_stop_after_each, limits_give_their_status,
             smuggling_shapes_are_rejected)
