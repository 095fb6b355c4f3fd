"""test_infer.py - POST /v1/chat/completions, POST /v1/completions and
GET /v1/models against the real daemon serving a fixture model (mkmodel):
whole and streamed answers (SSE order, [DONE], usage), finish reasons, stop
strings, seeds, validation errors, queue-full 503, cancellation when the
client leaves, concurrent streams against sequential runs, prefix reuse,
curl -N, /health for a model that does not load. Every response body is
validated against proto/openapi.yaml (check_common, openapi.validate).
"""
import json
import re
import shutil
import socket
import signal
import subprocess
import threading
import time

import pytest

import openapi
from conftest import Closed, HttpConn, post_json, request_bytes, sse_events

EOS = 2  # the Llama SPM vocabulary's </s>
NO_EOS = {str(EOS): -100}  # keeps random models talking until max_tokens
ID_RE = re.compile(r"^(chatcmpl|cmpl)-[A-Za-z0-9]{24}$")
CHAT = "/v1/chat/completions"
COMPLETE = "/v1/completions"


def chat_body(content="Hello there", **fields):
    body = {"model": "default", "messages": [{"role": "user", "content": content}]}
    body.update(fields)
    return body


def schema(name):
    return {"$ref": f"#/components/schemas/{name}"}


def check_error(resp, status, code, param=None):
    assert resp.status == status, f"expected {status}, got {resp!r}"
    err = resp.json["error"]
    assert err["code"] == code, err
    if param is not None:
        assert err.get("param") == param, err
        assert err["message"].startswith(param + ":"), err
    return err


def stream_text(events, chat=True):
    """Checks a streamed answer's events in order; returns (text, finish, usage)."""
    assert events[-1] == "[DONE]", events[-3:]
    chunks = events[:-1]
    kind = "ChatCompletionChunk" if chat else "CompletionChunk"
    for c in chunks:
        openapi.validate(c, schema(kind))
    ids = {c["id"] for c in chunks}
    assert len(ids) == 1 and ID_RE.match(ids.pop())
    usage = None
    if chunks[-1]["choices"] == []:
        usage = chunks[-1]["usage"]
        chunks = chunks[:-1]
    if chat:
        assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}, chunks[0]
        chunks = chunks[1:]
    last = chunks[-1]["choices"][0]
    assert last["finish_reason"] in ("stop", "length")
    if chat:
        assert last["delta"] == {}, last
    for c in chunks[:-1]:
        assert c["choices"][0]["finish_reason"] is None, c
    text = "".join(c["choices"][0]["delta"].get("content", "") if chat else c["choices"][0]["text"]
                   for c in chunks)
    return text, last["finish_reason"], usage


# ------------------------------------------------------------- answers ----

def test_models_lists_the_served_model(daemon_with_model, test_model):
    d = daemon_with_model()
    body = d.get_json("/v1/models")
    assert body["object"] == "list"
    # the id, then its aliases (general.name, "default"): test_model_names.py
    assert [m["id"] for m in body["data"]] == [test_model.stem, "mkmodel llama q8_0 seed 1", "default"]
    assert body["data"][0]["owned_by"] == "edged"
    # the family: the architecture and the chat format prompts are rendered in (no template: chatml)
    assert {(m["architecture"], m["chat_format"]) for m in body["data"]} == {("llama", "chatml")}


def test_chat_whole_answer(daemon_with_model, test_model):
    d = daemon_with_model()
    r = post_json(d, CHAT, chat_body(max_tokens=7, seed=3, logit_bias=NO_EOS))
    assert r.status == 200, r
    b = r.json
    assert b["object"] == "chat.completion" and ID_RE.match(b["id"]) and b["id"].startswith("chatcmpl-")
    assert b["model"] == test_model.stem  # the served id, whatever the request named
    assert abs(b["created"] - time.time()) < 60
    choice = b["choices"][0]
    assert choice["finish_reason"] == "length" and choice["message"]["role"] == "assistant"
    assert choice["message"]["content"]
    u = b["usage"]
    assert u["completion_tokens"] == 7 and u["prompt_tokens"] > 5
    assert u["total_tokens"] == u["prompt_tokens"] + u["completion_tokens"]
    t = b["timings"]
    assert t["predicted_n"] == 7 and t["prompt_n"] + t["cached_n"] == u["prompt_tokens"]


def test_chat_content_parts_equal_a_string(daemon_with_model):
    d = daemon_with_model()
    parts = [{"type": "text", "text": "Hello "}, {"type": "text", "text": "there"}]
    a = post_json(d, CHAT, {"messages": [{"role": "system", "content": "Be brief."},
                                         {"role": "user", "content": parts}], "max_tokens": 5, "seed": 9})
    b = post_json(d, CHAT, {"messages": [{"role": "system", "content": "Be brief."},
                                         {"role": "user", "content": "Hello there"}], "max_tokens": 5, "seed": 9})
    assert a.status == b.status == 200
    assert a.json["choices"][0]["message"] == b.json["choices"][0]["message"]
    assert a.json["usage"] == b.json["usage"]


def test_chat_stream_matches_whole_answer(daemon_with_model):
    d = daemon_with_model()
    whole = post_json(d, CHAT, chat_body(max_tokens=12, seed=5, logit_bias=NO_EOS))
    r = post_json(d, CHAT, chat_body(max_tokens=12, seed=5, logit_bias=NO_EOS, stream=True,
                                     stream_options={"include_usage": True}))
    assert r.status == 200 and r.header("content-type") == "text/event-stream; charset=utf-8"
    assert r.header("transfer-encoding") == "chunked"
    text, finish, usage = stream_text(sse_events(r.body))
    assert text == whole.json["choices"][0]["message"]["content"]
    assert finish == "length"
    assert usage["completion_tokens"] == 12 and usage["prompt_tokens"] == whole.json["usage"]["prompt_tokens"]


def test_chat_stream_without_usage_has_no_usage_chunk(daemon_with_model):
    d = daemon_with_model()
    r = post_json(d, CHAT, chat_body(max_tokens=3, seed=1, stream=True))
    events = sse_events(r.body)
    text, finish, usage = stream_text(events)
    assert usage is None
    assert all("usage" not in e for e in events[:-1])


def test_completion_whole_and_stream(daemon_with_model):
    d = daemon_with_model()
    whole = post_json(d, COMPLETE, {"prompt": "Once upon a time", "max_tokens": 9, "seed": 2,
                                    "logit_bias": NO_EOS})
    assert whole.status == 200, whole
    b = whole.json
    assert b["object"] == "text_completion" and b["id"].startswith("cmpl-")
    assert b["choices"][0]["finish_reason"] == "length" and b["usage"]["completion_tokens"] == 9
    r = post_json(d, COMPLETE, {"prompt": ["Once upon a time"], "max_tokens": 9, "seed": 2, "logit_bias": NO_EOS,
                                "stream": True, "stream_options": {"include_usage": True}})
    text, finish, usage = stream_text(sse_events(r.body), chat=False)
    assert text == b["choices"][0]["text"] and finish == "length"
    assert usage == b["usage"]


def test_completion_prompt_is_plain_text(daemon_with_model):
    d = daemon_with_model()
    tok = post_json(d, "/v1/tokenize", {"content": "</s>hi"}).json["tokens"]
    r = post_json(d, COMPLETE, {"prompt": "</s>hi", "max_tokens": 1})
    assert r.json["usage"]["prompt_tokens"] == len(tok) and EOS not in tok


def test_chat_message_cannot_forge_control_tokens(daemon_with_model):
    """A message that spells the EOS token gets it as text: the prompt grows
    by about the token count of the spelling as plain text (4 pieces here),
    where a parsed EOS would add one token and split the text around it."""
    d = daemon_with_model()
    spelled = post_json(d, "/v1/tokenize", {"content": "x</s>y", "add_special": False}).json["tokens"]
    plain = post_json(d, "/v1/tokenize", {"content": "xy", "add_special": False}).json["tokens"]
    assert EOS not in spelled

    def prompt_tokens(content):
        r = post_json(d, CHAT, {"messages": [{"role": "user", "content": content}], "max_tokens": 1})
        assert r.status == 200, r.body
        return r.json["usage"]["prompt_tokens"]

    grown = prompt_tokens("x</s>y") - prompt_tokens("xy")
    assert grown >= len(spelled) - len(plain) - 1 and grown >= 3


def test_greedy_and_seeds(daemon_with_model):
    d = daemon_with_model()

    def text(**fields):
        r = post_json(d, COMPLETE, {"prompt": "The weather", "max_tokens": 16, "logit_bias": NO_EOS, **fields})
        return r.json["choices"][0]["text"]
    greedy = text(temperature=0)
    assert text(temperature=0, seed=99) == greedy
    assert text(seed=11) == text(seed=11)
    assert len({text(seed=s) for s in (1, 2, 3)}) > 1
    assert text(top_k=1, seed=7) == greedy  # top-k 1 is the argmax too


def test_stop_string_ends_the_answer_before_it(daemon_with_model):
    d = daemon_with_model()
    base = {"prompt": "A list of things:", "max_tokens": 24, "temperature": 0, "logit_bias": NO_EOS}
    full = post_json(d, COMPLETE, base).json["choices"][0]["text"]
    assert len(full) > 8, full
    # a stop string that first occurs past the start of the answer
    stop = next(full[i:i + 3] for i in range(2, len(full) - 3) if full.find(full[i:i + 3]) == i)
    for stop_field in (stop, ["never-there", stop]):
        r = post_json(d, COMPLETE, dict(base, stop=stop_field))
        choice = r.json["choices"][0]
        assert choice["text"] == full[:full.find(stop)], (stop, full, choice)
        assert choice["finish_reason"] == "stop"
        s = post_json(d, COMPLETE, dict(base, stop=stop_field, stream=True))
        text, finish, _ = stream_text(sse_events(s.body), chat=False)
        assert text == choice["text"] and finish == "stop"


def test_max_tokens_default_and_context_clamp(daemon_with_model):
    d = daemon_with_model({"engine.max_tokens_default": 6})
    r = post_json(d, COMPLETE, {"prompt": "x", "logit_bias": NO_EOS})
    assert r.json["usage"]["completion_tokens"] == 6
    # a prompt that leaves 4 tokens of the 256-token context
    long_prompt = " ".join(["apple"] * 300)
    n = len(post_json(d, "/v1/tokenize", {"content": long_prompt}).json["tokens"])
    words = 300 - (n - 252)
    prompt = " ".join(["apple"] * words)
    n_prompt = len(post_json(d, "/v1/tokenize", {"content": prompt}).json["tokens"])
    assert n_prompt == 252, n_prompt
    r = post_json(d, COMPLETE, {"prompt": prompt, "max_tokens": 100, "logit_bias": NO_EOS})
    assert r.status == 200, r
    assert r.json["usage"]["completion_tokens"] == 256 - n_prompt
    assert r.json["choices"][0]["finish_reason"] == "length"


def test_same_request_twice_reuses_the_prefix_and_answers_the_same(daemon_with_model):
    d = daemon_with_model({"engine.parallel": 1})
    body = chat_body("Tell me a story about a cat", max_tokens=20, seed=42, logit_bias=NO_EOS)
    first = post_json(d, CHAT, body).json
    second = post_json(d, CHAT, body).json
    assert first["choices"] == second["choices"]
    assert first["timings"]["cached_n"] == 0
    assert second["timings"]["cached_n"] > 0, second["timings"]
    assert second["timings"]["prompt_n"] < first["timings"]["prompt_n"]


def run_stream(d, body, out, key):
    r = post_json(d, CHAT, dict(body, stream=True))
    out[key] = stream_text(sse_events(r.body))[0]


def test_concurrent_streams_equal_sequential_runs(daemon_with_model):
    d = daemon_with_model({"engine.parallel": 2})
    bodies = {s: chat_body(f"Question number {s}?", max_tokens=120, seed=s, logit_bias=NO_EOS) for s in (1, 2)}
    together = {}
    threads = [threading.Thread(target=run_stream, args=(d, b, together, s)) for s, b in bodies.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    alone = {}
    for s, b in bodies.items():
        run_stream(d, b, alone, s)
    assert together == alone
    assert together[1] != together[2]


def test_curl_streams_over_the_socket(daemon_with_model):
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("curl is not installed")
    d = daemon_with_model()
    body = json.dumps(chat_body(max_tokens=5, seed=4, logit_bias=NO_EOS, stream=True))
    out = subprocess.run([curl, "-sS", "-N", "--unix-socket", d.socket_path, "http://localhost" + CHAT,
                          "-H", "Content-Type: application/json", "-d", body],
                         capture_output=True, timeout=30)
    assert out.returncode == 0, out.stderr
    text, finish, _ = stream_text(sse_events(out.stdout))
    whole = post_json(d, CHAT, chat_body(max_tokens=5, seed=4, logit_bias=NO_EOS))
    assert text == whole.json["choices"][0]["message"]["content"] and finish == "length"


# ----------------------------------------------------------- validation ----

BAD_FIELDS = [
    ({"temperature": 7}, "temperature", "invalid_value"),
    ({"temperature": -0.1}, "temperature", "invalid_value"),
    ({"temperature": "hot"}, "temperature", "invalid_type"),
    ({"top_p": 0}, "top_p", "invalid_value"),
    ({"top_p": 1.5}, "top_p", "invalid_value"),
    ({"top_p": []}, "top_p", "invalid_type"),
    ({"top_k": -1}, "top_k", "invalid_value"),
    ({"top_k": 2.5}, "top_k", "invalid_type"),
    ({"min_p": 1.1}, "min_p", "invalid_value"),
    ({"min_p": True}, "min_p", "invalid_type"),
    ({"repeat_penalty": 0}, "repeat_penalty", "invalid_value"),
    ({"repeat_penalty": "1"}, "repeat_penalty", "invalid_type"),
    ({"presence_penalty": 2.5}, "presence_penalty", "invalid_value"),
    ({"presence_penalty": {}}, "presence_penalty", "invalid_type"),
    ({"frequency_penalty": -3}, "frequency_penalty", "invalid_value"),
    ({"frequency_penalty": "0"}, "frequency_penalty", "invalid_type"),
    ({"seed": 1.5}, "seed", "invalid_type"),
    ({"seed": "1"}, "seed", "invalid_type"),
    ({"max_tokens": 0}, "max_tokens", "invalid_value"),
    ({"max_tokens": 5000}, "max_tokens", "invalid_value"),
    ({"max_tokens": "5"}, "max_tokens", "invalid_type"),
    ({"max_completion_tokens": 0}, "max_completion_tokens", "invalid_value"),
    ({"n": 2}, "n", "invalid_value"),
    ({"n": "1"}, "n", "invalid_type"),
    ({"stream": "yes"}, "stream", "invalid_type"),
    ({"stream_options": 1}, "stream_options", "invalid_type"),
    ({"stream_options": {"include_usage": 1}}, "stream_options.include_usage", "invalid_type"),
    ({"stop": 5}, "stop", "invalid_type"),
    ({"stop": ["a", 5]}, "stop[1]", "invalid_type"),
    ({"stop": ["s"] * 17}, "stop", "invalid_value"),
    ({"stop": "x" * 257}, "stop", "invalid_value"),
    ({"logit_bias": []}, "logit_bias", "invalid_type"),
    ({"logit_bias": {"abc": 1}}, "logit_bias", "invalid_value"),
    ({"logit_bias": {"32000": 1}}, "logit_bias", "invalid_value"),
    ({"logit_bias": {"5": 101}}, "logit_bias", "invalid_value"),
    ({"logit_bias": {"5": "x"}}, "logit_bias", "invalid_type"),
    ({"logit_bias": {str(i): 1 for i in range(1025)}}, "logit_bias", "invalid_value"),
]


@pytest.fixture(scope="module")
def shared_daemon(tmp_path_factory, test_model):
    """One daemon for the many validation cases (started once per module)."""
    from conftest import Daemon
    d = Daemon(tmp_path_factory.mktemp("validation"), {"model.path": str(test_model), "model.context": 256})
    d.start()
    yield d
    assert d.stop() == 0, d.stderr()
    assert "Sanitizer" not in d.stderr() and "runtime error:" not in d.stderr(), d.stderr()
    d.cleanup()


@pytest.mark.parametrize("fields,param,code", BAD_FIELDS, ids=[f"{p}-{c}-{i}" for i, (_, p, c) in enumerate(BAD_FIELDS)])
def test_bad_field_is_400_naming_it(shared_daemon, fields, param, code):
    for path, body in ((CHAT, chat_body(**fields)), (COMPLETE, dict({"prompt": "hi"}, **fields))):
        err = check_error(post_json(shared_daemon, path, body), 400, code, param)
        assert err["type"] == "invalid_request_error"


def test_message_names_the_range_and_the_value(shared_daemon):
    err = check_error(post_json(shared_daemon, CHAT, chat_body(temperature=7)), 400, "invalid_value", "temperature")
    assert err["message"] == "temperature: expected a number between 0 and 2, got 7"


BAD_MESSAGES = [
    ({}, "messages", "missing_field"),
    ({"messages": "hi"}, "messages", "invalid_type"),
    ({"messages": []}, "messages", "invalid_value"),
    ({"messages": ["hi"]}, "messages[0]", "invalid_type"),
    ({"messages": [{"content": "hi"}]}, "messages[0].role", "missing_field"),
    ({"messages": [{"role": "robot", "content": "hi"}]}, "messages[0].role", "invalid_value"),
    ({"messages": [{"role": 1, "content": "hi"}]}, "messages[0].role", "invalid_type"),
    ({"messages": [{"role": "user"}]}, "messages[0].content", "missing_field"),
    ({"messages": [{"role": "user", "content": 5}]}, "messages[0].content", "invalid_type"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]},
     "messages[0].content[0].type", "invalid_value"),
    ({"messages": [{"role": "user", "content": [{"type": "text"}]}]}, "messages[0].content[0].text", "missing_field"),
    ({"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": [5]}]},
     "messages[1].content[0]", "invalid_type"),
]


@pytest.mark.parametrize("body,param,code", BAD_MESSAGES, ids=[p + "-" + c for _, p, c in BAD_MESSAGES])
def test_bad_messages(shared_daemon, body, param, code):
    check_error(post_json(shared_daemon, CHAT, body), 400, code, param)


@pytest.mark.parametrize("body,code", [({}, "missing_field"), ({"prompt": 5}, "invalid_type"),
                                       ({"prompt": ["a", "b"]}, "invalid_value"), ({"prompt": [5]}, "invalid_type")])
def test_bad_prompt(shared_daemon, body, code):
    check_error(post_json(shared_daemon, COMPLETE, body), 400, code, "prompt")


def test_invalid_json_names_line_and_column(shared_daemon):
    for path in (CHAT, COMPLETE, "/v1/embeddings", "/v1/tokenize", "/v1/detokenize"):
        err = check_error(post_json(shared_daemon, path, '{"prompt":\n  "x",,}'), 400, "invalid_json")
        assert "line 2, column" in err["message"], err
    check_error(post_json(shared_daemon, CHAT, "[1, 2]"), 400, "invalid_type")
    check_error(post_json(shared_daemon, CHAT, "42"), 400, "invalid_json")


def test_nesting_deeper_than_64_is_refused(shared_daemon):
    # the body object is level 1
    deep = '{"prompt": "x", "extra": ' + "[" * 63 + "]" * 63 + "}"
    assert post_json(shared_daemon, COMPLETE, dict(json.loads(deep), max_tokens=1)).status == 200
    deeper = '{"prompt": "x", "extra": ' + "[" * 64 + "]" * 64 + "}"
    err = check_error(post_json(shared_daemon, COMPLETE, deeper), 400, "invalid_json")
    assert "64" in err["message"]


def test_unknown_fields_are_ignored(shared_daemon):
    r = post_json(shared_daemon, CHAT, chat_body(max_tokens=2, user="me", frobnicate={"a": [1]}, logprobs=False))
    assert r.status == 200, r


def test_prompt_longer_than_the_context(shared_daemon):
    prompt = "apple " * 400
    n = len(post_json(shared_daemon, "/v1/tokenize", {"content": prompt}).json["tokens"])
    for path, body, param in ((COMPLETE, {"prompt": prompt}, "prompt"),
                              (CHAT, chat_body(prompt), "messages")):
        err = check_error(post_json(shared_daemon, path, body), 400, "context_length_exceeded", param)
        assert "256" in err["message"], err
        if path == COMPLETE:
            assert str(n) in err["message"], err


# ----------------------------------------------- queueing and disconnects ----

def busy_slots(d):
    r = d.request("GET", "/metrics")
    m = re.search(r"^edged_engine_busy_slots (\d+)$", r.body.decode(), re.M)
    assert m, "no edged_engine_busy_slots in /metrics"
    return int(m.group(1))


def open_stream(d, max_tokens=1500):
    """Starts a long streamed chat on a raw connection; returns it once the
    first content chunk has arrived."""
    c = HttpConn(d.socket_path, timeout=30)
    body = json.dumps(chat_body("Write a very long story.", max_tokens=max_tokens, seed=1,
                                logit_bias=NO_EOS, stream=True))
    c.send(request_bytes("POST", CHAT, [("Content-Type", "application/json")], body))
    deadline = time.monotonic() + 30
    while c.buf.count(b"data: ") < 2:
        c._fill(deadline)
    assert c.buf.startswith(b"HTTP/1.1 200 "), c.buf[:200]
    return c


def test_queue_full_is_503_with_retry_after(daemon_with_model, slow_model):
    d = daemon_with_model({"engine.parallel": 1, "engine.queue_length": 0}, model=slow_model)
    c = open_stream(d)
    try:
        r = post_json(d, CHAT, chat_body(max_tokens=2))
        err = check_error(r, 503, "queue_full")
        assert err["type"] == "unavailable_error"
        assert r.header("retry-after") == "1"
        assert busy_slots(d) == 1
    finally:
        c.close()


def test_disconnect_cancels_and_frees_the_slot(daemon_with_model, slow_model):
    d = daemon_with_model({"engine.parallel": 1, "engine.queue_length": 0}, model=slow_model)
    for _ in range(2):
        c = open_stream(d)
        assert busy_slots(d) == 1
        c.close()
        deadline = time.monotonic() + 2.0
        while busy_slots(d) != 0:
            assert time.monotonic() < deadline, "the slot is still busy 2 s after the client left"
            time.sleep(0.02)
        r = post_json(d, CHAT, chat_body(max_tokens=2))
        assert r.status == 200, r
    # a whole (non-streamed) request whose client leaves is cancelled too
    c = HttpConn(d.socket_path)
    c.send(request_bytes("POST", COMPLETE, [("Content-Type", "application/json")],
                         json.dumps({"prompt": "x", "max_tokens": 1500, "logit_bias": NO_EOS})))
    deadline = time.monotonic() + 5
    while busy_slots(d) != 1:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    c.sock.shutdown(socket.SHUT_RDWR)
    c.close()
    deadline = time.monotonic() + 2.0
    while busy_slots(d) != 0:
        assert time.monotonic() < deadline, "the slot is still busy 2 s after the client left"
        time.sleep(0.02)
    assert post_json(d, COMPLETE, {"prompt": "x", "max_tokens": 2}).status == 200


def test_slow_reader_gets_the_whole_stream(daemon_with_model):
    """Backpressure: a client that reads late still gets every chunk in order."""
    d = daemon_with_model()
    body = chat_body(max_tokens=200, seed=8, logit_bias=NO_EOS)
    whole = post_json(d, CHAT, body).json["choices"][0]["message"]["content"]
    c = HttpConn(d.socket_path, timeout=30)
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    c.send(request_bytes("POST", CHAT, [("Content-Type", "application/json")], json.dumps(dict(body, stream=True))))
    time.sleep(1.0)
    r = c.read_response(timeout=30)
    c.close()
    text, finish, _ = stream_text(sse_events(r.body))
    assert text == whole and finish == "length"


# ---------------------------------------------------------- no model ----

def test_without_a_model_inference_is_503_no_model(daemon):
    d = daemon()
    health = d.get_json("/health")
    assert health["model"] == {"state": "none"}
    assert d.get_json("/v1/models") == {"object": "list", "data": []}
    for path, body in ((CHAT, chat_body()), (COMPLETE, {"prompt": "x"}), ("/v1/embeddings", {"input": "x"}),
                       ("/v1/tokenize", {"content": "x"}), ("/v1/detokenize", {"tokens": [1]})):
        err = check_error(post_json(d, path, body), 503, "no_model")
        assert "[model] path" in err["message"]


def test_health_says_why_a_model_did_not_load(daemon, tmp_path):
    bad = tmp_path / "not-a-model.gguf"
    bad.write_bytes(b"this is not a GGUF file" * 10)
    d = daemon({"model.path": str(bad)}, start=False)
    d.start(wait=False)
    deadline = time.monotonic() + 10
    while True:
        try:
            r = d.request("GET", "/health")
            if r.status == 503 and r.json.get("status") == "failed":
                break
        except (OSError, AssertionError, Closed):
            pass
        assert time.monotonic() < deadline, "no 503 failed from /health"
        time.sleep(0.05)
    assert r.json["error"]["code"] == "not_ready"
    assert "not a GGUF file" in r.json["reason"], r.json
    assert r.json["model"]["state"] == "failed"
    err = check_error(post_json(d, CHAT, chat_body()), 503, "not_ready")
    assert r.json["reason"] in err["message"]
    assert d.get_json("/v1/models")["data"] == []


def test_sigterm_lets_short_streams_finish_and_cuts_long_ones(daemon_with_model, slow_model):
    """SIGTERM: a stream that ends within server.shutdown_timeout_ms gets its
    [DONE]; one that would not is cut when the time is up; edged exits 0."""
    d = daemon_with_model({"server.shutdown_timeout_ms": 1000, "engine.parallel": 2}, model=slow_model)
    long = open_stream(d, max_tokens=1800)
    short = open_stream(d, max_tokens=12)
    t0 = time.monotonic()
    d.send_signal(signal.SIGTERM)
    short_body = short.read_until_closed(timeout=10)
    long_body = long.read_until_closed(timeout=10)
    assert d.proc.wait(timeout=10) == 0, d.stderr()
    assert time.monotonic() - t0 < 6
    assert b"data: [DONE]" in short_body
    assert b"data: [DONE]" not in long_body
