"""test_adapt.py - adapt jobs over the socket, on a tiny random model and a
faked device (adapt.sys_root / proc_root): a job trains and registers its
adapter with lineage; a chat request during training pauses it and the
result is the same as an undisturbed run's; a pulled plug stops it with a
checkpoint and plugging back in resumes it; kill -9 and SIGTERM resume from
the checkpoint; cancelling deletes checkpoints; deleting a trained-on
document makes the adapter stale, applies adapt.on_stale and leaves no
trace of its text under the state directory; bad requests are refused field
by field, by group, by collection owner and by queue size."""
import json
import os
import signal
import time
from pathlib import Path

import pytest

from conftest import check_common, post_json, request_bytes, run_as_nobody, sse_events

CANARY = "zebracanary7731"

DOCS = [
    {"title": "Garden", "text": "The tomatoes grow by the south wall. Water them every evening in July. "
                                "The basil likes the pots near the kitchen door."},
    {"title": "Bicycle", "text": "The bicycle lock code is 4821. The spare tube is in the blue box "
                                 "in the shed, next to the pump."},
    {"title": "Canary", "text": f"This note holds a secret word: {CANARY}. It must be forgotten when "
                                "the note is deleted from the personal store."},
    {"title": "Recipes", "text": "Pancakes: two eggs, a cup of flour, a cup of milk, a pinch of salt. "
                                 "Rest the batter for ten minutes before frying."},
    {"title": "Car", "text": "The car goes to the garage on the first Monday of March for its service "
                             "and the tyres are changed in October."},
]


def fake_device(root, online=True, temp_c=40):
    """A sysfs/procfs tree with one mains supply and one thermal zone."""
    supply = root / "sys" / "class" / "power_supply" / "AC"
    supply.mkdir(parents=True, exist_ok=True)
    (supply / "type").write_text("Mains\n")
    (supply / "online").write_text("1\n" if online else "0\n")
    zone = root / "sys" / "class" / "thermal" / "thermal_zone0"
    zone.mkdir(parents=True, exist_ok=True)
    (zone / "type").write_text("cpu-thermal\n")
    (zone / "temp").write_text(f"{temp_c * 1000}\n")
    (root / "proc").mkdir(exist_ok=True)
    return root


def plug(root, online):
    (root / "sys" / "class" / "power_supply" / "AC" / "online").write_text("1\n" if online else "0\n")


def adapt_options(root, **extra):
    opts = {"adapt.sys_root": str(root / "sys"), "adapt.proc_root": str(root / "proc"), "adapt.poll_s": 1,
            "adapt.idle_s": 0, "adapt.resume_after_s": 1, "adapt.checkpoint_every_steps": 4,
            "adapt.checkpoint_every_s": 0, "server.socket_mode": "0666"}
    opts.update({k: v for k, v in extra.items()})
    return opts


@pytest.fixture
def device(tmp_path):
    return fake_device(tmp_path / "device")


def call(d, method, target, body=None, template=None, timeout=10.0):
    headers = []
    data = b""
    if body is not None:
        data = json.dumps(body)
        headers = [("Content-Type", "application/json")]
    elif method == "POST":
        headers = [("Content-Length", "0")]
    with d.connect(timeout) as c:
        c.send(request_bytes(method, target, headers, data))
        r = c.read_response(timeout)
    return check_common(r, method, template or target)


def ingest(d, collection="notes", docs=DOCS):
    r = post_json(d, "/v1/documents", {"collection": collection, "documents": docs})
    assert r.status == 201, r
    return [doc["id"] for doc in r.json["documents"]]


def submit(d, status=202, **body):
    req = {"collections": ["notes"], "max_steps": 12, "seq_len": 32, "rank": 4, "budget_s": 120, "seed": 7}
    req.update(body)
    req = {k: v for k, v in req.items() if v is not None}
    r = post_json(d, "/v1/adapt", req)
    assert r.status == status, r
    return r


def job(d, job_id):
    return call(d, "GET", f"/v1/adapt/jobs/{job_id}", template="/v1/adapt/jobs/{id}").json


def wait_job(d, job_id, states, timeout=60.0, pred=None):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = job(d, job_id)
        if last["state"] in states and (pred is None or pred(last)):
            return last
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} not in {states} within {timeout} s: {last}\n{d.stderr()[-3000:]}")


def checkpoints(d):
    folder = Path(d.state_dir) / "checkpoints"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def losses_of(j):
    return [(p["step"], round(p["train_loss"], 5)) for p in j["losses"] if p["train_loss"] is not None]


def test_job_trains_registers_adapter_with_lineage_and_forgets(daemon_with_model, device):
    d = daemon_with_model(adapt_options(device))
    ids = ingest(d)
    r = submit(d)
    j = r.json
    assert j["object"] == "adapt.job" and j["state"] == "queued" and j["collections"] == ["notes"], j
    assert j["options"]["rank"] == 4 and j["options"]["method"] == "lora", j
    done = wait_job(d, j["id"], {"done", "failed"})
    assert done["state"] == "done", done
    assert done["adapter_id"].startswith("ad-") and done["step"] > 0 and done["tokens"] > 0, done
    assert done["losses"] and done["progress"] == 1, done
    assert checkpoints(d) == [], "a finished job leaves no checkpoint"
    adapters = d.get_json("/v1/adapters")["data"]
    trained = [a for a in adapters if a["id"] == done["adapter_id"]]
    assert trained and trained[0]["source"] == "trained" and trained[0]["status"] == "ready", adapters
    listed = d.get_json("/v1/adapt/jobs")["data"]
    assert [x["id"] for x in listed] == [j["id"]]

    # lineage: deleting a document it trained on makes it stale; the default
    # policy (unserve) stops serving it; the canary is nowhere on disk
    canary_id = ids[2]
    r = call(d, "DELETE", f"/v1/documents/{canary_id}", template="/v1/documents/{id}")
    assert r.status == 200, r
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        a = call(d, "GET", f"/v1/adapters/{done['adapter_id']}", template="/v1/adapters/{id}").json
        if a["status"] == "stale":
            break
        time.sleep(0.1)
    assert a["status"] == "stale", a
    r = post_json(d, "/v1/chat/completions", {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 2,
                                               "adapter": done["adapter_id"]})
    assert r.status in (400, 404), r
    assert d.stop() == 0
    for path in Path(d.state_dir).rglob("*"):
        if path.is_file():
            assert CANARY.encode() not in path.read_bytes(), f"the canary is in {path}"
