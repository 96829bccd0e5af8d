"""Field readers shared by the wire formats: type checks that raise ``InvalidRequest``
with the offending ``param``, and small JSON/data-URL conversions.

Client JSON arrives untyped; every check here turns what would otherwise be a
``KeyError``/``TypeError`` deep in a lever (and a 500) into a 400 naming the field.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

from tokenthrift.errors import InvalidRequest
from tokenthrift.types import CacheTTL

# Body keys starting with this prefix are reserved: neither provider defines one, and
# the gateway once kept its own notes under ``_wire`` in the same dict as client
# parameters (a client could set them). A client key with this prefix is a 400.
PRIVATE_PREFIX = "_"
# No longer written (the notes live in ``ChatRequest.wire_notes``); kept so importers
# still load while they move to ``wire_notes.affecting_answer()``.
WIRE_NOTES = "_wire"


_JSON_NAMES = {
    "dict": "object",
    "list": "array",
    "str": "string",
    "int": "integer",
    "float": "number",
    "bool": "boolean",
}


def _type_error(param: str, expected: str, value: Any) -> InvalidRequest:
    if value is None:
        return InvalidRequest(f"Missing required parameter: '{param}'.", param=param)
    got = _JSON_NAMES.get(type(value).__name__, type(value).__name__)
    return InvalidRequest(
        f"Invalid type for '{param}': expected {expected}, got {got}.", param=param
    )


def require_dict(value: Any, param: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _type_error(param, "an object", value)
    return value


def require_list(value: Any, param: str, *, nonempty: bool = False) -> list[Any]:
    if not isinstance(value, list):
        raise _type_error(param, "an array", value)
    if nonempty and not value:
        raise InvalidRequest(f"'{param}' must not be empty.", param=param)
    return value


def require_str(value: Any, param: str, *, nonempty: bool = False) -> str:
    if not isinstance(value, str):
        raise _type_error(param, "a string", value)
    if nonempty and not value:
        raise InvalidRequest(f"'{param}' must not be empty.", param=param)
    return value


# The opt_* readers take ``body[key]`` (absent or null -> None); ``param`` names the
# field in errors when ``body`` is nested (e.g. "thinking.budget_tokens").


def opt_str(body: dict[str, Any], key: str, param: str | None = None) -> str | None:
    value = body.get(key)
    return None if value is None else require_str(value, param or key)


def opt_bool(body: dict[str, Any], key: str, param: str | None = None) -> bool | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise _type_error(param or key, "a boolean", value)
    return value


def opt_int(
    body: dict[str, Any], key: str, param: str | None = None, *, minimum: int | None = None
) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    param = param or key
    # bool is an int subclass in Python; JSON true is not a valid count.
    if not isinstance(value, int) or isinstance(value, bool):
        raise _type_error(param, "an integer", value)
    if minimum is not None and value < minimum:
        raise InvalidRequest(
            f"Invalid value for '{param}': {value}; expected an integer >= {minimum}.", param=param
        )
    return value


def opt_number(body: dict[str, Any], key: str, low: float, high: float) -> float | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise _type_error(key, "a number", value)
    if not low <= value <= high:
        raise InvalidRequest(
            f"Invalid value for '{key}': {value}; expected a number between {low:g} and {high:g}.",
            param=key,
        )
    return float(value)


def opt_dict(body: dict[str, Any], key: str, param: str | None = None) -> dict[str, Any] | None:
    value = body.get(key)
    return None if value is None else require_dict(value, param or key)


def cache_ttl(value: Any, param: str) -> CacheTTL | None:
    """An Anthropic ``cache_control`` object -> its TTL ("5m" when not given)."""
    if value is None:
        return None
    value = require_dict(value, param)
    if value.get("type") != "ephemeral":
        raise InvalidRequest(
            f"Invalid value for '{param}.type': expected 'ephemeral'.", param=f"{param}.type"
        )
    ttl = value.get("ttl", "5m")
    if ttl not in ("5m", "1h"):
        raise InvalidRequest(
            f"Invalid value for '{param}.ttl': expected '5m' or '1h'.", param=f"{param}.ttl"
        )
    return ttl  # type: ignore[no-any-return]


def str_list(value: Any, param: str) -> list[str]:
    """A stop-sequence style field: a string or an array of strings."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    for i, item in enumerate(require_list(value, param)):
        require_str(item, f"{param}[{i}]")
    return value


def compact_json(value: Any) -> str:
    """JSON text without spaces (tool-call arguments, schema hints)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        # orjson refuses integers beyond 64 bits; the stdlib does not.
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def loads_object(text: str) -> dict[str, Any] | None:
    """Parse tool-call arguments; None when they are not a JSON object.

    Models emit truncated or invalid JSON when they hit ``max_tokens`` mid-call.
    """
    if not text:
        return {}
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def split_data_url(url: str) -> tuple[str, str] | None:
    """``data:<media>;base64,<data>`` -> (media_type, data); None for other URLs."""
    if not url.startswith("data:"):
        return None
    header, sep, data = url.partition(",")
    if not sep or not header.endswith(";base64"):
        return None
    return header[5:-7] or "application/octet-stream", data


def data_url(media_type: str | None, data: str) -> str:
    return f"data:{media_type or 'application/octet-stream'};base64,{data}"


def client_extra(body: dict[str, Any], canonical: frozenset[str]) -> dict[str, Any]:
    """The client's parameters with no canonical field, kept verbatim for pass-through.

    Reserved (``_``-prefixed) keys are refused rather than dropped: a client sending
    one is probing or confused, and silently ignoring it would hide either.
    """
    extra: dict[str, Any] = {}
    for key, value in body.items():
        if key.startswith(PRIVATE_PREFIX):
            raise InvalidRequest(
                f"Unrecognized request argument supplied: '{key}' (parameters starting "
                f"with '{PRIVATE_PREFIX}' are reserved).",
                param=key,
            )
        if key not in canonical:
            extra[key] = value
    return extra


def passthrough(extra: dict[str, Any], body: dict[str, Any]) -> None:
    """Copy client-only parameters into an upstream body; canonical fields win."""
    for key, value in extra.items():
        if not key.startswith(PRIVATE_PREFIX) and key not in body:
            body[key] = value


# How deep client and upstream JSON may nest (objects and arrays). Real requests stay
# far below it (a tool schema with nested objects is ~10 deep); the limit exists because
# recursive walks of the request (deepcopy, json.dumps, cache keys) hit Python's
# recursion limit near 1,000 and a RecursionError is a 500.
MAX_JSON_DEPTH = 64


def may_nest_deeper(raw: bytes | bytearray | str, max_depth: int = MAX_JSON_DEPTH) -> bool:
    """False when the JSON text ``raw`` cannot nest deeper than ``max_depth``: it holds
    fewer opening brackets than that (strings included, so an upper bound). Counting is
    done in C, so the common request skips the walk of ``nesting_exceeds`` entirely."""
    if isinstance(raw, str):
        return raw.count("{") + raw.count("[") > max_depth
    return raw.count(b"{") + raw.count(b"[") > max_depth


def nesting_exceeds(value: Any, max_depth: int = MAX_JSON_DEPTH) -> bool:
    """Whether JSON ``value`` nests arrays/objects deeper than ``max_depth``.

    Iterative on purpose: the point is to refuse what would make a recursive walk
    (deepcopy, json.dumps, cache-key canonicalisation) hit Python's recursion limit.
    """
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > max_depth:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False
