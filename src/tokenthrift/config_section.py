"""Reading one mapping of the config file strictly: every key known, every value typed.

Every error names the full key path and what was expected there, the way pydantic's
validation errors do (``cache.exact.tll: unknown key 'tll' (did you mean 'ttl'?);
allowed: enabled, max_entries, scope, ttl``), so a mistake is found at start-up instead
of being silently ignored. Lever settings parsers use the same reader as the core config.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNIT_S = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


class ConfigError(ValueError):
    """The configuration file is invalid; the message says where."""


def key_path(where: str, key: object) -> str:
    return f"{where}.{key}" if where else str(key)


def unknown_key(where: str, key: object, allowed: Iterable[str], *, what: str = "key") -> ConfigError:
    """``<path>: unknown key 'x' (did you mean 'y'?); allowed: a, b, c``."""
    names = sorted(allowed)
    close = difflib.get_close_matches(str(key), names, n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return ConfigError(f"{key_path(where, key)}: unknown {what} {key!r}{hint}; "
                       f"allowed: {', '.join(names)}")


def check_keys(raw: Mapping[Any, Any], allowed: Iterable[str], where: str,
               *, what: str = "key") -> None:
    """Raise for the first key of ``raw`` (in file order) that is not in ``allowed``."""
    allowed = frozenset(allowed)
    for key in raw:
        if key not in allowed:
            raise unknown_key(where, key, allowed, what=what)


def expected(where: str, what: str, value: object) -> ConfigError:
    return ConfigError(f"{where}: expected {what}, got {value!r}")


def mapping(value: Any, where: str, *, none_ok: bool = True) -> dict[Any, Any]:
    if value is None and none_ok:
        return {}
    if not isinstance(value, Mapping):
        raise expected(where, "a mapping of keys to values", value)
    return dict(value)


def number(value: Any, where: str, *, what: str = "a number", minimum: float | None = None,
           positive: bool = False) -> float:
    """A float from a YAML number or a numeric string; booleans are refused."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise expected(where, what, value)
    try:
        result = float(value)
    except ValueError:
        raise expected(where, what, value) from None
    if math.isnan(result):
        raise expected(where, what, value)
    _check_bounds(result, value, where, what, minimum, positive)
    return result


def seconds(value: Any, where: str, *, minimum: float | None = None,
            positive: bool = False) -> float:
    return number(value, where, what="a number of seconds", minimum=minimum, positive=positive)


def integer(value: Any, where: str, *, minimum: int | None = None,
            positive: bool = False) -> int:
    what = "a positive integer" if positive else "an integer"
    if isinstance(value, bool):
        raise expected(where, what, value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    if not isinstance(value, int):
        raise expected(where, what, value)
    _check_bounds(value, value, where, what, minimum, positive)
    return value


def boolean(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise expected(where, "true or false", value)
    return value


def text(value: Any, where: str) -> str:
    """A string; a YAML number is accepted as its text (``name: 4`` is the name "4")."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise expected(where, "a string", value)
    return str(value)


def optional_text(value: Any, where: str) -> str | None:
    return None if value is None else text(value, where)


def choice(value: Any, where: str, options: Iterable[str]) -> str:
    options = tuple(options)
    if not isinstance(value, str) or value not in options:
        raise expected(where, f"one of {', '.join(options)}", value)
    return value


def text_list(value: Any, where: str, *, what: str = "a list of strings") -> list[str]:
    """A list of strings; a single string is a list of one."""
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise expected(where, what, value)
    return list(value)


def duration(value: Any, where: str) -> float:
    """Positive seconds from a number or a duration like ``30s``, ``15m``, ``1h``, ``7d``."""
    what = 'a duration like 3600, "15m" or "1h"'
    if isinstance(value, bool):
        raise expected(where, what, value)
    if isinstance(value, int | float):
        result = float(value)
    else:
        match = _DURATION.match(str(value))
        if match is None:
            raise expected(where, what, value)
        result = float(match.group(1)) * _UNIT_S[match.group(2)]
    if not result > 0:
        raise expected(where, f"{what}, above 0", value)
    return result


def _check_bounds(result: float, value: Any, where: str, what: str,
                  minimum: float | None, positive: bool) -> None:
    if positive and not result > 0:
        raise expected(where, what if "positive" in what else f"{what} above 0", value)
    if minimum is not None and result < minimum:
        raise expected(where, f"{what} of at least {minimum:g}", value)


class Section:
    """One mapping of the config file, its keys checked against ``allowed`` up front.

    ``section.number("ttl", 60)`` reads a key with a default; every error names the
    key's full path (``where`` is the path of the mapping itself, "" at the top level).
    """

    def __init__(self, raw: Any, where: str, allowed: Iterable[str]) -> None:
        self.where = where
        self.raw = mapping(raw, where)
        self.allowed = frozenset(allowed)
        check_keys(self.raw, self.allowed, where)

    def path(self, key: str) -> str:
        return key_path(self.where, key)

    def __contains__(self, key: str) -> bool:
        return key in self.raw

    def get(self, key: str, default: Any = None) -> Any:
        value = self.raw.get(key)
        return default if value is None else value

    def number(self, key: str, default: float, **bounds: Any) -> float:
        return number(self.get(key, default), self.path(key), **bounds)

    def seconds(self, key: str, default: float, **bounds: Any) -> float:
        return seconds(self.get(key, default), self.path(key), **bounds)

    def optional_seconds(self, key: str, **bounds: Any) -> float | None:
        value = self.get(key)
        return None if value is None else seconds(value, self.path(key), **bounds)

    def integer(self, key: str, default: int, **bounds: Any) -> int:
        return integer(self.get(key, default), self.path(key), **bounds)

    def boolean(self, key: str, default: bool) -> bool:
        return boolean(self.get(key, default), self.path(key))

    def text(self, key: str, default: str) -> str:
        return text(self.get(key, default), self.path(key))

    def optional_text(self, key: str) -> str | None:
        return optional_text(self.raw.get(key), self.path(key))

    def choice(self, key: str, default: str, options: Iterable[str]) -> str:
        return choice(self.get(key, default), self.path(key), options)

    def duration(self, key: str, default: float) -> float:
        return duration(self.get(key, default), self.path(key))

    def section(self, key: str, allowed: Iterable[str]) -> Section:
        return Section(self.raw.get(key), self.path(key), allowed)
