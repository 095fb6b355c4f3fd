"""test_model_names.py - the names a request's `model` may give (issue 15,
finding 5): exactly those GET /v1/models lists - the chat model's id (the
file name or model.name), its GGUF general.name and "default", each an entry
of its own, the aliases with `alias_of`; for /v1/embeddings also the store's
embedder ("model:FILE" listed, "hash-v1-384" accepted unlisted). Any other
name is a 404 in OpenAI's shape (code model_not_found, type
invalid_request_error, param model) whose message lists the names; an absent
`model` means the served model. edgectl chat, complete and embed --model
exit 1 with the daemon's message.
"""
import os
import subprocess

import pytest

from conftest import assert_error, make_bert, post_json
from test_clients import EDGECTL, edgectl

MKMODEL_NAME = "mkmodel llama q8_0 seed 1"  # general.name that make_model writes
CHAT = "/v1/chat/completions"
COMPLETE = "/v1/completions"
EMBED = "/v1/embeddings"
MESSAGES = [{"role": "user", "content": "hi"}]


def chat_body(model=None):
    body = {"messages": MESSAGES, "max_tokens": 2, "temperature": 0}
    if model is not None:
        body["model"] = model
    return body


def complete_body(model=None):
    body = {"prompt": "Once", "max_tokens": 2, "temperature": 0}
    if model is not None:
        body["model"] = model
    return body


def embed_body(model=None):
    body = {"input": "hello"}
    if model is not None:
        body["model"] = model
    return body


BODIES = {CHAT: chat_body, COMPLETE: complete_body, EMBED: embed_body}


def assert_model_not_found(r, name, listed):
    # not assert_error: OpenAI types this 404 invalid_request_error, not not_found_error
    assert r.status == 404 and r.header("content-type") == "application/json", r
    err = r.json["error"]
    assert err["code"] == "model_not_found" and err["type"] == "invalid_request_error", err
    assert err["param"] == "model", err
    assert f'"{name}"' in err["message"], err
    for n in listed:
        assert f'"{n}"' in err["message"], (n, err)
    return err


@pytest.fixture(scope="module")
def bert(tmp_path_factory):
    return make_bert(tmp_path_factory.mktemp("bert") / "bert.gguf", n_embd=48, n_layer=2, n_ff=96, ctx=64)


def test_models_lists_the_id_general_name_and_default(daemon_with_model, test_model):
    d = daemon_with_model()
    data = d.get_json("/v1/models")["data"]
    assert [m["id"] for m in data] == [test_model.stem, MKMODEL_NAME, "default"]
    assert "alias_of" not in data[0]
    assert [m.get("alias_of") for m in data[1:]] == [test_model.stem, test_model.stem]
    assert len({m["created"] for m in data}) == 1


def test_model_name_from_the_config_is_the_id(daemon_with_model):
    d = daemon_with_model({"model.name": "my-model"})
    assert [m["id"] for m in d.get_json("/v1/models")["data"]] == ["my-model", MKMODEL_NAME, "default"]
    r = post_json(d, CHAT, chat_body("my-model"))
    assert r.status == 200 and r.json["model"] == "my-model", r


@pytest.mark.parametrize("path", [CHAT, COMPLETE, EMBED])
def test_every_listed_name_and_none_is_accepted(daemon_with_model, test_model, path):
    d = daemon_with_model()
    names = [m["id"] for m in d.get_json("/v1/models")["data"]]
    for model in [None, *names]:
        r = post_json(d, path, BODIES[path](model))
        assert r.status == 200, (model, r)
        assert r.json["model"] == test_model.stem, (model, r)  # the answer names the id


@pytest.mark.parametrize("path,name", [(CHAT, "gpt-4o"), (COMPLETE, "gpt-3.5-turbo-instruct"),
                                       (EMBED, "text-embedding-3-small"), (CHAT, "Default"), (EMBED, "")])
def test_an_unknown_model_is_404_model_not_found(daemon_with_model, test_model, path, name):
    d = daemon_with_model()
    r = post_json(d, path, BODIES[path](name))
    assert_model_not_found(r, name, [test_model.stem, MKMODEL_NAME, "default"])


@pytest.mark.parametrize("path", [CHAT, COMPLETE, EMBED])
def test_a_model_that_is_not_a_string_is_400(daemon_with_model, path):
    d = daemon_with_model()
    body = BODIES[path]()
    body["model"] = 4
    err = assert_error(post_json(d, path, body), 400, "invalid_type")
    assert err["param"] == "model", err


def test_a_streamed_request_with_an_unknown_model_is_404_before_streaming(daemon_with_model):
    d = daemon_with_model()
    body = chat_body("gpt-4o")
    body["stream"] = True
    r = post_json(d, CHAT, body)
    assert_model_not_found(r, "gpt-4o", ["default"])


def test_embeddings_accept_the_store_embedder_and_the_chat_names(daemon_with_model, test_model, bert):
    d = daemon_with_model({"rag.embedder": "model", "rag.embedding_model": str(bert)})
    ids = [m["id"] for m in d.get_json("/v1/models")["data"]]
    assert ids == [test_model.stem, MKMODEL_NAME, "default", "model:bert.gguf"]
    r = post_json(d, EMBED, embed_body("model:bert.gguf"))
    assert r.status == 200 and r.json["model"] == "model:bert.gguf", r
    r = post_json(d, EMBED, embed_body("default"))
    assert r.status == 200 and r.json["model"] == test_model.stem, r
    r = post_json(d, EMBED, embed_body("text-embedding-3-small"))
    assert_model_not_found(r, "text-embedding-3-small", [test_model.stem, "default", "model:bert.gguf"])
    # the store's embedder is no name of the chat model
    assert_model_not_found(post_json(d, CHAT, chat_body("model:bert.gguf")), "model:bert.gguf", ["default"])


def test_the_hash_embedder_stays_accepted_unlisted(daemon_with_model, test_model):
    d = daemon_with_model()
    assert "hash-v1-384" not in [m["id"] for m in d.get_json("/v1/models")["data"]]
    r = post_json(d, EMBED, embed_body("hash-v1-384"))
    assert r.status == 200 and r.json["model"] == "hash-v1-384", r
    assert len(r.json["data"][0]["embedding"]) == 384
    # the message lists it: it is a name /v1/embeddings accepts
    assert_model_not_found(post_json(d, EMBED, embed_body("nonexistent")), "nonexistent", ["hash-v1-384"])


@pytest.mark.parametrize("command", [
    ["embed", "hello", "--model", "nonexistent"],
    ["complete", "Once", "-n", "2", "--model", "nonexistent"],
    ["complete", "Once", "-n", "2", "--no-stream", "--model", "nonexistent"],
    ["chat", "-n", "2", "--model", "nonexistent"],
])
def test_edgectl_exits_1_with_the_daemons_message(daemon_with_model, test_model, command):
    d = daemon_with_model()
    env = {k: v for k, v in os.environ.items() if k != "EDGED_SOCKET"}
    r = subprocess.run([str(EDGECTL), "--socket", str(d.socket_path), *command], input="hi\n",
                       capture_output=True, text=True, env=env, timeout=30)
    assert r.returncode == 1, r
    assert '"nonexistent" is not served here' in r.stderr and "model_not_found" in r.stderr, r
    assert f'"{test_model.stem}"' in r.stderr and '"default"' in r.stderr, r
    assert r.stdout.strip() == "", r


@pytest.mark.parametrize("command", [["embed", "hello"], ["complete", "Once", "-n", "2"]])
def test_edgectl_accepts_a_listed_name(daemon_with_model, command):
    d = daemon_with_model()
    r = edgectl(*command, "--model", MKMODEL_NAME, socket_path=d.socket_path)
    assert r.returncode == 0, r
    assert r.stdout.strip(), r
