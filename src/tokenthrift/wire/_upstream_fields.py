"""Shape checks on upstream JSON (the mirror of ``_fields`` for what providers send).

An upstream reply of the wrong shape is the upstream's failure: a 502 naming the field,
never an ``AttributeError`` (a 500) or a wrongly typed value carried into the cache,
the ledger and the client's response.
"""

from __future__ import annotations

from typing import Any

from tokenthrift.errors import UpstreamError


def malformed(detail: str) -> UpstreamError:
    return UpstreamError(f"upstream returned a malformed response: {detail}", status=502)


def up_dict(value: Any, where: str) -> dict[str, Any]:
    """An object; absent or null reads as empty."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise malformed(f"{where} is not an object")
    return value


def up_list(value: Any, where: str) -> list[Any]:
    """An array; absent or null reads as empty."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise malformed(f"{where} is not an array")
    return value


def up_dicts(value: Any, where: str) -> list[dict[str, Any]]:
    """An array of objects."""
    return [up_dict(item, f"{where}[{i}]") for i, item in enumerate(up_list(value, where))]


def up_str(value: Any, where: str) -> str:
    """A string; absent or null reads as ""."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise malformed(f"{where} is not a string")
    return value


def up_int(value: Any, where: str, default: int = 0) -> int:
    """A (non-boolean) integer; absent or null reads as ``default``."""
    if value is None:
        return default
    if not isinstance(value, int) or isinstance(value, bool):
        raise malformed(f"{where} is not an integer")
    return value
