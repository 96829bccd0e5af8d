"""Checks on the usage an upstream reports, before anything is billed from it.

Usage drives cost, budgets and the ledger, so a figure the gateway cannot trust is an
upstream failure (``InvalidUpstreamUsage``, a 502), never a number to price: a
compatible server once reported 10^15 tokens, recorded as $750M.
"""

from __future__ import annotations

from typing import Any

from tokenthrift.errors import InvalidUpstreamUsage
from tokenthrift.types import Usage

# The largest token count one usage field may carry. The longest context windows are
# about 10^6-10^7 tokens and n > 1 multiplies output; 10^8 leaves headroom for both
# while capping what one nonsense figure can cost (10^8 tokens at $75/MTok is $7,500).
MAX_USAGE_TOKENS = 10**8


def usage_object(value: Any, where: str) -> dict[str, Any]:
    """A usage (or usage details) object; absent or null reads as empty."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _invalid(f"{where} is {_shown(value)}; expected an object")
    return value


def token_count(usage: dict[str, Any], key: str, where: str) -> int:
    """``usage[key]`` as a token count: absent/null is 0, anything but an integer in
    0..MAX_USAGE_TOKENS is refused (strings, floats, booleans, negatives, huge)."""
    value = usage.get(key)
    if value is None:
        return 0
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_USAGE_TOKENS:
        raise _invalid(
            f"{where}.{key} is {_shown(value)}; expected an integer from 0 to {MAX_USAGE_TOKENS}"
        )
    return value


def at_most(part: int, whole: int, what: str) -> None:
    if part > whole:
        raise _invalid(f"{what}: {part} > {whole}")


def consistent(usage: Usage) -> Usage:
    at_most(usage.reasoning_tokens, usage.output_tokens, "reasoning tokens exceed output tokens")
    return usage


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _invalid(detail: str) -> InvalidUpstreamUsage:
    return InvalidUpstreamUsage(f"upstream reported unusable token usage: {detail}")
