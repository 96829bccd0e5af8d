"""Savings attribution and how money leaves accounting (floats for the ledger, header strings)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tokenthrift.accounting import LEVERS, breakdown, to_float, to_header


def test_levers_are_listed_in_pipeline_order() -> None:
    assert LEVERS == (
        "exact_cache",
        "semantic_cache",
        "routing",
        "compression",
        "prompt_cache",
        "batch",
    )


def test_request_served_as_asked_saved_nothing() -> None:
    result = breakdown(Decimal("0.275"), Decimal("0.275"), {})
    assert result.saved_usd == 0
    assert result.savings == dict.fromkeys(LEVERS, Decimal(0))
    assert result.unattributed_usd == 0


def test_lever_savings_that_explain_the_difference_leave_no_remainder() -> None:
    result = breakdown(
        Decimal("0.1"), Decimal("1.0"), {"routing": Decimal("0.6"), "compression": Decimal("0.3")}
    )
    assert result.saved_usd == Decimal("0.9")
    assert result.savings["routing"] == Decimal("0.6")
    assert result.savings["batch"] == 0
    assert result.unattributed_usd == 0


def test_unexplained_difference_is_reported_not_credited_to_a_lever() -> None:
    # e.g. OpenAI cached a prefix on its own: cheaper than the baseline with no lever involved.
    result = breakdown(Decimal("0.2"), Decimal("0.275"), {})
    assert result.saved_usd == Decimal("0.075")
    assert all(v == 0 for v in result.savings.values())
    assert result.unattributed_usd == Decimal("0.075")
    # ...and a request that cost more than asked (a cache-write premium) is a negative remainder.
    assert breakdown(Decimal("0.3"), Decimal("0.25"), {}).unattributed_usd == Decimal("-0.05")


def test_savings_always_reconcile_exactly() -> None:
    result = breakdown(Decimal("0.123"), Decimal("0.5"), {"exact_cache": Decimal("0.3")})
    assert result.saved_usd is not None and result.unattributed_usd is not None
    assert sum(result.savings.values()) + result.unattributed_usd == result.saved_usd


def test_unknown_costs_give_unknown_savings() -> None:
    assert breakdown(None, Decimal("1"), {}).saved_usd is None
    assert breakdown(Decimal("1"), None, {}).unattributed_usd is None


def test_savings_must_name_a_lever_and_be_decimal() -> None:
    with pytest.raises(ValueError, match="magic"):
        breakdown(Decimal(0), Decimal(1), {"magic": Decimal(1)})
    with pytest.raises(TypeError, match="Decimal"):
        breakdown(Decimal(0), Decimal(1), {"routing": 0.1})  # type: ignore[dict-item]


@pytest.mark.parametrize(
    ("amount", "header"),
    [
        (Decimal("0.275"), "0.275"),
        (Decimal("0.27500000"), "0.275"),
        (Decimal("0.330"), "0.33"),
        (Decimal(0), "0"),
        (Decimal("0E-10"), "0"),
        (Decimal("1E-7"), "0.0000001"),
        (Decimal("0.00000000004"), "0"),
        (Decimal("0.12345678915"), "0.1234567892"),
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
    assert to_float(Decimal("0.222222222222")) == 0.2222222222
    assert to_float(None) is None
