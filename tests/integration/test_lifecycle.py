"""test_lifecycle.py - edged as a process: the command line (--check-config,
--socket, --version, --help), configuration errors, the socket file (stale,
symlink, live, mode, group), socket activation, the sd_notify protocol,
SIGTERM draining, SIGHUP reloads.
"""
import grp
import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import threading
import time

import pytest

from conftest import (EDGED, HttpConn, assert_error, check_common, request_bytes, require_edged,
                      write_config)


def run_edged(*args, timeout=10):
    require_edged()
    return subprocess.run([str(EDGED), *args], capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def config_file(tmp_path, text, name="edged.conf"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


# ----------------------------------------------------------- command line ----

def test_check_config_ok(tmp_path):
    path = write_config(tmp_path / "good.conf", {"server.socket": str(tmp_path / "s.sock"),
                                                 "server.max_connections": 10,
                                                 "access.admin": "user:root group:0",
                                                 "log.level": "debug", "log.access_log": "false",
                                                 "state.directory": str(tmp_path)})
    out = run_edged("--config", path, "--check-config")
    assert out.returncode == 0, out
    assert f"edged: {path}: configuration OK" in (out.stdout + out.stderr).splitlines(), out
    assert not os.path.exists(tmp_path / "s.sock"), "--check-config must not open the socket"


def test_check_config_comments_and_blank_lines(tmp_path):
    path = config_file(tmp_path, "# a comment\n; another\n\n[server]\n# inside\nmax_connections = 7 ; trailing\n"
                                 "\n[log]\nlevel = warn\n")
    out = run_edged("--config", path, "--check-config")
    assert out.returncode == 0, out


BAD_CONFIGS = [
    # (file text, line, option, exact message after "option: " or None for any)
    ("[server]\nmax_connections = 4\n\n\n\n\nmax_connections = abc\n", 7, "server.max_connections",
     'expected an integer between 1 and 65536, got "abc"'),
    ("[server]\nbogus = 1\n", 2, "server.bogus", "unknown option"),
    ("[server]\nmax_connections = 0\n", 2, "server.max_connections", None),
    ("[server]\nmax_connections = 65537\n", 2, "server.max_connections", None),
    ("[server]\nmax_connections = -1\n", 2, "server.max_connections", None),
    ("[server]\nmax_connections = 12abc\n", 2, "server.max_connections", None),
    ("[server]\nmax_body_bytes = 99999999999999999999999\n", 2, "server.max_body_bytes", None),
    ("[server]\nsocket_mode = 0999\n", 2, "server.socket_mode", None),
    ("[server]\nsocket_mode = rw\n", 2, "server.socket_mode", None),
    ("[log]\nlevel = loud\n", 2, "log.level", None),
    ("[log]\naccess_log = maybe\n", 2, "log.access_log", None),
    ("[access]\nadmin = uzer:root\n", 2, "access.admin", None),
    ("\n[bogus]\nx = 1\n", 3, "[bogus]",
     "unknown section (sections: server, access, log, state, model, engine, store, rag, adapt)"),
]


@pytest.mark.parametrize("text,line,option,message", BAD_CONFIGS,
                         ids=[f"{o}-{i}" for i, (_, _, o, _) in enumerate(BAD_CONFIGS)])
def test_check_config_bad(tmp_path, text, line, option, message):
    path = config_file(tmp_path, text)
    out = run_edged("--config", path, "--check-config")
    assert out.returncode == 1, out
    prefix = f"edged: {path}:{line}: {option}: "
    lines = [ln for ln in (out.stderr + out.stdout).splitlines() if ln.startswith(prefix)]
    assert lines, f"no line starting with {prefix!r} in {out.stderr!r}"
    if message is not None:
        assert lines[0] == prefix + message, lines[0]
    else:
        assert len(lines[0]) > len(prefix) + 3, f"no reason given: {lines[0]!r}"


def test_bad_config_fails_before_serving(tmp_path):
    sock = tmp_path / "s.sock"
    path = config_file(tmp_path, f"[server]\nsocket = {sock}\nmax_headers = lots\n")
    out = run_edged("--config", path)
    assert out.returncode == 1, out
    assert re.search(rf"^edged: {re.escape(path)}:3: server\.max_headers: ", out.stderr, re.M), out.stderr
    assert not sock.exists(), "bound the socket despite a bad config"


def test_missing_config_file(tmp_path):
    path = str(tmp_path / "nope.conf")
    out = run_edged("--config", path, "--check-config")
    assert out.returncode == 1, out
    assert out.stderr.startswith(f"edged: {path}"), out.stderr


def test_check_config_reports_every_problem_and_the_models(tmp_path):
    """Issue 15, finding 7: not only the first bad line; a misspelled section
    named as a section; [model] path and rag.embedding_model checked as files
    the daemon can serve."""
    not_gguf = tmp_path / "notes.txt"
    not_gguf.write_text("not a model")
    path = config_file(tmp_path, f"[modle]\npath = x\n[server]\nmax_connections = lots\n[log]\nlevel = loud\n"
                                 f"[model]\npath = {tmp_path / 'missing.gguf'}\n"
                                 f"[rag]\nembedder = model\nembedding_model = {not_gguf}\n")
    out = run_edged("--config", path, "--check-config")
    assert out.returncode == 1, out
    lines = out.stderr.splitlines()
    assert f"edged: {path}:2: [modle]: unknown section" in out.stderr
    assert any(ln.startswith(f"edged: {path}:4: server.max_connections: ") for ln in lines), lines
    assert any(ln.startswith(f"edged: {path}:6: log.level: ") for ln in lines), lines
    assert f"edged: {path}: model.path: {tmp_path / 'missing.gguf'}: No such file or directory" in lines, lines
    assert any(ln.startswith(f"edged: {path}: rag.embedding_model: {not_gguf}") for ln in lines), lines
    assert lines[-1] == f"edged: {path}: 5 problems", lines


def test_check_config_refuses_a_model_in_the_wrong_role(tmp_path):
    real = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "testdata", "real",
                        "edged-tiny-26m-q8_0.gguf")
    if not os.path.exists(real):
        pytest.skip("../shared/testdata/real is not there")
    good = config_file(tmp_path, f"[model]\npath = {real}\n", "good.conf")
    assert run_edged("--config", good, "--check-config").returncode == 0
    wrong = config_file(tmp_path, f"[rag]\nembedder = model\nembedding_model = {real}\n", "wrong.conf")
    out = run_edged("--config", wrong, "--check-config")
    assert out.returncode == 1, out
    assert "not an embedding model" in out.stderr, out.stderr


def test_check_config_of_the_default_path_that_is_missing_is_an_error(tmp_path):
    """Without --config, a missing /etc/edged/edged.conf lets edged start on
    defaults; --check-config still says the file is not there."""
    if os.path.exists("/etc/edged/edged.conf"):
        pytest.skip("/etc/edged/edged.conf exists on this machine")
    out = run_edged("--check-config")
    assert out.returncode == 1, out
    assert "/etc/edged/edged.conf: cannot open" in out.stderr, out.stderr


def test_unknown_command_line_option():
    out = run_edged("--bogus")
    assert out.returncode != 0
    assert "--bogus" in out.stderr, out.stderr


def test_help():
    out = run_edged("--help")
    assert out.returncode == 0, out
    for flag in ("--config", "--socket", "--check-config", "--log-level", "--version"):
        assert flag in out.stdout + out.stderr, f"--help does not mention {flag}"


def test_socket_option_overrides_config(daemon):
    d = daemon(start=False)
    other = str(d.sockdir / "other.sock")
    d.args = ["--socket", other]
    d.start(listen_path=other)
    assert not os.path.exists(d.socket_path), "bound server.socket despite --socket"
    with HttpConn(other) as c:
        c.send(request_bytes("GET", "/v1/config"))
        r = c.read_response()
        assert r.status == 200
    assert json.loads(r.body)["server"]["socket"] == other


def test_log_level_option(daemon):
    d = daemon(args=["--log-level", "error"])
    d.request("GET", "/health", request_id="quiet-please")
    time.sleep(0.3)
    assert "quiet-please" not in d.stderr(), "an info access line at --log-level error"


# ------------------------------------------------------------- the socket ----

def test_socket_file_mode_and_group(daemon):
    d = daemon()
    st = os.stat(d.socket_path)
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o660, oct(st.st_mode)
    d2 = daemon({"server.socket_group": "nogroup", "server.socket_mode": "0640"})
    st = os.stat(d2.socket_path)
    assert stat.S_IMODE(st.st_mode) == 0o640, oct(st.st_mode)
    assert st.st_gid == grp.getgrnam("nogroup").gr_gid, st.st_gid


def test_stale_socket_is_replaced(daemon):
    d = daemon(start=False)
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(d.socket_path)
    stale.close()  # the file stays, nobody listens
    assert stat.S_ISSOCK(os.lstat(d.socket_path).st_mode)
    d.start()
    assert d.request("GET", "/health").status == 200


def test_symlink_at_socket_path_is_refused(daemon):
    d = daemon(start=False)
    target = d.sockdir / "target"
    target.write_text("keep me")
    os.symlink(target, d.socket_path)
    d.start(wait=False)
    rc = d.proc.wait(10)
    assert rc != 0, "started on a symlink"
    assert d.socket_path in d.stderr(), d.stderr()
    assert os.path.islink(d.socket_path) and target.read_text() == "keep me", "touched the symlink"


def test_regular_file_at_socket_path_is_refused(daemon):
    d = daemon(start=False)
    with open(d.socket_path, "w") as f:
        f.write("not a socket")
    d.start(wait=False)
    rc = d.proc.wait(10)
    assert rc != 0, "started over a regular file"
    assert d.socket_path in d.stderr(), d.stderr()
    with open(d.socket_path) as f:
        assert f.read() == "not a socket", "touched the file"


def test_live_socket_makes_the_second_start_fail(daemon):
    first = daemon()
    second = daemon({"server.socket": first.socket_path}, start=False)
    second.start(wait=False)
    rc = second.proc.wait(10)
    assert rc != 0, "a second edged started on a live socket"
    assert f"edged: {first.socket_path}: another edged is listening on this socket" in second.stderr(), \
        second.stderr()
    assert first.request("GET", "/health").status == 200, "the first daemon lost its socket"


def test_socket_activation(daemon, tmp_path):
    if not shutil.which("systemd-socket-activate"):
        pytest.skip("systemd-socket-activate is not installed")
    listen = str(tmp_path / "activated.sock")
    d = daemon(start=False, wrapper=["systemd-socket-activate", "-l", listen])
    d.start(listen_path=listen)
    with HttpConn(listen) as c:
        for _ in range(3):
            c.send(request_bytes("GET", "/health"))
            assert c.read_response().status == 200
    assert not os.path.exists(d.socket_path), "bound server.socket although systemd handed over a socket"


# ------------------------------------------------------------- sd_notify ----

class NotifyListener:
    """A fake NOTIFY_SOCKET: collects the datagrams edged sends to systemd."""

    def __init__(self, path):
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.1)
        self.messages = []  # (monotonic time, "KEY=VALUE")
        self.done = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.done:
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            now = time.monotonic()
            for line in data.decode().split("\n"):
                if line:
                    self.messages.append((now, line))

    def keys(self):
        return [m for _, m in self.messages]

    def wait_for(self, message, timeout=5.0, after=0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for i, (_, m) in enumerate(self.messages[after:], after):
                if m == message or (message.endswith("*") and m.startswith(message[:-1])):
                    return i
            time.sleep(0.02)
        raise AssertionError(f"no {message!r} from sd_notify within {timeout} s; got {self.keys()}")

    def close(self):
        self.done = True
        self.thread.join()
        self.sock.close()


def test_sd_notify_protocol(daemon, tmp_path):
    listener = NotifyListener(tmp_path / "notify.sock")
    try:
        d = daemon(env={"NOTIFY_SOCKET": listener.path, "WATCHDOG_USEC": "400000"})
        i = listener.wait_for("READY=1")
        listener.wait_for(f"STATUS=serving on {d.socket_path}")
        # WATCHDOG=1 every WATCHDOG_USEC/2 (200 ms): several within a second.
        time.sleep(1.2)
        pings = [t for t, m in listener.messages[i:] if m == "WATCHDOG=1"]
        assert len(pings) >= 3, f"{len(pings)} WATCHDOG=1 in 1.2 s with WATCHDOG_USEC=400000"
        gaps = [b - a for a, b in zip(pings, pings[1:])]
        assert max(gaps) < 0.4, f"watchdog gaps {gaps}"
        # SIGHUP: RELOADING=1 then READY=1.
        n = len(listener.messages)
        d.send_signal(signal.SIGHUP)
        j = listener.wait_for("RELOADING=1", after=n)
        listener.wait_for("READY=1", after=j + 1)
        # SIGTERM: STOPPING=1, exit 0.
        n = len(listener.messages)
        assert d.stop() == 0, d.stderr()
        listener.wait_for("STOPPING=1", after=n, timeout=1)
    finally:
        listener.close()


def test_no_watchdog_pings_without_watchdog_usec(daemon, tmp_path):
    listener = NotifyListener(tmp_path / "notify.sock")
    try:
        daemon(env={"NOTIFY_SOCKET": listener.path})
        listener.wait_for("READY=1")
        time.sleep(0.5)
        assert "WATCHDOG=1" not in listener.keys()
    finally:
        listener.close()


# ------------------------------------------------------------------ signals ----

@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_exits_0(daemon, sig):
    d = daemon()
    t0 = time.monotonic()
    assert d.stop(sig) == 0, d.stderr()
    assert time.monotonic() - t0 < 2, "an idle daemon took long to stop"


def test_sigterm_with_idle_keep_alive_connection_is_quick(daemon):
    d = daemon({"server.shutdown_timeout_ms": 10000, "server.idle_timeout_ms": 60000})
    with d.connect() as c:
        assert d.request("GET", "/health", conn=c).status == 200
        t0 = time.monotonic()
        assert d.stop() == 0, d.stderr()
        assert time.monotonic() - t0 < 2, "an idle keep-alive connection delayed shutdown"
        c.read_until_closed(timeout=1)


def test_sigterm_with_a_request_mid_body(daemon):
    d = daemon({"server.shutdown_timeout_ms": 1000, "server.body_timeout_ms": 60000})
    with d.connect() as c:
        c.send(b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n" + b"a" * 10)
        time.sleep(0.2)
        t0 = time.monotonic()
        d.send_signal(signal.SIGTERM)
        rc = d.proc.wait(5)
        elapsed = time.monotonic() - t0
        assert rc == 0, d.stderr()
        assert elapsed <= 1.0 + 1.5, f"exit took {elapsed:.2f} s with shutdown_timeout_ms = 1000"
        # The in-flight connection was closed (possibly after an error response).
        rest = c.read_until_closed(timeout=1)
        if rest:
            assert rest.startswith(b"HTTP/1.1 "), rest[:100]


def test_sigterm_lets_an_in_flight_body_finish(daemon):
    """A request whose body completes within shutdown_timeout is answered (by
    the route: /health says 503 "stopping" while the daemon drains)."""
    d = daemon({"server.shutdown_timeout_ms": 3000})
    with d.connect() as c:
        c.send(b"GET /v1/version HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nX-Request-Id: drain-1\r\n\r\nabc")
        time.sleep(0.2)
        d.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        c.send(b"defghij")
        r = check_common(c.read_response(timeout=3), "GET", "/v1/version", "drain-1")
        assert r.status == 200, r
        assert r.closes, "the answer during shutdown should say Connection: close"
        assert d.proc.wait(5) == 0, d.stderr()


def test_health_says_stopping_while_draining(daemon):
    d = daemon({"server.shutdown_timeout_ms": 3000, "server.body_timeout_ms": 60000})
    with d.connect() as busy:
        busy.send(b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")  # keeps it draining
        time.sleep(0.2)
        d.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        busy.send(b"defghij")
        r = check_common(busy.read_response(timeout=3), "GET", "/health")
        assert r.status == 503 and r.json["status"] == "stopping", r
        assert_error(r, 503, "not_ready")
        assert d.proc.wait(5) == 0, d.stderr()


def test_new_connections_refused_while_stopping(daemon):
    d = daemon({"server.shutdown_timeout_ms": 3000, "server.body_timeout_ms": 60000})
    with d.connect() as c:
        c.send(b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")  # keeps it draining
        time.sleep(0.2)
        d.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        assert d.running()
        try:
            with HttpConn(d.socket_path, timeout=2) as late:
                late.send(request_bytes("GET", "/health"))
                r = late.read_response(timeout=2)
                assert r.status == 503, f"a new request during shutdown got {r!r}"
        except (ConnectionRefusedError, FileNotFoundError):
            pass
        except Exception as e:  # closed without an answer is fine too
            if "closed" not in str(e):
                raise
        assert d.proc.wait(6) == 0, d.stderr()


# ------------------------------------------------------------------ SIGHUP ----

def test_sighup_reloads_max_body_bytes(daemon):
    d = daemon()
    assert d.request("GET", "/health", body=b"x" * 2000).status == 200
    d.reconfigure({"server.max_body_bytes": 1024})
    d.send_signal(signal.SIGHUP)
    d.wait_log(r"config reloaded: server\.max_body_bytes 8388608 -> 1024$")
    assert d.get_json("/v1/config")["server"]["max_body_bytes"] == 1024
    with d.connect() as c:
        c.send(b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: 2000\r\n\r\n")
        assert_error(check_common(c.read_response(), "GET", "/health"), 413)
    # Only changed options are logged.
    reload_lines = [ln for ln in d.stderr().splitlines() if "config reloaded:" in ln]
    assert len(reload_lines) == 1, reload_lines


def test_sighup_reloads_several_options(daemon):
    d = daemon()
    d.reconfigure({"server.max_headers": 10, "log.access_log": "false"})
    d.send_signal(signal.SIGHUP)
    d.wait_log(r"config reloaded: server\.max_headers 64 -> 10$")
    d.wait_log(r"config reloaded: log\.access_log true -> false$")
    d.request("GET", "/health", request_id="after-reload")
    time.sleep(0.3)
    assert "request_id=after-reload" not in d.stderr()


def test_sighup_with_a_bad_file_keeps_the_old_config(daemon):
    d = daemon({"server.max_body_bytes": 5000})
    with open(d.config_path, "a") as f:
        f.write("[server]\nmax_body_bytes = lots\n")
    d.send_signal(signal.SIGHUP)
    d.wait_log(r"max_body_bytes.*lots")  # the error is reported
    time.sleep(0.2)
    assert d.running(), "a bad config on reload killed the daemon"
    assert d.get_json("/v1/config")["server"]["max_body_bytes"] == 5000


def test_sighup_does_not_move_the_socket(daemon):
    d = daemon()
    old = d.socket_path
    d.reconfigure({"server.socket": str(d.sockdir / "moved.sock"), "server.max_url_bytes": 1000})
    d.send_signal(signal.SIGHUP)
    d.wait_log(r"config reloaded: server\.max_url_bytes 8192 -> 1000$")
    with HttpConn(old) as c:
        c.send(request_bytes("GET", "/v1/config"))
        r = c.read_response()
        assert r.status == 200
    assert not os.path.exists(d.sockdir / "moved.sock")
