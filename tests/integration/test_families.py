"""test_families.py - the daemon serving gemma2 and gemma3 random-weight
fixtures (mkmodel, Llama SPM vocabulary, a sliding window of 4 and
model.batch 8, so the sliding layers' caches are rings of 11 positions in a
context of 256): GET /v1/models shows the architecture and chat format,
answers are the same with and without a reused prefix, and a prefix is
reused only while the ring still holds the window the next position needs.
The qwen3 fixture's family is checked in test_reasoning.py."""
import subprocess

import pytest

import openapi
from conftest import MKMODEL, REPO, post_json

CHAT = "/v1/chat/completions"
SPM_VOCAB = REPO.parent / "shared" / "testdata" / "vocab" / "ggml-vocab-llama-spm.gguf"
NO_EOS = {"2": -100}
ARGS = {
    "gemma2": ["--n-layer", "4", "--n-head-kv", "2", "--attn-softcap", "2", "--final-softcap", "3"],
    "gemma3": ["--n-layer", "7", "--n-head-kv", "1"],
}


@pytest.fixture(scope="module", params=sorted(ARGS))
def gemma(request, tmp_path_factory):
    arch = request.param
    out = tmp_path_factory.mktemp(arch) / f"{arch}.gguf"
    cmd = [str(MKMODEL), "--arch", arch, "--vocab", str(SPM_VOCAB), "--out", str(out), "--type", "q8_0",
           "--n-embd", "64", "--n-head", "4", "--head-dim", "32", "--sliding-window", "4", "--tied",
           "--ctx", "256"] + ARGS[arch]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=str(REPO))
    assert done.returncode == 0, done.stderr
    return arch, out


@pytest.fixture
def d(daemon_with_model, gemma):
    return daemon_with_model(model=gemma[1], options={"model.context": 256, "model.batch": 8,
                                                     "model.chat_template": "gemma", "engine.parallel": 1})


def chat(d, max_tokens, content="Tell me a story about a cat and a dog"):
    r = post_json(d, CHAT, {"messages": [{"role": "system", "content": "Be brief."},
                                         {"role": "user", "content": content}],
                            "max_tokens": max_tokens, "seed": 7, "logit_bias": NO_EOS})
    assert r.status == 200, r
    openapi.validate(r.json, {"$ref": "#/components/schemas/ChatCompletion"})
    return r.json


def test_models_show_the_family(d, gemma):
    body = d.get_json("/v1/models")
    openapi.validate(body, {"$ref": "#/components/schemas/ModelList"})
    assert {(m["architecture"], m["chat_format"]) for m in body["data"]} == {(gemma[0], "gemma")}


def test_a_prefix_is_reused_only_within_the_window(d):
    # one token: the cache holds the prompt, and the last prompt position's window is still in the rings
    first = chat(d, 1)
    again = chat(d, 1)
    assert again["choices"] == first["choices"]
    assert again["timings"]["cached_n"] == again["usage"]["prompt_tokens"] - 1, again["timings"]
    # 20 generated tokens went through the rings (11 positions): the prompt's window is gone
    long = chat(d, 20)
    repeat = chat(d, 20)
    assert repeat["choices"] == long["choices"]
    assert repeat["timings"]["cached_n"] == 0, repeat["timings"]
    # a prompt longer than a batch and than the rings, evaluated in chunks of 8
    text = " ".join(["word"] * 40)
    a, b = chat(d, 12, text), chat(d, 12, text)
    assert a["choices"] == b["choices"] and a["usage"]["prompt_tokens"] > 40
