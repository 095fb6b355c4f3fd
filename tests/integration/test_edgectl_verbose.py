"""test_edgectl_verbose.py - `edgectl complete --verbose` and `chat --verbose`
(issue 15, finding 9): the speed is the tokens generated after the first over
the daemon's time from the first token to the last (timings.predicted_ms),
not over the moments the chunks reached the client (which may come in one
read: it printed 67257.9 tokens/s for 8 tokens). The printed rate must equal
the printed count over the printed time and be plausible; the time to first
token is printed too. Runs on the real model in ../shared when present.
"""
import os
import re
import subprocess

import pytest

from conftest import REPO
from test_clients import EDGECTL

REAL_MODEL = REPO.parent / "shared" / "testdata" / "real" / "edged-tiny-26m-q8_0.gguf"
LINE = re.compile(r"edgectl: (\d+) prompt tokens, (\d+) generated, finish: (\w+); time to first token (\d+) ms; "
                  r"generation: (\d+) tokens after the first in ([0-9.]+) s, ([0-9.]+) tokens/s$")


@pytest.fixture
def real_daemon(daemon):
    if not REAL_MODEL.exists():
        pytest.skip(f"{REAL_MODEL} is not there")
    return daemon({"model.path": str(REAL_MODEL), "model.context": 512, "engine.parallel": 1})


def run(d, args, stdin=None):
    env = {k: v for k, v in os.environ.items() if k != "EDGED_SOCKET"}
    return subprocess.run([str(EDGECTL), "--socket", str(d.socket_path), *args], input=stdin, capture_output=True,
                          text=True, env=env, timeout=120)


def check_line(stderr, n_asked):
    lines = [l for l in stderr.splitlines() if l.startswith("edgectl: ") and "generated" in l]
    assert len(lines) == 1, stderr
    m = LINE.match(lines[0])
    assert m, lines[0]
    prompt, generated, finish, ttft_ms, after_first, seconds, rate = m.groups()
    generated, after_first, seconds, rate = int(generated), int(after_first), float(seconds), float(rate)
    assert int(prompt) > 0 and finish == "length" and generated == n_asked, lines[0]
    assert after_first == generated - 1, lines[0]
    assert seconds > 0, lines[0]
    assert abs(rate - after_first / seconds) <= 0.01 * rate, lines[0]  # the rate is the count over the time
    assert 0 < rate < 100000, lines[0]
    assert 0 <= int(ttft_ms) < 60000, lines[0]
    return rate


@pytest.mark.parametrize("stream", [True, False])
def test_complete_verbose_rate_is_count_over_generation_time(real_daemon, stream):
    args = ["complete", "Once upon a time", "-n", "16", "--temp", "0", "--verbose"]
    r = run(real_daemon, args + ([] if stream else ["--no-stream"]))
    assert r.returncode == 0, r
    assert r.stdout.strip(), r
    check_line(r.stderr, 16)


def test_chat_verbose_rate_is_count_over_generation_time(real_daemon):
    r = run(real_daemon, ["chat", "-n", "8", "--temp", "0", "--verbose"], stdin="Hello there\n")
    assert r.returncode == 0, r
    check_line(r.stderr, 8)
