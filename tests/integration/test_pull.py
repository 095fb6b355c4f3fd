"""test_pull.py - `edgectl pull` against a local HTTP server (range_server.py)
serving a small GGUF from the shared test data: a verified download, a
transfer cut off midway and resumed with a Range request, a wrong checksum,
a 404, an unreachable port, a file that is not GGUF, a server that ignores
Range, and a part file that is already complete.
"""
import hashlib
import json
import os
import socket
import subprocess
from pathlib import Path

import pytest

from range_server import RangeServer

REPO = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("BUILD", "build"))
if not BUILD.is_absolute():
    BUILD = REPO / BUILD
EDGECTL = BUILD / "edgectl"
GGUF = REPO / ".." / "shared" / "testdata" / "vocab" / "ggml-vocab-llama-spm.gguf"
NAME = "model.gguf"


@pytest.fixture(scope="module")
def gguf():
    if not EDGECTL.exists():
        pytest.fail(f"{EDGECTL} does not exist: build it first (make {EDGECTL.relative_to(REPO)})")
    data = GGUF.read_bytes()
    return {"path": GGUF, "data": data, "sha256": hashlib.sha256(data).hexdigest()}


def pull(*args, cwd, timeout=60):
    return subprocess.run([str(EDGECTL), "--timeout", "5", "pull", *map(str, args)],
                          capture_output=True, text=True, cwd=str(cwd), timeout=timeout)


def test_download_with_checksum(gguf, tmp_path):
    with RangeServer({NAME: gguf["path"]}) as srv:
        r = pull(srv.url(NAME), "--sha256", gguf["sha256"].upper(), cwd=tmp_path)
    assert r.returncode == 0, r
    assert (tmp_path / NAME).read_bytes() == gguf["data"]
    assert not (tmp_path / (NAME + ".part")).exists()
    assert f"sha256 {gguf['sha256']} (verified)" in r.stdout
    assert "GGUF v3, llama" in r.stdout, r.stdout
    # stderr is not a terminal here: one progress line per 10%, ending at 100%
    assert "model.gguf: 100%" in r.stderr, r.stderr
    assert srv.requests == [("/" + NAME, None)]


def test_output_name_and_json(gguf, tmp_path):
    with RangeServer({NAME: gguf["path"]}) as srv:
        r = subprocess.run([str(EDGECTL), "--json", "pull", srv.url(NAME), "-o", "sub.gguf"],
                           capture_output=True, text=True, cwd=str(tmp_path), timeout=60)
    assert r.returncode == 0, r
    result = json.loads(r.stdout)
    assert result["path"] == "sub.gguf" and result["bytes"] == len(gguf["data"])
    assert result["sha256"] == gguf["sha256"]
    assert (tmp_path / "sub.gguf").read_bytes() == gguf["data"]


def test_interrupted_transfer_resumes(gguf, tmp_path):
    cut = 200_000
    with RangeServer({NAME: gguf["path"]}, cut_after=cut) as srv:
        first = pull(srv.url(NAME), "--sha256", gguf["sha256"], cwd=tmp_path)
        assert first.returncode == 6, first
        assert "run the same command again to resume" in first.stderr, first.stderr
        part = tmp_path / (NAME + ".part")
        assert part.stat().st_size == cut
        assert not (tmp_path / NAME).exists()

        second = pull(srv.url(NAME), "--sha256", gguf["sha256"], cwd=tmp_path)
        assert second.returncode == 0, second
        assert f"resuming {NAME}.part at {cut} bytes" in second.stderr
        assert srv.requests[-1] == ("/" + NAME, f"bytes={cut}-")
    assert (tmp_path / NAME).read_bytes() == gguf["data"]
    assert not part.exists()


def test_stalled_transfer_times_out(gguf, tmp_path):
    with RangeServer({NAME: gguf["path"]}, cut_after=100_000, stall_s=4) as srv:
        r = subprocess.run([str(EDGECTL), "--timeout", "1", "pull", srv.url(NAME)], capture_output=True,
                           text=True, cwd=str(tmp_path), timeout=60)
    assert r.returncode == 4, r
    assert "no progress within 1 s" in r.stderr, r.stderr
    assert (tmp_path / (NAME + ".part")).stat().st_size == 100_000
    assert not (tmp_path / NAME).exists()


def test_wrong_checksum_leaves_no_file(gguf, tmp_path):
    wrong = "0" * 64
    with RangeServer({NAME: gguf["path"]}) as srv:
        r = pull(srv.url(NAME), "--sha256", wrong, cwd=tmp_path)
    assert r.returncode == 7, r
    assert "SHA-256 mismatch" in r.stderr and gguf["sha256"] in r.stderr
    assert not (tmp_path / NAME).exists()
    assert not (tmp_path / (NAME + ".part")).exists()


def test_not_found(gguf, tmp_path):
    with RangeServer({NAME: gguf["path"]}) as srv:
        r = pull(srv.url("missing.gguf"), cwd=tmp_path)
    assert r.returncode == 1, r
    assert "HTTP 404 Not Found" in r.stderr, r.stderr
    assert list(tmp_path.iterdir()) == []


def test_unreachable_port(gguf, tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = pull(f"http://127.0.0.1:{port}/{NAME}", cwd=tmp_path)
    assert r.returncode == 3, r
    assert r.stderr.startswith("edgectl: cannot reach 127.0.0.1: "), r.stderr
    assert list(tmp_path.iterdir()) == []


def test_not_a_gguf_file(gguf, tmp_path):
    text = tmp_path / "served.txt"
    text.write_bytes(b"<html>this is not a model</html>\n" * 10)
    out = tmp_path / "out"
    out.mkdir()
    with RangeServer({NAME: text}) as srv:
        r = pull(srv.url(NAME), cwd=out)
    assert r.returncode == 7, r
    assert "not a valid GGUF model" in r.stderr, r.stderr
    assert list(out.iterdir()) == []


def test_server_ignoring_range_restarts(gguf, tmp_path):
    (tmp_path / (NAME + ".part")).write_bytes(b"stale bytes of another file")
    with RangeServer({NAME: gguf["path"]}, ignore_range=True) as srv:
        r = pull(srv.url(NAME), "--sha256", gguf["sha256"], cwd=tmp_path)
        assert srv.requests == [("/" + NAME, "bytes=27-")]
    assert r.returncode == 0, r
    assert (tmp_path / NAME).read_bytes() == gguf["data"]


def test_complete_part_file_is_finished(gguf, tmp_path):
    (tmp_path / (NAME + ".part")).write_bytes(gguf["data"])
    with RangeServer({NAME: gguf["path"]}) as srv:
        r = pull(srv.url(NAME), "--sha256", gguf["sha256"], cwd=tmp_path)
    assert r.returncode == 0, r
    assert (tmp_path / NAME).read_bytes() == gguf["data"]


def test_existing_file_is_not_overwritten(gguf, tmp_path):
    (tmp_path / NAME).write_bytes(b"mine")
    with RangeServer({NAME: gguf["path"]}) as srv:
        r = pull(srv.url(NAME), cwd=tmp_path)
        assert srv.requests == []
    assert r.returncode == 6, r
    assert "already exists" in r.stderr
    assert (tmp_path / NAME).read_bytes() == b"mine"


@pytest.mark.parametrize("args", [[], ["ftp://example.org/x.gguf"], ["http://h/x.gguf", "--sha256", "abc"],
                                  ["http://h/"], ["http://h/a.gguf", "http://h/b.gguf"],
                                  ["http://h/a.gguf", "--bogus"]])
def test_usage_errors(gguf, tmp_path, args):
    r = pull(*args, cwd=tmp_path)
    assert r.returncode == 2, r
    assert r.stderr.startswith("edgectl: pull: "), r.stderr
