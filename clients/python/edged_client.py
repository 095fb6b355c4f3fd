"""edged_client.py - a stdlib-only Python client for edged's HTTP API on its
Unix socket: http.client over AF_UNIX with one kept-alive connection, JSON in
and out, Server-Sent Event streams as an iterator of events, the OpenAI-style
inference calls (chat, complete, embed, tokenize), the personal store (ingest,
documents, document, delete, search; chat and complete with rag=...), the
training scheduler (scheduler, scheduler_lines), and error responses raised
as EdgedError. One Client is for one thread at a time.

    from edged_client import Client, EdgedError
    c = Client()                      # $EDGED_SOCKET or /run/edged/edged.sock
    print(c.health()["status"])
    answer = c.chat([{"role": "user", "content": "Hi"}], max_tokens=32)
    print(answer["choices"][0]["message"]["content"])
    for text in c.chat([{"role": "user", "content": "Hi"}], stream=True, seed=1):
        print(text, end="", flush=True)   # content deltas as they are generated
    vectors = c.embed(["one text", "another"])
    doc = c.ingest("Dentist on Tuesday at 9", collection="notes", title="dentist")
    hits = c.search("when is the dentist?", collections=["notes"])
    answer = c.chat([{"role": "user", "content": "When is the dentist?"}],
                    rag={"collections": ["notes"]})
    print(answer["citations"])        # [{"number", "document_id", "chunk_index", "title", "score"}]
    for event in c.stream("POST", "/v1/completions", {"prompt": "Hi", "stream": True}):
        print(event.data)             # raw Server-Sent Events, for any endpoint
"""
import http.client
import json
import os
import socket
import urllib.parse
from collections import namedtuple

__all__ = ["Client", "EdgedError", "Event", "Response", "TextStream", "DEFAULT_SOCKET",
           "default_socket", "scheduler_lines"]

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

    # -- inference (OpenAI wire format) ---------------------------------------
    def chat(self, messages, stream=False, **params):
        """POST /v1/chat/completions. messages: [{"role", "content"}, ...];
        params: any request field (max_tokens, temperature, top_p, seed, stop,
        top_k, min_p, repeat_penalty, ...). Without stream: the response dict
        (choices[0].message.content, finish_reason, usage, timings). With
        stream=True: a TextStream, iterated for the content strings as they
        are generated; its finish_reason and usage are set when it ends
        (usage is asked for unless params carry their own stream_options).
        Raises EdgedError for an error answer (also one sent midway)."""
        return self._generate("/v1/chat/completions", {"messages": messages}, stream, params,
                              lambda choice: (choice.get("delta") or {}).get("content"))

    def complete(self, prompt, stream=False, **params):
        """POST /v1/completions with a plain prompt (no chat template); as
        chat(): the response dict (choices[0].text), or with stream=True a
        TextStream of text pieces."""
        return self._generate("/v1/completions", {"prompt": prompt}, stream, params,
                              lambda choice: choice.get("text"))

    def embed(self, texts, **params):
        """POST /v1/embeddings: for a str its vector (a list of floats), for a
        list of str their vectors in the same order."""
        data = self.request("POST", "/v1/embeddings", dict(params, input=texts)).json()["data"]
        vectors = [item["embedding"] for item in sorted(data, key=lambda item: item["index"])]
        return vectors[0] if isinstance(texts, str) else vectors

    def tokenize(self, text, add_special=False, with_pieces=False):
        """POST /v1/tokenize: the token ids of text, or with with_pieces a
        list of {"id", "piece"}."""
        body = {"content": text, "add_special": add_special, "with_pieces": with_pieces}
        return self.request("POST", "/v1/tokenize", body).json()["tokens"]

    def detokenize(self, tokens):
        """POST /v1/detokenize: the text of a list of token ids."""
        return self.request("POST", "/v1/detokenize", {"tokens": list(tokens)}).json()["content"]

    def models(self):
        """GET /v1/models: the list of model objects ({"id", "object", ...})."""
        return self.request("GET", "/v1/models").json()["data"]

    # -- the personal store ----------------------------------------------------
    _CONTENT_TYPES = {".txt": "text/plain", ".md": "text/markdown", ".markdown": "text/markdown",
                      ".html": "text/html", ".htm": "text/html"}

    def ingest(self, text=None, collection="default", title=None, path=None, source=None, metadata=None,
               force=False):
        """POST /v1/documents: stores one document in `collection` (created,
        owned by this process's uid, when new) and returns {"id", "chunks",
        "tokens", "version", "outcome", "unchanged", ...}. The document is
        `text` (a str), or a file: `path`, or an os.PathLike (pathlib.Path)
        given as text. A file is .txt, .md/.markdown or .html/.htm, sent as is
        with its Content-Type (edged strips the markup); its title defaults to
        the file name, its source to its absolute path. A collection holds one
        document per source (at most 1024 bytes): the same source again with
        the same content is left as it is ("outcome": "unchanged"), with other
        content (or force=True) replaced ("replaced", the same id, "version"
        one more); without a source a document is always added."""
        if isinstance(text, os.PathLike) and path is None:
            text, path = None, text
        if (text is None) == (path is None):
            raise ValueError("ingest: give either text or path")
        if path is not None:
            path = os.fspath(path)
            kind = self._CONTENT_TYPES.get(os.path.splitext(path)[1].lower())
            if kind is None:
                raise ValueError(f"ingest: {path}: not a .txt, .md, .markdown, .html or .htm file")
            with open(path, "rb") as f:
                body = f.read()
            query = {"collection": collection, "title": title or os.path.basename(path),
                     "source": source or os.path.abspath(path)}
            if force:
                query["force"] = "true"
            return self.request("POST", "/v1/documents?" + urllib.parse.urlencode(query), body,
                                {"Content-Type": kind + "; charset=utf-8"}).json()
        doc = {"collection": collection, "text": text}
        for key, value in (("title", title), ("source", source), ("metadata", metadata)):
            if value is not None:
                doc[key] = value
        if force:
            doc["force"] = True
        return self.request("POST", "/v1/documents", doc).json()

    def documents(self, collection=None, limit=100, after=None):
        """GET /v1/documents, every page: the list of documents (metadata, no
        text) this process may read, of one collection or all."""
        out = []
        while True:
            query = {"limit": limit}
            if collection is not None:
                query["collection"] = collection
            if after:
                query["after"] = after
            page = self.request("GET", "/v1/documents?" + urllib.parse.urlencode(query)).json()
            out.extend(page.get("data") or [])
            after = page.get("next_after")
            if not page.get("has_more") or not after:
                return out

    def document(self, id, text=False):
        """GET /v1/documents/{id}: its metadata, and its text when asked."""
        return self.request("GET", f"/v1/documents/{int(id)}" + ("?text=true" if text else "")).json()

    def delete(self, id):
        """DELETE /v1/documents/{id}: its chunks, vectors and text are gone."""
        return self.request("DELETE", f"/v1/documents/{int(id)}").json()

    # -- adapters ------------------------------------------------------------
    # An adapter is named by its id, its name (its active version, else its
    # newest) or "name@version"; chat() and complete() take adapter=... and
    # adapter_scale=... like any other request field ("none": the base alone).

    @staticmethod
    def _adapter_path(adapter, suffix=""):
        return "/v1/adapters/" + urllib.parse.quote(str(adapter), safe="") + suffix

    def adapters(self):
        """GET /v1/adapters: the adapter objects ({"id", "name", "version",
        "status", "rank", "targets", ...}), by name then version."""
        return self.request("GET", "/v1/adapters").json()["data"]

    def adapter(self, adapter):
        """GET /v1/adapters/{adapter}: one adapter object."""
        return self.request("GET", self._adapter_path(adapter)).json()

    def import_adapter(self, path=None, data=None, name=None):
        """POST /v1/adapters: a llama.cpp LoRA GGUF (a file path, or its bytes
        as data); name: else the file's edged.adapter.name. Each import of a
        name is its next version. Returns the new adapter object."""
        if data is None:
            with open(path, "rb") as f:
                data = f.read()
        target = "/v1/adapters" + ("?" + urllib.parse.urlencode({"name": name}) if name else "")
        return self.request("POST", target, bytes(data), {"Content-Type": "application/octet-stream"}).json()

    def activate_adapter(self, adapter):
        """POST /v1/adapters/{adapter}/activate: the default of requests that
        name none (persisted); rolling back is activating an earlier version."""
        return self.request("POST", self._adapter_path(adapter, "/activate"), b"").json()

    def deactivate_adapter(self):
        """POST /v1/adapters/deactivate: requests that name none use the base."""
        return self.request("POST", "/v1/adapters/deactivate", b"").json()

    def delete_adapter(self, adapter, force=False):
        """DELETE /v1/adapters/{adapter}; the active one needs force=True."""
        return self.request("DELETE", self._adapter_path(adapter, "?force=true" if force else "")).json()

    def export_adapter(self, adapter):
        """GET /v1/adapters/{adapter}/file (admin group): the plain GGUF bytes."""
        return self.request("GET", self._adapter_path(adapter, "/file")).body

    # -- adapt jobs -----------------------------------------------------------
    def adapt(self, collections, **options):
        """POST /v1/adapt: queues a LoRA training job on the documents of
        `collections` (a name or a list) and returns the job object ({"id",
        "state", ...}). options: name, method ("lora"), rank, alpha, targets,
        seq_len, learning_rate, budget_s, max_steps, heldout_fraction, seed,
        examples (a list of message lists), run_now (admin)."""
        if isinstance(collections, str):
            collections = [collections]
        body = dict(options, collections=list(collections or []))
        return self.request("POST", "/v1/adapt", body).json()

    def jobs(self):
        """GET /v1/adapt/jobs: the caller's jobs (an admin's, every one), oldest first."""
        return self.request("GET", "/v1/adapt/jobs").json()["data"]

    def job(self, id):
        """GET /v1/adapt/jobs/{id}: the job with its state, reason, progress,
        losses ("losses": [{"step", "train_loss", "heldout_loss", ...}]) and
        the adapter it made ("adapter_id")."""
        return self.request("GET", "/v1/adapt/jobs/" + urllib.parse.quote(str(id), safe="")).json()

    def cancel_job(self, id):
        """DELETE /v1/adapt/jobs/{id}: stops it; its checkpoints are deleted.
        Returns the job (state "cancelled", or as it had ended)."""
        return self.request("DELETE", "/v1/adapt/jobs/" + urllib.parse.quote(str(id), safe="")).json()

    def job_events(self, id):
        """GET /v1/adapt/jobs/{id}/events: yields each event dict ({"type":
        "snapshot" | "state" | "progress" | "paused" | "resumed" | "end", ...})
        as it happens; the last is the end. The client's timeout bounds the
        wait between events: give it a long one to follow a job that waits
        for its window."""
        for event in self.stream("GET", "/v1/adapt/jobs/" + urllib.parse.quote(str(id), safe="") + "/events"):
            yield event.data
            if isinstance(event.data, dict) and event.data.get("type") == "end":
                return

    def wait_job(self, id):
        """Follows a job's events until it ends; returns the job as it ended."""
        for _ in self.job_events(id):
            pass
        return self.job(id)

    # -- training windows ----------------------------------------------------
    def scheduler(self):
        """GET /v1/scheduler (adapt group): {"window_open", "trainer": {"state",
        "pauses"}, "constraints": [{"name", "verdict" ("ok", "fail",
        "unknown"), "holds", "value", "threshold", "unit", "reason"}],
        "next_allowed_hours": {"at", "in_s", "closes_at"}, "today":
        {"window_open_s", "trained_s"}, "evaluated_at"}. scheduler_lines()
        turns it into edgectl scheduler's text."""
        return self.request("GET", "/v1/scheduler").json()

    def search(self, query, collections=None, top_k=None, mode=None):
        """POST /v1/search: the hits ({"document_id", "chunk_index", "title",
        "text", "score", ...}), best first. mode: "hybrid" (edged's default),
        "dense" or "lexical"."""
        body = {"query": query}
        if collections is not None:
            body["collections"] = [collections] if isinstance(collections, str) else list(collections)
        if top_k is not None:
            body["top_k"] = top_k
        if mode is not None:
            body["mode"] = mode
        return self.request("POST", "/v1/search", body).json()["data"]

    def _generate(self, path, body, stream, params, text_of):
        body = dict(params, **body)
        if not stream:
            body["stream"] = False
            return self.request("POST", path, body).json()
        body["stream"] = True
        body.setdefault("stream_options", {"include_usage": True})
        return TextStream(self.stream("POST", path, body), text_of)


class TextStream:
    """The text of a streamed generation. Iterating yields each non-empty
    text piece (a str) as its chunk arrives, and stops after `data: [DONE]`.
    Once it has ended: finish_reason ("stop", "length"), usage (the dict of
    the usage chunk, None if none came) and chunks (every chunk dict);
    citations (with rag: the list the first chunk carried) as soon as it came."""

    def __init__(self, events, text_of):
        self._events = events
        self._text_of = text_of
        self.finish_reason = None
        self.usage = None
        self.citations = None
        self.chunks = []

    def __iter__(self):
        for event in self._events:
            chunk = event.data
            if not isinstance(chunk, dict):
                raise EdgedError(200, None, None, f"a stream chunk is not a JSON object: {event.raw[:200]!r}")
            if "error" in chunk:
                err = chunk["error"] if isinstance(chunk["error"], dict) else {"message": str(chunk["error"])}
                raise EdgedError(200, err.get("type"), err.get("code"), err.get("message") or "")
            self.chunks.append(chunk)
            if chunk.get("usage"):
                self.usage = chunk["usage"]
            if "citations" in chunk and self.citations is None:
                self.citations = chunk["citations"]
            for choice in chunk.get("choices") or []:
                if choice.get("finish_reason"):
                    self.finish_reason = choice["finish_reason"]
                text = self._text_of(choice)
                if text:
                    yield text

    def text(self):
        """Consumes the stream; returns the whole text."""
        return "".join(self)


def _scheduler_value(value, unit):
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return f"{value:g}{' ' if unit and unit != '%' else ''}{unit}"
    return "-" if value is None else str(value)


def _duration(seconds):
    s = int(seconds)
    if s >= 3600:
        return f"{s // 3600}h{s // 60 % 60:02d}m"
    if s >= 60:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s}s"


def scheduler_lines(answer):
    """The lines `edgectl scheduler` prints for a GET /v1/scheduler answer:
    the window, the trainer, one line per constraint (verdict, name, value /
    threshold, reason), the next allowed hours and today's totals."""
    failing = [c["name"] for c in answer["constraints"] if not c["holds"]]
    lines = ["window: open (training may run now)" if answer["window_open"]
             else f"window: closed (training waits: {', '.join(failing)})",
             f"trainer: {answer['trainer']['state']} ({answer['trainer']['pauses']} pauses)"]
    for c in answer["constraints"]:
        pair = f"{_scheduler_value(c['value'], c['unit'])} / {_scheduler_value(c['threshold'], c['unit'])}"
        verdict = "FAIL" if c["verdict"] == "fail" else c["verdict"]
        lines.append(f"  {verdict:<7} {c['name']:<12} {pair:<24} {c['reason']}")
    hours = answer["next_allowed_hours"]
    if hours["in_s"] > 0:
        lines.append(f"hours: next open at {hours['at']} (in {_duration(hours['in_s'])})")
    elif hours["closes_at"]:
        lines.append(f"hours: inside now, until {hours['closes_at']}")
    else:
        lines.append("hours: any hour allowed")
    today = answer["today"]
    lines.append(f"today: window open {_duration(today['window_open_s'])}, trained {_duration(today['trained_s'])}")
    return lines


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
