"""test_client_errors.py - the client library (clients/lib/edgeclient.{h,c})
repeats part of the daemon's error table (daemon/core/error.h) so that its
header stands alone. This test reads the three files and fails when they
disagree: every ED_CLIENT_<NAME> must have the value of the daemon's
ED_<NAME>, and ed_client_strerror() its message. No daemon is started.
"""
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def daemon_table():
    text = (REPO / "daemon" / "core" / "error.h").read_text()
    rows = re.findall(r'X\((\w+),\s*(-?\d+),\s*"([^"]*)"\)', text)
    assert len(rows) > 10, "cannot read ED_ERRNO_MAP from daemon/core/error.h"
    return {name: (int(value), message) for name, value, message in rows}


def client_codes():
    text = (REPO / "clients" / "lib" / "edgeclient.h").read_text()
    codes = {name: int(value) for name, value in re.findall(r"\bED_CLIENT_(E\w+)\s*=\s*(-?\d+)", text)}
    assert codes, "cannot read the ED_CLIENT_E* enum from clients/lib/edgeclient.h"
    return codes


def client_messages():
    text = (REPO / "clients" / "lib" / "edgeclient.c").read_text()
    body = text[text.index("const char *ed_client_strerror(int err)"):]
    body = body[:body.index("\n}\n")]
    return dict(re.findall(r'case ED_CLIENT_(\w+):\s*return "([^"]*)";', body))


def test_client_codes_are_the_daemons():
    daemon = daemon_table()
    for name, value in client_codes().items():
        assert name in daemon, f"ED_CLIENT_{name}: the daemon has no ED_{name}"
        assert value == daemon[name][0], f"ED_CLIENT_{name} = {value}, but ED_{name} = {daemon[name][0]}"


def test_client_messages_are_the_daemons():
    daemon = daemon_table()
    codes = client_codes()
    messages = client_messages()
    assert messages.pop("OK", None) == "success"
    assert set(messages) == set(codes), "ed_client_strerror() and the ED_CLIENT_E* enum list different codes"
    for name, message in messages.items():
        assert message == daemon[name][1], f"ed_client_strerror(ED_CLIENT_{name}) = {message!r}, " \
                                           f"the daemon says {daemon[name][1]!r}"
