"""test_retrieval_quality.py - retrieval quality through POST /v1/search
with the built-in hash embedder, with thresholds a little below the figures
measured when they were set (issue 21), so that a regression fails:
  - the project's own corpus (tests/data/notes: 210 short personal notes, 50
    questions naming the note that answers each): recall@5 per mode;
  - the personal-facts DEV set (../shared/testdata/personal, measured by
    tests/bench/retrieval_bench.py; skipped where the set is absent): top-3
    evidence recall per level and mode;
  - queries that FTS5's syntax would misread, and queries without a content
    word, answer 200 (or 400 naming `query` when empty), never 500.
"""
import json
import sys

import pytest

from conftest import REPO, assert_error, post_json

sys.path.insert(0, str(REPO / "tests" / "bench"))
import retrieval_bench  # noqa: E402

NOTES = REPO / "tests" / "data" / "notes"
TOP_K = 5


def load(name):
    with open(NOTES / name, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def test_recall_at_5(daemon):
    d = daemon({"rag.embedder": "hash"})
    notes = load("notes.jsonl")
    questions = load("questions.jsonl")
    assert len(notes) >= 200 and len(questions) == 50
    title_of = {}
    for start in range(0, len(notes), 100):
        batch = notes[start:start + 100]
        r = post_json(d, "/v1/documents", {"collection": "notes", "documents": [
            {"title": n["title"], "text": n["text"]} for n in batch]}, timeout=120)
        assert r.status == 201, r
        for n, out in zip(batch, r.json["documents"]):
            title_of[out["id"]] = n["title"]
    recall = {}
    misses = {}
    for mode in ("hybrid", "dense", "lexical"):
        found = 0
        for q in questions:
            r = post_json(d, "/v1/search", {"query": q["question"], "collections": ["notes"], "top_k": TOP_K,
                                            "mode": mode})
            assert r.status == 200, r
            titles = [title_of[h["document_id"]] for h in r.json["data"]]
            assert len(titles) <= TOP_K
            if q["title"] in titles:
                found += 1
            else:
                misses.setdefault(mode, []).append(q["question"])
        recall[mode] = found / len(questions)
    print()
    print(f"recall@{TOP_K} over {len(questions)} questions, {len(notes)} notes, embedder hash-v1-384:")
    for mode, value in recall.items():
        print(f"  {mode:8s} {value:.2f}")
    print(f"  hybrid misses: {misses.get('hybrid', [])}")
    # measured: hybrid 0.96, dense 0.94, lexical 0.96 (before issue 21: 0.94, 0.94, 0.86)
    assert recall["hybrid"] >= 0.94, (recall, misses.get("hybrid"))
    assert recall["lexical"] >= 0.94, (recall, misses.get("lexical"))
    assert recall["dense"] >= 0.92, (recall, misses.get("dense"))


# Top-3 evidence recall (easy of 40, medium of 80, hard of 34) at least; measured
# when set: lexical 40/79/3, dense 40/73/2, hybrid 40/79/11 (plain BM25, the
# set's reference retriever: 40/79/3; edged before issue 21: 36/46/2, 40/73/2, 37/53/3).
PERSONAL_TOP3_MIN = {"lexical": (39, 77, 2), "dense": (39, 71, 1), "hybrid": (39, 77, 9)}


def test_personal_set_evidence_recall(daemon):
    if not (retrieval_bench.PERSONAL / "notes.jsonl").exists():
        pytest.skip(f"{retrieval_bench.PERSONAL} is absent")
    d = daemon({"rag.embedder": "hash"})

    def post(path, body):
        r = post_json(d, path, body, timeout=120)
        return r.status, r.json

    notes = retrieval_bench.load(retrieval_bench.PERSONAL / "notes.jsonl")
    questions = retrieval_bench.load(retrieval_bench.PERSONAL / "questions.jsonl")
    found, totals, misses = retrieval_bench.measure(post, notes, questions)
    print()
    retrieval_bench.print_table(found, totals)
    for mode, minimum in PERSONAL_TOP3_MIN.items():
        got = tuple(found[mode][level][3] for level in retrieval_bench.LEVELS)
        assert all(g >= m for g, m in zip(got, minimum)), (mode, got, minimum, misses[mode][:10])


NASTY_QUERIES = [
    '"', '"unterminated', "*", "ban*", "NEAR(banana bread)", "NEAR(", "-banana", "title:banana", ":",
    "banana AND OR NOT", "^banana", "(((", "{banana}", "a\"b\"c", "body:milk OR", "banana NOT bread",
    "\u2014 \u201cbanana\u201d \u2019s", "milk\u00e9", "+ - / ' ; \\", "x" * 200, "banana " * 300,
    'Who said "NEAR(x", and where is the Banana* bread?', "Milk: who buys it, and when? " * 40,
]
STOP_WORD_QUERIES = ["who am I with?", "What is it?", "   ?!  ", "the of and", "---", "Who is it? And what was that?"]


def test_query_syntax_and_stop_words_never_fail(daemon):
    d = daemon({"rag.embedder": "hash"})
    r = post_json(d, "/v1/documents", {"collection": "notes", "documents": [
        {"title": "Banana bread", "text": "Banana bread recipe: three ripe bananas, flour, milk."},
        {"title": "Groceries", "text": "Buy milk, eggs and coffee on the way home."}]})
    assert r.status == 201, r
    for mode in ("hybrid", "dense", "lexical"):
        for query in NASTY_QUERIES + STOP_WORD_QUERIES:
            r = post_json(d, "/v1/search", {"query": query, "collections": ["notes"], "top_k": 3, "mode": mode})
            assert r.status == 200, (mode, query, r)
            assert r.json["mode"] == mode
        for query in STOP_WORD_QUERIES:  # nothing to match: no lexical hits
            r = post_json(d, "/v1/search", {"query": query, "collections": ["notes"], "mode": "lexical"})
            assert r.status == 200 and r.json["data"] == [], (query, r)
        r = post_json(d, "/v1/search", {"query": "", "collections": ["notes"], "mode": mode})
        assert assert_error(r, 400, "invalid_value").get("param") == "query", r
    # the words inside the syntax still count
    r = post_json(d, "/v1/search", {"query": 'NEAR("banana', "collections": ["notes"], "mode": "lexical"})
    assert r.status == 200 and r.json["data"] and r.json["data"][0]["title"] == "Banana bread", r
    r = post_json(d, "/v1/search", {"query": "Who sells milk?", "collections": ["notes"], "mode": "lexical"})
    assert r.status == 200 and len(r.json["data"]) == 2, r
