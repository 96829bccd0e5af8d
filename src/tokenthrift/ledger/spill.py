"""A local JSONL file holding ledger records the database could not take yet.

Several gateway processes may share one data directory (``uvicorn --workers``), so
appends and re-ingestion take an exclusive ``flock`` on the file. Re-ingestion empties
the file with ``truncate`` rather than deleting it: a process waiting for the lock on a
deleted file would append to an inode nobody reads again. Records are re-ingested in
batches through the ledger's idempotent ``write``, so a re-ingestion interrupted half
way simply starts over next time without duplicating rows.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from tokenthrift.ledger.record import LedgerRecord

try:  # POSIX; elsewhere one process per data directory is assumed
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger("tokenthrift.ledger")


@contextmanager
def _locked(path: Path, flags: int) -> Iterator[int | None]:
    """An exclusively locked descriptor; ``None`` if the file is missing and not created."""
    try:
        fd = os.open(path, flags, 0o600)
    except FileNotFoundError:
        if flags & os.O_CREAT:
            raise
        yield None
        return
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield fd
    finally:
        os.close(fd)  # also releases the lock


def _anything(value: Any) -> str:
    # A record the store refused for an odd value in ``notes`` must still be kept.
    return format(value, "f") if isinstance(value, Decimal) else repr(value)


class SpillFile:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def append(self, records: list[LedgerRecord], extra: dict[str, Any] | None = None) -> None:
        """Append records (each line with ``extra``'s keys too, which ``from_json``
        ignores) and fsync; raises ``OSError`` (disk full, read-only dir)."""
        data = b"".join(
            orjson.dumps(r.to_json() | (extra or {}), default=_anything) + b"\n" for r in records
        )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with _locked(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND) as fd:
            assert fd is not None  # O_CREAT
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                # a writer killed mid-line left a torn record: keep it on its own line
                data = b"\n" + data
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)

    def count(self) -> int:
        """Records (lines) in the file; 0 when there is none."""
        try:
            with self.path.open("rb") as f:
                return sum(1 for line in f if line.strip())
        except FileNotFoundError:
            return 0

    def drain(self, write: Callable[[list[LedgerRecord]], None], batch_size: int) -> int:
        """Pass every record to ``write`` in batches, then empty the file.

        If ``write`` raises, the file is left as it is and the exception propagates.
        Returns the number of records passed; unreadable lines are logged and skipped.
        """
        with _locked(self.path, os.O_RDWR) as fd:
            if fd is None:
                return 0
            passed = 0
            batch: list[LedgerRecord] = []
            with open(fd, "rb", closefd=False) as f:
                for number, line in enumerate(f, start=1):
                    record = self._parse(line, number)
                    if record is None:
                        continue
                    batch.append(record)
                    if len(batch) >= batch_size:
                        write(batch)
                        passed += len(batch)
                        batch = []
            if batch:
                write(batch)
                passed += len(batch)
            os.ftruncate(fd, 0)
            os.fsync(fd)
            return passed

    def _parse(self, line: bytes, number: int) -> LedgerRecord | None:
        if not line.strip():
            return None
        try:
            return LedgerRecord.from_json(orjson.loads(line))
        except (orjson.JSONDecodeError, TypeError, ValueError) as exc:
            # only a line torn by a SIGKILL during append should ever land here
            log.warning("skipping unreadable line %d of %s: %s", number, self.path, exc)
            return None
