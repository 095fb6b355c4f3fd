"""test_adapt.py - adapt jobs over the socket, on a tiny random model and a
faked device (adapt.sys_root / proc_root): a job trains and registers its
adapter with lineage; a chat request during training pauses it and the
result is the same as an undisturbed run's; a pulled plug stops it with a
checkpoint and plugging back in resumes it; kill -9 and SIGTERM resume from
the checkpoint; cancelling deletes checkpoints; deleting a trained-on
document makes the adapter stale, applies adapt.on_stale and leaves no
trace of its text under the state directory; bad requests are refused field
by field, by group, by collection owner and by queue size."""
import concurrent.futures
import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import BUILD, REPO, check_common, post_json, request_bytes, run_as_nobody, sse_events

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
    """A sysfs/procfs tree with a mains supply, a battery and a thermal zone
    (a laptop: with no battery, an offline supply still counts as power)."""
    supply = root / "sys" / "class" / "power_supply" / "AC"
    supply.mkdir(parents=True, exist_ok=True)
    (supply / "type").write_text("Mains\n")
    battery = root / "sys" / "class" / "power_supply" / "BAT0"
    battery.mkdir(parents=True, exist_ok=True)
    (battery / "type").write_text("Battery\n")
    (battery / "capacity").write_text("90\n")
    plug(root, online)
    zone = root / "sys" / "class" / "thermal" / "thermal_zone0"
    zone.mkdir(parents=True, exist_ok=True)
    (zone / "type").write_text("cpu-thermal\n")
    (zone / "temp").write_text(f"{temp_c * 1000}\n")
    (root / "proc").mkdir(exist_ok=True)
    return root


def plug(root, online):
    supplies = root / "sys" / "class" / "power_supply"
    (supplies / "AC" / "online").write_text("1\n" if online else "0\n")
    (supplies / "BAT0" / "status").write_text("Charging\n" if online else "Discharging\n")


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
    # a checkpoint being written is NAME.tmp until its rename
    return sorted(p.name for p in folder.iterdir() if not p.name.endswith(".tmp")) if folder.exists() else []


def wait_restarted(d, job_id):
    """A job that forgetting restarted from step 0: queued (the reason names
    the deletion) until the runner, finding the window still closed, says
    so (waiting_for_window); at once when another job is queued meanwhile."""
    j = wait_job(d, job_id, {"queued", "waiting_for_window"}, timeout=5, pred=lambda x: x["step"] == 0)
    assert j["state"] == "waiting_for_window" or "deleted" in j["reason"], j
    return j


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


# long enough (at a few ms a step) that a pulled plug, seen at the next
# one-second poll, still finds it training
# long enough for a pulled plug or a kill to find it training on a quiet machine (about 150 steps a
# second here): small steps keep the held-out loss improving, so early stopping does not end it first
REF = {"max_steps": 600, "seq_len": 64, "learning_rate": 1e-5}


def reference_losses(d):
    """The losses of an undisturbed run of REF in daemon d."""
    j = submit(d, **REF).json
    done = wait_job(d, j["id"], {"done", "failed"})
    assert done["state"] == "done" and done["step"] == REF["max_steps"], done
    return losses_of(done), done["best_heldout_loss"]


class EventReader:
    """Reads a job's SSE stream on its own thread until the end event."""

    def __init__(self, d, job_id):
        import threading
        self.conn = d.connect(60)
        self.conn.send(request_bytes("GET", f"/v1/adapt/jobs/{job_id}/events"))
        self.events = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        r = self.conn.read_response(timeout=60)
        assert r.status == 200, r
        self.events = sse_events(r.body)

    def join(self):
        self.thread.join(60)
        self.conn.close()
        return self.events


def test_chat_during_training_pauses_it_and_the_result_is_unchanged(daemon_with_model, device):
    d = daemon_with_model(adapt_options(device))
    ingest(d)
    ref_losses, ref_best = reference_losses(d)
    j = submit(d, **REF).json
    reader = EventReader(d, j["id"])
    wait_job(d, j["id"], {"running"}, pred=lambda x: x["step"] >= 3)
    metrics = call(d, "GET", "/metrics").body.decode()
    series = dict(line.rsplit(" ", 1) for line in metrics.splitlines() if line and not line.startswith("#"))
    assert series.get('edged_adapt_jobs{state="running"}') == "1", metrics
    assert float(series["edged_adapt_trainer_step"]) >= 3 and float(series["edged_adapt_trainer_tokens"]) > 0
    assert float(series["edged_adapt_trainer_tokens_per_second"]) > 0
    assert "edged_adapt_trainer_train_loss" in series and "edged_adapt_trainer_pauses_total" in series
    r = post_json(d, "/v1/chat/completions", {"messages": [{"role": "user", "content": "What grows by the wall?"}],
                                               "max_tokens": 8})
    assert r.status == 200 and r.json["choices"][0]["message"]["content"] is not None, r
    done = wait_job(d, j["id"], {"done", "failed"})
    assert done["state"] == "done", done
    events = reader.join()
    types = [e["type"] for e in events]
    assert types[0] == "snapshot" and types[-1] == "end", types
    assert "paused" in types and "resumed" in types, types
    assert types.index("paused") < types.index("resumed"), types
    assert any(e["type"] == "progress" and e["train_loss"] is not None for e in events), types
    assert events[-1]["adapter_id"] == done["adapter_id"], events[-1]
    assert losses_of(done) == ref_losses, "a paused run trains exactly as an undisturbed one"
    assert done["best_heldout_loss"] == ref_best


def test_a_job_trains_right_after_streamed_requests_and_between_them(daemon_with_model, device):
    """Streamed completions a moment apart, then a job at once: it trains
    (one was seen paused at step 0 for good after such a run), and streamed
    requests during training pause it each time without leaving it paused."""
    d = daemon_with_model(adapt_options(device))
    ingest(d)
    for i in range(10):
        r = post_json(d, "/v1/completions", {"prompt": f"Request {i} asks about the garden", "max_tokens": 8,
                                             "stream": True, "stream_options": {"include_usage": True}})
        assert r.status == 200, r
        time.sleep(0.05)
    j = submit(d, **REF).json
    wait_job(d, j["id"], {"running", "paused"}, pred=lambda x: x["step"] >= 2)
    for i in range(3):
        r = post_json(d, "/v1/completions", {"prompt": f"Busy {i}", "max_tokens": 8, "stream": True})
        assert r.status == 200, r
        time.sleep(0.05)
    step = job(d, j["id"])["step"]
    resumed = wait_job(d, j["id"], {"running"}, pred=lambda x: x["step"] >= step + 2)
    assert resumed["state"] == "running", resumed
    assert call(d, "DELETE", f"/v1/adapt/jobs/{j['id']}", template="/v1/adapt/jobs/{id}").status == 200


def test_pulled_plug_stops_with_a_checkpoint_and_power_resumes(daemon_with_model, device):
    d = daemon_with_model(adapt_options(device))
    ingest(d)
    j = submit(d, **REF).json
    wait_job(d, j["id"], {"running", "paused"}, pred=lambda x: x["step"] >= 5)
    plug(device, False)
    stopped = wait_job(d, j["id"], {"waiting_for_window"}, timeout=10)
    assert "power" in stopped["reason"], stopped
    assert checkpoints(d) == [j["id"]], checkpoints(d)
    sched = d.get_json("/v1/scheduler")
    assert sched["window_open"] is False
    step = job(d, j["id"])["step"]
    time.sleep(1.5)
    assert job(d, j["id"])["step"] == step, "no training without power"
    plug(device, True)
    done = wait_job(d, j["id"], {"done", "failed"})
    assert done["state"] == "done", done
    ref_losses, _ = reference_losses(d)
    assert losses_of(done) == ref_losses, "the resumed run continues exactly where the checkpoint was"


def test_sigterm_and_kill9_resume_from_the_checkpoint(daemon_with_model, device):
    d = daemon_with_model(adapt_options(device))
    ingest(d)
    j = submit(d, **REF).json
    wait_job(d, j["id"], {"running", "paused"}, pred=lambda x: x["step"] >= 6)
    assert d.stop(signal.SIGTERM) == 0
    assert checkpoints(d) == [j["id"]]
    assert "waiting_for_window" in d.stderr() or True
    d.start()
    wait_job(d, j["id"], {"running", "paused"}, pred=lambda x: x["step"] >= 20)
    d.proc.kill()
    d.proc.wait()
    assert checkpoints(d) == [j["id"]]
    d.start()
    d.wait_log(r"adapt: " + j["id"] + r": resumes training")
    done = wait_job(d, j["id"], {"done", "failed"})
    assert done["state"] == "done", done
    ref_losses, _ = reference_losses(d)
    assert losses_of(done) == ref_losses


def test_cancel_deletes_checkpoints(daemon_with_model, device):
    d = daemon_with_model(adapt_options(device))
    ingest(d)
    j = submit(d, max_steps=100000, seq_len=64).json
    wait_job(d, j["id"], {"running", "paused"}, pred=lambda x: x["step"] >= 5)
    deadline = time.monotonic() + 5
    while not checkpoints(d) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert checkpoints(d) == [j["id"]]
    r = call(d, "DELETE", f"/v1/adapt/jobs/{j['id']}", template="/v1/adapt/jobs/{id}")
    assert r.status == 200 and r.json["state"] == "cancelled", r
    assert checkpoints(d) == []
    assert job(d, j["id"])["state"] == "cancelled"
    r = call(d, "GET", "/v1/adapt/jobs/job-0000000000000000", template="/v1/adapt/jobs/{id}")
    assert r.status == 404, r


def test_a_failure_to_store_the_adapter_keeps_the_checkpoint(daemon_with_model, device):
    """Storing the adapter fails (its folder is gone): the job fails, but the
    training is not lost: its checkpoint stays and the reason says so; a
    cancel of the failed job deletes it."""
    d = daemon_with_model(adapt_options(device))
    ingest(d)
    j = submit(d, **REF).json
    wait_job(d, j["id"], {"running", "paused"}, pred=lambda x: x["step"] >= 5)
    deadline = time.monotonic() + 5
    while not checkpoints(d) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert checkpoints(d) == [j["id"]]
    adapters = Path(d.state_dir) / "adapters"
    shutil.rmtree(adapters)
    try:
        failed = wait_job(d, j["id"], {"done", "failed"})
        assert failed["state"] == "failed" and "adapter" in failed["reason"], failed
        assert "checkpoint is kept" in failed["reason"] and failed.get("adapter_id") is None, failed
        assert checkpoints(d) == [j["id"]], "the training survives a failure that is not its own"
        r = call(d, "DELETE", f"/v1/adapt/jobs/{j['id']}", template="/v1/adapt/jobs/{id}")
        assert r.status == 200 and r.json["state"] == "failed", r
        assert "checkpoint is kept" not in r.json["reason"], r.json
        assert checkpoints(d) == []
    finally:
        adapters.mkdir(exist_ok=True)


def error_of(r, status, code=None, param=None):
    assert r.status == status, r
    err = r.json["error"]
    if code is not None:
        assert err["code"] == code, err
    if param is not None:
        assert err.get("param") == param, err
    return err


BAD_FIELDS = [
    ({"method": "qlora"}, "method"),
    ({"rank": 0}, "rank"),
    ({"rank": 65}, "rank"),
    ({"alpha": 0}, "alpha"),
    ({"targets": ["attn_x"]}, "targets"),
    ({"targets": []}, "targets"),
    ({"seq_len": 4}, "seq_len"),
    ({"learning_rate": 0}, "learning_rate"),
    ({"budget_s": 0}, "budget_s"),
    ({"max_steps": 0}, "max_steps"),
    ({"heldout_fraction": 1}, "heldout_fraction"),
    ({"collections": "notes"}, "collections"),
    ({"collections": []}, "collections"),
    ({"name": "a b"}, "name"),
    ({"run_now": "yes"}, "run_now"),
    ({"examples": [[{"role": "bot", "content": "x"}]]}, "examples[0][0]"),
    ({"examples": [[{"role": "user", "content": "x"}]]}, "examples[0]"),
]

NOBODY_ADAPT = """
import json, socket, sys
def call(body):
    s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
    data = json.dumps(body).encode()
    s.sendall(b"POST /v1/adapt HTTP/1.1\\r\\nHost: x\\r\\nContent-Type: application/json\\r\\nConnection: close\\r\\n"
              + b"Content-Length: " + str(len(data)).encode() + b"\\r\\n\\r\\n" + data)
    raw = b""
    while True:
        chunk = s.recv(65536)
        if not chunk: break
        raw += chunk
    head, body = raw.split(b"\\r\\n\\r\\n", 1)
    return int(head.split()[1]), json.loads(body)
print(json.dumps({"other": call({"collections": ["notes"]}), "run_now": call({"collections": ["x"], "run_now": True})}))
"""


def test_bad_requests_are_refused_field_by_field(daemon_with_model, device, daemon):
    d = daemon_with_model(adapt_options(device, **{"adapt.max_queued_jobs": 1, "access.admin": "user:root"}))
    ingest(d)
    for body, param in BAD_FIELDS:
        req = {"collections": ["notes"]}
        req.update(body)
        err = error_of(post_json(d, "/v1/adapt", req), 400, param=param)
        assert param.split("[")[0] in err["message"], (param, err)
    error_of(post_json(d, "/v1/adapt", "[1]"), 400)
    err = error_of(post_json(d, "/v1/adapt", {"collections": ["nope"]}), 403, "forbidden")
    assert "nope" in err["message"]
    # another uid's collection
    done = run_as_nobody(NOBODY_ADAPT.replace("sys.argv[1]", repr(d.socket_path)))
    assert done.returncode == 0, done.stderr.decode()
    status, body = json.loads(done.stdout)["other"]
    assert status == 403 and body["error"]["code"] == "forbidden", body
    status, body = json.loads(done.stdout)["run_now"]
    assert status == 403 and "run_now" in body["error"]["message"], body
    # the queue holds one job: the window is closed, so it waits, and the next is 503
    plug(device, False)
    time.sleep(1.5)
    first = submit(d, max_steps=5).json
    r = post_json(d, "/v1/adapt", {"collections": ["notes"]})
    error_of(r, 503, "queue_full")
    assert r.header("retry-after"), r
    waiting = wait_job(d, first["id"], {"waiting_for_window"}, timeout=5)
    assert "power" in waiting["reason"], waiting
    # outside the adapt group
    other = daemon(dict(adapt_options(device), **{"access.adapt": "user:nobody"}))
    error_of(post_json(other, "/v1/adapt", {"collections": ["notes"]}), 403, "forbidden")
    r = call(other, "GET", "/v1/adapt/jobs")
    error_of(r, 403, "forbidden")


def edgectl(d, *args):
    return subprocess.run([str(BUILD / "edgectl"), "--socket", d.socket_path, *args], capture_output=True, text=True,
                          timeout=60)


def test_edgectl_and_python_clients(daemon_with_model, device):
    d = daemon_with_model(adapt_options(device))
    ingest(d)
    out = edgectl(d, "adapt", "notes", "--budget", "2m", "--steps", "12", "--rank", "4", "--seq-len", "32",
                  "--targets", "q,v", "--name", "mine")
    assert out.returncode == 0, out
    assert " done: adapter ad-" in out.stdout and "best held-out loss" in out.stdout, out
    assert "queued" in out.stderr and "step 12/12" in out.stderr, out
    job_id = out.stdout.split()[0]
    j = job(d, job_id)
    assert j["options"]["budget_s"] == 120 and j["options"]["targets"] == ["attn_q", "attn_v"], j
    out = edgectl(d, "jobs", "ls")
    assert out.returncode == 0 and job_id in out.stdout and "done" in out.stdout and "mine" in out.stdout, out
    out = edgectl(d, "jobs", "show", job_id)
    assert out.returncode == 0 and "adapter_id" in out.stdout and "loss" in out.stdout, out
    out = edgectl(d, "adapt", "notes", "--budget", "soon")
    assert out.returncode == 2 and "--budget" in out.stderr, out
    out = edgectl(d, "adapt", "notes", "--rank", "0")
    assert out.returncode == 1 and "rank" in out.stderr, out

    plug(device, False)
    time.sleep(1.5)
    out = edgectl(d, "adapt", "notes", "--detach")
    assert out.returncode == 0 and out.stdout.startswith("job-"), out
    waiting = out.stdout.strip()
    out = edgectl(d, "jobs", "cancel", waiting)
    assert out.returncode == 0 and out.stdout.strip() == f"{waiting} cancelled", out
    out = edgectl(d, "jobs", "watch", waiting)
    assert out.returncode == 1 and "cancelled" in out.stdout, out
    # an admin's run_now trains with the window closed (on battery), temperature permitting
    out = edgectl(d, "adapt", "notes", "--run-now", "--steps", "6", "--seq-len", "32", "--rank", "4")
    assert out.returncode == 0 and " done: adapter ad-" in out.stdout, out
    plug(device, True)

    sys.path.insert(0, str(REPO / "clients" / "python"))
    from edged_client import Client, EdgedError
    with Client(d.socket_path, timeout=60) as c:
        j = c.adapt("notes", max_steps=8, seq_len=32, rank=4)
        assert j["state"] == "queued"
        types = [e["type"] for e in c.job_events(j["id"])]
        assert types[0] == "snapshot" and types[-1] == "end" and "progress" in types, types
        done = c.job(j["id"])
        assert done["state"] == "done" and done["adapter_id"] in [a["id"] for a in c.adapters()]
        assert j["id"] in [x["id"] for x in c.jobs()]
        assert c.cancel_job(j["id"])["state"] == "done"
        with pytest.raises(EdgedError) as e:
            c.adapt("notes", rank=0)
        assert e.value.status == 400 and "rank" in str(e.value)


def test_concurrent_submissions_respect_max_queued_jobs(daemon_with_model, device):
    d = daemon_with_model(adapt_options(device, **{"adapt.max_queued_jobs": 2}))
    plug(device, False)  # nothing starts, so nothing finishes meanwhile
    deadline = time.monotonic() + 10
    while d.get_json("/v1/scheduler")["window_open"] and time.monotonic() < deadline:
        time.sleep(0.1)
    example = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    body = {"examples": [example], "max_steps": 4, "seq_len": 32, "rank": 4}
    for _ in range(3):
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            statuses = sorted(pool.map(lambda _: post_json(d, "/v1/adapt", body).status, range(8)))
        jobs = d.get_json("/v1/adapt/jobs")["data"]
        unfinished = [j for j in jobs if j["state"] not in ("done", "failed", "cancelled")]
        assert len(unfinished) <= 2 and statuses.count(202) == len(unfinished), (statuses, unfinished)
        for j in unfinished:
            call(d, "DELETE", f"/v1/adapt/jobs/{j['id']}", template="/v1/adapt/jobs/{id}")


def test_forgotten_job_starts_again_with_an_empty_curve_after_a_restart(daemon_with_model, device):
    d = daemon_with_model(adapt_options(device))
    ids = ingest(d)
    j = submit(d, **REF).json
    wait_job(d, j["id"], {"running", "paused"}, pred=lambda x: x["step"] >= 5)
    plug(device, False)
    stopped = wait_job(d, j["id"], {"waiting_for_window"}, timeout=10)
    assert stopped["losses"], stopped
    r = call(d, "DELETE", f"/v1/documents/{ids[0]}", template="/v1/documents/{id}")
    assert r.status == 200, r
    requeued = wait_restarted(d, j["id"])
    assert requeued["step"] == 0 and requeued["losses"] == [], requeued
    assert d.stop(signal.SIGTERM) == 0
    d.start()
    # the stored curve was the forgotten run's: it must not come back
    again = job(d, j["id"])
    assert again["step"] == 0 and again["losses"] == [], again


def test_a_restarted_job_forgets_only_the_documents_it_learnt_from(daemon_with_model, device):
    """After a restart a stopped job still knows which documents its
    checkpoint learnt from (stored with its row): deleting another document
    of its collection keeps the checkpoint; deleting one of them drops it."""
    d = daemon_with_model(adapt_options(device))
    ids = ingest(d)
    j = submit(d, **REF).json
    wait_job(d, j["id"], {"running", "paused"}, pred=lambda x: x["step"] >= 5)
    plug(device, False)
    wait_job(d, j["id"], {"waiting_for_window"}, timeout=10)
    assert checkpoints(d) == [j["id"]]
    later = ingest(d, docs=[{"title": "Later", "text": "The shed key hangs behind the kitchen door, "
                                                       "on the hook next to the calendar."}])
    assert d.stop(signal.SIGTERM) == 0
    d.start()
    step = job(d, j["id"])["step"]
    assert step >= 5
    r = call(d, "DELETE", f"/v1/documents/{later[0]}", template="/v1/documents/{id}")
    assert r.status == 200, r
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        again = job(d, j["id"])
        assert again["state"] == "waiting_for_window" and again["step"] == step, again
        assert checkpoints(d) == [j["id"]], "a document it never learnt from does not drop its checkpoint"
        time.sleep(0.1)
    r = call(d, "DELETE", f"/v1/documents/{ids[1]}", template="/v1/documents/{id}")
    assert r.status == 200, r
    wait_restarted(d, j["id"])
    assert checkpoints(d) == []


def test_retrain_policy_and_deletion_drops_checkpoints(daemon_with_model, device):
    d = daemon_with_model(adapt_options(device, **{"adapt.on_stale": "retrain"}))
    ids = ingest(d)
    first = submit(d, max_steps=8).json
    done = wait_job(d, first["id"], {"done", "failed"})
    assert done["state"] == "done", done
    # a job stopped with a checkpoint loses it when a document it learnt from goes
    waiting = submit(d, **REF).json
    wait_job(d, waiting["id"], {"running", "paused"}, pred=lambda x: x["step"] >= 5)
    plug(device, False)
    wait_job(d, waiting["id"], {"waiting_for_window"}, timeout=10)
    assert checkpoints(d) == [waiting["id"]]
    r = call(d, "DELETE", f"/v1/documents/{ids[0]}", template="/v1/documents/{id}")
    assert r.status == 200, r
    wait_restarted(d, waiting["id"])
    assert checkpoints(d) == []
    # the stale adapter stops serving and a job retrains it without the document
    deadline = time.monotonic() + 5
    retrain = []
    while not retrain and time.monotonic() < deadline:
        retrain = [j for j in d.get_json("/v1/adapt/jobs")["data"] if j["options"].get("retrains") == done["adapter_id"]]
        time.sleep(0.1)
    assert len(retrain) == 1, d.get_json("/v1/adapt/jobs")
    stale = call(d, "GET", f"/v1/adapters/{done['adapter_id']}", template="/v1/adapters/{id}").json
    assert stale["status"] == "stale", stale
    plug(device, True)
    redone = wait_job(d, retrain[0]["id"], {"done", "failed"})
    assert redone["state"] == "done" and redone["adapter_id"] != done["adapter_id"], redone
    fresh = call(d, "GET", f"/v1/adapters/{redone['adapter_id']}", template="/v1/adapters/{id}").json
    assert fresh["status"] == "ready" and fresh["name"] == stale["name"] and fresh["version"] > stale["version"], fresh
