"""The installed tree as the unit runs it (issue 15, finding 3): `make install`
into a DESTDIR, then the installed binary with the installed configuration, as
an unprivileged user whose group may read it (tmpfiles makes it 0640
root:edged), with a private state and runtime directory (StateDirectory=,
RuntimeDirectory=) mounted where the configuration expects them: /health is
200 and a chat answers."""
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import REPO, BUILD

MODEL = REPO / ".." / "shared" / "testdata" / "real" / "edged-tiny-26m-q8_0.gguf"
NOBODY = 65534  # uid and gid of nobody/nogroup on Debian, standing in for edged


def request(sock_path, method, path, body=None, timeout=60):
    payload = b"" if body is None else json.dumps(body).encode()
    head = (f"{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n").encode()
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(timeout)
        s.connect(str(sock_path))
        s.sendall(head + payload)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    status = int(data.split(b" ", 2)[1])
    return status, json.loads(data.split(b"\r\n\r\n", 1)[1] or b"null")


@pytest.fixture
def installed():
    root = Path(tempfile.mkdtemp(prefix="edged-install-", dir="/tmp"))
    os.chmod(root, 0o755)  # the unprivileged user walks into it
    dest = root / "dest"
    make = subprocess.run(["make", "--no-print-directory", f"BUILD={BUILD}", f"DESTDIR={dest}",
                           "UNITDIR=/lib/systemd/system", "install"],
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    assert make.returncode == 0, make.stdout + make.stderr
    yield root, dest
    shutil.rmtree(root, ignore_errors=True)


def test_install_lays_out_what_the_unit_needs(installed):
    _, dest = installed
    conf = dest / "etc" / "edged" / "edged.conf"
    assert conf.stat().st_mode & 0o777 == 0o640
    tmpfiles = (dest / "usr" / "lib" / "tmpfiles.d" / "edged.conf").read_text()
    lines = [line.split() for line in tmpfiles.splitlines() if line and not line.startswith("#")]
    assert ["z", "/etc/edged/edged.conf", "0640", "root", "edged", "-"] in lines
    assert ["d", "/var/lib/edged/models", "0750", "edged", "edged", "-"] in lines
    unit = (dest / "lib" / "systemd" / "system" / "edged.service").read_text()
    assert "ExecStart=/usr/local/bin/edged --config /etc/edged/edged.conf" in unit
    assert "User=edged" in unit and "StateDirectory=edged" in unit


@pytest.mark.skipif(not MODEL.exists(), reason="../shared/testdata/real is not there")
@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("setpriv"),
                    reason="needs root, unshare and setpriv to run as another user in a mount namespace")
def test_installed_binary_serves_as_an_unprivileged_user(installed):
    root, dest = installed
    conf = dest / "etc" / "edged" / "edged.conf"
    # What an operator does after install: tmpfiles' ownership, a pulled model, its path.
    os.chown(conf, 0, NOBODY)
    state, runtime = root / "state", root / "run"
    for d, mode in ((state / "edged", 0o750), (state / "edged" / "models", 0o750), (runtime / "edged", 0o755)):
        d.mkdir(parents=True)
        os.chown(d, NOBODY, NOBODY)
        os.chmod(d, mode)
    shutil.copy(MODEL, state / "edged" / "models" / MODEL.name)
    os.chown(state / "edged" / "models" / MODEL.name, NOBODY, NOBODY)
    with open(conf, "a") as f:
        f.write(f"\n[model]\npath = /var/lib/edged/models/{MODEL.name}\n")
    edged = dest / "usr" / "local" / "bin" / "edged"
    script = (f"mount --make-rprivate / && mount --bind {state} /var/lib && mount --bind {runtime} /run && "
              f"exec setpriv --reuid={NOBODY} --regid={NOBODY} --clear-groups {edged} --config /etc/edged/edged.conf")
    # /etc/edged/edged.conf is the installed file, bound over /etc/edged too.
    script = f"mkdir -p /etc/edged && mount --bind {conf.parent} /etc/edged && " + script
    proc = subprocess.Popen(["unshare", "--mount", "sh", "-c", script], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    sock = runtime / "edged" / "edged.sock"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, proc.stdout.read()
            if sock.exists():
                status, body = request(sock, "GET", "/health")
                if status == 200:
                    break
                assert body["status"] in ("starting", "loading"), body
            assert time.monotonic() < deadline, "the installed edged did not become healthy"
            time.sleep(0.2)
        status, body = request(sock, "POST", "/v1/chat/completions",
                               {"messages": [{"role": "user", "content": "Who are you?"}],
                                "max_tokens": 24, "temperature": 0})
        assert status == 200, body
        assert len(body["choices"][0]["message"]["content"].split()) >= 3
        assert (state / "edged" / "edged.db").stat().st_uid == NOBODY
    finally:
        proc.terminate()
        output, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, output

