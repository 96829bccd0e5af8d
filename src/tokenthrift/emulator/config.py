"""How the emulator behaves: latency, error rates, rate limits, cache lifetimes, faults."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Literal

FaultKind = Literal["status", "disconnect", "timeout"]


@dataclass(slots=True)
class Fault:
    """A scripted failure, consumed by the next matching request(s).

    * ``status``: answer ``status`` in the protocol's error shape (429/503/529 carry
      ``retry-after``). For a stream with ``after_chunks > 0`` the stream starts
      normally and an error event follows after that many SSE events, as providers do
      when a model overloads mid-generation.
    * ``disconnect``: a stream sends ``after_chunks`` SSE events, then the connection
      is cut (in-process: the stream raises ``StreamInterrupted``). A non-stream
      request is cut before any byte of the response.
    * ``timeout``: the request (or, with ``after_chunks``, the stream) stalls longer
      than any sane client timeout; cancelling the request ends it.
    """

    kind: FaultKind
    status: int = 500
    model: str | None = None
    count: int = 1
    after_chunks: int = 0
    retry_after: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("status", "disconnect", "timeout"):
            raise ValueError(f"unknown fault kind {self.kind!r}")
        if self.count < 1 or self.after_chunks < 0:
            raise ValueError("count must be >= 1 and after_chunks >= 0")
        if not 400 <= self.status <= 599:
            raise ValueError("a fault status must be a 4xx or 5xx code")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Fault:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fault fields: {', '.join(sorted(unknown))}")
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(slots=True)
class EmulatorConfig:
    """Emulator settings. Zero latency and no limits by default (fast tests, load tests).

    ``rpm``/``tpm`` are per organisation (API key); 0 disables a limit, and the
    rate-limit headers then advertise ``default_rpm``/``default_tpm``.
    """

    ttft_ms: float = 0.0
    tokens_per_s: float = 0.0  # 0 = all tokens at once
    error_rate: float = 0.0  # probability of a random 500/503 (OpenAI) or 500/529 (Anthropic)
    seed: int = 0  # seeds the error-rate RNG so failure sequences replay
    accept_any_model: bool = False
    extra_models: frozenset[str] = field(default_factory=frozenset)
    # When set, only these API keys are valid (others get 401 invalid key).
    api_keys: frozenset[str] | None = None
    rpm: int = 0
    tpm: int = 0
    default_rpm: int = 10_000
    default_tpm: int = 30_000_000
    # OpenAI evicts cached prefixes after 5-10 minutes of inactivity (prompt caching guide).
    openai_cache_ttl_s: float = 300.0
    # How long a "timeout" fault stalls; cancelling the request ends it earlier.
    fault_timeout_s: float = 3600.0
    # Per-(organisation, model) cache entries kept before the oldest are evicted.
    max_cache_entries: int = 200_000
    # Batch APIs on simulated time (``batches.py``): simulated seconds per second (0 freezes
    # it; tests move it with POST /emulator/batches/advance), requests a batch works through
    # per simulated second, and how long validation and finalizing take.
    batch_time_scale: float = 60.0
    batch_requests_per_s: float = 100.0
    batch_validation_s: float = 2.0
    batch_finalize_s: float = 2.0
    # Start every generated text with [[answer:TAG]] and remember what each tag answered
    # (``answer_tags.py``; GET /emulator/answers/TAG), for judging replays. Not billed.
    tag_answers: bool = False

    def __post_init__(self) -> None:
        if not 0.0 <= self.error_rate <= 1.0:
            raise ValueError("error_rate must be between 0 and 1")
        if self.ttft_ms < 0 or self.tokens_per_s < 0:
            raise ValueError("ttft_ms and tokens_per_s must be >= 0")
        self.extra_models = frozenset(self.extra_models)
        if self.api_keys is not None:
            self.api_keys = frozenset(self.api_keys)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> EmulatorConfig:
        """Read ``TOKENTHRIFT_EMULATOR_*`` variables (e.g. ``..._TTFT_MS=200``).

        Lists (``EXTRA_MODELS``, ``API_KEYS``) are comma-separated; booleans accept
        1/true/yes.
        """
        env = os.environ if environ is None else environ
        prefix = "TOKENTHRIFT_EMULATOR_"
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(prefix + f.name.upper())
            if raw is None or raw == "":
                continue
            values[f.name] = _parse_env_value(f.name, raw)
        return cls(**values)


_FLOATS = {"ttft_ms", "tokens_per_s", "error_rate", "openai_cache_ttl_s", "fault_timeout_s",
           "batch_time_scale", "batch_requests_per_s", "batch_validation_s", "batch_finalize_s"}
_INTS = {"seed", "rpm", "tpm", "default_rpm", "default_tpm", "max_cache_entries"}


def _parse_env_value(name: str, raw: str) -> Any:
    if name in _FLOATS:
        return float(raw)
    if name in _INTS:
        return int(raw)
    if name in ("accept_any_model", "tag_answers"):
        return raw.strip().lower() in ("1", "true", "yes", "on")
    return frozenset(item.strip() for item in raw.split(",") if item.strip())
