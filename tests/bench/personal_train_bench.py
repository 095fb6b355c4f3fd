#!/usr/bin/python3
"""tests/bench/personal_train_bench.py - what the dataset's augmentations do
for a LoRA trained by `edged train` on the shared personal notes
(../shared/testdata/personal/) over the real model (../shared/testdata/real/,
q8_0): for each augmentation set (plain; plain + qa; all four) the same
training budget (steps of grad_accum windows, a time cap), then the held-out
loss (the plain rendering of the held-out notes) and the share of the set's
questions answered correctly without retrieval (greedy, at most 32 new
tokens, the "none" prompt and the scoring of the set's README), by level,
next to the README's PyTorch reference (LoRA on the notes as plain text).

The held-out notes never train; their questions are counted in "all" (as
the reference, which held nothing out, counts them) and left out of
"trained" (questions whose support notes all trained). The split is
recomputed here as adapt/dataset.c makes it (documents from a file get ids
from 1 << 48 in `edged train`).

Windows are packed (several notes per window of --seq-len tokens, each its
own sequence: `edged train`'s default), so --grad-accum 2 at seq 256 is
about 16 notes a step, as the reference's 16. By default a bounded run for
`make bench` (about 4 minutes on 2 threads: plain and plain+qa, 40 steps
capped at 120 s each); --full runs the three sets for 300 steps capped at
600 s each (the reference's 300 steps of 16 notes); --compare-packing N
trains N steps with and without packing, alternated, and prints tokens/s
and tokens per CPU second of each. CPU seconds (getrusage of the children)
are printed beside wall time: the machine may be shared.

usage: BUILD=build /usr/bin/python3 tests/bench/personal_train_bench.py
       [--full] [--steps N] [--grad-accum N] [--budget S] [--seq-len N]
       [--threads N] [--configs LIST] [--heldout F] [--no-pack]
       [--compare-packing N] [--quick]
"""
import argparse
import csv
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import unicodedata

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = os.path.join(ROOT, "..", "shared", "testdata")
MODEL = os.path.join(SHARED, "real", "edged-tiny-26m-q8_0.gguf")
NOTES = os.path.join(SHARED, "personal", "notes.jsonl")
QUESTIONS = os.path.join(SHARED, "personal", "questions.jsonl")
FILE_DOC_ID_BASE = 1 << 48
LEVELS = ("easy", "medium", "hard")
REFERENCE = {"none": (0.0, 0.0, 0.0, 0.0), "LoRA (PyTorch, plain)": (22.5, 5.0, 0.0, 8.4),
             "RAG (PyTorch)": (62.5, 78.8, 2.9, 57.8)}
CONFIGS = {"plain": "plain", "plain+qa": "plain,qa", "all": "plain,no-title,shuffled,qa"}

M64 = (1 << 64) - 1


def mix64(x):
    x = (x + 0x9E3779B97F4A7C15) & M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & M64
    return x ^ (x >> 31)


def heldout_ids(n_docs, fraction, seed):
    """The documents adapt/dataset.c holds out (pick_heldout, key3)."""
    k = max(1, min(n_docs - 1, int(fraction * n_docs + 0.5)))
    what = 0x444F43
    keys = sorted((mix64(mix64(mix64(seed) ^ what) ^ ((FILE_DOC_ID_BASE + i) & M64)), i) for i in range(n_docs))
    return {i for _, i in keys[:k]}


def normalise(text):
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    return " " + re.sub(r"[^0-9a-z]+", " ", text).strip() + " "


def correct(question, output):
    out = normalise(output)
    return any(normalise(a) in out for a in [question["answer"]] + question.get("aliases", []))


def edged():
    return os.path.join(ROOT, os.environ.get("BUILD", "build"), "edged")


def answer(question, adapter, threads):
    prompt = "<|im_start|>user\n%s<|im_end|>\n<|im_start|>assistant\n" % question
    cmd = [edged(), "run", "-m", MODEL, "-p", prompt, "--temp", "0", "-n", "32", "-t", str(threads), "-c", "256"]
    if adapter:
        cmd += ["--lora", adapter]
    r = subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=120)
    if r.returncode != 0:
        sys.exit("personal_train_bench: edged run failed (exit %d) on %r: %s" %
                 (r.returncode, question, r.stderr.strip()[-400:]))
    return r.stdout


def evaluate(questions, adapter, threads, trained_notes):
    hits = {lv: [0, 0] for lv in LEVELS + ("all", "trained")}
    for q in questions:
        ok = correct(q, answer(q["question"], adapter, threads))
        for key in (q["level"], "all"):
            hits[key][0] += ok
            hits[key][1] += 1
        if all(s in trained_notes for s in q["support"]):
            hits["trained"][0] += ok
            hits["trained"][1] += 1
    return {k: (100.0 * h / n if n else 0.0, n) for k, (h, n) in hits.items()}


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def train(work, name, augment, a, pack=True, steps=None, eval_every=None):
    """adapter, [(step, held-out loss)], wall s, CPU s, trained tokens, training s (the CSV's), stderr"""
    adapter = os.path.join(work, name + ".gguf")
    cmd = [edged(), "train", "-m", MODEL, "--data", NOTES, "--augment", augment, "--rank", "8", "--alpha", "16",
           "--targets", "q,k,v,o,gate,up,down", "--lr", str(a.lr), "--seq-len", str(a.seq_len),
           "--grad-accum", str(a.grad_accum), "--max-steps", str(steps or a.steps), "--budget", str(a.budget),
           "--eval-every", str(eval_every or a.eval_every), "--patience", "0", "--heldout", str(a.heldout),
           "--seed", str(a.seed), "-t", str(a.threads), "--no-idle", "--checkpoint-every", "0", "-o", adapter]
    if not pack:
        cmd.append("--no-pack")
    start, cpu = time.time(), children_cpu()
    r = subprocess.run(cmd, capture_output=True, text=True, errors="replace")
    seconds, cpu = time.time() - start, children_cpu() - cpu
    if r.returncode != 0:
        sys.exit("personal_train_bench: edged train (%s) failed:\n%s" % (name, r.stderr.strip()[-2000:]))
    rows = list(csv.DictReader(open(os.path.join(work, name + ".csv"))))
    held = [(int(row["step"]), float(row["heldout_loss"])) for row in rows
            if row.get("heldout_loss") not in (None, "", "nan", "NaN")]
    tokens = int(rows[-1]["tokens"]) if rows else 0
    train_s = float(rows[-1]["elapsed_s"]) if rows else 0.0
    return adapter, held, seconds, cpu, tokens, train_s, r.stderr


def compare_packing(work, a):
    """Training throughput on the notes with and without packing, alternated."""
    print("| windows | round | steps | tokens | training s | tokens/s | wall s | CPU s | tokens per CPU s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for rnd in range(2):
        for pack in (False, True):
            _, _, wall, cpu, tokens, train_s, _ = train(work, "cmp", "plain", a, pack, a.compare_packing, 1 << 20)
            print("| %s | %d | %d | %d | %.1f | %.0f | %.1f | %.1f | %.0f |" %
                  ("packed" if pack else "one note each", rnd + 1, a.compare_packing, tokens, train_s,
                   tokens / train_s if train_s else 0, wall, cpu, tokens / cpu if cpu else 0), flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--full", action="store_true", help="the three sets, 300 steps capped at 600 s each")
    p.add_argument("--steps", type=int, default=None, help="40 (--full: 300)")
    p.add_argument("--grad-accum", type=int, default=2)
    p.add_argument("--budget", type=float, default=None, help="seconds per set: 120 (--full: 600)")
    p.add_argument("--seq-len", type=int, default=256)
    p.add_argument("--eval-every", type=int, default=None, help="10 (--full: 25)")
    p.add_argument("--no-pack", action="store_true", help="one note per window")
    p.add_argument("--compare-packing", type=int, default=0, metavar="N",
                   help="only compare training throughput with and without packing over N steps")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--heldout", type=float, default=0.05)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--configs", default=None, help="plain,plain+qa (--full: plain,plain+qa,all)")
    p.add_argument("--baseline", action="store_true", help="also score the base model alone")
    p.add_argument("--quick", action="store_true", help="a short run: plain only, 10 steps")
    a = p.parse_args()
    if a.quick:  # EDGED_BENCH_QUICK: one set, 10 steps
        a.steps, a.budget, a.eval_every, a.configs = a.steps or 10, a.budget or 60, a.eval_every or 5, a.configs or "plain"
    a.steps = a.steps or (300 if a.full else 40)
    a.budget = a.budget or (600 if a.full else 120)
    a.eval_every = a.eval_every or (25 if a.full else 10)
    a.configs = a.configs or ("plain,plain+qa,all" if a.full else "plain,plain+qa")
    for path in (MODEL, NOTES, QUESTIONS, edged()):
        if not os.path.exists(path):
            sys.exit("personal_train_bench: %s is missing" % path)
    notes = [json.loads(line) for line in open(NOTES) if line.strip()]
    questions = [json.loads(line) for line in open(QUESTIONS) if line.strip()]
    held = heldout_ids(len(notes), a.heldout, a.seed)
    trained_notes = {n["id"] for i, n in enumerate(notes) if i not in held}
    work = tempfile.mkdtemp(prefix="edged-personal-bench-")
    if a.compare_packing:
        print("# personal_train_bench: training throughput on %d notes, plain, seq %d, %d windows a step, "
              "%d threads" % (len(notes), a.seq_len, a.grad_accum, a.threads))
        try:
            compare_packing(work, a)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return
    print("# personal_train_bench: %d notes (%d held out), %d questions; %d steps of %d %swindows of %d tokens, "
          "budget %gs, %d threads, rank 8 alpha 16 on q,k,v,o,gate,up,down, lr %g cosine" %
          (len(notes), len(held), len(questions), a.steps, a.grad_accum, "" if a.no_pack else "packed ",
           a.seq_len, a.budget, a.threads, a.lr))
    results = []
    try:
        if a.baseline:
            results.append(("no adapter", None, evaluate(questions, None, a.threads, trained_notes), 0, 0, 0, 0))
        for name in a.configs.split(","):
            adapter, heldl, seconds, cpu, tokens, train_s, log = train(work, name, CONFIGS[name], a, not a.no_pack)
            steps = heldl[-1][0] if heldl else 0
            scores = evaluate(questions, adapter, a.threads, trained_notes)
            results.append((name, heldl, scores, seconds, cpu, tokens, train_s))
            print("# %s: %d steps, trained in %.0f s wall, %.0f CPU s (%d tokens, %.0f tokens/s); held-out loss %s" %
                  (name, steps, seconds, cpu, tokens, tokens / train_s if train_s else 0,
                   " ".join("%d:%.3f" % h for h in heldl)), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("| strategy | held-out loss (first -> best) | train s (CPU s) | tokens/s | easy (40) | medium (80) "
          "| hard (34) | all (154) | trained-support |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, heldl, s, seconds, cpu, tokens, train_s in results:
        loss = "%.3f -> %.3f" % (heldl[0][1], min(h for _, h in heldl)) if heldl else "-"
        label = name if heldl is None else "LoRA, " + name
        print("| edged %s | %s | %.0f (%.0f) | %.0f | %.1f%% | %.1f%% | %.1f%% | %.1f%% | %.1f%% (%d) |" %
              (label, loss, seconds, cpu, tokens / train_s if train_s else 0, s["easy"][0], s["medium"][0],
               s["hard"][0], s["all"][0], s["trained"][0], s["trained"][1]))
    for name, (e, m, h, al) in REFERENCE.items():
        print("| reference: %s | | | | %.1f%% | %.1f%% | %.1f%% | %.1f%% | |" % (name, e, m, h, al))


if __name__ == "__main__":
    main()
