#!/usr/bin/python3
"""http_health.py - HTTP throughput and latency of edged's loop thread: starts
$BUILD/edged on a temporary socket, runs CONCURRENCY keep-alive clients (asyncio,
raw Unix sockets) that send GET /health back to back until REQUESTS have been
answered, and prints one table: requests, concurrency, p50/p99/max latency
(ms), requests/s.

usage: tests/bench/http_health.py [REQUESTS [CONCURRENCY]]   (default 20000 64)
"""
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from conftest import EDGED, write_config  # noqa: E402  (shared with the integration tests)

REQUEST = b"GET /health HTTP/1.1\r\nHost: bench\r\n\r\n"


async def read_response(reader):
    """Reads one response; returns its status. Needs Content-Length framing."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length:
        await reader.readexactly(length)
    return status


async def client(path, budget, latencies, errors):
    reader, writer = await asyncio.open_unix_connection(path)
    try:
        while budget[0] > 0:
            budget[0] -= 1
            t0 = time.perf_counter()
            writer.write(REQUEST)
            status = await read_response(reader)
            latencies.append(time.perf_counter() - t0)
            if status != 200:
                errors.append(status)
    finally:
        writer.close()


async def run(path, requests, concurrency):
    budget = [requests]
    latencies, errors = [], []
    t0 = time.perf_counter()
    await asyncio.gather(*(client(path, budget, latencies, errors) for _ in range(concurrency)))
    return latencies, errors, time.perf_counter() - t0


def wait_for_socket(path, proc, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"edged exited with {proc.returncode} before serving")
        if os.path.exists(path):
            return
        time.sleep(0.05)
    raise SystemExit(f"edged did not create {path} within {timeout} s")


def main():
    requests = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    concurrency = int(sys.argv[2]) if len(sys.argv) > 2 else 64
    if not EDGED.exists():
        raise SystemExit(f"{EDGED} does not exist: build it first")
    with tempfile.TemporaryDirectory(prefix="edged-bench-") as tmp:
        path = os.path.join(tmp, "edged.sock")
        os.mkdir(os.path.join(tmp, "state"))
        conf = write_config(os.path.join(tmp, "edged.conf"), {
            "server.socket": path, "server.max_connections": max(256, concurrency + 8),
            "state.directory": os.path.join(tmp, "state"), "log.level": "warn", "log.access_log": "false"})
        with open(os.path.join(tmp, "stderr"), "wb") as err:
            proc = subprocess.Popen([str(EDGED), "--config", conf], stdout=err, stderr=err)
            try:
                wait_for_socket(path, proc)
                asyncio.run(run(path, min(requests, 200), concurrency))  # warm-up
                latencies, errors, elapsed = asyncio.run(run(path, requests, concurrency))
            finally:
                proc.send_signal(signal.SIGTERM)
                rc = proc.wait(15)
        if rc != 0:
            sys.stderr.write(open(os.path.join(tmp, "stderr")).read())
            raise SystemExit(f"edged exited with {rc}")
    latencies.sort()
    n = len(latencies)
    ms = [x * 1000 for x in latencies]
    print("http_health: GET /health, keep-alive, Unix socket")
    print(f"{'requests':>9} {'concurrency':>11} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'req/s':>9} {'errors':>6}")
    print(f"{n:>9} {concurrency:>11} {ms[n // 2]:>8.3f} {ms[min(n - 1, int(n * 0.99))]:>8.3f} "
          f"{ms[-1]:>8.3f} {n / elapsed:>9.0f} {len(errors):>6}")
    if errors:
        raise SystemExit(f"{len(errors)} responses were not 200: {sorted(set(errors))}")


if __name__ == "__main__":
    main()
