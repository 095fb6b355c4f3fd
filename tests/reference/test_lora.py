"""test_lora - LoRA adapters in edged's forward pass (`edged run
--dump-logits --lora`) against an independent PyTorch reference that merges
W + s * B A into the dequantized base weights (s = alpha / rank * scale, or
scale without alpha, as llama.cpp scales) and runs test_forward's forward
pass. Bases: llama (untied head) and qwen2 (tied head: token_embd's adapter
changes the lookup only, the head keeps the base table), F32, Q8_0 and Q4_0,
written by mkmodel; adapters on attention only, FFN only and all targets
(with output and token_embd), random, written by mklora the way llama.cpp's
converter writes them. The normalised RMS difference of all positions'
logits must stay <= 1e-4 on F32 bases and within the quantized path's
tolerance (0.05, tests/model/forward.c) on Q8_0 and Q4_0."""

import os
import subprocess

import numpy as np
import pytest
import torch

from gguf_np import GGUF
from test_forward import reference_logits

BUILD = os.environ.get("BUILD", "build")
EDGED = os.path.join(BUILD, "edged")
MKMODEL = os.path.join(BUILD, "tests", "tools", "mkmodel")
MKLORA = os.path.join(BUILD, "tests", "tools", "mklora")
VOCAB = "../shared/testdata/vocab/ggml-vocab-llama-spm.gguf"
# the llama-spm vocabulary's tokens of PROMPT, with BOS (../shared/testdata/README.md)
PROMPT = "Hello world, this is a test."
TOKENS = [1, 15043, 3186, 29892, 445, 338, 263, 1243, 29889]
TOLERANCE = {"f32": 1e-4, "q8_0": 0.05, "q4_0": 0.05}

F32, F16, Q4_0, Q8_0, Q4_K = 0, 1, 2, 8, 12


def dequantize(g, name):
    """Tensor `name` of g as float64 numpy, (ne[1], ne[0]); F32, F16, Q8_0,
    Q4_0 and Q4_K decoded here from the block layouts, independently of edged."""
    ttype, ne, offset = g.tensors[name]
    if ttype in (F32, F16):
        return g.tensor(name).astype(np.float64)
    n = int(np.prod(ne))
    start = g.data_offset + offset
    if ttype == Q8_0:  # 32 values: f16 d, 32 int8
        blocks = np.frombuffer(g.data, dtype=np.uint8, count=n // 32 * 34, offset=start).reshape(-1, 34)
        d = blocks[:, :2].copy().view(np.float16).astype(np.float64)
        q = blocks[:, 2:].copy().view(np.int8).astype(np.float64)
        values = d * q
    elif ttype == Q4_0:  # 32 values: f16 d, 16 bytes; low nibbles are 0..15, high 16..31, minus 8
        blocks = np.frombuffer(g.data, dtype=np.uint8, count=n // 32 * 18, offset=start).reshape(-1, 18)
        d = blocks[:, :2].copy().view(np.float16).astype(np.float64)
        qs = blocks[:, 2:]
        q = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.float64) - 8
        values = d * q
    elif ttype == Q4_K:
        values = _q4_k(np.frombuffer(g.data, dtype=np.uint8, count=n // 256 * 144, offset=start).reshape(-1, 144))
    else:
        raise ValueError(f"tensor {name}: type {ttype} not decoded here")
    return values.reshape(list(reversed(ne)))


def _q4_k(blocks):
    """Q4_K super-blocks of 256 values: f16 d, f16 dmin, 12 bytes of eight
    6-bit (scale, min) pairs, 128 bytes of nibbles; sub-block j of 32 values
    is d * scale_j * q - dmin * min_j, the low nibbles of bytes 32 (j // 2)
    .. for even j, the high ones for odd j."""
    d = blocks[:, 0:2].copy().view(np.float16).astype(np.float64)
    dmin = blocks[:, 2:4].copy().view(np.float16).astype(np.float64)
    sc = blocks[:, 4:16].astype(np.int64)
    qs = blocks[:, 16:144]
    scales, mins = np.zeros((len(blocks), 8)), np.zeros((len(blocks), 8))
    for j in range(8):
        if j < 4:
            scales[:, j], mins[:, j] = sc[:, j] & 63, sc[:, j + 4] & 63
        else:
            scales[:, j] = (sc[:, j + 4] & 0xF) | ((sc[:, j - 4] >> 6) << 4)
            mins[:, j] = (sc[:, j + 4] >> 4) | ((sc[:, j] >> 6) << 4)
    out = np.empty((len(blocks), 256))
    for j in range(8):
        q = qs[:, 32 * (j // 2): 32 * (j // 2) + 32]
        q = (q & 0xF) if j % 2 == 0 else (q >> 4)
        out[:, 32 * j: 32 * j + 32] = d * scales[:, j:j + 1] * q - dmin * mins[:, j:j + 1]
    return out.reshape(-1)


def merged_weights(adapters):
    """(weight, embed) hooks for reference_logits: every base matrix plus
    the sum over adapters (path, scale) of s * B A; embed is token_embd plus
    its adapters' A B^T rows (A and B flipped in the file)."""
    loaded = [(GGUF(path), scale) for path, scale in adapters]

    def factor(lg, rank, scale):
        alpha = lg.kv.get("adapter.lora.alpha")
        return scale * alpha / rank if alpha else scale

    def weight(g, name):
        w = dequantize(g, name)
        for lg, scale in loaded:
            if name + ".lora_a" in lg.tensors and name != "token_embd.weight":
                a, b = dequantize(lg, name + ".lora_a"), dequantize(lg, name + ".lora_b")  # (r, n_in), (n_out, r)
                w = w + factor(lg, b.shape[1], scale) * (b @ a)
        return torch.from_numpy(w)

    def embed(g):
        e = dequantize(g, "token_embd.weight")
        for lg, scale in loaded:
            if "token_embd.weight.lora_a" in lg.tensors:
                a = dequantize(lg, "token_embd.weight.lora_a")  # (n_vocab, r)
                b = dequantize(lg, "token_embd.weight.lora_b")  # (n_embd, r)
                e = e + factor(lg, b.shape[1], scale) * (a @ b.T)
        return torch.from_numpy(e)

    return weight, embed


def edged_logits(model, adapters, n_vocab, out):
    args = [EDGED, "run", "-m", model, "-p", PROMPT, "-t", "1", "--dump-logits", out]
    scales = {scale for _, scale in adapters}
    assert len(scales) <= 1, "edged run takes one --lora-scale for all adapters"
    for path, _ in adapters:
        args += ["--lora", path]
    if scales:
        args += ["--lora-scale", str(scales.pop())]
    subprocess.run(args, check=True, capture_output=True)
    logits = np.fromfile(out, dtype=np.float32)
    assert logits.size == len(TOKENS) * n_vocab, "the prompt's tokens are not TOKENS"
    return logits.reshape(len(TOKENS), n_vocab)


def nrms(ours, ref):
    return float(np.sqrt(np.mean((ours - ref) ** 2)) / np.std(ref))


@pytest.fixture(scope="module")
def bases(tmp_path_factory):
    directory = tmp_path_factory.mktemp("lora")
    made = {}

    def make(arch, quant):
        if (arch, quant) not in made:
            path = str(directory / f"{arch}-{quant}.gguf")
            tied = ["--tied"] if arch == "qwen2" else []
            subprocess.run([MKMODEL, "--out", path, "--vocab", VOCAB, "--arch", arch, "--type", quant,
                            "--n-layer", "2", "--n-head", "4", "--n-head-kv", "2"] + tied,
                           check=True, capture_output=True)
            made[(arch, quant)] = path
        return made[(arch, quant)]

    return make, directory


def mklora(directory, base, name, *args):
    path = str(directory / f"{os.path.basename(base)}-{name}.gguf")
    subprocess.run([MKLORA, "--base", base, "--out", path, *args], check=True, capture_output=True)
    return path


@pytest.mark.parametrize("arch", ["llama", "qwen2"])
@pytest.mark.parametrize("quant", ["f32", "q8_0", "q4_0"])
@pytest.mark.parametrize("targets", ["attn", "ffn", "all"])
def test_adapter_matches_merged_pytorch(arch, quant, targets, bases):
    make, directory = bases
    base = make(arch, quant)
    adapter = mklora(directory, base, targets, "--targets", targets, "--rank", "8", "--alpha", "16",
                     "--seed", str(len(targets)))
    adapters = [(adapter, 1.0)]
    weight, embed = merged_weights(adapters)
    g = GGUF(base)
    ref = reference_logits(base, TOKENS, weight=weight, embed=embed(g))
    ours = edged_logits(base, adapters, ref.shape[1], adapter + ".logits.f32")
    plain = reference_logits(base, TOKENS, weight=lambda g, name: torch.from_numpy(dequantize(g, name)))
    err, effect = nrms(ours, ref), nrms(plain, ref)
    agree = int((ours.argmax(1) == ref.argmax(1)).sum())
    print(f"{arch} {quant} {targets}: rms(edged - torch)/std = {err:.3g}, the adapter moves the logits by "
          f"{effect:.3g}, argmax agrees {agree}/{len(TOKENS)}")
    assert err <= TOLERANCE[quant]
    assert effect > 10 * TOLERANCE[quant]  # the adapter matters
    if quant == "f32":
        assert agree == len(TOKENS)


def test_two_adapters_add_up_with_their_types_and_scale(bases):
    """An f16 attention adapter without alpha and a q8_0 FFN adapter with
    alpha, both at --lora-scale 0.5: their updates add up."""
    make, directory = bases
    base = make("llama", "f32")
    first = mklora(directory, base, "f16-noalpha", "--targets", "attn", "--rank", "4", "--alpha", "none",
                   "--type", "f16", "--seed", "11")
    second = mklora(directory, base, "q8_0-r32", "--targets", "all", "--rank", "32", "--alpha", "8",
                    "--type", "q8_0", "--seed", "12")
    adapters = [(first, 0.5), (second, 0.5)]
    weight, embed = merged_weights(adapters)
    ref = reference_logits(base, TOKENS, weight=weight, embed=embed(GGUF(base)))
    ours = edged_logits(base, adapters, ref.shape[1], first + ".both.f32")
    err = nrms(ours, ref)
    print(f"f16 + q8_0 adapters at scale 0.5: rms(edged - torch)/std = {err:.3g}")
    assert err <= TOLERANCE["f32"]


def test_scale_zero_gives_the_base_and_a_bad_adapter_is_refused(bases, tmp_path):
    make, directory = bases
    base = make("llama", "q8_0")
    adapter = mklora(directory, base, "zero", "--targets", "all")
    plain = str(tmp_path / "plain.f32")
    subprocess.run([EDGED, "run", "-m", base, "-p", PROMPT, "--dump-logits", plain], check=True, capture_output=True)
    zero = edged_logits(base, [(adapter, 0.0)], 32000, str(tmp_path / "zero.f32"))
    assert zero.tobytes() == open(plain, "rb").read()
    other = make("qwen2", "q8_0")
    out = subprocess.run([EDGED, "run", "-m", other, "-p", PROMPT, "--dump-logits", plain, "--lora", adapter],
                         capture_output=True, text=True)
    assert out.returncode == 1
    assert adapter in out.stderr and 'general.architecture = "llama", expected "qwen2"' in out.stderr
