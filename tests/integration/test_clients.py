"""test_clients.py - edgectl and the Python module clients/python/edged_client.py
against the real daemon (conftest's `daemon` fixture): every command, human
and --json output, exit statuses (daemon errors, usage, a missing or dead
socket, a silent one), keep-alive reuse and reconnection; the Python SSE
reader against a canned stream (sse_server.py) until the daemon streams.
"""
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from conftest import BUILD, REPO
from sse_server import CannedServer, json_reply, sse_reply

sys.path.insert(0, str(REPO / "clients" / "python"))
import edged_client  # noqa: E402

EDGECTL = BUILD / "edgectl"


def edgectl(*args, socket_path=None, env=None, timeout=30):
    if not EDGECTL.exists():
        pytest.fail(f"{EDGECTL} does not exist: build it first (make {EDGECTL.relative_to(REPO)})")
    full_env = {k: v for k, v in os.environ.items() if k != "EDGED_SOCKET"}
    full_env.update(env or {})
    cmd = [str(EDGECTL)] + (["--socket", str(socket_path)] if socket_path else []) + list(args)
    return subprocess.run(cmd, capture_output=True, text=True, env=full_env, timeout=timeout)


@pytest.fixture
def short_dir():
    """A short directory for sockets (sun_path is 108 bytes)."""
    with tempfile.TemporaryDirectory(prefix="edgectl-", dir="/tmp") as d:
        yield Path(d)


def metric(text, name):
    m = re.search(rf"^{re.escape(name)} ([0-9.e+]+)$", text, re.M)
    assert m, f"no {name} in the metrics"
    return float(m.group(1))


# ---------------------------------------------------------------- edgectl ----

def test_edgectl_health(daemon):
    d = daemon()
    r = edgectl("health", socket_path=d.socket_path)
    assert r.returncode == 0, r
    version = d.get_json("/v1/version")["version"]
    assert re.fullmatch(rf"health: ok \(up [0-9.]+ s, edged {re.escape(version)}\)\n", r.stdout), r.stdout
    j = edgectl("--json", "health", socket_path=d.socket_path)
    assert j.returncode == 0, j
    body = json.loads(j.stdout)
    assert body["status"] == "ok" and body["version"] == version


def test_edgectl_health_names_a_store_that_did_not_open(daemon, tmp_path):
    d = daemon({"rag.embedder": "model", "rag.embedding_model": str(tmp_path / "missing.gguf")})
    r = edgectl("health", socket_path=d.socket_path)
    assert r.returncode == 0, r  # edged serves; only the store's endpoints answer 503
    lines = r.stdout.splitlines()
    assert lines[0].startswith("health: ok"), r.stdout
    assert re.fullmatch(r"store: failed \(embedder: .*missing\.gguf.*\)", lines[1]), r.stdout


def test_edgectl_socket_from_environment(daemon):
    d = daemon()
    r = edgectl("health", env={"EDGED_SOCKET": d.socket_path})
    assert r.returncode == 0, r
    assert r.stdout.startswith("health: ok")


def test_edgectl_version(daemon):
    d = daemon()
    v = d.get_json("/v1/version")
    r = edgectl("version", socket_path=d.socket_path)
    assert r.returncode == 0, r
    assert r.stdout.startswith(f"edged {v['version']} (api {v['api']})\n"), r.stdout
    assert f"compiler   {v['compiler']}" in r.stdout
    j = edgectl("--json", "version", socket_path=d.socket_path)
    assert j.returncode == 0 and json.loads(j.stdout)["name"] == "edged", j


def test_edgectl_metrics(daemon):
    d = daemon()
    r = edgectl("metrics", socket_path=d.socket_path)
    assert r.returncode == 0, r
    assert metric(r.stdout, "edged_up") == 1
    assert "# TYPE edged_http_requests_total counter" in r.stdout
    j = edgectl("--json", "metrics", socket_path=d.socket_path)
    assert j.returncode == 0, j
    samples = json.loads(j.stdout)
    by_name = {}
    for s in samples:
        by_name.setdefault(s["name"], []).append(s)
    assert by_name["edged_up"][0]["value"] == 1
    assert any(s["labels"].get("route") == "/health" and s["labels"].get("status") == "200"
               for s in by_name["edged_http_requests_total"])
    buckets = by_name["edged_http_request_duration_seconds_bucket"]
    assert any(s["labels"].get("le") == "+Inf" for s in buckets)


def test_edgectl_config(daemon):
    d = daemon(options={"server.max_body_bytes": 4096})
    r = edgectl("config", socket_path=d.socket_path)
    assert r.returncode == 0, r
    assert r.stdout.startswith("[server]\n")
    assert f"socket = {d.socket_path}\n" in r.stdout
    assert "max_body_bytes = 4096\n" in r.stdout
    assert "\n[log]\n" in r.stdout and "access_log = true\n" in r.stdout
    j = edgectl("--json", "config", socket_path=d.socket_path)
    assert j.returncode == 0, j
    cfg = json.loads(j.stdout)
    assert cfg["server"]["max_body_bytes"] == 4096


def test_edgectl_forbidden_config_is_a_daemon_error(daemon):
    uid = 65534 if os.geteuid() != 65534 else 65533
    d = daemon(options={"access.admin": f"user:{uid}"})
    r = edgectl("config", socket_path=d.socket_path)
    assert r.returncode == 1, r
    assert r.stdout == ""
    assert re.match(r"edgectl: GET /v1/config: .+ \(HTTP 403, forbidden\)\n", r.stderr), r.stderr
    assert "hint:" in r.stderr
    j = edgectl("--json", "config", socket_path=d.socket_path)
    assert j.returncode == 1, j
    assert json.loads(j.stdout)["error"]["code"] == "forbidden"


def test_edgectl_missing_socket(short_dir):
    path = short_dir / "nothing.sock"
    r = edgectl("health", socket_path=path)
    assert r.returncode == 3, r
    assert f"edgectl: cannot connect to {path}: no such socket" in r.stderr
    assert "systemctl status edged" in r.stderr
    r = edgectl("version", env={"EDGED_SOCKET": str(path)})
    assert r.returncode == 3 and str(path) in r.stderr, r


def test_edgectl_dead_socket(short_dir):
    path = short_dir / "dead.sock"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(path))
    s.close()  # bound, never listening: what a crashed daemon leaves behind
    r = edgectl("health", socket_path=path)
    assert r.returncode == 3, r
    assert "connection refused" in r.stderr


def test_edgectl_silent_daemon_times_out(short_dir):
    path = short_dir / "silent.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.bind(str(path))
        s.listen(4)  # connections wait in the backlog; nobody answers
        t0 = time.monotonic()
        r = edgectl("--timeout", "0.4", "health", socket_path=path)
        elapsed = time.monotonic() - t0
    assert r.returncode == 4, r
    assert "no response within 400 ms" in r.stderr
    assert elapsed < 5


@pytest.mark.parametrize("args", [[], ["bogus"], ["health", "extra"], ["--timeout", "x", "health"],
                                  ["--timeout", "-1", "health"], ["--bogus", "health"], ["--socket"]])
def test_edgectl_usage_errors(args):
    r = edgectl(*args)
    assert r.returncode == 2, r
    assert r.stderr.startswith("edgectl: "), r.stderr


def test_edgectl_help():
    r = edgectl("--help")
    assert r.returncode == 0, r
    for word in ("health", "version", "metrics", "config", "pull", "Exit status", "--socket",
                 "--json", "--timeout"):
        assert word in r.stdout, word
    for status in range(8):
        assert re.search(rf"^  {status}  ", r.stdout, re.M), f"exit status {status} is not documented"
    for cmd in ("health", "version", "metrics", "config", "pull"):
        h = edgectl(cmd, "--help")
        assert h.returncode == 0 and h.stdout.startswith("usage: edgectl"), h


# ---------------------------------------------------------------- Python module ----

def test_python_endpoints(daemon):
    d = daemon()
    with edged_client.Client(d.socket_path, timeout=5) as c:
        h = c.health()
        assert h["status"] == "ok" and h["uptime_s"] >= 0
        v = c.version()
        assert v["name"] == "edged" and v["version"] == h["version"]
        assert metric(c.metrics(), "edged_up") == 1
        cfg = c.config()
        assert cfg["server"]["socket"] == d.socket_path
        r = c.request("GET", "/health", headers={"X-Request-Id": "py-1"})
        assert r.status == 200 and r.headers["X-Request-Id"] == "py-1"
        assert r.json()["status"] == "ok"


def test_python_socket_from_environment(daemon, monkeypatch):
    d = daemon()
    monkeypatch.setenv("EDGED_SOCKET", d.socket_path)
    assert edged_client.Client().health()["status"] == "ok"
    monkeypatch.delenv("EDGED_SOCKET")
    assert edged_client.Client().socket_path == "/run/edged/edged.sock"


def test_python_errors_raise(daemon):
    d = daemon(options={"access.admin": "user:65534" if os.geteuid() != 65534 else "user:65533"})
    c = edged_client.Client(d.socket_path, timeout=5)
    with pytest.raises(edged_client.EdgedError) as e:
        c.request("GET", "/v1/nothing-here")
    assert (e.value.status, e.value.type, e.value.code) == (404, "not_found_error", "not_found")
    assert e.value.message
    with pytest.raises(edged_client.EdgedError) as e:
        c.request("POST", "/health", body={"x": 1})
    assert (e.value.status, e.value.code) == (405, "method_not_allowed")
    with pytest.raises(edged_client.EdgedError) as e:
        c.config()
    assert (e.value.status, e.value.type, e.value.code) == (403, "permission_error", "forbidden")
    assert c.health()["status"] == "ok"  # the client is still usable
    c.close()


def test_python_keep_alive_reuses_one_connection(daemon):
    d = daemon()
    with edged_client.Client(d.socket_path, timeout=5) as c:
        before = metric(c.metrics(), "edged_http_connections_total")
        for _ in range(5):
            c.health()
        after = metric(c.metrics(), "edged_http_connections_total")
    assert after == before


def test_python_reconnects_after_idle_close(daemon):
    d = daemon(options={"server.idle_timeout_ms": 200})
    with edged_client.Client(d.socket_path, timeout=5) as c:
        c.health()
        time.sleep(0.6)  # edged closes the idle connection
        assert c.health()["status"] == "ok"


def test_python_missing_socket(short_dir):
    c = edged_client.Client(str(short_dir / "none.sock"), timeout=1)
    with pytest.raises(FileNotFoundError):
        c.health()


def test_python_stream_events(short_dir):
    path = short_dir / "sse.sock"
    replies = [sse_reply(['data: {"a"', ': 1}\r\n\r', '\n: keep-alive\n\nevent: note\ndata: line1\n',
                          'data: line2\n\n', 'data: [DONE]\n\n']),
               json_reply(200, {"status": "ok"}),
               json_reply(503, {"error": {"message": "loading", "type": "unavailable_error",
                                          "code": "not_ready"}})]
    with CannedServer(path, replies) as srv:
        with edged_client.Client(str(path), timeout=5) as c:
            events = list(c.stream("POST", "/v1/completions", {"prompt": "hi", "stream": True}))
            assert [e.type for e in events] == ["message", "note"]
            assert events[0].data == {"a": 1}
            assert events[1].data == "line1\nline2"
            assert c.health() == {"status": "ok"}  # same connection after the stream
            with pytest.raises(edged_client.EdgedError) as e:
                list(c.stream("POST", "/v1/completions", {"prompt": "hi"}))
            assert (e.value.status, e.value.code) == (503, "not_ready")
        method, target, headers, body = srv.requests[0]
        assert (method, target) == ("POST", "/v1/completions")
        assert headers["accept"] == "text/event-stream"
        assert headers["content-type"] == "application/json"
        assert json.loads(body) == {"prompt": "hi", "stream": True}
        assert srv.connections == 1
