#!/usr/bin/python3
"""tests/bench/api_bench.py - `make bench`: generation through the socket API
against `edged bench` on the same model and threads, on the TinyLlama-shaped
random model (q4_0, cached under build/bench-models/ by model_bench.sh).

Prints one table:
  - generation tokens/s of 1 and of 2 concurrent streams (SSE, measured at the
    client from the first content chunk to the last, and the engine's own
    `timings`), next to `edged bench`'s tg figure: the API's cost;
  - time to first token p50/p99 for a 128-token prompt (distinct prompts, so
    no prefix is reused);
  - GET /health p50/p99 while two streams generate.
EDGED_BENCH_QUICK=1: the tiny model and fewer samples."""

import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

BUILD = os.environ.get("BUILD", "build")
QUICK = os.environ.get("EDGED_BENCH_QUICK", "0") not in ("", "0")
THREADS = 2


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=600):
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


def request(sock, method, path, body=None):
    conn = UnixConnection(sock)
    conn.request(method, path, body=json.dumps(body) if body is not None else None,
                 headers={"Content-Type": "application/json"} if body is not None else {})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, data


def stream(sock, prompt, max_tokens, seed):
    """One streamed completion: (times of content chunks, final timings)."""
    conn = UnixConnection(sock)
    body = {"prompt": prompt, "max_tokens": max_tokens, "seed": seed, "temperature": 1.0,
            "stream": True, "stream_options": {"include_usage": True}}
    start = time.perf_counter()
    conn.request("POST", "/v1/completions", body=json.dumps(body),
                 headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    if resp.status != 200:
        raise RuntimeError(f"completions: HTTP {resp.status}: {resp.read()[:300]!r}")
    times, usage = [], None
    for raw in resp:
        line = raw.strip()
        if not line.startswith(b"data: "):
            continue
        data = line[6:]
        if data == b"[DONE]":
            break
        event = json.loads(data)
        if event.get("usage"):
            usage = event["usage"]
        for choice in event.get("choices", []):
            if choice.get("text"):
                times.append(time.perf_counter())
    conn.close()
    return start, times, usage


def percentile(values, p):
    values = sorted(values)
    if not values:
        return float("nan")
    k = (len(values) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def main():
    name = "tiny" if QUICK else "tinyllama-1.1b"
    model = os.path.abspath(f"build/bench-models/{name}-q4_0.gguf")
    if not os.path.exists(model):
        print(f"api_bench: {model} is missing; model_bench.sh generates it (run make bench)")
        return 1
    n_gen = 32 if QUICK else 128
    n_ttft = 5 if QUICK else 20

    # edged bench on the same model and threads: the reference figure
    out = subprocess.run([f"{BUILD}/edged", "bench", "-m", model, "-t", str(THREADS), "-p", "128",
                          "-n", str(n_gen), "-r", "1" if QUICK else "3", "--json"],
                         capture_output=True, text=True, check=True).stdout
    tg_bench = next(json.loads(l)["tokens_per_s"] for l in out.splitlines()
                    if l.startswith("{") and json.loads(l)["test"].startswith("tg"))

    tmp = tempfile.mkdtemp(prefix="edged-api-bench-")
    sock = os.path.join(tmp, "edged.sock")
    conf = os.path.join(tmp, "edged.conf")
    with open(conf, "w") as f:
        f.write(f"[server]\nsocket = {sock}\n[log]\naccess_log = false\nlevel = warn\n"
                f"[state]\ndirectory = {tmp}/state\n"
                f"[model]\npath = {model}\nthreads = {THREADS}\ncontext = 2048\n"
                f"[engine]\nparallel = 2\nqueue_length = 4\n")
    os.makedirs(f"{tmp}/state", exist_ok=True)
    daemon = subprocess.Popen([f"{BUILD}/edged", "--config", conf])
    try:
        deadline = time.time() + 300
        while time.time() < deadline:
            try:
                status, _ = request(sock, "GET", "/health")
                if status == 200:
                    break
            except OSError:
                pass
            time.sleep(0.2)
        else:
            print("api_bench: the daemon did not become ready")
            return 1

        stream(sock, "Warm up", 4, 1)
        words = "the quick brown fox jumps over a lazy dog while".split()

        def prompt_of(i, n_words):
            return " ".join(f"{words[(i + j) % len(words)]}{(i * 7 + j) % 13}" for j in range(n_words))

        # one stream
        # rates count the generated tokens (usage) after the first, over the
        # time from the first content chunk to the last
        s, times, usage = stream(sock, prompt_of(0, 8), n_gen, 1)
        one_client = (usage["completion_tokens"] - 1) / (times[-1] - times[0])

        # two concurrent streams: the tokens of both over the common span
        results = [None, None]

        def run(k):
            results[k] = stream(sock, prompt_of(100 + k, 8), n_gen, 2 + k)

        threads = [threading.Thread(target=run, args=(k,)) for k in range(2)]
        health_lat = []
        stop = threading.Event()

        def poll_health():
            while not stop.is_set():
                t = time.perf_counter()
                status, _ = request(sock, "GET", "/health")
                health_lat.append((time.perf_counter() - t) * 1e3)
                time.sleep(0.005)

        poller = threading.Thread(target=poll_health)
        for t in threads:
            t.start()
        poller.start()
        for t in threads:
            t.join()
        stop.set()
        poller.join()
        first = min(r[1][0] for r in results)
        last = max(r[1][-1] for r in results)
        n_tok = sum(r[2]["completion_tokens"] for r in results) - 1
        two_client = n_tok / (last - first)

        # time to first token, 128-token prompts (distinct: no prefix reuse)
        ttft = []
        for i in range(n_ttft):
            text = prompt_of(1000 + 17 * i, 60)
            status, body = request(sock, "POST", "/v1/tokenize", {"content": text})
            n = len(json.loads(body)["tokens"])
            text = prompt_of(1000 + 17 * i, max(8, 60 * 127 // max(n, 1)))
            start, times, _ = stream(sock, text, 1, i)
            if times:
                ttft.append((times[0] - start) * 1e3)
        status, body = request(sock, "POST", "/v1/tokenize", {"content": prompt_of(1000, max(8, 60 * 127 // max(n, 1)))})
        n_prompt = len(json.loads(body)["tokens"])
    finally:
        daemon.terminate()
        daemon.wait(timeout=60)
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"model {os.path.basename(model)}, {THREADS} threads, engine.parallel 2")
    print(f"{'test':<44}{'value':>12}  note")
    print(f"{'edged bench tg' + str(n_gen) + ' tokens/s':<44}{tg_bench:>12.2f}  the engine alone")
    print(f"{'API, 1 stream, tokens/s':<44}{one_client:>12.2f}  {100 * one_client / tg_bench:.1f}% of edged bench")
    print(f"{'API, 2 streams, tokens/s (both together)':<44}{two_client:>12.2f}  {100 * two_client / tg_bench:.1f}% of edged bench")
    print(f"{'time to first token p50 ms (' + str(n_prompt) + '-token prompt)':<44}{percentile(ttft, 50):>12.1f}  {len(ttft)} requests")
    print(f"{'time to first token p99 ms':<44}{percentile(ttft, 99):>12.1f}")
    print(f"{'GET /health p50 ms during 2 streams':<44}{percentile(health_lat, 50):>12.2f}  {len(health_lat)} requests")
    print(f"{'GET /health p99 ms during 2 streams':<44}{percentile(health_lat, 99):>12.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
