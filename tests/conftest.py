"""Shared fixtures: the external services, and ledgers on each backend.

A test that needs PostgreSQL or Redis skips when the service is unreachable, except
under ``CI=true``, where an unreachable service fails the test (CI must run them all).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tokenthrift.ledger import Ledger, LedgerRecord, open_ledger

POSTGRES_URL = os.environ.get(
    "TOKENTHRIFT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("TOKENTHRIFT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _unavailable(service: str, exc: Exception) -> None:
    message = f"{service} unreachable: {exc}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def postgres_url() -> str:
    import psycopg

    try:
        with psycopg.connect(POSTGRES_URL, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        _unavailable("PostgreSQL", exc)
    return POSTGRES_URL


@pytest.fixture(scope="session")
def redis_url() -> str:
    import redis

    try:
        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3)
        client.ping()
        client.close()
    except redis.RedisError as exc:
        _unavailable("Redis", exc)
    return REDIS_URL


@pytest.fixture
def cache_prefix(redis_url: str) -> Iterator[str]:
    """A fresh ``cache.redis_prefix``, its Redis keys deleted afterwards."""
    import redis

    prefix = f"tt-test:{uuid.uuid4().hex[:8]}"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"{prefix}:*"))
    if keys:
        client.unlink(*keys)
    client.close()


@pytest.fixture
def postgres_schema(postgres_url: str) -> Iterator[str]:
    """A fresh schema name (``tt_test_<random>``), dropped with its tables afterwards,
    so parallel test runs sharing one database never see each other's tables."""
    import psycopg
    from psycopg import sql

    schema = f"tt_test_{uuid.uuid4().hex[:12]}"
    yield schema
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture(params=["sqlite", "postgres"])
def ledger(request: pytest.FixtureRequest) -> Iterator[Ledger]:
    """A migrated, empty ledger on each backend (SQLite file, then real PostgreSQL)."""
    if request.param == "sqlite":
        opened = open_ledger(str(request.getfixturevalue("tmp_path") / "ledger.db"))
    else:
        url = request.getfixturevalue("postgres_url")
        opened = open_ledger(url, schema=request.getfixturevalue("postgres_schema"))
    yield opened
    opened.close()


@pytest.fixture
def make_record() -> Callable[..., LedgerRecord]:
    """``make_record(**fields)``: a valid ledger record with a fresh request id."""

    def make(**fields: Any) -> LedgerRecord:
        values: dict[str, Any] = {
            "request_id": uuid.uuid4().hex,
            "ts": 1_793_000_000.0,  # 2026-10-26 07:33:20 UTC
            "requested_model": "gpt-4o",
            "served_model": "gpt-4o",
            "provider": "openai",
            "wire_format": "openai",
            "endpoint": "chat.completions",
        }
        values.update(fields)
        return LedgerRecord(**values)

    return make


@pytest.fixture(scope="module")
def served(request: pytest.FixtureRequest) -> Iterator[tuple[Any, Any]]:
    """The emulator served over HTTP once per test module, with the module's
    ``EMULATOR_CONFIG`` (a module may define its own ``served`` instead)."""
    from tokenthrift.emulator import Emulator, EmulatorConfig, create_app
    from tokenthrift.server.runner import ServerThread

    emulator = Emulator(getattr(request.module, "EMULATOR_CONFIG", EmulatorConfig()))
    with ServerThread(create_app(emulator)) as server:
        yield server, emulator


@pytest.fixture
def emulator(served: tuple[Any, Any]) -> Any:
    """``served``'s emulator, reset before the test."""
    served[1].reset()
    return served[1]
