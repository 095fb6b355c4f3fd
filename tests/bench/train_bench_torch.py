"""train_bench_torch - the PyTorch side of train_bench: the same LoRA
training on the CPU (TinyLlama shapes with a random f32 base that needs no
gradient, rank 8 alpha 16 on q, k, v, o, AdamW, summed next-token
cross-entropy over a window), torch.set_num_threads(THREADS); prints one
row of train_bench's table. usage: train_bench_torch.py THREADS SEQ STEPS"""

import math
import resource
import sys
import time

import torch

THREADS, SEQ, STEPS = (int(a) for a in sys.argv[1:4])
N_EMBD, N_LAYER, N_HEAD, N_KV, N_FF, N_VOCAB, RANK, ALPHA = 2048, 22, 32, 4, 5632, 32000, 8, 16.0
HEAD = N_EMBD // N_HEAD
torch.set_num_threads(THREADS)
torch.manual_seed(0)


def mat(n_out, n_in):
    return torch.randn(n_out, n_in) / math.sqrt(n_in)


layers = []
for _ in range(N_LAYER):
    layers.append(dict(wq=mat(N_EMBD, N_EMBD), wk=mat(N_KV * HEAD, N_EMBD), wv=mat(N_KV * HEAD, N_EMBD),
                       wo=mat(N_EMBD, N_EMBD), wg=mat(N_FF, N_EMBD), wu=mat(N_FF, N_EMBD), wd=mat(N_EMBD, N_FF),
                       n1=torch.ones(N_EMBD), n2=torch.ones(N_EMBD)))
embd, out_w, out_norm = torch.randn(N_VOCAB, N_EMBD) * 0.02, mat(N_VOCAB, N_EMBD), torch.ones(N_EMBD)
model_bytes = 4 * (sum(t.numel() for l in layers for t in l.values()) + embd.numel() + out_w.numel())

lora = []
for l in layers:
    pairs = {}
    for name in ("wq", "wk", "wv", "wo"):
        n_out, n_in = l[name].shape
        pairs[name] = (torch.nn.Parameter(torch.randn(RANK, n_in) / math.sqrt(n_in)),
                       torch.nn.Parameter(torch.zeros(n_out, RANK)))
    lora.append(pairs)
params = [p for pairs in lora for ab in pairs.values() for p in ab]
opt = torch.optim.AdamW(params, lr=5e-4, weight_decay=0.0)

pos = torch.arange(SEQ, dtype=torch.float32)
inv = 10000.0 ** (-torch.arange(0, HEAD, 2, dtype=torch.float32) / HEAD)
ang = pos[:, None] * inv[None, :]
cos, sin = torch.cos(ang)[:, None, :], torch.sin(ang)[:, None, :]
mask = torch.full((SEQ, SEQ), float("-inf")).triu(1)


def rope(x):
    a, b = x[..., 0::2], x[..., 1::2]
    return torch.stack([a * cos - b * sin, a * sin + b * cos], -1).reshape(x.shape)


def rms(x, w):
    return x * torch.rsqrt((x * x).mean(-1, keepdim=True) + 1e-5) * w


def lin(x, l, pairs, name):
    y = x @ l[name].T
    if name in pairs:
        a, b = pairs[name]
        y = y + (ALPHA / RANK) * ((x @ a.T) @ b.T)
    return y


def loss_of(tokens):
    x = embd[tokens]
    n = len(tokens)
    for l, pairs in zip(layers, lora):
        h = rms(x, l["n1"])
        q = rope(lin(h, l, pairs, "wq").view(n, N_HEAD, HEAD)).transpose(0, 1)
        k = rope(lin(h, l, pairs, "wk").view(n, N_KV, HEAD)).transpose(0, 1)
        v = lin(h, l, pairs, "wv").view(n, N_KV, HEAD).transpose(0, 1)
        k, v = k.repeat_interleave(N_HEAD // N_KV, 0), v.repeat_interleave(N_HEAD // N_KV, 0)
        scores = (q @ k.transpose(1, 2)) / math.sqrt(HEAD) + mask
        att = torch.softmax(scores, -1) @ v
        x = x + lin(att.transpose(0, 1).reshape(n, N_EMBD), l, pairs, "wo")
        h = rms(x, l["n2"])
        x = x + lin(torch.nn.functional.silu(h @ l["wg"].T) * (h @ l["wu"].T), l, pairs, "wd")
    logits = rms(x, out_norm) @ out_w.T
    return torch.nn.functional.cross_entropy(logits[:-1], tokens[1:], reduction="sum")


fwd = bwd = opt_s = 0.0
first = last = 0.0
g = torch.Generator().manual_seed(1)
for step in range(STEPS + 1):
    tokens = torch.randint(0, N_VOCAB, (SEQ,), generator=g)
    if step == 1:
        t0, c0 = time.perf_counter(), time.process_time()
    a = time.perf_counter()
    loss = loss_of(tokens) / (SEQ - 1)
    b = time.perf_counter()
    loss.backward()
    c = time.perf_counter()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    opt.step()
    opt.zero_grad()
    d = time.perf_counter()
    if step == 0:
        first = float(loss)
    else:
        fwd, bwd, opt_s, last = fwd + b - a, bwd + c - b, opt_s + d - c, float(loss)
total, cpu = time.perf_counter() - t0, time.process_time() - c0
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
mib = model_bytes / 1048576.0
print(f"| {'pytorch ' + torch.__version__.split('+')[0] + ' f32':23} | {SEQ * STEPS / total:8.1f} | {total / STEPS:6.2f} | "
      f"{cpu / STEPS:10.2f} | "
      f"{fwd / STEPS:9.2f} | {bwd / STEPS:10.2f} | {opt_s / STEPS:11.3f} | {rss:12.0f} | {mib:9.0f} | "
      f"{rss - mib:15.0f} | {first:.3f} -> {last:.3f} |", flush=True)
