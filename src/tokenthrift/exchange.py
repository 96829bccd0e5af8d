"""One request's journey through the gateway: what was asked, who asked, where it was
served, what it used. The ledger row and the response headers are read off it.

Levers read and write it (``levers.base``): ``request`` and ``candidates`` are what
dispatch sends, after the levers' ``rewrite``; ``original_request`` stays as the client
asked (the baseline and the cache key are about it)."""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from .ledger.record import CacheStatus
from .routes import Candidate, Cascade
from .types import Attribution, ChatRequest, ChatResponse, Usage, WireFormat

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
    # The gateway's own spend for this request by lever (e.g. embedding calls of the
    # semantic cache); part of the actual cost, charged against that lever's saving.
    gateway_costs: dict[str, Decimal] = field(default_factory=dict)
    # Response headers added by levers (e.g. ``x-tokenthrift-cache-similarity``).
    response_headers: dict[str, str] = field(default_factory=dict)
    # The models dispatch tries, in order (primary, then fallbacks); levers may rewrite.
    candidates: list[Candidate] = field(default_factory=list)
    # Steps to escalate to when the candidates' answer is rejected (routing's cascade).
    cascade: Cascade | None = None
    # The request as the client sent it (``request`` may be rewritten by levers).
    original_request: ChatRequest | None = None
    # Per-request state of each lever, by lever name (never read by another lever).
    notes: dict[str, Any] = field(default_factory=dict)
    # Facts levers want on the ledger row (``notes`` JSON column), by lever name.
    ledger_notes: dict[str, Any] = field(default_factory=dict)
    # The client's credential, for the levers that authenticate; never logged or stored.
    client_key: str | None = field(default=None, repr=False)
    # When the request must be answered by (perf_counter); None = no deadline.
    deadline: float | None = None
    # Billed at Batch API prices (the batch lever).
    batch: bool = False
    # The answer, once there is one (a cache hit or the upstream's).
    response: ChatResponse | None = None

    def __post_init__(self) -> None:
        if self.original_request is None:
            self.original_request = self.request

    def add_gateway_cost(self, lever: str, usd: Decimal) -> None:
        if usd:
            self.gateway_costs[lever] = self.gateway_costs.get(lever, Decimal(0)) + usd

    @property
    def gateway_cost_usd(self) -> Decimal:
        return sum(self.gateway_costs.values(), Decimal(0))

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
