"""test_clients_rag.py - the personal store through the clients, against the
real daemon (hash embedder, no model needed): edgectl ingest of a folder
(kinds by extension, --recursive, the progress display on a run without a
terminal, the summary, per-file errors and the exit status; a second run
left unchanged, a changed file replaced, --force), edgectl docs
ls/show/rm, edgectl search, edgectl chat --rag; the Python module's ingest,
documents, document, delete, search and chat(rag=...).
"""
import json
import os
import re
import subprocess
import sys

import pytest

from conftest import BUILD, REPO

sys.path.insert(0, str(REPO / "clients" / "python"))
import edged_client  # noqa: E402

EDGECTL = BUILD / "edgectl"
EOS = 2  # the Llama SPM vocabulary's </s>


def edgectl(*args, socket_path, stdin=None, timeout=60):
    if not EDGECTL.exists():
        pytest.fail(f"{EDGECTL} does not exist: build it first (make {EDGECTL.relative_to(REPO)})")
    env = {k: v for k, v in os.environ.items() if k != "EDGED_SOCKET"}
    return subprocess.run([str(EDGECTL), "--socket", str(socket_path), *args], capture_output=True, text=True,
                          env=env, input=stdin, timeout=timeout)


@pytest.fixture
def notes_dir(tmp_path):
    """A folder of notes: three kinds at the top, one in a sub-folder, and
    files that are not notes (skipped)."""
    root = tmp_path / "notes"
    (root / "travel").mkdir(parents=True)
    (root / "dentist.txt").write_text("The dentist appointment is on Tuesday at nine with Doctor Palmer.\n")
    (root / "recipe.md").write_text("# Pancakes\n\nTwo eggs, one cup of flour and one cup of milk.\n")
    (root / "receipt.html").write_text("<html><body><h1>Receipt</h1><p>Bicycle repair: <b>45 euro</b>, "
                                       "paid at Velo Shop.</p><script>var x = 'hidden';</script></body></html>")
    (root / "travel" / "flight.markdown").write_text("Flight KL1234 to Lisbon leaves at 7:15 from gate D4.\n")
    (root / "photo.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a note")
    (root / ".hidden.txt").write_text("hidden note")
    return root


def test_ingest_a_folder_then_docs_and_search(daemon, notes_dir):
    d = daemon({"rag.embedder": "hash"})
    sock = d.socket_path
    r = edgectl("ingest", str(notes_dir), "--collection", "mine", socket_path=sock)
    assert r.returncode == 0, r
    assert re.search(r"^ingested 3 of 3 files \([0-9.]+ [KMG]?i?B, [0-9]+ chunks, [0-9]+ tokens\) into 'mine'",
                     r.stdout, re.M), r.stdout
    # the progress display without a terminal: lines, with the file count, bytes, rate and ETA
    assert re.search(r"ingest 3/3 files: 100% \(.+ of .+, .+/s, ETA 0:00\)", r.stderr), r.stderr
    assert "skipped 1 file" in r.stderr, r.stderr  # photo.jpg; hidden files are not counted

    r = edgectl("ingest", str(notes_dir), "--collection", "mine", "--recursive", socket_path=sock)
    assert r.returncode == 0, r
    assert "ingested 4 of 4 files" in r.stdout and ": 1 added, 3 unchanged, 0 replaced" in r.stdout, r.stdout

    r = edgectl("docs", "ls", "--collection", "mine", socket_path=sock)
    assert r.returncode == 0, r
    lines = r.stdout.splitlines()
    assert lines[0].split()[:4] == ["ID", "COLLECTION", "CHUNKS", "TOKENS"], lines
    titles = [line.split()[-1] for line in lines[1:]]
    assert sorted(titles) == sorted(["dentist.txt", "recipe.md", "receipt.html", "flight.markdown"])

    docs = json.loads(edgectl("--json", "docs", "ls", socket_path=sock).stdout)["data"]
    receipt = next(doc for doc in docs if doc["title"] == "receipt.html")
    assert receipt["source"] == "notes/receipt.html"
    flight = next(doc for doc in docs if doc["title"] == "flight.markdown")
    assert flight["source"] == "notes/travel/flight.markdown"
    r = edgectl("docs", "show", str(receipt["id"]), "--text", socket_path=sock)
    assert r.returncode == 0, r
    assert re.search(rf"^id +{receipt['id']}$", r.stdout, re.M), r.stdout
    assert re.search(r"^collection +mine$", r.stdout, re.M), r.stdout
    assert "45 euro" in r.stdout and "<b>" not in r.stdout and "hidden" not in r.stdout, r.stdout

    r = edgectl("search", "bicycle repair receipt", "--collection", "mine", "--top-k", "2", socket_path=sock)
    assert r.returncode == 0, r
    assert r.stdout.startswith("1. receipt.html  (document "), r.stdout
    assert "45 euro" in r.stdout
    assert not re.search(r"^3\. ", r.stdout, re.M), r.stdout
    for mode in ("dense", "lexical", "hybrid"):
        j = edgectl("--json", "search", "Lisbon flight gate", "--mode", mode, socket_path=sock)
        assert j.returncode == 0, j
        answer = json.loads(j.stdout)
        assert answer["mode"] == mode
        assert answer["data"][0]["title"] == "flight.markdown", answer

    r = edgectl("docs", "rm", str(receipt["id"]), socket_path=sock)
    assert r.returncode == 0 and r.stdout == f"deleted document {receipt['id']}\n", r
    r = edgectl("docs", "show", str(receipt["id"]), socket_path=sock)
    assert r.returncode == 1 and "HTTP 404" in r.stderr, r
    r = edgectl("docs", "rm", str(receipt["id"]), socket_path=sock)
    assert r.returncode == 1, r


def test_ingest_twice_is_idempotent(daemon, notes_dir, tmp_path):
    """A folder ingested twice: nothing duplicated, the second run says
    unchanged; a changed file is replaced (version 2, its old text gone);
    --force replaces every one; the db holds no source path in the clear."""
    d = daemon({"rag.embedder": "hash"})
    sock = d.socket_path
    first = edgectl("ingest", str(notes_dir), "-r", "-c", "notes", socket_path=sock)
    assert first.returncode == 0, first
    assert ": 4 added, 0 unchanged, 0 replaced" in first.stdout, first.stdout
    assert re.search(r"^added +\S+dentist\.txt \(document [0-9]+, version 1\)$", first.stdout, re.M), first.stdout
    # the same folder named another way (relative, from inside its parent) is the same source
    second = subprocess.run([str(EDGECTL), "--socket", str(sock), "ingest", "notes", "-r", "-c", "notes"],
                            capture_output=True, text=True, cwd=notes_dir.parent, timeout=60)
    assert second.returncode == 0, second
    assert ": 0 added, 4 unchanged, 0 replaced" in second.stdout, second.stdout
    assert len(re.findall(r"^unchanged ", second.stdout, re.M)) == 4, second.stdout
    docs = json.loads(edgectl("--json", "docs", "ls", "-c", "notes", socket_path=sock).stdout)["data"]
    assert len(docs) == 4 and all(doc["version"] == 1 for doc in docs), docs
    for mode in ("lexical", "dense", "hybrid"):
        hits = json.loads(edgectl("--json", "search", "dentist appointment Tuesday", "--mode", mode, "--top-k", "10",
                                  socket_path=sock).stdout)["data"]
        keys = [(h["document_id"], h["chunk_index"]) for h in hits]
        assert len(keys) == len(set(keys)) and len(keys) <= 4, (mode, hits)
        assert sum("dentist appointment" in h["text"] for h in hits) == 1, (mode, hits)

    dentist = next(doc for doc in docs if doc["title"] == "dentist.txt")
    (notes_dir / "dentist.txt").write_text("The dentist moved the check-up to Thursday at eleven.\n")
    third = edgectl("ingest", str(notes_dir), "-r", "-c", "notes", socket_path=sock)
    assert third.returncode == 0, third
    assert ": 0 added, 3 unchanged, 1 replaced" in third.stdout, third.stdout
    assert re.search(rf"^replaced +\S+dentist\.txt \(document {dentist['id']}, version 2\)$", third.stdout,
                     re.M), third.stdout
    got = json.loads(edgectl("--json", "docs", "show", str(dentist["id"]), "--text", socket_path=sock).stdout)
    assert got["version"] == 2 and "Thursday" in got["text"] and "Palmer" not in got["text"], got
    for mode in ("lexical", "dense", "hybrid"):
        hits = json.loads(edgectl("--json", "search", "Doctor Palmer Tuesday nine", "--mode", mode,
                                  socket_path=sock).stdout)["data"]
        assert all("Palmer" not in h["text"] for h in hits), (mode, hits)

    forced = edgectl("ingest", str(notes_dir), "-r", "-c", "notes", "--force", socket_path=sock)
    assert forced.returncode == 0, forced
    assert ": 0 added, 0 unchanged, 4 replaced" in forced.stdout, forced.stdout
    docs = json.loads(edgectl("--json", "docs", "ls", "-c", "notes", socket_path=sock).stdout)["data"]
    assert sorted(doc["version"] for doc in docs) == [2, 2, 2, 3], docs

    # sources and content digests are sealed or keyed: no path, no plain hash on disk
    assert d.stop() == 0
    stored = b"".join(p.read_bytes() for p in d.state_dir.rglob("*") if p.is_file())
    import hashlib
    for needle in (b"notes/travel/flight.markdown", b"flight.markdown", str(notes_dir).encode(),
                   b"check-up to Thursday"):
        assert needle not in stored, needle
    for path in notes_dir.rglob("*.*"):
        body = path.read_bytes()
        for digest in (hashlib.sha256(body).digest(), hashlib.sha256(body).hexdigest().encode()):
            assert digest not in stored, path


def test_ingest_refuses_two_files_of_one_source(daemon, tmp_path):
    """Two folders of the same name named in one run would replace each
    other's documents: the second one's files are refused, by name."""
    d = daemon({"rag.embedder": "hash"})
    for parent, text in (("home", "Home note about the heating."), ("work", "Work note about the printer.")):
        (tmp_path / parent / "notes").mkdir(parents=True)
        (tmp_path / parent / "notes" / "todo.txt").write_text(text)
    r = edgectl("ingest", str(tmp_path / "home" / "notes"), str(tmp_path / "work" / "notes"), socket_path=d.socket_path)
    assert r.returncode == 1, r
    assert "ingested 1 of 2 files" in r.stdout and "1 failed" in r.stdout, r.stdout
    assert f"{tmp_path / 'work' / 'notes' / 'todo.txt'}: its source \"notes/todo.txt\" is also" in r.stderr, r.stderr
    r = edgectl("ingest", str(tmp_path / "home"), str(tmp_path / "work"), "-r", socket_path=d.socket_path)
    assert r.returncode == 0 and ": 2 added, 0 unchanged, 0 replaced" in r.stdout, r


def test_ingest_reports_each_failed_file(daemon, tmp_path):
    d = daemon({"rag.embedder": "hash"})
    good = tmp_path / "good.txt"
    good.write_text("A note that is fine.")
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    binary = tmp_path / "garbage.txt"
    binary.write_bytes(bytes(range(256)) * 4)
    other = tmp_path / "data.csv"
    other.write_text("a,b\n")
    r = edgectl("ingest", str(good), str(empty), str(binary), str(other), str(tmp_path / "missing.md"),
                socket_path=d.socket_path)
    assert r.returncode == 1, r
    assert "ingested 1 of 5 files" in r.stdout and "4 failed" in r.stdout, r.stdout
    assert re.search(rf"ingest: {re.escape(str(empty))}: .*\(HTTP 400", r.stderr), r.stderr
    assert re.search(rf"ingest: {re.escape(str(binary))}: .*\(HTTP 400", r.stderr), r.stderr
    assert f"ingest: {other}: not a .txt" in r.stderr, r.stderr
    assert f"ingest: {tmp_path / 'missing.md'}: No such file" in r.stderr, r.stderr
    assert len(json.loads(edgectl("--json", "docs", "ls", socket_path=d.socket_path).stdout)["data"]) == 1


def test_edgectl_usage_errors(daemon):
    d = daemon()
    for args in (["ingest"], ["docs"], ["docs", "show"], ["docs", "rm", "x"], ["docs", "frob"],
                 ["search"], ["search", "q", "--mode", "fuzzy"], ["search", "q", "--top-k", "0"]):
        r = edgectl(*args, socket_path=d.socket_path)
        assert r.returncode == 2, (args, r)
    assert edgectl("search", "--help", socket_path=d.socket_path).stdout.startswith("usage: edgectl")


def test_python_module_store_calls(daemon, notes_dir):
    d = daemon({"rag.embedder": "hash"})
    with edged_client.Client(d.socket_path) as c:
        first = c.ingest("Grandma's birthday is on the fourth of May.", collection="family", title="birthday",
                         metadata={"kind": "date"})
        assert first["id"] > 0 and first["chunks"] == 1 and first["tokens"] > 0
        second = c.ingest(notes_dir / "recipe.md", collection="family")
        third = c.ingest(path=notes_dir / "dentist.txt", collection="health", title="teeth")
        again = c.ingest(notes_dir / "recipe.md", collection="family")
        assert again["id"] == second["id"] and again["unchanged"] is True and again["version"] == 1
        forced = c.ingest(notes_dir / "recipe.md", collection="family", force=True)
        assert forced["id"] == second["id"] and forced["outcome"] == "replaced" and forced["version"] == 2
        sourced = c.ingest("Soup needs salt.", collection="family", title="soup", source="app://soup")
        assert c.ingest("Soup needs salt.", collection="family", title="soup", source="app://soup")["unchanged"]
        c.delete(sourced["id"])
        with pytest.raises(ValueError):
            c.ingest(notes_dir / "photo.jpg")
        docs = c.documents(collection="family", limit=1)  # two pages
        assert [doc["id"] for doc in docs] == [first["id"], second["id"]]
        assert docs[1]["title"] == "recipe.md"
        assert len(c.documents()) == 3
        doc = c.document(first["id"], text=True)
        assert doc["text"] == "Grandma's birthday is on the fourth of May." and doc["metadata"] == {"kind": "date"}
        assert "text" not in c.document(first["id"])
        hits = c.search("when is the dentist?", collections="health", top_k=1)
        assert len(hits) == 1 and hits[0]["document_id"] == third["id"] and hits[0]["title"] == "teeth"
        hits = c.search("birthday of grandma", mode="lexical")
        assert hits[0]["document_id"] == first["id"]
        assert c.delete(second["id"])["deleted"] is True
        with pytest.raises(edged_client.EdgedError) as e:
            c.document(second["id"])
        assert e.value.status == 404
        with pytest.raises(edged_client.EdgedError) as e:
            c.search("x", collections=["nope"])
        assert e.value.status == 404


def test_chat_rag_in_edgectl_and_python(daemon_with_model, notes_dir):
    d = daemon_with_model({"rag.embedder": "hash"})
    with edged_client.Client(d.socket_path) as c:
        doc = c.ingest(notes_dir / "dentist.txt", collection="notes")
        messages = [{"role": "user", "content": "When is the dentist?"}]
        answer = c.chat(messages, max_tokens=3, logit_bias={str(EOS): -100}, rag={"collections": ["notes"]})
        assert [(x["number"], x["document_id"]) for x in answer["citations"]] == [(1, doc["id"])]
        stream = c.chat(messages, stream=True, max_tokens=3, rag={"collections": ["notes"]})
        stream.text()
        assert stream.citations == answer["citations"]
    for extra in ([], ["--no-stream"]):
        r = edgectl("chat", "--rag", "notes", "-n", "3", *extra, socket_path=d.socket_path,
                    stdin="When is the dentist?\n")
        assert r.returncode == 0, r
        assert re.search(rf"^  \[1\] dentist\.txt \(document {doc['id']}, chunk 0\)$", r.stdout, re.M), r.stdout
    r = edgectl("chat", "--rag", "elsewhere", "-n", "3", socket_path=d.socket_path, stdin="hello\n")
    assert r.returncode == 1 and "HTTP 404" in r.stderr, r
