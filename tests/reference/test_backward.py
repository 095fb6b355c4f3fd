"""test_backward - the backward kernels (kernels/backward.h and the training
ops of the op table) against PyTorch autograd on seeded inputs, through
tests/tools/kernels_backward: the input gradient dX = dY W of every weight
format (PyTorch on the dequantized weights the tool reports), LoRA A/B and
input gradients, RMSNorm (dx, dweight), RoPE (normal and NeoX, frequency
factors and scaling), causal attention with grouped-query heads, SwiGLU, the
chunked fused cross-entropy (mean loss and d_hidden; F32 and quantized output
matrices; with a quantized matrix the logits come from the inference
product, which quantizes h to 8 bits, hence the looser tolerance) and AdamW (torch.optim.AdamW on the same gradients). Each runs on
the reference table and on the best table of this CPU. The printed error is
max|edged - torch| / max|torch| per output; the torch side runs in float64."""

import os
import struct
import subprocess
import tempfile

import numpy as np
import pytest
import torch

BUILD = os.environ.get("BUILD", "build")
TOOL = os.path.join(BUILD, "tests", "tools", "kernels_backward")
TABLES = ["ref", ""]  # "": the best table this CPU runs

TYPES = {"f32": 0, "f16": 1, "q4_0": 2, "q4_1": 3, "q5_0": 6, "q5_1": 7, "q8_0": 8,
         "q2_K": 10, "q3_K": 11, "q4_K": 12, "q5_K": 13, "q6_K": 14, "bf16": 30}


def run(op, arrays, table):
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = os.path.join(tmp, "in"), os.path.join(tmp, "out")
        with open(src, "wb") as f:
            for a in arrays:
                a = np.ascontiguousarray(a, dtype=np.float32).ravel()
                f.write(struct.pack("<i", a.size))
                f.write(a.tobytes())
        env = dict(os.environ, EDGED_KERNELS=table)
        subprocess.run([TOOL, op, src, dst], check=True, env=env, stderr=subprocess.DEVNULL)
        data = open(dst, "rb").read()
    out, pos = [], 0
    while pos < len(data):
        (n,) = struct.unpack_from("<i", data, pos)
        pos += 4
        out.append(np.frombuffer(data, dtype=np.float32, count=n, offset=pos).astype(np.float64))
        pos += 4 * n
    return out


def rel_err(got, want):
    want = want.detach().numpy().ravel() if isinstance(want, torch.Tensor) else np.ravel(want)
    return float(np.max(np.abs(got.ravel() - want)) / max(np.max(np.abs(want)), 1e-30))


def check(name, table, pairs, tol):
    errs = [rel_err(g, w) for g, w in pairs]
    print(f"# {name} [{table or 'best'}] max relative error {max(errs):.3g}")
    assert max(errs) <= tol, (name, errs)


def t64(a, grad=False):
    return torch.tensor(np.asarray(a, dtype=np.float32), dtype=torch.float64, requires_grad=grad)


@pytest.mark.parametrize("table", TABLES)
@pytest.mark.parametrize("wtype", ["f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "q5_0", "q5_1",
                                   "q2_K", "q3_K", "q4_K", "q5_K", "q6_K"])
def test_input_gradient_of_frozen_product(wtype, table):
    rng = np.random.default_rng(1)
    n_in, n_out, n_batch = 512, 96, 13
    w = rng.uniform(-1, 1, (n_out, n_in))
    dy = rng.uniform(-1, 1, (n_batch, n_out))
    w_deq, dx = run("dx", [[n_in, n_out, n_batch, TYPES[wtype]], w, dy], table)
    x = t64(rng.uniform(-1, 1, (n_batch, n_in)), True)
    y = x @ t64(w_deq.reshape(n_out, n_in)).T
    y.backward(t64(dy))
    check(f"dx = dy W {wtype}", table, [(dx, x.grad)], 1e-5)


@pytest.mark.parametrize("table", TABLES)
def test_lora_gradients(table):
    rng = np.random.default_rng(2)
    n_in, n_out, rank, n_batch, scale = 160, 72, 8, 11, 2.0
    x, a, b, dy = (rng.uniform(-1, 1, s) for s in ((n_batch, n_in), (rank, n_in), (n_out, rank), (n_batch, n_out)))
    da, db, dx = run("lora", [[n_in, n_out, rank, n_batch, scale], x, a, b, dy], table)
    xt, at, bt = t64(x, True), t64(a, True), t64(b, True)
    y = scale * (xt @ at.T) @ bt.T  # the adapter's share; W's share is test_input_gradient's
    y.backward(t64(dy))
    check("lora dA dB dx", table, [(da, at.grad), (db, bt.grad), (dx, xt.grad)], 1e-5)


@pytest.mark.parametrize("table", TABLES)
def test_rmsnorm_backward(table):
    rng = np.random.default_rng(3)
    n, rows, eps = 67, 5, 1e-5
    x, w, dy = rng.uniform(-2, 2, (rows, n)), rng.uniform(-2, 2, n), rng.uniform(-1, 1, (rows, n))
    dx, dw = run("rmsnorm", [[n, rows, eps], x, w, dy], table)
    xt, wt = t64(x, True), t64(w, True)
    y = xt / torch.sqrt((xt * xt).mean(-1, keepdim=True) + eps) * wt
    y.backward(t64(dy))
    check("rmsnorm dx dweight", table, [(dx, xt.grad), (dw, wt.grad)], 1e-5)


def rope_torch(x, n_rot, neox, base, scale, factors):
    n_tok, n_head, head_dim = x.shape
    half = n_rot // 2
    i = torch.arange(half, dtype=torch.float64)
    inv = base ** (-2.0 * i / n_rot)
    if factors is not None:
        inv = inv / torch.tensor(factors, dtype=torch.float64)
    theta = scale * torch.arange(n_tok, dtype=torch.float64)[:, None] * inv[None, :]
    cos, sin = torch.cos(theta)[:, None, :], torch.sin(theta)[:, None, :]
    if neox:
        a, b = x[..., :half], x[..., half:n_rot]
        rot = torch.cat([a * cos - b * sin, a * sin + b * cos], -1)
    else:
        a, b = x[..., 0:n_rot:2], x[..., 1:n_rot:2]
        rot = torch.stack([a * cos - b * sin, a * sin + b * cos], -1).reshape(n_tok, n_head, n_rot)
    return torch.cat([rot, x[..., n_rot:]], -1)


@pytest.mark.parametrize("table", TABLES)
@pytest.mark.parametrize("neox", [0, 1])
@pytest.mark.parametrize("variant", ["plain", "factors", "scaled"])
def test_rope_backward(neox, variant, table):
    rng = np.random.default_rng(4)
    n_tok, n_head, head_dim, n_rot = 37, 3, 24, 16
    base, scale = (1e6, 0.25) if variant == "scaled" else (1e4, 1.0)
    factors = rng.uniform(1, 8, n_rot // 2) if variant == "factors" else None
    dy = rng.uniform(-1, 1, (n_tok, n_head, head_dim))
    params = [n_tok, n_head, head_dim, n_rot, neox, base, scale, factors is not None]
    (dx,) = run("rope", [params, factors if factors is not None else [0.0], dy], table)
    x = t64(rng.uniform(-1, 1, (n_tok, n_head, head_dim)), True)
    rope_torch(x, n_rot, neox, base, scale,
               None if factors is None else np.asarray(factors, np.float32)).backward(t64(dy))
    check(f"rope {'neox' if neox else 'normal'} {variant}", table, [(dx, x.grad)], 1e-5)


@pytest.mark.parametrize("table", TABLES)
@pytest.mark.parametrize("heads", [(4, 4), (4, 2), (6, 1)])
def test_attention_backward(heads, table):
    rng = np.random.default_rng(5)
    n_head, n_kv = heads
    n_tok, d = 19, 16
    scale = 1 / np.sqrt(d)
    q, dout = rng.uniform(-1, 1, (n_tok, n_head, d)), rng.uniform(-1, 1, (n_tok, n_head, d))
    k, v = rng.uniform(-1, 1, (n_tok, n_kv, d)), rng.uniform(-1, 1, (n_tok, n_kv, d))
    dq, dk, dv = run("attention", [[n_tok, n_head, n_kv, d, scale], q, k, v, dout], table)
    qt, kt, vt = t64(q, True), t64(k, True), t64(v, True)
    g = n_head // n_kv
    kr, vr = kt.repeat_interleave(g, dim=1), vt.repeat_interleave(g, dim=1)
    s = torch.einsum("thd,jhd->htj", qt, kr) * float(np.float32(scale))
    mask = torch.triu(torch.ones(n_tok, n_tok, dtype=torch.bool), 1)
    p = torch.softmax(s.masked_fill(mask, float("-inf")), -1)
    out = torch.einsum("htj,jhd->thd", p, vr)
    out.backward(t64(dout))
    check(f"attention {n_head}q/{n_kv}kv dq dk dv", table, [(dq, qt.grad), (dk, kt.grad), (dv, vt.grad)], 1e-5)


@pytest.mark.parametrize("table", TABLES)
def test_swiglu_backward(table):
    rng = np.random.default_rng(6)
    n = 203
    gate, up, dy = rng.uniform(-8, 8, n), rng.uniform(-3, 3, n), rng.uniform(-1, 1, n)
    dg, du = run("swiglu", [[n], gate, up, dy], table)
    gt, ut = t64(gate, True), t64(up, True)
    (torch.nn.functional.silu(gt) * ut).backward(t64(dy))
    check("swiglu dgate dup", table, [(dg, gt.grad), (du, ut.grad)], 1e-5)


@pytest.mark.parametrize("table", TABLES)
@pytest.mark.parametrize("wtype,chunk,tol", [("f32", 1, 1e-5), ("f32", 7, 1e-5), ("q8_0", 5, 5e-3),
                                             ("q4_0", 5, 5e-3), ("q4_K", 16, 5e-3)])
def test_fused_cross_entropy(wtype, chunk, tol, table):
    rng = np.random.default_rng(7)
    n_embd, n_vocab, n_rows = 256, 1000, 23
    h, w = rng.uniform(-1, 1, (n_rows, n_embd)), rng.uniform(-0.3, 0.3, (n_vocab, n_embd))
    targets = rng.integers(0, n_vocab, n_rows)
    targets[[3, 10]] = -1
    w_deq, summary, dh = run("ce", [[n_embd, n_vocab, n_rows, TYPES[wtype], chunk], h, w, targets], table)
    ht = t64(h, True)
    logits = ht @ t64(w_deq.reshape(n_vocab, n_embd)).T
    loss = torch.nn.functional.cross_entropy(logits, torch.tensor(targets), ignore_index=-1)
    loss.backward()
    assert summary[1] == n_rows - 2
    check(f"cross-entropy {wtype} chunk {chunk} loss d_hidden", table,
          [(np.array([summary[0] / summary[1]]), loss.detach().numpy().reshape(1)), (dh, ht.grad)], tol)


@pytest.mark.parametrize("table", TABLES)
def test_adamw(table):
    rng = np.random.default_rng(8)
    n, steps, lr, b1, b2, eps, wd = 37, 5, 1e-2, 0.9, 0.999, 1e-8, 0.1
    p0, grads = rng.uniform(-1, 1, n), rng.uniform(-1, 1, (steps, n))
    p, m, v = run("adamw", [[n, steps, lr, b1, b2, eps, wd], p0, grads], table)
    pt = t64(p0, True)
    # the hyperparameters as the C op receives them (float32)
    lr, b1, b2, eps, wd = (float(np.float32(x)) for x in (lr, b1, b2, eps, wd))
    opt = torch.optim.AdamW([pt], lr=lr, betas=(b1, b2), eps=eps, weight_decay=wd)
    for s in range(steps):
        pt.grad = t64(grads[s])
        opt.step()
    st = opt.state[pt]
    check("adamw param m v", table, [(p, pt), (m, st["exp_avg"]), (v, st["exp_avg_sq"])], 1e-5)
