"""test_limits.py - every limit and framing error of API.md answers its
documented status and JSON error body, and closes where it must: 431 (header
bytes, header count), 414, 413 (from Content-Length before the body; chunked),
411, 503 beyond max_connections, 408 (header and body timeouts, slowloris),
idle close, and 400 + close for each request-smuggling shape.
"""
import socket
import time

import pytest

from conftest import Closed, assert_error, check_common, request_bytes, responses_from_bytes


def read_error(conn, method, target, status, timeout=5.0):
    r = check_common(conn.read_response(timeout=timeout), method, target)
    assert_error(r, status)
    return r


def read_error_and_close(conn, method, target, status, timeout=5.0):
    """The error response, Connection: close, then EOF with nothing after it."""
    r = read_error(conn, method, target, status, timeout)
    assert r.closes, f"{status} must say Connection: close: {r!r}"
    conn.assert_closed(3)
    return r


# ------------------------------------------------------------ header limits ----

def test_header_bytes_431(daemon):
    d = daemon({"server.max_header_bytes": 1024})
    assert d.request("GET", "/health", [("X-Fill", "a" * 600)]).status == 200  # under the limit
    with d.connect() as c:
        c.send(request_bytes("GET", "/health", [("X-Fill", "a" * 2000)]))
        r = read_error_and_close(c, "GET", "/health", 431)
        assert "1024" in r.json["error"]["message"], r.json


def test_header_bytes_431_over_many_headers(daemon):
    d = daemon({"server.max_header_bytes": 1024, "server.max_headers": 64})
    with d.connect() as c:
        c.send(request_bytes("GET", "/health", [(f"X-H{i}", "v" * 40) for i in range(30)]))
        read_error_and_close(c, "GET", "/health", 431)


def test_header_bytes_431_before_the_head_ends(daemon):
    """A head that never ends is refused once it passes the limit, not at a timeout."""
    d = daemon({"server.max_header_bytes": 1024, "server.header_timeout_ms": 30000})
    with d.connect() as c:
        c.send(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Fill: " + b"a" * 4096)
        t0 = time.monotonic()
        read_error_and_close(c, "GET", "/health", 431, timeout=5)
        assert time.monotonic() - t0 < 3


def test_header_count_431(daemon):
    d = daemon({"server.max_headers": 8})
    assert d.request("GET", "/health", [(f"X-H{i}", "v") for i in range(5)]).status == 200
    with d.connect() as c:
        c.send(request_bytes("GET", "/health", [(f"X-H{i}", "v") for i in range(20)]))
        r = read_error_and_close(c, "GET", "/health", 431)
        assert "8" in r.json["error"]["message"]


def test_default_header_limits(daemon):
    d = daemon()
    assert d.request("GET", "/health", [(f"X-H{i}", "v") for i in range(60)]).status == 200
    with d.connect() as c:
        c.send(request_bytes("GET", "/health", [(f"X-H{i}", "v") for i in range(70)]))
        read_error_and_close(c, "GET", "/health", 431)
    with d.connect() as c:
        c.send(request_bytes("GET", "/health", [("X-Fill", "a" * 17000)]))
        read_error_and_close(c, "GET", "/health", 431)


def test_uri_too_long_414(daemon):
    d = daemon({"server.max_url_bytes": 256})
    assert_error(d.request("GET", "/" + "a" * 200), 404)  # under the limit: just not found
    with d.connect() as c:
        target = "/health?" + "q" * 400
        c.send(request_bytes("GET", target))
        r = check_common(c.read_response(), "GET", "/health")
        assert_error(r, 414)
        assert "256" in r.json["error"]["message"]
        if r.closes:
            c.assert_closed(3)


def test_default_uri_limit_414(daemon):
    d = daemon()
    with d.connect() as c:
        c.send(request_bytes("GET", "/" + "a" * 9000))
        assert_error(check_common(c.read_response(), "GET", "/x"), 414)


# ------------------------------------------------------------------ bodies ----

def test_body_too_large_413_decided_before_the_body(daemon):
    d = daemon()  # default max_body_bytes 8388608
    with d.connect() as c:
        # Only the head: the answer must come without the body being sent.
        c.send(b"POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 9000000\r\n\r\n")
        t0 = time.monotonic()
        r = read_error_and_close(c, "POST", "/health", 413, timeout=3)
        assert time.monotonic() - t0 < 2
        assert "8388608" in r.json["error"]["message"], r.json


def test_body_too_large_413_on_get(daemon):
    d = daemon({"server.max_body_bytes": 100})
    assert d.request("GET", "/health", body=b"x" * 100).status == 200  # exactly the limit
    with d.connect() as c:
        c.send(b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: 101\r\n\r\n")
        read_error_and_close(c, "GET", "/health", 413, timeout=3)


def test_huge_content_length_413(daemon):
    d = daemon()
    with d.connect() as c:
        c.send(b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: 18446744073709551615\r\n\r\n")
        r = c.read_response(timeout=3)
        assert r.status in (400, 413), r
        check_common(r, "GET", "/health")
        assert r.closes
        c.assert_closed(3)


def test_chunked_body_too_large_413(daemon):
    d = daemon({"server.max_body_bytes": 1024})
    with d.connect() as c:
        c.send(b"GET /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        c.send(b"300\r\n" + b"a" * 0x300 + b"\r\n")   # 768 bytes: still fine
        c.send(b"300\r\n" + b"b" * 0x300 + b"\r\n")   # 1536: over
        read_error_and_close(c, "GET", "/health", 413, timeout=3)


def test_chunked_body_within_limit(daemon):
    d = daemon({"server.max_body_bytes": 1024})
    with d.connect() as c:
        c.send(b"GET /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
               + (b"200\r\n" + b"a" * 0x200 + b"\r\n") * 2 + b"0\r\n\r\n")
        assert check_common(c.read_response(), "GET", "/health").status == 200


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH"])
def test_length_required_411(daemon, method):
    d = daemon()
    with d.connect() as c:
        c.send(f"{method} /health HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        r = check_common(c.read_response(), method, "/health")
        assert_error(r, 411)
        assert "Content-Length" in r.json["error"]["message"] or "length" in r.json["error"]["message"].lower()


def test_post_with_content_length_0_is_not_411(daemon):
    d = daemon()
    with d.connect() as c:
        c.send(b"POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        assert_error(check_common(c.read_response(), "POST", "/health"), 405)


# ------------------------------------------------------------- connections ----

def test_too_many_connections_503(daemon):
    d = daemon({"server.max_connections": 4})
    held = [d.connect() for _ in range(4)]
    try:
        for c in held:  # each is accepted and served
            assert d.request("GET", "/health", conn=c).status == 200
        with d.connect() as extra:
            extra.send(request_bytes("GET", "/health"))
            r = check_common(extra.read_response(timeout=3), "GET", "/health")
            assert_error(r, 503, "too_many_connections")
            assert r.header("retry-after") == "1", r
            assert r.closes, r
            extra.assert_closed(3)
        # The held ones still work.
        assert d.request("GET", "/health", conn=held[0]).status == 200
        # Closing one frees a place.
        held.pop().close()
        deadline = time.monotonic() + 3
        while True:
            with d.connect() as again:
                again.send(request_bytes("GET", "/health"))
                r = again.read_response(timeout=3)
                if r.status == 200 or time.monotonic() > deadline:
                    break
            time.sleep(0.05)
        assert r.status == 200, f"a freed connection slot was not reused: {r!r}"
    finally:
        for c in held:
            c.close()


def test_503_is_sent_without_a_request(daemon):
    """Beyond max_connections the 503 comes on accept, before any request."""
    d = daemon({"server.max_connections": 2})
    held = [d.connect() for _ in range(2)]
    try:
        for c in held:
            assert d.request("GET", "/health", conn=c).status == 200
        with d.connect() as extra:
            r = check_common(extra.read_response(timeout=3), "GET", "/health")
            assert_error(r, 503, "too_many_connections")
            extra.assert_closed(3)
    finally:
        for c in held:
            c.close()


def test_health_answers_with_255_idle_connections(daemon):
    d = daemon()  # default max_connections 256
    held = []
    try:
        for _ in range(255):
            held.append(d.connect())
        time.sleep(0.3)
        r = d.request("GET", "/health")  # the 256th connection
        assert r.status == 200
        time.sleep(0.2)  # let the daemon see that one close
        # 255 idle + this one = 256 open: the next one is one too many.
        with d.connect() as c256:
            assert d.request("GET", "/health", conn=c256).status == 200
            with d.connect() as c257:
                c257.send(request_bytes("GET", "/health"))
                assert_error(check_common(c257.read_response(timeout=3), "GET", "/health"), 503)
    finally:
        for c in held:
            c.close()


def test_health_answers_with_256_idle_connections(daemon):
    d = daemon({"server.max_connections": 300})
    held = []
    try:
        for _ in range(256):
            held.append(d.connect())
        time.sleep(0.3)
        t0 = time.monotonic()
        assert d.request("GET", "/health").status == 200
        assert time.monotonic() - t0 < 1.0
        # The idle ones are still served.
        assert d.request("GET", "/health", conn=held[0]).status == 200
        assert d.request("GET", "/health", conn=held[-1]).status == 200
    finally:
        for c in held:
            c.close()


# ---------------------------------------------------------------- timeouts ----

def test_header_timeout_408(daemon):
    d = daemon({"server.header_timeout_ms": 1000})
    with d.connect() as c:
        c.send(b"GET /health HTTP/1.1\r\nHost: x\r\n")  # head never ends
        t0 = time.monotonic()
        read_error_and_close(c, "GET", "/health", 408, timeout=5)
        elapsed = time.monotonic() - t0
        assert 0.8 <= elapsed <= 3.0, f"408 after {elapsed:.2f} s, header_timeout_ms = 1000"


def test_header_timeout_on_a_silent_connection(daemon):
    """A connection that never sends a byte is closed at the header timeout
    (with a 408, or silently)."""
    d = daemon({"server.header_timeout_ms": 1000, "server.idle_timeout_ms": 60000})
    with d.connect() as c:
        t0 = time.monotonic()
        rest = c.read_until_closed(timeout=5)
        elapsed = time.monotonic() - t0
        assert 0.8 <= elapsed <= 3.0, f"closed after {elapsed:.2f} s"
        if rest:
            (r,) = responses_from_bytes(rest)
            assert_error(check_common(r, "GET", "/"), 408)


def test_body_timeout_408(daemon):
    d = daemon({"server.body_timeout_ms": 1000, "server.header_timeout_ms": 10000})
    with d.connect() as c:
        c.send(b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
        t0 = time.monotonic()
        read_error_and_close(c, "GET", "/health", 408, timeout=5)
        elapsed = time.monotonic() - t0
        assert 0.8 <= elapsed <= 3.0, f"408 after {elapsed:.2f} s, body_timeout_ms = 1000"


def test_chunked_body_timeout_408(daemon):
    d = daemon({"server.body_timeout_ms": 1000})
    with d.connect() as c:
        c.send(b"GET /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab")
        read_error_and_close(c, "GET", "/health", 408, timeout=5)


def test_idle_keep_alive_close(daemon):
    d = daemon({"server.idle_timeout_ms": 1000, "server.header_timeout_ms": 10000})
    with d.connect() as c:
        assert d.request("GET", "/health", conn=c).status == 200
        t0 = time.monotonic()
        rest = c.read_until_closed(timeout=5)
        elapsed = time.monotonic() - t0
        assert rest == b"", f"idle close must be silent, got {rest[:200]!r}"
        assert 0.8 <= elapsed <= 3.0, f"idle connection closed after {elapsed:.2f} s, idle_timeout_ms = 1000"


def test_idle_timeout_restarts_with_each_request(daemon):
    d = daemon({"server.idle_timeout_ms": 1000})
    with d.connect() as c:
        for _ in range(4):  # 4 x 0.6 s > 1 s in total, but never 1 s idle
            assert d.request("GET", "/health", conn=c).status == 200
            time.sleep(0.6)
        assert d.request("GET", "/health", conn=c).status == 200


def test_slowloris_closed_at_header_timeout(daemon):
    d = daemon({"server.header_timeout_ms": 2000})
    head = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"s" * 20 + b"\r\n\r\n"
    with d.connect() as c:
        t0 = time.monotonic()
        closed_at = None
        for i in range(len(head)):
            c.send(head[i:i + 1])
            if c.send_failed:
                closed_at = time.monotonic() - t0
                break
            c.sock.settimeout(1.0)
            try:
                data = c.sock.recv(65536)
            except socket.timeout:
                continue
            c.buf += data
            if not data or b"\r\n\r\n" in c.buf:
                closed_at = time.monotonic() - t0
                break
        assert closed_at is not None, "the server waited for the whole slow head"
        assert closed_at <= 4.0, f"slow client closed after {closed_at:.1f} s, header_timeout_ms = 2000"
        if c.buf:
            read_error_and_close(c, "GET", "/health", 408, timeout=3)


# ------------------------------------------------------------- smuggling ----

SMUGGLE_TAIL = b"GET /v1/version HTTP/1.1\r\nHost: x\r\n\r\n"

SMUGGLING = {
    "cl-and-te": b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "te-and-cl": b"GET /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
    "duplicate-cl-different": b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
    "duplicate-cl-same": b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
    "cl-list": b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 5\r\n\r\nhello",
    "cl-negative": b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    "cl-plus": b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\nhello",
    "cl-hex": b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: 0x5\r\n\r\nhello",
    "bare-lf-request-line": b"GET /health HTTP/1.1\nHost: x\r\n\r\n",
    "bare-lf-header": b"GET /health HTTP/1.1\r\nHost: x\nX-A: b\r\n\r\n",
    "bare-lf-end-of-head": b"GET /health HTTP/1.1\r\nHost: x\r\n\n",
    "bare-cr-header": b"GET /health HTTP/1.1\r\nHost: x\rX-A: b\r\n\r\n",
    "bare-cr-request-line": b"GET /health HTTP/1.1\rHost: x\r\n\r\n",
    "obs-fold": b"GET /health HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n",
    "obs-fold-tab": b"GET /health HTTP/1.1\r\nHost: x\r\nX-A: a\r\n\tb\r\n\r\n",
    "space-before-colon": b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length : 5\r\n\r\nhello",
    "chunk-size-not-hex": b"GET /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
    "chunk-size-0x": b"GET /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n",
    "chunk-size-negative": b"GET /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n",
    "chunk-size-overflow": b"GET /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                           b"10000000000000005\r\nhello\r\n0\r\n\r\n",
    "chunk-size-empty": b"GET /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\r\nhello\r\n0\r\n\r\n",
    "chunk-data-longer-than-size": b"GET /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                                   b"3\r\nhello\r\n0\r\n\r\n",
    "chunk-bare-lf": b"GET /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n",
    "te-not-chunked-last": b"GET /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n"
                           b"0\r\n\r\n",
    "garbage": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 30 + b"\r\n\r\n",
    "nul-in-header": b"GET /health HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n",
    "no-method-space": b"GET/health HTTP/1.1\r\nHost: x\r\n\r\n",
}


@pytest.mark.parametrize("shape", sorted(SMUGGLING))
def test_smuggling_shape_is_400_and_close(daemon, shape):
    d = daemon()
    with d.connect() as c:
        # The malformed request, then a request that must never be answered.
        c.send(SMUGGLING[shape] + SMUGGLE_TAIL)
        try:
            r = c.read_response(timeout=3)
        except Closed:
            pytest.fail(f"{shape}: connection closed without a 400")
        r = check_common(r, "GET", "/health")
        assert_error(r, 400)
        assert r.closes, f"{shape}: 400 without Connection: close: {r!r}"
        c.assert_closed(3)
    # The daemon is unharmed.
    assert d.request("GET", "/health").status == 200


def test_400_is_logged(daemon):
    d = daemon()
    with d.connect() as c:
        c.send(SMUGGLING["cl-and-te"])
        assert c.read_response().status == 400
    d.wait_log(r"access method=\S* path=\S* status=400 ")


def test_request_line_must_be_http11_or_10(daemon):
    d = daemon()
    with d.connect() as c:
        c.send(b"GET /health HTTP/1.0\r\n\r\n")
        r = check_common(c.read_response(), "GET", "/health")
        assert r.status == 200
        # HTTP/1.0 without keep-alive: the server closes.
        assert r.closes
        c.assert_closed(3)
