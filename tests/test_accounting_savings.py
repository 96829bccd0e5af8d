"""Settlement: the baseline is walked back from the actual cost one lever at a time, so
the savings add up exactly; what no lever earned is ``unattributed``; money leaves
accounting as header strings at the ledger's precision."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from tokenthrift.accounting import PriceCatalog, to_float, to_header
from tokenthrift.accounting.billable import Billable, Unwound
from tokenthrift.accounting.settlement import Accountant
from tokenthrift.config import ModelRoute
from tokenthrift.exchange import Exchange
from tokenthrift.routes import Candidate
from tokenthrift.types import Attribution, Usage

USAGE = Usage(input_tokens=1_000_000, output_tokens=100_000)
# gpt-4o $2.50 / $10 per MTok; gpt-4o-mini $0.15 / $0.60.
GPT_4O = Decimal("2.5") + Decimal("1.0")
GPT_4O_MINI = Decimal("0.15") + Decimal("0.06")


def _exchange(served: str = "gpt-4o", usage: Usage | None = USAGE, *,
              fallback: bool = False) -> Exchange:
    exchange = Exchange(request=None, attribution=Attribution(), requested_model="gpt-4o",
                        wire_format="openai", endpoint="chat.completions")
    route = ModelRoute(name="gpt-4o", provider="openai")
    exchange.candidates = [Candidate(route, "gpt-4o", "openai")]
    exchange.baseline_model = "gpt-4o"
    exchange.serve_with(served, "openai", "openai", fallback=fallback)
    exchange.usage = usage
    return exchange


class Swap:
    """Pretends to have routed gpt-4o to gpt-4o-mini."""

    def unwind(self, exchange: Exchange, after: Billable) -> Unwound | None:
        return Unwound("routing", replace(after, model="gpt-4o"), "routed")


class Trim:
    """Pretends to have removed 200k input tokens."""

    def unwind(self, exchange: Exchange, after: Billable) -> Unwound | None:
        usage = replace(after.usage, input_tokens=after.usage.input_tokens + 200_000)
        return Unwound("compression", replace(after, usage=usage))


class Embeds:
    """Pretends to have spent on embeddings and saved nothing else."""

    def unwind(self, exchange: Exchange, after: Billable) -> Unwound | None:
        spent = exchange.gateway_costs.get("semantic_cache", Decimal(0))
        return Unwound("semantic_cache", replace(after, gateway_usd=after.gateway_usd - spent))


@pytest.fixture
def accountant() -> Accountant:
    return Accountant(PriceCatalog(), openai_providers=frozenset({"openai"}))


def test_no_levers_baseline_is_actual(accountant: Accountant) -> None:
    settlement = accountant.settle(_exchange(), [])
    assert settlement.actual_usd == settlement.baseline_usd == GPT_4O
    assert settlement.saved_usd == 0 and settlement.unattributed_usd == 0


def test_levers_telescope_in_reverse_order(accountant: Accountant) -> None:
    exchange = _exchange("gpt-4o-mini", Usage(input_tokens=800_000, output_tokens=100_000))
    settlement = accountant.settle(exchange, [Swap(), Trim()])
    trimmed_back = Decimal("0.12") + Decimal("0.06")  # 800k mini input + output
    assert settlement.actual_usd == trimmed_back
    # Trim is undone first (on the served model), then Swap (on the full prompt).
    assert settlement.savings["compression"] == GPT_4O_MINI - trimmed_back
    assert settlement.savings["routing"] == GPT_4O - GPT_4O_MINI
    assert settlement.baseline_usd == GPT_4O
    assert settlement.saved_usd == GPT_4O - trimmed_back
    assert settlement.unattributed_usd == 0


def test_a_fallback_is_unattributed_never_saved(accountant: Accountant) -> None:
    settlement = accountant.settle(_exchange("gpt-4o-mini", fallback=True), [])
    assert settlement.baseline_usd == GPT_4O and settlement.actual_usd == GPT_4O_MINI
    assert settlement.saved_usd == 0 and settlement.savings == {}
    assert settlement.unattributed_usd == GPT_4O - GPT_4O_MINI


def test_gateway_spend_is_charged_against_the_lever_that_caused_it(accountant: Accountant
                                                                   ) -> None:
    exchange = _exchange()
    exchange.add_gateway_cost("semantic_cache", Decimal("0.0001"))
    settlement = accountant.settle(exchange, [Embeds()])
    assert settlement.actual_usd == GPT_4O + Decimal("0.0001")
    assert settlement.baseline_usd == GPT_4O
    assert settlement.savings == {"semantic_cache": Decimal("-0.0001")}
    assert settlement.gateway_usd == Decimal("0.0001")
    # Positive control: spend no lever claims is not part of the request as asked either.
    unclaimed = accountant.settle(exchange, [])
    assert unclaimed.baseline_usd == GPT_4O and unclaimed.saved_usd == 0
    assert unclaimed.unattributed_usd == Decimal("-0.0001")


def test_a_failed_request_costs_only_gateway_spend(accountant: Accountant) -> None:
    exchange = _exchange(usage=None)
    exchange.add_gateway_cost("semantic_cache", Decimal("0.00002"))
    settlement = accountant.settle(exchange, [Embeds()])
    assert settlement.actual_usd == Decimal("0.00002") and settlement.baseline_usd == 0
    assert settlement.savings == {"semantic_cache": Decimal("-0.00002")}


def test_an_unknown_price_leaves_savings_unknown(accountant: Accountant) -> None:
    settlement = accountant.settle(_exchange("house-model-x"), [Swap()])
    assert settlement.actual_usd is None and settlement.saved_usd is None
    assert settlement.unattributed_usd is None


@pytest.mark.parametrize(
    ("amount", "header"),
    [
        (Decimal("0.275"), "0.275"),
        (Decimal("0.27500000"), "0.275"),
        (Decimal("0.330"), "0.33"),
        (Decimal(0), "0"),
        (Decimal("0E-10"), "0"),
        (Decimal("1E-7"), "0.0000001"),
        (Decimal("1.875E-8"), "0.00000001875"),
        (Decimal("0.0000000000004"), "0"),
        (Decimal("0.1234567891235"), "0.123456789124"),
        (Decimal("1E+3"), "1000"),
        (Decimal("123.45"), "123.45"),
        (Decimal("-0.05"), "-0.05"),
        (None, "unknown"),
    ],
)
def test_to_header(amount: Decimal | None, header: str) -> None:
    assert to_header(amount) == header


def test_to_float_rounds_to_ten_places() -> None:
    assert to_float(Decimal("0.275")) == 0.275
    assert to_float(Decimal("0.12345678904")) == 0.123456789
    assert to_float(None) is None
