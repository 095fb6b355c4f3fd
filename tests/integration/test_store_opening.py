"""test_store_opening.py - the personal store opens on its worker, after
edged serves. A collection recorded by the hash embedder and opened with a
BERT model embedder is re-embedded at start, which takes seconds here and
hours for a large store on a Pi; meanwhile /health answers 503 "starting"
with the store's progress, the store's endpoints answer 503 store_opening
with Retry-After, the rest of the API serves, and the progress is logged.
SIGTERM stops the re-embedding at once; what it did is kept (sealed) and the
next start resumes from there, as it does after kill -9 (losing at most the
chunks since the last keep); once recorded, the kept copies are gone.
"""
import random
import re
import signal
import sqlite3
import time

import pytest

from conftest import make_bert, write_config
from test_store_durability import call, metric, search_ids

N_DOCS = 200  # chunks to re-embed: about 3 s with the model below on one core
WORDS = ("the plumber comes on tuesday at nine while grandma's lemon cake needs three eggs "
         "and the passport renewal form waits in the blue folder by the door").split()


@pytest.fixture(scope="module")
def bert(tmp_path_factory):
    """A random BERT embedder slow enough (256 wide, 4 layers) to watch."""
    return make_bert(tmp_path_factory.mktemp("bert") / "bert.gguf", n_embd=256, n_layer=4, n_ff=1024, ctx=512)


def hash_store(daemon, bert):
    """A daemon whose store holds N_DOCS one-chunk documents of the hash
    embedder, stopped and reconfigured to embed with `bert`."""
    d = daemon()
    rng = random.Random(7)
    docs = [{"title": f"d{i}", "text": " ".join(rng.choice(WORDS) for _ in range(120))} for i in range(N_DOCS)]
    docs[42]["text"] = "The cellar key hangs behind the calendar in the kitchen."
    r = call(d, "POST", "/v1/documents", {"collection": "notes", "documents": docs})
    assert r.status == 201, r
    d.key_doc = r.json["documents"][42]["id"]
    assert d.stop() == 0
    d.options.update({"rag.embedder": "model", "rag.embedding_model": str(bert)})
    write_config(d.config_path, d.options)
    return d


def db_value(d, sql):
    db = sqlite3.connect(f"file:{d.state_dir}/edged.db?mode=ro", uri=True)
    try:
        return db.execute(sql).fetchone()[0]
    finally:
        db.close()


def recorded_embedder(d):
    return db_value(d, "SELECT embedder FROM collections WHERE name = 'notes'")


def wait_reembedding(d, timeout=30.0):
    """Waits until /health reports the re-embedding under way; returns the body."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            r = call(d, "GET", "/health", timeout=5)
        except OSError:
            time.sleep(0.02)  # not listening yet
            continue
        if r.status == 503 and "re-embedding" in r.json.get("store", {}).get("reason", ""):
            return r
        assert r.status == 503, f"the store opened before the re-embedding was seen: {r!r}"
        time.sleep(0.02)
    raise AssertionError(f"no re-embedding progress within {timeout} s:\n{d.stderr()}")


def test_the_api_serves_while_the_store_reembeds(daemon, bert):
    d = hash_store(daemon, bert)
    d.start(wait=False)
    health = wait_reembedding(d)
    assert health.json["status"] == "starting"
    assert health.json["store"]["state"] == "opening"
    assert health.header("Retry-After") == "1"
    assert "the personal store is opening: re-embedding collection \"notes\"" in health.json["reason"]
    assert f"of {N_DOCS} chunks" in health.json["reason"]

    # the loop thread answers at once: the work is on the store's worker
    for method, target, body, template in [("GET", "/v1/documents", b"", None),
                                           ("POST", "/v1/search", {"query": "cellar key"}, None),
                                           ("POST", "/v1/embeddings", {"model": "model:bert.gguf", "input": "key"},
                                            None),
                                           ("GET", "/v1/documents/1", b"", "/v1/documents/{id}")]:
        t0 = time.monotonic()
        r = call(d, method, target, body, template=template)
        assert time.monotonic() - t0 < 1.0
        assert r.status == 503, r
        assert r.json["error"]["code"] == "store_opening", r
        assert r.header("Retry-After") == "1"
        assert "re-embedding collection \"notes\"" in r.json["error"]["message"]
    assert call(d, "GET", "/v1/version").status == 200
    assert metric(d, "edged_rag_opening") == 1
    assert 0 < metric(d, "edged_rag_reembed_chunks_done") < metric(d, "edged_rag_reembed_chunks_total") == N_DOCS

    d.wait_ready(timeout=120)
    ok = call(d, "GET", "/health")
    assert ok.json["store"] == {"state": "open"}
    assert metric(d, "edged_rag_opening") == 0
    assert metric(d, "edged_rag_reembed_chunks_done") == metric(d, "edged_rag_reembed_chunks_total") == N_DOCS
    d.wait_log(rf'collection "notes": re-embedded {N_DOCS} of {N_DOCS} chunks \(100%\)', timeout=5)
    d.wait_log(r"rag: store .* open in [0-9.]+ s: 1 collections, 200 documents", timeout=5)
    assert recorded_embedder(d) == "model:bert.gguf"
    assert d.key_doc in search_ids(d, "cellar key calendar kitchen", mode="hybrid")


def kept_rows(d):
    return db_value(d, "SELECT count(*) FROM reembedded")


def test_sigterm_stops_the_reembedding_and_the_next_start_resumes_it(daemon, bert):
    d = hash_store(daemon, bert)
    d.start(wait=False)
    wait_reembedding(d)
    t0 = time.monotonic()
    assert d.stop(signal.SIGTERM, timeout=10) == 0
    assert time.monotonic() - t0 < 2.0, "the re-embedding was not stopped"
    m = d.wait_log(r"the re-embedding stopped at chunk (\d+) of (\d+)", timeout=1)
    stopped = int(m.group(1))
    assert 0 < stopped < int(m.group(2)) == N_DOCS
    assert "store's endpoints answer 503" not in d.stderr()  # a stop is not a failure
    assert recorded_embedder(d) == "hash-v1-384"  # the collection is still the hash embedder's
    assert kept_rows(d) == stopped  # but the work done is kept, sealed

    d.start(wait=False)
    d.wait_ready(timeout=120)  # /health 200: the store is open
    assert d.stderr().count(f"re-embedding its {N_DOCS} chunks") == 2
    d.wait_log(rf'collection "notes": resuming: {stopped} of {N_DOCS} chunks were re-embedded before', timeout=1)
    assert recorded_embedder(d) == "model:bert.gguf"
    assert kept_rows(d) == 0  # recorded with the collection: the kept copies are gone
    assert d.key_doc in search_ids(d, "cellar key calendar kitchen", mode="hybrid")


def test_kill_9_during_the_reembedding_loses_at_most_one_keep(daemon, bert):
    """Vectors are kept every 64 chunks; a kill -9 after the progress passed
    70 leaves at least the first 64 for the next start."""
    d = hash_store(daemon, bert)
    d.start(wait=False)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        r = wait_reembedding(d)
        m = re.search(r": (\d+) of \d+ chunks", r.json["store"]["reason"])
        if m and int(m.group(1)) >= 70:
            break
        time.sleep(0.02)
    else:
        raise AssertionError("the re-embedding did not pass 70 chunks")
    d.proc.kill()
    d.proc.wait()
    kept = kept_rows(d)
    assert kept >= 64 and kept % 64 == 0, kept
    assert recorded_embedder(d) == "hash-v1-384"
    d.start(wait=False)
    d.wait_ready(timeout=120)
    d.wait_log(rf"resuming: {kept} of {N_DOCS} chunks were re-embedded before", timeout=1)
    assert recorded_embedder(d) == "model:bert.gguf" and kept_rows(d) == 0
    assert d.key_doc in search_ids(d, "cellar key calendar kitchen", mode="hybrid")


def test_a_store_that_cannot_open_leaves_the_rest_serving(daemon, tmp_path):
    """An embedder that does not load: the store fails on its worker, /health
    is 200 with the store's reason, and the store's endpoints say why."""
    d = daemon({"rag.embedder": "model", "rag.embedding_model": str(tmp_path / "missing.gguf")})
    health = call(d, "GET", "/health")
    assert health.status == 200
    assert health.json["store"]["state"] == "failed"
    assert "missing.gguf" in health.json["store"]["reason"]
    r = call(d, "GET", "/v1/documents")
    assert r.status == 503 and r.json["error"]["code"] == "store_unavailable", r
    assert "missing.gguf" in r.json["error"]["message"]
    d.wait_log(r"rag: embedder: .*missing\.gguf.*; the store's endpoints answer 503", timeout=5)


def test_edgectl_during_the_opening_stops_and_explains(daemon, bert, tmp_path):
    from test_clients import edgectl
    d = hash_store(daemon, bert)
    notes = tmp_path / "notes"
    notes.mkdir()
    for i in range(3):
        (notes / f"n{i}.txt").write_text(f"note number {i}\n")
    d.start(wait=False)
    wait_reembedding(d)
    r = edgectl("ingest", str(notes), "--collection", "notes", socket_path=d.socket_path)
    assert r.returncode == 1, r
    assert r.stderr.count("store_opening") == 1, r.stderr  # the first file, then the run stops
    assert "stopped; 2 files were not sent" in r.stderr, r.stderr
    assert "ingested 0 of 3 files" in r.stdout and "1 failed" in r.stdout, r.stdout
    r = edgectl("search", "cellar key", socket_path=d.socket_path)
    assert r.returncode == 1, r
    assert "hint: the personal store is still opening" in r.stderr, r.stderr
    d.wait_ready(timeout=120)
    r = edgectl("ingest", str(notes), "--collection", "notes", socket_path=d.socket_path)
    assert r.returncode == 0 and "ingested 3 of 3 files" in r.stdout, r
