"""test_retrieval_quality.py - retrieval quality on the project's own corpus
(tests/data/notes: 210 short personal notes, 50 questions naming the note
that answers each): the notes go into one collection with the built-in hash
embedder; recall@5 is printed for hybrid, dense and lexical search, and
hybrid must reach 0.9.
"""
import json

from conftest import REPO, post_json

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
    assert recall["hybrid"] >= 0.9, (recall, misses.get("hybrid"))
