#!/usr/bin/python3
"""tests/bench/adapt_bench.py - `make bench`: inference while an adapt job
trains (DESIGN section 4: time to first token during training within 20% of
idle). On a faked device (a mains supply and a battery under adapt.sys_root;
adapt.idle_s 0, resume_after_s 1), a LoRA job trains while streamed
completions arrive one at a time, 1.5 s apart (so the trainer has resumed
and each request pays a pause), and the same requests are measured with the
daemon idle. Idle and training phases alternate (the plug is pulled for the
idle ones: the job checkpoints, stops, and resumes on power), so a shared
machine's drift falls on both alike. It prints time to first token p50/p99
as the client sees it and the engine's own submit-to-first-token mean
(/metrics), generation tokens/s, the trainer's tokens/s alone and with the
requests interleaved (tokens per wall second, pauses included), and the
pause latency, from a request's arrival to the moment the trainer stopped
computing (the gate's histogram, p50/p99 from its buckets). Model:
EDGED_BENCH_MODEL (a GGUF path, or `random`), else model_bench.sh's
TinyLlama-shaped q4_0 when present, else (and with EDGED_BENCH_QUICK=1) a
small random model from mkmodel. It prints the load average too."""

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


def engine_ttft(sock):
    """The engine's submit-to-first-token histogram: (sum of seconds, count)."""
    _, body = request(sock, "GET", "/metrics")
    text = body.decode()
    total = re.search(r"^edged_time_to_first_token_seconds_sum ([0-9.e+-]+)$", text, re.M)
    count = re.search(r"^edged_time_to_first_token_seconds_count (\d+)$", text, re.M)
    return (float(total.group(1)), int(count.group(1))) if total and count else (0.0, 0)


def phase(sock, n, n_gen, seed):
    """n completions 1.5 s apart: (ttft list, tokens/s list, the engine's mean submit-to-first-token)."""
    s0, c0 = engine_ttft(sock)
    ttft, rates = completions(sock, n, n_gen, 1.5, seed)
    s1, c1 = engine_ttft(sock)
    return ttft, rates, (s1 - s0) / (c1 - c0) if c1 > c0 else float("nan")


def wait_state(sock, job_id, states, what, timeout=120):
    deadline = time.time() + timeout
    while (job := get_json(sock, f"/v1/adapt/jobs/{job_id}"))["state"] not in states:
        if time.time() > deadline:
            raise RuntimeError(f"the job did not get {what} in {timeout} s: {job['state']}: {job['reason']}")
        time.sleep(0.1)
    return job


def trained_steps(sock, job_id, steps, timeout=120):
    """Waits until the job has trained `steps` more steps (never hangs make bench)."""
    start = get_json(sock, f"/v1/adapt/jobs/{job_id}")["step"]
    deadline = time.time() + timeout
    while (job := get_json(sock, f"/v1/adapt/jobs/{job_id}"))["step"] < start + steps:
        if time.time() > deadline:
            raise RuntimeError(f"the job did not train {steps} steps in {timeout} s: {job['state']}: "
                               f"{job['reason']}")
        time.sleep(0.1)
    return job


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


def put(root, rel, text):
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text + "\n")


def plug(sys_root, online):
    put(sys_root, "class/power_supply/AC/online", "1" if online else "0")
    put(sys_root, "class/power_supply/BAT0/status", "Charging" if online else "Discharging")


def main():
    tmp = tempfile.mkdtemp(prefix="edged-adapt-bench-")
    model = model_path(tmp)
    sys_root = os.path.join(tmp, "sys")
    os.makedirs(os.path.join(tmp, "proc"))
    put(sys_root, "class/power_supply/AC/type", "Mains")
    put(sys_root, "class/power_supply/BAT0/type", "Battery")
    put(sys_root, "class/power_supply/BAT0/capacity", "90")
    plug(sys_root, True)
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
    rounds = 1 if QUICK else 3
    idle, busy = [], []  # per round: (ttft, rates, engine mean)
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

        status, body = request(sock, "POST", "/v1/adapt", {"collections": ["notes"], "max_steps": 100000,
                                                          "budget_s": 3600, "seq_len": 128, "rank": 8,
                                                          # small steps: the held-out loss keeps improving, so
                                                          # early stopping never ends the job mid-benchmark
                                                          "learning_rate": 1e-5})
        if status != 202:
            raise RuntimeError(f"adapt: HTTP {status}: {body[:300]!r}")
        job_id = json.loads(body)["id"]
        trained_steps(sock, job_id, 2)
        alone_s = 4 if QUICK else 10
        j0, t0 = step_end(sock, job_id)
        time.sleep(alone_s)
        j1, t1 = step_end(sock, job_id)
        train_alone = (j1["tokens"] - j0["tokens"]) / (t1 - t0)

        train_shared = None
        for r in range(rounds):
            # training: each request 1.5 s after the last (resume_after_s 1), so each one pauses the trainer
            if r > 0:
                plug(sys_root, True)
                trained_steps(sock, job_id, 2)
                j1, t1 = step_end(sock, job_id)
            busy.append(phase(sock, n_req, n_gen, 100 + 50 * r))
            if train_shared is None:
                j2, t2 = step_end(sock, job_id)
                train_shared = (j2["tokens"] - j1["tokens"]) / (t2 - t1)
            # idle: the plug pulled, the job checkpoints and waits for power
            plug(sys_root, False)
            wait_state(sock, job_id, {"waiting_for_window"}, "stopped by the pulled plug")
            idle.append(phase(sock, n_req, n_gen, 100 + 50 * r))
        status, metrics = request(sock, "GET", "/metrics")
        p50_pause, p99_pause, n_pauses = pause_latency(metrics.decode())
        request(sock, "DELETE", f"/v1/adapt/jobs/{job_id}")
    except RuntimeError as e:
        print(f"adapt_bench: {e}")
        return 1
    finally:
        daemon.terminate()
        daemon.wait(timeout=60)
        shutil.rmtree(tmp, ignore_errors=True)

    ms = 1000.0
    load = os.getloadavg()
    print(f"model {os.path.basename(model)}, {THREADS} threads, {rounds} rounds of {n_req} streamed completions of "
          f"{n_gen} tokens idle and {n_req} while training (alternating), LoRA rank 8 q,k,v,o, seq_len 128; "
          f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"{'inference':<22}{'round':>6}{'TTFT p50 ms':>13}{'TTFT p99 ms':>13}{'engine TTFT ms':>16}{'gen tok/s':>11}")
    for label, phases in (("daemon idle", idle), ("while training", busy)):
        for r, (ttft, rate, engine) in enumerate(phases):
            print(f"{label:<22}{r + 1:>6}{percentile(ttft, 50) * ms:>13.1f}{percentile(ttft, 99) * ms:>13.1f}"
                  f"{engine * ms:>16.1f}{percentile(rate, 50):>11.2f}")
        ttft = [x for p in phases for x in p[0]]
        rate = [x for p in phases for x in p[1]]
        engine = sum(p[2] for p in phases) / len(phases)
        print(f"{label:<22}{'all':>6}{percentile(ttft, 50) * ms:>13.1f}{percentile(ttft, 99) * ms:>13.1f}"
              f"{engine * ms:>16.1f}{percentile(rate, 50):>11.2f}")
    ratio = percentile([x for p in busy for x in p[0]], 50) / percentile([x for p in idle for x in p[0]], 50)
    rounds_text = ", ".join(f"{percentile(b[0], 50) / percentile(i[0], 50):.2f}" for i, b in zip(idle, busy))
    print(f"TTFT p50 during training / idle: {ratio:.2f} (target <= 1.20; by round: {rounds_text})")
    print(f"{'training':<28}{'tokens/s':>12}")
    print(f"{'alone':<28}{train_alone:>12.1f}")
    print(f"{'with requests interleaved':<28}{train_shared:>12.1f}")
    print(f"pause latency (request -> the trainer stopped computing), {n_pauses} pauses: "
          f"p50 <= {p50_pause * ms:g} ms, p99 <= {p99_pause * ms:g} ms (histogram bucket bounds)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
