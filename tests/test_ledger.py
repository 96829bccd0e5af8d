"""The ledger stores one row per request, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from tokenthrift.ledger import (
    Ledger,
    LedgerRecord,
    LedgerUnavailable,
    PromptStorage,
    open_ledger,
    prompt_fingerprint,
)
from tokenthrift.ledger.migrations import MIGRATIONS
from tokenthrift.ledger.postgres import PostgresLedger
from tokenthrift.ledger.sqlite import SQLiteLedger

MakeRecord = Callable[..., LedgerRecord]


def full_record(make_record: MakeRecord, **fields: object) -> LedgerRecord:
    """A record with every field set to something other than its default."""
    values: dict[str, object] = dict(
        ts=1_793_000_123.456,
        key_id="key_9f2",
        team="search",
        user="u-17",
        customer="acme",
        tags=["nightly", "rag"],
        task="summarize",
        requested_model="claude-sonnet-4-5",
        served_model="claude-haiku-4-5",
        provider="anthropic",
        wire_format="anthropic",
        endpoint="messages",
        input_tokens=1200,
        cache_read_tokens=4000,
        cache_write_5m_tokens=300,
        cache_write_1h_tokens=200,
        output_tokens=450,
        reasoning_tokens=120,
        cost_usd=0.0031234567,
        baseline_cost_usd=0.0250000001,
        saved_usd=0.0218765434,
        savings={"routing": 0.018, "prompt_cache": 0.0038765434},
        latency_ms=812.5,
        upstream_ms=790.25,
        overhead_ms=3.125,
        stream=True,
        cache_status="bypass",
        status=200,
        error_class=None,
        usage_estimated=True,
        prompt_fingerprint="0123456789abcdef0123456789abcdef",
        prompt_text="system: be brief\n\nuser: summarize this",
        retries=2,
        fallback_used=True,
        batch=True,
    )
    values.update(fields)
    return make_record(**values)


def count(ledger: Ledger) -> int:
    return ledger.spend([])[0]["requests"]


# -- the record ------------------------------------------------------------------------


def test_unknown_lever_is_refused_when_the_record_is_made(make_record: MakeRecord) -> None:
    with pytest.raises(ValueError, match="routng"):
        make_record(savings={"routng": 0.1})


def test_record_json_round_trip_ignores_fields_it_does_not_know(make_record: MakeRecord) -> None:
    record = full_record(make_record)
    data = record.to_json() | {"field_from_a_newer_version": 1}
    assert LedgerRecord.from_json(data) == record


# -- migrations ------------------------------------------------------------------------


def test_migrations_are_recorded_and_running_them_again_does_nothing(ledger: Ledger) -> None:
    # the fixture already migrated once
    assert ledger.migrate() == []
    assert ledger.migrate() == []
    ledger.write([LedgerRecord(request_id="r1", ts=1.0, requested_model="m",
                               wire_format="openai", endpoint="embeddings")])  # fmt: skip
    assert ledger.get("r1") is not None


def test_a_fresh_database_gets_every_migration_in_order(tmp_path: Path) -> None:
    ledger = SQLiteLedger(tmp_path / "fresh.db")
    try:
        assert ledger.migrate() == [m.name for m in MIGRATIONS]
        assert ledger.migrate() == []
    finally:
        ledger.close()
    with sqlite3.connect(tmp_path / "fresh.db") as conn:
        names = [row[0] for row in conn.execute("SELECT name FROM _migrations")]
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    assert names == [m.name for m in MIGRATIONS]
    assert {"ledger", "ledger_tags", "ledger_prompts", "ledger_ts"} <= tables


def test_postgres_migrations_are_idempotent_across_connections(
    postgres_url: str, postgres_schema: str
) -> None:
    first = PostgresLedger(postgres_url, schema=postgres_schema)
    second = PostgresLedger(postgres_url, schema=postgres_schema)
    try:
        assert first.migrate() == [m.name for m in MIGRATIONS]
        assert second.migrate() == []
    finally:
        first.close()
        second.close()


def test_sqlite_file_is_in_wal_mode(tmp_path: Path) -> None:
    open_ledger(str(tmp_path / "l.db")).close()
    with sqlite3.connect(tmp_path / "l.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


# -- writing and reading -------------------------------------------------------------


def test_every_field_survives_a_round_trip(ledger: Ledger, make_record: MakeRecord) -> None:
    record = full_record(make_record)
    assert ledger.write([record]) == 1
    assert ledger.get(record.request_id) == record
    assert ledger.get("no-such-id") is None


def test_minimal_record_round_trip_keeps_unknown_cost_as_none(
    ledger: Ledger, make_record: MakeRecord
) -> None:
    record = make_record(cost_usd=None, baseline_cost_usd=None, saved_usd=None)
    ledger.write([record])
    stored = ledger.get(record.request_id)
    assert stored == record
    assert stored is not None and stored.cost_usd is None


def test_rewriting_a_request_id_never_duplicates_and_first_write_wins(
    ledger: Ledger, make_record: MakeRecord
) -> None:
    original = make_record(request_id="req-1", team="a", tags=["x"], cost_usd=0.5)
    assert ledger.write([original, original]) == 1
    changed = make_record(request_id="req-1", team="b", tags=["y"], cost_usd=9.0)
    other = make_record(request_id="req-2")
    assert ledger.write([changed, other]) == 1
    assert count(ledger) == 2
    assert ledger.get("req-1") == original
    assert [row["tag"] for row in ledger.spend(["tag"])] == ["x", None]


def test_rows_are_newest_first_and_filtered_by_since(
    ledger: Ledger, make_record: MakeRecord
) -> None:
    records = [make_record(request_id=f"r{i}", ts=1000.0 + i) for i in range(5)]
    ledger.write(records)
    assert [r.request_id for r in ledger.rows()] == ["r4", "r3", "r2", "r1", "r0"]
    assert [r.request_id for r in ledger.rows(since=1002.0)] == ["r4", "r3", "r2"]
    assert [r.request_id for r in ledger.rows(limit=2)] == ["r4", "r3"]


def test_a_large_write_is_one_call(ledger: Ledger, make_record: MakeRecord) -> None:
    records = [make_record(tags=["t"]) for _ in range(2000)]
    assert ledger.write(records) == 2000
    assert count(ledger) == 2000


def test_postgres_reconnects_after_losing_its_connection(
    postgres_url: str, postgres_schema: str, make_record: MakeRecord
) -> None:
    import psycopg

    ledger = open_ledger(postgres_url, schema=postgres_schema)
    try:
        ledger.write([make_record()])
        (pid,) = ledger._db.execute("SELECT pg_backend_pid()")[0]  # type: ignore[attr-defined]
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        with pytest.raises(LedgerUnavailable):
            ledger.write([make_record()])
        ledger.write([make_record()])  # a new connection
        assert count(ledger) == 2
    finally:
        ledger.close()


def test_unreachable_postgres_is_reported_as_unavailable() -> None:
    with pytest.raises(LedgerUnavailable):
        PostgresLedger("postgresql://postgres@127.0.0.1:1/none", connect_timeout=2)


# -- choosing a backend ----------------------------------------------------------------


@pytest.mark.parametrize("location", ["memory", ":memory:", "sqlite://", "sqlite:///:memory:"])
def test_memory_locations_open_an_in_memory_sqlite(location: str) -> None:
    ledger = open_ledger(location)
    try:
        assert isinstance(ledger, SQLiteLedger) and ledger.path == ":memory:"
        assert ledger.migrate() == []
    finally:
        ledger.close()


def test_sqlite_urls_and_paths_open_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for location, expected in [
        ("sqlite:///rel/a.db", tmp_path / "rel" / "a.db"),  # SQLAlchemy: 3 slashes = relative
        (f"sqlite:///{tmp_path}/abs.db", tmp_path / "abs.db"),  # 4 slashes = absolute
        ("plain/b.db", tmp_path / "plain" / "b.db"),
    ]:
        open_ledger(location).close()
        assert expected.exists(), location


def test_postgres_schemes_open_postgres(postgres_url: str, postgres_schema: str) -> None:
    url = postgres_url.replace("postgresql://", "postgres://", 1)
    ledger = open_ledger(url, schema=postgres_schema)
    try:
        assert isinstance(ledger, PostgresLedger)
    finally:
        ledger.close()


def test_unknown_scheme_is_refused() -> None:
    with pytest.raises(ValueError, match="mysql"):
        open_ledger("mysql://root@localhost/db")


# -- prompt storage --------------------------------------------------------------------


def test_prompt_fingerprint_is_stable_and_short() -> None:
    fp = prompt_fingerprint("You are terse.", "user: hi")
    assert fp == prompt_fingerprint("You are terse.", "user: hi")
    assert len(fp) == 32 and int(fp, 16) >= 0
    assert fp != prompt_fingerprint("You are terse.", "user: hi!")


def test_moving_text_between_system_and_messages_changes_the_fingerprint() -> None:
    assert prompt_fingerprint("ab", "c") != prompt_fingerprint("a", "bc")


def test_prompt_storage_modes_decide_what_is_kept() -> None:
    fp = prompt_fingerprint("sys", "user: q")
    assert PromptStorage("off").capture("sys", "user: q") == (None, None)
    assert PromptStorage("hash").capture("sys", "user: q") == (fp, None)
    assert PromptStorage("full").capture("sys", "user: q") == (fp, "sys\n\nuser: q")
    assert PromptStorage.FULL.capture("", "user: q") == (
        prompt_fingerprint("", "user: q"),
        "user: q",
    )
