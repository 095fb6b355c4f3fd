"""openapi.py - reads proto/openapi.yaml and validates JSON bodies against it.

A minimal JSON-Schema checker for the subset the contract uses: type, enum,
properties, required, additionalProperties, items, $ref, oneOf, pattern,
minimum, minLength. Anything else in a schema is an error (so the contract
cannot silently use a keyword this checker ignores). Stdlib + PyYAML only.
"""
import json
import re
from pathlib import Path

import yaml

SPEC_PATH = Path(__file__).resolve().parents[2] / "proto" / "openapi.yaml"
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

# Keywords the checker implements, and keywords that only document.
_CHECKED = {"type", "enum", "properties", "required", "additionalProperties", "items",
            "$ref", "oneOf", "pattern", "minimum", "minLength"}
_DOC_ONLY = {"description", "example", "title", "format"}


class SchemaError(AssertionError):
    """A JSON value does not match its schema (or the schema is unusable)."""


_spec_cache = None


def spec():
    """The parsed openapi.yaml (parsed once)."""
    global _spec_cache
    if _spec_cache is None:
        with open(SPEC_PATH, encoding="utf-8") as f:
            _spec_cache = yaml.safe_load(f)
    return _spec_cache


def resolve(node):
    """Follows a {$ref: "#/a/b"} chain inside the spec; returns the target."""
    seen = set()
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        if ref in seen:
            raise SchemaError(f"$ref loop at {ref}")
        seen.add(ref)
        if not ref.startswith("#/"):
            raise SchemaError(f"only local $refs are supported: {ref}")
        node = spec()
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, dict) or part not in node:
                raise SchemaError(f"unresolvable $ref {ref}")
            node = node[part]
    return node


def _type_ok(value, name):
    if name == "object":
        return isinstance(value, dict)
    if name == "array":
        return isinstance(value, list)
    if name == "string":
        return isinstance(value, str)
    if name == "boolean":
        return isinstance(value, bool)
    if name == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if name == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if name == "null":
        return value is None
    raise SchemaError(f"unknown type {name!r} in schema")


def validate(value, schema, where="$"):
    """Raises SchemaError naming the JSON path of the first mismatch."""
    schema = resolve(schema)
    if not isinstance(schema, dict):
        raise SchemaError(f"{where}: schema is not an object: {schema!r}")
    unknown = set(schema) - _CHECKED - _DOC_ONLY
    if unknown:
        raise SchemaError(f"{where}: schema uses keywords this checker does not implement: {sorted(unknown)}")

    if "oneOf" in schema:
        matched = []
        failures = []
        for i, option in enumerate(schema["oneOf"]):
            try:
                validate(value, option, where)
                matched.append(i)
            except SchemaError as e:
                failures.append(str(e))
        if len(matched) != 1:
            raise SchemaError(f"{where}: matches {len(matched)} of the oneOf options (need exactly 1): "
                              + "; ".join(failures))
    if "type" in schema and not _type_ok(value, schema["type"]):
        raise SchemaError(f"{where}: expected {schema['type']}, got {type(value).__name__} {value!r}")
    if "enum" in schema and value not in schema["enum"]:
        raise SchemaError(f"{where}: {value!r} is not one of {schema['enum']}")
    if "pattern" in schema and isinstance(value, str) and not re.search(schema["pattern"], value):
        raise SchemaError(f"{where}: {value!r} does not match /{schema['pattern']}/")
    if "minLength" in schema and isinstance(value, str) and len(value) < schema["minLength"]:
        raise SchemaError(f"{where}: {value!r} is shorter than {schema['minLength']}")
    if ("minimum" in schema and isinstance(value, (int, float)) and not isinstance(value, bool)
            and value < schema["minimum"]):
        raise SchemaError(f"{where}: {value!r} is below the minimum {schema['minimum']}")
    if isinstance(value, dict):
        props = schema.get("properties", {})
        for name in schema.get("required", []):
            if name not in value:
                raise SchemaError(f"{where}: missing required property {name!r}")
        extra = schema.get("additionalProperties", True)
        for name, item in value.items():
            if name in props:
                validate(item, props[name], f"{where}.{name}")
            elif extra is False:
                raise SchemaError(f"{where}: unexpected property {name!r}")
            elif isinstance(extra, dict):
                validate(item, extra, f"{where}.{name}")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            validate(item, schema["items"], f"{where}[{i}]")


def routes():
    """{(METHOD, path): group} of every operation in the spec."""
    out = {}
    for path, item in spec()["paths"].items():
        for method, op in item.items():
            if method in METHODS:
                out[(method.upper(), path)] = op.get("x-edged-group")
    return out


def methods_of(path):
    """The methods the spec lists for `path` (upper case), or None if it is not a route."""
    item = spec()["paths"].get(path)
    if item is None:
        return None
    return {m.upper() for m in item if m in METHODS}


def response_spec(method, path, status):
    """The response object the contract gives for (method, path, status): the
    operation's own, else the any-path one; raises SchemaError if undocumented."""
    code = str(status)
    item = spec()["paths"].get(path)
    op = item.get(method.lower()) if item else None
    if op is not None and code in op["responses"]:
        return resolve(op["responses"][code])
    if op is None and item is not None and code == "405":
        return resolve({"$ref": "#/components/responses/MethodNotAllowed"})
    if code in spec()["x-edged-any-path-responses"]:
        if op is not None:
            raise SchemaError(f"{method} {path} answered {status}, which its operation does not list")
        return resolve(spec()["x-edged-any-path-responses"][code])
    raise SchemaError(f"{method} {path}: status {status} is not in the contract")


def check_response(method, path, status, content_type, body):
    """Validates one response against the contract: the status is documented,
    the media type is the documented one and a JSON body matches its schema.
    Returns the parsed JSON (or the text for non-JSON media types)."""
    path = path.split("?", 1)[0]
    resp = response_spec(method, path, status)
    content = resp.get("content", {})
    if not content:
        if body:
            raise SchemaError(f"{method} {path} {status}: the contract has no body, got {body[:80]!r}")
        return None
    ctype = (content_type or "").strip()
    if ctype not in content:
        raise SchemaError(f"{method} {path} {status}: Content-Type {ctype!r}, contract says one of {sorted(content)}")
    schema = content[ctype].get("schema", {})
    if ctype.startswith("application/json"):
        try:
            value = json.loads(body)
        except ValueError as e:
            raise SchemaError(f"{method} {path} {status}: body is not JSON ({e}): {body[:200]!r}")
        validate(value, schema, "$")
        return value
    if ctype == "application/octet-stream":
        return body  # binary (an adapter file): nothing to validate
    text = body.decode("utf-8")
    validate(text, schema, "$")
    return text
