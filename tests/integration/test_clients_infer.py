"""test_clients_infer.py - the inference clients against the real daemon
serving a fixture model (written by mkmodel): edgectl chat (streamed answers,
the conversation carried over, /reset, --system), complete (streamed and
whole give the same text), embed, tokenize, the 503 message while no model is
ready; and the Python module's chat()/complete()/embed()/tokenize(), streamed
and not. The `model_daemon` fixture is imported by test_openai_node.py.
"""
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from conftest import BUILD, REPO

sys.path.insert(0, str(REPO / "clients" / "python"))
import edged_client  # noqa: E402

EDGECTL = BUILD / "edgectl"
MKMODEL = BUILD / "tests" / "tools" / "mkmodel"
VOCAB = REPO.parent / "shared" / "testdata" / "vocab" / "ggml-vocab-llama-spm.gguf"
N_EMBD = 64
VERBOSE_RE = re.compile(r"^edgectl: (\d+) prompt tokens, (\d+) generated, finish: (\w+)", re.M)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """A random llama-shaped Q8_0 model with the SentencePiece test vocabulary."""
    if not MKMODEL.exists():
        pytest.fail(f"{MKMODEL} does not exist: build it first (make {MKMODEL.relative_to(REPO)})")
    out = tmp_path_factory.mktemp("model") / "m.gguf"
    r = subprocess.run([str(MKMODEL), "--arch", "llama", "--vocab", str(VOCAB), "--out", str(out),
                        "--type", "q8_0", "--n-embd", str(N_EMBD), "--n-layer", "2", "--ctx", "256"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r
    return out


@pytest.fixture
def model_daemon(daemon, tiny_model):
    """A started daemon serving tiny_model (256-token context, one thread)."""
    return daemon(options={"model.path": str(tiny_model), "model.context": 256,
                           "model.threads": 1, "model.chat_template": "llama2"})


def edgectl(*args, socket_path=None, input=None, timeout=60):
    if not EDGECTL.exists():
        pytest.fail(f"{EDGECTL} does not exist: build it first (make {EDGECTL.relative_to(REPO)})")
    env = {k: v for k, v in os.environ.items() if k != "EDGED_SOCKET"}
    cmd = [str(EDGECTL)] + (["--socket", str(socket_path)] if socket_path else []) + list(args)
    return subprocess.run(cmd, capture_output=True, text=True, env=env, input=input or "",
                          timeout=timeout)


def verbose_counts(stderr):
    """[(prompt_tokens, generated, finish_reason), ...] from --verbose lines."""
    return [(int(p), int(g), f) for p, g, f in VERBOSE_RE.findall(stderr)]


def chat(d, lines, *args):
    return edgectl("chat", "--verbose", "--temp", "0", "--max-tokens", "8", *args,
                   socket_path=d.socket_path, input="".join(line + "\n" for line in lines))


# ---------------------------------------------------------------- edgectl ----

def test_edgectl_chat_keeps_the_conversation_and_resets(model_daemon):
    d = model_daemon
    r = chat(d, ["Hello there", "", "Tell me more", "/reset", "Hello there", "/exit", "never sent"])
    assert r.returncode == 0, r
    turns = verbose_counts(r.stderr)
    assert len(turns) == 3, r.stderr  # the empty line and what follows /exit are not sent
    (p1, g1, _), (p2, g2, _), (p3, g3, _) = turns
    assert all(1 <= g <= 8 for g in (g1, g2, g3)), turns
    assert p2 > p1 + 1, f"the second prompt does not carry the first turn: {turns}"
    assert p3 == p1, f"/reset should start over: {turns}"
    assert "conversation is cleared" in r.stderr
    assert r.stdout.strip(), "no text printed"


def test_edgectl_chat_streams_chunks(model_daemon):
    d = model_daemon
    r = chat(d, ["Hello there"], "--json")
    assert r.returncode == 0, r
    chunks = [json.loads(line) for line in r.stdout.splitlines()]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks), chunks
    assert chunks[0]["choices"][0]["delta"].get("role") == "assistant", chunks[0]
    content = [c["choices"][0]["delta"].get("content") for c in chunks if c["choices"]]
    # (the daemon may join tokens that came faster than it wrote them into one chunk)
    assert any(content), f"no content chunk: {chunks}"
    finishes = [c["choices"][0].get("finish_reason") for c in chunks if c["choices"]]
    assert finishes[-1] in ("stop", "length") and not any(finishes[:-1]), finishes
    assert chunks[-1]["usage"]["completion_tokens"] >= 1  # edgectl asks for usage
    # the text mode prints exactly the streamed content
    t = chat(d, ["Hello there"])
    assert t.returncode == 0, t
    assert t.stdout == "".join(p or "" for p in content) + "\n"


def test_edgectl_chat_system_message_is_sent(model_daemon):
    d = model_daemon
    plain = verbose_counts(chat(d, ["Hi"]).stderr)
    with_system = verbose_counts(chat(d, ["Hi", "/reset", "Hi"], "--system", "You answer in verse.").stderr)
    assert len(plain) == 1 and len(with_system) == 2, (plain, with_system)
    assert with_system[0][0] > plain[0][0], (plain, with_system)
    assert with_system[1][0] == with_system[0][0], "the system message must survive /reset"


def test_edgectl_complete_stream_and_whole_agree(model_daemon):
    d = model_daemon
    args = ["complete", "Once upon a time", "-n", "10", "--temp", "0", "--verbose"]
    streamed = edgectl(*args, socket_path=d.socket_path)
    whole = edgectl(*args, "--no-stream", socket_path=d.socket_path)
    assert streamed.returncode == 0 and whole.returncode == 0, (streamed, whole)
    assert streamed.stdout == whole.stdout and streamed.stdout.strip(), (streamed.stdout, whole.stdout)
    (s,), (w,) = verbose_counts(streamed.stderr), verbose_counts(whole.stderr)
    assert s == w and 1 <= s[1] <= 10, (s, w)
    assert s[2] == "length" or s[1] < 10, s
    js = edgectl("complete", "Once upon a time", "-n", "10", "--temp", "0", "--json",
                 socket_path=d.socket_path)
    chunks = [json.loads(line) for line in js.stdout.splitlines()]
    assert all(c["object"] == "text_completion" for c in chunks), chunks
    assert "".join(c["choices"][0]["text"] for c in chunks if c["choices"]) + "\n" == streamed.stdout
    # the prompt from stdin
    piped = edgectl("complete", "-", "-n", "10", "--temp", "0", socket_path=d.socket_path,
                    input="Once upon a time")
    assert piped.stdout == streamed.stdout, piped


def test_edgectl_complete_seeds_repeat(model_daemon):
    d = model_daemon
    args = ["complete", "The weather", "-n", "12", "--temp", "1.0", "--seed"]
    a, b = (edgectl(*args, "42", socket_path=d.socket_path) for _ in range(2))
    assert a.returncode == 0 and a.stdout == b.stdout, (a, b)


def test_edgectl_embed(model_daemon):
    d = model_daemon
    r = edgectl("embed", "red", "a red colour", "red", socket_path=d.socket_path)
    assert r.returncode == 0, r
    vectors = [[float(x) for x in line.split(" ")] for line in r.stdout.splitlines()]
    assert len(vectors) == 3 and all(len(v) == N_EMBD for v in vectors), r.stdout[:300]
    for v in vectors:
        assert math.isclose(math.sqrt(sum(x * x for x in v)), 1.0, rel_tol=1e-4)
    assert vectors[0] == vectors[2] and vectors[0] != vectors[1]
    j = edgectl("embed", "--json", "red", socket_path=d.socket_path)
    assert j.returncode == 0, j
    body = json.loads(j.stdout)
    assert body["data"][0]["index"] == 0
    assert body["data"][0]["embedding"] == pytest.approx(vectors[0], abs=1e-6)
    assert body["usage"]["prompt_tokens"] >= 1


def test_edgectl_tokenize(model_daemon):
    d = model_daemon
    r = edgectl("tokenize", "Hello world", socket_path=d.socket_path)
    assert r.returncode == 0, r
    ids = [int(x) for x in r.stdout.split()]
    assert len(ids) >= 2, r.stdout
    p = edgectl("tokenize", "Hello world", "--pieces", socket_path=d.socket_path)
    assert p.returncode == 0, p
    rows = [line.split("\t") for line in p.stdout.splitlines()]
    assert [int(i) for i, _ in rows] == ids
    assert "".join(json.loads(piece) for _, piece in rows).strip() == "Hello world"
    s = edgectl("tokenize", "Hello world", "--special", socket_path=d.socket_path)
    assert s.returncode == 0, s
    special = [int(x) for x in s.stdout.split()]
    assert len(special) == len(ids) + 1 and special[1:] == ids, (special, ids)  # BOS first
    with edged_client.Client(d.socket_path, timeout=30) as c:
        assert c.tokenize("Hello world") == ids
        assert c.detokenize(ids).strip() == "Hello world"


def test_edgectl_inference_usage_errors():
    for args in (["complete"], ["complete", "a", "b"], ["complete", "x", "-n", "0"],
                 ["complete", "x", "--temp", "hot"], ["chat", "extra"], ["chat", "--bogus"],
                 ["embed"], ["tokenize"], ["tokenize", "a", "b"], ["tokenize", "--bogus", "x"]):
        r = edgectl(*args, socket_path="/tmp/edgectl-no-such.sock")
        assert r.returncode == 2, (args, r)
        assert r.stderr.startswith("edgectl: "), (args, r.stderr)
    for cmd in ("chat", "complete", "embed", "tokenize"):
        h = edgectl(cmd, "--help")
        assert h.returncode == 0 and h.stdout.startswith("usage: edgectl"), h


def test_edgectl_says_when_no_model_is_configured(daemon):
    d = daemon()  # no model configured: inference answers 503 no_model
    for args in (["complete", "hi"], ["embed", "hi"], ["tokenize", "hi"]):
        r = edgectl(*args, socket_path=d.socket_path)
        assert r.returncode == 1, (args, r)
        assert "HTTP 503, no_model" in r.stderr, (args, r.stderr)
        assert "hint: name a GGUF file in the [model] section" in r.stderr, (args, r.stderr)
    c = chat(d, ["Hello", "Again"])
    assert c.returncode == 1, c  # the chat goes on after an error answer, then says so
    assert c.stderr.count("HTTP 503") == 2, c.stderr


def test_edgectl_says_when_the_model_failed_to_load(daemon, tmp_path):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"not a model at all")
    d = daemon(options={"model.path": str(bad)}, start=False)
    d.start(wait=False)
    deadline = time.monotonic() + 10
    while True:  # /health answers 503 once the socket is up and the load has failed
        r = edgectl("complete", "hi", socket_path=d.socket_path)
        if r.returncode != 3 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert r.returncode == 1, r
    assert "HTTP 503, not_ready" in r.stderr and "hint: the model is not ready" in r.stderr, r.stderr


def test_edgectl_missing_daemon_for_inference():
    with tempfile.TemporaryDirectory(prefix="edgectl-", dir="/tmp") as d:
        r = edgectl("chat", socket_path=Path(d) / "none.sock", input="hi\n")
    assert r.returncode == 3, r
    assert "no such socket" in r.stderr


# ---------------------------------------------------------------- Python ----

def test_python_chat_whole_and_streamed(model_daemon):
    d = model_daemon
    messages = [{"role": "user", "content": "Hello there"}]
    with edged_client.Client(d.socket_path, timeout=30) as c:
        whole = c.chat(messages, max_tokens=8, temperature=0)
        assert whole["object"] == "chat.completion"
        message = whole["choices"][0]["message"]
        assert message["role"] == "assistant" and message["content"]
        assert whole["choices"][0]["finish_reason"] in ("stop", "length")
        assert whole["usage"]["completion_tokens"] >= 1
        stream = c.chat(messages, stream=True, max_tokens=8, temperature=0)
        pieces = list(stream)
        assert pieces and all(isinstance(p, str) and p for p in pieces), pieces
        assert "".join(pieces) == message["content"]
        assert stream.finish_reason == whole["choices"][0]["finish_reason"]
        assert stream.usage["prompt_tokens"] == whole["usage"]["prompt_tokens"]
        # the connection is kept after a finished stream
        assert c.health()["status"] == "ok"


def test_python_complete_embed_tokenize(model_daemon):
    d = model_daemon
    with edged_client.Client(d.socket_path, timeout=30) as c:
        whole = c.complete("Once upon a time", max_tokens=6, temperature=0)
        assert whole["object"] == "text_completion"
        text = c.complete("Once upon a time", stream=True, max_tokens=6, temperature=0).text()
        assert text == whole["choices"][0]["text"]
        one = c.embed("red")
        both = c.embed(["red", "blue"])
        assert len(one) == N_EMBD and both[0] == pytest.approx(one, abs=1e-6)
        pieces = c.tokenize("Hello world", with_pieces=True)
        assert [t["id"] for t in pieces] == c.tokenize("Hello world")
        assert c.models()[0]["id"]


def test_python_inference_errors(model_daemon):
    d = model_daemon
    with edged_client.Client(d.socket_path, timeout=30) as c:
        with pytest.raises(edged_client.EdgedError) as e:
            c.chat([{"role": "user", "content": "hi"}], n=2)
        assert e.value.status == 400 and e.value.message
        with pytest.raises(edged_client.EdgedError) as e:
            list(c.chat([{"role": "user", "content": "hi"}], stream=True, max_tokens="many"))
        assert e.value.status == 400 and "max_tokens" in e.value.message
        assert c.health()["status"] == "ok"


def test_python_unknown_model_is_model_not_found(model_daemon):
    d = model_daemon
    with edged_client.Client(d.socket_path, timeout=30) as c:
        names = [m["id"] for m in c.models()]
        assert "default" in names
        for call in (lambda: c.chat([{"role": "user", "content": "hi"}], model="gpt-4o", max_tokens=2),
                     lambda: list(c.complete("Once", stream=True, model="gpt-4o", max_tokens=2)),
                     lambda: c.embed(["hi"], model="text-embedding-3-small")):
            with pytest.raises(edged_client.EdgedError) as e:
                call()
            assert e.value.status == 404 and e.value.code == "model_not_found", e.value
            assert e.value.type == "invalid_request_error" and all(f'"{n}"' in e.value.message for n in names)
        assert c.chat([{"role": "user", "content": "hi"}], model=names[-1], max_tokens=2)
