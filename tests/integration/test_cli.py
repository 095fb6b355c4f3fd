"""edged's command-line tools that need no socket: model-info, --help, --version."""
import os
import subprocess

BUILD = os.environ.get("BUILD", "build")
EDGED = os.path.join(BUILD, "edged")
TESTDATA = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "testdata")


def run(*args):
    return subprocess.run([EDGED, *args], capture_output=True, text=True, timeout=30)


def test_model_info_summarises_a_model():
    path = os.path.join(TESTDATA, "models", "tiny-llama-Q8_0.gguf")
    out = run("model-info", path, "--ctx", "256")
    assert out.returncode == 0, out.stderr
    assert "architecture                         llama" in out.stdout
    assert "attention.head_count_kv            4" in out.stdout
    assert "blk.3.ffn_down.weight" in out.stdout
    assert "q8_0" in out.stdout


def test_model_info_rejects_a_non_gguf_file(tmp_path):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"this is not a model at all")
    out = run("model-info", str(bad))
    assert out.returncode == 1
    assert out.stdout == ""
    assert "not a GGUF file" in out.stderr


def test_model_info_usage_errors():
    assert run("model-info").returncode == 2
    assert run("model-info", "a", "b").returncode == 2
    assert run("model-info", "x.gguf", "--ctx", "many").returncode == 2


def test_help_and_version():
    out = run("--help")
    assert out.returncode == 0 and "--check-config" in out.stdout and "model-info" in out.stdout
    out = run("--version")
    assert out.returncode == 0 and out.stdout.startswith("edged ")
    assert run("--no-such-flag").returncode == 2
