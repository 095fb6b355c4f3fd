"""test_contract.py - proto/openapi.yaml and the daemon agree: the routes in
the contract are exactly the routes `edged --list-routes` prints (method, path,
group), every route answers with a documented status and body, every path
answers other methods with 405 and the contract's Allow list, and the
contract itself is well formed (refs resolve, groups known, errors share the
Error schema).
"""
import re
import subprocess

import pytest

import openapi
from conftest import EDGED, assert_error, check_common, request_bytes, require_edged

ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
ERROR_STATUSES = ["400", "405", "408", "411", "413", "414", "431", "500", "503"]


def listed_routes():
    require_edged()
    out = subprocess.run([str(EDGED), "--list-routes"], capture_output=True, text=True, timeout=10)
    assert out.returncode == 0, out
    routes = {}
    for line in out.stdout.splitlines():
        if not line.strip():
            continue
        parts = line.split()
        assert len(parts) == 3, f"--list-routes line is not 'METHOD PATH GROUP': {line!r}"
        method, path, group = parts
        assert (method, path) not in routes, f"route listed twice: {line!r}"
        routes[(method, path)] = group
    assert routes, "--list-routes printed nothing"
    return routes


def test_routes_equal_list_routes():
    served = listed_routes()
    documented = openapi.routes()
    missing = sorted(set(served) - set(documented))
    extra = sorted(set(documented) - set(served))
    assert not missing, f"served but not in openapi.yaml: {missing}"
    assert not extra, f"in openapi.yaml but not served: {extra}"
    for key, group in served.items():
        assert documented[key] == group, f"{key}: daemon says group {group}, openapi.yaml {documented[key]}"


def test_every_served_path_has_a_contract_entry_for_405():
    for (method, path) in listed_routes():
        assert openapi.methods_of(path) is not None, path


# ------------------------------------------------------ the contract itself ----

def walk(node, where="#"):
    if isinstance(node, dict):
        yield where, node
        for k, v in node.items():
            yield from walk(v, f"{where}/{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from walk(v, f"{where}/{i}")


def test_contract_refs_resolve():
    for where, node in walk(openapi.spec()):
        if "$ref" in node:
            openapi.resolve(node)  # raises on a dangling ref


def test_contract_operations():
    spec = openapi.spec()
    assert spec["openapi"].startswith("3.0.")
    groups = set(spec["x-edged-groups"])
    assert groups == {"none", "infer", "ingest", "adapt", "admin"}
    seen_ids = set()
    for (method, path), group in openapi.routes().items():
        op = spec["paths"][path][method.lower()]
        assert group in groups, f"{method} {path}: x-edged-group {group!r}"
        assert op.get("operationId") and op["operationId"] not in seen_ids, f"{method} {path}: operationId"
        seen_ids.add(op["operationId"])
        codes = set(op["responses"])
        assert any(c.startswith("2") for c in codes), f"{method} {path}: no 2xx response"
        for status in ERROR_STATUSES:
            assert status in codes, f"{method} {path}: response {status} not documented"
        if group != "none":
            assert "403" in codes, f"{method} {path}: guarded by {group} but no 403"
        for param in re.findall(r"\{([^}]+)\}", path):
            assert any(p.get("name") == param for p in op.get("parameters", []) +
                       spec["paths"][path].get("parameters", [])), f"{path}: parameter {param} undocumented"


def schema_allows_error(schema):
    """True if the (resolved) schema is Error, or a oneOf that includes it."""
    error = openapi.spec()["components"]["schemas"]["Error"]
    if schema is error or schema == {"$ref": "#/components/schemas/Error"}:
        return True
    resolved = openapi.resolve(schema)
    if resolved is error:
        return True
    return any(schema_allows_error(o) for o in resolved.get("oneOf", []))


def test_every_error_response_uses_the_error_schema():
    spec = openapi.spec()
    responses = []
    for (method, path) in openapi.routes():
        for code, resp in spec["paths"][path][method.lower()]["responses"].items():
            responses.append((f"{method} {path} {code}", code, resp))
    for code, resp in spec["x-edged-any-path-responses"].items():
        responses.append((f"any path {code}", code, resp))
    for where, code, resp in responses:
        if int(code) < 400:
            continue
        content = openapi.resolve(resp).get("content", {})
        assert "application/json" in content, f"{where}: errors are application/json"
        assert schema_allows_error(content["application/json"]["schema"]), f"{where}: not the Error schema"


def test_error_codes_in_contract_match_api():
    detail = openapi.spec()["components"]["schemas"]["ErrorDetail"]["properties"]
    assert set(detail["type"]["enum"]) == {"invalid_request_error", "permission_error", "not_found_error",
                                           "rate_limit_error", "server_error", "unavailable_error"}
    for code in ["bad_request", "invalid_json", "forbidden", "not_found", "method_not_allowed",
                 "request_timeout", "length_required", "body_too_large", "uri_too_long",
                 "headers_too_large", "too_many_connections", "not_ready", "internal_error"]:
        assert code in detail["code"]["enum"], code


# ---------------------------------------------------- the daemon against it ----

def concrete(path):
    return re.sub(r"\{[^}]+\}", "no-such-id", path)


@pytest.mark.parametrize("method,path", sorted(openapi.routes()))
def test_route_answers_per_contract(daemon, method, path):
    d = daemon()
    body = b"{}" if method in ("POST", "PUT", "PATCH") else b""
    headers = [("Content-Type", "application/json")] if body else []
    target = concrete(path)
    with d.connect() as c:
        c.send(request_bytes(method, target, headers, body))
        # Validated against the route's own entry (path template, not the concrete path).
        r = check_common(c.read_response(), method, path)
    if "{" not in path and method == "GET":
        assert 200 <= r.status < 300, f"{method} {target}: {r!r}"


@pytest.mark.parametrize("path", sorted({p for _, p in openapi.routes()}))
def test_other_methods_are_405_with_the_contracts_allow(daemon, path):
    d = daemon()
    allowed = openapi.methods_of(path)
    target = concrete(path)
    for method in ALL_METHODS:
        if method in allowed:
            continue
        with d.connect() as c:
            c.send(request_bytes(method, target, [("Content-Length", "0")]))
            r = check_common(c.read_response(), method, path)
            assert_error(r, 405)
            got = {m.strip() for m in r.header("allow", "").split(",") if m.strip()}
            assert got == allowed, f"{method} {target}: Allow {got}, contract {allowed}"
