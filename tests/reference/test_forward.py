"""test_forward - edged's forward pass (daemon/model/forward.c, run through
build/tests/tools/dump_logits) against an independent PyTorch implementation
of the Llama/Qwen2 forward pass, on F32 random-weight models written by
build/tests/tools/mkmodel: llama with grouped-query and multi-head
attention, tied and untied heads, rope_freqs factors, and qwen2 (biases,
NeoX RoPE). The reference keeps f64 activations but rounds keys and values
to f16 as edged's KV cache stores them; the normalised RMS difference of all
positions' logits must stay <= 1e-4."""

import math
import os
import subprocess

import numpy as np
import pytest
import torch

from gguf_np import GGUF

BUILD = os.environ.get("BUILD", "build")
MKMODEL = os.path.join(BUILD, "tests", "tools", "mkmodel")
DUMP = os.path.join(BUILD, "tests", "tools", "dump_logits")
VOCAB = "../shared/testdata/vocab"

TOKENS = [1, 15043, 3186, 29892, 445, 338, 263, 1243, 29889, 13, 4013, 338, 1059]


def reference_logits(path, tokens, weight=None, embed=None):
    """All-position logits (len(tokens), n_vocab) of the model at `path`.
    weight(g, name), when given, supplies every weight tensor as a float64
    torch tensor (test_lora merges adapters into them); embed, when given,
    is the table the tokens are looked up in (a tied head keeps
    token_embd.weight)."""
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
    neox = arch == "qwen2"

    def w(name):
        return weight(g, name) if weight else torch.from_numpy(g.tensor(name)).double()

    def has(name):
        return name in g.tensors

    n = len(tokens)
    pos = torch.arange(n, dtype=torch.float64)
    inv_freq = base ** (-torch.arange(0, n_rot, 2, dtype=torch.float64) / n_rot)
    if has("rope_freqs.weight"):
        inv_freq = inv_freq / w("rope_freqs.weight")
    theta = freq_scale * pos[:, None] * inv_freq[None, :]  # (n, n_rot/2)
    cos, sin = torch.cos(theta)[:, None, :], torch.sin(theta)[:, None, :]

    def rope(x):  # (n, heads, head_dim)
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
    mask = torch.full((n, n), float("-inf"), dtype=torch.float64).triu(1)
    for l in range(n_layer):
        p = f"blk.{l}."
        h = rmsnorm(x, w(p + "attn_norm.weight"))
        q, k, v = (h @ w(p + f"attn_{t}.weight").T for t in "qkv")
        if has(p + "attn_q.bias"):
            q, k, v = (y + w(p + f"attn_{t}.bias") for y, t in zip((q, k, v), "qkv"))
        q = rope(q.view(n, n_head, head_dim))
        k = f16(rope(k.view(n, n_kv_head, head_dim)))
        v = f16(v.view(n, n_kv_head, head_dim))
        group = n_head // n_kv_head
        k, v = k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1)
        scores = torch.einsum("qhd,khd->hqk", q, k) / math.sqrt(head_dim) + mask
        att = torch.einsum("hqk,khd->qhd", torch.softmax(scores, -1), v).reshape(n, n_head * head_dim)
        x = x + att @ w(p + "attn_output.weight").T
        h = rmsnorm(x, w(p + "ffn_norm.weight"))
        gate, up = h @ w(p + "ffn_gate.weight").T, h @ w(p + "ffn_up.weight").T
        x = x + (torch.nn.functional.silu(gate) * up) @ w(p + "ffn_down.weight").T
    head = w("output.weight") if has("output.weight") else w("token_embd.weight")
    return (rmsnorm(x, w("output_norm.weight")) @ head.T).numpy()


def edged_logits(path, tokens, n_vocab):
    out = path + ".logits.f32"
    subprocess.run([DUMP, path, out] + [str(t) for t in tokens], check=True)
    return np.fromfile(out, dtype=np.float32).reshape(len(tokens), n_vocab)


CASES = {
    "llama-gqa": (["--arch", "llama", "--n-head", "4", "--n-head-kv", "2"], "llama-spm"),
    "llama-mha-tied": (["--arch", "llama", "--n-head", "4", "--n-head-kv", "4", "--tied"], "llama-spm"),
    "llama-rope-freqs": (["--arch", "llama", "--n-head", "8", "--n-head-kv", "2", "--n-embd", "128",
                          "--rope-freqs", "--rope-base", "500000", "--seed", "7"], "llama-spm"),
    "qwen2": (["--arch", "qwen2", "--n-head", "4", "--n-head-kv", "2", "--tied"], "gpt-2"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_forward_matches_pytorch(case, tmp_path):
    args, vocab = CASES[case]
    path = str(tmp_path / f"{case}.gguf")
    subprocess.run([MKMODEL, "--out", path, "--vocab", f"{VOCAB}/ggml-vocab-{vocab}.gguf",
                    "--type", "f32", "--n-layer", "2"] + args,
                   check=True, stdout=subprocess.DEVNULL)
    ref = reference_logits(path, TOKENS)
    ours = edged_logits(path, TOKENS, ref.shape[1])
    nrms = np.sqrt(np.mean((ours - ref) ** 2)) / np.std(ref)
    agree = int((ours.argmax(1) == ref.argmax(1)).sum())
    print(f"{case}: rms(edged - torch)/std(torch) = {nrms:.3g}, argmax agrees {agree}/{len(TOKENS)}")
    assert nrms <= 1e-4
    assert agree == len(TOKENS)
