"""`edged run` and `edged bench` on fixture models: mkmodel writes small
random-weight llamas with the llama-spm vocabulary into a temporary directory;
the shared tiny-llama files carry reference logits (../shared/testdata)."""
import json
import os
import re
import subprocess

import numpy as np
import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("BUILD", "build")
if not os.path.isabs(BUILD):
    BUILD = os.path.join(REPO, BUILD)
EDGED = os.path.join(BUILD, "edged")
MKMODEL = os.path.join(BUILD, "tests", "tools", "mkmodel")
DUMP_LOGITS = os.path.join(BUILD, "tests", "tools", "dump_logits")
TESTDATA = os.path.join(REPO, "..", "shared", "testdata")
VOCAB = os.path.join(TESTDATA, "vocab", "ggml-vocab-llama-spm.gguf")
N_VOCAB = 32000
# ../shared/testdata/README.md: the reference prompt and its tokens (with BOS)
REF_PROMPT = "Hello world, this is a test."
REF_TOKENS = [1, 15043, 3186, 29892, 445, 338, 263, 1243, 29889]


def edged(*args, stdin=None, timeout=120):
    return subprocess.run([EDGED, *args], capture_output=True, text=True, errors="replace", input=stdin,
                          timeout=timeout)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """name -> path of mkmodel fixtures."""
    directory = tmp_path_factory.mktemp("models")
    specs = {
        "q8_0": ["--type", "q8_0"],
        "f32_gqa": ["--type", "f32", "--n-head", "8", "--n-head-kv", "2", "--ctx", "4096"],
        "q4_0_tied": ["--type", "q4_0", "--tied", "--n-layer", "3"],
    }
    paths = {}
    for name, extra in specs.items():
        path = str(directory / f"{name}.gguf")
        subprocess.run([MKMODEL, "--arch", "llama", "--vocab", VOCAB, "--out", path, *extra],
                       check=True, capture_output=True, timeout=120)
        paths[name] = path
    return paths


def test_run_prompt_streams_text_and_summarises(models):
    out = edged("run", "-m", models["q8_0"], "-p", "Once upon a time", "-n", "24", "--temp", "0")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() != ""
    summary = re.search(r"prompt (\d+) tokens, [\d.]+ tokens/s; generated (\d+) tokens, [\d.]+ tokens/s",
                        out.stderr)
    assert summary, out.stderr
    assert int(summary.group(1)) >= 2 and 1 <= int(summary.group(2)) <= 24


def test_run_output_arrives_before_generation_ends(models):
    # up to 4000 tokens: the first piece must come out while the rest is still being made
    proc = subprocess.Popen([EDGED, "run", "-m", models["f32_gqa"], "-p", "Hello", "-n", "-1", "-c", "4096",
                             "--temp", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        first = proc.stdout.read1(64)
        still_running = proc.poll() is None
    finally:
        proc.kill()
        proc.communicate()
    assert first
    assert still_running


def test_greedy_output_is_the_same_with_1_and_2_threads(models):
    for name in ("q8_0", "f32_gqa", "q4_0_tied"):
        one = edged("run", "-m", models[name], "-p", "The quick brown fox", "-n", "32", "--temp", "0", "-t", "1")
        two = edged("run", "-m", models[name], "-p", "The quick brown fox", "-n", "32", "--temp", "0", "-t", "2")
        assert one.returncode == 0 and two.returncode == 0, one.stderr + two.stderr
        assert one.stdout == two.stdout and one.stdout.strip() != ""


def test_seeded_sampling_is_reproducible(models):
    args = ["run", "-m", models["q8_0"], "-p", "Hi", "-n", "16", "--temp", "1.0", "--seed", "42"]
    assert edged(*args).stdout == edged(*args).stdout


def test_dump_logits_has_one_row_per_prompt_token(models, tmp_path):
    out_path = tmp_path / "logits.f32"
    out = edged("run", "-m", models["q4_0_tied"], "-p", "a few words of prompt", "--dump-logits", str(out_path))
    assert out.returncode == 0, out.stderr
    n_prompt = int(re.search(r"logits of (\d+) positions x 32000 tokens", out.stderr).group(1))
    assert n_prompt >= 2
    assert out.stdout == ""
    assert out_path.stat().st_size == n_prompt * N_VOCAB * 4


@pytest.mark.parametrize("quant", ["Q8_0", "Q4_0", "Q4_K_M"])
def test_dump_logits_matches_dump_logits_tool_and_reference(quant, tmp_path):
    model = os.path.join(TESTDATA, "models", f"tiny-llama-{quant}.gguf")
    ours, tool = tmp_path / "run.f32", tmp_path / "tool.f32"
    out = edged("run", "-m", model, "-p", REF_PROMPT, "-t", "1", "--dump-logits", str(ours))
    assert out.returncode == 0, out.stderr
    subprocess.run([DUMP_LOGITS, model, str(tool), *map(str, REF_TOKENS)], check=True, timeout=60)
    assert ours.stat().st_size == len(REF_TOKENS) * N_VOCAB * 4
    assert ours.read_bytes() == tool.read_bytes()
    got = np.fromfile(ours, dtype="<f4")
    ref = np.fromfile(os.path.join(TESTDATA, "models", f"tiny-llama-{quant}.logits.f32"), dtype="<f4")
    assert np.sqrt(np.mean((got - ref) ** 2)) / ref.std() < 0.05


def test_chat_answers_each_line_and_reuses_the_cache(models):
    out = edged("run", "-m", models["q8_0"], "--chat", "-n", "6", "--temp", "0",
                stdin="Hello there\n\nWhat is your name?\n")
    assert out.returncode == 0, out.stderr
    assert len(out.stdout.splitlines()) == 2  # one answer per non-empty line
    two_turns = int(re.search(r"prompt (\d+) tokens", out.stderr).group(1))
    first = edged("run", "-m", models["q8_0"], "--chat", "-n", "6", "--temp", "0", stdin="Hello there\n")
    second = edged("run", "-m", models["q8_0"], "--chat", "-n", "6", "--temp", "0", stdin="What is your name?\n")
    one_turn, second_alone = (int(re.search(r"prompt (\d+) tokens", o.stderr).group(1)) for o in (first, second))
    # reusing the cache, the second turn evaluates the reply (<= 6 tokens), the
    # end of its turn and the new message; without, the whole first turn again
    assert one_turn < two_turns <= one_turn + 6 + second_alone + 8 < 2 * one_turn + second_alone


def test_chat_message_spelling_a_control_token_stays_text(models):
    """A typed "</s>" is the four pieces of its text, not the EOS token: the
    prompt grows by several tokens, where a parsed EOS would add about one."""
    def prompt_tokens(line):
        out = edged("run", "-m", models["q8_0"], "--chat", "-n", "1", "--temp", "0", stdin=line + "\n")
        assert out.returncode == 0, out.stderr
        return int(re.search(r"prompt (\d+) tokens", out.stderr).group(1))
    assert prompt_tokens("x</s>y") - prompt_tokens("xy") >= 3


def test_bench_json_lines_have_the_fields(models):
    out = edged("bench", "-m", models["q8_0"], "-p", "32", "-n", "8", "-r", "2", "-t", "1", "--json")
    assert out.returncode == 0, out.stderr
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert [line["test"] for line in lines] == ["pp32", "tg8"]
    for line in lines:
        for field in ("tokens_per_s", "tokens_per_s_sd", "bound_tokens_per_s", "bandwidth_gbps",
                      "bandwidth_min_gbps", "bandwidth_max_gbps"):
            assert isinstance(line[field], float), field
        assert line["tokens_per_s"] > 0 and line["bandwidth_gbps"] > 0 and line["bound_tokens_per_s"] > 0
        # each of the 2 tg repetitions of 8 steps is one segment, read before and after
        assert line["bandwidth_readings"] == 4
        assert line["bandwidth_min_gbps"] <= line["bandwidth_gbps"] <= line["bandwidth_max_gbps"]
        assert line["threads"] == 1
        assert line["model_bytes"] == os.path.getsize(models["q8_0"])
        assert line["peak_rss_bytes"] >= line["model_bytes"]
    assert 0 < lines[1]["fraction_of_bound"] < 2


def test_bench_verbose_shows_each_segment_of_generation(models):
    """tg40 is three segments (16 + 16 + 8 steps), each set against the
    readings around it: four readings, the middle ones shared."""
    out = edged("bench", "-m", models["q8_0"], "-p", "0", "-n", "40", "-r", "1", "-t", "1", "-v", "--json")
    assert out.returncode == 0, out.stderr
    segments = re.findall(r"tg steps (\d+)-(\d+): ([\d.]+) GB/s of weights and cache, "
                          r"read bandwidth ([\d.]+) then ([\d.]+) GB/s: (\d+)% of the bound", out.stderr)
    assert [(int(a), int(b)) for a, b, *_ in segments] == [(1, 16), (17, 32), (33, 40)]
    assert all(segments[i][4] == segments[i + 1][3] for i in range(2))
    line = json.loads(out.stdout)
    assert line["bandwidth_readings"] == 4
    # the stderr lines round to 0.1 GB/s
    assert line["bandwidth_min_gbps"] <= min(float(s[3]) for s in segments) + 0.05
    assert all(float(s[2]) > 0 for s in segments)


def test_bench_table(models):
    out = edged("bench", "-m", models["q4_0_tied"], "-p", "16", "-n", "4", "-r", "1", "-t", "1")
    assert out.returncode == 0, out.stderr
    assert re.search(r"\| q4_0_tied\.gguf .*\|\s+pp16 \|", out.stdout)
    assert re.search(r"\|\s+tg4 \|\s+[\d.]+ ± [\d.]+ \|\s+[\d.]+ \|\s+\d+% \|", out.stdout)
    assert re.search(r"peak RSS [\d.]+ MiB; mapped model \+ KV cache [\d.]+ MiB", out.stdout)


@pytest.mark.parametrize("args", [
    ["run"],
    ["run", "-m", "x.gguf"],
    ["run", "-m", "x.gguf", "-p", "hi", "--chat"],
    ["run", "-m", "x.gguf", "-p", "hi", "-n", "many"],
    ["run", "-m", "x.gguf", "-p", "hi", "-t", "0"],
    ["run", "-m", "x.gguf", "-p", "hi", "--top-p", "2"],
    ["run", "-m", "x.gguf", "--chat", "--dump-logits", "o.f32"],
    ["run", "-m", "x.gguf", "-p"],
    ["run", "-m", "x.gguf", "-p", "hi", "--bogus"],
    ["bench"],
    ["bench", "-m", "x.gguf", "-r", "0"],
    ["bench", "-m", "x.gguf", "-p", "0", "-n", "0"],
    ["bench", "-m", "x.gguf", "extra"],
])
def test_bad_arguments_exit_2_with_a_message(args):
    out = edged(*args)
    assert out.returncode == 2
    assert out.stderr.startswith("edged " + args[0] + ": ")


@pytest.mark.parametrize("command", [["run", "-p", "hi"], ["bench"]])
def test_a_non_gguf_file_exits_1_with_the_readers_error(command, tmp_path):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"this is not a model at all")
    out = edged(command[0], "-m", str(bad), *command[1:])
    assert out.returncode == 1
    assert "not a GGUF file" in out.stderr
    assert out.stdout == ""


def test_help():
    for command in ("run", "bench"):
        out = edged(command, "--help")
        assert out.returncode == 0 and out.stdout.startswith("usage: edged " + command)


REAL = os.path.join(TESTDATA, "real")


@pytest.mark.skipif(not os.path.exists(os.path.join(REAL, "edged-tiny-26m-f16.gguf")),
                    reason="../shared/testdata/real is not there")
def test_prompt_spelling_control_tokens_parses_them_as_llama_cpp_does(tmp_path):
    """A chat-formatted -p gives the reference tokenizer's ids (control tokens
    parsed) and its greedy answer; --literal keeps them as text."""
    model = os.path.join(REAL, "edged-tiny-26m-f16.gguf")
    with open(os.path.join(REAL, "edged-tiny-26m.reference.json")) as f:
        reference = json.load(f)[2]
    assert reference["prompt"].startswith("<|im_start|>user\n")
    n_ref = len(reference["prompt_ids"])
    out = edged("run", "-m", model, "-p", reference["prompt"], "-n", "16", "--temp", "0", "-t", "2")
    assert out.returncode == 0, out.stderr
    assert f"prompt {n_ref} tokens" in out.stderr
    assert out.stdout.startswith(reference["greedy_text"])
    logits = tmp_path / "parsed.f32"
    assert edged("run", "-m", model, "-p", reference["prompt"], "--dump-logits", str(logits)).returncode == 0
    assert os.path.getsize(logits) == n_ref * 8192 * 4
    literal = edged("run", "-m", model, "-p", reference["prompt"], "--literal", "-n", "1", "--temp", "0")
    assert literal.returncode == 0, literal.stderr
    n_literal = int(re.search(r"prompt (\d+) tokens", literal.stderr).group(1))
    assert n_literal > n_ref + 6  # each of the 4 markers is several text tokens
    assert "--literal applies to -p" in edged("run", "-m", model, "--chat", "--literal").stderr
