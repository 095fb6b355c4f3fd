"""edged's command-line tools that need no socket: model-info, --help, --version."""
import os
import re
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


def test_model_info_says_whether_edged_serves_the_model(tmp_path):
    good = os.path.join(TESTDATA, "models", "tiny-llama-Q8_0.gguf")
    out = run("model-info", good)
    assert out.returncode == 0, out.stderr
    assert re.search(r"^  serves it +yes: a chat model for \[model\] path \(llama, 4 layers, chat format \w+\)$",
                     out.stdout, re.M), out.stdout

    # block_count patched to more layers than the file has tensors for:
    # described, but the loader refuses it, and the exit status says so
    data = bytearray(open(good, "rb").read())
    key = b"llama.block_count"
    at = data.index(key) + len(key)
    assert int.from_bytes(data[at:at + 4], "little") == 4  # GGUF_TYPE_UINT32
    data[at + 4:at + 8] = (1000).to_bytes(4, "little")
    bad = tmp_path / "bad-layers.gguf"
    bad.write_bytes(bytes(data))
    out = run("model-info", str(bad))
    assert out.returncode == 1
    assert "block_count                        1000" in out.stdout  # the summary is still printed
    assert re.search(r"^  serves it +no: llama.block_count = 1000: that needs at least 9000 tensors", out.stdout,
                     re.M), out.stdout
    assert out.stderr.startswith(f"edged: {bad}: llama.block_count = 1000"), out.stderr

    # a vocabulary without weights
    vocab = os.path.join(TESTDATA, "vocab", "ggml-vocab-llama-spm.gguf")
    out = run("model-info", vocab)
    assert out.returncode == 1
    assert re.search(r"^  serves it +no: ", out.stdout, re.M), out.stdout


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


def test_model_info_counts_the_interleaved_rows_padding(test_model):
    """q4_0/q8_0 matrices are copied at load into groups of 8 blocks (256
    elements), each copy on 64 bytes, all in one arena of whole huge pages
    once it spans one; the 64-wide fixture's rows grow from 2 blocks to 8,
    and the estimate says by how much."""
    out = run("model-info", str(test_model))
    assert out.returncode == 0, out.stderr
    tensors = re.findall(r"^  (\S+)\s+(\w+)\s+\[(\d+), (\d+)\]\s+(\d+)$", out.stdout, re.M)
    names = {t[0] for t in tensors}
    copies = file = 0
    for name, ttype, ne0, ne1, size in tensors:
        if ttype != "q8_0" or (name == "token_embd.weight" and "output.weight" in names):
            continue
        groups = (int(ne0) // 32 + 7) // 8
        copies += (groups * 8 * 34 * int(ne1) + 63) // 64 * 64
        file += int(size)
    try:
        huge = int(open("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size").read())
    except (OSError, ValueError):
        huge = 2 << 20
    if copies >= huge:
        copies = (copies + huge - 1) // huge * huge
    expected = copies - file
    assert expected > 0
    line = re.search(r"^  interleaved copies' padding\s+(\d+) bytes", out.stdout, re.M)
    assert line, out.stdout  # the AVX2 and NEON kernels take the layout
    assert int(line.group(1)) == expected
    total = int(re.search(r"^  total\s+(\d+) bytes", out.stdout, re.M).group(1))
    parts = re.findall(r"^  (?:mapped file|interleaved|KV cache|compute)[^\n]*?(\d+) bytes", out.stdout, re.M)
    assert total == sum(int(p) for p in parts)
