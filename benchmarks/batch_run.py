"""``tokenthrift batch run`` of N requests through a gateway process, the emulator as its
upstream (in-process, Batch APIs on accelerated simulated time): wall time of the run and
the gateway's memory while it proxies the upload, settles 10,000 results into the ledger
and serves the output file.

    .venv/bin/python benchmarks/batch_run.py --requests 10000

Prints one JSON object; docs/benchmarks.md records it with the machine it ran on.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from procstat import cpu_seconds, process_tree, rss_kb
from services import (
    HOST,
    Service,
    _spawn,
    child_env,
    free_port,
    tokenthrift_executable,
    wait_ready,
)


def write_input(path: Path, n: int) -> None:
    topics = ("invoice", "refund", "shipping", "password", "upgrade", "outage", "billing")
    with path.open("w") as out:
        for i in range(n):
            text = (f"Classify ticket {i}: customer writes about {topics[i % len(topics)]} "
                    f"and asks for help with order {i * 7919 % 100000}.")
            out.write(json.dumps({"custom_id": f"t{i}", "max_tokens": 8,
                                  "messages": [{"role": "system", "content": "Label: one word."},
                                               {"role": "user", "content": text}]}) + "\n")


def start_gateway(workdir: Path, time_scale: float, rate: float) -> Service:
    config = workdir / "gateway.yaml"
    config.write_text(
        "providers:\n"
        "  emulator:\n"
        "    type: emulator\n"
        f"    emulator: {{batch_time_scale: {time_scale}, batch_requests_per_s: {rate}}}\n"
        "models:\n"
        '  - {name: "*", provider: emulator}\n'
        f'storage: {{ledger: "sqlite:///{workdir}/ledger.db"}}\n'
        f"data_dir: {workdir}/data\n"
        "batch: {poll_interval: 2}\n")
    port = free_port()
    argv = [str(tokenthrift_executable()), "serve", "--config", str(config), "--host", HOST,
            "--port", str(port)]
    process, log = _spawn("gateway", argv, workdir, child_env())
    service = Service("gateway", process, port, log)
    wait_ready(service, "/health", 60.0)
    return service


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--time-scale", type=float, default=3600.0,
                        help="simulated seconds per second (emulator Batch APIs)")
    parser.add_argument("--rate", type=float, default=100.0,
                        help="requests a batch processes per simulated second")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        source, out = workdir / "in.jsonl", workdir / "out.jsonl"
        write_input(source, args.requests)
        gateway = start_gateway(workdir, args.time_scale, args.rate)
        peak = [0]
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                peak[0] = max(peak[0], rss_kb(process_tree(gateway.pid)))
                time.sleep(0.1)

        idle_kb = rss_kb(process_tree(gateway.pid))
        cpu_before = cpu_seconds(gateway.pid)
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        started = time.perf_counter()
        run = subprocess.run(
            [str(tokenthrift_executable()), "batch", "run", str(source), "--out", str(out),
             "--model", "gpt-4o-mini", "--base-url", gateway.base_url, "--api-key", "bench",
             "--poll-interval", "1", "--quiet"],
            capture_output=True, text=True, env=child_env({"TOKENTHRIFT_TEAM": "bench"}))
        wall = time.perf_counter() - started
        # the worker settles within its poll interval if the client's last look did not
        deadline = time.time() + 30
        rows = 0
        while time.time() < deadline:
            with sqlite3.connect(workdir / "ledger.db") as db:
                rows = db.execute("SELECT count(*) FROM ledger WHERE batch = 1").fetchone()[0]
            if rows >= args.requests:
                break
            time.sleep(0.5)
        stop.set()
        sampler.join()
        cpu = cpu_seconds(gateway.pid) - cpu_before
        gateway.stop()
        if run.returncode != 0:
            sys.exit(f"batch run failed:\n{run.stdout}\n{run.stderr}\n{gateway.log_tail()}")
        lines = out.read_text().splitlines()
        print(json.dumps({
            "requests": args.requests, "results": len(lines),
            "ok": sum(1 for line in lines if json.loads(line)["response"] is not None),
            "wall_s": round(wall, 2), "gateway_cpu_s": round(cpu, 2),
            "gateway_rss_idle_mb": round(idle_kb / 1024, 1),
            "gateway_rss_peak_mb": round(peak[0] / 1024, 1),
            "ledger_batch_rows": rows, "summary": run.stdout.strip().splitlines()[-1],
            "cores": os.cpu_count()}, indent=2))


if __name__ == "__main__":
    main()
