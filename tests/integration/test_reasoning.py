"""test_reasoning.py - reasoning_format (llama.cpp's field) on POST
/v1/chat/completions against the real daemon serving a random-weight qwen3
fixture (mkmodel, GPT-2 vocabulary): "deepseek" moves a leading
<think>...</think> block into message.reasoning_content (streamed as
delta.reasoning_content before the content), "none" (the default) keeps the
answer as generated, anything else is a 400. A random model thinks only by
chance: the logit bias keeps it to the pieces of the two markers, and the
test looks for a seed whose answer opens with a closed think block. Bodies
are validated against proto/openapi.yaml."""
import subprocess

import pytest

import openapi
from conftest import MKMODEL, REPO, post_json, sse_events

CHAT = "/v1/chat/completions"
GPT2_VOCAB = REPO.parent / "shared" / "testdata" / "vocab" / "ggml-vocab-gpt-2.gguf"


@pytest.fixture(scope="session")
def qwen3_model(tmp_path_factory):
    out = tmp_path_factory.mktemp("qwen3") / "qwen3.gguf"
    cmd = [str(MKMODEL), "--arch", "qwen3", "--vocab", str(GPT2_VOCAB), "--out", str(out), "--type", "q8_0",
           "--n-embd", "64", "--n-layer", "2", "--n-head", "4", "--n-head-kv", "2", "--head-dim", "32",
           "--tied", "--ctx", "256"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=str(REPO))
    assert done.returncode == 0, done.stderr
    return out


@pytest.fixture
def d(daemon_with_model, qwen3_model):
    return daemon_with_model(model=qwen3_model, options={"model.context": 256})


def body(seed, bias, **fields):
    return {"messages": [{"role": "user", "content": "Think first"}], "max_tokens": 20, "seed": seed,
            "logit_bias": bias, **fields}


def split(text):
    """What deepseek makes of an answer that opens with a closed block: (content, reasoning)."""
    inner, _, rest = text.lstrip()[len("<think>"):].partition("</think>")
    return rest.lstrip(), inner.strip()


def thinking_seed(d):
    """A seed (and the bias) whose answer opens with <think> and closes it."""
    pieces = set()
    for marker in ("<think>", "</think>"):
        pieces.update(post_json(d, "/v1/tokenize", {"content": marker, "add_special": False}).json["tokens"])
    bias = {str(t): 100 for t in pieces}
    for seed in range(600):
        r = post_json(d, CHAT, body(seed, bias))
        text = r.json["choices"][0]["message"]["content"]
        if text.lstrip().startswith("<think>") and "</think>" in text:
            return seed, bias, text
    pytest.fail("no seed in 600 gave a closed think block")


def test_deepseek_moves_the_think_block_out(d):
    seed, bias, text = thinking_seed(d)
    content, reasoning = split(text)
    r = post_json(d, CHAT, body(seed, bias, reasoning_format="deepseek"))
    assert r.status == 200, r
    openapi.validate(r.json, {"$ref": "#/components/schemas/ChatCompletion"})
    message = r.json["choices"][0]["message"]
    assert message["content"] == content
    assert message.get("reasoning_content", "") == reasoning
    print(f"seed {seed}: {text!r} -> reasoning {reasoning!r}, content {content!r}")

    # streamed: the reasoning pieces come before the content pieces, and add up to the same
    r = post_json(d, CHAT, body(seed, bias, reasoning_format="deepseek", stream=True))
    events = sse_events(r.body)
    assert events[-1] == "[DONE]"
    deltas = []
    for e in events[:-1]:
        openapi.validate(e, {"$ref": "#/components/schemas/ChatCompletionChunk"})
        deltas.append(e["choices"][0]["delta"])
    streamed_reasoning = "".join(x.get("reasoning_content", "") for x in deltas)
    streamed_content = "".join(x.get("content", "") for x in deltas)
    assert (streamed_reasoning, streamed_content) == (reasoning, content)
    kinds = [k for x in deltas for k in ("reasoning_content", "content") if x.get(k)]
    assert kinds == sorted(kinds, key=lambda k: k == "content"), kinds

    # "none" and absent: the answer as generated
    for fields in ({"reasoning_format": "none"}, {}):
        r = post_json(d, CHAT, body(seed, bias, **fields))
        assert r.json["choices"][0]["message"] == {"role": "assistant", "content": text}


def test_an_answer_without_a_block_is_all_content(d):
    plain = post_json(d, CHAT, body(3, {"50256": -100}))
    r = post_json(d, CHAT, body(3, {"50256": -100}, reasoning_format="deepseek"))
    text = plain.json["choices"][0]["message"]["content"]
    if not text.lstrip().startswith("<think>"):
        assert r.json["choices"][0]["message"] == {"role": "assistant", "content": text}


def test_models_show_the_qwen3_family(d):
    body = d.get_json("/v1/models")
    assert {(m["architecture"], m["chat_format"]) for m in body["data"]} == {("qwen3", "chatml")}


@pytest.mark.parametrize("value, code", [("strip", "invalid_value"), (1, "invalid_type"), ("", "invalid_value")])
def test_reasoning_format_is_checked(d, value, code):
    r = post_json(d, CHAT, body(1, {}, reasoning_format=value))
    assert r.status == 400, r
    err = r.json["error"]
    assert err["code"] == code and err["param"] == "reasoning_format", err
