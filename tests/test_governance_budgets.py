"""Budgets: a hard limit answered with 429 in the client's format, reconciled to actual
cost, released on failures and cache hits, reset with the period, seeded from the ledger
after a restart, and soft-limit webhooks sent once per threshold."""

from __future__ import annotations

import datetime as dt
import http.client
import json
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from gateway_harness import RunningGateway, levers_with, running_gateway
from governance_harness import (
    COST,
    MODEL,
    PROMPT,
    REPLY_TOKENS,
    call,
    chat_body,
    create_key,
    governed_config,
    set_budget,
    webhook_receiver,
)
from tokenthrift.emulator import Fault
from tokenthrift.exchange import Exchange
from tokenthrift.levers.base import Lever
from tokenthrift.types import ChatResponse, Choice, Message, TextPart, Usage

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
def gw(tmp_path: Path) -> Iterator[RunningGateway]:
    with running_gateway(governed_config(tmp_path)) as running:
        yield running


def _ask(gw: RunningGateway, team: str = "search", **extra: Any) -> tuple[int, Any, dict]:
    return call(gw.url + "/v1/chat/completions", "POST", chat_body(**extra), key=None,
                headers={"x-tokenthrift-team": team})


def _budget(gw: RunningGateway, scope: str = "team", subject: str = "search") -> dict[str, Any]:
    status, body, _ = call(gw.url + "/admin/budgets")
    assert status == 200
    (found,) = [b for b in body["data"] if (b["scope"], b["id"]) == (scope, subject)]
    return found


def test_exhausted_budget_is_a_429_naming_the_budget_and_its_reset_openai(
    gw: RunningGateway
) -> None:
    set_budget(gw.url, scope="team", id="search", usd=float(COST * 2), period="day")
    assert _ask(gw)[0] == 200 and _ask(gw)[0] == 200
    client = openai.OpenAI(base_url=gw.url + "/v1", api_key="sk-x", max_retries=0)
    with pytest.raises(openai.RateLimitError) as excinfo:
        client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": PROMPT}], max_tokens=REPLY_TOKENS,
            extra_headers={"x-tokenthrift-team": "search"})
    error = excinfo.value
    assert error.code == "budget_exceeded"
    assert "team 'search' (day)" in error.message and "resets at" in error.message
    tomorrow = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).date().isoformat()
    assert f"{tomorrow}T00:00:00+00:00" in error.message
    assert 0 < int(error.response.headers["retry-after"]) <= 86_400
    assert _ask(gw, team="support")[0] == 200  # other teams are not affected


def test_exhausted_budget_is_a_429_in_anthropic_format(gw: RunningGateway) -> None:
    set_budget(gw.url, scope="team", id="search", usd=float(COST), period="month")
    assert _ask(gw)[0] == 200
    client = anthropic.Anthropic(base_url=gw.url, api_key="sk-x", max_retries=0)
    with pytest.raises(anthropic.RateLimitError) as excinfo:
        client.messages.create(model="claude-haiku-4-5", max_tokens=16,
                               messages=[{"role": "user", "content": "hi"}],
                               extra_headers={"x-tokenthrift-team": "search"})
    error = excinfo.value
    assert error.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]
    assert "Budget exceeded: team 'search' (month)" in error.message
    assert error.response.headers["x-tokenthrift-error-code"] == "budget_exceeded"
    assert int(error.response.headers["retry-after"]) > 0


def test_budget_listing_shows_spent_reserved_remaining_and_period_end(
    gw: RunningGateway
) -> None:
    set_budget(gw.url, scope="team", id="search", usd=1, period="week")
    assert _ask(gw)[0] == 200
    row = _budget(gw)
    assert row["spent"] == pytest.approx(float(COST)) and row["reserved"] == 0
    assert row["remaining"] == pytest.approx(1 - float(COST))
    start = dt.datetime.fromisoformat(row["period_start"])
    end = dt.datetime.fromisoformat(row["period_end"])
    assert start.weekday() == 0 and end - start == dt.timedelta(days=7)


def test_key_budget_tag_budget_and_user_budget_all_apply(gw: RunningGateway) -> None:
    created = create_key(gw.url, budget={"usd": float(COST * 3), "period": "total"})
    set_budget(gw.url, scope="tag", id="batch-job", usd=float(COST), period="day")
    headers = {"x-tokenthrift-tags": "batch-job"}
    url = gw.url + "/v1/chat/completions"
    assert call(url, "POST", chat_body(), key=created["key"], headers=headers)[0] == 200
    status, body, _ = call(url, "POST", chat_body(), key=created["key"], headers=headers)
    assert status == 429 and "tag 'batch-job'" in body["error"]["message"]
    assert call(url, "POST", chat_body(), key=created["key"])[0] == 200
    assert call(url, "POST", chat_body(), key=created["key"])[0] == 200
    status, body, _ = call(url, "POST", chat_body(), key=created["key"])
    assert status == 429 and f"key '{created['id']}' (total)" in body["error"]["message"]
    assert "does not reset" in body["error"]["message"]
    status, listed, _ = call(gw.url + "/admin/keys")
    assert listed["data"][0]["budgets"][0]["spent"] == pytest.approx(float(COST * 3))


def test_reservation_is_released_after_an_upstream_error(gw: RunningGateway) -> None:
    set_budget(gw.url, scope="team", id="search", usd=float(COST), period="day")
    gw.emulator.add_fault(Fault(kind="status", status=500, model=MODEL, count=1))
    assert _ask(gw)[0] == 502
    assert _budget(gw)["spent"] == 0 and _budget(gw)["reserved"] == 0
    assert _ask(gw)[0] == 200  # the budget still affords the one request
    assert _ask(gw)[0] == 429


class _AlwaysHit(Lever):
    """A response cache that answers every request (the cache lever's contract)."""

    name = "cache"

    async def answer(self, exchange: Exchange) -> ChatResponse:
        exchange.cache_status = "exact"
        exchange.usage = Usage()
        exchange.served_model = MODEL
        return ChatResponse("cached-1", MODEL, [Choice(0, Message("assistant", [TextPart("x")]))],
                            Usage())


def test_reservation_is_released_on_a_cache_hit(tmp_path: Path) -> None:
    config = governed_config(tmp_path)
    # Positive control: without hits, the budget affords exactly one request.
    with running_gateway(config) as gw:
        set_budget(gw.url, scope="team", id="other", usd=float(COST), period="day")
        assert _ask(gw, team="other")[0] == 200
        assert _ask(gw, team="other")[0] == 429
    with running_gateway(config, levers=levers_with(config, cache=_AlwaysHit())) as gw:
        set_budget(gw.url, scope="team", id="search", usd=float(COST), period="day")
        for _ in range(3):  # each reserves the whole budget, and gives it back
            status, _, headers = _ask(gw)
            assert status == 200 and headers["x-tokenthrift-cache"] == "exact"
        assert (_budget(gw)["spent"], _budget(gw)["reserved"]) == (0, 0)


def test_streams_are_reconciled_when_complete_and_when_cut(gw: RunningGateway) -> None:
    set_budget(gw.url, scope="team", id="search", usd=1, period="day")
    client = openai.OpenAI(base_url=gw.url + "/v1", api_key="sk-x", max_retries=0)
    stream = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": PROMPT}], max_tokens=REPLY_TOKENS,
        stream=True, extra_headers={"x-tokenthrift-team": "search"})
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert _budget(gw)["spent"] == pytest.approx(float(COST))
    gw.emulator.add_fault(Fault(kind="disconnect", model=MODEL, after_chunks=2))
    cut = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": PROMPT}], max_tokens=REPLY_TOKENS,
        stream=True, extra_headers={"x-tokenthrift-team": "search"})
    with pytest.raises(openai.APIError):
        list(cut)
    row = _budget(gw)
    assert row["reserved"] == 0 and float(COST) < row["spent"] < 2 * float(COST)


def test_budget_resets_with_its_period(gw: RunningGateway) -> None:
    set_budget(gw.url, scope="team", id="search", usd=float(COST), period="day")
    assert _ask(gw)[0] == 200 and _ask(gw)[0] == 429
    lever: Any = gw.gateway.lever("governance")
    real_clock = lever.clock
    lever.clock = lambda: real_clock() + 86_400
    try:
        assert _ask(gw)[0] == 200  # a new day: the counter starts from the ledger again
        assert _ask(gw)[0] == 429
    finally:
        lever.clock = real_clock


def test_spend_survives_a_restart_through_the_ledger(tmp_path: Path) -> None:
    config = governed_config(tmp_path)
    with running_gateway(config) as gw:
        set_budget(gw.url, scope="team", id="search", usd=float(COST * 3), period="month")
        assert _ask(gw)[0] == 200 and _ask(gw)[0] == 200
    with running_gateway(config) as gw:
        assert _budget(gw)["spent"] == pytest.approx(float(COST * 2))
        assert _ask(gw)[0] == 200
        assert _ask(gw)[0] == 429


def test_soft_limit_webhooks_fire_once_per_threshold_even_across_restarts(
    tmp_path: Path
) -> None:
    config = governed_config(tmp_path, {"webhook_backoff_s": 0.05})
    with webhook_receiver(fail_first=1) as hook:
        with running_gateway(config) as gw:
            set_budget(gw.url, scope="team", id="search", usd=float(COST * 4), period="day",
                       soft_limit_pct=[50, 100], webhook=hook.url)
            for _ in range(3):
                assert _ask(gw)[0] == 200
            (first,) = hook.wait_for(1)
        with running_gateway(config) as gw:  # a new replica: must not resend the 50% alert
            assert _ask(gw)[0] == 200
            received = hook.wait_for(2)
            assert _ask(gw)[0] == 429
        assert [r["threshold_pct"] for r in received] == [50, 100]
        assert hook.attempts == 3  # the first delivery failed once and was retried
    assert first["event"] == "budget.soft_limit"
    assert first["budget"] == {"scope": "team", "id": "search", "period": "day",
                               "usd": float(COST * 4)}
    assert first["spent_usd"] == pytest.approx(float(COST * 2))
    assert received[1]["spent_usd"] == pytest.approx(float(COST * 4))


def test_budget_requests_are_validated(gw: RunningGateway) -> None:
    for body in ({"scope": "planet", "id": "x", "usd": 1},
                 {"scope": "team", "usd": 1},
                 {"scope": "team", "id": "x", "usd": -5},
                 {"scope": "team", "id": "x", "usd": 1, "period": "fortnight"},
                 {"scope": "team", "id": "x", "usd": 1, "webhook": "ftp://x"},
                 {"scope": "team", "id": "x", "usd": 1, "soft_limit_pct": [0]}):
        assert call(gw.url + "/admin/budgets", "POST", body)[0] == 400, body
    set_budget(gw.url, scope="team", id="x", usd="0.1", period="day")
    set_budget(gw.url, scope="team", id="x", usd=2, period="day")  # replaces
    assert _budget(gw, subject="x")["usd"] == 2
    status, _, _ = call(gw.url + "/admin/budgets/team/x", "DELETE")
    assert status == 200 and call(gw.url + "/admin/budgets/team/x", "DELETE")[0] == 404


def test_an_unpriced_request_is_charged_the_cap(tmp_path: Path) -> None:
    config = governed_config(tmp_path, providers={
        "emu": {"type": "emulator", "emulator": {"accept_any_model": True}}})
    with running_gateway(config) as gw:
        lever: Any = gw.gateway.lever("governance")
        assert lever.settings.reserve_cap_usd == Decimal("0.10")
        set_budget(gw.url, scope="team", id="search", usd=1.5, period="day")
        assert _ask(gw)[0] == 200  # positive control: a priced model is charged its cost
        priced = _budget(gw)["spent"]
        assert 0 < priced < 0.1
        status, _, headers = _ask(gw, model="house-model-without-a-price")
        assert status == 200 and headers["x-tokenthrift-cost-usd"] == "unknown"
        assert _budget(gw)["spent"] == pytest.approx(priced + 0.1)


def test_a_budget_made_on_one_replica_reaches_an_idle_other_within_refresh_s(
    tmp_path: Path
) -> None:
    config = governed_config(tmp_path)  # both replicas on one ledger database
    with running_gateway(config) as a, running_gateway(config) as b:
        assert _ask(b)[0] == 200  # b is running, then idles while a sets the budget
        b.gateway.writer.flush()  # (today's spend so far counts: it is in the ledger)
        set_budget(a.url, scope="team", id="search", usd=float(COST * 2), period="day")
        time.sleep(0.5)  # refresh_s is 0.2 in these tests
        assert _ask(b)[0] == 200
        assert _ask(b)[0] == 429


@pytest.mark.parametrize("backend", ["memory", "redis"])
def test_a_client_that_hangs_up_mid_stream_is_settled_not_left_reserved(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    governance: dict[str, Any] = {"backend": backend}
    storage: dict[str, Any] = {"ledger": f"sqlite:///{tmp_path}/ledger.db"}
    if backend == "redis":
        storage["redis"] = request.getfixturevalue("redis_url")
        governance["redis_prefix"] = f"tt:test:{uuid.uuid4().hex[:10]}:"
    with running_gateway(governed_config(tmp_path, governance, storage=storage)) as gw:
        set_budget(gw.url, scope="team", id="search", usd=float(COST), period="day")
        gw.emulator.add_fault(Fault(kind="timeout", model=MODEL, after_chunks=1))
        host, port = gw.url.removeprefix("http://").split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=10)
        connection.request("POST", "/v1/chat/completions", json.dumps(chat_body(stream=True)),
                           {"content-type": "application/json",
                            "x-tokenthrift-team": "search"})
        answer = connection.getresponse()
        assert answer.status == 200 and answer.read1(1)  # the stream has started
        assert _budget(gw)["reserved"] == pytest.approx(float(COST))
        connection.close()  # hang up while the upstream stalls
        deadline = time.monotonic() + 5
        while _budget(gw)["reserved"] and time.monotonic() < deadline:
            time.sleep(0.05)
        row = _budget(gw)
        # reconciled to what the provider bills for a cut stream: the prompt and the
        # output sent so far (estimated), not held at the worst case
        assert row["reserved"] == 0 and 0 < row["spent"] < float(COST)
