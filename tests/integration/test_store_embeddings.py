"""test_store_embeddings.py - POST /v1/embeddings with the personal store's
embedder. With rag.embedder = model, /v1/models lists the embedding model
("model:FILE") and /v1/embeddings embeds with it when `model` names it: the
vectors are the ones build/tests/tools/embed computes (which
tests/reference/test_bert.py checks against PyTorch), in float or base64,
with the tokens counted. Without `model` the chat model embeds, as before;
with no chat model the 503 says which name to use. The built-in hash
embedder can be named too, and is not listed as a model.
"""
import base64
import math
import os
import struct
import subprocess

import pytest

from conftest import BUILD, assert_error, make_bert, post_json

EMBED_TOOL = BUILD / "tests" / "tools" / "embed"
TEXTS = ["The plumber comes on Tuesday at nine.", "Grandma's lemon cake needs three eggs."]


@pytest.fixture(scope="module")
def bert(tmp_path_factory):
    return make_bert(tmp_path_factory.mktemp("bert") / "bert.gguf", n_embd=48, n_layer=2, n_ff=96, ctx=64)


def tool_embeddings(model, texts):
    """[(n_tokens, vector)] per text from the embed tool."""
    done = subprocess.run([str(EMBED_TOOL), "--threads", "1", str(model), *texts], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    out = []
    for tokens, embedding in zip(lines[0::2], lines[1::2]):
        out.append((int(tokens.split()[1]), [float(x) for x in embedding.split()[1:]]))
    return out


def test_the_store_embedder_is_listed_and_embeds_like_the_reference(daemon, bert):
    d = daemon({"rag.embedder": "model", "rag.embedding_model": str(bert)})
    models = d.get_json("/v1/models")["data"]
    assert [m["id"] for m in models] == ["model:bert.gguf"]
    assert models[0]["created"] == int(os.stat(bert).st_mtime)

    r = post_json(d, "/v1/embeddings", {"model": "model:bert.gguf", "input": TEXTS})
    assert r.status == 200, r
    assert r.json["model"] == "model:bert.gguf"
    expected = tool_embeddings(bert, TEXTS)
    assert [item["index"] for item in r.json["data"]] == [0, 1]
    for item, (_, want) in zip(r.json["data"], expected):
        got = item["embedding"]
        assert len(got) == 48
        assert math.isclose(math.fsum(x * x for x in got), 1.0, rel_tol=1e-5)
        assert max(abs(a - b) for a, b in zip(got, want)) < 1e-5
    tokens = sum(n for n, _ in expected)
    assert r.json["usage"] == {"prompt_tokens": tokens, "total_tokens": tokens}

    r = post_json(d, "/v1/embeddings", {"model": "model:bert.gguf", "input": TEXTS[1], "encoding_format": "base64"})
    assert r.status == 200, r
    raw = base64.b64decode(r.json["data"][0]["embedding"])
    got = struct.unpack(f"<{len(raw) // 4}f", raw)
    assert max(abs(a - b) for a, b in zip(got, expected[1][1])) < 1e-5


def test_without_a_chat_model_the_503_names_the_store_embedder(daemon, bert):
    d = daemon({"rag.embedder": "model", "rag.embedding_model": str(bert)})
    for body in ({"input": "hello"}, {"model": "gpt-4o", "input": "hello"}):
        r = post_json(d, "/v1/embeddings", body)
        assert r.status == 503 and r.json["error"]["code"] == "no_model", r
        assert '"model": "model:bert.gguf"' in r.json["error"]["message"], r


def test_the_chat_model_still_embeds_by_default(daemon_with_model, test_model, bert):
    d = daemon_with_model({"rag.embedder": "model", "rag.embedding_model": str(bert)})
    assert [m["id"] for m in d.get_json("/v1/models")["data"]] == [test_model.stem, "mkmodel llama q8_0 seed 1",
                                                                   "default", "model:bert.gguf"]
    r = post_json(d, "/v1/embeddings", {"input": "hello"})
    assert r.status == 200, r
    assert r.json["model"] == test_model.stem and len(r.json["data"][0]["embedding"]) == 64
    r = post_json(d, "/v1/embeddings", {"model": "model:bert.gguf", "input": "hello"})
    assert r.status == 200, r
    assert r.json["model"] == "model:bert.gguf" and len(r.json["data"][0]["embedding"]) == 48


def test_the_hash_embedder_can_be_named_but_is_not_listed(daemon):
    d = daemon()
    assert d.get_json("/v1/models")["data"] == []
    r = post_json(d, "/v1/embeddings", {"model": "hash-v1-384", "input": ["plumber on tuesday", "lemon cake"]})
    assert r.status == 200, r
    assert r.json["model"] == "hash-v1-384"
    a, b = (item["embedding"] for item in r.json["data"])
    assert len(a) == len(b) == 384
    assert math.isclose(math.fsum(x * x for x in a), 1.0, rel_tol=1e-5)
    assert a != b
    assert r.json["usage"]["prompt_tokens"] == 5  # words


def test_store_embedder_inputs_are_checked_like_the_chat_models(daemon, bert):
    d = daemon({"rag.embedder": "model", "rag.embedding_model": str(bert)})
    for body, code, param in [({"model": "model:bert.gguf", "input": ["ok", ""]}, "invalid_value", "input[1]"),
                              ({"model": "model:bert.gguf", "input": ["x"] * 65}, "invalid_value", "input"),
                              ({"model": "model:bert.gguf", "input": [1]}, "invalid_type", "input[0]"),
                              ({"model": 7, "input": "x"}, "invalid_type", "model"),
                              ({"model": "model:bert.gguf", "input": "x", "encoding_format": "hex"},
                               "invalid_value", "encoding_format")]:
        err = assert_error(post_json(d, "/v1/embeddings", body), 400, code)
        assert err["param"] == param, (body, err)


def test_edgectl_embed_names_the_store_embedder(daemon, bert):
    from test_clients import edgectl
    d = daemon({"rag.embedder": "model", "rag.embedding_model": str(bert)})
    r = edgectl("embed", "--model", "model:bert.gguf", *TEXTS, socket_path=d.socket_path)
    assert r.returncode == 0, r
    vectors = [[float(x) for x in line.split(" ")] for line in r.stdout.splitlines()]
    for got, (_, want) in zip(vectors, tool_embeddings(bert, TEXTS), strict=True):
        assert max(abs(a - b) for a, b in zip(got, want, strict=True)) < 1e-5
    r = edgectl("embed", "x", socket_path=d.socket_path)  # no chat model: the 503 says what to name
    assert r.returncode == 1 and "model:bert.gguf" in r.stderr, r
    r = edgectl("embed", "x", "--model", socket_path=d.socket_path)
    assert r.returncode == 2 and "missing value of '--model'" in r.stderr, r
