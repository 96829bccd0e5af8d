"""Accounting for a finished exchange: actual cost, baseline cost, savings per lever,
the ledger row and the response headers.

How savings stay honest. The actual cost is what was billed (upstream usage on the
served model, batch or not) plus the gateway's own spend (e.g. embedding calls). The
baseline is walked back from it one step at a time, in reverse pipeline order:

    actual ─ undo fallback ─► as dispatched ─ undo last lever ─► … ─ undo first lever ─► baseline

Each lever's ``unwind`` says what the request would have been without it; the price
difference across its step is its saving. A fallback to another model is not a lever:
its step goes to ``unattributed_usd``. The steps telescope, so for every request

    baseline - actual == sum(savings) + unattributed        (exactly, in Decimal)

and ``saved`` is ``sum(savings)`` by definition: nothing is credited to a lever that
the lever did not earn.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal

from ..exchange import Exchange
from ..ledger.prompts import PromptStorage
from ..ledger.record import LedgerRecord
from ..routes import speaks_anthropic
from ..types import Usage
from .billable import Billable, Unwinder
from .catalog import PriceCatalog
from .cost import CostCalculator, to_header

_ZERO = Decimal(0)


@dataclass(slots=True)
class Settlement:
    actual_usd: Decimal | None
    baseline_usd: Decimal | None
    # What each lever saved (negative when it cost more), by savings column.
    savings: dict[str, Decimal] = field(default_factory=dict)
    # baseline - actual - saved: cost moved by something that is not a lever (a fallback
    # to another model); None when either cost is unknown.
    unattributed_usd: Decimal | None = _ZERO
    # The gateway's own spend (part of ``actual_usd``).
    gateway_usd: Decimal = _ZERO
    reasons: dict[str, str] = field(default_factory=dict)
    # The request as asked, fully unwound (the baseline's model and usage).
    baseline: Billable | None = None

    @property
    def saved_usd(self) -> Decimal | None:
        if self.actual_usd is None or self.baseline_usd is None:
            return None
        return sum(self.savings.values(), _ZERO)


class Accountant:
    def __init__(self, catalog: PriceCatalog, *, prompt_storage: str = "hash",
                 openai_providers: frozenset[str] = frozenset()) -> None:
        self.calculator = CostCalculator(catalog)
        self.prompt_storage = PromptStorage(prompt_storage)
        # Providers whose prices are OpenAI's list prices (api.openai.com); other
        # OpenAI-compatible servers (vLLM, Together…) are looked up without a provider hint.
        self._openai_providers = openai_providers

    def provider_hint(self, model: str, protocol: str | None, provider: str | None) -> str | None:
        if protocol == "anthropic" or speaks_anthropic(model):
            return "anthropic"
        if provider in self._openai_providers:
            return "openai"
        return None

    def price(self, billable: Billable) -> Decimal | None:
        """USD of ``billable`` (gateway spend included); None when it cannot be priced."""
        if not billable.usage.total_tokens and not billable.batch:
            return billable.gateway_usd  # nothing billed upstream, whatever the model
        if billable.model is None:
            return None
        hint = self.provider_hint(billable.model, billable.protocol, billable.provider)
        cost = self.calculator.cost(billable.model, billable.usage, provider=hint,
                                    batch=billable.batch)
        return None if cost is None else cost + billable.gateway_usd

    def actual(self, exchange: Exchange) -> Billable:
        """What was billed for ``exchange``: the served model's usage plus gateway spend."""
        return Billable(
            model=exchange.served_model, usage=exchange.usage or Usage(), batch=exchange.batch,
            protocol=exchange.provider_protocol, provider=exchange.provider,
            gateway_usd=exchange.gateway_cost_usd,
        )

    def settle(self, exchange: Exchange, levers: Sequence[Unwinder]) -> Settlement:
        state = self.actual(exchange)
        actual = self.price(state) if exchange.usage is not None else exchange.gateway_cost_usd
        if exchange.usage is None:
            # Nothing was billed upstream: as asked it would have failed the same way (or
            # it was refused before it cost anything), so only gateway spend moves.
            state = replace(state, model=None, usage=Usage())
        settlement = Settlement(actual, None, gateway_usd=exchange.gateway_cost_usd)
        price = actual
        if exchange.fallback_used and exchange.candidates:
            primary = exchange.candidates[0]
            state = replace(state, model=primary.upstream_model, provider=primary.provider_name,
                            protocol=None)
            price = self.price(state)
        for lever in reversed(levers):
            step = lever.unwind(exchange, state)
            if step is None:
                continue
            before = self.price(step.before)
            if before is not None and price is not None:
                saving = before - price
                settlement.savings[step.lever] = settlement.savings.get(step.lever, _ZERO) + saving
            if step.reason:
                settlement.reasons[step.lever] = step.reason
            state, price = step.before, before
        if state.gateway_usd and price is not None:
            # Gateway spend no lever claimed: not part of the request as asked.
            price -= state.gateway_usd
        settlement.baseline_usd = price
        settlement.baseline = replace(state, gateway_usd=_ZERO) if state.gateway_usd else state
        saved = settlement.saved_usd
        settlement.unattributed_usd = (
            None if saved is None or price is None or actual is None else price - actual - saved)
        return settlement

    def headers(self, exchange: Exchange, settlement: Settlement) -> dict[str, str]:
        return {
            "x-tokenthrift-request-id": exchange.request_id,
            "x-tokenthrift-cost-usd": to_header(settlement.actual_usd),
            "x-tokenthrift-baseline-cost-usd": to_header(settlement.baseline_usd),
            "x-tokenthrift-saved-usd": to_header(settlement.saved_usd),
            "x-tokenthrift-served-model": exchange.served_model or "",
            "x-tokenthrift-cache": exchange.cache_status,
            "x-tokenthrift-overhead-ms": f"{exchange.overhead_ms:.3f}",
            **exchange.response_headers,
        }

    def record(self, exchange: Exchange, settlement: Settlement) -> LedgerRecord:
        usage = exchange.usage or Usage()
        who = exchange.attribution
        fingerprint, text = self._prompt(exchange)
        return LedgerRecord(
            request_id=exchange.request_id,
            ts=exchange.ts,
            key_id=who.key_id,
            team=who.team,
            user=who.user,
            customer=who.customer,
            tags=list(who.tags),
            task=who.task,
            requested_model=exchange.requested_model,
            served_model=exchange.served_model,
            provider=exchange.provider,
            wire_format=exchange.wire_format,
            endpoint=exchange.endpoint,
            input_tokens=usage.input_tokens,
            cache_read_tokens=usage.cache_read_tokens,
            cache_write_5m_tokens=usage.cache_write_5m_tokens,
            cache_write_1h_tokens=usage.cache_write_1h_tokens,
            output_tokens=usage.output_tokens,
            reasoning_tokens=usage.reasoning_tokens,
            cost_usd=settlement.actual_usd,
            baseline_cost_usd=settlement.baseline_usd,
            saved_usd=settlement.saved_usd,
            savings=dict(settlement.savings),
            unattributed_usd=settlement.unattributed_usd,
            gateway_cost_usd=settlement.gateway_usd,
            notes=dict(exchange.ledger_notes),
            latency_ms=round(exchange.latency_ms, 3),
            upstream_ms=round(exchange.upstream_ms, 3),
            overhead_ms=round(exchange.overhead_ms, 3),
            stream=exchange.stream,
            cache_status=exchange.cache_status,
            status=exchange.status,
            error_class=exchange.error_class,
            usage_estimated=exchange.usage_estimated,
            prompt_fingerprint=fingerprint,
            prompt_text=text,
            retries=exchange.retries,
            fallback_used=exchange.fallback_used,
            batch=exchange.batch,
        )

    def _prompt(self, exchange: Exchange) -> tuple[str | None, str | None]:
        request = exchange.original_request
        if request is None or self.prompt_storage is PromptStorage.OFF:
            return None, None
        body = "\n".join(f"{m.role}: {m.text}" for m in request.messages if m.role != "system")
        return self.prompt_storage.capture(request.system_text, body)
