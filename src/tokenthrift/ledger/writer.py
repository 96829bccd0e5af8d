"""Ledger writes off the request path: a bounded queue drained in batches by a thread.

``submit`` appends to an in-memory queue (O(1), no lock while there is room; safe from
the event loop and from any thread). The writer thread wakes every ``flush_interval``
(or as soon as the queue is half full) and writes everything queued in one transaction.

**Bounded backlog.** Records accepted but not yet committed (queued or being written)
are at most ``capacity``: 80% of what the writer committed per flush interval over the
last few intervals (at least ``min_queue``, at most ``max_queue``), and the oldest of
them is younger than ``flush_interval``. Beyond either, ``submit`` blocks, and ``await
submit_async`` waits without blocking the event loop, until the writer has committed.
So at saturation the gateway serves at the rate the ledger records, and a SIGKILL loses
at most about one flush interval of that traffic. The writer commits every ``0.8 *
flush_interval`` (less the time a write takes) or when half the capacity waits, so
below saturation nothing ever waits: the fast path is two length checks and an
``append``.

**Outages.** A write the store could not take for now (``LedgerUnavailable``, or any
unexpected error) is retried with exponential backoff (capped at
``max_retry_delay``). While it fails, queued records go to
``<data_dir>/pending-ledger.jsonl`` (appended and fsynced) once the oldest is half a
flush interval old, or on ``flush``/``close``; that file is re-ingested at
start-up and as soon as the store is back. If the writer itself is stuck (a write
hanging on a connect timeout), a producer waits at most ``max_wait`` for room, then
the queue grows past its bound until the writer moves again (``overflows`` counts
those waits): availability over the loss bound, and ``health()`` says so.

**Quarantine.** A batch the store refuses as bad data (``RecordRejected``: a value over
an index limit, an untranslatable character) is bisected so that only the refused
records are set aside, in ``<data_dir>/quarantine-ledger.jsonl`` with the reason;
they are counted (``quarantined``) and never hold back the records behind them.

What a crash can lose (measured by ``benchmarks/ledger_kill_window.py``): SIGTERM or a
normal exit nothing, as long as ``close()`` runs (the server calls it; an ``atexit``
hook covers a normal exit); SIGKILL while the store is healthy, at most about one
flush interval of traffic, at any load, while the store is up or down (unless the
writer is stuck past ``max_wait``, which ``health()`` reports).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

from tokenthrift.ledger.base import LedgerSink, RecordRejected
from tokenthrift.ledger.record import LedgerRecord
from tokenthrift.ledger.spill import SpillFile

log = logging.getLogger("tokenthrift.ledger")

PENDING_FILE = "pending-ledger.jsonl"
QUARANTINE_FILE = "quarantine-ledger.jsonl"
# The writer commits when the oldest queued record is this share of a flush interval
# old, so that a record's age at commit stays under the interval and submit never waits
# below saturation; and the capacity is this share of a flush interval of throughput.
_COMMIT_AT = 0.8
_RATE_WINDOW = 4  # flush intervals over which the commit rate is measured


class _Interrupted(Exception):
    """Re-ingestion stopped because the store failed again."""


class _FlushMark:
    """Queued by ``flush``; set once every record queued before it is durable."""

    __slots__ = ("done",)

    def __init__(self) -> None:
        self.done = threading.Event()


_Item = LedgerRecord | _FlushMark


class LedgerWriter:
    """Batches ``LedgerRecord``s into a ``Ledger`` from a background thread.

    Counters: ``written`` (records confirmed in the store), ``pending`` (accepted, not
    yet in the store: queued, being written or spilled to disk), ``failures`` (failed
    write attempts), ``spilled`` (records ever moved to the spill file),
    ``quarantined`` (records the store refused, kept in the quarantine file),
    ``backpressure_waits``/``overflows`` (submits that found the queue full / gave up
    waiting). The writer does not own the ledger: close the ledger after ``close()``.
    """

    def __init__(
        self,
        ledger: LedgerSink,
        *,
        flush_interval: float = 0.05,
        min_queue: int = 64,
        max_queue: int = 16384,
        max_batch: int = 2048,
        max_retry_delay: float = 1.0,
        max_wait: float = 1.0,
        stuck_after: float | None = None,
        data_dir: str | Path = ".tokenthrift",
    ) -> None:
        if flush_interval <= 0 or not 1 <= min_queue <= max_queue or max_batch < 1:
            raise ValueError("need flush_interval > 0, 1 <= min_queue <= max_queue, max_batch >= 1")
        self._ledger = ledger
        self._flush_interval = flush_interval
        self._min_queue, self._max_queue, self._max_batch = min_queue, max_queue, max_batch
        self.capacity = min_queue
        self._max_retry_delay = max_retry_delay
        self._max_wait = max_wait
        self._stuck_after = max(1.0, 40 * flush_interval) if stuck_after is None else stuck_after
        self._spill = SpillFile(Path(data_dir) / PENDING_FILE)
        self._quarantine = SpillFile(Path(data_dir) / QUARANTINE_FILE)

        self.written = self.failures = self.spilled = self.quarantined = 0
        self.backpressure_waits = self.overflows = 0
        self._on_disk = self._spill.count()

        # No lock on the request path while there is room: deque.append/popleft are
        # atomic, so submit never waits for the writer thread (and close() is safe
        # even from a signal handler that interrupted a submit). Only the writer thread
        # takes from the left.
        self._queue: deque[_Item] = deque()
        # submit times (monotonic) of the oldest queued and the oldest in-flight record
        self._queue_since = self._in_flight_since = 0.0
        self._wake = threading.Event()
        self._room = threading.Condition()
        self._async_waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._overflowing = False
        self._in_flight = 0
        self._flush_waiters = 0
        self._flush_waiters_lock = threading.Lock()
        self._closing = False
        self._failing_since: float | None = None
        self._consecutive_failures = 0
        self._retry_at = 0.0
        self._last_write_s = 0.0
        self._started = self._last_written_at = self._last_progress = time.monotonic()
        self._rate_since, self._rate_rows = self._started, 0

        self._thread = threading.Thread(target=self._run, name="ledger-writer", daemon=True)
        self._thread.start()
        atexit.register(self.close)

    # -- the request path -----------------------------------------------------------

    def submit(self, record: LedgerRecord) -> None:
        """Queue a record. O(1) and lock-free while the queue has room; when it is full
        (the store cannot keep up), blocks until the writer has taken the queue, at most
        ``max_wait``. From the event loop prefer ``await submit_async(record)``.

        Raises ``RuntimeError`` after ``close``: shut the server's request handling
        down before closing the writer."""
        if self._closing:
            raise RuntimeError("ledger writer is closed")
        if self._full():
            self._wait_for_room()
        self._append(record)

    async def submit_async(self, record: LedgerRecord) -> None:
        """``submit`` for the event loop: while the queue is full, this request waits
        (other requests go on) instead of the whole loop."""
        if self._closing:
            raise RuntimeError("ledger writer is closed")
        if self._full():
            await self._wait_for_room_async()
        self._append(record)

    def submit_now(self, record: LedgerRecord) -> None:
        """Queue a record even past the bound, without waiting: for a request whose wait
        for room was cancelled (its row must not be lost)."""
        self._append(record)

    def _append(self, record: LedgerRecord) -> None:
        if not self._queue:
            self._queue_since = time.monotonic()
        self._queue.append(record)
        if len(self._queue) * 2 >= self.capacity and not self._wake.is_set():
            self._wake.set()

    def _wait_for_room(self) -> None:
        self.backpressure_waits += 1
        deadline = time.monotonic() + self._max_wait
        with self._room:
            while self._full() and self._thread.is_alive():
                self._wake.set()
                left = deadline - time.monotonic()
                if left <= 0:
                    self._overflow()
                    return
                self._room.wait(min(left, self._flush_interval))

    async def _wait_for_room_async(self) -> None:
        self.backpressure_waits += 1
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._max_wait
        while self._full() and self._thread.is_alive():
            future: asyncio.Future[None] = loop.create_future()
            with self._room:
                self._async_waiters.append((loop, future))
            self._wake.set()
            left = deadline - loop.time()
            if left <= 0:
                self._overflow()
                return
            with contextlib.suppress(TimeoutError):  # then look again
                await asyncio.wait_for(future, min(left, self._flush_interval))

    def _full(self) -> bool:
        """No room: ``capacity`` records wait to be committed, or the oldest is a flush
        interval old."""
        waiting = len(self._queue) + self._in_flight
        if not waiting or self._overflowing or self._closing:
            return False
        return waiting >= self.capacity or self._oldest_age() >= self._flush_interval

    def _oldest_age(self) -> float:
        since = self._in_flight_since if self._in_flight else self._queue_since
        return time.monotonic() - since

    def _overflow(self) -> None:
        if not self._overflowing:
            log.error("ledger writer has not taken a full queue for %ss: accepting records "
                      "past the bound until it does", self._max_wait)  # fmt: skip
        self._overflowing = True
        self.overflows += 1

    def _room_made(self) -> None:
        """The writer took records off the queue: wake whoever waits for room."""
        self._overflowing = False
        with self._room:
            self._room.notify_all()
            waiters, self._async_waiters = self._async_waiters, []
        for loop, future in waiters:
            loop.call_soon_threadsafe(_resolve, future)

    @property
    def pending(self) -> int:
        """Records accepted but not yet in the store (approximate while it changes)."""
        return len(self._queue) + self._in_flight + self._on_disk

    @property
    def queued(self) -> int:
        """Records (and flush marks) waiting in the queue, not yet taken by the writer."""
        return len(self._queue)

    @property
    def rejected(self) -> int:  # the name before quarantine had one
        return self.quarantined

    def health(self) -> dict[str, Any]:
        """What /health reports: ``ok`` is False when the writer thread is gone or is
        ``stuck`` (records pending and no write succeeded for ``stuck_after``)."""
        now = time.monotonic()
        pending = self.pending
        stuck = pending > 0 and now - self._last_progress > self._stuck_after
        return {
            "pending": pending,
            "spilled": self._on_disk,
            "quarantined": self.quarantined,
            "failures": self.failures,
            "last_flush_age_s": round(now - self._last_written_at, 3),
            "stuck": stuck,
            "ok": self._thread.is_alive() and not stuck,
        }

    # -- durability -----------------------------------------------------------------

    def flush(self, timeout: float | None = None) -> bool:
        """Block until every record submitted so far is durable: in the store, or (if
        the store is down) fsynced to the spill file. False if ``timeout`` ran out.
        Blocking: do not call it on the event loop while serving."""
        if not self._thread.is_alive():
            return not self._queue
        mark = _FlushMark()
        with self._flush_waiters_lock:
            self._flush_waiters += 1
        try:
            self._queue.append(mark)
            self._wake.set()
            deadline = None if timeout is None else time.monotonic() + timeout
            while not mark.done.wait(0.1):
                if not self._thread.is_alive() or (
                    deadline is not None and time.monotonic() >= deadline
                ):
                    return mark.done.is_set()
            return True
        finally:
            with self._flush_waiters_lock:
                self._flush_waiters -= 1

    def close(self, timeout: float | None = None) -> None:
        """Write (or spill) everything submitted and stop the thread. Idempotent."""
        self._closing = True
        self._wake.set()
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.error("ledger writer did not stop within %ss; %d pending", timeout, self.pending)
        elif self._queue:
            # a submit that passed the closed check just before close(): the thread is
            # gone, so finishing its work here cannot race with it
            self._tick(closing=True)
        self._room_made()
        atexit.unregister(self.close)

    # -- the writer thread ----------------------------------------------------------

    def _run(self) -> None:
        while True:
            if self._failing_since is not None or not self._queue:
                self._wake.wait(self._flush_interval * _COMMIT_AT)
            else:
                # Commit before the oldest queued record is a flush interval old.
                due = self._flush_interval * _COMMIT_AT - self._last_write_s
                left = due - (time.monotonic() - self._queue_since)
                if left > 0 and len(self._queue) * 2 < self.capacity:
                    self._wake.wait(left)
            self._wake.clear()
            closing = self._closing
            try:
                self._tick(closing)
            except Exception:  # a bug here must not stop the ledger
                log.exception("ledger writer tick failed")
                if closing:
                    self._spill_queue()
            if closing:
                return

    def _tick(self, closing: bool) -> None:
        now = time.monotonic()
        may_write = self._failing_since is None or now >= self._retry_at or closing
        # Older records first: what was spilled during an outage, then the queue.
        if may_write and (not self._on_disk or self._reingest()):
            self._write_queue()
        if self._queue and self._must_spill(closing, now):
            self._spill_queue()
        if not self.pending:
            self._last_progress = time.monotonic()  # idle is keeping up

    def _must_spill(self, closing: bool, now: float) -> bool:
        if self._failing_since is None:
            return False
        return bool(
            closing
            or self._flush_waiters
            or len(self._queue) >= self.capacity
            or now - self._queue_since >= self._flush_interval / 2
        )

    def _take(self, max_records: int | None) -> list[_Item]:
        """Pop items from the left up to ``max_records`` records (all queued if None)."""
        limit = len(self._queue) if max_records is None else max_records
        items: list[_Item] = []
        records = 0
        while records < limit:
            try:
                item = self._queue.popleft()
            except IndexError:
                break
            items.append(item)
            if isinstance(item, LedgerRecord):
                records += 1
        if items:
            self._in_flight_since, self._queue_since = self._queue_since, time.monotonic()
        self._in_flight = records
        return items

    def _settle(self, items: list[_Item], durable: int, *, spilled: int = 0) -> None:
        """The first ``durable`` records of ``items`` are safe: release the flush marks
        before the first unsafe record, put that record and the rest back in front."""
        cut = len(items)
        seen = 0
        for i, item in enumerate(items):
            if isinstance(item, LedgerRecord):
                if seen == durable:
                    cut = i
                    break
                seen += 1
        if cut < len(items):  # back in front: as old as the batch was
            self._queue_since = self._in_flight_since
        self._queue.extendleft(reversed(items[cut:]))
        self._on_disk += spilled
        self._in_flight = 0
        self._room_made()
        for item in items[:cut]:
            if isinstance(item, _FlushMark):
                item.done.set()

    def _write_queue(self) -> None:
        while True:
            # Everything queued (at most the bound) in one transaction.
            items = self._take(max(self.capacity, self._max_batch))
            if not items:
                return
            batch = [item for item in items if isinstance(item, LedgerRecord)]
            rest = self._write_batch(batch) if batch else []
            self._settle(items, len(batch) - len(rest))
            if rest:
                return

    def _write_batch(self, batch: list[LedgerRecord]) -> list[LedgerRecord]:
        """Write a batch; return the records (a suffix) still to be written."""
        started = time.monotonic()
        try:
            self._ledger.write(batch)
        except RecordRejected as exc:
            return self._isolate(batch, exc)
        except Exception as exc:  # LedgerUnavailable, or anything unknown: retry later
            self._note_failure(exc)
            return batch
        self._note_success(len(batch), time.monotonic() - started)
        return []

    def _isolate(self, batch: list[LedgerRecord], exc: RecordRejected) -> list[LedgerRecord]:
        """Bisect a refused batch: the halves the store takes are written, the single
        records it refuses are quarantined (log2(n) rounds for one bad record)."""
        if len(batch) > 1:
            half = len(batch) // 2
            rest = self._write_batch(batch[:half])
            return rest + batch[half:] if rest else self._write_batch(batch[half:])
        (record,) = batch
        try:
            self._quarantine.append(batch, {"quarantine": {"reason": str(exc), "at": time.time()}})
        except OSError as disk_exc:  # refused *and* no disk: keep it, try again later
            self._note_failure(disk_exc)
            return batch
        log.error("ledger refused record %s (%s); kept in %s",
                  record.request_id, exc, self._quarantine.path)  # fmt: skip
        self.quarantined += 1
        return []

    def _spill_queue(self) -> None:
        items = self._take(None)
        records = [item for item in items if isinstance(item, LedgerRecord)]
        try:
            if records:
                self._spill.append(records)
        except OSError:
            log.exception("cannot spill %d ledger records to %s", len(records), self._spill.path)
            self._settle(items, 0)
            return
        self.spilled += len(records)
        self._settle(items, len(records), spilled=len(records))

    def _reingest(self) -> bool:
        def write(batch: list[LedgerRecord]) -> None:
            if self._write_batch(batch):
                raise _Interrupted

        try:
            count = self._spill.drain(write, self._max_batch)
        except _Interrupted:
            return False
        except OSError:
            log.exception("cannot re-ingest %s", self._spill.path)
            return False
        if count:
            log.info("re-ingested %d ledger records from %s", count, self._spill.path)
        self._on_disk = 0
        return True

    def _note_failure(self, exc: Exception) -> None:
        self.failures += 1
        self._consecutive_failures += 1
        now = time.monotonic()
        if self._failing_since is None:
            self._failing_since = now
            log.warning("ledger write failed, will retry: %s", exc)
        delay = self._flush_interval * 2 ** min(self._consecutive_failures, 20)
        self._retry_at = now + min(delay, self._max_retry_delay)

    def _note_success(self, rows: int, seconds: float) -> None:
        if self._failing_since is not None:
            log.info("ledger store is back after %d failed writes", self._consecutive_failures)
        self._failing_since = None
        self._consecutive_failures = 0
        self.written += rows
        self._last_written_at = self._last_progress = time.monotonic()
        self._last_write_s = seconds
        self._rate_rows += rows
        elapsed = self._last_written_at - self._rate_since
        if elapsed >= _RATE_WINDOW * self._flush_interval:
            per_interval = self._rate_rows / elapsed * self._flush_interval
            self.capacity = max(self._min_queue, min(self._max_queue, int(per_interval * 0.8)))
            self._rate_since, self._rate_rows = self._last_written_at, 0


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
