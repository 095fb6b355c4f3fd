"""test_store_durability.py - what the personal store promises on disk:
a deleted document's canary string is nowhere under the state directory
(while running and after a clean stop); a flipped byte in a sealed column is
a clear `corrupt` error naming the record, never text; a damaged or missing
index file is rebuilt from the record at start; and `kill -9` at random
moments of a long ingest loses no acknowledged document (the index count
equals the chunk rows after every restart), and during replacements by
source leaves the old or the new version, never a mix.
"""
import json
import os
import random
import re
import signal
import sqlite3
import threading
import time
import uuid

from conftest import Closed, check_common, request_bytes


def call(d, method, target, body=b"", template=None, timeout=30.0):
    headers = []
    if isinstance(body, dict):
        body = json.dumps(body)
        headers = [("Content-Type", "application/json")]
    with d.connect(timeout) as c:
        c.send(request_bytes(method, target, headers, body))
        r = c.read_response(timeout)
    return check_common(r, method, template or target)


def add(d, collection, text, title=""):
    r = call(d, "POST", "/v1/documents", {"collection": collection, "title": title, "text": text})
    assert r.status == 201, r
    return r.json["id"]


def search_ids(d, query, mode="hybrid", top_k=5):
    r = call(d, "POST", "/v1/search", {"query": query, "top_k": top_k, "mode": mode})
    assert r.status == 200, r
    return [h["document_id"] for h in r.json["data"]]


def metric(d, name):
    r = call(d, "GET", "/metrics")
    m = re.search(rf"^{name} (\d+)$", r.body.decode(), re.M)
    assert m, f"no {name} in /metrics"
    return int(m.group(1))


def chunk_rows(state_dir):
    db = sqlite3.connect(f"file:{state_dir}/edged.db?mode=ro", uri=True)
    try:
        return db.execute("SELECT count(*) FROM chunks").fetchone()[0]
    finally:
        db.close()


def files_holding(root, needle):
    hits = []
    for dirpath, _, names in os.walk(root):
        for name in names:
            path = os.path.join(dirpath, name)
            try:
                with open(path, "rb") as f:
                    if needle in f.read():
                        hits.append(path)
            except FileNotFoundError:
                pass  # a temporary file renamed away meanwhile
    return hits


def test_deleted_canary_is_nowhere_on_disk(daemon):
    d = daemon()
    canary = f"canary{uuid.uuid4().hex}"
    add(d, "c", "An ordinary note about the garden shed and its green door.")
    doc = add(d, "c", f"My bank PIN hint is {canary} and nobody should ever see it.", title=f"t-{canary}")
    assert doc in search_ids(d, canary, mode="lexical")
    r = call(d, "DELETE", f"/v1/documents/{doc}", template="/v1/documents/{id}")
    assert r.status == 200, r
    assert doc not in search_ids(d, canary)
    needles = [canary.encode(), canary.encode("utf-16-le")]
    for needle in needles:
        assert files_holding(d.state_dir, needle) == [], "canary found while running"
    assert d.stop() == 0
    for needle in needles:
        assert files_holding(d.state_dir, needle) == [], "canary found after a clean stop"
    # and the plaintext of the document kept is not on disk either (it is sealed)
    assert files_holding(d.state_dir, b"garden shed") == []


def test_tampered_sealed_text_is_a_clear_error(daemon):
    d = daemon()
    text = "The alarm code for the cottage is 5150, keep it safe."
    doc = add(d, "t", text, title="cottage")
    other = add(d, "t", "Water the plants on Sunday.", title="plants")
    assert d.stop() == 0
    db = sqlite3.connect(str(d.state_dir / "edged.db"))
    sealed = bytearray(db.execute("SELECT text FROM documents WHERE id = ?", (doc,)).fetchone()[0])
    sealed[len(sealed) // 2] ^= 0x01
    db.execute("UPDATE documents SET text = ? WHERE id = ?", (bytes(sealed), doc))
    db.commit()
    db.close()
    d.start()
    r = call(d, "GET", f"/v1/documents/{doc}?text=true", template="/v1/documents/{id}")
    assert r.status == 500, r
    err = r.json["error"]
    assert err["code"] == "corrupt" and str(doc) in err["message"], err
    assert "5150" not in r.body.decode() and "alarm" not in r.body.decode()
    # the rest still reads
    r = call(d, "GET", f"/v1/documents/{other}?text=true", template="/v1/documents/{id}")
    assert r.status == 200 and r.json["text"] == "Water the plants on Sunday.", r
    r = call(d, "GET", f"/v1/documents/{doc}", template="/v1/documents/{id}")
    assert r.status == 200 and r.json["title"] == "cottage", r


def damage_and_restart(d, damage):
    assert d.stop() == 0
    files = list((d.state_dir / "index").glob("*.faiss"))
    assert files, "no index file was written"
    for f in files:
        damage(f)
    d.start()
    d.wait_log(r"rebuilding it from the record", timeout=10)
    d.wait_log(r"index rebuilt with \d+ vectors", timeout=10)


def flip_byte(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x40
    path.write_bytes(bytes(data))


def test_damaged_or_missing_index_is_rebuilt(daemon):
    d = daemon()
    ids = {add(d, "idx", f"Note {i}: the {w} is kept in drawer {i}.", title=w): w
           for i, w in enumerate(["passport", "stapler", "charger", "umbrella", "torch"])}
    for how in (flip_byte, lambda p: p.unlink()):
        damage_and_restart(d, how)
        for doc, word in ids.items():
            assert search_ids(d, f"where is the {word}", mode="dense")[0] == doc
        assert metric(d, "edged_rag_vectors") == metric(d, "edged_rag_chunks") == chunk_rows(d.state_dir)
    assert d.stderr().count("rebuilding it from the record") >= 2


def test_kill_9_during_ingest_loses_nothing_acknowledged(daemon):
    d = daemon()
    rng = random.Random(1234)
    acked = {}  # id -> its unique word
    t_start = time.monotonic()
    for round_no in range(10):
        stop = threading.Event()

        def ingest():
            n = 0
            while not stop.is_set():
                word = f"crashword{round_no}x{n}"
                n += 1
                try:
                    with d.connect(10) as c:
                        body = json.dumps({"collection": "crash", "title": f"doc {round_no}.{n}",
                                           "text": f"Entry {n} of round {round_no} mentions {word} once. " * 3})
                        c.send(request_bytes("POST", "/v1/documents", [("Content-Type", "application/json")], body))
                        r = c.read_response(10)
                except (OSError, Closed):
                    return  # the daemon was killed
                if r.status == 201:
                    acked[json.loads(r.body)["id"]] = word

        t = threading.Thread(target=ingest)
        t.start()
        time.sleep(rng.uniform(0.05, 0.4))
        d.proc.send_signal(signal.SIGKILL)
        d.proc.wait()
        stop.set()
        t.join(15)
        assert not t.is_alive()
        d.start()
        assert metric(d, "edged_rag_vectors") == metric(d, "edged_rag_chunks") == chunk_rows(d.state_dir)
        listed = set()
        after = 0
        while True:
            page = call(d, "GET", f"/v1/documents?collection=crash&limit=1000&after={after}").json
            listed.update(x["id"] for x in page["data"])
            if not page["has_more"]:
                break
            after = page["next_after"]
        missing = set(acked) - listed
        assert not missing, f"round {round_no}: acknowledged but lost: {sorted(missing)}"
    assert len(acked) >= 10, f"too few documents were acknowledged ({len(acked)}) to say anything"
    for doc, word in acked.items():
        assert doc in search_ids(d, word, top_k=3), (doc, word)
    print(f"\n{len(acked)} acknowledged documents over 10 kill -9 rounds, all found "
          f"({time.monotonic() - t_start:.1f} s)")


def test_kill_9_during_replacement_leaves_old_or_new_version(daemon):
    """One source replaced over and over while `kill -9` strikes: after every
    restart the collection holds that source's document once, as the last
    acknowledged version or the one in flight (text, chunks and vectors of
    one version, never a mix), and earlier versions' words are not found."""
    d = daemon()
    rng = random.Random(4321)
    sent = {}  # version text -> its word
    last = {"version": 0, "text": None}
    doc_id = None
    for round_no in range(6):
        stop = threading.Event()

        def replace():
            n = 0
            while not stop.is_set():
                n += 1
                word = f"versionword{round_no}x{n}"
                text = f"Round {round_no}, version {n}: the spare key is with {word}. " * (1 + n % 4)
                sent[text] = word
                try:
                    with d.connect(10) as c:
                        body = json.dumps({"collection": "swap", "source": "notes/key.md", "text": text})
                        c.send(request_bytes("POST", "/v1/documents", [("Content-Type", "application/json")], body))
                        r = c.read_response(10)
                except (OSError, Closed):
                    return  # the daemon was killed
                if r.status in (200, 201):
                    answer = json.loads(r.body)
                    last.update(version=answer["version"], text=text)

        t = threading.Thread(target=replace)
        t.start()
        time.sleep(rng.uniform(0.05, 0.3))
        d.proc.send_signal(signal.SIGKILL)
        d.proc.wait()
        stop.set()
        t.join(15)
        assert not t.is_alive()
        d.start()
        assert metric(d, "edged_rag_vectors") == metric(d, "edged_rag_chunks") == chunk_rows(d.state_dir)
        docs = call(d, "GET", "/v1/documents?collection=swap").json["data"]
        if last["text"] is None:
            assert len(docs) <= 1
            continue
        assert len(docs) == 1, docs
        doc_id = doc_id or docs[0]["id"]
        assert docs[0]["id"] == doc_id
        got = call(d, "GET", f"/v1/documents/{doc_id}?text=true", template="/v1/documents/{id}").json
        assert got["text"] in sent and got["version"] in (last["version"], last["version"] + 1), (got, last)
        if got["version"] == last["version"]:
            assert got["text"] == last["text"]
        word = sent[got["text"]]
        assert search_ids(d, word, mode="lexical") == [doc_id]
        for text, old_word in sent.items():
            if text != got["text"]:
                assert search_ids(d, old_word, mode="lexical") == [], old_word
        last.update(version=got["version"], text=got["text"])
    assert last["version"] >= 6, f"too few replacements were acknowledged ({last['version']}) to say anything"


def test_embedder_change_reembeds_the_record_once(daemon, tmp_path):
    """A collection built by the hash embedder, opened with a BERT model
    embedder: its chunks are re-embedded once, the record then names the new
    embedder (so the next start loads the saved index), and search still
    finds every document."""
    from conftest import make_bert, write_config
    bert = make_bert(tmp_path / "bert.gguf", n_embd=64, n_layer=2, n_ff=128, ctx=128)
    d = daemon()
    ids = [add(d, "notes", text, title=f"n{i}") for i, text in enumerate(
        ["The plumber comes on Tuesday at nine.", "Grandma's lemon cake needs three eggs.",
         "Passport renewal form is in the blue folder."])]
    assert d.stop() == 0
    d.options.update({"rag.embedder": "model", "rag.embedding_model": str(bert)})
    write_config(d.config_path, d.options)
    d.start()
    d.wait_log(r"re-embedding its 3 chunks with model:bert", timeout=20)
    assert metric(d, "edged_rag_vectors") == metric(d, "edged_rag_chunks") == 3
    assert ids[1] in search_ids(d, "lemon cake eggs", mode="hybrid")
    db = sqlite3.connect(f"file:{d.state_dir}/edged.db?mode=ro", uri=True)
    try:
        assert db.execute("SELECT embedder, dim FROM collections WHERE name = 'notes'").fetchone() == ("model:bert.gguf", 64)
    finally:
        db.close()
    assert d.stop() == 0
    d.start()
    assert ids[2] in search_ids(d, "passport folder", mode="hybrid")
    assert d.stderr().count("re-embedding its") == 1, d.stderr()
    assert "rebuilding it from the record" not in d.stderr().split("re-embedding its")[-1]


def test_a_change_to_one_collection_leaves_the_others_index_alone(daemon):
    """Each collection's index file carries its own generation: after adding
    to and deleting from `a`, a restart loads `b`'s saved index as it is."""
    d = daemon()
    add(d, "b", "Bicycle lock code is under the saddle.")
    a1 = add(d, "a", "Library books are due on Friday.")
    add(d, "a", "The boiler service is booked for March.")
    r = call(d, "DELETE", f"/v1/documents/{a1}", template="/v1/documents/{id}")
    assert r.status == 200, r
    assert d.stop() == 0
    d.start()
    assert "rebuilding it from the record" not in d.stderr(), d.stderr()
    assert metric(d, "edged_rag_vectors") == metric(d, "edged_rag_chunks") == chunk_rows(d.state_dir)


def add_markdown(d, collection, markdown):
    with d.connect(30) as c:
        c.send(request_bytes("POST", f"/v1/documents?collection={collection}&title=notebook",
                             [("Content-Type", "text/markdown")], markdown.encode()))
        r = check_common(c.read_response(30), "POST", "/v1/documents")
    assert r.status == 201, r


def test_reembedding_embeds_each_chunk_as_ingest_does(daemon, tmp_path):
    """A chunk below a heading is embedded with that heading as context. A
    re-embedding (after the embedder changed) must do the same: its vectors
    equal those of the same markdown ingested afresh with the new embedder,
    so every chunk scores the same for a dense query in both collections."""
    from conftest import make_bert, write_config
    bert = make_bert(tmp_path / "bert.gguf", n_embd=64, n_layer=2, n_ff=128, ctx=128)
    sections = ["## Garden\n\n" + " ".join(f"tomatoes need water on day {i}." for i in range(40)),
                "## Car\n\n" + " ".join(f"the tyres were checked on day {i}." for i in range(40))]
    markdown = "# Notebook\n\n" + "\n\n".join(sections) + "\n"
    d = daemon({"rag.chunk_tokens": 48, "rag.chunk_overlap": 0})
    add_markdown(d, "notes", markdown)
    assert d.stop() == 0
    d.options.update({"rag.embedder": "model", "rag.embedding_model": str(bert)})
    write_config(d.config_path, d.options)
    d.start()
    add_markdown(d, "fresh", markdown)

    def scores(collection):
        r = call(d, "POST", "/v1/search", {"query": "when were the tyres checked", "mode": "dense", "top_k": 100,
                                           "collections": [collection]})
        assert r.status == 200, r
        return {h["chunk_index"]: h["score"] for h in r.json["data"]}

    old, new = scores("notes"), scores("fresh")
    assert len(old) == len(new) > 4  # sections of several chunks: most have a heading as context
    for index, score in new.items():
        assert abs(old[index] - score) < 1e-5, (index, old[index], score)
