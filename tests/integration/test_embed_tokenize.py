"""test_embed_tokenize.py - POST /v1/embeddings, /v1/tokenize and
/v1/detokenize against the real daemon serving a fixture model: unit-norm
vectors, the same vector for the same input, base64, round trips through the
tokenizer, pieces, the validation errors of each field, and long texts
tokenized off the loop thread. Bodies are validated against
proto/openapi.yaml by check_common.
"""
import base64
import json
import math
import select
import signal
import struct
import time

import pytest

from conftest import post_json, request_bytes

EMBED = "/v1/embeddings"
BOS = 1


def vectors(r):
    assert r.status == 200, r
    assert [item["index"] for item in r.json["data"]] == list(range(len(r.json["data"])))
    return [item["embedding"] for item in r.json["data"]]


def check_error(resp, code, param):
    assert resp.status == 400, resp
    err = resp.json["error"]
    assert err["code"] == code and err["param"] == param and err["message"].startswith(param + ":"), err


@pytest.fixture
def d(daemon_with_model):
    return daemon_with_model()


def test_embeddings_are_unit_vectors_and_repeatable(d, test_model):
    r = post_json(d, EMBED, {"model": "default", "input": ["the cat sat", "a dog ran far", "the cat sat"]})
    a, b, c = vectors(r)
    assert len(a) == 64  # n_embd of the fixture model
    for v in (a, b, c):
        assert abs(math.sqrt(sum(x * x for x in v)) - 1.0) < 1e-4
    assert a == c and a != b
    assert r.json["model"] == test_model.stem and r.json["object"] == "list"
    single = post_json(d, EMBED, {"input": "the cat sat"})
    assert vectors(single) == [a]
    n = len(post_json(d, "/v1/tokenize", {"content": "the cat sat"}).json["tokens"])
    assert single.json["usage"] == {"prompt_tokens": n, "total_tokens": n}


def test_embeddings_base64_is_the_same_vector(d):
    floats = vectors(post_json(d, EMBED, {"input": "hello", "encoding_format": "float"}))[0]
    encoded = vectors(post_json(d, EMBED, {"input": "hello", "encoding_format": "base64"}))[0]
    raw = base64.b64decode(encoded)
    decoded = struct.unpack(f"<{len(raw) // 4}f", raw)
    assert len(decoded) == len(floats)
    assert all(abs(x - y) < 1e-6 for x, y in zip(decoded, floats))


@pytest.mark.parametrize("body,code,param", [
    ({}, "missing_field", "input"),
    ({"input": 5}, "invalid_type", "input"),
    ({"input": ""}, "invalid_value", "input"),
    ({"input": []}, "invalid_value", "input"),
    ({"input": ["a"] * 65}, "invalid_value", "input"),
    ({"input": ["a", 3]}, "invalid_type", "input[1]"),
    ({"input": ["a", ""]}, "invalid_value", "input[1]"),
    ({"input": "apple " * 400}, "context_length_exceeded", "input"),
    ({"input": "a", "encoding_format": "hex"}, "invalid_value", "encoding_format"),
    ({"input": "a", "encoding_format": 1}, "invalid_type", "encoding_format"),
])
def test_embeddings_validation(d, body, code, param):
    check_error(post_json(d, EMBED, body), code, param)


def test_tokenize_round_trip(d):
    text = "Hello world! Ünïcödé and emoji \U0001F600, numbers 12345."
    toks = post_json(d, "/v1/tokenize", {"content": text}).json["tokens"]
    assert toks[0] == BOS and all(isinstance(t, int) for t in toks)
    plain = post_json(d, "/v1/tokenize", {"content": text, "add_special": False}).json["tokens"]
    assert plain == toks[1:]
    back = post_json(d, "/v1/detokenize", {"tokens": toks})
    assert back.json == {"content": text}
    assert post_json(d, "/v1/detokenize", {"tokens": []}).json == {"content": ""}


def test_tokenize_special_and_pieces(d):
    literal = post_json(d, "/v1/tokenize", {"content": "</s>", "add_special": False}).json["tokens"]
    special = post_json(d, "/v1/tokenize", {"content": "</s>", "add_special": False,
                                            "parse_special": True}).json["tokens"]
    assert special == [2] and literal != [2]
    r = post_json(d, "/v1/tokenize", {"content": "Hi \U0001F600", "with_pieces": True})
    items = r.json["tokens"]
    assert items[0]["id"] == BOS
    # byte tokens of the emoji come back as byte values; joined they are the text
    data = b""
    for item in items[1:]:
        piece = item["piece"]
        data += bytes(piece) if isinstance(piece, list) else piece.encode()
    assert data.decode().strip() == "Hi \U0001F600"
    assert any(isinstance(item["piece"], list) for item in items)


@pytest.mark.parametrize("path,body,code,param", [
    ("/v1/tokenize", {}, "missing_field", "content"),
    ("/v1/tokenize", {"content": 5}, "invalid_type", "content"),
    ("/v1/tokenize", {"content": "a", "add_special": "yes"}, "invalid_type", "add_special"),
    ("/v1/tokenize", {"content": "a", "with_pieces": 1}, "invalid_type", "with_pieces"),
    ("/v1/tokenize", {"content": "a", "parse_special": None, "with_pieces": "no"}, "invalid_type", "with_pieces"),
    ("/v1/detokenize", {}, "missing_field", "tokens"),
    ("/v1/detokenize", {"tokens": "1 2"}, "invalid_type", "tokens"),
    ("/v1/detokenize", {"tokens": [1, "2"]}, "invalid_type", "tokens[1]"),
    ("/v1/detokenize", {"tokens": [1, 2, 32000]}, "invalid_value", "tokens[2]"),
    ("/v1/detokenize", {"tokens": [-1]}, "invalid_value", "tokens[0]"),
])
def test_tokenizer_validation(d, path, body, code, param):
    check_error(post_json(d, path, body), code, param)


def test_detokenize_invalid_utf8_becomes_replacement_characters(d):
    # <0xF0> alone (byte token 3 + 0xF0) is not UTF-8
    r = post_json(d, "/v1/detokenize", {"tokens": [3 + 0xF0, 3 + ord("a")]})
    assert r.json["content"] == "\ufffda"


# Megabytes of text: tokenizing them takes seconds (about 0.3 s a MiB on one
# core in a release build), far longer than a request to /health.
LONG_TEXT = "the quick brown fox jumps over the lazy dog. " * ((6 << 20) // 45)


@pytest.mark.parametrize("path,body,status", [
    ("/v1/tokenize", {"content": LONG_TEXT}, 200),
    ("/v1/completions", {"prompt": LONG_TEXT, "max_tokens": 1}, 400),
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": LONG_TEXT}], "max_tokens": 1}, 400),
    ("/v1/embeddings", {"input": LONG_TEXT}, 400),
])
def test_a_long_text_is_tokenized_off_the_loop(d, path, body, status):
    """While the daemon tokenizes a request's megabytes, the loop thread goes
    on answering other connections: /health comes back while the long
    request's answer has not (on the loop thread, it waited seconds)."""
    with d.connect(timeout=120) as slow:
        slow.send(request_bytes("POST", path, [("Content-Type", "application/json")], json.dumps(body)))
        time.sleep(0.3)  # the daemon has the whole body and is tokenizing
        health = d.request("GET", "/health", timeout=120)
        assert health.status == 200
        pending = not select.select([slow.sock], [], [], 0)[0]
        r = slow.read_response(timeout=120)
        assert r.status == status, r
        assert pending, "the long request was answered first: tokenizing held the loop thread"
        if path == "/v1/tokenize":
            assert len(json.loads(r.body)["tokens"]) > 1 << 20
        else:
            assert json.loads(r.body)["error"]["code"] == "context_length_exceeded"


@pytest.mark.parametrize("path,body", [
    ("/v1/tokenize", {"content": LONG_TEXT}),
    ("/v1/completions", {"prompt": LONG_TEXT, "max_tokens": 1}),
    ("/v1/embeddings", {"input": [LONG_TEXT]}),
])
def test_a_client_that_leaves_while_its_text_is_tokenized(d, path, body):
    """The worker finishes, finds the client gone and ends the request: the
    daemon goes on answering and later stops cleanly (nothing leaked under
    ASan)."""
    with d.connect(timeout=120) as slow:
        slow.send(request_bytes("POST", path, [("Content-Type", "application/json")], json.dumps(body)))
        time.sleep(0.3)
    assert d.request("GET", "/health").status == 200
    r = post_json(d, "/v1/tokenize", {"content": "the cat sat"})
    assert r.status == 200 and len(r.json["tokens"]) > 1
    assert d.stop() == 0, d.stderr()


def test_sigterm_while_a_text_is_tokenized_answers_it_then_exits(d):
    """Draining waits for the work in flight: the request is answered in
    full, then the daemon exits 0."""
    with d.connect(timeout=120) as slow:
        slow.send(request_bytes("POST", "/v1/tokenize", [("Content-Type", "application/json")],
                                json.dumps({"content": LONG_TEXT})))
        time.sleep(0.3)
        d.send_signal(signal.SIGTERM)
        r = slow.read_response(timeout=120)
        assert r.status == 200, r
        assert len(json.loads(r.body)["tokens"]) > 1 << 20
    assert d.stop() == 0, d.stderr()
