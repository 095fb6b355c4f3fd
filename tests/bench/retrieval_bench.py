#!/usr/bin/python3
"""tests/bench/retrieval_bench.py - `make bench`: retrieval quality on the
personal-facts DEV set (../shared/testdata/personal: 187 notes, 154
questions). The notes go into one collection of a real daemon (temporary
socket and state, built-in hash embedder); every question is asked through
POST /v1/search in each mode, and a question counts as found at k when the
top k hold its evidence (any support note for easy and medium, every support
note for hard), as the set's README counts it.

Prints top-1/3/5 evidence recall per level and mode beside the reference
(plain BM25 over title + text, top 3, from the set's README and issue 21).
Then, when ../shared/testdata/real holds the model (edged-tiny-26m, F16)
and EDGED_BENCH_QUICK is not set, answer accuracy end to end: every question
through POST /v1/chat/completions, greedy, at most 32 new tokens, without
notes (none) and with `rag` (top_k 3), scored as the set's README scores
(normalised gold answer or alias as a whole-word substring), beside the
README's PyTorch reference.
tests/integration/test_retrieval_quality.py imports measure() from here.
Usage: retrieval_bench.py [--misses MODE]  (also lists the top-3 misses)."""

import http.client
import json
import os
import socket
import subprocess
import sys
import re
import tempfile
import time
import unicodedata
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BUILD = os.environ.get("BUILD", "build")
PERSONAL = REPO.parent / "shared" / "testdata" / "personal"
MODEL = REPO.parent / "shared" / "testdata" / "real" / "edged-tiny-26m-f16.gguf"
QUICK = os.environ.get("EDGED_BENCH_QUICK", "0") not in ("", "0")
LEVELS = ("easy", "medium", "hard")
MODES = ("lexical", "dense", "hybrid")
KS = (1, 3, 5)
COLLECTION = "personal"
# Top-3 evidence recall before issue 21 (edged at 15be996) and of the
# reference retriever: plain BM25, k1 1.2, b 0.75, title + text, stop words
# removed (the set's README; the counts are the table).
BEFORE_TOP3 = {"lexical": (36, 46, 2), "dense": (40, 73, 2), "hybrid": (37, 53, 3)}
REFERENCE_TOP3 = (40, 79, 3)
# Answer accuracy of the PyTorch reference (the set's README), per level.
REFERENCE_ANSWERS = {"none": (0.0, 0.0, 0.0, 0.0), "rag": (62.5, 78.8, 2.9, 57.8)}


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=120):
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


def socket_post(sock):
    """A post(path, body) -> (status, parsed JSON) over the daemon's socket."""
    def post(path, body):
        conn = UnixConnection(sock)
        conn.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        return resp.status, json.loads(data) if data else None
    return post


def load(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def ingest(post, notes, collection=COLLECTION):
    """Adds the notes as documents; returns {document_id: note id}."""
    note_of = {}
    for start in range(0, len(notes), 100):
        batch = notes[start:start + 100]
        status, body = post("/v1/documents", {"collection": collection, "documents": [
            {"title": n["title"], "text": n["text"]} for n in batch]})
        if status != 201:
            raise RuntimeError(f"/v1/documents: HTTP {status}: {body}")
        for n, out in zip(batch, body["documents"]):
            note_of[out["id"]] = n["id"]
    return note_of


def found_at(ranked, support, level, k):
    top = set(ranked[:k])
    return all(s in top for s in support) if level == "hard" else any(s in top for s in support)


def measure(post, notes, questions, modes=MODES, collection=COLLECTION):
    """Ingests notes and asks every question in every mode with top_k 5.
    Returns ({mode: {level: {k: found}}}, {level: n}, {mode: [top-3 misses]})."""
    note_of = ingest(post, notes, collection)
    totals = {level: sum(q["level"] == level for q in questions) for level in LEVELS}
    found = {m: {level: {k: 0 for k in KS} for level in LEVELS} for m in modes}
    misses = {m: [] for m in modes}
    for mode in modes:
        for q in questions:
            status, body = post("/v1/search", {"query": q["question"], "collections": [collection],
                                               "top_k": max(KS), "mode": mode})
            if status != 200:
                raise RuntimeError(f"/v1/search {q['id']} ({mode}): HTTP {status}: {body}")
            ranked = []
            for hit in body["data"]:
                note = note_of[hit["document_id"]]
                if note not in ranked:
                    ranked.append(note)
            for k in KS:
                found[mode][q["level"]][k] += found_at(ranked, q["support"], q["level"], k)
            if not found_at(ranked, q["support"], q["level"], 3):
                misses[mode].append((q["id"], q["level"], q["question"], q["support"], ranked[:3]))
    return found, totals, misses


def normalise(text):
    """The set's README: NFKD, combining marks dropped, lower case, runs of
    other than 0-9a-z as one space, one space at both ends."""
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)).lower()
    return " " + re.sub(r"[^0-9a-z]+", " ", text).strip() + " "


def correct(output, q):
    out = normalise(output)
    return any(normalise(a) in out for a in [q["answer"]] + q["aliases"] if normalise(a).strip())


def answer_accuracy(post, questions, collection=COLLECTION):
    """{arm: {level: correct}} for arms none and rag (the notes already in)."""
    right = {arm: {level: 0 for level in LEVELS} for arm in ("none", "rag")}
    for arm in right:
        for q in questions:
            body = {"messages": [{"role": "user", "content": q["question"]}], "max_tokens": 32,
                    "temperature": 0}
            if arm == "rag":
                body["rag"] = {"collections": [collection], "top_k": 3}
            status, resp = post("/v1/chat/completions", body)
            if status != 200:
                raise RuntimeError(f"chat {q['id']} ({arm}): HTTP {status}: {resp}")
            right[arm][q["level"]] += correct(resp["choices"][0]["message"]["content"] or "", q)
    return right


def print_answers(right, totals):
    n = sum(totals.values())
    print(f"answer accuracy, {MODEL.name} through POST /v1/chat/completions (greedy, 32 tokens, rag top_k 3)")
    print(f"{'arm':<6}" + "".join(f"{level + f' ({totals[level]})':>14}" for level in LEVELS) + f"{f'all ({n})':>12}"
          + "   reference easy/medium/hard/all")
    for arm, by_level in right.items():
        cells = "".join(f"{100 * by_level[level] / totals[level]:>13.1f}%" for level in LEVELS)
        ref = "/".join(f"{v:.1f}" for v in REFERENCE_ANSWERS[arm])
        print(f"{arm:<6}{cells}{100 * sum(by_level.values()) / n:>11.1f}%   {ref}")


def start_daemon(tmp, model=None):
    sock = os.path.join(tmp, "edged.sock")
    conf = os.path.join(tmp, "edged.conf")
    os.makedirs(f"{tmp}/state", exist_ok=True)
    with open(conf, "w") as f:
        f.write(f"[server]\nsocket = {sock}\n[log]\naccess_log = false\nlevel = error\n"
                f"[state]\ndirectory = {tmp}/state\n[rag]\nembedder = hash\n"
                f"[access]\ningest = *\ninfer = *\n")
        if model:
            f.write(f"[model]\npath = {model}\ncontext = 1024\n")
    daemon = subprocess.Popen([f"{BUILD}/edged", "--config", conf], stdin=subprocess.DEVNULL)
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            conn = UnixConnection(sock, timeout=2)
            conn.request("GET", "/health")
            if conn.getresponse().status == 200:
                return daemon, sock
        except OSError:
            pass
        if daemon.poll() is not None:
            break
        time.sleep(0.1)
    daemon.kill()
    raise RuntimeError("the daemon did not become ready")


def print_table(found, totals):
    n = sum(totals.values())
    print(f"evidence recall on the personal DEV set ({n} questions), POST /v1/search, embedder hash-v1-384")
    print(f"{'mode':<9}{'level':<8}{'top-1':>8}{'top-3':>8}{'top-5':>8}   {'top-3 before':>12}  {'BM25 ref top-3':>14}")
    for mode in found:
        for i, level in enumerate(LEVELS):
            t = totals[level]
            cells = "".join(f"{found[mode][level][k]:>4}/{t:<3}" for k in KS)
            before = f"{BEFORE_TOP3[mode][i]}/{t}" if mode in BEFORE_TOP3 else "-"
            print(f"{mode:<9}{level:<8}{cells}   {before:>12}  {f'{REFERENCE_TOP3[i]}/{t}':>14}")


def main():
    if not (PERSONAL / "notes.jsonl").exists():
        print(f"retrieval_bench: {PERSONAL} is missing; skipped")
        return 0
    show_misses = sys.argv[2] if len(sys.argv) > 2 and sys.argv[1] == "--misses" else None
    notes, questions = load(PERSONAL / "notes.jsonl"), load(PERSONAL / "questions.jsonl")
    model = MODEL if MODEL.exists() and not QUICK else None
    with tempfile.TemporaryDirectory(prefix="edged-retrieval-", dir="/tmp") as tmp:
        daemon, sock = start_daemon(tmp, model)
        try:
            found, totals, misses = measure(socket_post(sock), notes, questions)
            print_table(found, totals)
            if model:
                print()
                print_answers(answer_accuracy(socket_post(sock), questions), totals)
        finally:
            daemon.terminate()
            daemon.wait(30)
    if show_misses:
        for miss in misses[show_misses]:
            print(" ", *miss)
    return 0


if __name__ == "__main__":
    sys.exit(main())
