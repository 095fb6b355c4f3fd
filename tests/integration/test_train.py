"""`edged train` (daemon/cli/train.c) on a tiny random llama (mkmodel): trains
on a folder of notes and on JSONL, writes an adapter that `edged run --lora`
accepts and its loss curves (CSV, SVG); a run killed with SIGKILL resumes
from its sealed checkpoint with the same step and the same losses as an
uninterrupted one; a canary in the notes never reaches the state directory
in the clear (during or after training, checkpoints included); a collection
the daemon ingested trains into a registry entry with lineage rows; bad
input is an error naming the option or field (exit 2).
"""
import csv
import json
import os
import signal
import sqlite3
import subprocess
import time
import xml.dom.minidom

import pytest

from conftest import EDGED, BERT_VOCAB, MKMODEL, make_bert, make_model, request_bytes

CANARY = "QUARTZCANARY7781"
NOTES = {
    "garden.md": "# Garden\n\nThe tomatoes in the south bed need water every second day.\n\n"
                 "Basil grows beside them; pinch the flowers off in July.\n",
    "bike.md": "# Bike\n\nThe rear tyre takes 4.5 bar. The chain was replaced in March.\n\n"
               f"The lock code is {CANARY} and the spare key is in the drawer.\n",
    "recipes.txt": "Pancakes: two eggs, a cup of flour, a cup of milk, a pinch of salt.\n\n"
                   "Stir until smooth and rest for ten minutes before frying.\n",
    "travel.md": "# Travel\n\nThe train to the coast leaves at 8:15 from platform 3.\n\n"
                 "Pack the blue rain jacket and the charger.\n",
    "books.md": "# Books\n\nReading next: a history of maps, then the sailing novel.\n\n"
                "Return the library books by the 20th.\n",
    "work.txt": "The weekly meeting moved to Thursday at ten.\n\n"
                "Send the report draft to Ana before the meeting.\n",
}
FAST = ["--no-idle", "-t", "2", "--seq-len", "48", "--rank", "4", "--lr", "5e-3", "--warmup", "2"]


def edged(*args, timeout=120):
    return subprocess.run([str(EDGED), *map(str, args)], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return make_model(tmp_path_factory.mktemp("train-model") / "m.gguf",
                      "--n-embd", "64", "--n-layer", "2", "--ctx", "256")


@pytest.fixture
def notes(tmp_path):
    d = tmp_path / "notes"
    d.mkdir()
    for name, text in NOTES.items():
        (d / name).write_text(text)
    return d


def read_curves(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows and list(rows[0]) == ["step", "tokens", "elapsed_s", "train_loss", "heldout_loss"]
    return rows


def losses(rows):
    return [(r["step"], r["tokens"], r["train_loss"], r["heldout_loss"]) for r in rows]


def check_svg(path):
    doc = xml.dom.minidom.parse(str(path))
    svg = doc.documentElement
    assert svg.tagName == "svg"
    texts = [t.firstChild.data for t in doc.getElementsByTagName("text") if t.firstChild]
    assert "optimizer step" in texts and any("loss" in t for t in texts)
    assert len(doc.getElementsByTagName("polyline")) == 2


def files_holding(root, needle):
    """Every file under root whose raw bytes hold needle."""
    found = []
    for dirpath, _, names in os.walk(root):
        for name in names:
            path = os.path.join(dirpath, name)
            try:
                with open(path, "rb") as f:
                    if needle in f.read():
                        found.append(path)
            except OSError:
                pass
    return found


def test_trains_on_a_folder_and_the_adapter_runs(model, notes, tmp_path):
    out = tmp_path / "notes.gguf"
    r = edged("train", "-m", model, "--data", notes, "-o", out, "--max-steps", "12", "--eval-every", "4",
              "--patience", "0", *FAST)
    assert r.returncode == 0, r.stderr
    assert "held-out loss" in r.stderr and "max_steps after 12 steps" in r.stderr, r.stderr
    rows = read_curves(tmp_path / "notes.csv")
    assert [int(x["step"]) for x in rows] == list(range(1, 13))
    evaluated = [x for x in rows if x["heldout_loss"]]
    assert [int(x["step"]) for x in evaluated] == [4, 8, 12]
    assert float(rows[-1]["train_loss"]) < float(rows[0]["train_loss"])
    check_svg(tmp_path / "notes.svg")
    run = edged("run", "-m", model, "--lora", out, "-p", "The tomatoes", "-n", "4", "--temp", "0")
    assert run.returncode == 0, run.stderr
    assert "adapter" in run.stderr and "rank 4" in run.stderr, run.stderr


def test_trains_on_jsonl_with_chat_examples_at_idle_priority(model, tmp_path):
    data = tmp_path / "data.jsonl"
    lines = [{"title": "Garden", "text": NOTES["garden.md"]}, {"title": "Bike", "text": NOTES["bike.md"]},
             {"title": "Travel", "text": NOTES["travel.md"]}]
    lines += [{"messages": [{"role": "user", "content": f"When does the train leave? ({i})"},
                            {"role": "assistant", "content": "At 8:15 from platform 3."}]} for i in range(3)]
    data.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    r = edged("train", "-m", model, "--data", data, "-o", tmp_path / "chat.gguf", "--curves", tmp_path / "c",
              "--max-steps", "3", "-t", "2", "--seq-len", "48", "--rank", "2", "--name", "chat")
    assert r.returncode == 0, r.stderr
    assert len(read_curves(tmp_path / "c.csv")) == 3
    check_svg(tmp_path / "c.svg")
    assert (tmp_path / "chat.gguf").stat().st_size > 0


def train_args(model, notes, ckpt, curves):
    return [str(EDGED), "train", "-m", str(model), "--data", str(notes), "--checkpoint-dir", str(ckpt),
            "-o", str(curves) + ".gguf", "--max-steps", "60", "--eval-every", "5", "--patience", "0",
            "--checkpoint-every", "5", "--name", "resumable", *FAST]


def test_kill_9_then_resume_gives_the_same_losses(model, notes, tmp_path):
    full = subprocess.run(train_args(model, notes, tmp_path / "ck-full", tmp_path / "full"), capture_output=True,
                          text=True, timeout=120)
    assert full.returncode == 0, full.stderr

    ckpt_dir = tmp_path / "ck-killed"
    proc = subprocess.Popen(train_args(model, notes, ckpt_dir, tmp_path / "killed"), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    ckpt = ckpt_dir / "checkpoints" / "train-resumable"
    deadline = time.monotonic() + 60
    while not ckpt.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    assert ckpt.exists() and proc.poll() is None, "the run ended before its first checkpoint could be seen"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (tmp_path / "killed.csv").exists()

    resumed = subprocess.run(train_args(model, notes, ckpt_dir, tmp_path / "killed") + ["--resume"],
                             capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    step = int(resumed.stderr.split("resuming \"resumable\" at step ")[1].split()[0])
    assert step > 0 and step % 5 == 0 and step < 60, resumed.stderr
    a, b = read_curves(tmp_path / "full.csv"), read_curves(tmp_path / "killed.csv")
    assert len(a) == len(b) == 60
    assert losses(a) == losses(b)
    assert not ckpt.exists(), "a finished run leaves no checkpoint behind"
    # a checkpoint of other options is refused, naming what differs
    again = subprocess.Popen(train_args(model, notes, ckpt_dir, tmp_path / "other"), stderr=subprocess.PIPE)
    while not ckpt.exists() and again.poll() is None:
        time.sleep(0.002)
    again.send_signal(signal.SIGKILL)
    again.wait()
    other = subprocess.run(train_args(model, notes, ckpt_dir, tmp_path / "other") + ["--resume", "--lr", "1e-3"],
                           capture_output=True, text=True, timeout=60)
    assert other.returncode == 2 and "other options" in other.stderr, other.stderr


def ingest(d, collection, docs):
    body = json.dumps({"collection": collection, "documents": docs})
    with d.connect(30) as c:
        c.send(request_bytes("POST", "/v1/documents", [("Content-Type", "application/json")], body))
        r = c.read_response(30)
    assert r.status == 201, r
    return [x["id"] for x in json.loads(r.body)["documents"]]


def test_collection_trains_into_the_registry_and_no_plaintext_lands(daemon, model, tmp_path):
    d = daemon({"server.socket_mode": "0666", "rag.max_batch_documents": 8})
    docs = [{"title": name.split(".")[0], "text": text} for name, text in NOTES.items()]
    ids = ingest(d, "notes", docs)
    with d.connect(10) as c:
        c.send(request_bytes("PUT", "/v1/collections/empty", [("Content-Type", "application/json")], "{}"))
        c.read_response(10)
    assert d.stop() == 0
    state = d.state_dir
    assert not files_holding(state, CANARY.encode())

    out = tmp_path / "reg.gguf"
    proc = subprocess.Popen([str(EDGED), "train", "-m", str(model), "--state", str(state), "--collection", "notes",
                             "-o", str(out), "--name", "notes-style", "--max-steps", "40", "--eval-every", "5",
                             "--patience", "0", "--checkpoint-every", "1", *FAST],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen_checkpoint = False
    while proc.poll() is None:
        assert not files_holding(state, CANARY.encode())
        seen_checkpoint |= (state / "checkpoints" / "train-notes-style").exists()
    stdout, stderr = proc.communicate()
    assert proc.returncode == 0, stderr
    assert seen_checkpoint, "no checkpoint was seen while training"
    assert not files_holding(state, CANARY.encode())
    adapter_id = stdout.strip()
    db = sqlite3.connect(str(state / "edged.db"))
    try:
        row = db.execute("SELECT name, version, rank, source, status FROM adapters WHERE id = ?",
                         (adapter_id,)).fetchone()
        assert row == ("notes-style", 1, 4, "trained", "ready"), row
        lineage = {x[0] for x in db.execute("SELECT doc_id FROM lineage WHERE adapter_id = ?", (adapter_id,))}
    finally:
        db.close()
    assert lineage and lineage <= set(ids) and len(lineage) < len(ids), (lineage, ids)  # held-out ones excluded
    assert (state / "adapters" / adapter_id).exists()

    # the daemon lists it
    d2 = daemon({"state.directory": str(state), "server.socket_mode": "0666"})
    listed = d2.get_json("/v1/adapters")
    assert any(a["id"] == adapter_id for a in listed["data"]), listed

    r = edged("train", "-m", model, "--state", state, "--collection", "empty", "-o", tmp_path / "e.gguf", *FAST)
    assert r.returncode == 2 and "collection" in r.stderr, r.stderr
    r = edged("train", "-m", model, "--state", state, "--collection", "nope", "-o", tmp_path / "e.gguf", *FAST)
    assert r.returncode == 2 and "nope" in r.stderr, r.stderr


@pytest.fixture(scope="module")
def bert(tmp_path_factory):
    return make_bert(tmp_path_factory.mktemp("bert") / "bert.gguf", 64, 2, 128, 128)


@pytest.mark.parametrize("extra,needle", [
    (["--rank", "0"], "--rank"),
    (["--rank", "65"], "rank"),
    (["--budget", "0"], "--budget"),
    (["--budget", "10x"], "--budget"),
    (["--targets", "q,zz"], "--targets"),
    (["--augment", "fancy"], "--augment"),
])
def test_bad_options_name_the_option(model, notes, tmp_path, extra, needle):
    r = edged("train", "-m", model, "--data", notes, "-o", tmp_path / "x.gguf", "--no-idle", *extra)
    assert r.returncode == 2, r.stderr
    assert needle in r.stderr, r.stderr
    assert not (tmp_path / "x.gguf").exists()


def test_bad_data_and_bases_name_the_field(model, bert, notes, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"messages": [{"role": "user", "content": "hello?"}]}) + "\n")
    r = edged("train", "-m", model, "--data", bad, "-o", tmp_path / "x.gguf", "--no-idle")
    assert r.returncode == 2 and "assistant" in r.stderr and "bad.jsonl" in r.stderr, r.stderr

    empty = tmp_path / "empty"
    empty.mkdir()
    r = edged("train", "-m", model, "--data", empty, "-o", tmp_path / "x.gguf", "--no-idle")
    assert r.returncode == 2 and "--data" in r.stderr, r.stderr

    r = edged("train", "-m", bert, "--data", notes, "-o", tmp_path / "x.gguf", "--no-idle")
    assert r.returncode == 2, r.stderr
    assert "is an embedding model (bert); training needs a decoder" in r.stderr, r.stderr

    for args, needle in [([], "-m"), (["-m", model], "--data"), (["-m", model, "--data", notes], "-o"),
                         (["-m", model, "--collection", "x", "-o", "y.gguf"], "--state"),
                         (["-m", model, "--data", notes, "-o", "y.gguf", "--resume"], "--resume")]:
        r = edged("train", *args)
        assert r.returncode == 2 and needle in r.stderr, (args, r.stderr)


def test_help_lists_every_option_with_its_default():
    r = edged("train", "--help")
    assert r.returncode == 0
    for opt in ["-m", "--data", "--state", "--collection", "-o", "--name", "--rank", "--alpha", "--targets",
                "--seq-len", "--lr", "--warmup", "--grad-accum", "--max-steps", "--budget", "--eval-every",
                "--patience", "--heldout", "--seed", "--threads", "--augment", "--checkpoint-every",
                "--checkpoint-dir", "--resume", "--curves", "--no-idle"]:
        assert opt in r.stdout, opt
    assert "(default 8" in r.stdout and "(default 16)" in r.stdout and "600s" in r.stdout
