"""test_http.py - edged's HTTP/1.1 behaviour on its Unix socket (API.md,
"HTTP behaviour" and "Endpoints now"): the endpoints, 404/405, keep-alive,
pipelining, chunked bodies, Expect: 100-continue, X-Request-Id, the access
log, and access control by peer credentials.
"""
import json
import os
import re
import subprocess
import time

import pytest

import openapi
from conftest import (EDGED, GENERATED_ID_RE, assert_error, check_common, request_bytes,
                      responses_from_bytes, run_as_nobody)


# ------------------------------------------------------------ endpoints ----

def test_health(daemon):
    d = daemon()
    r = d.request("GET", "/health")
    assert r.status == 200
    assert r.header("content-type") == "application/json"
    assert r.json["status"] == "ok"
    version = d.get_json("/v1/version")["version"]
    assert r.json["version"] == version
    time.sleep(0.3)
    later = d.get_json("/health")["uptime_s"]
    assert later >= r.json["uptime_s"] + 0.25, f"uptime_s does not advance: {r.json['uptime_s']} then {later}"


def test_version(daemon):
    d = daemon()
    v = d.get_json("/v1/version")
    assert v["name"] == "edged" and v["api"] == "v1"
    assert v["compiler"], "empty compiler"
    assert v["build_time"], "empty build_time"
    # `edged --version` prints the same version.
    out = subprocess.run([str(EDGED), "--version"], capture_output=True, text=True, timeout=10)
    assert out.returncode == 0, out
    assert v["version"] in out.stdout + out.stderr, f"--version says {out.stdout!r}, the API {v['version']!r}"


def parse_metrics(text):
    """{(name, frozenset(labels.items())): value} from Prometheus text format,
    and {name: type} from the # TYPE lines. Fails on a malformed line."""
    samples, types = {}, {}
    line_re = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (-?[0-9.eE+-]+|\+Inf|-Inf|NaN)( -?[0-9]+)?$')
    label_re = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)')
    for line in text.splitlines():
        if not line:
            continue
        if line.startswith("#"):
            parts = line.split(None, 3)
            if len(parts) >= 4 and parts[1] == "TYPE":
                assert parts[3] in ("counter", "gauge", "histogram", "summary", "untyped"), line
                assert parts[2] not in types, f"two TYPE lines for {parts[2]}"
                types[parts[2]] = parts[3]
            continue
        m = line_re.match(line)
        assert m, f"malformed metrics line {line!r}"
        labels = {}
        if m.group(3):
            pos = 0
            for lm in label_re.finditer(m.group(3)):
                assert lm.start() == pos, f"malformed labels in {line!r}"
                labels[lm.group(1)] = lm.group(2)
                pos = lm.end()
            assert pos == len(m.group(3)), f"malformed labels in {line!r}"
        key = (m.group(1), frozenset(labels.items()))
        assert key not in samples, f"duplicate sample {line!r}"
        samples[key] = float(m.group(4))
    return samples, types


def metric(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())))


def test_metrics(daemon):
    d = daemon()
    for _ in range(3):
        d.request("GET", "/health")
    r = d.request("GET", "/metrics")
    assert r.status == 200
    assert r.header("content-type") == "text/plain; version=0.0.4; charset=utf-8"
    samples, types = parse_metrics(r.body.decode())
    expected_types = {
        "edged_http_requests_total": "counter",
        "edged_http_request_duration_seconds": "histogram",
        "edged_http_connections_open": "gauge",
        "edged_http_connections_total": "counter",
        "process_resident_memory_bytes": "gauge",
        "process_cpu_seconds_total": "counter",
        "process_start_time_seconds": "gauge",
        "edged_up": "gauge",
    }
    for name, kind in expected_types.items():
        assert types.get(name) == kind, f"# TYPE {name} {kind} missing (have {types.get(name)})"
    # 3 health checks here plus the readiness probe of the fixture.
    n_health = metric(samples, "edged_http_requests_total", route="/health", method="GET", status="200")
    assert n_health is not None and n_health >= 4, f"requests_total for /health: {n_health}"
    assert metric(samples, "edged_up") == 1
    assert metric(samples, "edged_http_connections_open") >= 1  # this request's own connection
    assert metric(samples, "edged_http_connections_total") >= 5
    rss = metric(samples, "process_resident_memory_bytes")
    assert rss is not None and 1e5 < rss < 1e11, rss
    start = metric(samples, "process_start_time_seconds")
    assert start is not None and abs(start - time.time()) < 120, f"start time {start} vs now {time.time()}"
    assert metric(samples, "process_cpu_seconds_total") >= 0
    # The histogram of /health: buckets cumulative, +Inf == _count == requests so far.
    buckets = sorted(((float(dict(k[1])["le"]), v) for k, v in samples.items()
                      if k[0] == "edged_http_request_duration_seconds_bucket" and dict(k[1]).get("route") == "/health"))
    assert buckets, "no duration buckets for route /health"
    assert buckets[-1][0] == float("inf"), "no le=\"+Inf\" bucket"
    values = [v for _, v in buckets]
    assert values == sorted(values), f"buckets are not cumulative: {buckets}"
    count = metric(samples, "edged_http_request_duration_seconds_count", route="/health")
    total = metric(samples, "edged_http_request_duration_seconds_sum", route="/health")
    assert count == buckets[-1][1] and count >= 4, (count, buckets[-1])
    assert total is not None and 0 <= total < count * 1.0
    # The counter counts: one more /health shows up in the next scrape.
    d.request("GET", "/health")
    after, _ = parse_metrics(d.request("GET", "/metrics").body.decode())
    assert metric(after, "edged_http_requests_total", route="/health", method="GET", status="200") == n_health + 1


def test_config_shows_effective_options(daemon):
    d = daemon({"server.max_body_bytes": 12345, "server.idle_timeout_ms": 4321, "server.socket_mode": "0600",
                "log.access_log": "false", "access.infer": "user:root group:0"})
    cfg = d.get_json("/v1/config")
    assert cfg["server"]["socket"] == d.socket_path
    assert cfg["server"]["socket_mode"] == "0600"
    assert cfg["server"]["max_body_bytes"] == 12345
    assert cfg["server"]["idle_timeout_ms"] == 4321
    assert cfg["log"]["access_log"] is False
    assert cfg["access"]["infer"] == "user:root group:0"
    assert cfg["state"]["directory"] == str(d.state_dir)
    # Defaults of the options the file does not set (API.md).
    assert cfg["server"]["max_connections"] == 256
    assert cfg["server"]["max_header_bytes"] == 16384
    assert cfg["server"]["max_headers"] == 64
    assert cfg["server"]["max_url_bytes"] == 8192
    assert cfg["server"]["header_timeout_ms"] == 10000
    assert cfg["server"]["body_timeout_ms"] == 30000
    assert cfg["server"]["shutdown_timeout_ms"] == 10000
    assert cfg["server"]["socket_group"] == ""
    assert cfg["log"]["level"] == "info"
    assert oct(os.stat(d.socket_path).st_mode & 0o777) == "0o600", "socket_mode not applied to the socket file"


# --------------------------------------------------------- 404 and 405 ----

@pytest.mark.parametrize("target", ["/nope", "/v1", "/v1/", "/health/", "/healthz", "/v1/version/x", "/HEALTH"])
def test_unknown_path_is_404(daemon, target):
    d = daemon()
    with d.connect() as c:
        r = d.request("GET", target, conn=c)
        assert_error(r, 404)
        # A 404 does not end the connection.
        assert not r.closes
        assert d.request("GET", "/health", conn=c).status == 200


def test_query_string_is_not_part_of_the_path(daemon):
    d = daemon()
    assert d.request("GET", "/health?verbose=1").status == 200


@pytest.mark.parametrize("method,target", [("POST", "/health"), ("DELETE", "/v1/version"),
                                           ("PUT", "/metrics"), ("POST", "/v1/config"),
                                           ("PATCH", "/v1/config"), ("OPTIONS", "/health")])
def test_wrong_method_is_405_with_allow(daemon, method, target):
    d = daemon()
    body = b"" if method in ("DELETE", "OPTIONS") else b"{}"
    with d.connect() as c:
        c.send(request_bytes(method, target, [("Content-Length", str(len(body)))], body))
        r = check_common(c.read_response(), method, target)
        assert_error(r, 405)
        allow = r.header("allow")
        assert allow is not None, f"405 without Allow: {r!r}"
        assert {m.strip() for m in allow.split(",")} == {"GET"}, f"Allow: {allow!r}"
        if not r.closes:
            assert d.request("GET", "/health", conn=c).status == 200


# -------------------------------------------------- connection handling ----

def test_keep_alive(daemon):
    d = daemon()
    with d.connect() as c:
        for i in range(5):
            r = d.request("GET", "/health", conn=c, request_id=f"ka-{i}")
            assert r.status == 200 and not r.closes
        c.assert_open(0.3)


def test_connection_close_request_is_honoured(daemon):
    d = daemon()
    with d.connect() as c:
        r = d.request("GET", "/health", [("Connection", "close")], conn=c)
        assert r.status == 200 and r.closes, r
        c.assert_closed(2)


def test_pipelining_answers_in_order(daemon):
    d = daemon()
    reqs = [("GET", "/health", "p-1"), ("GET", "/v1/version", "p-2"), ("GET", "/nope", "p-3"),
            ("GET", "/metrics", "p-4")]
    with d.connect() as c:
        c.send(b"".join(request_bytes(m, t, [("X-Request-Id", rid)]) for m, t, rid in reqs))
        for m, t, rid in reqs:
            r = check_common(c.read_response(), m, t, rid)
            assert r.header("x-request-id") == rid, f"out of order: {rid} got {r!r}"
        c.assert_open(0.2)


def test_pipelined_statuses(daemon):
    d = daemon()
    with d.connect() as c:
        c.send(request_bytes("GET", "/health") * 2 + request_bytes("GET", "/nope"))
        statuses = [c.read_response().status for _ in range(3)]
        assert statuses == [200, 200, 404]


def test_pipelined_requests_split_across_writes(daemon):
    d = daemon()
    data = request_bytes("GET", "/health", [("X-Request-Id", "s-1")]) + \
        request_bytes("GET", "/v1/version", [("X-Request-Id", "s-2")])
    with d.connect() as c:
        # Cut in the middle of the second request line, then byte by byte.
        cut = len(data) - 30
        c.send(data[:cut])
        time.sleep(0.1)
        for i in range(cut, len(data)):
            c.send(data[i:i + 1])
        assert c.read_response().header("x-request-id") == "s-1"
        assert c.read_response().header("x-request-id") == "s-2"


def test_chunked_request_body(daemon):
    d = daemon()
    body = b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n"
    with d.connect() as c:
        c.send(request_bytes("GET", "/health", [("Transfer-Encoding", "chunked"), ("X-Request-Id", "c-1")], body)
               + request_bytes("GET", "/v1/version", [("X-Request-Id", "c-2")]))
        r1 = check_common(c.read_response(), "GET", "/health", "c-1")
        assert r1.status == 200, r1
        assert not r1.closes
        r2 = check_common(c.read_response(), "GET", "/v1/version", "c-2")
        assert r2.status == 200, f"the chunked body was not consumed exactly: {r2!r}"


def test_chunked_body_with_trailer(daemon):
    d = daemon()
    body = b"3\r\nabc\r\n0\r\nX-Trailer: yes\r\n\r\n"
    with d.connect() as c:
        c.send(request_bytes("GET", "/health", [("Transfer-Encoding", "chunked")], body)
               + request_bytes("GET", "/health", [("X-Request-Id", "after-trailer")]))
        assert c.read_response().status == 200
        r = check_common(c.read_response(), "GET", "/health", "after-trailer")
        assert r.status == 200


def test_chunked_body_on_405_is_consumed(daemon):
    d = daemon()
    with d.connect() as c:
        c.send(request_bytes("POST", "/health", [("Transfer-Encoding", "chunked")], b"4\r\nabcd\r\n0\r\n\r\n")
               + request_bytes("GET", "/health", [("X-Request-Id", "next")]))
        r = check_common(c.read_response(), "POST", "/health")
        assert r.status == 405
        if not r.closes:
            assert check_common(c.read_response(), "GET", "/health", "next").status == 200


def test_content_length_body_is_consumed(daemon):
    d = daemon()
    with d.connect() as c:
        c.send(request_bytes("GET", "/health", body=b"GET /nope HTTP/1.1\r\n\r\n")
               + request_bytes("GET", "/health", [("X-Request-Id", "cl-2")]))
        assert c.read_response().status == 200
        r = check_common(c.read_response(), "GET", "/health", "cl-2")
        assert r.status == 200
        c.assert_open(0.2)


def test_expect_100_continue(daemon):
    d = daemon()
    with d.connect() as c:
        c.send(b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n"
               b"X-Request-Id: e-1\r\n\r\n")
        interim = c.read_response(timeout=3)
        assert interim.status == 100, f"expected 100 Continue before the body, got {interim!r}"
        c.send(b"hello")
        r = check_common(c.read_response(), "GET", "/health", "e-1")
        assert r.status == 200


def test_expect_100_continue_too_large_gets_413_without_100(daemon):
    d = daemon({"server.max_body_bytes": 1000})
    with d.connect() as c:
        c.send(b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n")
        r = check_common(c.read_response(timeout=3), "GET", "/health")
        assert r.status != 100, "sent 100 Continue for a body it will refuse"
        assert_error(r, 413)
        assert r.closes
        c.assert_closed(3)


# ------------------------------------------------------------ request id ----

@pytest.mark.parametrize("rid", ["abc", "A.b_c-9", "x" * 128, "0"])
def test_request_id_is_echoed(daemon, rid):
    d = daemon()
    r = d.request("GET", "/health", request_id=rid)
    assert r.header("x-request-id") == rid
    r = d.request("GET", "/nope", request_id=rid)  # errors too
    assert r.header("x-request-id") == rid


@pytest.mark.parametrize("rid", ["x" * 129, "has space", "slash/no", "semi;colon", "é", ""])
def test_invalid_request_id_is_replaced(daemon, rid):
    d = daemon()
    with d.connect() as c:
        c.send(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Request-Id: " + rid.encode() + b"\r\n\r\n")
        r = c.read_response()
        assert r.status == 200
        assert GENERATED_ID_RE.match(r.header("x-request-id")), r.header("x-request-id")
        check_common(r, "GET", "/health", rid)


def test_request_id_is_generated_and_unique(daemon):
    d = daemon()
    ids = set()
    with d.connect() as c:
        for _ in range(20):
            r = d.request("GET", "/health", conn=c)
            ids.add(r.header("x-request-id"))
    assert len(ids) == 20, "generated request ids repeat"


# ------------------------------------------------------------ access log ----

def test_access_log_line(daemon):
    d = daemon()
    r = d.request("GET", "/health", request_id="log-line-1")
    m = d.wait_log(r"^.*access method=GET path=/health status=200 bytes=([0-9]+) duration_ms=([0-9]+(\.[0-9]+)?) "
                   r"uid=([0-9]+) request_id=log-line-1$")
    assert int(m.group(4)) == os.getuid()
    # bytes= counts the body (or the whole response): not less, not wildly more.
    assert len(r.body) <= int(m.group(1)) <= len(r.body) + 1024, \
        f"bytes={m.group(1)}, the body has {len(r.body)} bytes"
    d.request("GET", "/nope", request_id="log-line-2")
    d.wait_log(r"access method=GET path=/nope status=404 .* request_id=log-line-2$")


def test_access_log_can_be_turned_off(daemon):
    d = daemon({"log.access_log": "false"})
    d.request("GET", "/health", request_id="no-log-line")
    d.request("GET", "/v1/version")
    time.sleep(0.3)
    assert "no-log-line" not in d.stderr() and "access method=" not in d.stderr(), d.stderr()


# --------------------------------------------------------- access control ----

NOBODY_CLIENT = r"""
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(5)
s.connect(sys.argv[1] if len(sys.argv) > 1 else PATH)
s.sendall(REQ)
data = b""
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
sys.stdout.buffer.write(data)
"""


def as_nobody(path, target):
    """Sends GET target with Connection: close as nobody; returns the responses."""
    req = request_bytes("GET", target, [("Connection", "close")])
    code = NOBODY_CLIENT.replace("PATH", repr(path)).replace("REQ", repr(req))
    out = run_as_nobody(code)
    assert out.returncode == 0, f"client as nobody failed: {out.stderr.decode()}"
    return out.stdout


def parse_one(raw, method, target):
    responses = responses_from_bytes(raw)
    assert len(responses) == 1, f"expected one response, got {responses!r}"
    return check_common(responses[0], method, target)


@pytest.mark.parametrize("admin,allowed", [("user:root", False), ("group:root", False),
                                           ("user:nobody", True), ("user:65534", True),
                                           ("group:nogroup", True), ("group:65534", True),
                                           ("*", True), ("user:root group:nogroup", True)])
def test_access_by_peer_credentials(daemon, admin, allowed):
    d = daemon({"access.admin": admin, "server.socket_mode": "0666"})
    r = parse_one(as_nobody(d.socket_path, "/v1/config"), "GET", "/v1/config")
    if allowed:
        assert r.status == 200, f"admin = {admin}: nobody should be allowed: {r!r}"
    else:
        assert_error(r, 403)
    # Routes of group none are open to anyone who can open the socket.
    assert parse_one(as_nobody(d.socket_path, "/health"), "GET", "/health").status == 200
    # And root is allowed when listed, refused when not.
    r = d.request("GET", "/v1/config")
    assert r.status == (200 if ("root" in admin or admin == "*") else 403), r


def test_unknown_user_in_allow_list_is_warned_about_and_ignored(daemon):
    """A name that does not resolve (yet) is not a startup error (the default
    admin list names group edged, which exists only once sysusers ran): it is
    logged and matches nobody, and the rest of the list still works."""
    d = daemon({"access.admin": "user:no-such-user-here user:nobody", "server.socket_mode": "0666"})
    d.wait_log(r"no-such-user-here")
    assert parse_one(as_nobody(d.socket_path, "/v1/config"), "GET", "/v1/config").status == 200
    assert_error(d.request("GET", "/v1/config"), 403)


def test_forbidden_is_logged_with_uid(daemon):
    d = daemon({"access.admin": "user:root", "server.socket_mode": "0666"})
    as_nobody(d.socket_path, "/v1/config")
    d.wait_log(r"access method=GET path=/v1/config status=403 .*uid=65534")


def test_socket_mode_keeps_others_out(daemon):
    d = daemon({"server.socket_mode": "0600"})
    req = request_bytes("GET", "/health", [("Connection", "close")])
    code = (f"import socket\ns = socket.socket(socket.AF_UNIX)\n"
            f"try:\n    s.connect({d.socket_path!r})\nexcept PermissionError:\n    print('refused')\n"
            f"else:\n    s.sendall({req!r}); print(s.recv(100))")
    out = run_as_nobody(code)
    assert out.stdout.decode().strip() == "refused", out


def test_json_helper_rejects_bad_bodies():
    """The contract checker itself can fail (so a passing test means something)."""
    with pytest.raises(openapi.SchemaError):
        openapi.check_response("GET", "/health", 200, "application/json",
                               json.dumps({"status": "ok", "uptime_s": "1", "version": "0.1.0"}).encode())
    with pytest.raises(openapi.SchemaError):
        openapi.check_response("GET", "/nope", 404, "application/json",
                               json.dumps({"error": {"message": "m", "type": "not_found_error"}}).encode())
    with pytest.raises(openapi.SchemaError):
        openapi.check_response("GET", "/health", 418, "application/json", b"{}")
