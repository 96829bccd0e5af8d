"""One request's journey through the gateway: what was asked, who asked, where it was
served, what it used. The ledger row and the response headers are read off it."""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from ..ledger.record import CacheStatus
from ..types import Attribution, ChatRequest, Usage, WireFormat

# Seeded once from the OS: os.urandom costs ~30 µs per call on some VMs, far too much
# for an id minted on every request. 96 random bits keep ids unique across replicas.
_ids = random.Random()


def new_request_id() -> str:
    return f"req_{_ids.getrandbits(96):024x}"


@dataclass(slots=True)
class Exchange:
    request: ChatRequest | None
    attribution: Attribution
    requested_model: str
    wire_format: WireFormat
    endpoint: str
    stream: bool = False
    # perf_counter() when the gateway received the request
    started: float = field(default_factory=time.perf_counter)
    ts: float = field(default_factory=time.time)
    request_id: str = field(default_factory=new_request_id)
    served_model: str | None = None
    # Upstream model of the route as asked (set when the route is resolved).
    baseline_model: str | None = None
    provider: str | None = None
    provider_protocol: WireFormat | None = None
    fallback_used: bool = False
    retries: int = 0
    upstream_ms: float = 0.0
    usage: Usage | None = None
    usage_estimated: bool = False
    status: int = 200
    error_class: str | None = None
    cache_status: CacheStatus = "miss"
    finished: float | None = None
    # Request headers the levers read (``x-tokenthrift-*``, ``cache-control``), lower-case.
    directives: Mapping[str, str] = field(default_factory=dict)
    # Usage the baseline is priced on when it differs from ``usage`` (a cache hit: the
    # usage of the call that produced the stored answer).
    baseline_usage: Usage | None = None
    # Cost of a lever's own work (e.g. embedding for a semantic lookup), part of actual cost.
    lever_cost_usd: Decimal = Decimal(0)
    # Response headers added by levers (e.g. ``x-tokenthrift-cache-similarity``).
    response_headers: dict[str, str] = field(default_factory=dict)

    def serve_with(self, model: str, provider: str, protocol: WireFormat, *, fallback: bool) -> None:
        self.served_model = model
        self.provider = provider
        self.provider_protocol = protocol
        self.fallback_used = fallback

    def finish(self) -> None:
        if self.finished is None:
            self.finished = time.perf_counter()

    @property
    def latency_ms(self) -> float:
        end = self.finished if self.finished is not None else time.perf_counter()
        return (end - self.started) * 1000.0

    @property
    def overhead_ms(self) -> float:
        """Time spent inside the gateway: total minus time waiting on the upstream."""
        return max(0.0, self.latency_ms - self.upstream_ms)
