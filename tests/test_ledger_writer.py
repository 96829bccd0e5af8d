"""The writer keeps ledger writes off the request path and never loses an answered request."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

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
from tokenthrift.ledger.writer import PENDING_FILE, REJECTED_FILE

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
    writer = LedgerWriter(sqlite_ledger, flush_interval=3600, max_batch=64, data_dir=tmp_path)
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


def test_records_wait_in_memory_while_the_store_is_down_and_land_when_it_is_back(
    flaky: FlakyLedger, make_record: MakeRecord, tmp_path: Path
) -> None:
    writer = LedgerWriter(flaky, flush_interval=0.01, spill_after=3600, data_dir=tmp_path)
    try:
        flaky.down = True
        for _ in range(50):
            writer.submit(make_record())
        wait_until(lambda: writer.failures >= 2, "the writer has retried")
        assert (writer.written, writer.spilled, count(flaky.inner)) == (0, 0, 0)
        wait_until(lambda: writer.pending == 50, "pending counts the waiting records")
        flaky.down = False
        wait_until(lambda: writer.written == 50, "the records are written")
        assert count(flaky.inner) == 50
        assert writer.pending == 0 and writer.spilled == 0
    finally:
        writer.close()


def test_flush_during_an_outage_spills_to_disk_and_the_spill_is_reingested_on_recovery(
    flaky: FlakyLedger, make_record: MakeRecord, tmp_path: Path
) -> None:
    writer = LedgerWriter(flaky, flush_interval=0.01, spill_after=3600, data_dir=tmp_path)
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
    writer = LedgerWriter(flaky, flush_interval=0.01, max_pending=10, spill_after=3600,
                          data_dir=tmp_path)  # fmt: skip
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
    assert (writer.written, writer.rejected) == (9, 1)
    rejected = (tmp_path / REJECTED_FILE).read_text().splitlines()
    assert len(rejected) == 1 and "poison-3" in rejected[0]
