"""Does a JSON value satisfy a JSON schema? The subset tool definitions and structured
outputs use in practice (``type``, ``enum``/``const``, ``properties``/``required``/
``additionalProperties``, ``items``, ``anyOf``/``oneOf``/``allOf``, numeric and length
bounds), enough to tell a cascade that a cheap model's tool call or JSON answer is wrong.
Keywords outside the subset (``$ref``, ``pattern``, ``format``…) are not checked: an
answer is never rejected for what this module does not understand.
"""

from __future__ import annotations

from typing import Any

_TYPES: dict[str, type | tuple[type, ...]] = {
    "object": dict, "array": list, "string": str, "boolean": bool, "null": type(None),
    "integer": int, "number": (int, float),
}
_MAX_DEPTH = 32


def violation(value: Any, schema: Any, path: str = "$", depth: int = 0) -> str | None:
    """The first place where ``value`` breaks ``schema`` (``$.city: expected string``),
    or None when it fits."""
    if not isinstance(schema, dict) or depth > _MAX_DEPTH:
        return None
    kind = schema.get("type")
    if kind is not None and not _has_type(value, kind):
        return f"{path}: expected {kind}"
    if "enum" in schema and isinstance(schema["enum"], list) and value not in schema["enum"]:
        return f"{path}: not one of the allowed values"
    if "const" in schema and value != schema["const"]:
        return f"{path}: not the constant value"
    for key in ("anyOf", "oneOf"):
        branches = schema.get(key)
        if isinstance(branches, list) and branches and all(
                violation(value, b, path, depth + 1) for b in branches):
            return f"{path}: matches none of {key}"
    for branch in schema.get("allOf") or ():
        found = violation(value, branch, path, depth + 1)
        if found:
            return found
    if isinstance(value, dict):
        return _object(value, schema, path, depth)
    if isinstance(value, list):
        return _array(value, schema, path, depth)
    return _scalar(value, schema, path)


def _has_type(value: Any, kind: Any) -> bool:
    kinds = kind if isinstance(kind, list) else [kind]
    for name in kinds:
        expected = _TYPES.get(name) if isinstance(name, str) else None
        if expected is None:
            return True  # an unknown type name: not ours to judge
        if isinstance(value, bool) and name in ("integer", "number"):
            continue  # JSON booleans are not numbers
        if name == "integer" and isinstance(value, float) and value.is_integer():
            return True
        if isinstance(value, expected):
            return True
    return False


def _object(value: dict[str, Any], schema: dict[str, Any], path: str, depth: int) -> str | None:
    raw = schema.get("properties")
    properties: dict[str, Any] = raw if isinstance(raw, dict) else {}
    for name in schema.get("required") or ():
        if name not in value:
            return f"{path}: missing required property {name!r}"
    extra = schema.get("additionalProperties", True)
    for name, item in value.items():
        if name in properties:
            found = violation(item, properties[name], f"{path}.{name}", depth + 1)
        elif extra is False:
            found = f"{path}: unexpected property {name!r}"
        else:
            found = violation(item, extra, f"{path}.{name}", depth + 1)
        if found:
            return found
    return None


def _array(value: list[Any], schema: dict[str, Any], path: str, depth: int) -> str | None:
    if len(value) < schema.get("minItems", 0):
        return f"{path}: fewer than {schema['minItems']} items"
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        return f"{path}: more than {schema['maxItems']} items"
    items = schema.get("items")
    for i, item in enumerate(value):
        found = violation(item, items, f"{path}[{i}]", depth + 1)
        if found:
            return found
    return None


def _scalar(value: Any, schema: dict[str, Any], path: str) -> str | None:
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            return f"{path}: shorter than {schema['minLength']}"
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            return f"{path}: longer than {schema['maxLength']}"
    elif isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            return f"{path}: below {schema['minimum']}"
        if "maximum" in schema and value > schema["maximum"]:
            return f"{path}: above {schema['maximum']}"
    return None


__all__ = ["violation"]
