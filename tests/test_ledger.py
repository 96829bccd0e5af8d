"""The ledger stores one row per request, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from decimal import Decimal
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
        cost_usd=Decimal("0.003123456789"),
        baseline_cost_usd=Decimal("0.025000000001"),
        saved_usd=Decimal("0.02187654321"),
        savings={"routing": Decimal("0.018"), "prompt_cache": Decimal("0.00387654321")},
        gateway_cost_usd=Decimal("0.000000018750"),
        notes={"routing": {"from": "claude-sonnet-4-5", "to": "claude-haiku-4-5", "p": 0.93}},
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


@pytest.mark.parametrize("name", ["routng-x", "Routing", "1cache", "", "a" * 41, "cache "])
def test_a_malformed_lever_name_is_refused_when_the_record_is_made(
    make_record: MakeRecord, name: str
) -> None:
    with pytest.raises(ValueError, match="lever"):
        make_record(savings={name: Decimal("0.1")})


def test_any_well_formed_lever_name_is_allowed(ledger: Ledger, make_record: MakeRecord) -> None:
    # new levers are registered elsewhere; the ledger stores whatever they saved
    record = make_record(cost_usd=Decimal("1"), baseline_cost_usd=Decimal("3"),
                         saved_usd=Decimal("1.5"), savings={"distill_v2": Decimal("1.5")})  # fmt: skip
    ledger.write([record])
    stored = ledger.get(record.request_id)
    assert stored is not None and stored.savings == {"distill_v2": Decimal("1.5")}
    assert stored.unattributed_usd == Decimal("0.5")
    assert [row["lever"] for row in ledger.savings("lever")][:2] == ["distill_v2", "exact_cache"]


def test_unattributed_is_what_no_lever_earned(make_record: MakeRecord) -> None:
    # a fallback made it cost 0.2 less than the levers explain
    record = make_record(cost_usd=Decimal("0.3"), baseline_cost_usd=Decimal("1"),
                         saved_usd=Decimal("0.5"), savings={"routing": Decimal("0.5")})  # fmt: skip
    assert record.unattributed_usd == Decimal("0.2")
    assert make_record(saved_usd=None).unattributed_usd is None


def test_money_is_kept_to_a_pico_dollar_rounded_half_even(
    ledger: Ledger, make_record: MakeRecord
) -> None:
    record = make_record(cost_usd=Decimal("0.0000000000125"),  # 12.5 pico -> 12
                         baseline_cost_usd=Decimal("0.0000000000135"),  # 13.5 -> 14
                         saved_usd=Decimal("0.00001875"),  # $0.01875/MTok, one token: exact
                         savings={"prompt_cache": Decimal("0.00001875")})  # fmt: skip
    ledger.write([record])
    stored = ledger.get(record.request_id)
    assert stored is not None
    assert (stored.cost_usd, stored.baseline_cost_usd) == (Decimal("12e-12"), Decimal("14e-12"))
    assert stored.saved_usd == Decimal("0.00001875")
    assert stored.unattributed_usd == Decimal("14e-12") - Decimal("12e-12") - Decimal("0.00001875")


def test_floats_are_taken_by_their_shortest_repr(make_record: MakeRecord) -> None:
    record = make_record(cost_usd=0.1, savings={"routing": 0.3})
    assert record.cost_usd == Decimal("0.1") and record.savings["routing"] == Decimal("0.3")
    with pytest.raises(ValueError, match="cost_usd"):
        make_record(cost_usd=float("nan"))


def test_record_json_round_trip_ignores_fields_it_does_not_know(make_record: MakeRecord) -> None:
    record = full_record(make_record)
    data = record.to_json() | {"field_from_a_newer_version": 1}
    assert LedgerRecord.from_json(data) == record


def test_record_json_keeps_money_exact_as_strings(make_record: MakeRecord) -> None:
    record = make_record(cost_usd=Decimal("0.000000123456789123"),
                         savings={"routing": Decimal("1e-15")})  # fmt: skip
    text = json.dumps(record.to_json())
    assert '"cost_usd": "0.000000123456789123"' in text
    back = LedgerRecord.from_json(json.loads(text))
    assert back.cost_usd == Decimal("0.000000123456789123")
    assert back.savings == {"routing": Decimal("1e-15")}


def test_a_float_spill_line_from_an_older_version_reads_back(make_record: MakeRecord) -> None:
    data = make_record().to_json() | {"cost_usd": 0.0031234567, "savings": {"routing": 0.018}}
    back = LedgerRecord.from_json(json.loads(json.dumps(data)))
    assert back.cost_usd == Decimal("0.0031234567")
    assert back.savings == {"routing": Decimal("0.018")}


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
    original = make_record(request_id="req-1", team="a", tags=["x"], cost_usd=Decimal("0.5"))
    assert ledger.write([original, original]) == 1
    changed = make_record(request_id="req-1", team="b", tags=["y"], cost_usd=Decimal(9))
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


# -- m003: float money becomes exact ---------------------------------------------------


@pytest.fixture(params=["sqlite", "postgres"])
def float_era_ledger(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Ledger:
    """A ledger migrated only up to m002 (money as floats), holding two old rows."""
    from tokenthrift.ledger import migrations

    if request.param == "sqlite":
        opened = open_ledger(str(request.getfixturevalue("tmp_path") / "old.db"), migrate=False)
    else:
        opened = open_ledger(request.getfixturevalue("postgres_url"), migrate=False,
                             schema=request.getfixturevalue("postgres_schema"))  # fmt: skip
    request.addfinalizer(opened.close)
    with monkeypatch.context() as patch:
        patch.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:2])
        assert opened.migrate() == ["m001_ledger", "m002_governance"]
    db = opened._db  # type: ignore[attr-defined]

    columns = (
        "request_id, ts, requested_model, wire_format, endpoint, cost_usd, "
        "baseline_cost_usd, saved_usd, saved_routing_usd, saved_prompt_cache_usd"
    )
    sql = f"INSERT INTO ledger ({columns}) VALUES ({db.dialect.params(10)})"
    # old-row semantics: saved = baseline - cost, of which 0.000004 no lever earned
    db.execute(sql, ("old-1", 1.0, "m", "openai", "chat.completions", 0.0031234567,
                     0.0250000001, 0.0218765434, 0.018, 0.0038725434))  # fmt: skip
    db.execute(sql, ("old-2", 2.0, "m", "openai", "chat.completions", None, None, None, 0, 0))
    return opened


def test_m003_converts_float_money_to_exact_amounts(float_era_ledger: Ledger) -> None:
    # m003 first; later migrations (stored responses…) follow it
    assert float_era_ledger.migrate()[:1] == ["m003_exact_money"]
    old = float_era_ledger.get("old-1")
    assert old is not None
    assert (old.cost_usd, old.baseline_cost_usd) == (Decimal("0.0031234567"),
                                                     Decimal("0.0250000001"))  # fmt: skip
    assert old.savings == {"routing": Decimal("0.018"), "prompt_cache": Decimal("0.0038725434")}
    assert old.saved_usd == Decimal("0.0218725434")  # what the levers earned
    assert old.unattributed_usd == Decimal("0.000004")
    unpriced = float_era_ledger.get("old-2")
    assert unpriced is not None and unpriced.cost_usd is None and unpriced.savings == {}
    assert float_era_ledger.savings("lever")[0] == {
        "lever": "routing",
        "saved_usd": Decimal("0.018"),
        "requests": 1,
    }
    assert float_era_ledger.migrate() == []
