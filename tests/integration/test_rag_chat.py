"""test_rag_chat.py - answering with the personal store: chat and text
completions with `rag` against the real daemon (a fixture model, the hash
embedder): citations that name the ingested notes and are numbered 1..n,
a prompt that grew by the notes, citations on the first chunk of a stream,
400 for bad `rag` fields, 404 for an unknown collection, 403 for another
uid's collection, 503 store_unavailable without a store. Every response is
checked against proto/openapi.yaml (post_json -> check_common).
"""
import pytest

from conftest import REPO, post_json, run_as_nobody, sse_events

CHAT = "/v1/chat/completions"
COMPLETE = "/v1/completions"
EOS = 2  # the Llama SPM vocabulary's </s>

NOTES = [
    ("dentist", "The dentist appointment is on Tuesday at nine with Doctor Palmer."),
    ("passport", "The passport number is stored in the blue folder in the desk drawer."),
    ("pancakes", "Pancakes: two eggs, one cup of flour, one cup of milk, a pinch of salt."),
]


def ingest(d, collection, title, text):
    resp = post_json(d, "/v1/documents", {"collection": collection, "title": title, "text": text})
    assert resp.status == 201, resp
    return resp.json["id"]


@pytest.fixture
def rag_daemon(daemon_with_model):
    """A daemon serving the fixture model with the three notes in `notes`."""
    d = daemon_with_model({"rag.embedder": "hash", "server.socket_mode": "0666"})
    ids = {title: ingest(d, "notes", title, text) for title, text in NOTES}
    return d, ids


def chat_body(content, **fields):
    body = {"messages": [{"role": "user", "content": content}], "max_tokens": 4, "temperature": 0,
            "logit_bias": {str(EOS): -100}}
    body.update(fields)
    return body


def check_citations(citations, ids):
    assert citations, "no citations"
    assert [c["number"] for c in citations] == list(range(1, len(citations) + 1))
    by_id = {v: k for k, v in ids.items()}
    for c in citations:
        assert c["document_id"] in by_id, c
        assert c["title"] == by_id[c["document_id"]], c
        assert c["chunk_index"] == 0, c  # each note is one chunk
        assert isinstance(c["score"], float)
    assert len({c["document_id"] for c in citations}) == len(citations)


def test_chat_with_rag_cites_the_notes_and_grows_the_prompt(rag_daemon):
    d, ids = rag_daemon
    plain = post_json(d, CHAT, chat_body("When is the dentist appointment?"))
    assert plain.status == 200, plain
    assert "citations" not in plain.json
    rag = {"collections": ["notes"], "top_k": 3, "max_context_tokens": 120}
    resp = post_json(d, CHAT, chat_body("When is the dentist appointment?", rag=rag))
    assert resp.status == 200, resp
    check_citations(resp.json["citations"], ids)
    assert resp.json["citations"][0]["document_id"] == ids["dentist"]  # the best match comes first
    grown = resp.json["usage"]["prompt_tokens"] - plain.json["usage"]["prompt_tokens"]
    assert grown > 20, (resp.json["usage"], plain.json["usage"])
    assert grown <= 120 + 40  # the notes' budget plus the instruction


def test_rag_merges_with_the_system_message_and_searches_every_readable_collection(rag_daemon):
    d, ids = rag_daemon
    body = chat_body("pancakes flour milk eggs", rag={})
    body["messages"].insert(0, {"role": "system", "content": "You are terse."})
    resp = post_json(d, CHAT, body)
    assert resp.status == 200, resp
    check_citations(resp.json["citations"], ids)
    assert resp.json["citations"][0]["document_id"] == ids["pancakes"]
    # the default budget (a quarter of the 256-token context) bounds the growth
    alone = post_json(d, CHAT, {k: v for k, v in body.items() if k != "rag"})
    grown = resp.json["usage"]["prompt_tokens"] - alone.json["usage"]["prompt_tokens"]
    assert 0 < grown <= 64 + 40, (resp.json["usage"], alone.json["usage"])


def test_top_k_bounds_the_citations(rag_daemon):
    d, ids = rag_daemon
    resp = post_json(d, CHAT, chat_body("passport folder", rag={"collections": ["notes"], "top_k": 1}))
    assert resp.status == 200, resp
    assert len(resp.json["citations"]) == 1
    assert resp.json["citations"][0]["document_id"] == ids["passport"]


def test_stream_carries_citations_on_the_first_chunk(rag_daemon):
    d, ids = rag_daemon
    body = chat_body("When is the dentist appointment?", stream=True,
                     rag={"collections": ["notes"], "max_context_tokens": 120})
    resp = post_json(d, CHAT, body)
    assert resp.status == 200, resp
    events = sse_events(resp.body)
    assert events[-1] == "[DONE]"
    first = events[0]
    assert first["choices"][0]["delta"].get("role") == "assistant"
    check_citations(first["citations"], ids)
    assert all("citations" not in e for e in events[1:-1])
    whole = post_json(d, CHAT, dict(body, stream=False))
    assert whole.json["citations"] == first["citations"]


def test_completion_with_rag(rag_daemon):
    d, ids = rag_daemon
    body = {"prompt": "Recipe for pancakes:", "max_tokens": 3, "temperature": 0, "logit_bias": {str(EOS): -100}}
    plain = post_json(d, COMPLETE, body)
    resp = post_json(d, COMPLETE, dict(body, rag={"collections": ["notes"], "max_context_tokens": 120}))
    assert resp.status == 200, resp
    check_citations(resp.json["citations"], ids)
    assert resp.json["usage"]["prompt_tokens"] > plain.json["usage"]["prompt_tokens"] + 20
    stream = post_json(d, COMPLETE, dict(body, stream=True, rag={"collections": ["notes"]}))
    events = sse_events(stream.body)
    check_citations(events[0]["citations"], ids)


@pytest.mark.parametrize("rag, param", [
    ("notes", "rag"),
    ({"top_k": 0}, "rag.top_k"),
    ({"top_k": 21}, "rag.top_k"),
    ({"top_k": "3"}, "rag.top_k"),
    ({"max_context_tokens": 129}, "rag.max_context_tokens"),  # over n_ctx / 2 = 128
    ({"max_context_tokens": 0}, "rag.max_context_tokens"),
    ({"collections": "notes"}, "rag.collections"),
    ({"collections": [7]}, "rag.collections[0]"),
    ({"collections": [""]}, "rag.collections[0]"),
    ({"colections": ["notes"]}, "rag"),
])
def test_bad_rag_fields_are_400(rag_daemon, rag, param):
    d, _ = rag_daemon
    resp = post_json(d, CHAT, chat_body("hello", rag=rag))
    assert resp.status == 400, resp
    err = resp.json["error"]
    assert err["param"] == param, err
    assert err["message"].startswith(param + ":"), err
    assert err["code"] in ("invalid_type", "invalid_value"), err


def test_rag_needs_a_user_message(rag_daemon):
    d, _ = rag_daemon
    body = {"messages": [{"role": "system", "content": "hi"}], "rag": {}, "max_tokens": 2}
    resp = post_json(d, CHAT, body)
    assert resp.status == 400, resp
    assert resp.json["error"]["param"] == "messages"


def test_unknown_collection_is_404(rag_daemon):
    d, _ = rag_daemon
    resp = post_json(d, CHAT, chat_body("hello", rag={"collections": ["no-such-collection"]}))
    assert resp.status == 404, resp
    assert "no-such-collection" in resp.json["error"]["message"]


def test_another_uids_collection_is_403(rag_daemon):
    d, _ = rag_daemon
    # the client module's source goes along: the user nobody may not be able
    # to read the checkout (a clone under a 0700 temporary directory)
    module = (REPO / "clients" / "python" / "edged_client.py").read_text()
    code = module + f"""
c = Client({d.socket_path!r})
try:
    c.chat([{{"role": "user", "content": "dentist"}}], max_tokens=2, rag={{"collections": ["notes"]}})
    print("200")
except EdgedError as e:
    print(e.status, e.code)
"""
    done = run_as_nobody(code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode().split()[0] == "403", done.stdout


def test_without_a_store_rag_is_503(daemon_with_model, tmp_path):
    # a key file under a regular file cannot be created: the store does not open
    blocker = tmp_path / "blocker"
    blocker.write_text("not a folder")
    d = daemon_with_model({"store.key_file": str(blocker / "key")})
    resp = post_json(d, CHAT, chat_body("hello", rag={}))
    assert resp.status == 503, resp
    assert resp.json["error"]["code"] == "store_unavailable"
    plain = post_json(d, CHAT, chat_body("hello"))
    assert plain.status == 200, plain  # answering without the store still works


def test_chat_model_embedder_builds_the_index(daemon_with_model, test_model):
    """rag.embedder = chat: the chat model's pooled hidden states are the
    vectors; a chunk's own text finds it first in dense search, and the
    collection records the embedder."""
    d = daemon_with_model({"rag.embedder": "chat"})
    texts = ["The plumber comes on Tuesday at nine.", "Grandma's lemon cake needs three eggs.",
             "Passport renewal form is in the blue folder.", "Car insurance renews on the first of May."]
    ids = []
    for t in texts:
        r = post_json(d, "/v1/documents", {"collection": "c", "text": t})
        assert r.status == 201, r.body
        ids.append(r.json["id"])
    for i, t in enumerate(texts):
        r = post_json(d, "/v1/search", {"query": t, "collections": ["c"], "mode": "dense", "top_k": 2})
        assert r.status == 200, r.body
        assert r.json["data"][0]["document_id"] == ids[i] and r.json["data"][0]["score"] > 0.999
    r = d.request("GET", "/v1/collections")
    assert r.status == 200 and r.json["data"][0]["embedder"] == f"chat:{test_model.name}"
    assert r.json["data"][0]["dim"] == 64
