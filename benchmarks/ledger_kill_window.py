"""How many ledger records does a crash lose? SIGKILL vs SIGTERM, measured for real.

A child process submits ledger records at a steady rate (or as fast as it can:
``--rate max``, which saturates the writer) through ``LedgerWriter`` into a SQLite or
PostgreSQL ledger and prints a running count of submitted records to a pipe
(line-buffered) after each ``submit``. The parent kills it at a random moment, then compares the last
count it read with the rows in the database (and the spill file). With SIGTERM the child
closes the writer in its handler, as the server does, and must lose nothing; with
SIGKILL it loses what was queued but not yet committed: at most about ``flush_interval``
of traffic, at any rate (the writer's bounded queue makes ``submit`` wait when full).
"Traffic" is the rate the child actually achieved (printed count / seconds it ran).

The printed count lags the real one by at most one record (a kill between ``submit``
and ``print``), so "lost" can read -1; it is reported as 0 and counted as "ahead".

Run: ``.venv/bin/python benchmarks/ledger_kill_window.py --runs 10 --rate 500``, or
``--rate max --backend postgres`` (PostgreSQL at ``TOKENTHRIFT_TEST_POSTGRES_URL``, each
run in a fresh schema).
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import psycopg
from psycopg import sql

from tokenthrift.ledger import LedgerRecord, LedgerWriter, open_ledger
from tokenthrift.ledger.spill import SpillFile
from tokenthrift.ledger.writer import PENDING_FILE

POSTGRES_URL = os.environ.get(
    "TOKENTHRIFT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


def open_at(db: str) -> object:
    """``db`` is a SQLite path or ``postgres:<schema>``."""
    if db.startswith("postgres:"):
        return open_ledger(POSTGRES_URL, schema=db.split(":", 1)[1])
    return open_ledger(db)


def busy(microseconds: float) -> None:
    """Pure-Python work holding the GIL, like a gateway's event loop serving a request:
    the writer thread then competes for the GIL as it does in the server."""
    end = time.perf_counter() + microseconds / 1e6
    while time.perf_counter() < end:
        pass


def child(db: str, data_dir: str, rate: float, flush_interval: float, work_us: float) -> None:
    """Submit records at ``rate`` per second (0: as fast as possible) until killed."""
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    ledger = open_at(db)
    writer = LedgerWriter(ledger, flush_interval=flush_interval, data_dir=data_dir)

    def on_term(signum: int, frame: FrameType | None) -> None:
        writer.close()
        ledger.close()
        os._exit(0)

    signal.signal(signal.SIGTERM, on_term)
    print("ready")
    submitted = 0
    due = time.monotonic()
    while True:
        if work_us:
            busy(work_us)
        writer.submit(
            LedgerRecord(
                request_id=uuid.uuid4().hex,
                ts=time.time(),
                team="bench",
                tags=["kill-window"],
                requested_model="gpt-4o",
                served_model="gpt-4o-mini",
                wire_format="openai",
                endpoint="chat.completions",
                input_tokens=900,
                output_tokens=120,
                # floats, which the record takes exactly by their repr: the same script
                # then also runs against releases before money was Decimal
                cost_usd=0.000207,
                baseline_cost_usd=0.00345,
                saved_usd=0.003243,
                savings={"routing": 0.003243},
            )
        )
        submitted += 1
        print(submitted)
        if rate:
            due += 1 / rate
            time.sleep(max(0.0, due - time.monotonic()))


@dataclass
class Run:
    sig: str
    after_s: float
    printed: int
    in_db: int
    on_disk: int

    @property
    def lost(self) -> int:
        return max(0, self.printed - self.in_db - self.on_disk)

    @property
    def rate(self) -> float:
        """Records per second the child achieved."""
        return self.printed / self.after_s


def one_run(
    sig: signal.Signals, rate: float, flush_interval: float, backend: str, work_us: float
) -> Run:
    with tempfile.TemporaryDirectory(prefix="tt-kill-") as tmp:
        schema = f"tt_kill_{uuid.uuid4().hex[:10]}"
        db = f"postgres:{schema}" if backend == "postgres" else str(Path(tmp) / "ledger.db")
        cmd = [sys.executable, __file__, "--child", db, tmp]
        cmd += [str(rate), str(flush_interval), str(work_us)]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, bufsize=1)
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != "ready":
            proc.kill()
            raise RuntimeError("child did not start")
        started = time.monotonic()
        last = [0]

        def read() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:  # also drains what was in the pipe at the kill
                last[0] = int(line)

        reader = threading.Thread(target=read)
        reader.start()
        time.sleep(random.uniform(0.5, 2.0))
        proc.send_signal(sig)
        after = time.monotonic() - started
        proc.wait()
        reader.join()
        ledger = open_at(db)  # SQLite recovers the WAL a killed process left behind
        in_db = ledger.spend([])[0]["requests"]  # type: ignore[attr-defined]
        ledger.close()  # type: ignore[attr-defined]
        if backend == "postgres":
            with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
        on_disk = SpillFile(Path(tmp) / PENDING_FILE).count()
        return Run(sig.name, after, last[0], in_db, on_disk)


def summarize(runs: list[Run], flush_interval: float) -> str:
    lost = [r.lost for r in runs]
    # one flush interval of the traffic each run achieved
    window = [r.rate * flush_interval for r in runs]
    share = [n / w for n, w in zip(lost, window, strict=True)]
    ahead = sum(1 for r in runs if r.in_db + r.on_disk > r.printed)
    return (
        f"{runs[0].sig}: {len(runs)} runs at {statistics.median(r.rate for r in runs):,.0f} "
        f"records/s (median); lost records min/median/max = "
        f"{min(lost)}/{statistics.median(lost):g}/{max(lost)}; one flush interval of traffic "
        f"= {statistics.median(window):,.0f} records; lost / interval-of-traffic "
        f"min/median/max = {min(share):.2f}/{statistics.median(share):.2f}/{max(share):.2f}; "
        f"db ahead of the printed count in {ahead} run(s)"
    )


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _, _, db, data_dir, rate, flush_interval, work_us = sys.argv
        child(db, data_dir, float(rate), float(flush_interval), float(work_us))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument(
        "--rate", default="500", help="records per second, or 'max' (as fast as possible)"
    )
    parser.add_argument("--flush-interval", type=float, default=0.05)
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--signals", default="KILL,TERM", help="comma-separated: KILL,TERM")
    parser.add_argument(
        "--work-us",
        type=float,
        default=0.0,
        help="pure-Python CPU per record in the submitting thread (a busy event loop)",
    )
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    random.seed(args.seed)
    rate = 0.0 if args.rate == "max" else float(args.rate)
    print(
        f"{args.backend}, rate {args.rate}/s, {args.work_us:g} us of work per record, "
        f"flush_interval {args.flush_interval * 1000:g} ms "
        "(target: SIGKILL loses <= one flush interval of the achieved traffic)"
    )
    for name in args.signals.split(","):
        sig = signal.Signals[f"SIG{name.strip().upper()}"]
        runs = []
        for i in range(args.runs):
            run = one_run(sig, rate, args.flush_interval, args.backend, args.work_us)
            runs.append(run)
            print(
                f"  {sig.name} run {i + 1}: killed after {run.after_s:.2f}s at {run.rate:,.0f}/s, "
                f"printed {run.printed}, in db {run.in_db}, spilled {run.on_disk}, "
                f"lost {run.lost}"
            )
        print(summarize(runs, args.flush_interval))


if __name__ == "__main__":
    main()
