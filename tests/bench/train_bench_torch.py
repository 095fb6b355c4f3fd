"""train_bench_torch - the PyTorch side of train_bench: the same LoRA
training on the CPU (TinyLlama shapes with a random f32 base that needs no
gradient, rank 8 alpha 16 on q, k, v, o, AdamW, summed next-token
cross-entropy over a window), torch.set_num_threads(THREADS); prints one
row of train_bench's table. Debian's python3-torch multiplies through the
netlib reference BLAS (BLAS_INFO=generic, about 2 GFLOP/s a core), so a
22-layer step takes many minutes: by default LAYERS (2) layers of the same
shapes run and the times are scaled to 22 layers by the products' FLOPs
(the step is products throughout); LAYERS=22 runs it whole.
usage: train_bench_torch.py THREADS SEQ STEPS [LAYERS]"""

import math
import resource
import sys
import time

import torch

THREADS, SEQ, STEPS = (int(a) for a in sys.argv[1:4])
N_LAYER = int(sys.argv[4]) if len(sys.argv) > 4 else 2
N_EMBD, FULL_LAYERS, N_HEAD, N_KV, N_FF, N_VOCAB, RANK, ALPHA = 2048, 22, 32, 4, 5632, 32000, 8, 16.0
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
t0, c0 = time.perf_counter(), time.process_time()
for step in range(1, STEPS + 1):  # no warm-up step: nothing is compiled or tuned on the first
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
    first = first or float(loss)
    fwd, bwd, opt_s, last = fwd + b - a, bwd + c - b, opt_s + d - c, float(loss)
total, cpu = time.perf_counter() - t0, time.process_time() - c0
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
# FLOPs per token: a layer's products (q, k, v, o, gate, up, down, attention) and the head
layer_flops = 2 * (2 * N_EMBD * N_EMBD + 2 * N_EMBD * N_KV * HEAD + 3 * N_EMBD * N_FF) + 2 * SEQ * N_EMBD
head_flops = 2 * N_EMBD * N_VOCAB
scale = (FULL_LAYERS * layer_flops + head_flops) / (N_LAYER * layer_flops + head_flops)
full_mib = 4 * (FULL_LAYERS * (2 * N_EMBD * N_EMBD + 2 * N_EMBD * N_KV * HEAD + 3 * N_EMBD * N_FF)
                + 2 * N_VOCAB * N_EMBD) / 1048576.0
label = f"pytorch {'.'.join(torch.__version__.split('.')[:2])} f32" + ("" if scale == 1 else f" (x{scale:.1f})")
print(f"| {label:23} | {SEQ * STEPS / total / scale:8.1f} | {scale * total / STEPS:6.2f} | "
      f"{scale * cpu / STEPS:10.2f} | {scale * fwd / STEPS:9.2f} | {scale * bwd / STEPS:10.2f} | "
      f"{scale * opt_s / STEPS:11.3f} | {rss:12.0f} | {full_mib:9.0f} | {'-':>15} | {first:.3f} -> {last:.3f} |")
if scale != 1:
    print(f"\n(pytorch: {N_LAYER} of {FULL_LAYERS} layers run, times scaled by the FLOP ratio {scale:.2f}; its peak RSS "
          f"is of the {N_LAYER}-layer run; model MiB is the 22-layer f32 base; BLAS: "
          f"{'netlib reference' if 'BLAS_INFO=generic' in torch.__config__.show() else 'see torch.__config__'})",
          flush=True)
