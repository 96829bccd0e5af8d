"""Labelled pairs files: one JSON object a line with ``text_a``, ``text_b``, ``label``
(1 = the same request, 0 = not) and optionally ``kind`` (reported separately by eval)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import orjson


@dataclass(frozen=True, slots=True)
class LabelledPair:
    text_a: str
    text_b: str
    label: int
    kind: str | None = None


def read_pairs(path: str | Path) -> list[LabelledPair]:
    """Parse a pairs file; ValueError names the line of the first malformed record."""
    pairs: list[LabelledPair] = []
    with open(path, "rb") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            pairs.append(_parse(line, number, path))
    if not pairs:
        raise ValueError(f"{path}: no pairs")
    return pairs


def _parse(line: bytes, number: int, path: str | Path) -> LabelledPair:
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"{path}:{number}: not JSON ({exc})") from None
    if not isinstance(record, dict):
        raise ValueError(f"{path}:{number}: expected an object")
    a, b, label = record.get("text_a"), record.get("text_b"), record.get("label")
    if not isinstance(a, str) or not isinstance(b, str):
        raise ValueError(f"{path}:{number}: text_a and text_b must be strings")
    if label not in (0, 1) or isinstance(label, bool):
        raise ValueError(f"{path}:{number}: label must be 0 or 1, got {label!r}")
    kind = record.get("kind")
    return LabelledPair(a, b, int(label), None if kind is None else str(kind))
