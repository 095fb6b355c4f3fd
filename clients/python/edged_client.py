"""edged_client.py - a stdlib-only Python client for edged's HTTP API on its
Unix socket: http.client over AF_UNIX with one kept-alive connection, JSON in
and out, Server-Sent Event streams as an iterator of events, and error
responses raised as EdgedError. One Client is for one thread at a time.

    from edged_client import Client, EdgedError
    c = Client()                      # $EDGED_SOCKET or /run/edged/edged.sock
    print(c.health()["status"])
    for event in c.stream("POST", "/v1/completions", {"prompt": "Hi", "stream": True}):
        print(event.data)
"""
import http.client
import json
import os
import socket
from collections import namedtuple

__all__ = ["Client", "EdgedError", "Event", "Response", "DEFAULT_SOCKET", "default_socket"]

DEFAULT_SOCKET = "/run/edged/edged.sock"
DEFAULT_TIMEOUT_S = 30.0


def default_socket(path=None):
    """path if given, else $EDGED_SOCKET if set, else DEFAULT_SOCKET."""
    return path or os.environ.get("EDGED_SOCKET") or DEFAULT_SOCKET


class EdgedError(Exception):
    """An error answer from edged: HTTP status and the body's
    {"error": {"message", "type", "code"}} (type/code None if absent)."""

    def __init__(self, status, type, code, message):
        super().__init__(f"{message} (HTTP {status}, {code})" if code else f"{message} (HTTP {status})")
        self.status = status
        self.type = type
        self.code = code
        self.message = message


class Response:
    """A successful answer: status, headers (http.client.HTTPMessage,
    case-insensitive), body (bytes)."""

    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def text(self):
        return self.body.decode("utf-8")

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"<Response {self.status} {self.headers.get('Content-Type')!r} {self.body[:100]!r}>"


# One Server-Sent Event: type ("message" unless an `event:` field said
# otherwise), data (JSON-decoded when it is JSON, else the text), raw (the text).
Event = namedtuple("Event", ["type", "data", "raw"])


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.socket_path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


def _error_from(status, body):
    try:
        err = json.loads(body)["error"]
        return EdgedError(status, err.get("type"), err.get("code"), err.get("message") or "")
    except (ValueError, KeyError, TypeError, AttributeError):
        text = body.decode("utf-8", "replace").strip()
        return EdgedError(status, None, None, text or f"HTTP {status}")


class Client:
    """A connection to edged. socket_path: as default_socket(); timeout:
    seconds for connecting and for each read (a stream waits that long for
    each piece, not for the whole). Raises OSError (e.g. FileNotFoundError,
    ConnectionRefusedError, PermissionError) when the socket cannot be used,
    TimeoutError when edged does not answer in time, EdgedError for error
    answers."""

    def __init__(self, socket_path=None, timeout=DEFAULT_TIMEOUT_S):
        self.socket_path = default_socket(socket_path)
        self.timeout = timeout
        self._conn = None
        self._served = 0  # answers read on the current connection

    def close(self):
        if self._conn is not None:
            self._conn.close()
        self._conn = None
        self._served = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- requests ------------------------------------------------------------
    def _send(self, method, path, body, headers):
        """Sends a request and returns the http.client response, reconnecting
        once when a kept connection turns out to have been closed by edged."""
        headers = dict(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode("utf-8")
            headers.setdefault("Content-Type", "application/json")
        elif isinstance(body, str):
            body = body.encode("utf-8")
            headers.setdefault("Content-Type", "text/plain; charset=utf-8")
        for attempt in (0, 1):
            if self._conn is None:
                self._conn = _UnixConnection(self.socket_path, self.timeout)
                self._served = 0
            reused = self._served > 0
            try:
                self._conn.request(method, path, body=body, headers=headers)
                resp = self._conn.getresponse()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.close()
                if reused and attempt == 0:
                    continue
                raise
            except BaseException:
                self.close()
                raise
            self._served += 1
            return resp
        raise AssertionError("unreachable")

    def _finish(self, resp):
        if resp.will_close:
            self.close()

    def request(self, method, path, body=None, headers=None):
        """Sends one request; returns a Response for a 2xx answer, raises
        EdgedError otherwise. body: dict/list (sent as JSON), str (UTF-8
        text), bytes, or None."""
        resp = self._send(method, path, body, headers)
        try:
            data = resp.read()
        except BaseException:
            self.close()
            raise
        self._finish(resp)
        if not 200 <= resp.status < 300:
            raise _error_from(resp.status, data)
        return Response(resp.status, resp.headers, data)

    def stream(self, method, path, body=None, headers=None):
        """Sends one request whose answer is a Server-Sent Event stream and
        yields an Event per event, ending after `data: [DONE]` (which is not
        yielded) or when the stream ends. Raises EdgedError for an error answer."""
        headers = dict(headers or {})
        headers.setdefault("Accept", "text/event-stream")
        resp = self._send(method, path, body, headers)
        if not 200 <= resp.status < 300:
            data = resp.read()
            self._finish(resp)
            raise _error_from(resp.status, data)
        if not resp.headers.get("Content-Type", "").startswith("text/event-stream"):
            data = resp.read()
            self._finish(resp)
            raise EdgedError(resp.status, None, None,
                             f"expected an event stream, got {resp.headers.get('Content-Type')!r}: {data[:200]!r}")
        done = False
        try:
            for event_type, raw in _sse_events(resp):
                if raw == "[DONE]":
                    done = True
                    break
                try:
                    data = json.loads(raw)
                except ValueError:
                    data = raw
                yield Event(event_type, data, raw)
            if done:
                resp.read()  # the rest of the chunked body: the connection stays usable
        finally:
            if not resp.isclosed() and not done:
                self.close()  # abandoned midway: the connection's state is unknown
            else:
                self._finish(resp)

    # -- endpoints -----------------------------------------------------------
    def health(self):
        """GET /health: {"status": "ok", "uptime_s", "version"}; EdgedError(503) while not ready."""
        return self.request("GET", "/health").json()

    def version(self):
        """GET /v1/version: {"name", "version", "api", "kernels", "compiler", "build_time"}."""
        return self.request("GET", "/v1/version").json()

    def metrics(self):
        """GET /metrics: the Prometheus text."""
        return self.request("GET", "/metrics").text

    def config(self):
        """GET /v1/config (admin): {section: {option: value}}."""
        return self.request("GET", "/v1/config").json()


def _sse_events(resp):
    """(type, data) per event of an event stream, per the HTML standard's
    interpretation rules (CRLF, LF or CR line ends; comments; multi-line data)."""
    data, event_type, has_data = [], "", False
    pending = b""     # the start of a line whose end has not arrived
    after_cr = False  # the last chunk ended in CR: an LF starting the next one is its CRLF
    while True:
        chunk = resp.read1(65536)
        if not chunk:
            return
        if after_cr and chunk.startswith(b"\n"):
            chunk = chunk[1:]
        after_cr = chunk.endswith(b"\r")
        lines = (pending + chunk).replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
        pending = lines.pop()
        for line in lines:
            text = line.decode("utf-8", "replace")
            if text == "":
                if has_data:
                    yield event_type or "message", "\n".join(data)
                data, event_type, has_data = [], "", False
                continue
            if text.startswith(":"):
                continue
            name, _, value = text.partition(":")
            if value.startswith(" "):
                value = value[1:]
            if name == "data":
                data.append(value)
                has_data = True
            elif name == "event":
                event_type = value
