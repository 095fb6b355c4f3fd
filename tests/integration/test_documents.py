"""test_documents.py - the personal store over the socket: POST /v1/documents
(JSON, batch, raw text/markdown/html bodies; idempotent by source: 201 added,
200 unchanged or replaced, force), listing with pagination and a
collection filter, reading with text, deleting, /v1/search, every bad input
as a clear 4xx, and another uid's collection as 403 (a client run as nobody).
"""
import json
import textwrap

import pytest

from conftest import check_common, request_bytes, run_as_nobody

OPTIONS = {"rag.max_batch_documents": 4, "server.socket_mode": "0666"}


def call(d, method, target, body=b"", ctype=None, template=None, timeout=30.0):
    """One request; the response is checked against the contract under the
    route's pattern (template) since {id} paths are not literal keys there."""
    headers = [("Content-Type", ctype)] if ctype else []
    if isinstance(body, (dict, list)):
        body = json.dumps(body)
        headers = [("Content-Type", "application/json")]
    if method == "POST" and not body:
        headers.append(("Content-Length", "0"))
    with d.connect(timeout) as c:
        c.send(request_bytes(method, target, headers, body))
        r = c.read_response(timeout)
    return check_common(r, method, template or target)


def add(d, body, status=201, **kw):
    r = call(d, "POST", "/v1/documents", body, **kw)
    assert r.status == status, r
    return r.json


def error_of(r, status, code=None, param=None):
    assert r.status == status, r
    err = r.json["error"]
    if code is not None:
        assert err["code"] == code, err
    if param is not None:
        assert err.get("param") == param, err
    assert err["message"]
    return err


def get_doc(d, doc_id, text=False, status=200):
    r = call(d, "GET", f"/v1/documents/{doc_id}" + ("?text=true" if text else ""), template="/v1/documents/{id}")
    assert r.status == status, r
    return r


def search(d, query, collections=None, top_k=5, mode="hybrid", status=200):
    body = {"query": query, "top_k": top_k, "mode": mode}
    if collections is not None:
        body["collections"] = collections
    r = call(d, "POST", "/v1/search", body)
    assert r.status == status, r
    return r


@pytest.fixture
def store(daemon):
    return daemon(OPTIONS)


def test_add_json_then_get_with_text(store):
    out = add(store, {"collection": "notes", "title": "Dentist", "text": "Dentist on Tuesday at 9:30 with Dr. Alvarez.",
                      "source": "notes://1", "metadata": {"tag": "health"}})
    assert out["collection"] == "notes"
    assert out["id"] >= 1 and out["chunks"] == 1 and out["tokens"] > 5
    assert out["documents"] == [{"id": out["id"], "chunks": out["chunks"], "tokens": out["tokens"], "version": 1,
                                 "outcome": "added", "unchanged": False}]
    doc = get_doc(store, out["id"]).json
    assert doc["title"] == "Dentist" and doc["source"] == "notes://1" and doc["metadata"] == {"tag": "health"}
    assert "text" not in doc
    doc = get_doc(store, out["id"], text=True).json
    assert doc["text"] == "Dentist on Tuesday at 9:30 with Dr. Alvarez."
    hits = search(store, "dentist appointment", ["notes"]).json["data"]
    assert hits and hits[0]["document_id"] == out["id"] and hits[0]["collection"] == "notes"
    assert hits[0]["text"] == doc["text"][hits[0]["offset"]:hits[0]["offset"] + hits[0]["length"]]


def test_batch(store):
    docs = [{"title": f"t{i}", "text": f"Batch note number {i} about gardening tomatoes."} for i in range(4)]
    out = add(store, {"collection": "batch", "documents": docs})
    ids = [x["id"] for x in out["documents"]]
    assert len(ids) == 4 and ids == sorted(ids) and "id" not in out
    listed = call(store, "GET", "/v1/documents?collection=batch").json
    assert [x["id"] for x in listed["data"]] == ids


def test_raw_bodies_markdown_and_html_stripped(store):
    md = "# Recipes\n\nPancakes need **flour**, eggs and [milk](http://x).\n\n## Soup\n\nTomato soup with basil.\n"
    error_of(call(store, "POST", "/v1/documents", md, ctype="text/markdown"), 400, "missing_field", "collection")
    r = call(store, "POST", "/v1/documents?collection=raw&title=My%20recipes&source=file%3A%2F%2Fr.md", md,
             ctype="text/markdown; charset=utf-8")
    assert r.status == 201, r
    doc = get_doc(store, r.json["id"], text=True).json
    assert doc["title"] == "My recipes" and doc["source"] == "file://r.md"
    assert "Pancakes need flour, eggs and milk" in doc["text"]
    assert "**" not in doc["text"] and "#" not in doc["text"] and "http://x" not in doc["text"]
    html = ("<html><head><title>x</title><style>p{color:red}</style></head><body><h1>Trip</h1>"
            "<p>Train to Lyon &amp; Geneva</p><script>alert('secret')</script></body></html>")
    r = call(store, "POST", "/v1/documents?collection=raw&title=trip", html, ctype="text/html")
    assert r.status == 201, r
    text = get_doc(store, r.json["id"], text=True).json["text"]
    assert "Train to Lyon & Geneva" in text and "Trip" in text
    assert "<" not in text and "alert" not in text and "color" not in text
    r = call(store, "POST", "/v1/documents?collection=raw", "plain words here", ctype="text/plain")
    assert r.status == 201, r


def test_same_source_is_kept_or_replaced(store):
    doc = {"collection": "ids", "title": "Bike", "source": "notes/bike.md",
           "text": "The bicycle lock code is 4417 and the spare tube is in the garage."}
    first = add(store, doc)
    assert first["outcome"] == "added" and first["version"] == 1 and first["unchanged"] is False
    # the same source and content: 200, the same document, nothing written
    again = add(store, doc, status=200)
    assert again["id"] == first["id"] and again["unchanged"] is True and again["outcome"] == "unchanged"
    assert again["version"] == 1 and again["chunks"] == first["chunks"]
    assert [x["id"] for x in call(store, "GET", "/v1/documents?collection=ids").json["data"]] == [first["id"]]
    hits = search(store, "bicycle lock code", ["ids"], mode="lexical").json["data"]
    assert [h["document_id"] for h in hits] == [first["id"]], hits
    # other content: 200, replaced in place with the next version; the old text is gone
    changed = dict(doc, text="The bicycle was sold in May; the garage now holds the kayak.")
    replaced = add(store, changed, status=200)
    assert replaced["id"] == first["id"] and replaced["outcome"] == "replaced" and replaced["version"] == 2
    assert replaced["unchanged"] is False
    got = get_doc(store, first["id"], text=True).json
    assert got["version"] == 2 and got["text"] == changed["text"] and got["source"] == "notes/bike.md"
    assert search(store, "4417", ["ids"], mode="lexical").json["data"] == []
    for mode in ("dense", "hybrid"):
        hits = search(store, "bicycle lock code 4417 spare tube", ["ids"], mode=mode).json["data"]
        assert all("4417" not in h["text"] for h in hits) and len(hits) == 1, (mode, hits)
    # another title is other content; force replaces the same content
    assert add(store, dict(changed, title="Kayak"), status=200)["version"] == 3
    forced = add(store, dict(changed, title="Kayak", force=True), status=200)
    assert forced["outcome"] == "replaced" and forced["version"] == 4
    # the same source in another collection, and no source at all, add
    assert add(store, dict(changed, collection="ids2"))["outcome"] == "added"
    bare = {"collection": "ids", "text": "A note without a source."}
    assert add(store, bare)["id"] != add(store, bare)["id"]
    # raw bodies: source and force in the query
    target = "/v1/documents?collection=ids&source=notes%2Fraw.txt"
    r = call(store, "POST", target, "Raw note one.", ctype="text/plain")
    assert r.status == 201 and r.json["outcome"] == "added", r
    r = call(store, "POST", target, "Raw note one.", ctype="text/plain")
    assert r.status == 200 and r.json["unchanged"] is True and r.json["id"] == r.json["documents"][0]["id"], r
    r = call(store, "POST", target + "&force=true", "Raw note one.", ctype="text/plain")
    assert r.status == 200 and r.json["outcome"] == "replaced" and r.json["version"] == 2, r
    error_of(call(store, "POST", target + "&force=maybe", "x", ctype="text/plain"), 400, "invalid_value", "force")
    error_of(call(store, "POST", "/v1/documents", {"collection": "ids", "text": "x", "force": "yes"}), 400,
             "invalid_type", "force")


def test_batch_by_source(store):
    docs = [{"source": f"s{i}", "text": f"Batch note {i} about pruning apple trees."} for i in range(3)]
    first = add(store, {"collection": "bs", "documents": docs})
    assert [x["outcome"] for x in first["documents"]] == ["added"] * 3
    docs[1]["text"] = "Batch note 1, rewritten: pruning pear trees instead."
    docs.append({"source": "s3", "text": "A fourth note about cider."})
    second = add(store, {"collection": "bs", "documents": docs})  # one added: 201
    assert [x["outcome"] for x in second["documents"]] == ["unchanged", "replaced", "unchanged", "added"]
    assert [x["id"] for x in second["documents"][:3]] == [x["id"] for x in first["documents"]]
    assert [x["version"] for x in second["documents"]] == [1, 2, 1, 1]
    third = add(store, {"collection": "bs", "documents": docs[:2]}, status=200)
    assert [x["unchanged"] for x in third["documents"]] == [True, True]
    assert len(call(store, "GET", "/v1/documents?collection=bs").json["data"]) == 4


def test_source_too_long_is_400_naming_it(store):
    long = "d/" * 512 + "x"  # 1025 bytes
    error_of(call(store, "POST", "/v1/documents", {"collection": "x", "text": "t", "source": long}), 400,
             "invalid_value", "source")
    error_of(call(store, "POST", "/v1/documents", {"collection": "x", "documents": [
        {"text": "t", "source": "ok"}, {"text": "t", "source": long}]}), 400, "invalid_value", "documents[1].source")
    error_of(call(store, "POST", "/v1/documents?collection=x&source=" + long, "t", ctype="text/plain"), 400,
             "invalid_value", "source")
    assert add(store, {"collection": "x", "text": "t", "source": long[:1024]})["outcome"] == "added"
    assert len(call(store, "GET", "/v1/documents").json["data"]) == 1


def test_list_pagination_and_collection_filter(store):
    a = add(store, {"collection": "a", "documents": [{"text": f"alpha note {i}"} for i in range(4)]})["documents"]
    b = add(store, {"collection": "b", "documents": [{"text": f"beta note {i}"} for i in range(2)]})["documents"]
    a += add(store, {"collection": "a", "text": "alpha note 4"})["documents"]
    seen, after = [], 0
    while True:
        page = call(store, "GET", f"/v1/documents?collection=a&limit=2&after={after}").json
        assert len(page["data"]) <= 2
        seen += [x["id"] for x in page["data"]]
        assert all(x["collection"] == "a" for x in page["data"])
        if not page["has_more"]:
            assert page["next_after"] is None
            break
        after = page["next_after"]
    assert seen == [x["id"] for x in a]
    everything = call(store, "GET", "/v1/documents?limit=1000").json
    assert sorted(x["id"] for x in everything["data"]) == sorted(x["id"] for x in a + b)
    error_of(call(store, "GET", "/v1/documents?limit=0"), 400, "invalid_value", "limit")
    error_of(call(store, "GET", "/v1/documents?after=x"), 400, "invalid_value", "after")
    error_of(call(store, "GET", "/v1/documents?collection=nope"), 404, "not_found")


def test_delete_then_gone(store):
    keep = add(store, {"collection": "d", "text": "The spare key is under the blue flower pot."})
    gone = add(store, {"collection": "d", "text": "Locker combination zebracorn 4471 at the gym."})
    assert search(store, "zebracorn", ["d"], mode="lexical").json["data"][0]["document_id"] == gone["id"]
    r = call(store, "DELETE", f"/v1/documents/{gone['id']}", template="/v1/documents/{id}")
    assert r.status == 200 and r.json == {"id": gone["id"], "deleted": True}, r
    error_of(get_doc(store, gone["id"], status=404), 404, "not_found")
    error_of(call(store, "DELETE", f"/v1/documents/{gone['id']}", template="/v1/documents/{id}"), 404)
    for mode in ("hybrid", "dense", "lexical"):
        hits = search(store, "zebracorn locker combination gym", ["d"], mode=mode).json["data"]
        assert all(h["document_id"] != gone["id"] for h in hits), (mode, hits)
    ids = [x["id"] for x in call(store, "GET", "/v1/documents?collection=d").json["data"]]
    assert ids == [keep["id"]]
    error_of(get_doc(store, "abc", status=404), 404)


def test_bad_inputs(store):
    post = lambda body, ctype="application/json", target="/v1/documents": call(store, "POST", target, body, ctype)
    # binary garbage as text, invalid UTF-8, NUL
    error_of(post(bytes(range(256)) * 4, "text/plain", "/v1/documents?collection=x"), 400, "invalid_value", "body")
    error_of(post(b"caf\xc3 bad", "text/plain", "/v1/documents?collection=x"), 400, "invalid_value", "body")
    error_of(post(b"nul\x00inside", "text/plain", "/v1/documents?collection=x"), 400, "invalid_value", "body")
    error_of(post(b'{"collection":"x","text":"caf\xc3 bad"}'), 400, "invalid_json")
    error_of(post('{"collection":"x","text":"a\\u0000b"}'), 400)
    # empty bodies and empty text
    error_of(post(b"", "text/plain", "/v1/documents?collection=x"), 400, "invalid_value", "body")
    error_of(post(b""), 400, "invalid_json")
    error_of(post({"collection": "x", "text": ""}), 400, "invalid_value", "text")
    error_of(post({"collection": "x", "text": "  \n\t "}), 400, "invalid_value", "text")
    error_of(post({"collection": "x", "documents": [{"text": "ok"}, {"text": " "}]}), 400, "invalid_value",
             "documents[1].text")
    error_of(post({"collection": "x", "documents": [{"text": "ok"}, {"title": "no text"}]}), 400, "missing_field",
             "documents[1].text")
    # fields
    error_of(post({"text": "no collection"}), 400, "missing_field", "collection")
    error_of(post({"collection": "bad name!", "text": "t"}), 400, "invalid_value", "collection")
    error_of(post({"collection": "x", "text": 5}), 400, "invalid_type", "text")
    error_of(post({"collection": "x", "text": "t", "metadata": [1]}), 400, "invalid_type", "metadata")
    # too many documents in one batch (rag.max_batch_documents = 4)
    error_of(post({"collection": "x", "documents": [{"text": "a"}] * 5}), 413, "too_many_documents")
    # unsupported media types
    error_of(post(b"%PDF-1.4", "application/pdf", "/v1/documents?collection=x"), 415, "unsupported_media_type")
    error_of(post(b"hello", "text/plain; charset=latin1", "/v1/documents?collection=x"), 415)
    # bad query string escapes
    error_of(post(b"hello", "text/plain", "/v1/documents?collection=%zz"), 400, "invalid_value", "collection")
    # nothing was stored by any of the above
    assert call(store, "GET", "/v1/documents").json["data"] == []
    # unknown collections on search and list; bad search fields
    error_of(search(store, "anything", ["nope"], status=404), 404, "not_found")
    error_of(call(store, "POST", "/v1/search", {"query": ""}), 400, "invalid_value", "query")
    error_of(call(store, "POST", "/v1/search", {"query": "x", "mode": "magic"}), 400, "invalid_value", "mode")
    error_of(call(store, "POST", "/v1/search", {"query": "x", "top_k": 0}), 400, "invalid_value", "top_k")
    error_of(call(store, "POST", "/v1/search", {"query": "x", "collections": [3]}), 400, "invalid_type")


NOBODY_CLIENT = textwrap.dedent("""
    import json, socket, sys
    def req(method, target, body=None, ctype="application/json"):
        s = socket.socket(socket.AF_UNIX); s.settimeout(20); s.connect(sys.argv[1])
        data = json.dumps(body).encode() if isinstance(body, dict) else (body or b"")
        head = f"{method} {target} HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n"
        if data:
            head += f"Content-Type: {ctype}\\r\\nContent-Length: {len(data)}\\r\\n"
        s.sendall(head.encode() + b"\\r\\n" + data)
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
        status = int(out.split(b" ", 2)[1])
        return status, json.loads(out.split(b"\\r\\n\\r\\n", 1)[1] or b"null")
    DOC = int(sys.argv[2])
    results = {
        "search": req("POST", "/v1/search", {"query": "secret", "collections": ["private"]}),
        "list": req("GET", "/v1/documents?collection=private"),
        "get": req("GET", f"/v1/documents/{DOC}?text=true"),
        "delete": req("DELETE", f"/v1/documents/{DOC}"),
        "add": req("POST", "/v1/documents", {"collection": "private", "text": "intruder"}),
        "search_all": req("POST", "/v1/search", {"query": "secret"}),
        "list_all": req("GET", "/v1/documents"),
        "own": req("POST", "/v1/documents", {"collection": "nobodys", "text": "my own secret plan"}),
    }
    print(json.dumps(results))
""")


def test_other_uids_collection_is_403(store):
    mine = add(store, {"collection": "private", "text": "The secret vault code is 8812."})
    done = run_as_nobody(NOBODY_CLIENT.replace("sys.argv[1]", repr(store.socket_path))
                         .replace("int(sys.argv[2])", str(mine["id"])))
    assert done.returncode == 0, done.stderr.decode()
    res = json.loads(done.stdout)
    for key in ("search", "list", "get", "delete", "add"):
        status, body = res[key]
        assert status == 403 and body["error"]["code"] == "forbidden", (key, res[key])
        assert "8812" not in json.dumps(body)
    status, body = res["search_all"]
    assert status == 200 and all(h["collection"] != "private" for h in body["data"]), body
    status, body = res["list_all"]
    assert status == 200 and body["data"] == [], body
    status, body = res["own"]
    assert status == 201, body
    # root reads every collection, the nobody one included; the private text is intact
    assert get_doc(store, mine["id"], text=True).json["text"] == "The secret vault code is 8812."
    hits = search(store, "own secret plan", ["nobodys"]).json["data"]
    assert hits and hits[0]["document_id"] == body["id"]


def test_store_that_does_not_open_answers_503(store):
    add(store, {"collection": "k", "text": "sealed under the first key"})
    assert store.stop() == 0
    key = store.state_dir / "key"
    assert key.exists()
    key.write_bytes(bytes(32))  # a different key: the data key no longer unwraps
    store.start()
    store.wait_log(r"rag: .*the store's endpoints answer 503")
    for method, target, body in (("POST", "/v1/documents", {"collection": "k", "text": "x"}),
                                 ("GET", "/v1/documents", b""), ("POST", "/v1/search", {"query": "x"})):
        err = error_of(call(store, method, target, body), 503, "store_unavailable")
        assert "key" in err["message"], err
    error_of(call(store, "GET", "/v1/documents/1", template="/v1/documents/{id}"), 503, "store_unavailable")


ACCESS_CLIENT = NOBODY_CLIENT.split("DOC = int(sys.argv[2])")[0] + textwrap.dedent("""
    results = {
        "search": req("POST", "/v1/search", {"query": "vault", "collections": ["shared"]}),
        "collections": req("GET", "/v1/collections"),
        "grant": req("PUT", "/v1/collections/shared", {"allow": ["*"]}),
        "delete": req("DELETE", f"/v1/documents/{int(sys.argv[2])}"),
    }
    print(json.dumps(results))
""")


def nobody_sees(store, doc_id):
    import pwd
    done = run_as_nobody(ACCESS_CLIENT.replace("sys.argv[1]", repr(store.socket_path))
                         .replace("int(sys.argv[2])", str(doc_id)))
    assert done.returncode == 0, done.stderr.decode()
    return json.loads(done.stdout), pwd.getpwnam("nobody").pw_uid


def test_collection_access_can_be_granted_and_revoked(store):
    doc = add(store, {"collection": "shared", "title": "vault", "text": "The vault key hangs in the hall."})
    before, nobody = nobody_sees(store, doc["id"])
    assert before["search"][0] == 403 and before["collections"] == [200, {"object": "list", "data": []}]

    r = call(store, "PUT", "/v1/collections/shared", {"allow": [f"uid:{nobody}"]},
             template="/v1/collections/{name}")
    assert r.status == 200, r
    assert r.json["allow"] == [f"uid:{nobody}"] and r.json["owner_uid"] == 0 and r.json["documents"] == 1
    granted, _ = nobody_sees(store, doc["id"])
    status, body = granted["search"]
    assert status == 200 and body["data"][0]["document_id"] == doc["id"], granted
    status, body = granted["collections"]
    assert status == 200 and [c["name"] for c in body["data"]] == ["shared"]
    # a reader may not change who reads, nor delete
    assert granted["grant"][0] == 403 and granted["delete"][0] == 403, granted

    r = call(store, "PUT", "/v1/collections/shared", {"allow": []}, template="/v1/collections/{name}")
    assert r.status == 200 and r.json["allow"] == []
    revoked, _ = nobody_sees(store, doc["id"])
    assert revoked["search"][0] == 403
    # the list survives a restart
    call(store, "PUT", "/v1/collections/shared", {"allow": ["gid:12345", "*"]}, template="/v1/collections/{name}")
    assert store.stop() == 0
    store.start()
    r = call(store, "GET", "/v1/collections")
    assert r.status == 200 and r.json["data"][0]["allow"] == ["gid:12345", "*"]


def test_collection_access_bad_requests(store):
    add(store, {"collection": "shared", "text": "x y z"})
    t = "/v1/collections/{name}"
    error_of(call(store, "PUT", "/v1/collections/shared", {"allow": ["user:bob"]}, template=t), 400,
             "invalid_value", "allow")
    error_of(call(store, "PUT", "/v1/collections/shared", {"allow": "*"}, template=t), 400, "invalid_type", "allow")
    error_of(call(store, "PUT", "/v1/collections/shared", {"allow": [3]}, template=t), 400, "invalid_type",
             "allow[0]")
    error_of(call(store, "PUT", "/v1/collections/shared", {}, template=t), 400, "missing_field", "allow")
    error_of(call(store, "PUT", "/v1/collections/nosuch", {"allow": []}, template=t), 404)
