"""What-if replay: recorded ledger traffic re-priced under another policy.

Each row is walked from what was recorded to what the policy would have done, one step
per lever, so the projection splits into savings by lever (negative = costs more):

    recorded ─ cache (hits the policy turns off pay their baseline)
             ─ routing (usage re-priced on the model routing chooses, or the mapped one)
             ─ self_hosted (usage re-priced at the GPU's flat rate)
             ─ batch (Batch API price on or off per eligibility)  ─► projected

Re-pricing starts from the row's tokens at the row's time (``repriced``), not from its
recorded cost, so the identity check is a real one: with an empty policy ``projected``
equals the recorded cost (within 1%; it differs only if prices were overridden since).

Routing policies (``routing.policies``) are decided per row as the gateway's routing lever
decides a request, on the prompt the ledger stored (``storage.prompts: full``): a rule for
the row's task (its attribution, or the task the gateway's classifier recorded), else the
complexity router's P(weak acceptable) on the last user message against the policy's
quality target. A row a policy applies to without a stored prompt falls back to
``routing.map`` (or stays as recorded) and is counted in the caveats.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from functools import cached_property

from ..accounting.cost import UnpricedUsage, cost_usd
from ..accounting.settlement import Accountant
from ..ledger.record import LedgerRecord
from ..levers.routing.router import ComplexityRouter
from ..levers.routing.settings import Policy as RoutePolicy
from ..types import Usage
from .policy import Policy

STEPS = ("cache", "routing", "self_hosted", "batch")
_ZERO = Decimal(0)
# What the routing lever reads of a request: the end of its last user message.
_PROMPT_CHARS = 8000
_ROLES = ("user: ", "assistant: ", "tool: ")


@dataclass(slots=True)
class Projection:
    requests: int = 0
    unpriced: int = 0
    recorded_usd: Decimal = _ZERO
    repriced_usd: Decimal = _ZERO
    projected_usd: Decimal = _ZERO
    recorded_saved: dict[str, Decimal] = field(default_factory=dict)
    saving_by_lever: dict[str, Decimal] = field(default_factory=lambda: dict.fromkeys(STEPS, _ZERO))
    affected: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STEPS, 0))
    routed_on_prompts: int = 0  # rows a routing policy decided on their stored prompt
    routing_without_prompt: int = 0  # rows a policy applies to, with no stored prompt
    routed_to: dict[str, int] = field(default_factory=dict)  # model -> rows decided to it

    def caveats(self) -> list[str]:
        """The caveats of this projection's own traffic."""
        if not self.routing_without_prompt:
            return []
        return [f"{self.routing_without_prompt:,} requests a routing policy applies to have no "
                "stored prompt (storage.prompts: full): they keep routing.map or their recorded "
                "model"]

    @property
    def identity_error(self) -> Decimal:
        """|re-priced - recorded| / recorded: how well re-pricing reproduces the ledger."""
        if not self.recorded_usd:
            return _ZERO
        return abs(self.repriced_usd - self.recorded_usd) / self.recorded_usd


@dataclass(slots=True)
class _State:
    model: str | None
    usage: Usage
    batch: bool
    flat: Decimal | None = None  # a cost already fixed (a baseline, a self-hosted price)

    @property
    def usage_billed(self) -> bool:
        u = self.usage
        return bool(u.input_tokens or u.cache_read_tokens or u.cache_write_tokens
                    or u.output_tokens)


class Replayer:
    def __init__(self, accountant: Accountant, policy: Policy) -> None:
        self.accountant = accountant
        self.policy = policy

    @cached_property
    def router(self) -> ComplexityRouter:
        """The routing policies' complexity router, loaded when a row first needs it."""
        path = self.policy.routing.router if self.policy.routing is not None else None
        return ComplexityRouter.load(path) if path else ComplexityRouter.default()

    def project(self, rows: Iterable[LedgerRecord]) -> Projection:
        result = Projection()
        for row in rows:
            if row.cost_usd is None:
                result.unpriced += 1
                continue
            self._row(row, result)
        return result

    def _row(self, row: LedgerRecord, result: Projection) -> None:
        usage = Usage(row.input_tokens, row.cache_read_tokens, row.cache_write_5m_tokens,
                      row.cache_write_1h_tokens, row.output_tokens, row.reasoning_tokens)
        state = _State(row.served_model, usage, row.batch)
        price = self._price(row, state)
        if price is None:
            result.unpriced += 1
            return
        result.requests += 1
        result.recorded_usd += row.cost_usd or _ZERO
        result.repriced_usd += price
        for lever, saved in row.savings.items():
            result.recorded_saved[lever] = result.recorded_saved.get(lever, _ZERO) + saved
        for step in STEPS:
            after = self._apply(step, row, state, result)
            if after is None:
                continue
            new_price = self._price(row, after)
            if new_price is None:
                continue
            result.saving_by_lever[step] += price - new_price
            result.affected[step] += 1
            state, price = after, new_price
        result.projected_usd += price

    def _apply(self, step: str, row: LedgerRecord, state: _State,
               result: Projection) -> _State | None:
        policy = self.policy
        if step == "cache":
            kind = row.cache_status
            off = ((kind == "exact" and policy.exact_cache is False)
                   or (kind == "semantic" and policy.semantic_cache is False))
            if off and row.baseline_cost_usd is not None:
                # The hit would have been a call as asked: its baseline.
                return _State(row.requested_model, state.usage, False, row.baseline_cost_usd)
            return None
        if state.flat is not None:
            return None  # a cache hit turned off keeps its as-asked price
        if step == "routing":
            target = self._route(row, state, result)
            if target is None or target == state.model:
                return None
            return _State(target, state.usage, state.batch)
        if step == "self_hosted":
            hosted = policy.self_hosted
            if hosted is None or not state.usage_billed or not hosted.selector.matches(row):
                return None
            flat = cost_usd(state.usage, hosted.price)
            return _State(hosted.model, state.usage, False, flat + row.gateway_cost_usd)
        eligible = policy.batch.matches(row) if policy.batch is not None else state.batch
        if eligible == state.batch or not state.usage_billed:
            return None
        return _State(state.model, state.usage, eligible)

    def _route(self, row: LedgerRecord, state: _State, result: Projection) -> str | None:
        """The model the policy's routing would serve the row with (None: as recorded)."""
        routing = self.policy.routing
        chosen = routing.policy_for(row.requested_model) if routing is not None else None
        if chosen is not None and state.usage_billed:
            if row.prompt_text:
                model = self._decide(row, chosen)
                result.routed_on_prompts += 1
                result.routed_to[model] = result.routed_to.get(model, 0) + 1
                return model
            result.routing_without_prompt += 1
        return self.policy.mapped_model(row.requested_model)

    def _decide(self, row: LedgerRecord, policy: RoutePolicy) -> str:
        """As the routing lever decides: the client's ``off``, a task rule, the router."""
        assert self.policy.routing is not None and row.prompt_text is not None
        recorded = row.notes.get("routing")
        recorded = recorded if isinstance(recorded, dict) else {}
        if recorded.get("decision") == "off":
            return policy.strong
        task = (row.task or str(recorded.get("task") or "")).strip().lower()
        if task and task in self.policy.routing.tasks:
            return self.policy.routing.tasks[task]
        p = self.router.probability(last_user_message(row.prompt_text))
        return policy.weak if p >= self.router.threshold(policy.quality_target) else policy.strong

    def _price(self, row: LedgerRecord, state: _State) -> Decimal | None:
        if state.flat is not None:
            return state.flat
        if not state.usage_billed:
            return row.gateway_cost_usd  # nothing billed upstream (a cache hit)
        if state.model is None:
            return None
        override = self.policy.pricing.get(state.model)
        at = datetime.fromtimestamp(row.ts, UTC)
        if override is not None:
            from ..accounting.overrides import parse_override

            try:
                cost = cost_usd(state.usage, parse_override(state.model, override),
                                batch=state.batch)
            except UnpricedUsage:
                return None
        else:
            hint = self.accountant.provider_hint(state.model, None, row.provider)
            found = self.accountant.calculator.cost(state.model, state.usage, provider=hint,
                                                    batch=state.batch, at=at)
            if found is None:
                return None
            cost = found
        return cost + row.gateway_cost_usd



def last_user_message(stored: str) -> str:
    """The last user message of a stored prompt (``system\n\nuser: …\nassistant: …``, as
    the ledger keeps it), which is what the routing lever judged; else all of it."""
    start = -1
    at = stored.rfind("user: ")
    while at >= 0:
        if at == 0 or stored[at - 1] == "\n":
            start = at + len("user: ")
            break
        at = stored.rfind("user: ", 0, at)
    if start < 0:
        return stored[-_PROMPT_CHARS:]
    ends = [i for i in (stored.find("\n" + role, start) for role in _ROLES) if i >= 0]
    return stored[start:min(ends, default=len(stored))][-_PROMPT_CHARS:]
