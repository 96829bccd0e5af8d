"""Plausible, deterministic values for a JSON schema (tool call arguments, JSON mode).

Covers what tool definitions use in practice: object/array/string/number/integer/
boolean/null, enum/const, anyOf/oneOf (first branch), string formats, and
minimum/maximum. Properties listed in ``required`` are filled (all properties when a
schema has no ``required``), the way models fill what a tool asks for.
"""

from __future__ import annotations

from typing import Any

_MAX_DEPTH = 6

# Property-name hints, checked as substrings of the lower-cased property name.
_NAME_HINTS = (
    ("email", "user@example.com"),
    ("url", "https://example.com"),
    ("city", "Paris"),
    ("location", "Paris, France"),
    ("country", "France"),
    ("unit", "celsius"),
    ("currency", "USD"),
    ("language", "en"),
    ("date", "2025-01-15"),
    ("time", "12:00"),
    ("phone", "+1-555-0100"),
    ("name", "Ada Lovelace"),
    ("query", "example search"),
    ("id", "id_001"),
    ("path", "/tmp/example.txt"),
)
_FORMATS = {
    "date": "2025-01-15",
    "date-time": "2025-01-15T12:00:00Z",
    "time": "12:00:00",
    "email": "user@example.com",
    "uri": "https://example.com",
    "uuid": "123e4567-e89b-12d3-a456-426614174000",
}
_WORDS = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel")


def value_for(schema: Any, seed: int, name: str = "", depth: int = 0) -> Any:
    """A value that validates against ``schema`` (best effort), chosen by ``seed``."""
    if not isinstance(schema, dict) or depth > _MAX_DEPTH:
        return _string_for({}, seed, name)
    if "const" in schema:
        return schema["const"]
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return enum[seed % len(enum)]
    for key in ("anyOf", "oneOf", "allOf"):
        branches = schema.get(key)
        if isinstance(branches, list) and branches:
            return value_for(branches[0], seed, name, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None:
        kind = "object" if "properties" in schema else "string"
    return _by_type(kind, schema, seed, name, depth)


def _by_type(kind: str, schema: dict[str, Any], seed: int, name: str, depth: int) -> Any:
    if kind == "object":
        return object_for(schema, seed, depth)
    if kind == "array":
        count = max(1, int(schema.get("minItems", 1)))
        return [value_for(schema.get("items", {}), seed + i, name, depth + 1) for i in range(count)]
    if kind == "integer":
        return _number_for(schema, seed, integer=True)
    if kind == "number":
        return _number_for(schema, seed, integer=False)
    if kind == "boolean":
        return seed % 2 == 0
    if kind == "null":
        return None
    return _string_for(schema, seed, name)


def object_for(schema: dict[str, Any], seed: int, depth: int = 0) -> dict[str, Any]:
    properties = schema.get("properties")
    if not isinstance(properties, dict):
        return {}
    required = schema.get("required")
    names = (
        [n for n in required if n in properties] if isinstance(required, list) else list(properties)
    )
    return {
        prop: value_for(properties[prop], seed + i * 7919, prop, depth + 1)
        for i, prop in enumerate(names)
    }


def _number_for(schema: dict[str, Any], seed: int, *, integer: bool) -> int | float:
    low = schema.get("minimum", schema.get("exclusiveMinimum", 1))
    high = schema.get("maximum", schema.get("exclusiveMaximum", low + 99))
    if not isinstance(low, int | float) or not isinstance(high, int | float) or high < low:
        low, high = 1, 100
    if integer:
        low_i, high_i = int(low), int(high)
        if "exclusiveMinimum" in schema and "minimum" not in schema:
            low_i += 1
        if "exclusiveMaximum" in schema and "maximum" not in schema:
            high_i -= 1
        return low_i + seed % max(1, high_i - low_i + 1) if high_i >= low_i else low_i
    return round(low + (seed % 1000) / 1000 * (high - low), 2)


def _string_for(schema: dict[str, Any], seed: int, name: str) -> str:
    fmt = schema.get("format")
    if isinstance(fmt, str) and fmt in _FORMATS:
        return _FORMATS[fmt]
    lowered = name.lower()
    for hint, value in _NAME_HINTS:
        if hint in lowered:
            return value
    text = f"{_WORDS[seed % len(_WORDS)]} {_WORDS[(seed >> 8) % len(_WORDS)]}"
    min_length = schema.get("minLength")
    if isinstance(min_length, int):
        text = text.ljust(min_length, "x")
    max_length = schema.get("maxLength")
    if isinstance(max_length, int):
        text = text[:max_length]
    return text
