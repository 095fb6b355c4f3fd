"""test_api_status.py - one error, one status (daemon/api/status.c): the same
store error answered by a store endpoint and by a chat with `rag` gives the
same status, code and Retry-After: an unknown collection (404 not_found) and
a store that did not open (503 store_unavailable, no Retry-After).
"""
from conftest import post_json

CHAT = "/v1/chat/completions"


def chat_rag(d, **rag):
    return post_json(d, CHAT, {"messages": [{"role": "user", "content": "dentist"}], "max_tokens": 2,
                               "temperature": 0, "rag": rag})


def same_error(a, b, status, code):
    for r in (a, b):
        assert r.status == status, r
        assert r.json["error"]["code"] == code, r
    assert a.header("retry-after") == b.header("retry-after"), (a, b)


def test_unknown_collection_is_404_from_search_and_chat(daemon_with_model):
    d = daemon_with_model({"rag.embedder": "hash"})
    r = post_json(d, "/v1/documents", {"collection": "notes", "text": "The dentist is on Tuesday."})
    assert r.status == 201, r
    search = post_json(d, "/v1/search", {"query": "dentist", "collections": ["no-such-collection"]})
    chat = chat_rag(d, collections=["no-such-collection"])
    same_error(search, chat, 404, "not_found")


def test_failed_store_is_503_from_documents_search_and_chat(daemon_with_model):
    d = daemon_with_model({"rag.embedder": "hash"})
    r = post_json(d, "/v1/documents", {"collection": "k", "text": "sealed under the first key"})
    assert r.status == 201, r
    assert d.stop() == 0
    (d.state_dir / "key").write_bytes(bytes(32))  # a different key: the data key no longer unwraps
    d.start()
    d.wait_log(r"rag: .*the store's endpoints answer 503")
    documents = d.request("GET", "/v1/documents")
    search = post_json(d, "/v1/search", {"query": "sealed"})
    chat = chat_rag(d)
    same_error(documents, chat, 503, "store_unavailable")
    same_error(search, chat, 503, "store_unavailable")
    assert chat.header("retry-after") is None, chat
