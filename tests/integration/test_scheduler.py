"""test_scheduler.py - training windows against the real daemon with a faked
device (adapt.sys_root / adapt.proc_root point at a tree the test writes): the
window opens and closes as temperature (with hysteresis), power, battery,
pressure and hours change; GET /v1/scheduler says why at each point; /metrics
exports the gauges; edgectl scheduler and the Python module print one line
per constraint; --check-config names a bad hours string with file:line.
"""
import json
import re
import signal
import subprocess
import sys
import time

import pytest

from conftest import BUILD, EDGED, REPO, write_config

sys.path.insert(0, str(REPO / "clients" / "python"))
import edged_client  # noqa: E402

EDGECTL = BUILD / "edgectl"
NAMES = ["enabled", "power", "battery", "temperature", "throttling", "pressure", "idle", "hours",
         "daily_cap", "logind_idle"]


class Device:
    """A fake sysfs/procfs tree: a SoC zone, a mains supply and a battery, PSI."""

    def __init__(self, root):
        self.sys = root / "sys"
        self.proc = root / "proc"
        self.put("sys/class/thermal/thermal_zone0/type", "cpu-thermal")
        self.put("sys/class/thermal/thermal_zone1/type", "gpu-thermal")
        self.put("sys/class/thermal/thermal_zone1/temp", "30000")
        self.temperature(45)
        self.put("sys/class/power_supply/AC/type", "Mains")
        self.put("sys/class/power_supply/BAT0/type", "Battery")
        self.plug(True)
        self.battery(90)
        self.pressure("cpu", 1.0)
        self.pressure("memory", 0.0)
        self.pressure("io", 0.5)

    def put(self, rel, text):
        path = self.sys.parent / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n")

    def temperature(self, celsius):
        self.put("sys/class/thermal/thermal_zone0/temp", str(int(celsius * 1000)))

    def plug(self, online):
        self.put("sys/class/power_supply/AC/online", "1" if online else "0")
        self.put("sys/class/power_supply/BAT0/status", "Charging" if online else "Discharging")

    def battery(self, pct):
        self.put("sys/class/power_supply/BAT0/capacity", str(pct))

    def pressure(self, resource, avg10):
        self.put(f"proc/pressure/{resource}", f"some avg10={avg10:.2f} avg60=0.00 avg300=0.00 total=0\n"
                                              "full avg10=0.00 avg60=0.00 avg300=0.00 total=0")


def options(device, **extra):
    opts = {"adapt.sys_root": str(device.sys), "adapt.proc_root": str(device.proc), "adapt.poll_s": 1,
            "adapt.idle_s": 0, "adapt.temp_ceiling_c": 70, "adapt.temp_hysteresis_c": 5,
            "adapt.pressure_ceiling": 20}
    opts.update({f"adapt.{k}": v for k, v in extra.items()})
    return opts


def checks(answer):
    return {c["name"]: c for c in answer["constraints"]}


def wait_for(d, predicate, what, timeout=6.0):
    """Polls GET /v1/scheduler until predicate(answer); returns that answer."""
    deadline = time.monotonic() + timeout
    while True:
        answer = d.get_json("/v1/scheduler")
        if predicate(answer):
            return answer
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s; last answer: {answer}")
        time.sleep(0.1)


def verdict_is(name, verdict, window_open):
    return lambda a: checks(a)[name]["verdict"] == verdict and a["window_open"] is window_open


def metric(text, name):
    m = re.search(rf"^{re.escape(name)} ([-0-9.e+]+)$", text, re.M)
    assert m, f"no {name} in the metrics:\n{text}"
    return float(m.group(1))


def test_window_follows_the_device(daemon, tmp_path):
    dev = Device(tmp_path / "dev")
    d = daemon(options(dev))
    a = wait_for(d, lambda a: a["window_open"], "the window opens on a cool, plugged-in, quiet device")
    assert [c["name"] for c in a["constraints"]] == NAMES
    c = checks(a)
    assert c["temperature"]["value"] == 45 and c["temperature"]["threshold"] == 70 and c["temperature"]["unit"] == "C"
    assert "cpu-thermal" in c["temperature"]["reason"]  # the hottest zone
    assert c["power"]["value"] == "mains" and c["power"]["verdict"] == "ok"
    assert c["battery"]["value"] == 90
    assert a["trainer"] == {"state": "idle", "pauses": 0}
    assert a["next_allowed_hours"]["in_s"] == 0 and a["next_allowed_hours"]["closes_at"] is None

    # a hot SoC closes it; cooling below the ceiling is not enough (hysteresis)
    dev.temperature(72.5)
    a = wait_for(d, verdict_is("temperature", "fail", False), "a hot SoC closes the window")
    assert checks(a)["temperature"]["value"] == 72.5
    assert "ceiling" in checks(a)["temperature"]["reason"]
    dev.temperature(67)
    time.sleep(2.5)  # two polls at least
    a = d.get_json("/v1/scheduler")
    assert not a["window_open"] and checks(a)["temperature"]["verdict"] == "fail", a
    assert "reopens below 65" in checks(a)["temperature"]["reason"]
    dev.temperature(64)
    wait_for(d, verdict_is("temperature", "ok", True), "below ceiling - hysteresis it reopens")

    # a pulled plug closes it (mains_only), plugging back in reopens it
    dev.plug(False)
    a = wait_for(d, verdict_is("power", "fail", False), "a pulled plug closes the window")
    assert checks(a)["power"]["value"] == "battery"
    text = d.request("GET", "/metrics").body.decode()
    assert metric(text, "edged_device_on_power") == 0
    assert metric(text, "edged_adapt_window_open") == 0
    assert metric(text, 'edged_adapt_constraint_holds{constraint="power"}') == 0
    dev.plug(True)
    wait_for(d, verdict_is("power", "ok", True), "plugged back in")

    # a busy machine closes it
    dev.pressure("memory", 35.5)
    a = wait_for(d, verdict_is("pressure", "fail", False), "memory pressure closes the window")
    assert checks(a)["pressure"]["value"] == 35.5 and "memory" in checks(a)["pressure"]["reason"]
    dev.pressure("memory", 0)
    wait_for(d, verdict_is("pressure", "ok", True), "pressure gone")

    text = d.request("GET", "/metrics").body.decode()
    assert metric(text, "edged_device_temperature_celsius") == 64
    assert metric(text, "edged_device_on_power") == 1
    assert metric(text, "edged_device_battery_percent") == 90
    assert metric(text, 'edged_device_pressure_percent{resource="io"}') == 0.5
    assert metric(text, "edged_adapt_window_open") == 1
    assert metric(text, 'edged_adapt_trainer_state{state="idle"}') == 1
    assert metric(text, "edged_adapt_trainer_pauses_total") == 0
    assert metric(text, "edged_adapt_window_open_seconds_today") >= 1


def test_battery_floor_and_throttling(daemon, tmp_path):
    dev = Device(tmp_path / "dev")
    d = daemon(options(dev, mains_only="false", battery_floor=50))
    dev.plug(False)
    dev.battery(60)
    a = wait_for(d, lambda a: checks(a)["power"]["value"] == "battery" and a["window_open"],
                 "on battery above the floor the window stays open")
    assert checks(a)["battery"]["verdict"] == "ok"
    dev.battery(40)
    a = wait_for(d, verdict_is("battery", "fail", False), "a low battery closes the window")
    assert checks(a)["battery"]["value"] == 40 and checks(a)["battery"]["threshold"] == 50
    dev.plug(True)
    wait_for(d, verdict_is("battery", "ok", True), "charging: the floor does not apply")

    dev.put("sys/class/hwmon/hwmon0/name", "rpi_volt")
    dev.put("sys/class/hwmon/hwmon0/in0_lcrit_alarm", "1")
    a = wait_for(d, verdict_is("throttling", "fail", False), "under-voltage closes the window")
    assert "under-voltage" in checks(a)["throttling"]["reason"]
    assert metric(d.request("GET", "/metrics").body.decode(), "edged_device_undervoltage") == 1
    dev.put("sys/class/hwmon/hwmon0/in0_lcrit_alarm", "0")
    wait_for(d, verdict_is("throttling", "ok", True), "the alarm cleared")


def test_hours_and_reload(daemon, tmp_path):
    dev = Device(tmp_path / "dev")
    now = time.localtime()
    minute = now.tm_hour * 60 + now.tm_min

    def hhmm(m):
        m %= 1440
        return f"{m // 60:02d}:{m % 60:02d}"

    # every hour but the next two: closed now, opens in about two hours
    outside = f"{hhmm(minute + 120)}-{hhmm(minute - 30)}"
    # a range that wraps around midnight from an hour ahead to a half hour ahead: inside now
    inside = f"{hhmm(minute + 60)}-{hhmm(minute + 30)}"
    d = daemon(options(dev, hours=outside))
    a = wait_for(d, verdict_is("hours", "fail", False), "outside the allowed hours")
    hours = a["next_allowed_hours"]
    assert 100 * 60 <= hours["in_s"] <= 121 * 60, hours
    assert hours["at"].startswith(time.strftime("%Y-%m-%dT", time.localtime(time.time() + hours["in_s"]))), hours
    assert f"{hhmm(minute + 120)}:00" in hours["at"]
    assert checks(a)["hours"]["threshold"] == outside

    d.reconfigure({"adapt.hours": inside})
    d.send_signal(signal.SIGHUP)
    a = wait_for(d, verdict_is("hours", "ok", True), "inside the allowed hours after a reload")
    assert a["next_allowed_hours"]["in_s"] == 0 and a["next_allowed_hours"]["closes_at"], a

    d.reconfigure({"adapt.enabled": "false"})
    d.send_signal(signal.SIGHUP)
    wait_for(d, verdict_is("enabled", "fail", False), "adapt.enabled = false keeps it closed")


def test_unknown_device_holds(daemon, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    d = daemon({"adapt.sys_root": str(empty / "sys"), "adapt.proc_root": str(empty / "proc"), "adapt.idle_s": 0,
                "adapt.poll_s": 1})
    a = wait_for(d, lambda a: a["window_open"], "an unknown device opens the window")
    c = checks(a)
    for name in ("power", "battery", "temperature", "throttling", "pressure"):
        assert c[name]["verdict"] == "unknown" and c[name]["holds"] and c[name]["value"] is None, c[name]
    text = d.request("GET", "/metrics").body.decode()
    assert "edged_device_temperature_celsius " not in text
    assert metric(text, "edged_device_on_power") == 1


def test_idle_s_waits_for_quiet(daemon, tmp_path):
    dev = Device(tmp_path / "dev")
    d = daemon(options(dev, idle_s=3600))
    a = wait_for(d, lambda a: checks(a)["idle"]["verdict"] == "fail", "idle_s not yet reached")
    assert not a["window_open"] and checks(a)["idle"]["threshold"] == 3600


def test_edgectl_and_python_scheduler(daemon, tmp_path):
    dev = Device(tmp_path / "dev")
    d = daemon(options(dev))
    dev.temperature(80)
    wait_for(d, verdict_is("temperature", "fail", False), "hot")
    r = subprocess.run([str(EDGECTL), "--socket", d.socket_path, "scheduler"], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0, r
    lines = r.stdout.splitlines()
    assert lines[0] == "window: closed (training waits: temperature)", r.stdout
    assert lines[1] == "trainer: idle (0 pauses)"
    rows = lines[2:2 + len(NAMES)]
    assert [row.split()[1] for row in rows] == NAMES, r.stdout
    hot = rows[NAMES.index("temperature")]
    assert re.match(r"^  FAIL +temperature +80 C / 70 C +80\.0 C \(cpu-thermal\) reached the ceiling", hot), hot
    assert lines[-2] == "hours: any hour allowed" and lines[-1].startswith("today: window open ")
    j = subprocess.run([str(EDGECTL), "--socket", d.socket_path, "--json", "scheduler"], capture_output=True,
                       text=True, timeout=30)
    assert j.returncode == 0 and json.loads(j.stdout)["window_open"] is False, j

    with edged_client.Client(d.socket_path) as c:
        answer = c.scheduler()
    assert answer["window_open"] is False
    assert edged_client.scheduler_lines(answer)[:2 + len(NAMES)] == lines[:2 + len(NAMES)]


def test_check_config_names_a_bad_hours_string(tmp_path):
    path = write_config(tmp_path / "edged.conf", {"state.directory": str(tmp_path), "adapt.hours": "22:00-25:00",
                                                  "adapt.poll_s": 0})
    r = subprocess.run([str(EDGED), "--check-config", "--config", path], capture_output=True, text=True, timeout=30)
    assert r.returncode == 1, r
    assert re.search(rf"{re.escape(path)}:\d+: adapt\.hours: \"22:00-25:00\": 25:00 is not a time of day", r.stderr), r.stderr
    assert re.search(rf"{re.escape(path)}:\d+: adapt\.poll_s: expected an integer between 1 and 3600", r.stderr), r.stderr
