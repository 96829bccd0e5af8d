"""The writer keeps ledger writes off the request path and never loses an answered request."""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from tokenthrift.ledger import (
    Ledger,
    LedgerRecord,
    LedgerUnavailable,
    LedgerWriter,
    RecordRejected,
    open_ledger,
)
from tokenthrift.ledger.spill import SpillFile
from tokenthrift.ledger.writer import PENDING_FILE, QUARANTINE_FILE

MakeRecord = Callable[..., LedgerRecord]


class FlakyLedger:
    """A real SQLite ledger whose writes fail while ``down`` (like a database restart)
    and which rejects records whose id starts with ``poison``."""

    def __init__(self, inner: Ledger) -> None:
        self.inner = inner
        self.down = False
        self.write_calls = 0

    def write(self, records: list[LedgerRecord]) -> int:
        self.write_calls += 1
        if self.down:
            raise LedgerUnavailable("database is restarting")
        if any(r.request_id.startswith("poison") for r in records):
            raise RecordRejected("value too long")
        return self.inner.write(records)


def wait_until(condition: Callable[[], bool], what: str, deadline_s: float = 20.0) -> None:
    """Poll for a state the writer thread reaches; the deadline only turns a hang into
    a failure, nothing is asserted about how long it took."""
    end = time.monotonic() + deadline_s
    while not condition():
        if time.monotonic() > end:
            pytest.fail(f"timed out waiting until {what}")
        time.sleep(0.005)


def count(ledger: Ledger) -> int:
    return ledger.spend([])[0]["requests"]


@pytest.fixture
def sqlite_ledger(tmp_path: Path) -> Iterator[Ledger]:
    ledger = open_ledger(str(tmp_path / "ledger.db"))
    yield ledger
    ledger.close()


@pytest.fixture
def flaky(sqlite_ledger: Ledger) -> FlakyLedger:
    return FlakyLedger(sqlite_ledger)


def test_close_writes_every_record_submitted_from_other_threads(
    ledger: Ledger, make_record: MakeRecord, tmp_path: Path
) -> None:
    writer = LedgerWriter(ledger, data_dir=tmp_path)

    def produce() -> None:
        for _ in range(2500):
            writer.submit(make_record(tags=["load"]))

    threads = [threading.Thread(target=produce) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    writer.close()
    assert count(ledger) == 10_000
    assert (writer.written, writer.pending, writer.failures) == (10_000, 0, 0)
    assert not (tmp_path / PENDING_FILE).exists()


def test_flush_makes_everything_submitted_so_far_readable(
    sqlite_ledger: Ledger, make_record: MakeRecord, tmp_path: Path
) -> None:
    # a long interval: only flush() can explain the rows being there
    writer = LedgerWriter(sqlite_ledger, flush_interval=3600, data_dir=tmp_path)
    try:
        records = [make_record() for _ in range(10)]
        for r in records:
            writer.submit(r)
        assert writer.flush(timeout=30)
        assert count(sqlite_ledger) == 10
        assert writer.flush(timeout=30)  # nothing new: returns at once
    finally:
        writer.close()


def test_flush_covers_what_other_threads_submitted_before_it(
    sqlite_ledger: Ledger, make_record: MakeRecord, tmp_path: Path
) -> None:
    writer = LedgerWriter(sqlite_ledger, flush_interval=3600, max_batch=64, min_queue=64, max_queue=64,
                          data_dir=tmp_path)  # fmt: skip
    submitted = [0]

    def produce() -> None:
        for i in range(5000):
            writer.submit(make_record(request_id=f"r{i}"))
            submitted[0] = i + 1

    producer = threading.Thread(target=produce)
    producer.start()
    flushes = 0
    try:
        while producer.is_alive() or flushes == 0:
            before = submitted[0]
            assert writer.flush(timeout=30)
            flushes += 1
            if before:
                assert sqlite_ledger.get(f"r{before - 1}") is not None
                assert count(sqlite_ledger) >= before
    finally:
        producer.join()
        writer.close()
    assert count(sqlite_ledger) == 5000


async def test_submit_from_the_event_loop_needs_no_await(
    sqlite_ledger: Ledger, make_record: MakeRecord, tmp_path: Path
) -> None:
    writer = LedgerWriter(sqlite_ledger, data_dir=tmp_path)

    async def handle_request(i: int) -> None:
        await asyncio.sleep(0)
        writer.submit(make_record(request_id=f"req-{i}"))

    await asyncio.gather(*(handle_request(i) for i in range(100)))
    writer.close()
    assert count(sqlite_ledger) == 100


def test_submit_after_close_is_an_error(sqlite_ledger: Ledger, make_record: MakeRecord,
                                        tmp_path: Path) -> None:  # fmt: skip
    writer = LedgerWriter(sqlite_ledger, data_dir=tmp_path)
    writer.close()
    writer.close()  # idempotent
    with pytest.raises(RuntimeError):
        writer.submit(make_record())


def test_records_are_spilled_while_the_store_is_down_and_land_when_it_is_back(
    flaky: FlakyLedger, make_record: MakeRecord, tmp_path: Path
) -> None:
    writer = LedgerWriter(flaky, flush_interval=0.01, data_dir=tmp_path)
    try:
        flaky.down = True
        for _ in range(50):
            writer.submit(make_record())
        wait_until(lambda: writer.failures >= 2, "the writer has retried")
        # durable on disk within about a flush interval, not held in memory
        wait_until(lambda: writer.health()["spilled"] == 50, "the records are spilled")
        assert (writer.written, count(flaky.inner), writer.pending) == (0, 0, 50)
        flaky.down = False
        wait_until(lambda: writer.pending == 0, "the records are written")
        assert count(flaky.inner) == 50 and writer.written == 50 and writer.spilled == 50
    finally:
        writer.close()


def test_flush_during_an_outage_spills_to_disk_and_the_spill_is_reingested_on_recovery(
    flaky: FlakyLedger, make_record: MakeRecord, tmp_path: Path
) -> None:
    writer = LedgerWriter(flaky, flush_interval=0.01, data_dir=tmp_path)
    try:
        flaky.down = True
        for _ in range(30):
            writer.submit(make_record())
        assert writer.flush(timeout=30)  # durable on disk even though the database is down
        assert SpillFile(tmp_path / PENDING_FILE).count() == 30
        assert writer.pending == 30
        flaky.down = False
        writer.submit(make_record())
        wait_until(lambda: writer.pending == 0, "spill and queue are written")
        assert count(flaky.inner) == 31
        assert SpillFile(tmp_path / PENDING_FILE).count() == 0
    finally:
        writer.close()


def test_a_full_queue_spills_and_close_spills_the_rest_for_the_next_start(
    flaky: FlakyLedger, sqlite_ledger: Ledger, make_record: MakeRecord, tmp_path: Path
) -> None:
    flaky.down = True
    writer = LedgerWriter(flaky, flush_interval=3600, min_queue=10, max_queue=10, data_dir=tmp_path)
    records = [make_record() for _ in range(100)]
    for r in records:
        writer.submit(r)
    wait_until(lambda: writer.spilled > 0, "the queue over its cap is spilled")
    writer.close()  # the store is still down: everything left goes to disk
    assert SpillFile(tmp_path / PENDING_FILE).count() == 100
    assert writer.pending == 100
    assert count(sqlite_ledger) == 0

    # the next start re-ingests the file into the (now healthy) store
    sqlite_ledger.write(records[:5])  # some made it before: re-ingestion is idempotent
    restarted = LedgerWriter(sqlite_ledger, data_dir=tmp_path)
    restarted.close()
    assert count(sqlite_ledger) == 100
    assert {r.request_id for r in sqlite_ledger.rows(limit=1000)} == {r.request_id for r in records}
    assert SpillFile(tmp_path / PENDING_FILE).count() == 0


def test_spill_file_torn_by_a_crash_is_reingested_without_the_torn_line(
    sqlite_ledger: Ledger, make_record: MakeRecord, tmp_path: Path
) -> None:
    spill = SpillFile(tmp_path / PENDING_FILE)
    spill.append([make_record(request_id="before")])
    with spill.path.open("ab") as f:
        f.write(b'{"request_id": "torn", "ts": 1')  # SIGKILL in the middle of an append
    spill.append([make_record(request_id="after")])
    writer = LedgerWriter(sqlite_ledger, data_dir=tmp_path)
    writer.close()
    assert {r.request_id for r in sqlite_ledger.rows()} == {"before", "after"}


def test_a_record_the_store_rejects_is_set_aside_and_the_rest_are_written(
    flaky: FlakyLedger, make_record: MakeRecord, tmp_path: Path
) -> None:
    writer = LedgerWriter(flaky, data_dir=tmp_path)
    for i in range(10):
        writer.submit(make_record(request_id=f"poison-{i}" if i == 3 else f"ok-{i}"))
    writer.close()
    assert count(flaky.inner) == 9
    assert (writer.written, writer.quarantined) == (9, 1)
    rejected = (tmp_path / QUARANTINE_FILE).read_text().splitlines()
    assert len(rejected) == 1 and "poison-3" in rejected[0]


# -- records the database refuses for good (#8 defect 3) --------------------------------


def test_a_poison_record_in_a_big_batch_is_bisected_out_in_few_writes(
    flaky: FlakyLedger, make_record: MakeRecord, tmp_path: Path
) -> None:
    writer = LedgerWriter(flaky, flush_interval=3600, min_queue=1000, max_queue=1000, max_batch=1000,
                          data_dir=tmp_path)  # fmt: skip
    try:
        for i in range(1000):
            writer.submit(make_record(request_id=f"poison-{i}" if i in (17, 700) else f"ok-{i}"))
        assert writer.flush(timeout=60)
        assert (count(flaky.inner), writer.written, writer.quarantined) == (998, 998, 2)
        # bisection, not one write per record: about 2 * 2 * log2(1000) attempts
        assert flaky.write_calls <= 60
        assert writer.health()["ok"] and writer.health()["quarantined"] == 2
    finally:
        writer.close()


def test_a_3kb_attribution_postgres_refuses_is_quarantined_and_the_rest_flows(
    postgres_url: str, postgres_schema: str, make_record: MakeRecord, tmp_path: Path
) -> None:
    ledger = open_ledger(postgres_url, schema=postgres_schema)
    # incompressible, so PostgreSQL cannot squeeze it under the btree row limit
    huge = secrets.token_urlsafe(2400)
    assert len(huge) > 3000
    try:
        # positive control: the database really refuses this row, as bad data
        with pytest.raises(RecordRejected, match="index row"):
            ledger.write([make_record(customer=huge)])
        writer = LedgerWriter(ledger, flush_interval=0.01, data_dir=tmp_path)
        try:
            bad = make_record(request_id="bad", customer=huge)
            writer.submit(make_record(request_id="before"))
            writer.submit(bad)
            for i in range(50):
                writer.submit(make_record(request_id=f"after-{i}"))
            wait_until(lambda: writer.written == 51, "the rows around the bad one are written")
            assert writer.quarantined == 1 and writer.pending == 0
            assert ledger.get("after-49") is not None and ledger.get("bad") is None
            (line,) = (tmp_path / QUARANTINE_FILE).read_text().splitlines()
            kept = json.loads(line)
            assert LedgerRecord.from_json(kept) == bad
            assert "index row" in kept["quarantine"]["reason"]
            health = writer.health()
            assert health["ok"] and not health["stuck"] and health["quarantined"] == 1
        finally:
            writer.close()
        assert (
            not (tmp_path / PENDING_FILE).exists()
            or SpillFile(tmp_path / PENDING_FILE).count() == 0
        )
    finally:
        ledger.close()


# -- a bounded backlog (#8 defect 4) ------------------------------------------------------


class GatedLedger:
    """A real ledger whose writes wait until the gate opens (a store slower than the
    traffic), counting the records it has been handed."""

    def __init__(self, inner: Ledger) -> None:
        self.inner = inner
        self.gate = threading.Event()
        self.writing = threading.Event()

    def write(self, records: list[LedgerRecord]) -> int:
        self.writing.set()
        self.gate.wait()
        return self.inner.write(records)


def test_submit_blocks_when_the_queue_is_full_so_the_backlog_stays_bounded(
    sqlite_ledger: Ledger, make_record: MakeRecord, tmp_path: Path
) -> None:
    gated = GatedLedger(sqlite_ledger)
    writer = LedgerWriter(gated, flush_interval=0.01, min_queue=8, max_queue=8, max_wait=3600,
                          data_dir=tmp_path)  # fmt: skip
    accepted = [0]

    def produce() -> None:
        for _ in range(100):
            writer.submit(make_record())
            accepted[0] += 1

    producer = threading.Thread(target=produce)
    producer.start()
    try:
        wait_until(
            lambda: gated.writing.is_set() and writer.pending == 8 and writer.backpressure_waits,
            "a batch is being written, the queue behind it filled and the producer waits",
        )
        # positive control: it accepted records up to the bound (batch + queue); then
        # the producer waits and accepts not one more while the store is stuck
        wait_until(lambda: accepted[0] == 8, "the last submit before the bound returned")
        assert producer.is_alive() and writer.pending == 8
    finally:
        gated.gate.set()
        producer.join()
        writer.close()
    assert count(sqlite_ledger) == 100 and writer.overflows == 0


async def test_submit_async_waits_for_room_without_blocking_the_event_loop(
    sqlite_ledger: Ledger, make_record: MakeRecord, tmp_path: Path
) -> None:
    gated = GatedLedger(sqlite_ledger)
    writer = LedgerWriter(gated, flush_interval=0.01, min_queue=8, max_queue=8, max_wait=3600,
                          data_dir=tmp_path)  # fmt: skip
    done = [0]

    async def handle_request() -> None:
        await writer.submit_async(make_record())
        done[0] += 1

    tasks = [asyncio.create_task(handle_request()) for _ in range(40)]
    loop_turns = 0
    # An accepted request's task resumes on a later turn of the loop, so wait for its
    # count too; the bound is what must hold: never more than 8 through.
    while not (writer.backpressure_waits and gated.writing.is_set() and writer.pending == 8
               and done[0] == 8):
        await asyncio.sleep(0.005)  # the loop is free: this coroutine keeps running
        loop_turns += 1
        assert loop_turns < 4000, "the bound was never reached"
        assert done[0] <= 8 and writer.pending <= 8
    for _ in range(20):  # and it stays there while the write is stuck
        await asyncio.sleep(0.005)
        assert done[0] == writer.pending == 8
    gated.gate.set()
    await asyncio.gather(*tasks)
    writer.close()
    assert count(sqlite_ledger) == 40


def test_a_producer_that_waited_max_wait_goes_on_and_says_so(
    sqlite_ledger: Ledger, make_record: MakeRecord, tmp_path: Path
) -> None:
    # a writer stuck in one write (a hung connect): availability over the bound
    gated = GatedLedger(sqlite_ledger)
    writer = LedgerWriter(gated, flush_interval=0.01, min_queue=4, max_queue=4, max_wait=0.05,
                          data_dir=tmp_path)  # fmt: skip
    try:
        for _ in range(50):
            writer.submit(make_record())
        assert writer.overflows >= 1 and writer.pending == 50
    finally:
        gated.gate.set()
        writer.close()
    assert count(sqlite_ledger) == 50


# -- health (#8: /health said ok while nothing was recorded) ----------------------------


def test_health_is_not_ok_while_records_wait_for_a_failing_store(
    flaky: FlakyLedger, make_record: MakeRecord, tmp_path: Path
) -> None:
    writer = LedgerWriter(flaky, flush_interval=0.01, stuck_after=0.3, data_dir=tmp_path)
    try:
        writer.submit(make_record())
        assert writer.flush(timeout=30)
        healthy = writer.health()
        assert healthy["ok"] and not healthy["stuck"] and healthy["pending"] == 0
        flaky.down = True
        for _ in range(20):
            writer.submit(make_record())
        wait_until(lambda: writer.health()["stuck"], "the writer reports it is stuck")
        degraded = writer.health()
        assert not degraded["ok"] and degraded["pending"] == 20 and degraded["failures"] >= 1
        wait_until(lambda: writer.health()["spilled"] == 20, "the backlog is spilled to disk")
        flaky.down = False
        wait_until(lambda: writer.health()["pending"] == 0, "the backlog is written")
        assert writer.health()["ok"] and count(flaky.inner) == 21
    finally:
        writer.close()


async def test_the_health_endpoint_answers_503_degraded_when_the_ledger_is_stuck(
    flaky: FlakyLedger, make_record: MakeRecord, tmp_path: Path
) -> None:
    from tokenthrift.server.app import health

    writer = LedgerWriter(flaky, flush_interval=0.01, stuck_after=0.3, data_dir=tmp_path)
    request = SimpleNamespace(app=SimpleNamespace(state=SimpleNamespace(
        gateway=SimpleNamespace(writer=writer))))  # fmt: skip
    try:
        response = await health(request)  # type: ignore[arg-type]
        assert response.status_code == 200
        assert json.loads(response.body)["status"] == "ok"
        flaky.down = True
        writer.submit(make_record())
        while not writer.health()["stuck"]:
            await asyncio.sleep(0.01)
        response = await health(request)  # type: ignore[arg-type]
        body = json.loads(response.body)
        assert response.status_code == 503 and body["status"] == "degraded"
        assert body["ledger"]["stuck"] and body["ledger"]["pending"] == 1
    finally:
        flaky.down = False
        writer.close()
