"""The rules behind the enforcement: calendar periods, the worst-case estimate, which
budgets apply to a request, and what key and budget requests are accepted."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from tokenthrift.accounting.catalog import PriceCatalog
from tokenthrift.accounting.settlement import Accountant
from tokenthrift.config import ConfigError, parse_config
from tokenthrift.exchange import Exchange
from tokenthrift.levers.governance.budgets import Budget, BudgetBook, to_nano
from tokenthrift.levers.governance.estimate import CostEstimator
from tokenthrift.levers.governance.keys import hash_key, looks_virtual, new_key, parse_expiry
from tokenthrift.levers.governance.periods import window_at
from tokenthrift.levers.governance.settings import parse_settings
from tokenthrift.levers.governance.specs import parse_budget, parse_key_spec
from tokenthrift.tokens import count_chat
from tokenthrift.types import Attribution, ChatRequest, ImagePart, Message, TextPart

PARIS = ZoneInfo("Europe/Paris")


def _ts(text: str, zone: ZoneInfo = PARIS) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=zone).timestamp()


# -- periods ----------------------------------------------------------------------------


def test_periods_start_at_local_midnight_in_the_configured_zone() -> None:
    now = _ts("2026-03-18T23:30:00")  # a Wednesday, late evening in Paris (22:30 UTC)
    day = window_at("day", now, PARIS)
    assert (day.start, day.end) == (_ts("2026-03-18T00:00:00"), _ts("2026-03-19T00:00:00"))
    week = window_at("week", now, PARIS)
    assert (week.start, week.end) == (_ts("2026-03-16T00:00:00"), _ts("2026-03-23T00:00:00"))
    month = window_at("month", now, PARIS)
    assert (month.start, month.end) == (_ts("2026-03-01T00:00:00"), _ts("2026-04-01T00:00:00"))
    assert window_at("total", now, PARIS).end is None
    assert window_at("day", now, ZoneInfo("UTC")).tag == "2026-03-18"
    assert window_at("day", now + 3600, PARIS).tag == "2026-03-19"  # midnight passed in Paris


def test_a_day_across_a_dst_change_is_still_one_budget_day() -> None:
    day = window_at("day", _ts("2026-03-29T12:00:00"), PARIS)  # clocks go forward at 02:00
    assert day.end is not None and day.end - day.start == 23 * 3600
    december = window_at("month", _ts("2026-12-31T23:59:00"), PARIS)
    assert december.end == _ts("2027-01-01T00:00:00")


# -- the worst case ---------------------------------------------------------------------


def _estimator(**governance: object) -> CostEstimator:
    config = parse_config({
        "models": [{"name": "cheap", "provider": "emulator", "upstream_model": "gpt-4o-mini",
                    "fallbacks": ["dear"]},
                   {"name": "dear", "provider": "emulator", "upstream_model": "gpt-4o"},
                   {"name": "*", "provider": "emulator"}],
        "pricing": {"my-local": {"input_per_mtok": 1, "output_per_mtok": 2}},
        "governance": governance,
    })
    accountant = Accountant(PriceCatalog(config.pricing))
    return CostEstimator(config, accountant, parse_settings(config))


def _exchange(model: str, text: str = "hello there", **request: object) -> Exchange:
    chat = ChatRequest(model=model, messages=[Message("user", [TextPart(text)])],
                       **request)  # type: ignore[arg-type]
    return Exchange(request=chat, attribution=Attribution(), requested_model=model,
                    wire_format="openai", endpoint="chat.completions")


def test_worst_case_prices_the_dearest_candidate_and_n_times_max_tokens() -> None:
    prompt = count_chat([("user", "hello there", None)], "gpt-4o")
    worst = _estimator().worst_case(_exchange("cheap", max_tokens=100, n=2))
    # gpt-4o (the fallback) at $2.5 in / $10 out per MTok beats gpt-4o-mini
    assert worst.cost_nano == to_nano((prompt * Decimal("2.5") + 200 * 10) / 1_000_000)
    assert worst.tokens == prompt + 200


def test_worst_case_counts_cache_write_premium_and_approximate_tokenizers() -> None:
    worst = _estimator().worst_case(_exchange("claude-opus-4-1", max_tokens=10))
    counted = count_chat([("user", "hello there", None)], "claude-opus-4-1")
    with_margin = int(Decimal(counted) * Decimal("1.15") + Decimal("0.999999"))
    # 1h cache writes are the dearest input ($30/MTok), output $75/MTok
    assert worst.cost_nano == to_nano((with_margin * 30 + 10 * 75) / Decimal(1_000_000))


def test_without_max_tokens_the_cap_or_the_context_window_bounds_the_output() -> None:
    estimator = _estimator(reserve_cap_usd=0.5)
    prompt = count_chat([("user", "hello there", None)], "gpt-4o-mini")
    small = estimator.worst_case(_exchange("gpt-4o-mini"))
    # 128k context x $0.6/MTok = $0.077 < cap: the window is the tighter, exact bound
    bound = (prompt * Decimal("0.15") + (128_000 - prompt) * Decimal("0.6")) / 1_000_000
    assert small.cost_nano == to_nano(bound)
    big = estimator.worst_case(_exchange("claude-opus-4-1"))
    assert to_nano(Decimal("0.5")) < big.cost_nano < to_nano(Decimal("0.51"))


def test_an_unpriced_model_reserves_the_cap_and_images_count() -> None:
    estimator = _estimator(reserve_cap_usd=0.25, image_tokens=1000)
    assert estimator.worst_case(_exchange("mystery-model-9", max_tokens=5)).cost_nano == to_nano(
        Decimal("0.25"))
    plain = estimator.worst_case(_exchange("my-local", max_tokens=5)).tokens
    exchange = _exchange("my-local", max_tokens=5)
    assert exchange.request is not None
    exchange.request.messages[0].content.append(ImagePart(url="https://x/y.png"))
    # my-local is not an OpenAI model: its count carries the tokenizer margin
    assert estimator.worst_case(exchange).tokens >= plain + 1000


# -- which budgets apply ----------------------------------------------------------------


def test_every_budget_matching_the_attribution_applies_once() -> None:
    budgets = [Budget("team", "search", "day", Decimal(1)),
               Budget("team", "search", "month", Decimal(10)),
               Budget("tag", "nightly", "day", Decimal(1)),
               Budget("key", "vk_1", "total", Decimal(5)),
               Budget("user", "bob", "day", Decimal(1))]
    book = BudgetBook(budgets)
    who = Attribution(key_id="vk_1", team="search", user="ana", tags=["nightly", "nightly"])
    assert sorted(b.name for b in book.applicable(who)) == sorted(
        ["team 'search' (day)", "team 'search' (month)", "tag 'nightly' (day)",
         "key 'vk_1' (total)"])
    assert BudgetBook().applicable(who) == [] and not BudgetBook()


# -- keys and admin requests ------------------------------------------------------------


def test_keys_are_random_well_formed_and_hashed() -> None:
    a, b = new_key(), new_key()
    assert a != b and looks_virtual(a) and not looks_virtual("tt-demo-key")
    assert hash_key(a) != hash_key(b) and len(hash_key(a)) == 64
    assert parse_expiry("2030-01-01T00:00:00Z") == parse_expiry("2030-01-01T01:00:00+01:00")
    with pytest.raises(ValueError):
        parse_expiry("next tuesday")


def test_key_and_budget_requests_are_validated() -> None:
    spec = parse_key_spec({"team": "t", "models": ["gpt-4o*"],
                           "budget": {"usd": "12.5", "period": "week"}, "tpm": 1000})
    assert spec.budget is not None and spec.budget.usd == Decimal("12.5")
    for bad in ({"models": "gpt-4o"}, {"rpm": 0}, {"budget": {"usd": 0}},
                {"metadata": [1]}, {"budget": {"usd": 1, "period": "hour"}}):
        with pytest.raises(ValueError):
            parse_key_spec(bad)
    budget = parse_budget({"scope": "customer", "id": "acme", "usd": 0.1,
                           "webhook": "https://hooks.example/x"})
    assert budget.usd == Decimal("0.1") and budget.soft_limit_pct == (50.0, 80.0, 100.0)
    with pytest.raises(ValueError):
        parse_budget({"scope": "team", "id": "x", "usd": "0.0000000001"})


def test_settings_reject_typos_and_unknown_zones() -> None:
    for raw in ({"auth": "sometimes"}, {"timezone": "Mars/Olympus"}, {"colour": 1},
                {"backend": "redis"}, {"teams": {"a": {"rpm": 0}}}):
        with pytest.raises(ConfigError):
            parse_settings(parse_config({"governance": raw}))
    settings = parse_settings(parse_config({"storage": {"redis": "redis://x"}}))
    assert settings.backend == "redis" and settings.auth == "auto"
