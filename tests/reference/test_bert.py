"""test_bert - edged's BERT embedder (daemon/model/bert.c, run through
build/tests/tools/embed) against an independent PyTorch implementation of
the BERT encoder (word + token type + position embeddings, LayerNorm,
post-norm blocks of bidirectional attention and an erf-GELU feed-forward,
mean or CLS pooling, L2 normalisation) on F32 random-weight models written by
build/tests/tools/mkmodel --arch bert with the bge vocabulary. The reference
keeps f64 activations but rounds keys and values to f16 as edged's attention
op reads them; rms(edged - torch) / std(torch) must stay <= 1e-4, as in
test_forward. Also: texts past the context are cut to [CLS] ... [SEP], and
the generated Unicode tables match their generator."""

import math
import os
import subprocess
import sys
import unicodedata

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gguf_np import GGUF

BUILD = os.environ.get("BUILD", "build")
MKMODEL = os.path.join(BUILD, "tests", "tools", "mkmodel")
EMBED = os.path.join(BUILD, "tests", "tools", "embed")
VOCAB = "../shared/testdata/vocab/ggml-vocab-bert-bge.gguf"

TEXTS = [
    "Hello world, this is a test.",
    "Führer's café: 3 apples & 42 pears cost $7.50!? 我想在apple工作",
    "x",
]


def reference_embedding(g, tokens):
    """The L2-normalised pooled embedding (n_embd,) of `tokens` under model `g`."""
    hp = lambda key: g.kv[f"bert.{key}"]
    n_embd, n_layer, n_head = hp("embedding_length"), hp("block_count"), hp("attention.head_count")
    eps, pooling = hp("attention.layer_norm_epsilon"), hp("pooling_type")
    head_dim = n_embd // n_head

    def w(name):
        return torch.from_numpy(g.tensor(name)).double()

    def norm(x, name):
        return F.layer_norm(x, (n_embd,), w(name + ".weight"), w(name + ".bias"), eps)

    def f16(x):
        return x.half().double()

    n = len(tokens)
    x = w("token_embd.weight")[tokens] + w("token_types.weight")[0] + w("position_embd.weight")[:n]
    x = norm(x, "token_embd_norm")
    for l in range(n_layer):
        p = f"blk.{l}."
        q, k, v = (x @ w(p + f"attn_{t}.weight").T + w(p + f"attn_{t}.bias") for t in "qkv")
        q = q.view(n, n_head, head_dim)
        k, v = f16(k.view(n, n_head, head_dim)), f16(v.view(n, n_head, head_dim))
        scores = torch.einsum("qhd,khd->hqk", q, k) / math.sqrt(head_dim)
        att = torch.einsum("hqk,khd->qhd", F.softmax(scores, -1), v).reshape(n, n_embd)
        x = norm(x + att @ w(p + "attn_output.weight").T + w(p + "attn_output.bias"), p + "attn_output_norm")
        h = F.gelu(x @ w(p + "ffn_up.weight").T + w(p + "ffn_up.bias"), approximate="none")
        x = norm(x + h @ w(p + "ffn_down.weight").T + w(p + "ffn_down.bias"), p + "layer_output_norm")
    pooled = x.mean(0) if pooling == 1 else x[0]
    return F.normalize(pooled, dim=0).numpy()


def edged_embeddings(path, texts):
    """[(n_tokens, token ids run, embedding)] per text, from the embed tool."""
    out = subprocess.run([EMBED, path] + texts, check=True, capture_output=True, text=True).stdout
    lines = out.splitlines()
    assert len(lines) == 2 * len(texts)
    results = []
    for tokens_line, vector_line in zip(lines[0::2], lines[1::2]):
        head, count, *ids = tokens_line.split()
        assert head == "tokens"
        label, *values = vector_line.split()
        assert label == "embedding"
        results.append((int(count), [int(i) for i in ids], np.array(values, dtype=np.float64)))
    return results


def make_model(tmp_path, name, args):
    path = str(tmp_path / f"{name}.gguf")
    subprocess.run([MKMODEL, "--arch", "bert", "--out", path, "--vocab", VOCAB, "--type", "f32",
                    "--n-embd", "64", "--n-head", "4", "--n-ff", "128", "--n-layer", "2"] + args,
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return path


@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_bert_matches_pytorch(pooling, tmp_path):
    path = make_model(tmp_path, pooling, ["--pooling", pooling, "--seed", "3"])
    g = GGUF(path)
    for text, (count, ids, ours) in zip(TEXTS, edged_embeddings(path, TEXTS)):
        assert count == len(ids) and ids[0] == 101 and ids[-1] == 102
        ref = reference_embedding(g, ids)
        nrms = np.sqrt(np.mean((ours - ref) ** 2)) / np.std(ref)
        print(f"{pooling} {text!r}: {count} tokens, rms(edged - torch)/std(torch) = {nrms:.3g}, "
              f"maxdiff {np.abs(ours - ref).max():.3g}, |edged| = {np.linalg.norm(ours):.6f}")
        assert nrms <= 1e-4
        assert abs(np.linalg.norm(ours) - 1.0) < 1e-5


def test_bert_truncates_to_its_context(tmp_path):
    path = make_model(tmp_path, "short", ["--ctx", "16"])
    text = " ".join(["word"] * 40)
    (count, ids, ours), = edged_embeddings(path, [text])
    assert count == 42  # [CLS] 40 words [SEP], before the cut
    assert len(ids) == 16 and ids[0] == 101 and ids[-1] == 102 and ids[1:-1] == [2773] * 14
    ref = reference_embedding(GGUF(path), ids)
    assert np.sqrt(np.mean((ours - ref) ** 2)) / np.std(ref) <= 1e-4


def test_unicode_tables_match_their_generator():
    """daemon/model/unicode_data.c is what tests/tools/gen_unicode.py writes,
    so the tables cannot drift from the script (with the Unicode version the
    file records; another Python's Unicode would regenerate different data)."""
    with open("daemon/model/unicode_data.c", encoding="ascii") as f:
        committed = f.read()
    if f"Unicode {unicodedata.unidata_version};" not in committed:
        pytest.skip(f"this Python has Unicode {unicodedata.unidata_version}, the tables another version")
    generated = subprocess.run([sys.executable, "tests/tools/gen_unicode.py"], check=True,
                               capture_output=True, text=True).stdout
    assert generated == committed
