"""One ledger row: what one request cost, what it would have cost, and who caused it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

from tokenthrift.types import WireFormat

Lever = Literal["exact_cache", "semantic_cache", "routing", "compression", "prompt_cache", "batch"]
# The order levers meet a request in (shared/DESIGN.md); reports list them in this order.
LEVERS: tuple[Lever, ...] = (
    "exact_cache",
    "semantic_cache",
    "routing",
    "compression",
    "prompt_cache",
    "batch",
)
_LEVER_SET = frozenset(LEVERS)

CacheStatus = Literal["miss", "exact", "semantic", "bypass"]


@dataclass(slots=True, kw_only=True)
class LedgerRecord:
    """What one request cost and why.

    Money is USD as floats already rounded by accounting. ``cost_usd is None`` means the
    price is unknown (never ``0``). ``input_tokens`` is uncached input; ``output_tokens``
    includes ``reasoning_tokens``. ``savings`` maps a lever to what it saved; levers that
    saved nothing may be omitted (and are omitted when a record is read back).
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
    cost_usd: float | None = None
    baseline_cost_usd: float | None = None
    saved_usd: float | None = None
    savings: dict[str, float] = field(default_factory=dict)
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
        unknown = self.savings.keys() - _LEVER_SET
        if unknown:
            raise ValueError(f"unknown savings lever(s) {sorted(unknown)}; expected {LEVERS}")

    @property
    def cache_write_tokens(self) -> int:
        return self.cache_write_5m_tokens + self.cache_write_1h_tokens

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (the spill file format); ``from_json`` reverses it."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LedgerRecord:
        # Ignore fields this version does not know, so a spill file written by a newer
        # gateway can still be re-ingested by an older one.
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})
