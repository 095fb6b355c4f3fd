"""test_openai_node.py - clients nobody here wrote, against the real daemon
serving the fixture model: the official `openai` npm package through
node/openai_client.mjs (undici dispatcher on the Unix socket) for models,
chat (whole and streamed), completions (whole and streamed), embeddings
(base64, the package's default, and float), an error answer, every name
models.list() gives and an unknown model (NotFoundError); and
`curl --unix-socket -N` reading a chat stream as it comes.
"""
import base64
import json
import math
import shutil
import struct
import subprocess

import pytest

from conftest import REPO
from test_clients_infer import N_EMBD, model_daemon, tiny_model  # noqa: F401 (fixtures)

NODE_DIR = REPO / "tests" / "integration" / "node"


def run_node_client(socket_path):
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed: run make deps")
    if not (NODE_DIR / "node_modules" / "openai").is_dir():
        pytest.fail(f"{NODE_DIR}/node_modules has no openai package: run make deps (npm ci)")
    r = subprocess.run([node, str(NODE_DIR / "openai_client.mjs"), socket_path],
                       capture_output=True, text=True, timeout=120, cwd=str(NODE_DIR))
    assert r.returncode == 0, f"node exited with {r.returncode}:\n{r.stderr}"
    return json.loads(r.stdout)


def test_openai_package_against_edged(model_daemon):
    out = run_node_client(model_daemon.socket_path)

    assert out["models"] and out["models"][0]["object"] == "model", out["models"]
    model = out["models"][0]["id"]

    chat = out["chat"]
    assert chat["object"] == "chat.completion" and chat["model"] == model
    assert chat["choices"][0]["message"]["role"] == "assistant"
    assert chat["choices"][0]["message"]["content"]
    assert chat["choices"][0]["finish_reason"] in ("stop", "length")
    usage = chat["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] > 0

    stream = out["stream"]
    chunks = stream["chunks"]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert any(c["choices"] and c["choices"][0]["delta"].get("content") for c in chunks), chunks
    assert stream["finish_reason"] == chat["choices"][0]["finish_reason"]
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"] == usage  # include_usage
    # greedy with the same seed: streamed and whole answers agree
    assert stream["text"] == chat["choices"][0]["message"]["content"]

    completion = out["completion"]
    assert completion["object"] == "text_completion" and completion["choices"][0]["text"]
    assert out["completion_stream_text"] == completion["choices"][0]["text"]

    for key in ("embeddings", "embeddings_float"):
        emb = out[key]
        assert [d["index"] for d in emb["data"]] == [0, 1, 2], key
        vectors = [d["embedding"] for d in emb["data"]]
        assert all(len(v) == N_EMBD for v in vectors), (key, [len(v) for v in vectors])
        for v in vectors:
            assert math.isclose(math.sqrt(sum(x * x for x in v)), 1.0, rel_tol=1e-4), key
        assert vectors[0] == pytest.approx(vectors[2], abs=1e-6) and vectors[0] != vectors[1]
        assert emb["usage"]["prompt_tokens"] > 0
    assert out["embeddings"]["data"][0]["embedding"] == \
        pytest.approx(out["embeddings_float"]["data"][0]["embedding"], abs=1e-6)

    err = out["error"]
    assert err is not None, "n = 2 should be refused"
    assert err["name"] == "BadRequestError" and err["status"] == 400, err
    assert err["error"]["type"] == "invalid_request_error" and err["error"]["message"], err

    # every listed name answers (as the model's id); an unknown one is NotFoundError
    assert [m["id"] for m in out["models"]][1:] == [m["alias_of"] and m["id"] for m in out["models"][1:]]
    assert [b["asked"] for b in out["by_name"]] == [m["id"] for m in out["models"]]
    assert {b["model"] for b in out["by_name"]} == {model}
    for key, name in (("chat", "gpt-4o"), ("embeddings", "text-embedding-3-small")):
        e = out["unknown"][key]
        assert e is not None, f"{key}: {name} should be refused"
        assert e["name"] == "NotFoundError" and e["status"] == 404, e
        assert e["code"] == "model_not_found" and e["param"] == "model" and e["type"] == "invalid_request_error", e
        assert name in e["message"] and f'"{model}"' in e["message"], e


def test_embeddings_base64_is_little_endian_float32(model_daemon):
    """What the openai package decodes, checked byte by byte."""
    d = model_daemon
    body = json.dumps({"input": "red", "encoding_format": "base64"})
    r = d.request("POST", "/v1/embeddings", [("Content-Type", "application/json")], body)
    assert r.status == 200, r
    raw = base64.b64decode(json.loads(r.body)["data"][0]["embedding"])
    assert len(raw) == 4 * N_EMBD
    floats = struct.unpack(f"<{N_EMBD}f", raw)
    plain = d.request("POST", "/v1/embeddings", [("Content-Type", "application/json")],
                      json.dumps({"input": "red"}))
    assert list(floats) == pytest.approx(json.loads(plain.body)["data"][0]["embedding"], abs=1e-6)


def test_curl_reads_a_chat_stream(model_daemon):
    curl = shutil.which("curl")
    if curl is None:
        pytest.fail("curl is not installed: run make deps")
    body = json.dumps({"messages": [{"role": "user", "content": "Hello"}], "max_tokens": 8,
                       "temperature": 0, "stream": True})
    r = subprocess.run([curl, "-sS", "-N", "--fail-with-body", "--unix-socket",
                        model_daemon.socket_path, "-H", "Content-Type: application/json",
                        "-d", body, "-D", "-", "http://localhost/v1/chat/completions"],
                       capture_output=True, timeout=60)
    assert r.returncode == 0, r
    head, _, stream = r.stdout.decode().partition("\r\n\r\n")
    assert head.startswith("HTTP/1.1 200"), head
    assert "content-type: text/event-stream" in head.lower(), head
    events = [block for block in stream.split("\n\n") if block.strip()]
    assert all(e.startswith("data: ") for e in events), events
    assert events[-1] == "data: [DONE]", events[-3:]
    chunks = [json.loads(e[len("data: "):]) for e in events[:-1]]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert chunks[-1]["choices"][0]["finish_reason"] in ("stop", "length")
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
    assert text, chunks
