#!/usr/bin/python3
"""tests/bench/adapter_slots_bench.py - `make bench`: what mixing adapters in
one batch costs. Two slots generate at once on the TinyLlama-shaped q4_0
model (model_bench.sh's, cached under build/bench-models/) with: no adapter;
the same rank-8 q,k,v,o adapter in both; two different rank-8 adapters. The
base products run once per batch in every case; different adapters add one
low-rank update per adapter instead of one for both. Prints the two streams'
tokens/s together (client-side, first content chunk to last), each case run
twice in turn, keeping its best. EDGED_BENCH_QUICK=1: the tiny model."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

from api_bench import UnixConnection, request

BUILD = os.environ.get("BUILD", "build")
QUICK = os.environ.get("EDGED_BENCH_QUICK", "0") not in ("", "0")
THREADS = 2


def stream(sock, prompt, max_tokens, seed, adapter):
    """One streamed completion with `adapter`: (chunk times, usage)."""
    conn = UnixConnection(sock)
    body = {"prompt": prompt, "max_tokens": max_tokens, "seed": seed, "temperature": 1.0, "adapter": adapter,
            "stream": True, "stream_options": {"include_usage": True}}
    conn.request("POST", "/v1/completions", body=json.dumps(body), headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    if resp.status != 200:
        raise RuntimeError(f"completions: HTTP {resp.status}: {resp.read()[:300]!r}")
    times, usage = [], None
    for raw in resp:
        line = raw.strip()
        if not line.startswith(b"data: ") or line[6:] == b"[DONE]":
            continue
        event = json.loads(line[6:])
        usage = event.get("usage") or usage
        if any(choice.get("text") for choice in event.get("choices", [])):
            times.append(time.perf_counter())
    conn.close()
    return times, usage


def two_streams(sock, adapters, n_gen, seed):
    """Tokens/s of two concurrent streams with adapters[0] and adapters[1]."""
    results = [None, None]

    def run(k):
        results[k] = stream(sock, f"Stream {k} begins with the words", n_gen, seed + k, adapters[k])

    threads = [threading.Thread(target=run, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    first = min(r[0][0] for r in results)
    last = max(r[0][-1] for r in results)
    return (sum(r[1]["completion_tokens"] for r in results) - 1) / (last - first)


def import_adapter(sock, path, name):
    with open(path, "rb") as f:
        data = f.read()
    conn = UnixConnection(sock)
    conn.request("POST", f"/v1/adapters?name={name}", body=data, headers={"Content-Type": "application/octet-stream"})
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    if resp.status not in (200, 201):
        raise RuntimeError(f"import {name}: HTTP {resp.status}: {body[:300]!r}")


def main():
    name = "tiny" if QUICK else "tinyllama-1.1b"
    model = os.path.abspath(f"build/bench-models/{name}-q4_0.gguf")
    if not os.path.exists(model):
        print(f"adapter_slots_bench: {model} is missing; model_bench.sh generates it (run make bench)")
        return 1
    n_gen = 32 if QUICK else 128
    tmp = tempfile.mkdtemp(prefix="edged-adapter-bench-")
    loras = []
    for seed in (1, 2):
        path = os.path.join(tmp, f"r8-qkvo-{seed}.gguf")
        subprocess.run([f"{BUILD}/tests/tools/mklora", "--base", model, "--out", path, "--targets", "qkvo",
                        "--rank", "8", "--seed", str(seed)], check=True, capture_output=True)
        loras.append(path)
    sock = os.path.join(tmp, "edged.sock")
    conf = os.path.join(tmp, "edged.conf")
    with open(conf, "w") as f:
        f.write(f"[server]\nsocket = {sock}\n[access]\nadapt = *\n[log]\naccess_log = false\nlevel = warn\n"
                f"[state]\ndirectory = {tmp}/state\n"
                f"[model]\npath = {model}\nthreads = {THREADS}\ncontext = 1024\n"
                f"[engine]\nparallel = 2\nqueue_length = 4\n")
    os.makedirs(f"{tmp}/state", exist_ok=True)
    daemon = subprocess.Popen([f"{BUILD}/edged", "--config", conf])
    best = {}
    try:
        deadline = time.time() + 300
        while True:
            try:
                if request(sock, "GET", "/health")[0] == 200:
                    break
            except OSError:
                pass
            if time.time() > deadline:
                print("adapter_slots_bench: the daemon did not become ready")
                return 1
            time.sleep(0.2)
        import_adapter(sock, loras[0], "a")
        import_adapter(sock, loras[1], "b")
        cases = [("none", "none"), ("a", "a"), ("a", "b")]
        two_streams(sock, cases[0], 4, 1)  # warm up
        for round_ in range(2):
            for case in cases:
                rate = two_streams(sock, case, n_gen, 10 * round_)
                best[case] = max(best.get(case, 0.0), rate)
    finally:
        daemon.terminate()
        daemon.wait(timeout=60)
        shutil.rmtree(tmp, ignore_errors=True)
    base = best[("none", "none")]
    print(f"model {os.path.basename(model)}, {THREADS} threads, engine.parallel 2, two streams of {n_gen} tokens")
    print(f"{'slots':<34}{'tokens/s':>10}  against no adapter")
    for case, label in ((("none", "none"), "no adapter"), (("a", "a"), "same rank-8 q,k,v,o adapter"),
                        (("a", "b"), "two different rank-8 adapters")):
        print(f"{label:<34}{best[case]:>10.2f}  {100 * (best[case] / base - 1):+.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
