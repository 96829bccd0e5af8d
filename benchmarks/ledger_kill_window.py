"""How many ledger records does a crash lose? SIGKILL vs SIGTERM, measured for real.

A child process submits ledger records at a steady rate through ``LedgerWriter`` into a
SQLite ledger and prints a running count of submitted records to a pipe (line-buffered)
after each ``submit``. The parent kills it at a random moment, then compares the last
count it read with the rows in the database (and the spill file). With SIGTERM the child
closes the writer in its handler, as the server does, and must lose nothing; with
SIGKILL it loses what was queued but not yet committed: about ``flush_interval`` of
traffic.

The printed count lags the real one by at most one record (a kill between ``submit``
and ``print``), so "lost" can read -1; it is reported as 0 and counted as "ahead".

Run: ``.venv/bin/python benchmarks/ledger_kill_window.py --runs 10 --rate 500``
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

from tokenthrift.ledger import LedgerRecord, LedgerWriter, open_ledger
from tokenthrift.ledger.spill import SpillFile
from tokenthrift.ledger.writer import PENDING_FILE


def child(db: str, data_dir: str, rate: float, flush_interval: float) -> None:
    """Submit records at ``rate`` per second until killed."""
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    ledger = open_ledger(db)
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
                cost_usd=0.000207,
                baseline_cost_usd=0.00345,
                saved_usd=0.003243,
                savings={"routing": 0.003243},
            )
        )
        submitted += 1
        print(submitted)
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


def one_run(sig: signal.Signals, rate: float, flush_interval: float) -> Run:
    with tempfile.TemporaryDirectory(prefix="tt-kill-") as tmp:
        db = str(Path(tmp) / "ledger.db")
        cmd = [sys.executable, __file__, "--child", db, tmp, str(rate), str(flush_interval)]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, bufsize=1)
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != "ready":
            proc.kill()
            raise RuntimeError("child did not start")
        last = [0]

        def read() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:  # also drains what was in the pipe at the kill
                last[0] = int(line)

        reader = threading.Thread(target=read)
        reader.start()
        after = random.uniform(0.5, 2.0)
        time.sleep(after)
        proc.send_signal(sig)
        proc.wait()
        reader.join()
        ledger = open_ledger(db)  # SQLite recovers the WAL a killed process left behind
        in_db = ledger.spend([])[0]["requests"]
        ledger.close()
        on_disk = SpillFile(Path(tmp) / PENDING_FILE).count()
        return Run(sig.name, after, last[0], in_db, on_disk)


def summarize(runs: list[Run], rate: float) -> str:
    lost = [r.lost for r in runs]
    ms = [n / rate * 1000 for n in lost]
    ahead = sum(1 for r in runs if r.in_db + r.on_disk > r.printed)
    return (
        f"{runs[0].sig}: {len(runs)} runs, lost records min/median/max = "
        f"{min(lost)}/{statistics.median(lost):g}/{max(lost)}, "
        f"lost traffic ms min/median/max = {min(ms):.1f}/{statistics.median(ms):.1f}/"
        f"{max(ms):.1f}; db ahead of the printed count in {ahead} run(s)"
    )


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _, _, db, data_dir, rate, flush_interval = sys.argv
        child(db, data_dir, float(rate), float(flush_interval))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--rate", type=float, default=500.0, help="records per second")
    parser.add_argument("--flush-interval", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    random.seed(args.seed)
    print(
        f"rate {args.rate:g}/s, flush_interval {args.flush_interval * 1000:g} ms "
        f"(expected SIGKILL loss <= ~{args.rate * args.flush_interval:g} records + one batch write)"
    )
    for sig in (signal.SIGKILL, signal.SIGTERM):
        runs = []
        for i in range(args.runs):
            run = one_run(sig, args.rate, args.flush_interval)
            runs.append(run)
            print(
                f"  {sig.name} run {i + 1}: killed after {run.after_s:.2f}s, printed "
                f"{run.printed}, in db {run.in_db}, spilled {run.on_disk}, lost {run.lost}"
            )
        print(summarize(runs, args.rate))


if __name__ == "__main__":
    main()
