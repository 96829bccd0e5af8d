"""The race: 200 concurrent requests against a budget that affords exactly 50 of them.

Each request costs exactly ``COST`` and reserves exactly that (``max_tokens`` = the
length of the emulator's fixed reply), so "affordable" is exact: precisely 50 must
succeed, the other 150 must get ``budget_exceeded``, and spend must not pass the budget,
with one gateway (in-process counters or Redis) and with two gateway processes sharing
Redis and a PostgreSQL ledger. The emulator holds each request 50 ms so they all overlap.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from gateway_harness import running_gateway
from governance_harness import (
    COST,
    MASTER_KEY,
    PRICING,
    call,
    chat_body,
    governed_config,
    set_budget,
)
from tokenthrift.errors import GatewayError
from tokenthrift.server.runner import free_port

REQUESTS = 200
AFFORDABLE = 50
BUDGET = COST * AFFORDABLE
SLOW_EMULATOR = {"emu": {"type": "emulator", "emulator": {"ttft_ms": 50}}}


async def _fire(urls: list[str], team: str) -> Counter[str]:
    """REQUESTS concurrent chat completions spread over ``urls``; outcome counts."""
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(i: int) -> str:
            url = urls[i % len(urls)] + "/v1/chat/completions"
            async with session.post(url, json=chat_body(),
                                    headers={"x-tokenthrift-team": team}) as answer:
                body = await answer.json()
                return "ok" if answer.status == 200 else f"{answer.status}:{body['error']['code']}"

        return Counter(await asyncio.gather(*(one(i) for i in range(REQUESTS))))


def _expect_exact(outcomes: Counter[str]) -> None:
    assert outcomes == {"ok": AFFORDABLE, "429:budget_exceeded": REQUESTS - AFFORDABLE}


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    import redis

    prefix = f"tt:test:{uuid.uuid4().hex[:10]}:"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(match=prefix + "*"):
        client.delete(key)
    client.close()


def test_race_on_one_replica_with_in_process_counters(tmp_path: Path) -> None:
    config = governed_config(tmp_path, {"backend": "memory"}, providers=SLOW_EMULATOR)
    with running_gateway(config) as gw:
        set_budget(gw.url, scope="team", id="race", usd=float(BUDGET), period="day")
        _expect_exact(asyncio.run(_fire([gw.url], "race")))
        gw.gateway.writer.flush()
        spent = sum(r["cost_usd"] for r in gw.gateway.ledger.spend(["team"]) if r["team"] == "race")
        assert spent == pytest.approx(float(BUDGET), abs=1e-9)
        _, budgets, _ = call(gw.url + "/admin/budgets")
        assert budgets["data"][0]["spent"] <= float(BUDGET)
        assert budgets["data"][0]["reserved"] == 0


def test_race_on_one_replica_with_redis(tmp_path: Path, redis_url: str,
                                        redis_prefix: str) -> None:
    config = governed_config(tmp_path, {"redis_prefix": redis_prefix},
                             providers=SLOW_EMULATOR,
                             storage={"ledger": f"sqlite:///{tmp_path}/ledger.db",
                                      "redis": redis_url})
    with running_gateway(config) as gw:
        set_budget(gw.url, scope="team", id="race", usd=float(BUDGET), period="day")
        _expect_exact(asyncio.run(_fire([gw.url], "race")))
        _, budgets, _ = call(gw.url + "/admin/budgets")
        assert budgets["data"][0]["spent"] == pytest.approx(float(BUDGET), abs=1e-9)


# -- two gateway processes sharing Redis and PostgreSQL ----------------------------------


def _serve(config: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    command = [str(Path(sys.executable).parent / "tokenthrift"), "serve", "--config",
               str(config), "--port", str(port)]
    env = {**os.environ, "TOKENTHRIFT_MASTER_KEY": MASTER_KEY}
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log.open("wb"), env=env)


def _wait_healthy(url: str, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gateway on {url} exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url + "/health", timeout=1) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"gateway on {url} did not become healthy")


def _replica_config(tmp_path: Path, name: str, postgres_url: str, schema: str,
                    redis_url: str, prefix: str) -> Path:
    raw: dict[str, Any] = {
        "providers": SLOW_EMULATOR,
        "models": [{"name": "*", "provider": "emu"}],
        "retry": {"max_retries": 0},
        "pricing": PRICING,
        "cache": {"exact": False},
        "data_dir": str(tmp_path / name),
        "storage": {"ledger": postgres_url, "ledger_schema": schema, "redis": redis_url},
        "governance": {"redis_prefix": prefix, "refresh_s": 0.2},
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_race_across_two_gateway_processes(tmp_path: Path, postgres_url: str,
                                           postgres_schema: str, redis_url: str,
                                           redis_prefix: str) -> None:
    import psycopg
    from click.testing import CliRunner
    from psycopg import sql

    from tokenthrift.cli.main import cli

    configs = [_replica_config(tmp_path, name, postgres_url, postgres_schema, redis_url,
                               redis_prefix) for name in ("a", "b")]
    made = CliRunner().invoke(cli, ["budgets", "set", "--config", str(configs[0]), "--scope",
                                    "team", "--id", "race", "--usd", str(BUDGET), "--period",
                                    "day"])
    assert made.exit_code == 0, made.output
    ports = [free_port(), free_port()]
    replicas = [_serve(c, p, tmp_path / f"{c.stem}.log") for c, p in zip(configs, ports,
                                                                           strict=True)]
    urls = [f"http://127.0.0.1:{p}" for p in ports]
    try:
        for url, process in zip(urls, replicas, strict=True):
            _wait_healthy(url, process)
        _expect_exact(asyncio.run(_fire(urls, "race")))
        _, budgets, _ = call(urls[1] + "/admin/budgets")
        assert budgets["data"][0]["spent"] == pytest.approx(float(BUDGET), abs=1e-9)
    finally:
        for process in replicas:
            process.send_signal(signal.SIGTERM)  # graceful: flushes the ledger
        for process in replicas:
            process.wait(timeout=20)
    with psycopg.connect(postgres_url) as conn:
        query = sql.SQL("SELECT status, COUNT(*), COALESCE(SUM(cost_pusd), 0) FROM {}.ledger "
                        "WHERE team = 'race' GROUP BY status").format(
                            sql.Identifier(postgres_schema))
        rows = {status: (count, total) for status, count, total in conn.execute(query)}
    assert rows[200][0] == AFFORDABLE and rows[429][0] == REQUESTS - AFFORDABLE
    assert Decimal(rows[200][1]).scaleb(-12) <= Decimal(str(BUDGET))  # integer pico-USD


# -- a replica that dies holding reservations ------------------------------------------


@pytest.mark.parametrize("backend", ["memory", "redis"])
async def test_a_dead_replicas_reservations_expire_after_their_ttl(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    from tokenthrift.assembly import build_gateway
    from tokenthrift.types import Attribution, ChatRequest, Message, TextPart

    governance: dict[str, Any] = {"backend": backend, "reservation_ttl_s": 0.4}
    storage: dict[str, Any] = {"ledger": f"sqlite:///{tmp_path}/ledger.db"}
    if backend == "redis":
        storage["redis"] = request.getfixturevalue("redis_url")
        governance["redis_prefix"] = request.getfixturevalue("redis_prefix")
    gateway = build_gateway(governed_config(tmp_path, governance, storage=storage))
    lever: Any = gateway.lever("governance")
    try:
        from tokenthrift.levers.governance.budgets import Budget

        await lever.set_budget(Budget("team", "race", "day", COST))
        body = chat_body()

        def exchange() -> Any:
            chat = ChatRequest(model=body["model"], max_tokens=body["max_tokens"],
                               messages=[Message("user", [TextPart(body["messages"][0]["content"])])])
            return gateway.exchange(chat, Attribution(team="race"), endpoint="chat.completions")

        assert await lever.reserve(exchange(), None) is not None  # ...and its replica dies
        with pytest.raises(GatewayError) as refused:
            await lever.reserve(exchange(), None)
        assert refused.value.code == "budget_exceeded"
        await asyncio.sleep(0.6)
        assert await lever.reserve(exchange(), None) is not None
    finally:
        await gateway.aclose()
