"""test_train - the gradients of adapt/trainer (one window through
build/tests/tools/train_grad) against an independent PyTorch model with
autograd: the llama/qwen2/qwen3/smollm3 forward pass in float64 over the
dequantized base weights (decoded here, not by edged), LoRA pairs W x +
alpha/rank B (A x) as leaf tensors, the summed next-token cross-entropy.
Every LoRA pair's dA and dB and the gradient at the input embeddings must
match with a norm-wise relative error <= 1e-4 on F32 bases and <= 1e-3 on
Q8_0, Q4_0 and Q4_K bases (llama and qwen2, GQA and MHA, attention and FFN
targets). The tool also reports the loss of forward.c's logits with the
same adapter (the training forward is the inference forward: equal up to
the f16 KV cache and, on quantized bases, the int8 activations inference
multiplies with: 1e-4 and 5e-3 of the loss) and central finite differences of a few parameters
through ed_trainer_loss (a second witness, <= 2e-2: they difference f32
losses). A packed window of three segments matches PyTorch running the
segments apart and summing."""

import math
import os
import struct
import subprocess

import numpy as np
import pytest
import torch

from gguf_np import GGUF
from test_lora import dequantize

BUILD = os.environ.get("BUILD", "build")
MKMODEL = os.path.join(BUILD, "tests", "tools", "mkmodel")
MKLORA = os.path.join(BUILD, "tests", "tools", "mklora")
TRAIN_GRAD = os.path.join(BUILD, "tests", "tools", "train_grad")
VOCAB = "../shared/testdata/vocab"
TOKENS = [1, 15043, 3186, 29892, 445, 338, 263, 1243, 29889, 13, 4013, 338, 1059]
ROLES = ["attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"]
TOLERANCE = {"f32": 1e-4, "q8_0": 1e-3, "q4_0": 1e-3, "q4_k": 1e-3}


def read_result(path):
    d = open(path, "rb").read()
    assert d[:4] == b"EDTG"
    n, n_embd, n_layer, n_pairs, counted = struct.unpack_from("<5i", d, 4)
    loss, loss_inf = struct.unpack_from("<2d", d, 24)
    off = 40
    pairs = {}
    for _ in range(n_pairs):
        layer, role, rank, n_in, n_out = struct.unpack_from("<5i", d, off)
        off += 20
        da = np.frombuffer(d, np.float32, rank * n_in, off).reshape(rank, n_in)
        off += 4 * rank * n_in
        db = np.frombuffer(d, np.float32, n_out * rank, off).reshape(n_out, rank)
        off += 4 * n_out * rank
        pairs[(layer, role)] = (da, db)
    dx = np.frombuffer(d, np.float32, n * n_embd, off).reshape(n, n_embd)
    off += 4 * n * n_embd
    (n_fd,) = struct.unpack_from("<i", d, off)
    off += 4
    fd = []
    for _ in range(n_fd):
        pair, half, elem = struct.unpack_from("<3i", d, off)
        analytic, numeric = struct.unpack_from("<2d", d, off + 12)
        off += 28
        if pair >= 0:
            fd.append((pair, half, elem, analytic, numeric))
    return dict(loss=loss, loss_inf=loss_inf, counted=counted, pairs=pairs, dx=dx, fd=fd)


def reference(base, adapter, tokens):
    """loss, {(layer, role): (dA, dB)}, dx0 of the summed next-token loss."""
    g, lg = GGUF(base), GGUF(adapter)
    arch = g.kv["general.architecture"]
    hp = lambda key, default=None: g.kv.get(f"{arch}.{key}", default)
    n_embd, n_layer = hp("embedding_length"), hp("block_count")
    n_head = hp("attention.head_count")
    n_kv_head = hp("attention.head_count_kv", n_head)
    head_dim = hp("attention.key_length", n_embd // n_head)
    n_rot = hp("rope.dimension_count", head_dim)
    eps = hp("attention.layer_norm_rms_epsilon")
    base_freq = hp("rope.freq_base", 10000.0)
    neox = arch in ("qwen2", "qwen3")
    no_rope_step = 4 if arch == "smollm3" else 0
    alpha = lg.kv.get("adapter.lora.alpha")

    def w(name):
        return torch.from_numpy(dequantize(g, name))

    def has(name):
        return name in g.tensors

    n = len(tokens)
    pos = torch.arange(n, dtype=torch.float64)
    inv_freq = base_freq ** (-torch.arange(0, n_rot, 2, dtype=torch.float64) / n_rot)
    theta = pos[:, None] * inv_freq[None, :]
    cos, sin = torch.cos(theta)[:, None, :], torch.sin(theta)[:, None, :]

    def rope(x):
        if neox:
            a, b = x[..., : n_rot // 2], x[..., n_rot // 2: n_rot]
            return torch.cat([a * cos - b * sin, a * sin + b * cos, x[..., n_rot:]], -1)
        a, b = x[..., 0:n_rot:2], x[..., 1:n_rot:2]
        return torch.stack([a * cos - b * sin, a * sin + b * cos], -1).reshape(x.shape)

    def rmsnorm(x, weight):
        return x / torch.sqrt((x * x).mean(-1, keepdim=True) + eps) * weight

    params = {}
    for l in range(n_layer):
        for r, role in enumerate(ROLES):
            name = f"blk.{l}.{role}.weight"
            if name + ".lora_a" in lg.tensors:
                a = torch.from_numpy(dequantize(lg, name + ".lora_a")).requires_grad_()
                b = torch.from_numpy(dequantize(lg, name + ".lora_b")).requires_grad_()
                params[(l, r)] = (a, b)

    def lin(x, l, r):
        y = x @ w(f"blk.{l}.{ROLES[r]}.weight").T
        if (l, r) in params:
            a, b = params[(l, r)]
            s = alpha / a.shape[0] if alpha else 1.0
            y = y + s * ((x @ a.T) @ b.T)
        return y

    x0 = w("token_embd.weight")[tokens].clone().requires_grad_()
    x = x0
    mask = torch.full((n, n), float("-inf"), dtype=torch.float64).triu(1)
    for l in range(n_layer):
        p = f"blk.{l}."
        h = rmsnorm(x, w(p + "attn_norm.weight"))
        q, k, v = lin(h, l, 0), lin(h, l, 1), lin(h, l, 2)
        if has(p + "attn_q.bias"):
            q, k, v = q + w(p + "attn_q.bias"), k + w(p + "attn_k.bias"), v + w(p + "attn_v.bias")
        q, k = q.reshape(n, n_head, head_dim), k.reshape(n, n_kv_head, head_dim)
        v = v.reshape(n, n_kv_head, head_dim)
        if has(p + "attn_q_norm.weight"):
            q, k = rmsnorm(q, w(p + "attn_q_norm.weight")), rmsnorm(k, w(p + "attn_k_norm.weight"))
        if not no_rope_step or (l + 1) % no_rope_step != 0:
            q, k = rope(q), rope(k)
        group = n_head // n_kv_head
        k, v = k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1)
        scores = torch.einsum("qhd,khd->hqk", q, k) / math.sqrt(head_dim) + mask
        att = torch.einsum("hqk,khd->qhd", torch.softmax(scores, -1), v).reshape(n, n_head * head_dim)
        x = x + lin(att, l, 3)
        h = rmsnorm(x, w(p + "ffn_norm.weight"))
        x = x + lin(torch.nn.functional.silu(lin(h, l, 4)) * lin(h, l, 5), l, 6)
    head = w("output.weight") if has("output.weight") else w("token_embd.weight")
    logits = rmsnorm(x, w("output_norm.weight")) @ head.T
    loss = torch.nn.functional.cross_entropy(logits[:-1], torch.tensor(tokens[1:]), reduction="sum")
    leaves = [t for pair in params.values() for t in pair] + [x0]
    grads = torch.autograd.grad(loss, leaves)
    out = {}
    for i, key in enumerate(params):
        out[key] = (grads[2 * i].numpy(), grads[2 * i + 1].numpy())
    return float(loss), out, grads[-1].numpy()


def rel(ours, ref):
    ref = np.asarray(ref, np.float64)
    return float(np.linalg.norm(ours - ref) / max(np.linalg.norm(ref), 1e-30))


def max_rel(ours, ref):
    ref = np.asarray(ref, np.float64)
    return float(np.max(np.abs(ours - ref)) / max(np.max(np.abs(ref)), 1e-30))


CASES = {
    # name: (mkmodel args, vocab, quant, mklora targets)
    "llama-gqa-attn-f32": (["--arch", "llama", "--n-head", "4", "--n-head-kv", "2"], "llama-spm", "f32", "attn"),
    "llama-mha-all-f32": (["--arch", "llama", "--n-head", "4", "--n-head-kv", "4"], "llama-spm", "f32", "all"),
    "qwen2-gqa-all-f32": (["--arch", "qwen2", "--n-head", "4", "--n-head-kv", "2", "--tied"], "gpt-2", "f32", "all"),
    "qwen2-mha-attn-f32": (["--arch", "qwen2", "--n-head", "4", "--n-head-kv", "4"], "gpt-2", "f32", "attn"),
    "qwen3-f32": (["--arch", "qwen3", "--n-head", "4", "--n-head-kv", "2", "--head-dim", "32", "--tied"], "gpt-2",
                  "f32", "all"),
    "smollm3-f32": (["--arch", "smollm3", "--n-head", "4", "--n-head-kv", "2", "--n-layer", "4", "--tied"], "gpt-2",
                    "f32", "attn"),
    "llama-gqa-all-q8_0": (["--arch", "llama", "--n-head", "4", "--n-head-kv", "2"], "llama-spm", "q8_0", "all"),
    "qwen2-mha-attn-q8_0": (["--arch", "qwen2", "--n-head", "4", "--n-head-kv", "4"], "gpt-2", "q8_0", "attn"),
    "llama-mha-attn-q4_0": (["--arch", "llama", "--n-head", "4", "--n-head-kv", "4"], "llama-spm", "q4_0", "attn"),
    "qwen2-gqa-all-q4_0": (["--arch", "qwen2", "--n-head", "4", "--n-head-kv", "2", "--tied"], "gpt-2", "q4_0", "all"),
    "llama-gqa-all-q4_k": (["--arch", "llama", "--n-embd", "256", "--n-head", "4", "--n-head-kv", "2", "--n-ff",
                            "512"], "llama-spm", "q4_k", "all"),
    "qwen2-gqa-attn-q4_k": (["--arch", "qwen2", "--n-embd", "256", "--n-head", "4", "--n-head-kv", "2", "--n-ff",
                             "512", "--tied"], "gpt-2", "q4_k", "attn"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_gradients_match_pytorch(case, tmp_path):
    args, vocab, quant, targets = CASES[case]
    base, adapter, out = str(tmp_path / "base.gguf"), str(tmp_path / "lora.gguf"), str(tmp_path / "grad.bin")
    subprocess.run([MKMODEL, "--out", base, "--vocab", f"{VOCAB}/ggml-vocab-{vocab}.gguf", "--type", quant] + args,
                   check=True, capture_output=True)
    subprocess.run([MKLORA, "--base", base, "--out", adapter, "--targets", targets, "--rank", "4", "--alpha", "8",
                    "--seed", "3"], check=True, capture_output=True)
    tokens = TOKENS if vocab == "llama-spm" else [t % 5000 for t in TOKENS]
    subprocess.run([TRAIN_GRAD, base, out, "--lora", adapter, "--threads", "2", "--fd", "4"] + [str(t) for t in tokens],
                   check=True)
    ours = read_result(out)
    ref_loss, ref_pairs, ref_dx = reference(base, adapter, tokens)
    tol = TOLERANCE[quant]
    assert ours["counted"] == len(tokens) - 1
    assert abs(ours["loss"] - ref_loss) <= tol * abs(ref_loss), (ours["loss"], ref_loss)
    # the training forward is the inference forward, which rounds k and v to f16 in its cache and
    # (quantized bases) multiplies int8-quantized activations: about 1e-3 of the loss there
    inf_tol = 1e-4 if quant == "f32" else 5e-3
    assert abs(ours["loss"] - ours["loss_inf"]) <= inf_tol * abs(ref_loss), (ours["loss"], ours["loss_inf"])
    assert set(ours["pairs"]) == set(ref_pairs)
    worst = 0.0
    for key, (da, db) in ours["pairs"].items():
        rda, rdb = ref_pairs[key]
        assert np.linalg.norm(rda) > 0 and np.linalg.norm(rdb) > 0, key
        for name, o, r in (("a", da, rda), ("b", db, rdb)):
            e = rel(o, r)
            worst = max(worst, e)
            assert e <= tol, f"{case} layer {key[0]} {ROLES[key[1]]} d{name}: rel {e:.3g} max {max_rel(o, r):.3g}"
    e_dx = rel(ours["dx"], ref_dx)
    print(f"{case}: loss {ours['loss']:.6f} (torch {ref_loss:.6f}, inference {ours['loss_inf']:.6f}); worst "
          f"pair rel err {worst:.3g}; input grad rel err {e_dx:.3g} (max {max_rel(ours['dx'], ref_dx):.3g})")
    assert e_dx <= tol
    for pair, half, elem, analytic, numeric in ours["fd"]:
        err = abs(analytic - numeric) / max(abs(analytic), 1e-3)
        print(f"  finite difference pair {pair} {'ab'[half]}[{elem}]: analytic {analytic:.6g} numeric {numeric:.6g}")
        assert err <= 2e-2


PACKED = ["llama-gqa-attn-f32", "qwen3-f32", "qwen2-gqa-all-f32", "llama-gqa-all-q8_0"]
SEGMENTS = [5, 4, 4]


@pytest.mark.parametrize("case", PACKED)
def test_packed_gradients_match_pytorch_on_the_segments_apart(case, tmp_path):
    """One packed window of three segments (each its own positions and
    attention) against PyTorch running the segments as separate sequences
    and summing their losses and gradients."""
    args, vocab, quant, targets = CASES[case]
    base, adapter, out = str(tmp_path / "base.gguf"), str(tmp_path / "lora.gguf"), str(tmp_path / "grad.bin")
    subprocess.run([MKMODEL, "--out", base, "--vocab", f"{VOCAB}/ggml-vocab-{vocab}.gguf", "--type", quant] + args,
                   check=True, capture_output=True)
    subprocess.run([MKLORA, "--base", base, "--out", adapter, "--targets", targets, "--rank", "4", "--alpha", "8",
                    "--seed", "3"], check=True, capture_output=True)
    tokens = TOKENS if vocab == "llama-spm" else [t % 5000 for t in TOKENS]
    assert sum(SEGMENTS) == len(tokens)
    subprocess.run([TRAIN_GRAD, base, out, "--lora", adapter, "--threads", "2", "--fd", "2", "--segments",
                    ",".join(map(str, SEGMENTS))] + [str(t) for t in tokens], check=True)
    ours = read_result(out)
    ref_loss, ref_pairs, ref_dx = 0.0, {}, []
    start = 0
    for length in SEGMENTS:
        loss, pairs, dx = reference(base, adapter, tokens[start:start + length])
        ref_loss += loss
        for key, (da, db) in pairs.items():
            if key in ref_pairs:
                ref_pairs[key] = (ref_pairs[key][0] + da, ref_pairs[key][1] + db)
            else:
                ref_pairs[key] = (da, db)
        ref_dx.append(dx)
        start += length
    ref_dx = np.concatenate(ref_dx)
    tol = TOLERANCE[quant]
    assert ours["counted"] == len(tokens) - len(SEGMENTS)
    assert abs(ours["loss"] - ref_loss) <= tol * abs(ref_loss), (ours["loss"], ref_loss)
    inf_tol = 1e-4 if quant == "f32" else 5e-3
    assert abs(ours["loss"] - ours["loss_inf"]) <= inf_tol * abs(ref_loss), (ours["loss"], ours["loss_inf"])
    assert set(ours["pairs"]) == set(ref_pairs)
    worst = 0.0
    for key, (da, db) in ours["pairs"].items():
        rda, rdb = ref_pairs[key]
        for name, o, r in (("a", da, rda), ("b", db, rdb)):
            e = rel(o, r)
            worst = max(worst, e)
            assert e <= tol, f"{case} packed layer {key[0]} {ROLES[key[1]]} d{name}: rel {e:.3g}"
    e_dx = rel(ours["dx"], ref_dx)
    print(f"{case} packed {SEGMENTS}: loss {ours['loss']:.6f} (torch, segments apart, {ref_loss:.6f}); worst pair "
          f"rel err {worst:.3g}; input grad rel err {e_dx:.3g}")
    assert e_dx <= tol
    for pair, half, elem, analytic, numeric in ours["fd"]:
        assert abs(analytic - numeric) / max(abs(analytic), 1e-3) <= 2e-2


def test_refuses_phi3(tmp_path):
    base = str(tmp_path / "phi3.gguf")
    subprocess.run([MKMODEL, "--out", base, "--vocab", f"{VOCAB}/ggml-vocab-llama-spm.gguf", "--type", "f32",
                    "--arch", "phi3"], check=True, capture_output=True)
    r = subprocess.run([TRAIN_GRAD, base, str(tmp_path / "o.bin"), "1", "2", "3"], capture_output=True, text=True)
    assert r.returncode != 0 and "phi3" in r.stderr
