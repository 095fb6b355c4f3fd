"""test_adapters.py - LoRA adapters served by the real daemon: imported as
llama.cpp GGUF files (written by tests/tools/mklora for the fixture model),
listed, chosen per request (`adapter`, `model: "BASE:NAME"`) with the same
text as `edged run --lora`, activated and deactivated (persisted across a
restart), rolled back by activating an earlier version, deleted (the active
one only with force), refused with the reason when malformed, listed as
incompatible under another base, guarded by the adapt and admin groups, and
hot-swapped under two running streams. Every response is checked against
proto/openapi.yaml (check_common)."""
import json
import subprocess
import time

import pytest

from conftest import BUILD, EDGED, REPO, check_common, make_model, post_json, request_bytes, sse_events

MKLORA = BUILD / "tests" / "tools" / "mklora"
COMPLETE = "/v1/completions"
PROMPT = "Once upon a time"
N = 12
SCALE = 4.0


def template(target):
    """The contract's path for a target: /v1/adapters/{id}... (not literal keys there)."""
    parts = target.split("?")[0].split("/")
    if len(parts) > 3 and parts[3] != "deactivate":
        parts[3] = "{id}"
    return "/".join(parts)


def call(d, method, target, body=b"", ctype=None, timeout=30.0):
    """One request, checked against the contract under its route's pattern."""
    headers = [("Content-Type", ctype)] if ctype else []
    if method == "POST" and not body:
        headers.append(("Content-Length", "0"))
    with d.connect(timeout) as c:
        c.send(request_bytes(method, target, headers, body))
        r = c.read_response(timeout)
    return check_common(r, method, template(target))


def get_json(d, target):
    r = call(d, "GET", target)
    assert r.status == 200, r
    return r.json


def mklora(base, out, *extra):
    done = subprocess.run([str(MKLORA), "--base", str(base), "--out", str(out), *extra], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return out


def run_text(model, lora=None, n=N):
    """`edged run` greedy text, the adapter at SCALE (the reference)."""
    args = [str(EDGED), "run", "-m", str(model), "-p", PROMPT, "-n", str(n), "--temp", "0"]
    if lora:
        args += ["--lora", str(lora), "--lora-scale", str(SCALE)]
    done = subprocess.run(args, capture_output=True, text=True, errors="replace", timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout[:-1] if done.stdout.endswith("\n") else done.stdout


def import_adapter(d, path, name=None, status=201):
    target = "/v1/adapters" + (f"?name={name}" if name else "")
    body = path.read_bytes() if hasattr(path, "read_bytes") else path
    resp = call(d, "POST", target, body, "application/octet-stream")
    assert resp.status == status, resp
    return resp.json


def complete(d, n=N, **fields):
    resp = post_json(d, COMPLETE, {"prompt": PROMPT, "max_tokens": n, "temperature": 0, **fields})
    assert resp.status == 200, resp
    return resp.json


def text(d, **fields):
    return complete(d, **fields)["choices"][0]["text"]


@pytest.fixture(scope="module")
def loras(tmp_path_factory, test_model):
    """Two adapters for the fixture model (all targets; attention only) and one for another base."""
    directory = tmp_path_factory.mktemp("loras")
    other = make_model(directory / "other.gguf", "--n-embd", "128", "--n-layer", "2", "--ctx", "256")
    return {
        "a": mklora(test_model, directory / "a.gguf", "--targets", "all", "--seed", "3"),
        "b": mklora(test_model, directory / "b.gguf", "--targets", "attn", "--seed", "4", "--rank", "4"),
        "other": mklora(other, directory / "other-lora.gguf", "--seed", "5"),
        "other_model": other,
    }


def restart(d):
    assert d.stop() == 0
    d.start()


def test_import_list_and_answer_as_edged_run(daemon_with_model, test_model, loras):
    d = daemon_with_model()
    a = import_adapter(d, loras["a"], "style")
    assert a["name"] == "style" and a["version"] == 1 and a["status"] == "ready" and not a["active"]
    assert a["source"] == "imported" and a["rank"] == 8 and a["alpha"] == 16
    assert a["size"] == loras["a"].stat().st_size
    assert {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"} <= set(a["targets"])
    listed = get_json(d, "/v1/adapters")
    assert [x["id"] for x in listed["data"]] == [a["id"]] and "active" not in listed
    assert get_json(d, f"/v1/adapters/{a['id']}")["name"] == "style"
    assert get_json(d, "/v1/adapters/style@1")["id"] == a["id"]

    base = text(d)
    assert base == run_text(test_model)
    answer = complete(d, adapter="style", adapter_scale=SCALE)
    assert answer["adapter"] == "style@1" and answer["model"] == "m:style"
    with_a = answer["choices"][0]["text"]
    assert with_a != base
    assert with_a == run_text(test_model, loras["a"])
    assert text(d, adapter=a["id"], adapter_scale=SCALE) == with_a
    assert complete(d)["adapter"] is None

    ids = [m["id"] for m in get_json(d, "/v1/models")["data"]]
    assert "m:style" in ids
    assert text(d, model="m:style", adapter_scale=SCALE) == with_a
    chat = post_json(d, "/v1/chat/completions", {"model": "m:style", "max_tokens": 4,
                                                  "messages": [{"role": "user", "content": "hi"}]})
    assert chat.status == 200 and chat.json["adapter"] == "style@1", chat
    # streamed chunks say it too
    resp = post_json(d, COMPLETE, {"prompt": PROMPT, "max_tokens": 4, "stream": True, "adapter": "style"})
    events = [e for e in sse_events(resp.body) if e != "[DONE]"]
    assert events and all(e["adapter"] == "style@1" for e in events)

    assert call(d, "POST", "/v1/adapters/style/activate").status == 200
    metrics = call(d, "GET", "/metrics").body.decode()
    assert 'edged_adapter_active{name="style",version="1"} 1' in metrics
    assert 'edged_adapters{status="active"} 1' in metrics
    # five requests used it: by name, by id, by model, the chat and the stream
    assert 'edged_adapter_requests_total{name="style",version="1"} 5' in metrics, metrics
    assert call(d, "POST", "/v1/adapters/deactivate").status == 200

    missing = post_json(d, COMPLETE, {"prompt": PROMPT, "adapter": "nosuch"})
    assert missing.status == 404 and missing.json["error"]["code"] == "not_found", missing
    missing = post_json(d, COMPLETE, {"prompt": PROMPT, "model": "m:nosuch"})
    assert missing.status == 404 and missing.json["error"]["code"] == "model_not_found", missing
    bad_scale = post_json(d, COMPLETE, {"prompt": PROMPT, "adapter_scale": 1000})
    assert bad_scale.status == 400 and bad_scale.json["error"]["param"] == "adapter_scale", bad_scale


def test_activate_persists_rollback_and_delete_needs_force(daemon_with_model, test_model, loras):
    d = daemon_with_model()
    v1 = import_adapter(d, loras["a"], "style")
    v2 = import_adapter(d, loras["b"], "style")
    assert v2["version"] == 2
    base = text(d)
    with_v1 = text(d, adapter="style@1")
    with_v2 = text(d, adapter="style@2")
    assert len({base, with_v1, with_v2}) == 3

    resp = call(d, "POST", "/v1/adapters/style@2/activate")
    assert resp.status == 200 and resp.json["status"] == "active", resp
    assert text(d) == with_v2
    assert text(d, adapter="style") == with_v2  # a name means its active version
    assert text(d, adapter="none") == base
    restart(d)
    assert get_json(d, "/v1/adapters")["active"] == v2["id"]
    assert text(d) == with_v2

    # rollback: activate the earlier version
    assert call(d, "POST", f"/v1/adapters/{v1['id']}/activate").status == 200
    assert text(d) == with_v1
    assert complete(d)["adapter"] == "style@1"

    resp = call(d, "DELETE", f"/v1/adapters/{v1['id']}")
    assert resp.status == 409 and resp.json["error"]["code"] == "adapter_active", resp
    resp = call(d, "DELETE", f"/v1/adapters/{v1['id']}?force=true")
    assert resp.status == 200 and resp.json["deleted"] is True, resp
    assert call(d, "GET", f"/v1/adapters/{v1['id']}").status == 404
    assert "active" not in get_json(d, "/v1/adapters")
    assert text(d) == base

    assert call(d, "POST", "/v1/adapters/style@2/activate").status == 200
    resp = call(d, "POST", "/v1/adapters/deactivate")
    assert resp.status == 200 and resp.json["active"] is None, resp
    assert text(d) == base
    restart(d)
    assert text(d) == base
    v3 = import_adapter(d, loras["a"], "style")
    assert v3["version"] == 3  # the deleted version 1 is not reused, nor is 2
    assert call(d, "DELETE", "/v1/adapters/style@2").status == 200


def test_malformed_adapters_are_400_naming_the_problem(daemon_with_model, loras):
    d = daemon_with_model()
    resp = import_adapter(d, b"not a gguf file at all", "x", status=400)
    assert resp["error"]["param"] == "body" and "GGUF" in resp["error"]["message"], resp
    data = loras["a"].read_bytes()
    resp = import_adapter(d, data[: len(data) // 2], "x", status=400)
    assert "does not fit" in resp["error"]["message"], resp
    resp = import_adapter(d, loras["other"], "x", status=400)
    assert "blk." in resp["error"]["message"] or "shape" in resp["error"]["message"], resp
    resp = import_adapter(d, loras["a"], None, status=400)
    assert "name" in resp["error"]["message"], resp
    resp = import_adapter(d, loras["a"], "bad%20name", status=400)
    assert resp["error"]["param"] == "name", resp
    resp = import_adapter(d, b"", "x", status=400)
    assert get_json(d, "/v1/adapters")["data"] == []


def test_another_base_lists_adapters_as_incompatible(daemon_with_model, loras):
    d = daemon_with_model()
    a = import_adapter(d, loras["a"], "style")
    assert call(d, "POST", "/v1/adapters/style/activate").status == 200
    assert d.stop() == 0
    d.reconfigure({"model.path": str(loras["other_model"])})
    d.start()
    listed = get_json(d, "/v1/adapters")
    (entry,) = listed["data"]
    assert entry["id"] == a["id"] and entry["status"] == "incompatible", entry
    assert "base" in entry["reason"]
    resp = post_json(d, COMPLETE, {"prompt": PROMPT, "max_tokens": 2, "adapter": "style"})
    assert resp.status == 400 and "incompatible" in resp.json["error"]["message"], resp
    assert complete(d, n=2)["adapter"] is None  # the active one does not fit: the base answers
    assert not any(":" in m["id"] for m in get_json(d, "/v1/models")["data"])
    assert call(d, "POST", "/v1/adapters/style/activate").status == 400


def test_import_needs_adapt_export_needs_admin(daemon_with_model, loras):
    d = daemon_with_model()
    a = import_adapter(d, loras["a"], "style")
    resp = call(d, "GET", f"/v1/adapters/{a['id']}/file")
    assert resp.status == 200 and resp.body == loras["a"].read_bytes(), resp
    assert resp.header("content-type") == "application/octet-stream"
    assert d.stop() == 0
    d.reconfigure({"access.adapt": "user:65534", "access.admin": "user:65534"})
    d.start()
    resp = call(d, "POST", "/v1/adapters?name=x", loras["a"].read_bytes(), "application/octet-stream")
    assert resp.status == 403 and resp.json["error"]["code"] == "forbidden", resp
    assert call(d, "GET", f"/v1/adapters/{a['id']}/file").status == 403
    assert call(d, "POST", f"/v1/adapters/{a['id']}/activate").status == 403
    assert call(d, "DELETE", f"/v1/adapters/{a['id']}").status == 403
    assert call(d, "GET", "/v1/adapters").status == 200  # listing is the infer group's


def test_adapter_imports_have_their_own_body_limit(daemon_with_model, test_model, loras, tmp_path):
    """adapt.max_adapter_bytes bounds POST /v1/adapters (a file, usually beyond
    server.max_body_bytes); every other route keeps server.max_body_bytes."""
    d = daemon_with_model({"server.max_body_bytes": 65536, "adapt.max_adapter_bytes": 1536 * 1024})
    medium = mklora(test_model, tmp_path / "medium.gguf", "--targets", "all", "--rank", "4")
    assert 65536 < medium.stat().st_size < 1536 * 1024
    assert import_adapter(d, medium, "medium")["size"] == medium.stat().st_size
    resp = call(d, "POST", "/v1/adapters?name=big", loras["a"].read_bytes(), "application/octet-stream")
    assert resp.status == 413 and "adapt.max_adapter_bytes" in resp.json["error"]["message"], resp
    resp = post_json(d, COMPLETE, {"prompt": "x" * 70000})
    assert resp.status == 413 and "server.max_body_bytes" in resp.json["error"]["message"], resp
    # beyond both: refused before routing, naming both
    resp = call(d, "POST", "/v1/adapters?name=big", b"\0" * (2 << 20), "application/octet-stream")
    assert resp.status == 413 and "adapt.max_adapter_bytes" in resp.json["error"]["message"], resp


def test_hot_swap_keeps_each_stream_on_its_adapter(daemon_with_model, slow_model, tmp_path):
    """Two streams run while adapters are imported, activated and deleted:
    each stream's text equals a run with the adapter it started with."""
    d = daemon_with_model(model=slow_model)
    a = import_adapter(d, mklora(slow_model, tmp_path / "a.gguf", "--seed", "7"), "a")
    import_adapter(d, mklora(slow_model, tmp_path / "b.gguf", "--seed", "8"), "b")
    n = 160
    t0 = time.monotonic()
    expect_a = text(d, n=n, adapter="a", adapter_scale=SCALE)
    one_stream_s = time.monotonic() - t0
    expect_b = text(d, n=n, adapter="b", adapter_scale=SCALE)
    assert expect_a != expect_b
    assert call(d, "POST", "/v1/adapters/a/activate").status == 200

    def start(fields):
        body = json.dumps({"prompt": PROMPT, "max_tokens": n, "temperature": 0, "stream": True,
                           "adapter_scale": SCALE, **fields}).encode()
        c = d.connect(timeout=60)
        c.send(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        return c

    named, default = start({"adapter": "a"}), start({})
    try:
        t0 = time.monotonic()
        assert call(d, "POST", "/v1/adapters/b/activate").status == 200
        assert call(d, "DELETE", f"/v1/adapters/{a['id']}?force=true").status == 200
        import_adapter(d, mklora(slow_model, tmp_path / "c.gguf", "--seed", "9"), "c")
        assert call(d, "POST", "/v1/adapters/deactivate").status == 200
        assert call(d, "POST", "/v1/adapters/b/activate").status == 200
        swaps_s = time.monotonic() - t0
        # the swaps landed while both streams ran (each lasts one_stream_s at least)
        assert swaps_s < one_stream_s / 2, (swaps_s, one_stream_s)
        texts = []
        for c in (named, default):
            resp = c.read_response(timeout=120)
            assert resp.status == 200, resp
            events = [e for e in sse_events(resp.body) if e != "[DONE]"]
            assert all(e["adapter"] == "a@1" for e in events)
            texts.append("".join(e["choices"][0]["text"] for e in events if e["choices"]))
    finally:
        named.close()
        default.close()
    assert texts == [expect_a, expect_a]
    assert text(d, n=n, adapter_scale=SCALE) == expect_b  # new requests get the active one


def edgectl(d, *args, stdin=None):
    return subprocess.run([str(BUILD / "edgectl"), "--socket", d.socket_path, *args], capture_output=True, text=True,
                          input=stdin, timeout=60)


def test_edgectl_adapters_and_chat_adapter(daemon_with_model, loras, tmp_path):
    d = daemon_with_model()
    out = edgectl(d, "adapters", "ls")
    assert out.returncode == 0 and out.stdout.strip() == "no adapters", out
    out = edgectl(d, "adapters", "import", str(loras["a"]), "--name", "style")
    assert out.returncode == 0 and "imported style@1 as ad-" in out.stdout, out
    out = edgectl(d, "adapters", "ls")
    assert out.returncode == 0 and "style" in out.stdout and "ready" in out.stdout, out
    out = edgectl(d, "adapters", "show", "style@1")
    assert out.returncode == 0 and "rank" in out.stdout, out
    out = edgectl(d, "adapters", "activate", "style")
    assert out.returncode == 0 and out.stdout.strip() == "active: style@1", out
    out = edgectl(d, "adapters", "rm", "style")
    assert out.returncode == 1 and "force" in out.stderr, out
    exported = tmp_path / "out.gguf"
    out = edgectl(d, "adapters", "export", "style", str(exported))
    assert out.returncode == 0 and exported.read_bytes() == loras["a"].read_bytes(), out

    chats = {a: edgectl(d, "chat", "--temp", "0", "-n", "6", "--adapter", a, stdin="hi\n").stdout
             for a in ("style", "none")}
    assert chats["style"] != chats["none"]
    out = edgectl(d, "adapters", "deactivate")
    assert out.returncode == 0 and "no adapter is active" in out.stdout, out
    out = edgectl(d, "adapters", "rm", "style")
    assert out.returncode == 0 and "deleted adapter ad-" in out.stdout, out
    out = edgectl(d, "adapters", "nope")
    assert out.returncode == 2, out


def test_python_client_adapters(daemon_with_model, loras):
    import sys
    sys.path.insert(0, str(REPO / "clients" / "python"))
    from edged_client import Client, EdgedError
    d = daemon_with_model()
    with Client(d.socket_path) as c:
        a = c.import_adapter(str(loras["a"]), name="style")
        assert a["version"] == 1 and [x["id"] for x in c.adapters()] == [a["id"]]
        assert c.adapter("style@1")["id"] == a["id"]
        plain = c.complete(PROMPT, max_tokens=N, temperature=0, adapter="none")
        styled = c.complete(PROMPT, max_tokens=N, temperature=0, adapter="style", adapter_scale=SCALE)
        assert styled["adapter"] == "style@1" and styled["choices"][0]["text"] != plain["choices"][0]["text"]
        assert c.activate_adapter("style")["status"] == "active"
        assert c.complete(PROMPT, max_tokens=N, temperature=0, adapter_scale=SCALE)["choices"][0]["text"] == \
            styled["choices"][0]["text"]
        assert c.export_adapter("style") == loras["a"].read_bytes()
        with pytest.raises(EdgedError) as e:
            c.delete_adapter("style")
        assert e.value.status == 409
        assert c.deactivate_adapter()["active"] is None
        assert c.delete_adapter("style")["deleted"] is True
        assert c.adapters() == []
