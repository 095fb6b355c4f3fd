"""README's first command as a new user meets it: `make run` installs what is
missing (make deps), builds edged and edgectl, and serves ../shared's small
trained model, so `edgectl chat` answers in words (issue 15, findings 1, 2, 4)."""
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD = os.environ.get("BUILD", "build")
SOCKET = REPO / "build" / "run" / "edged.sock"
MODEL = REPO / ".." / "shared" / "testdata" / "real" / "edged-tiny-26m-q8_0.gguf"


def socket_answers(path):
    try:
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(str(path))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not MODEL.exists(), reason="../shared/testdata/real is not there")
def test_make_run_serves_the_real_model_and_edgectl_chats():
    if socket_answers(SOCKET):
        pytest.skip("a `make run` is already serving build/run/edged.sock")
    run = subprocess.Popen(["make", "--no-print-directory", f"BUILD={BUILD}", "run"], cwd=REPO,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           start_new_session=True)
    try:
        deadline = time.monotonic() + 300  # a fresh build of edged and edgectl included
        while not socket_answers(SOCKET):
            assert run.poll() is None, run.stdout.read()
            assert time.monotonic() < deadline, "make run did not serve build/run/edged.sock"
            time.sleep(0.2)
        edgectl = Path(BUILD if os.path.isabs(BUILD) else REPO / BUILD) / "edgectl"
        # the socket answers before the model and the adapt jobs are loaded: health says which (exit 1)
        deadline = time.monotonic() + 120
        while True:
            health = subprocess.run([str(edgectl), "--socket", str(SOCKET), "--timeout", "60", "health"],
                                    capture_output=True, text=True, timeout=90)
            if health.returncode != 1 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert health.returncode == 0, health.stdout + health.stderr
        chat = subprocess.run([str(edgectl), "--socket", str(SOCKET), "chat"], input="Who are you?\n",
                              capture_output=True, text=True, timeout=120)
        assert chat.returncode == 0, chat.stderr
        words = re.findall(r"[A-Za-z]{2,}", chat.stdout)
        assert len(words) >= 4, chat.stdout
    finally:
        os.killpg(run.pid, signal.SIGTERM)
        output, _ = run.communicate(timeout=30)
    assert "serving ../shared/testdata/real/edged-tiny-26m-q8_0.gguf" in output
    assert "is up to date" not in output
