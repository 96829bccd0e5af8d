"""``cache.semantic`` settings: parsed and validated from the YAML mapping.

```yaml
cache:
  semantic:
    enabled: true
    target_precision: 0.90     # or `threshold: 0.93`; neither: the shipped default
    ttl: 1h                    # seconds, or a number with s/m/h/d
    scope: key                 # tenant boundary of the exact pre-filter
    max_entries: 100000        # across all partitions; least recently used goes first
    embedder: onnx-minilm      # | sentence-transformers:<path-or-name>
                               # | openai:<model>@<base_url>  (+ embedder_api_key)
    guards: [numbers, negation, direction, languages, entities, documents, question,
             template, instruction, style]          # the default: all ten
    review: true               # the second look (``review``) where one ships for the embedder
```

With neither ``threshold`` nor ``target_precision``, the threshold shipped for the embedder
in ``data/defaults.json`` applies (chosen on hand-written LLM prompts). A ``target_precision`` is turned into a threshold through the calibration table shipped
for the embedder (``data/calibration.json``, see ``calibration``). Another embedder has no
table: run ``tokenthrift cache calibrate`` on your own labelled pairs and set ``threshold``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from ....config_section import check_keys

DEFAULT_EMBEDDER = "onnx-minilm"
DEFAULT_TARGET_PRECISION = 0.90
SCOPES = ("key", "team", "customer", "user", "global")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
KNOWN_KEYS = frozenset({
    "enabled", "target_precision", "threshold", "ttl", "scope", "max_entries", "embedder",
    "embedder_api_key", "embedder_price_per_mtok", "guards", "review",
})


def _default_guards() -> tuple[str, ...]:
    from .guards import DEFAULT_GUARDS  # late: guards imports nothing from here

    return DEFAULT_GUARDS


@dataclass(frozen=True, slots=True)
class SemanticSettings:
    enabled: bool = False
    # At most one of the two decides the threshold; neither = the threshold shipped in
    # data/defaults.json for the embedder (chosen on LLM prompts), or, when none ships or
    # a guard it was chosen with is off, DEFAULT_TARGET_PRECISION on the QQP curve.
    target_precision: float | None = None
    threshold: float | None = None
    ttl: float | None = 3600.0  # seconds; None = entries never expire
    scope: str = "key"
    max_entries: int = 100_000
    embedder: str = DEFAULT_EMBEDDER
    embedder_api_key: str | None = field(default=None, repr=False)
    # Price of an API embedder per million input tokens; None = look it up in the catalog.
    embedder_price_per_mtok: Decimal | None = None
    guards: tuple[str, ...] = field(default_factory=_default_guards)
    # The review (a pair model and the changed-part check, ``review.py``) runs where a model
    # ships for the embedder (onnx-minilm); off, the thresholds shipped without it apply.
    review: bool = True

    def __post_init__(self) -> None:
        _validate(self)

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any] | None) -> SemanticSettings:
        """Parse the ``cache.semantic`` mapping; ``None`` or ``{}`` = the defaults."""
        if raw is None:
            return cls()
        if not isinstance(raw, Mapping):
            raise ValueError("cache.semantic must be a mapping")
        check_keys(raw, KNOWN_KEYS, "cache.semantic")  # a ConfigError, which is a ValueError
        kwargs: dict[str, Any] = {}
        for key in ("enabled", "review"):
            if key in raw:
                kwargs[key] = _parse_bool(key, raw[key])
        for key in ("target_precision", "threshold"):
            if raw.get(key) is not None:
                kwargs[key] = _parse_float(key, raw[key])
        if "ttl" in raw:
            kwargs["ttl"] = parse_duration(raw["ttl"])
        if "scope" in raw:
            kwargs["scope"] = str(raw["scope"])
        if "max_entries" in raw:
            kwargs["max_entries"] = _parse_int("max_entries", raw["max_entries"])
        kwargs.update(_parse_embedder(raw))
        if raw.get("guards") is not None:
            kwargs["guards"] = _parse_guards(raw["guards"])
        return cls(**kwargs)

    @property
    def effective_target_precision(self) -> float | None:
        """The target the threshold is calibrated for (None when ``threshold`` is explicit)."""
        if self.threshold is not None:
            return None
        return self.target_precision if self.target_precision is not None else DEFAULT_TARGET_PRECISION


def parse_duration(value: Any) -> float | None:
    """Seconds from a number or ``"90s"``/``"15m"``/``"1h"``/``"7d"``; None/0/"never" = no expiry."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("never", "none", "")):
        return None
    if isinstance(value, bool):
        raise ValueError(f"cache.semantic.ttl: expected seconds or a duration like '1h', got {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ValueError(f"cache.semantic.ttl: expected seconds or a duration like '1h', got {value!r}")
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds < 0:
        raise ValueError(f"cache.semantic.ttl must be >= 0, got {value!r}")
    return seconds or None


def _validate(s: SemanticSettings) -> None:
    if s.target_precision is not None and s.threshold is not None:
        raise ValueError("cache.semantic: set target_precision or threshold, not both")
    if s.target_precision is not None and not 0.0 < s.target_precision < 1.0:
        raise ValueError(f"cache.semantic.target_precision must be in (0, 1), got {s.target_precision}")
    if s.threshold is not None and not -1.0 <= s.threshold <= 1.0:
        raise ValueError(f"cache.semantic.threshold is a cosine in [-1, 1], got {s.threshold}")
    if s.scope not in SCOPES:
        raise ValueError(f"cache.semantic.scope must be one of {list(SCOPES)}, got {s.scope!r}")
    if s.max_entries < 1:
        raise ValueError(f"cache.semantic.max_entries must be >= 1, got {s.max_entries}")
    if s.ttl is not None and s.ttl <= 0:
        raise ValueError(f"cache.semantic.ttl must be > 0 seconds, got {s.ttl}")
    from .embedders import validate_embedder_spec
    from .guards import GUARDS

    validate_embedder_spec(s.embedder)
    unknown = [g for g in s.guards if g not in GUARDS]
    if unknown:
        raise ValueError(f"cache.semantic.guards: unknown {unknown}; known: {sorted(GUARDS)}")


def _parse_embedder(raw: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if raw.get("embedder") is not None:
        out["embedder"] = str(raw["embedder"]).strip()
    if raw.get("embedder_api_key") is not None:
        from ....config import resolve_env  # ${VAR} / os.environ/VAR, like provider keys

        out["embedder_api_key"] = str(resolve_env(raw["embedder_api_key"]))
    if raw.get("embedder_price_per_mtok") is not None:
        try:
            price = Decimal(str(raw["embedder_price_per_mtok"]))
        except InvalidOperation:
            raise ValueError("cache.semantic.embedder_price_per_mtok must be a number") from None
        if price < 0:
            raise ValueError("cache.semantic.embedder_price_per_mtok must be >= 0")
        out["embedder_price_per_mtok"] = price
    return out


def _parse_guards(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not all(isinstance(g, str) for g in value):
        raise ValueError("cache.semantic.guards must be a list of guard names")
    return tuple(value)


def _parse_bool(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise ValueError(f"cache.semantic.{key} must be true or false, got {value!r}")


def _parse_float(key: str, value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError(f"cache.semantic.{key} must be a number, got {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"cache.semantic.{key} must be a number, got {value!r}") from None


def _parse_int(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"cache.semantic.{key} must be an integer, got {value!r}")
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"cache.semantic.{key} must be an integer, got {value!r}") from None
