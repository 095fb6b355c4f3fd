"""conftest.py - fixtures for edged's integration tests: they start the real
daemon ($BUILD/edged) on a temporary socket with a temporary config and speak
HTTP/1.1 to it over raw Unix sockets (no http.client: it is too forgiving for
framing and smuggling tests), validating every response against
proto/openapi.yaml (openapi.py).
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

import openapi

REPO = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("BUILD", "build"))
if not BUILD.is_absolute():
    BUILD = REPO / BUILD
EDGED = BUILD / "edged"

START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 15.0
REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
GENERATED_ID_RE = re.compile(r"^[0-9a-f]{32}$")

# The options every test daemon starts with, over the built-in defaults:
# everything lives in the test's own directories; everyone may use every group
# (tests about access control override access.*).
BASE_OPTIONS = {
    "access.infer": "*",
    "access.ingest": "*",
    "access.adapt": "*",
    "access.admin": "*",
    "log.level": "info",
    "log.access_log": "true",
}


def write_config(path, options):
    """Writes an INI file from {"section.option": value}; returns the path."""
    sections = {}
    for key, value in options.items():
        section, name = key.split(".", 1)
        if isinstance(value, bool):
            value = "true" if value else "false"
        sections.setdefault(section, []).append(f"{name} = {value}")
    with open(path, "w", encoding="utf-8") as f:
        f.write("# written by tests/integration/conftest.py\n")
        for section, lines in sections.items():
            f.write(f"[{section}]\n" + "\n".join(lines) + "\n\n")
    return str(path)


def require_edged():
    if not EDGED.exists():
        pytest.fail(f"{EDGED} does not exist: build it first (make {EDGED.relative_to(REPO)})")


# ------------------------------------------------------------------ HTTP ----

class Response:
    """One parsed HTTP response: status, reason, headers (list of (lower-case
    name, value) in order), body (bytes, de-chunked)."""

    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body
        self.json = None  # filled by HttpConn.check for JSON bodies

    def header(self, name, default=None):
        values = self.header_all(name)
        if len(values) > 1:
            raise AssertionError(f"header {name} appears {len(values)} times: {values}")
        return values[0] if values else default

    def header_all(self, name):
        name = name.lower()
        return [v for n, v in self.headers if n == name]

    @property
    def closes(self):
        """True if the response says the server will close the connection."""
        return any(t.strip().lower() == "close"
                   for v in self.header_all("connection") for t in v.split(","))

    def __repr__(self):
        return f"<Response {self.status} {self.reason!r} {self.headers!r} {self.body[:200]!r}>"


class Closed(Exception):
    """The server closed the connection before a whole response arrived."""


class HttpConn:
    """A raw HTTP/1.1 client connection on a Unix socket. send() writes bytes
    as given; read_response() parses exactly one response (1xx included)
    strictly (CRLF line endings, one Content-Length or chunked)."""

    def __init__(self, path, timeout=5.0, sock=None):
        self.path = str(path)
        if sock is None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(timeout)
            sock.connect(self.path)
        self.sock = sock
        self.buf = b""
        self.eof = False
        self.send_failed = False  # the server closed before all was sent

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data):
        """Writes data. A server that has already answered and closed (e.g.
        503 on accept, 413 before the body) makes this a no-op: what it said
        is still readable, and the read decides the test."""
        if isinstance(data, str):
            data = data.encode("latin-1")
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            self.send_failed = True

    def _fill(self, deadline):
        if self.eof:
            raise Closed(f"connection closed; unparsed bytes: {self.buf[:200]!r}")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise socket.timeout(f"no complete response in time; have {self.buf[:300]!r}")
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(65536)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            self.eof = True
            raise Closed(f"connection closed; unparsed bytes: {self.buf[:200]!r}")
        self.buf += chunk

    def _line(self, deadline):
        while b"\r\n" not in self.buf:
            self._fill(deadline)
        line, self.buf = self.buf.split(b"\r\n", 1)
        assert b"\n" not in line and b"\r" not in line, f"bare CR/LF in a response line: {line!r}"
        return line

    def _exactly(self, n, deadline):
        while len(self.buf) < n:
            self._fill(deadline)
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def read_response(self, timeout=5.0):
        """Parses the next response (a 1xx one too) within timeout seconds."""
        deadline = time.monotonic() + timeout
        status_line = self._line(deadline).decode("latin-1")
        m = re.match(r"^HTTP/1\.1 ([1-5][0-9][0-9]) (.*)$", status_line)
        assert m, f"bad status line {status_line!r}"
        status, reason = int(m.group(1)), m.group(2)
        headers = []
        while True:
            line = self._line(deadline).decode("latin-1")
            if line == "":
                break
            hm = re.match(r"^([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*(.*?)[ \t]*$", line)
            assert hm, f"bad header line {line!r}"
            headers.append((hm.group(1).lower(), hm.group(2)))
        names = [n for n, _ in headers]
        body = b""
        if 100 <= status < 200 or status in (204, 304):
            pass
        elif "transfer-encoding" in names:
            assert "content-length" not in names, "response has both Content-Length and Transfer-Encoding"
            te = [v for n, v in headers if n == "transfer-encoding"]
            assert te == ["chunked"], f"unexpected Transfer-Encoding {te}"
            while True:
                size_line = self._line(deadline).decode("latin-1")
                size = int(size_line.split(";", 1)[0], 16)
                if size == 0:
                    while self._line(deadline) != b"":
                        pass
                    break
                body += self._exactly(size, deadline)
                assert self._exactly(2, deadline) == b"\r\n", "chunk not followed by CRLF"
        else:
            cls = [v for n, v in headers if n == "content-length"]
            assert len(cls) == 1, f"response needs exactly one Content-Length, has {cls}: {headers}"
            assert re.fullmatch(r"[0-9]+", cls[0]), f"bad Content-Length {cls[0]!r}"
            body = self._exactly(int(cls[0]), deadline)
        return Response(status, reason, headers, body)

    def read_until_closed(self, timeout=5.0):
        """Reads until EOF; returns the bytes that came (after any buffered ones).
        Raises socket.timeout if the server keeps the connection open."""
        deadline = time.monotonic() + timeout
        data = self.buf
        self.buf = b""
        while not self.eof:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise socket.timeout(f"connection still open after {timeout} s (got {data[:200]!r})")
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                self.eof = True
            data += chunk
        return data

    def assert_closed(self, timeout=5.0):
        """Asserts the server closes the connection (no further bytes) within timeout."""
        rest = self.read_until_closed(timeout)
        assert rest == b"", f"bytes after the response, before close: {rest[:300]!r}"

    def assert_open(self, wait=0.3):
        """Asserts the connection is still open and silent after `wait` seconds."""
        self.sock.settimeout(wait)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            return
        except ConnectionResetError:
            chunk = b""
        raise AssertionError(f"connection should be open and silent, got {chunk[:200]!r}"
                             + (" (closed)" if not chunk else ""))


def responses_from_bytes(raw):
    """Parses every response in raw (a whole conversation, read until close)."""
    a, b = socket.socketpair()
    try:
        a.sendall(raw)
        a.close()
        conn = HttpConn("", sock=b)
        out = []
        while True:
            try:
                out.append(conn.read_response(timeout=1))
            except Closed:
                assert conn.buf == b"", f"trailing bytes after the responses: {conn.buf[:200]!r}"
                return out
    finally:
        b.close()


def request_bytes(method, target, headers=None, body=b"", host=True):
    """Builds a well-formed request. headers: list of (name, value). A
    Content-Length is added for a non-empty body unless headers carry framing."""
    if isinstance(body, str):
        body = body.encode()
    headers = list(headers or [])
    names = {n.lower() for n, _ in headers}
    if host and "host" not in names:
        headers.insert(0, ("Host", "localhost"))
    if body and "content-length" not in names and "transfer-encoding" not in names:
        headers.append(("Content-Length", str(len(body))))
    head = f"{method} {target} HTTP/1.1\r\n" + "".join(f"{n}: {v}\r\n" for n, v in headers) + "\r\n"
    return head.encode("latin-1") + body


def check_common(resp, method, path, request_id=None):
    """The checks every final response gets: Content-Type and Content-Length
    (or chunked), a well-formed X-Request-Id (the echo of request_id when that
    is valid), and the body against openapi.yaml. Fills resp.json."""
    if resp.status < 200:
        return resp
    assert resp.header("content-type"), f"no Content-Type: {resp!r}"
    assert resp.header("content-length") is not None or resp.header("transfer-encoding") == "chunked", \
        f"no Content-Length: {resp!r}"
    rid = resp.header("x-request-id")
    assert rid is not None, f"no X-Request-Id: {resp!r}"
    assert REQUEST_ID_RE.match(rid), f"bad X-Request-Id {rid!r}"
    if request_id is not None:
        if REQUEST_ID_RE.match(request_id):
            assert rid == request_id, f"X-Request-Id {rid!r} is not the echo of {request_id!r}"
        else:
            assert GENERATED_ID_RE.match(rid), f"X-Request-Id {rid!r} should be 32 generated hex digits"
    else:
        assert GENERATED_ID_RE.match(rid), f"X-Request-Id {rid!r} should be 32 generated hex digits"
    parsed = openapi.check_response(method, path, resp.status, resp.header("content-type"), resp.body)
    resp.json = parsed if isinstance(parsed, (dict, list)) else None
    if resp.status >= 400 and resp.header("content-type", "").startswith("application/json"):
        assert isinstance(resp.json, dict) and "error" in resp.json, f"error status without an error object: {resp!r}"
    return resp


# Error code and type the contract pairs with each status (API.md).
ERROR_OF_STATUS = {
    400: ("invalid_request_error", "bad_request"),
    403: ("permission_error", "forbidden"),
    404: ("not_found_error", "not_found"),
    405: ("invalid_request_error", "method_not_allowed"),
    408: ("invalid_request_error", "request_timeout"),
    411: ("invalid_request_error", "length_required"),
    413: ("invalid_request_error", "body_too_large"),
    414: ("invalid_request_error", "uri_too_long"),
    431: ("invalid_request_error", "headers_too_large"),
    500: ("server_error", "internal_error"),
}


def assert_error(resp, status, code=None):
    """Asserts resp is the documented error for `status` (type and code)."""
    assert resp.status == status, f"expected {status}, got {resp!r}"
    assert resp.header("content-type") == "application/json", f"error Content-Type: {resp!r}"
    err = resp.json["error"] if resp.json else json.loads(resp.body)["error"]
    if status == 503:
        assert err["type"] == "unavailable_error", err
        assert err["code"] == (code or err["code"]) and err["code"] in ("too_many_connections", "not_ready"), err
    else:
        etype, ecode = ERROR_OF_STATUS[status]
        assert err["type"] == etype, f"type {err['type']!r}, expected {etype!r}"
        assert err["code"] == (code or ecode), f"code {err['code']!r}, expected {code or ecode!r}"
    assert err["message"], "empty error message"
    return err


# ---------------------------------------------------------------- daemon ----

class Daemon:
    """One edged process on a temporary socket. Start with start(); every
    request helper validates the response against the contract."""

    def __init__(self, workdir, options=None, args=None, wrapper=None, env=None):
        self.workdir = Path(workdir)
        # A short directory of its own for the socket (sun_path is 108 bytes),
        # traversable by other users (for the tests that connect as nobody).
        self.sockdir = Path(tempfile.mkdtemp(prefix="edged-", dir="/tmp"))
        os.chmod(self.sockdir, 0o755)
        self.socket_path = str(self.sockdir / "edged.sock")
        self.state_dir = self.workdir / "state"
        self.state_dir.mkdir(exist_ok=True)
        self.options = dict(BASE_OPTIONS)
        self.options["server.socket"] = self.socket_path
        self.options["state.directory"] = str(self.state_dir)
        self.options.update(options or {})
        self.socket_path = self.options["server.socket"]
        self.config_path = str(self.workdir / "edged.conf")
        self.stderr_path = self.workdir / "edged.stderr"
        self.args = list(args or [])
        self.wrapper = list(wrapper or [])
        self.env = env
        self.proc = None
        self.expect_exit = 0  # checked by the fixture's teardown
        write_config(self.config_path, self.options)

    # -- process --------------------------------------------------------
    def command(self):
        return self.wrapper + [str(EDGED), "--config", self.config_path] + self.args

    def start(self, wait=True, listen_path=None):
        require_edged()
        env = dict(os.environ)
        env.update(self.env or {})
        self._stderr = open(self.stderr_path, "ab")
        self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL, stdout=self._stderr,
                                     stderr=self._stderr, env=env, cwd=str(self.workdir))
        if wait:
            self.wait_ready(listen_path)
        return self

    def wait_ready(self, listen_path=None, timeout=START_TIMEOUT_S):
        """Waits until GET /health answers 200 on the socket."""
        path = listen_path or self.socket_path
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"edged exited with {self.proc.returncode} before serving:\n{self.stderr()}")
            try:
                with HttpConn(path, timeout=2) as c:
                    c.send(request_bytes("GET", "/health"))
                    r = c.read_response(timeout=2)
                    if r.status == 200:
                        return
                    last = r
            except (OSError, Closed) as e:
                last = e
            time.sleep(0.05)
        raise AssertionError(f"/health did not answer 200 within {timeout} s (last: {last!r}):\n{self.stderr()}")

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT_S):
        """Sends sig and waits; returns the exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"edged did not exit within {timeout} s of signal {sig}:\n{self.stderr()}")
        return self.proc.returncode

    def stderr(self):
        try:
            return self.stderr_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_log(self, pattern, timeout=5.0):
        """Waits until a stderr line matches the regex; returns the match."""
        rx = re.compile(pattern, re.M)
        deadline = time.monotonic() + timeout
        while True:
            m = rx.search(self.stderr())
            if m:
                return m
            if time.monotonic() > deadline:
                raise AssertionError(f"no stderr line matches /{pattern}/ within {timeout} s:\n{self.stderr()}")
            time.sleep(0.05)

    def reconfigure(self, options):
        """Rewrites the config file with these changes (for SIGHUP tests)."""
        self.options.update(options)
        write_config(self.config_path, self.options)

    # -- HTTP -------------------------------------------------------------
    def connect(self, timeout=5.0, path=None):
        return HttpConn(path or self.socket_path, timeout)

    def request(self, method, target, headers=None, body=b"", request_id=None, conn=None, timeout=5.0):
        """One request on a new (or the given) connection; the response is
        checked with check_common (contract, X-Request-Id) and returned."""
        headers = list(headers or [])
        if request_id is not None:
            headers.append(("X-Request-Id", request_id))
        own = conn is None
        c = conn or self.connect(timeout)
        try:
            c.send(request_bytes(method, target, headers, body))
            r = c.read_response(timeout)
        finally:
            if own:
                c.close()
        return check_common(r, method, target, request_id)

    def get_json(self, target, status=200):
        r = self.request("GET", target)
        assert r.status == status, f"GET {target}: {r!r}"
        return r.json

    def cleanup(self):
        if getattr(self, "_stderr", None):
            self._stderr.close()
        shutil.rmtree(self.sockdir, ignore_errors=True)


@pytest.fixture
def daemon(tmp_path):
    """Factory: daemon(options={"server.max_connections": 4}, args=[...],
    start=True) -> a started Daemon. On teardown each one still running gets
    SIGTERM and must exit with its expect_exit (0) in time; stderr is shown
    on failure."""
    made = []
    counter = [0]

    def make(options=None, args=None, start=True, wrapper=None, env=None, listen_path=None):
        counter[0] += 1
        workdir = tmp_path / f"d{counter[0]}"
        workdir.mkdir()
        d = Daemon(workdir, options, args, wrapper, env)
        made.append(d)
        if start:
            d.start(listen_path=listen_path)
        return d

    yield make
    problems = []
    for d in made:
        try:
            if d.running():
                t0 = time.monotonic()
                rc = d.stop()
                if rc != d.expect_exit:
                    problems.append(f"edged exited with {rc} on SIGTERM (expected {d.expect_exit}) "
                                    f"after {time.monotonic() - t0:.1f} s:\n{d.stderr()}")
            for line in d.stderr().splitlines():
                if "AddressSanitizer" in line or "runtime error:" in line or "LeakSanitizer" in line:
                    problems.append(f"sanitizer report in edged's stderr:\n{d.stderr()}")
                    break
        except AssertionError as e:
            problems.append(str(e))
        finally:
            d.cleanup()
    if problems:
        pytest.fail("\n\n".join(problems))


def run_as_nobody(code, timeout=20):
    """Runs python code as uid nobody / gid nogroup; returns CompletedProcess."""
    if os.geteuid() != 0:
        pytest.skip("needs root to run a client as the user nobody (the tests run as root in CI)")
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is not installed")
    return subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                           "/usr/bin/python3", "-c", code],
                          capture_output=True, timeout=timeout, cwd="/")


# ----------------------------------------------------------------- models ----
# Fixture models written by mkmodel (random weights, real vocabulary), and a
# daemon that serves one. Inference tests (test_infer*.py, test_embed*.py)
# use these.

MKMODEL = BUILD / "tests" / "tools" / "mkmodel"
SPM_VOCAB = REPO.parent / "shared" / "testdata" / "vocab" / "ggml-vocab-llama-spm.gguf"


def make_model(out, *extra):
    """Writes a llama model with the Llama SentencePiece vocabulary to `out`."""
    if not MKMODEL.exists():
        pytest.fail(f"{MKMODEL} does not exist: build it first (make {MKMODEL.relative_to(REPO)})")
    cmd = [str(MKMODEL), "--arch", "llama", "--vocab", str(SPM_VOCAB), "--out", str(out),
           "--type", "q8_0", *extra]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=str(REPO))
    assert done.returncode == 0, f"mkmodel failed: {done.stderr}"
    return out


BERT_VOCAB = REPO.parent / "shared" / "testdata" / "vocab" / "ggml-vocab-bert-bge.gguf"


def make_bert(out, n_embd, n_layer, n_ff, ctx, n_head=4):
    """Writes a random BERT embedding model with the bge WordPiece vocabulary."""
    if not MKMODEL.exists():
        pytest.fail(f"{MKMODEL} does not exist: build it first (make {MKMODEL.relative_to(REPO)})")
    cmd = [str(MKMODEL), "--arch", "bert", "--vocab", str(BERT_VOCAB), "--out", str(out),
           "--n-embd", str(n_embd), "--n-layer", str(n_layer), "--n-head", str(n_head),
           "--n-head-kv", str(n_head), "--n-ff", str(n_ff), "--ctx", str(ctx)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=str(REPO))
    assert done.returncode == 0, f"mkmodel failed: {done.stderr}"
    return out


@pytest.fixture(scope="session")
def test_model(tmp_path_factory):
    """A tiny random model (64 wide, 2 layers, context 256): fast answers."""
    return make_model(tmp_path_factory.mktemp("model") / "m.gguf",
                      "--n-embd", "64", "--n-layer", "2", "--ctx", "256")


@pytest.fixture(scope="session")
def slow_model(tmp_path_factory):
    """A larger random model (512 wide, 8 layers, context 2048) whose long
    generations last seconds: for queue-full and cancellation tests."""
    return make_model(tmp_path_factory.mktemp("slow-model") / "slow.gguf",
                      "--n-embd", "512", "--n-layer", "8", "--n-head", "8", "--n-head-kv", "4",
                      "--n-ff", "1536", "--ctx", "2048")


@pytest.fixture
def daemon_with_model(daemon, test_model):
    """Factory: daemon_with_model(options=None, model=None, **daemon kwargs) ->
    a started Daemon serving test_model with its 256-token context (or
    `model` with 2048) and engine.parallel 2, engine.queue_length 2 unless
    options say otherwise; started means
    /health is 200, so the model is loaded."""
    def make(options=None, model=None, **kwargs):
        opts = {"model.path": str(model or test_model), "model.context": 256 if model is None else 2048,
                "engine.parallel": 2, "engine.queue_length": 2}
        opts.update(options or {})
        return daemon(opts, **kwargs)
    return make


def post_json(d, path, body, timeout=30.0, conn=None):
    """POSTs `body` (an object, or raw str/bytes) as JSON; the response is checked
    against the contract (check_common) and returned."""
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return d.request("POST", path, [("Content-Type", "application/json")], data, conn=conn, timeout=timeout)


def sse_events(body):
    """The data of each event of an SSE body (bytes), in order: parsed JSON,
    or the string "[DONE]"."""
    text = body.decode("utf-8")
    assert text.endswith("\n\n"), f"SSE body does not end with a blank line: {text[-80:]!r}"
    events = []
    for block in text[:-2].split("\n\n"):
        lines = block.split("\n")
        assert all(l.startswith("data: ") for l in lines), f"SSE event with other fields: {block!r}"
        data = "\n".join(l[len("data: "):] for l in lines)
        events.append(data if data == "[DONE]" else json.loads(data))
    return events
