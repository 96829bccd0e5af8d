"""The race against two ``tokenthrift serve`` processes sharing Redis and PostgreSQL
(used by ``governance_overhead.py``).

Both replicas get the same config: emulator upstream holding each request 20 ms, the
ledger in a fresh PostgreSQL schema (dropped afterwards), counters in Redis under a
fresh prefix (deleted afterwards). Each repetition creates a new team budget through one
replica's admin API and at once sends the requests alternately to both: the other
replica must enforce the budget from the moment the admin call returns (it re-reads
keys and budgets when the shared version moves; its periodic refresh is set to an hour
so it cannot help).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import yaml

MASTER_KEY = "tt-bench-master-" + secrets.token_hex(8)
REFRESH_S = 3600.0  # only the shared version may make the other replica current


async def drop_redis_prefix(url: str, prefix: str) -> None:
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(url)
    try:
        async for key in client.scan_iter(match=prefix + "*"):
            await client.delete(key)
    finally:
        await client.aclose()


def _drop_schema(postgres_url: str, schema: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def _free_port() -> int:
    from tokenthrift.server.runner import free_port

    return free_port()


def _start(tmp: Path, name: str, raw: dict[str, Any]) -> tuple[subprocess.Popen[bytes], str]:
    config = tmp / f"{name}.yaml"
    config.write_text(yaml.safe_dump({**raw, "data_dir": str(tmp / name)}))
    port = _free_port()
    command = [str(Path(sys.executable).parent / "tokenthrift"), "serve", "--config",
               str(config), "--port", str(port)]
    log = (tmp / f"{name}.log").open("wb")
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log,
                               env={**os.environ, "TOKENTHRIFT_MASTER_KEY": MASTER_KEY})
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"replica {name} exited; see {tmp / name}.log")
        try:
            with urllib.request.urlopen(url + "/health", timeout=1):
                return process, url
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"replica {name} did not start")


async def _rep(session: aiohttp.ClientSession, urls: list[str], team: str, budget: Decimal,
               requests: int, body: dict[str, Any]) -> tuple[int, Decimal]:
    admin = {"authorization": f"Bearer {MASTER_KEY}"}
    async with session.post(urls[0] + "/admin/budgets", headers=admin,
                            json={"scope": "team", "id": team, "usd": str(budget),
                                  "period": "day"}) as answer:
        assert answer.status == 200, await answer.text()

    async def one(i: int) -> Decimal | None:
        async with session.post(urls[i % len(urls)] + "/v1/chat/completions", json=body,
                                headers={"x-tokenthrift-team": team}) as answer:
            await answer.read()
            if answer.status == 200:
                return Decimal(answer.headers["x-tokenthrift-cost-usd"])
            assert answer.status == 429, answer.status
            return None

    costs = [c for c in await asyncio.gather(*(one(i) for i in range(requests)))
             if c is not None]
    return len(costs), sum(costs, Decimal(0))


async def race_two_replicas(reps: int, redis_url: str, postgres_url: str, cost: Decimal,
                            affordable: int, requests: int, body: dict[str, Any],
                            pricing: dict[str, Any]) -> list[tuple[int, Decimal]]:
    schema = f"tt_bench_{uuid.uuid4().hex[:10]}"
    prefix = f"tt:bench:{uuid.uuid4().hex[:8]}:"
    raw = {
        "providers": {"emu": {"type": "emulator", "emulator": {"ttft_ms": 20}}},
        "models": [{"name": "*", "provider": "emu"}],
        "retry": {"max_retries": 0},
        "pricing": pricing,
        "cache": {"exact": False},
        "storage": {"ledger": postgres_url, "ledger_schema": schema, "redis": redis_url},
        "governance": {"redis_prefix": prefix, "refresh_s": REFRESH_S},
    }
    results: list[tuple[int, Decimal]] = []
    processes: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory() as tmp:
        try:
            urls = []
            for name in ("a", "b"):
                process, url = _start(Path(tmp), name, raw)
                processes.append(process)
                urls.append(url)
            connector = aiohttp.TCPConnector(limit=0)
            async with aiohttp.ClientSession(connector=connector) as session:
                for rep in range(reps):
                    results.append(await _rep(session, urls, f"race-{rep}", cost * affordable,
                                              requests, body))
        finally:
            for process in processes:
                process.send_signal(signal.SIGTERM)
            for process in processes:
                process.wait(timeout=30)
            await drop_redis_prefix(redis_url, prefix)
            _drop_schema(postgres_url, schema)
    return results
