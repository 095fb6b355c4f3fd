#!/usr/bin/python3
"""tests/bench/adapt_bench.py - `make bench`: inference while an adapt job
trains (DESIGN section 4: time to first token during training within 20% of
idle). On a faked device whose window is always open (adapt.idle_s 0,
resume_after_s 1), it measures streamed completions one after another with
the daemon idle, then the same requests while a LoRA job trains (each
request arrives after the trainer resumed, so each one pays a pause): time
to first token p50/p99 and generation tokens/s; the trainer's tokens/s
alone and with the requests interleaved (tokens per wall second, pauses
included); and the pause latency, from a request's arrival to the trainer's
last kernel call (the gate's histogram in /metrics, p50/p99 from its
buckets). Model: EDGED_BENCH_MODEL (a GGUF path, or `random`), else
model_bench.sh's TinyLlama-shaped q4_0 when present, else (and with
EDGED_BENCH_QUICK=1) a small random model from mkmodel. It prints the load
average too: on a shared machine, compare runs made side by side."""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

from api_bench import percentile, request, stream

BUILD = os.environ.get("BUILD", "build")
QUICK = os.environ.get("EDGED_BENCH_QUICK", "0") not in ("", "0")
THREADS = 2
VOCAB = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared", "testdata", "vocab",
                     "ggml-vocab-llama-spm.gguf")

NOTES = [
    ("Garden", "The tomatoes grow by the south wall. Water them every evening in July. The basil likes the pots "
               "near the kitchen door, and the mint must stay in its own tub or it takes over the bed."),
    ("Bicycle", "The bicycle lock code is 4821. The spare tube is in the blue box in the shed, next to the pump; "
                "the brakes were adjusted in May and the chain oiled after the rain."),
    ("Recipes", "Pancakes: two eggs, a cup of flour, a cup of milk, a pinch of salt. Rest the batter for ten "
                "minutes before frying in a hot pan with a little butter."),
    ("Car", "The car goes to the garage on the first Monday of March for its service and the tyres are changed "
            "in October; the insurance renews in June."),
    ("Doctor", "Dr. Zamora's practice opens at eight; appointments on Tuesdays and Thursdays. Bring the blood "
               "test results from February."),
    ("Travel", "The passport expires in 2028. The train to the coast leaves at 7:42 from platform 3 and the "
               "return ticket is valid for a month."),
]


def model_path(tmp):
    chosen = os.environ.get("EDGED_BENCH_MODEL", "")
    if chosen and chosen != "random":
        return os.path.abspath(chosen)
    name = "tinyllama-1.1b-q4_0.gguf"
    path = os.path.abspath(f"build/bench-models/{name}")
    if os.path.exists(path) and not QUICK and chosen != "random":
        return path
    path = os.path.join(tmp, "random.gguf")
    width, layers = ("128", "2") if QUICK else ("512", "8")
    subprocess.run([f"{BUILD}/tests/tools/mkmodel", "--arch", "llama", "--vocab", VOCAB, "--out", path, "--type",
                    "q8_0", "--n-embd", width, "--n-layer", layers, "--n-head", "8", "--n-head-kv", "4", "--n-ff",
                    str(3 * int(width)), "--ctx", "1024"], check=True, capture_output=True)
    return path


def get_json(sock, path):
    status, body = request(sock, "GET", path)
    if status != 200:
        raise RuntimeError(f"GET {path}: HTTP {status}: {body[:300]!r}")
    return json.loads(body)


def completions(sock, n, n_gen, gap_s, seed):
    """n streamed completions one after another, gap_s apart: (ttft list, tokens/s list)."""
    ttft, rates = [], []
    for i in range(n):
        time.sleep(gap_s)
        start, times, usage = stream(sock, f"Request {i} asks about the garden and the bicycle", n_gen, seed + i)
        ttft.append(times[0] - start)
        if len(times) > 1:
            rates.append((usage["completion_tokens"] - 1) / (times[-1] - times[0]))
    return ttft, rates


def step_end(sock, job_id):
    """Waits for the job's next step to end: (job, monotonic time). Tokens
    grow a whole window per step, so rates are taken between step ends."""
    step = get_json(sock, f"/v1/adapt/jobs/{job_id}")["step"]
    while True:
        job, t = get_json(sock, f"/v1/adapt/jobs/{job_id}"), time.monotonic()
        if job["step"] > step:
            return job, t
        time.sleep(0.01)


def pause_latency(metrics):
    """p50 and p99 (upper bucket bounds, seconds) and the count of the gate's pause histogram."""
    buckets = [(float(le) if le != "+Inf" else float("inf"), int(v)) for le, v in
               re.findall(r'edged_adapt_pause_latency_seconds_bucket\{le="([^"]+)"\} (\d+)', metrics)]
    total = buckets[-1][1] if buckets else 0

    def quantile(q):
        for le, cumulative in buckets:
            if total and cumulative >= q * total:
                return le
        return float("nan")

    return quantile(0.5), quantile(0.99), total


def main():
    tmp = tempfile.mkdtemp(prefix="edged-adapt-bench-")
    model = model_path(tmp)
    sys_root = os.path.join(tmp, "sys")
    os.makedirs(os.path.join(tmp, "proc"))
    os.makedirs(sys_root)
    sock = os.path.join(tmp, "edged.sock")
    conf = os.path.join(tmp, "edged.conf")
    with open(conf, "w") as f:
        f.write(f"[server]\nsocket = {sock}\n[access]\nadapt = *\n[log]\naccess_log = false\nlevel = warn\n"
                f"[state]\ndirectory = {tmp}/state\n[model]\npath = {model}\nthreads = {THREADS}\ncontext = 1024\n"
                f"[engine]\nparallel = 2\nqueue_length = 4\n"
                f"[adapt]\nsys_root = {sys_root}\nproc_root = {tmp}/proc\nidle_s = 0\nresume_after_s = 1\n"
                f"poll_s = 1\ncheckpoint_every_s = 30\ncheckpoint_every_steps = 0\n")
    os.makedirs(f"{tmp}/state", exist_ok=True)
    daemon = subprocess.Popen([f"{BUILD}/edged", "--config", conf])
    n_req = 5 if QUICK else 12
    n_gen = 16 if QUICK else 48
    try:
        deadline = time.time() + 300
        while True:
            try:
                if request(sock, "GET", "/health")[0] == 200:
                    break
            except OSError:
                pass
            if time.time() > deadline:
                print("adapt_bench: the daemon did not become ready")
                return 1
            time.sleep(0.2)
        status, body = request(sock, "POST", "/v1/documents", {"collection": "notes", "documents": [
            {"title": t, "text": x} for t, x in NOTES]})
        if status != 201:
            raise RuntimeError(f"ingest: HTTP {status}: {body[:300]!r}")
        completions(sock, 2, 4, 0, 1)  # warm up
        idle_ttft, idle_rate = completions(sock, n_req, n_gen, 0.2, 100)

        status, body = request(sock, "POST", "/v1/adapt", {"collections": ["notes"], "max_steps": 100000,
                                                          "budget_s": 3600, "seq_len": 128, "rank": 8})
        if status != 202:
            raise RuntimeError(f"adapt: HTTP {status}: {body[:300]!r}")
        job_id = json.loads(body)["id"]
        deadline = time.time() + 120
        while (job := get_json(sock, f"/v1/adapt/jobs/{job_id}"))["step"] < 2:
            if time.time() > deadline:  # never hang make bench: say where the job stands
                print(f"adapt_bench: the job did not train 2 steps in 120 s: {job['state']}: {job['reason']}")
                return 1
            time.sleep(0.1)
        alone_s = 4 if QUICK else 10
        j0, t0 = step_end(sock, job_id)
        time.sleep(alone_s)
        j1, t1 = step_end(sock, job_id)
        train_alone = (j1["tokens"] - j0["tokens"]) / (t1 - t0)

        # each request 1.5 s after the last: the trainer resumed (resume_after_s 1), so each one pauses it
        busy_ttft, busy_rate = completions(sock, n_req, n_gen, 1.5, 100)
        j2, t2 = step_end(sock, job_id)
        train_shared = (j2["tokens"] - j1["tokens"]) / (t2 - t1)
        status, metrics = request(sock, "GET", "/metrics")
        p50_pause, p99_pause, n_pauses = pause_latency(metrics.decode())
        request(sock, "DELETE", f"/v1/adapt/jobs/{job_id}")
    finally:
        daemon.terminate()
        daemon.wait(timeout=60)
        shutil.rmtree(tmp, ignore_errors=True)

    ms = 1000.0
    load = os.getloadavg()
    print(f"model {os.path.basename(model)}, {THREADS} threads, {n_req} streamed completions of {n_gen} tokens, "
          f"LoRA rank 8 q,k,v,o, seq_len 128; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"{'inference':<28}{'TTFT p50 ms':>12}{'TTFT p99 ms':>12}{'gen tok/s':>11}")
    for label, ttft, rate in (("daemon idle", idle_ttft, idle_rate), ("while training", busy_ttft, busy_rate)):
        print(f"{label:<28}{percentile(ttft, 50) * ms:>12.1f}{percentile(ttft, 99) * ms:>12.1f}"
              f"{percentile(rate, 50):>11.2f}")
    ratio = percentile(busy_ttft, 50) / percentile(idle_ttft, 50)
    print(f"TTFT p50 during training / idle: {ratio:.2f} (target <= 1.20)")
    print(f"{'training':<28}{'tokens/s':>12}")
    print(f"{'alone':<28}{train_alone:>12.1f}")
    print(f"{'with requests interleaved':<28}{train_shared:>12.1f}")
    print(f"pause latency (request -> trainer's last kernel call), {n_pauses} pauses: "
          f"p50 <= {p50_pause * ms:g} ms, p99 <= {p99_pause * ms:g} ms (histogram bucket bounds)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
