"""Gateway overhead: the latency and CPU a gateway adds over calling the upstream directly.

One run starts the fast upstream (``fast_upstream.py``), then for each target drives an
open-loop, fixed-rate load (``loadgen.py``) at increasing rates:

* ``direct``: load generator -> upstream (the baseline),
* ``tokenthrift``: load generator -> ``tokenthrift serve`` (SQLite ledger + cost
  accounting on) -> upstream,
* ``litellm``: load generator -> LiteLLM proxy (no database, offline cost map) -> upstream.

A gateway's sweep stops at the first rate with more than 1% errors or an achieved rate
under 97% of the target; the highest rate before that is its max throughput. "Added
latency" is the gateway's percentile minus the direct percentile at the same rate. CPU
per request is the gateway's process-tree utime+stime over the measured window divided by
the requests in it. Results: a markdown table on stdout and JSON in benchmarks/results/.

Run: ``.venv/bin/python benchmarks/gateway_overhead.py`` (``--help`` for rates,
durations, targets; ``--workers 2`` to run ``tokenthrift serve --workers 2``; ``--profile``
to see where tokenthrift spends its time at 200 RPS).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import procstat
import pyspy_top
import services
from services import Service

RESULTS_DIR = services.BENCH_DIR / "results"
DEFAULT_RATES = (50, 100, 200, 400, 800, 1200, 1600, 2400, 3200, 4000, 4800)
SUMMARY_RATES = (100.0, 200.0)
GATEWAYS: dict[str, Callable[[Service, Path], Service]] = {
    "tokenthrift": services.start_tokenthrift,
    "litellm": services.start_litellm,
}


@dataclass(frozen=True)
class Settings:
    rates: tuple[float, ...] = DEFAULT_RATES
    duration: float = 10.0
    warmup: float = 3.0
    timeout: float = 10.0
    max_connections: int = 512
    max_error_pct: float = 1.0
    min_achieved: float = 0.97
    pause: float = 1.0
    refine_steps: int = 2
    quiet_cores: float = 0.15  # machine-wide CPU use that counts as "quiet" before a run
    quiet_wait: float = 120.0  # seconds to wait for that before measuring anyway
    noisy_cores: float = 0.25  # other processes' CPU during a run that makes it "noisy"
    noisy_retries: int = 2
    workers: int = 1  # tokenthrift serve --workers


@dataclass
class TargetRun:
    name: str
    version: str = ""
    runs: list[dict] = field(default_factory=list)
    failure: str = ""
    ledger_rows: int | None = None
    # Every request sent: warm-ups, repeated noisy attempts and the gateway's smoke test.
    requests_sent: int = 0

    @property
    def max_throughput(self) -> float | None:
        passed = [run["rate"] for run in self.runs if run["passed"]]
        return max(passed) if passed else None

    @property
    def saturated(self) -> bool:
        """Whether the sweep found the limit (else max throughput is a lower bound)."""
        return any(not run["passed"] for run in self.runs)


# -- measuring ---------------------------------------------------------------------------


def loadgen_argv(target: Service, rate: float, settings: Settings) -> list[str]:
    argv = [sys.executable, str(services.BENCH_DIR / "loadgen.py")]
    argv += ["--url", f"{target.base_url}/v1/chat/completions", "--rate", str(rate)]
    argv += ["--duration", str(settings.duration), "--warmup", str(settings.warmup)]
    argv += ["--timeout", str(settings.timeout), "--api-key", target.api_key]
    argv += ["--max-connections", str(settings.max_connections)]
    return argv


def measure(target: Service, rate: float, settings: Settings, watch: dict[str, int]) -> dict:
    """One loadgen run against ``target`` at ``rate``; the loadgen's JSON result."""
    argv = [*loadgen_argv(target, rate, settings), "--json"]
    for name, pid in watch.items():
        argv += ["--watch", f"{name}={pid}"]
    limit = settings.warmup + settings.duration + settings.timeout + 60
    done = subprocess.run(argv, capture_output=True, timeout=limit, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"loadgen failed: {done.stderr.decode(errors='replace')[-2000:]}")
    return json.loads(done.stdout)


def passed(result: dict, settings: Settings) -> bool:
    return (
        result["error_pct"] <= settings.max_error_pct
        and result["achieved_rps"] >= settings.min_achieved * result["rate"]
    )


def sweep(run: TargetRun, target: Service, upstream: Service, settings: Settings) -> None:
    """Measure ``target`` at each rate until it fails one, then narrow the limit down."""
    watch = {"upstream": upstream.pid}
    if target is not upstream:
        watch["gateway"] = target.pid
    last_passed = 0.0
    for rate in settings.rates:
        if not measure_rate(run, target, rate, settings, watch):
            refine(run, target, last_passed, rate, settings, watch)
            return
        last_passed = rate


def refine(
    run: TargetRun,
    target: Service,
    low: float,
    high: float,
    settings: Settings,
    watch: dict[str, int],
) -> None:
    """Bisect between the last passing rate and the first failing one."""
    for _ in range(settings.refine_steps):
        middle = float(round((low + high) / 2))
        if not low < middle < high:
            return
        if measure_rate(run, target, middle, settings, watch):
            low = middle
        else:
            high = middle


def measure_rate(
    run: TargetRun, target: Service, rate: float, settings: Settings, watch: dict[str, int]
) -> bool:
    """Measure one rate, record it, and let the target settle; whether it passed.

    Other work on the machine competes with the gateway for its 2 cores, so each run
    waits (bounded) for a quiet machine, and a run during which other processes used more
    than ``settings.noisy_cores`` is repeated (bounded); the quietest attempt is kept.
    """
    attempts = []
    for _ in range(settings.noisy_retries + 1):
        # A saturated gateway may still be working through requests the client gave up on.
        wait_idle(target.pid, timeout=60.0)
        wait_quiet(settings)
        attempts.append(measure(target, rate, settings, watch))
        run.requests_sent += attempts[-1]["scheduled_total"]
        if attempts[-1]["other_load_cores"] <= settings.noisy_cores:
            break
        print(f"  (other load {attempts[-1]['other_load_cores']:.2f} cores: repeating)")
    result = min(attempts, key=lambda attempt: attempt["other_load_cores"])
    result["passed"] = passed(result, settings)
    run.runs.append(result)
    print(_progress_line(run.name, result), flush=True)
    time.sleep(settings.pause)
    return bool(result["passed"])


def wait_quiet(settings: Settings) -> None:
    """Wait (bounded) until the machine as a whole is nearly idle before a measurement."""
    deadline = time.monotonic() + settings.quiet_wait
    cores = procstat.busy_cores(0.5)
    if cores <= settings.quiet_cores:
        return
    print(f"  (machine busy: {cores:.2f} cores in use; waiting up to {settings.quiet_wait:g}s)")
    while time.monotonic() < deadline:
        cores = procstat.busy_cores(1.0)
        if cores <= settings.quiet_cores:
            return
    print(f"  (still {cores:.2f} cores in use by other processes; measuring anyway)")


def wait_idle(pid: int, timeout: float, busy_fraction: float = 0.05) -> None:
    """Wait (bounded) until ``pid``'s tree uses under ``busy_fraction`` of a core."""
    deadline = time.monotonic() + timeout
    before = procstat.cpu_seconds(pid)
    while time.monotonic() < deadline:
        time.sleep(0.5)
        after = procstat.cpu_seconds(pid)
        if after - before < busy_fraction * 0.5:
            return
        before = after


def _progress_line(name: str, result: dict) -> str:
    lat = result["latency_ms"]
    cpu = result["watched"].get("gateway", result["watched"]["upstream"])["cpu_ms_per_request"]
    verdict = "ok" if result["passed"] else "FAILED"
    return (
        f"  {name:<12} {result['rate']:>6g} RPS: achieved {result['achieved_rps']:>8.1f}, "
        f"errors {result['error_pct']:>5.1f}%, p50 {lat['p50']:>8.2f} ms, "
        f"p99 {lat['p99']:>8.2f} ms, CPU {cpu:.3f} ms/req, "
        f"other load {result['other_load_cores']:.2f} [{verdict}]"
    )


@contextmanager
def running(start: Callable[[], Service]) -> Iterator[Service]:
    service = start()
    try:
        yield service
    finally:
        service.stop()


def fill_direct(runs: list[TargetRun], upstream: Service, settings: Settings) -> None:
    """Measure the baseline at rates only a gateway's bisection tried, for added latency."""
    direct = next(run for run in runs if run.name == "direct")
    have = {r["rate"] for r in direct.runs}
    wanted = sorted({r["rate"] for run in runs for r in run.runs} - have)
    if wanted:
        print("== direct (rates the bisection added)", flush=True)
    for rate in wanted:
        measure_rate(direct, upstream, rate, settings, {"upstream": upstream.pid})


def run_target(name: str, upstream: Service, workdir: Path, settings: Settings) -> TargetRun:
    print(f"== {name}", flush=True)
    if name == "direct":
        run = TargetRun("direct", "fast_upstream")
        sweep(run, upstream, upstream, settings)
        return run
    run = TargetRun(name)
    start = GATEWAYS[name]
    if name == "tokenthrift":
        start = functools.partial(services.start_tokenthrift, workers=settings.workers)
    try:
        with running(lambda: start(upstream, workdir)) as gateway:
            run.version = gateway.version
            if name == "tokenthrift" and settings.workers > 1:
                run.version += f" --workers {settings.workers}"
            run.requests_sent += 1  # the smoke test
            sweep(run, gateway, upstream, settings)
    except services.ServiceError as error:
        run.failure = str(error)
        print(f"  {name} could not be measured: {error}", flush=True)
    if name == "tokenthrift":
        run.ledger_rows = services.ledger_rows(workdir)
    return run


# -- reporting ---------------------------------------------------------------------------


def machine() -> dict[str, str]:
    cpu_model = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu_model = line.split(":", 1)[1].strip()
            break
    return {
        "cpus": str(os.cpu_count()),
        "cpu_model": cpu_model,
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _added(run: dict, direct: dict[float, dict], key: str) -> float | None:
    base = direct.get(run["rate"])
    return None if base is None else run["latency_ms"][key] - base["latency_ms"][key]


def direct_table(run: TargetRun) -> list[str]:
    lines = [
        "| rate (RPS) | achieved | errors | p50 ms | p90 ms | p99 ms | max ms "
        "| upstream CPU µs/req | loadgen CPU µs/req | loadgen send lag p99 ms | other load |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in sorted(run.runs, key=lambda r: r["rate"]):
        lat = r["latency_ms"]
        upstream_us = r["watched"]["upstream"]["cpu_ms_per_request"] * 1000
        lines.append(
            f"| {r['rate']:g} | {r['achieved_rps']:.1f} | {r['error_pct']:.1f}% "
            f"| {lat['p50']:.2f} | {lat['p90']:.2f} | {lat['p99']:.2f} | {lat['max']:.2f} "
            f"| {upstream_us:.0f} | {r['loadgen_cpu_ms_per_request'] * 1000:.0f} "
            f"| {r['send_lag_ms']['p99']:.2f} | {r['other_load_cores']:.2f} |"
        )
    return lines


def gateway_table(run: TargetRun, direct: dict[float, dict]) -> list[str]:
    lines = [
        "| rate (RPS) | achieved | errors | p50 ms | p99 ms | added p50 ms | added p99 ms "
        "| gateway CPU ms/req | gateway RSS peak MiB | other load |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in sorted(run.runs, key=lambda r: r["rate"]):
        gateway = r["watched"]["gateway"]
        mark = "" if r["passed"] else " ✗"
        lines.append(
            f"| {r['rate']:g}{mark} | {r['achieved_rps']:.1f} | {r['error_pct']:.1f}% "
            f"| {r['latency_ms']['p50']:.2f} | {r['latency_ms']['p99']:.2f} "
            f"| {_ms(_added(r, direct, 'p50'))} | {_ms(_added(r, direct, 'p99'))} "
            f"| {gateway['cpu_ms_per_request']:.2f} | {gateway['rss_peak_kb'] / 1024:.0f} "
            f"| {r['other_load_cores']:.2f} |"
        )
    return lines


def summary_table(
    runs: list[TargetRun], direct: dict[float, dict], rates: list[float]
) -> list[str]:
    lines = [
        "| gateway | at RPS | added p50 ms | added p99 ms | CPU ms/req | RSS peak MiB "
        "| max throughput (RPS) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for run in runs:
        best = run.max_throughput
        best_text = "none" if best is None else f"{'' if run.saturated else '≥ '}{best:g}"
        label = f"{run.name} {run.version}".strip()
        for rate in rates:
            at_rate = next((r for r in run.runs if r["rate"] == rate), None)
            cells = ["-"] * 4
            if at_rate is not None:
                gateway = at_rate["watched"]["gateway"]
                failed = "" if at_rate["passed"] else " ✗"
                cells = [
                    *(_ms(_added(at_rate, direct, key)) for key in ("p50", "p99")),
                    f"{gateway['cpu_ms_per_request']:.2f}{failed}",
                    f"{gateway['rss_peak_kb'] / 1024:.0f}",
                ]
            lines.append(f"| {label} | {rate:g} | {' | '.join(cells)} | {best_text} |")
    return lines


def report(runs: list[TargetRun], settings: Settings) -> str:
    direct_run = next(run for run in runs if run.name == "direct")
    direct = {r["rate"]: r for r in direct_run.runs}
    gateways = [run for run in runs if run.name != "direct" and not run.failure]
    parts = [
        f"Each rate: {settings.warmup:g}s warm-up, then {settings.duration:g}s measured. "
        "'other load' is the CPU (in cores) used by processes outside the benchmark during "
        "the measured window; much above 0 means the numbers are noisy."
    ]
    if gateways:
        at = [rate for rate in SUMMARY_RATES if rate in direct]
        parts += ["", "Summary (✗: failed at that rate):", "", *summary_table(gateways, direct, at)]
    parts += ["", "direct (load generator -> upstream):", "", *direct_table(direct_run)]
    for run in gateways:
        parts += ["", f"{run.name} {run.version}:", "", *gateway_table(run, direct)]
    for run in gateways:
        if run.ledger_rows is not None:
            parts += [
                "",
                f"{run.name} ledger: {run.ledger_rows} rows for {run.requests_sent} requests "
                "sent (warm-up and smoke test included; requests the client timed out may be missing).",
            ]
    for run in runs:
        if run.failure:
            parts += ["", f"{run.name}: not measured ({run.failure.splitlines()[0]})"]
    return "\n".join(parts)


def save(runs: list[TargetRun], settings: Settings, markdown: str) -> Path:
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"gateway_overhead-{time.strftime('%Y%m%d-%H%M%S')}.json"
    payload = {
        "machine": machine(),
        "settings": asdict(settings),
        "targets": [asdict(run) | {"max_throughput": run.max_throughput} for run in runs],
        "markdown": markdown,
    }
    path.write_text(json.dumps(payload, indent=2))
    return path


# -- profiling ---------------------------------------------------------------------------


def profile(upstream: Service, workdir: Path, settings: Settings, rate: float) -> str:
    """Sample tokenthrift with py-spy while it serves ``rate`` RPS; top functions."""
    py_spy = Path(sys.executable).parent / "py-spy"
    if not py_spy.exists():
        raise SystemExit(f"{py_spy} missing: {sys.executable} -m pip install py-spy")
    output = workdir / "profile.txt"
    with running(lambda: services.start_tokenthrift(upstream, workdir)) as gateway:
        load = subprocess.Popen(loadgen_argv(gateway, rate, settings))
        time.sleep(settings.warmup + 0.1)
        record = [str(py_spy), "record", "--pid", str(gateway.pid), "--format", "raw"]
        record += ["--output", str(output), "--duration", str(int(settings.duration))]
        record += ["--rate", "250", "--subprocesses", "--threads", "--full-filenames"]
        record += ["--nonblocking"]  # never pause the gateway; --native would need pauses
        subprocess.run(record, check=True, timeout=settings.duration + 60)
        load.wait(timeout=settings.timeout + 60)
    RESULTS_DIR.mkdir(exist_ok=True)
    kept = RESULTS_DIR / f"gateway_profile-{time.strftime('%Y%m%d-%H%M%S')}.txt"
    kept.write_text(output.read_text())
    with output.open() as lines:
        summary = pyspy_top.render(pyspy_top.parse(lines), top=25)
    return f"{summary}\n\nraw py-spy samples: {kept}"


# -- command line ------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rates", default=",".join(f"{r:g}" for r in DEFAULT_RATES), help="comma-separated RPS"
    )
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds/rate")
    parser.add_argument("--warmup", type=float, default=3.0, help="unmeasured seconds/rate")
    parser.add_argument("--timeout", type=float, default=10.0, help="per request, seconds")
    parser.add_argument(
        "--refine", type=int, default=2, help="bisection steps after the first failing rate"
    )
    parser.add_argument(
        "--targets", default="tokenthrift,litellm", help="gateways to measure (direct always)"
    )
    parser.add_argument(
        "--quiet-wait", type=float, default=120.0, help="max seconds to wait for an idle machine"
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="tokenthrift serve --workers (processes)"
    )
    parser.add_argument("--profile", action="store_true", help="py-spy tokenthrift instead")
    parser.add_argument("--profile-rate", type=float, default=200.0)
    return parser.parse_args(argv)


def stop_cleanly_on_signals() -> None:
    """Turn SIGTERM (and SIGINT, which background jobs inherit as ignored) into exceptions,
    so the ``finally`` blocks stop every service this run started."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    stop_cleanly_on_signals()
    settings = Settings(
        rates=tuple(float(r) for r in args.rates.split(",")),
        duration=args.duration,
        warmup=args.warmup,
        timeout=args.timeout,
        refine_steps=args.refine,
        quiet_wait=args.quiet_wait,
        workers=args.workers,
    )
    targets = [t for t in args.targets.split(",") if t]
    unknown = set(targets) - set(GATEWAYS)
    if unknown:
        raise SystemExit(f"unknown targets {sorted(unknown)}; choose from {sorted(GATEWAYS)}")
    print(f"machine: {machine()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="tokenthrift-bench-") as tmp:
        workdir = Path(tmp)
        with running(lambda: services.start_upstream(workdir)) as upstream:
            if args.profile:
                print(profile(upstream, workdir, settings, args.profile_rate))
                return 0
            runs = [run_target(name, upstream, workdir, settings) for name in ["direct", *targets]]
            fill_direct(runs, upstream, settings)
    markdown = report(runs, settings)
    print()
    print(markdown)
    print(f"\nJSON: {save(runs, settings, markdown)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
