"""One ledger row: what one request cost, what it would have cost, and who caused it."""

from __future__ import annotations

import logging
import re
from dataclasses import asdict, dataclass, field, fields
from decimal import Decimal
from typing import Any, Literal

from tokenthrift.ledger.money import ZERO, as_usd, rounded
from tokenthrift.types import WireFormat

log = logging.getLogger("tokenthrift.ledger")

Lever = Literal["exact_cache", "semantic_cache", "routing", "compression", "prompt_cache", "batch"]
# The order levers meet a request in (shared/DESIGN.md); reports list them in this order,
# then any other lever (registered elsewhere) alphabetically.
LEVERS: tuple[Lever, ...] = (
    "exact_cache",
    "semantic_cache",
    "routing",
    "compression",
    "prompt_cache",
    "batch",
)
# A lever name is also part of a report column name (saved_<lever>_usd): keep it plain.
LEVER_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")

CacheStatus = Literal["miss", "exact", "semantic", "bypass"]
MONEY_FIELDS: tuple[str, ...] = (
    "cost_usd",
    "baseline_cost_usd",
    "saved_usd",
    "unattributed_usd",
    "gateway_cost_usd",
)


@dataclass(slots=True, kw_only=True)
class LedgerRecord:
    """What one request cost and why.

    Money is exact USD (``Decimal``); the ledger keeps it to 1e-12 USD, rounded half-even
    (``money.py``). ``cost_usd is None`` means the price is unknown (never ``0``).
    ``input_tokens`` is uncached input; ``output_tokens`` includes ``reasoning_tokens``.

    ``savings`` maps a lever to what it saved (levers that saved nothing may be omitted,
    and are omitted when read back) and ``saved_usd`` is exactly their sum: only what a
    lever earned is a saving (issue #7). ``unattributed_usd`` is what moved the cost but
    is no lever's doing (a fallback to another model), so ``baseline_cost_usd - cost_usd
    == saved_usd + unattributed_usd`` exactly; it is derived when not given and None when
    either cost is unknown.
    ``gateway_cost_usd`` is the gateway's own spend for this request (embedding calls),
    already included in ``cost_usd``. ``notes`` holds JSON facts levers record (a routing
    decision); it must be JSON-serialisable.
    """

    request_id: str
    ts: float  # when the request arrived, unix seconds (UTC)
    key_id: str | None = None  # the virtual key's id, never the key itself
    team: str | None = None
    user: str | None = None
    customer: str | None = None
    tags: list[str] = field(default_factory=list)
    task: str | None = None
    requested_model: str
    served_model: str | None = None
    provider: str | None = None
    wire_format: WireFormat
    endpoint: str  # "chat.completions", "messages", "embeddings", ...
    input_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_5m_tokens: int = 0
    cache_write_1h_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    cost_usd: Decimal | None = None
    baseline_cost_usd: Decimal | None = None
    saved_usd: Decimal | None = None
    savings: dict[str, Decimal] = field(default_factory=dict)
    unattributed_usd: Decimal | None = None
    gateway_cost_usd: Decimal = ZERO
    notes: dict[str, Any] = field(default_factory=dict)
    latency_ms: float = 0.0
    upstream_ms: float = 0.0
    overhead_ms: float = 0.0
    stream: bool = False
    cache_status: CacheStatus = "miss"
    status: int = 200
    error_class: str | None = None
    usage_estimated: bool = False
    prompt_fingerprint: str | None = None
    prompt_text: str | None = None
    retries: int = 0
    fallback_used: bool = False
    batch: bool = False

    def __post_init__(self) -> None:
        # Fail on the request path, not later in the writer thread: a typo in a lever
        # name would otherwise silently drop a saving from every report.
        bad = [name for name in self.savings if not LEVER_NAME.match(name)]
        if bad:
            raise ValueError(f"invalid savings lever name(s) {bad}: expected {LEVER_NAME.pattern}")
        # Floats (from code not yet passing Decimals) are taken by their shortest repr.
        self.cost_usd = as_usd(self.cost_usd, "cost_usd")
        self.baseline_cost_usd = as_usd(self.baseline_cost_usd, "baseline_cost_usd")
        self.saved_usd = as_usd(self.saved_usd, "saved_usd")
        self.gateway_cost_usd = as_usd(self.gateway_cost_usd, "gateway_cost_usd") or ZERO
        self.savings = {k: as_usd(v, k) or ZERO for k, v in self.savings.items()}
        self.unattributed_usd = self._unattributed(as_usd(self.unattributed_usd, "unattributed"))

    def _unattributed(self, given: Decimal | None) -> Decimal | None:
        if self.saved_usd is None or self.cost_usd is None or self.baseline_cost_usd is None:
            return None
        derived = self.baseline_cost_usd - self.cost_usd - self.saved_usd
        if given is not None and rounded(given) != rounded(derived):
            # The ledger's sums must add up: the identity wins over a wrong figure.
            log.warning("request %s: unattributed_usd %s replaced by baseline - cost - saved = %s",
                        self.request_id, given, derived)  # fmt: skip
        return derived

    @property
    def cache_write_tokens(self) -> int:
        return self.cache_write_5m_tokens + self.cache_write_1h_tokens

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (the spill file format); ``from_json`` reverses it.

        Money is written as decimal strings so it reads back exactly."""
        data = asdict(self)
        for name in MONEY_FIELDS:
            if data[name] is not None:
                data[name] = format(data[name], "f")
        data["savings"] = {k: format(v, "f") for k, v in self.savings.items()}
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LedgerRecord:
        # Ignore fields this version does not know, so a spill file written by a newer
        # gateway can still be re-ingested by an older one. Money may be a string (this
        # version) or a float (spill files written before money was exact).
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})
