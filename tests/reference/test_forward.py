"""test_forward - edged's forward pass (daemon/model/forward.c, run through
build/tests/tools/dump_logits) against an independent PyTorch implementation
of the forward pass, on F32 random-weight models written by
build/tests/tools/mkmodel: llama with grouped-query and multi-head
attention, tied and untied heads, rope_freqs factors, qwen2 (biases,
NeoX RoPE), qwen3 (per-head q/k RMSNorm, head_dim apart from n_embd/n_head),
phi3 (fused qkv and gate/up, partial rotary, LongRoPE long and short
factors with attn_factor), smollm3 (no RoPE on every 4th layer), gemma2
(scaled embeddings, post-norms, GELU feed-forward, attention and final
soft-capping, a sliding window on every other layer) and gemma3 (q/k norms,
5 sliding layers of 6 with their own RoPE base), the gemma sequences longer
than the window and also evaluated a few tokens a pass over ring caches. The
reference keeps f64 activations but rounds keys and values to f16 as edged's
KV cache stores them; the normalised RMS difference of all positions'
logits must stay <= 1e-4 on F32 weights, and within the quantized path's
0.05 (tests/model/forward.c) on Q8_0 and Q4_0 weights, decoded here."""

import math
import os
import re
import subprocess

import numpy as np
import pytest
import torch

from gguf_np import GGUF

BUILD = os.environ.get("BUILD", "build")
MKMODEL = os.path.join(BUILD, "tests", "tools", "mkmodel")
DUMP = os.path.join(BUILD, "tests", "tools", "dump_logits")
EDGED = os.path.join(BUILD, "edged")
VOCAB = "../shared/testdata/vocab"

TOKENS = [1, 15043, 3186, 29892, 445, 338, 263, 1243, 29889, 13, 4013, 338, 1059]


def reference_logits(path, tokens, weight=None, embed=None, n_ctx=None):
    """All-position logits (len(tokens), n_vocab) of the model at `path`.
    weight(g, name), when given, supplies every weight tensor as a float64
    torch tensor (test_lora merges adapters into them); embed, when given,
    is the table the tokens are looked up in (a tied head keeps
    token_embd.weight). n_ctx (default len(tokens), as dump_logits sizes
    its cache) picks phi3's long RoPE factors when above the original
    context, as llama.cpp's get_rope_factors does."""
    g = GGUF(path)
    arch = g.kv["general.architecture"]
    hp = lambda key, default=None: g.kv.get(f"{arch}.{key}", default)
    n_embd, n_layer = hp("embedding_length"), hp("block_count")
    n_head = hp("attention.head_count")
    n_kv_head = hp("attention.head_count_kv", n_head)
    head_dim = hp("attention.key_length", n_embd // n_head)
    n_rot = hp("rope.dimension_count", head_dim)
    eps = hp("attention.layer_norm_rms_epsilon")
    base = hp("rope.freq_base", 10000.0)
    freq_scale = 1.0
    if hp("rope.scaling.type", "none") == "linear":
        freq_scale = 1.0 / hp("rope.scaling.factor")
    neox = arch in ("qwen2", "qwen3", "phi3", "gemma2", "gemma3")
    gemma = arch in ("gemma2", "gemma3")
    # llama.cpp's set_swa_pattern: gemma2 slides on layers l % 2 < 1, gemma3 on l % 6 < 5
    swa_pattern = {"gemma2": 2, "gemma3": 6}.get(arch, 0)
    window = hp("attention.sliding_window", 4096) if gemma else 0
    attn_cap = hp("attn_logit_softcapping", 50.0) if arch == "gemma2" else 0
    final_cap = hp("final_logit_softcapping", 30.0) if arch == "gemma2" else 0
    # llama.cpp hard-codes n_no_rope_layer_step = 4 for smollm3 (no GGUF key)
    no_rope_step = 4 if arch == "smollm3" else 0
    attn_factor = hp("rope.scaling.attn_factor", 1.0)
    n_ctx = len(tokens) if n_ctx is None else n_ctx

    def w(name):
        return weight(g, name) if weight else torch.from_numpy(g.tensor(name)).double()

    def has(name):
        return name in g.tensors

    n = len(tokens)
    pos = torch.arange(n, dtype=torch.float64)
    inv_freq = base ** (-torch.arange(0, n_rot, 2, dtype=torch.float64) / n_rot)
    if has("rope_freqs.weight"):
        inv_freq = inv_freq / w("rope_freqs.weight")
    elif has("rope_factors_long.weight"):
        orig = hp("rope.scaling.original_context_length", hp("context_length"))
        inv_freq = inv_freq / w("rope_factors_long.weight" if n_ctx > orig else "rope_factors_short.weight")
    theta = freq_scale * pos[:, None] * inv_freq[None, :]  # (n, n_rot/2)
    cos, sin = torch.cos(theta)[:, None, :] * attn_factor, torch.sin(theta)[:, None, :] * attn_factor
    # gemma3's sliding layers: base 10000, no scaling (hard-coded in llama.cpp)
    local_base = 10000.0 if arch == "gemma3" else base
    theta_local = pos[:, None] * (local_base ** (-torch.arange(0, n_rot, 2, dtype=torch.float64) / n_rot))[None, :]
    if arch != "gemma3":
        theta_local = theta
    cos_local, sin_local = torch.cos(theta_local)[:, None, :], torch.sin(theta_local)[:, None, :]

    def rope(x, cos=cos, sin=sin):  # (n, heads, head_dim)
        x = x.clone()
        if neox:
            a, b = x[..., : n_rot // 2], x[..., n_rot // 2 : n_rot]
        else:
            a, b = x[..., 0:n_rot:2], x[..., 1:n_rot:2]
        ra, rb = a * cos - b * sin, a * sin + b * cos
        if neox:
            x[..., : n_rot // 2], x[..., n_rot // 2 : n_rot] = ra, rb
        else:
            x[..., 0:n_rot:2], x[..., 1:n_rot:2] = ra, rb
        return x

    def rmsnorm(x, weight):
        return x / torch.sqrt((x * x).mean(-1, keepdim=True) + eps) * weight

    def f16(x):
        return x.half().double()

    x = (embed if embed is not None else w("token_embd.weight"))[tokens]
    if gemma:
        x = x * math.sqrt(n_embd)
    mask = torch.full((n, n), float("-inf"), dtype=torch.float64).triu(1)
    # a sliding layer's query at i sees keys j with i - j < window
    distance = torch.arange(n)[:, None] - torch.arange(n)[None, :]
    local_mask = mask.masked_fill(distance >= window, float("-inf")) if window else mask
    for l in range(n_layer):
        p = f"blk.{l}."
        sliding = swa_pattern and l % swa_pattern < swa_pattern - 1
        h = rmsnorm(x, w(p + "attn_norm.weight"))
        if has(p + "attn_qkv.weight"):
            q, k, v = torch.split(h @ w(p + "attn_qkv.weight").T,
                                  [n_head * head_dim, n_kv_head * head_dim, n_kv_head * head_dim], dim=-1)
        else:
            q, k, v = (h @ w(p + f"attn_{t}.weight").T for t in "qkv")
        if has(p + "attn_q.bias"):
            q, k, v = (y + w(p + f"attn_{t}.bias") for y, t in zip((q, k, v), "qkv"))
        q, k = q.reshape(n, n_head, head_dim), k.reshape(n, n_kv_head, head_dim)
        if has(p + "attn_q_norm.weight"):
            q, k = rmsnorm(q, w(p + "attn_q_norm.weight")), rmsnorm(k, w(p + "attn_k_norm.weight"))
        if sliding:
            q, k = rope(q, cos_local, sin_local), rope(k, cos_local, sin_local)
        elif not no_rope_step or (l + 1) % no_rope_step != 0:
            q, k = rope(q), rope(k)
        k = f16(k)
        v = f16(v.reshape(n, n_kv_head, head_dim))
        group = n_head // n_kv_head
        k, v = k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1)
        scores = torch.einsum("qhd,khd->hqk", q, k) / math.sqrt(head_dim)
        if attn_cap:
            scores = attn_cap * torch.tanh(scores / attn_cap)
        scores = scores + (local_mask if sliding else mask)
        att = torch.einsum("hqk,khd->qhd", torch.softmax(scores, -1), v).reshape(n, n_head * head_dim)
        att = att @ w(p + "attn_output.weight").T
        if gemma:
            att = rmsnorm(att, w(p + "post_attention_norm.weight"))
        x = x + att
        h = rmsnorm(x, w(p + "ffn_norm.weight"))
        if has(p + "ffn_gate.weight"):
            gate, up = h @ w(p + "ffn_gate.weight").T, h @ w(p + "ffn_up.weight").T
        else:  # phi3: ffn_up holds gate then up
            gate, up = torch.chunk(h @ w(p + "ffn_up.weight").T, 2, dim=-1)
        if gemma:
            ffn = (torch.nn.functional.gelu(gate, approximate="tanh") * up) @ w(p + "ffn_down.weight").T
            x = x + rmsnorm(ffn, w(p + "post_ffw_norm.weight"))
        else:
            x = x + (torch.nn.functional.silu(gate) * up) @ w(p + "ffn_down.weight").T
    head = w("output.weight") if has("output.weight") else w("token_embd.weight")
    logits = rmsnorm(x, w("output_norm.weight")) @ head.T
    if final_cap:
        logits = final_cap * torch.tanh(logits / final_cap)
    return logits.numpy()


def edged_logits(path, tokens, n_vocab, batch=None):
    out = path + ".logits.f32"
    subprocess.run([DUMP] + (["--batch", str(batch)] if batch else []) + [path, out] + [str(t) for t in tokens],
                   check=True)
    return np.fromfile(out, dtype=np.float32).reshape(len(tokens), n_vocab)


CASES = {
    "llama-gqa": (["--arch", "llama", "--n-head", "4", "--n-head-kv", "2"], "llama-spm"),
    "llama-mha-tied": (["--arch", "llama", "--n-head", "4", "--n-head-kv", "4", "--tied"], "llama-spm"),
    "llama-rope-freqs": (["--arch", "llama", "--n-head", "8", "--n-head-kv", "2", "--n-embd", "128",
                          "--rope-freqs", "--rope-base", "500000", "--seed", "7"], "llama-spm"),
    "qwen2": (["--arch", "qwen2", "--n-head", "4", "--n-head-kv", "2", "--tied"], "gpt-2"),
    # Qwen3-0.6B-like: head_dim 128 > n_embd / n_head, here 32 > 16
    "qwen3": (["--arch", "qwen3", "--n-head", "4", "--n-head-kv", "2", "--head-dim", "32", "--tied"], "gpt-2"),
    "qwen3-mha-untied": (["--arch", "qwen3", "--n-head", "4", "--n-head-kv", "4", "--seed", "3"], "gpt-2"),
    # Phi-4-mini-like: partial rotary (n_rot 12 of head_dim 16), LongRoPE; the
    # 13-token context exceeds original 8 (long factors) or not 64 (short)
    "phi3-longrope-long": (["--arch", "phi3", "--n-head", "4", "--n-head-kv", "2", "--n-rot", "12",
                            "--longrope", "8"], "llama-spm"),
    "phi3-longrope-short": (["--arch", "phi3", "--n-head", "4", "--n-head-kv", "4", "--longrope", "64",
                             "--tied", "--seed", "5"], "llama-spm"),
    "phi3": (["--arch", "phi3", "--n-head", "4", "--n-head-kv", "4"], "llama-spm"),
    # layers 3 and 7 of 8 skip RoPE
    "smollm3": (["--arch", "smollm3", "--n-head", "4", "--n-head-kv", "2", "--tied", "--n-layer", "8"], "gpt-2"),
    # Gemma-2-2B-like: head_dim 32 apart from 64 / 4; window 4 of the 13 tokens; caps the
    # random scores and logits reach (the real 50 and 30 would barely touch them)
    "gemma2": (["--arch", "gemma2", "--n-head", "4", "--n-head-kv", "2", "--head-dim", "32", "--tied",
                "--n-layer", "4", "--sliding-window", "4", "--attn-softcap", "2", "--final-softcap", "3"],
               "llama-spm"),
    # Gemma-3-1B-like: one KV head; layers 0-4 slide (window 5, RoPE base 10000), layer 5 and 6 are global
    # (base 1000000)
    "gemma3": (["--arch", "gemma3", "--n-head", "4", "--n-head-kv", "1", "--head-dim", "32", "--tied",
                "--n-layer", "7", "--sliding-window", "5"], "llama-spm"),
}
# evaluated a few tokens a pass too: the sliding layers' ring caches then hold less than the sequence
RING_CASES = {"gemma2": 3, "gemma3": 1}

QUANT_CASES = ["qwen3", "phi3-longrope-long", "smollm3", "gemma2", "gemma3"]
# Q4_K needs rows of 256: wider models (Qwen3-0.6B's head size 128 apart from width / heads)
Q4_K_CASES = {
    "qwen3": ["--arch", "qwen3", "--n-embd", "256", "--n-head", "4", "--n-head-kv", "2", "--head-dim", "64",
              "--n-ff", "512", "--tied"],
    "phi3": ["--arch", "phi3", "--n-embd", "256", "--n-head", "4", "--n-head-kv", "2", "--n-rot", "48",
             "--n-ff", "512", "--longrope", "8"],
    "smollm3": ["--arch", "smollm3", "--n-embd", "256", "--n-head", "4", "--n-head-kv", "2", "--n-ff", "512",
                "--n-layer", "4", "--tied"],
    "gemma3": ["--arch", "gemma3", "--n-embd", "256", "--n-head", "4", "--n-head-kv", "1", "--head-dim", "64",
               "--n-ff", "512", "--n-layer", "7", "--sliding-window", "4", "--tied"],
}
QUANT_TOLERANCE = 0.05  # tests/model/forward.c's bound for the quantized path


def make_model(case, path, quant):
    args, vocab = CASES[case]
    n_layer = [] if "--n-layer" in args else ["--n-layer", "2"]
    subprocess.run([MKMODEL, "--out", path, "--vocab", f"{VOCAB}/ggml-vocab-{vocab}.gguf",
                    "--type", quant] + n_layer + args,
                   check=True, stdout=subprocess.DEVNULL)


@pytest.mark.parametrize("case", sorted(CASES))
def test_forward_matches_pytorch(case, tmp_path):
    path = str(tmp_path / f"{case}.gguf")
    make_model(case, path, "f32")
    ref = reference_logits(path, TOKENS)
    ours = edged_logits(path, TOKENS, ref.shape[1])
    nrms = np.sqrt(np.mean((ours - ref) ** 2)) / np.std(ref)
    agree = int((ours.argmax(1) == ref.argmax(1)).sum())
    print(f"{case}: rms(edged - torch)/std(torch) = {nrms:.3g}, argmax agrees {agree}/{len(TOKENS)}")
    assert nrms <= 1e-4
    assert agree == len(TOKENS)
    # edged model-info's verdict (cli/info.c loads the model as the daemon does)
    arch = GGUF(path).kv["general.architecture"]
    info = subprocess.run([EDGED, "model-info", path], check=True, capture_output=True, text=True).stdout
    assert re.search(rf"^  serves it +yes: a chat model for \[model\] path \({arch}, ", info, re.M), info


@pytest.mark.parametrize("case", sorted(RING_CASES))
def test_ring_cache_forward_matches_pytorch(case, tmp_path):
    """gemma evaluated RING_CASES[case] tokens a pass: each sliding layer's
    cache is a ring of window + batch - 1 positions (and its mirror), shorter
    than the 13 tokens, and the logits still match the reference."""
    path = str(tmp_path / f"{case}.gguf")
    make_model(case, path, "f32")
    ref = reference_logits(path, TOKENS)
    ours = edged_logits(path, TOKENS, ref.shape[1], batch=RING_CASES[case])
    whole = edged_logits(path, TOKENS, ref.shape[1])
    nrms = np.sqrt(np.mean((ours - ref) ** 2)) / np.std(ref)
    print(f"{case} ring, {RING_CASES[case]} a pass: rms(edged - torch)/std(torch) = {nrms:.3g}")
    assert nrms <= 1e-4
    assert np.array_equal(ours, whole)  # one pass or several: bit-identical


@pytest.mark.parametrize("quant", ["q8_0", "q4_0"])
@pytest.mark.parametrize("case", QUANT_CASES)
def test_quantized_forward_matches_pytorch(case, quant, tmp_path):
    """The same models with Q8_0 / Q4_0 matrices: the reference multiplies by
    the dequantized weights (decoded independently in test_lora), edged by
    its quantized kernels with quantized activations."""
    from test_lora import dequantize  # test_lora imports this module

    path = str(tmp_path / f"{case}-{quant}.gguf")
    make_model(case, path, quant)
    ref = reference_logits(path, TOKENS, weight=lambda g, name: torch.from_numpy(dequantize(g, name)))
    ours = edged_logits(path, TOKENS, ref.shape[1])
    nrms = np.sqrt(np.mean((ours - ref) ** 2)) / np.std(ref)
    agree = int((ours.argmax(1) == ref.argmax(1)).sum())
    print(f"{case} {quant}: rms(edged - torch)/std(torch) = {nrms:.3g}, argmax agrees {agree}/{len(TOKENS)}")
    assert nrms <= QUANT_TOLERANCE


@pytest.mark.parametrize("case", sorted(Q4_K_CASES))
def test_q4_k_forward_matches_pytorch(case, tmp_path):
    from test_lora import dequantize

    path = str(tmp_path / f"{case}-q4_k.gguf")
    n_layer = [] if "--n-layer" in Q4_K_CASES[case] else ["--n-layer", "2"]
    vocab = "llama-spm" if "gemma3" in Q4_K_CASES[case] else "gpt-2"
    subprocess.run([MKMODEL, "--out", path, "--vocab", f"{VOCAB}/ggml-vocab-{vocab}.gguf", "--type", "q4_k"]
                   + n_layer + Q4_K_CASES[case], check=True, stdout=subprocess.DEVNULL)
    g = GGUF(path)
    assert any(t[0] == 12 for t in g.tensors.values()), "no q4_K matrix: rows fell back"
    ref = reference_logits(path, TOKENS, weight=lambda g, name: torch.from_numpy(dequantize(g, name)))
    ours = edged_logits(path, TOKENS, ref.shape[1])
    nrms = np.sqrt(np.mean((ours - ref) ** 2)) / np.std(ref)
    agree = int((ours.argmax(1) == ref.argmax(1)).sum())
    print(f"{case} q4_k: rms(edged - torch)/std(torch) = {nrms:.3g}, argmax agrees {agree}/{len(TOKENS)}")
    assert nrms <= QUANT_TOLERANCE
