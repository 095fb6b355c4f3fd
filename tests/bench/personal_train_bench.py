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

usage: BUILD=build /usr/bin/python3 tests/bench/personal_train_bench.py
       [--steps N] [--grad-accum N] [--budget S] [--threads N] [--configs LIST]
       [--heldout F] [--quick]
"""
import argparse
import csv
import json
import os
import re
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
        sys.exit("personal_train_bench: edged run failed: %s" % r.stderr.strip()[-400:])
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


def train(work, name, augment, a):
    adapter = os.path.join(work, name + ".gguf")
    cmd = [edged(), "train", "-m", MODEL, "--data", NOTES, "--augment", augment, "--rank", "8", "--alpha", "16",
           "--targets", "q,k,v,o,gate,up,down", "--lr", str(a.lr), "--seq-len", "128",
           "--grad-accum", str(a.grad_accum), "--max-steps", str(a.steps), "--budget", str(a.budget),
           "--eval-every", str(a.eval_every), "--patience", "0", "--heldout", str(a.heldout), "--seed", str(a.seed),
           "-t", str(a.threads), "--no-idle", "--checkpoint-every", "0", "-o", adapter]
    start = time.time()
    r = subprocess.run(cmd, capture_output=True, text=True, errors="replace")
    seconds = time.time() - start
    if r.returncode != 0:
        sys.exit("personal_train_bench: edged train (%s) failed:\n%s" % (name, r.stderr.strip()[-2000:]))
    rows = list(csv.DictReader(open(os.path.join(work, name + ".csv"))))
    held = [(int(row["step"]), float(row["heldout_loss"])) for row in rows
            if row.get("heldout_loss") not in (None, "", "nan", "NaN")]
    tokens = int(rows[-1]["tokens"]) if rows else 0
    return adapter, held, seconds, tokens, r.stderr


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--grad-accum", type=int, default=16)
    p.add_argument("--budget", type=float, default=600)
    p.add_argument("--eval-every", type=int, default=25)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--heldout", type=float, default=0.05)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--configs", default="plain,plain+qa,all")
    p.add_argument("--baseline", action="store_true", help="also score the base model alone")
    p.add_argument("--quick", action="store_true", help="a short budget: 40 steps of 8 windows")
    a = p.parse_args()
    if a.quick:
        a.steps, a.grad_accum, a.eval_every = 40, 8, 10
    for path in (MODEL, NOTES, QUESTIONS, edged()):
        if not os.path.exists(path):
            sys.exit("personal_train_bench: %s is missing" % path)
    notes = [json.loads(line) for line in open(NOTES) if line.strip()]
    questions = [json.loads(line) for line in open(QUESTIONS) if line.strip()]
    held = heldout_ids(len(notes), a.heldout, a.seed)
    trained_notes = {n["id"] for i, n in enumerate(notes) if i not in held}
    print("# personal_train_bench: %d notes (%d held out), %d questions; %d steps of %d windows, budget %gs, "
          "%d threads, rank 8 alpha 16 on q,k,v,o,gate,up,down, lr %g" %
          (len(notes), len(held), len(questions), a.steps, a.grad_accum, a.budget, a.threads, a.lr))
    work = tempfile.mkdtemp(prefix="edged-personal-bench-")
    results = []
    try:
        if a.baseline:
            results.append(("no adapter", None, evaluate(questions, None, a.threads, trained_notes), 0, 0))
        for name in a.configs.split(","):
            adapter, heldl, seconds, tokens, log = train(work, name, CONFIGS[name], a)
            scores = evaluate(questions, adapter, a.threads, trained_notes)
            results.append((name, heldl, scores, seconds, tokens))
            print("# %s: trained in %.0fs (%d tokens); held-out loss %s" %
                  (name, seconds, tokens, " ".join("%d:%.3f" % h for h in heldl)), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("| strategy | held-out loss (first -> best) | train s | easy (40) | medium (80) | hard (34) | all (154) "
          "| trained-support |")
    print("|---|---|---|---|---|---|---|---|")
    for name, heldl, s, seconds, tokens in results:
        loss = "%.3f -> %.3f" % (heldl[0][1], min(h for _, h in heldl)) if heldl else "-"
        label = name if heldl is None else "LoRA, " + name
        print("| edged %s | %s | %.0f | %.1f%% | %.1f%% | %.1f%% | %.1f%% | %.1f%% (%d) |" %
              (label, loss, seconds, s["easy"][0], s["medium"][0], s["hard"][0], s["all"][0], s["trained"][0],
               s["trained"][1]))
    for name, (e, m, h, al) in REFERENCE.items():
        print("| reference: %s | | | %.1f%% | %.1f%% | %.1f%% | %.1f%% | |" % (name, e, m, h, al))


if __name__ == "__main__":
    main()
