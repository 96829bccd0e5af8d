"""Two gateways sharing PostgreSQL and Redis: a key, budget or revocation made through
one is in force on the other from the moment the admin call returns, and what the other
spends reaches the shared counter (issue #8, defect 2).

Both replicas re-read keys and budgets only once an hour here, so nothing but the shared
version can make the second one current.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway_harness import RunningGateway, running_gateway
from governance_harness import (
    COST,
    call,
    chat_body,
    create_key,
    governed_config,
    redis_keys_under,
    set_budget,
)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

REQUESTS = 40
AFFORDABLE = 5


@pytest.fixture
def replicas(tmp_path: Path, postgres_url: str, postgres_schema: str, redis_url: str
             ) -> Iterator[tuple[RunningGateway, RunningGateway]]:
    with redis_keys_under(redis_url, f"tt:test:{uuid.uuid4().hex[:10]}:") as prefix:
        storage = {"ledger": postgres_url, "ledger_schema": postgres_schema, "redis": redis_url}
        governance = {"redis_prefix": prefix, "refresh_s": 3600}

        def config(name: str) -> Any:
            return governed_config(tmp_path, governance, storage=storage,
                                   data_dir=str(tmp_path / name))

        with running_gateway(config("a")) as a, running_gateway(config("b")) as b:
            yield a, b


def _ask(gw: RunningGateway, key: str | None = None, **headers: str) -> tuple[int, Any]:
    status, body, _ = call(gw.url + "/v1/chat/completions", "POST", chat_body(), key=key,
                           headers=headers)
    return status, body


async def _fire(url: str, key: str) -> Counter[str]:
    """REQUESTS concurrent chat completions with ``key``; outcome counts."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

        async def one() -> str:
            async with session.post(url + "/v1/chat/completions", json=chat_body(),
                                    headers={"authorization": f"Bearer {key}"}) as answer:
                body = await answer.json()
                return "ok" if answer.status == 200 else f"{answer.status}:{body['error']['code']}"

        return Counter(await asyncio.gather(*(one() for _ in range(REQUESTS))))


def _ledger_spend(gw: RunningGateway, dimension: str, subject: str) -> float:
    gw.gateway.writer.flush()
    rows = gw.gateway.ledger.spend([dimension])  # type: ignore[list-item]
    return float(sum(r["cost_usd"] or 0 for r in rows if r[dimension] == subject))


def _live(gw: RunningGateway, scope: str, subject: str) -> dict[str, Any]:
    status, body, _ = call(gw.url + "/admin/budgets")
    assert status == 200
    (found,) = [b for b in body["data"] if (b["scope"], b["id"]) == (scope, subject)]
    return found


def test_a_key_made_with_a_budget_on_one_replica_is_held_to_it_at_once_on_the_other(
    replicas: tuple[RunningGateway, RunningGateway]
) -> None:
    a, b = replicas
    assert _ask(b)[0] == 200  # b is serving, with its copy of keys and budgets (none)
    created = create_key(a.url, budget={"usd": str(COST * AFFORDABLE), "period": "day"})
    outcomes = asyncio.run(_fire(b.url, created["key"]))
    assert outcomes == {"ok": AFFORDABLE, "429:budget_exceeded": REQUESTS - AFFORDABLE}
    spent = _ledger_spend(b, "key", created["id"])
    assert spent == pytest.approx(float(COST * AFFORDABLE), abs=1e-9)
    live = _live(a, "key", created["id"])  # the shared counter, read through the other replica
    assert live["spent"] == pytest.approx(spent, abs=1e-9) and live["reserved"] == 0


def test_a_team_budget_set_on_one_replica_holds_at_once_on_the_other(
    replicas: tuple[RunningGateway, RunningGateway]
) -> None:
    a, b = replicas
    key = create_key(a.url, team="search")["key"]
    assert _ask(b, key)[0] == 200  # b knows the key (cached), and no budget for its team
    before = _ledger_spend(b, "team", "search")
    set_budget(a.url, scope="team", id="search", usd=str(COST * (AFFORDABLE + 1)), period="day")
    outcomes = asyncio.run(_fire(b.url, key))
    assert outcomes == {"ok": AFFORDABLE, "429:budget_exceeded": REQUESTS - AFFORDABLE}
    spent = _ledger_spend(b, "team", "search")
    assert spent - before == pytest.approx(float(COST * AFFORDABLE), abs=1e-9)
    assert _live(a, "team", "search")["spent"] == pytest.approx(spent, abs=1e-9)


def test_the_first_key_and_a_revocation_apply_on_the_other_replica_at_once(
    replicas: tuple[RunningGateway, RunningGateway]
) -> None:
    a, b = replicas
    assert _ask(b)[0] == 200  # no key exists yet: b serves keyless requests
    created = create_key(a.url)
    status, body = _ask(b)
    assert status == 401 and body["error"]["code"] == "missing_api_key"
    assert _ask(b, created["key"])[0] == 200  # b has it cached as valid now
    assert call(a.url + f"/admin/keys/{created['id']}", "DELETE")[0] == 200
    status, body = _ask(b, created["key"])
    assert status == 401 and body["error"]["code"] == "revoked_api_key"
