"""What a load run measured: per-request outcomes, latency percentiles, CPU and memory.

``loadgen.py`` records outcomes into a ``Recorder`` while it runs and turns them, with two
``ResourceSnapshot``s taken at the edges of the measured window, into a ``LoadResult``.
"""

from __future__ import annotations

import collections
import os
import time
from dataclasses import dataclass, field

import procstat


class InFlight:
    """One scheduled request."""

    __slots__ = ("measured", "scheduled", "seq")

    def __init__(self, seq: int, scheduled: float, measured: bool) -> None:
        self.seq = seq
        self.scheduled = scheduled
        self.measured = measured


def percentiles(values: list[float]) -> dict[str, float]:
    """Nearest-rank p50/p90/p99/max, in milliseconds."""
    if not values:
        return {"p50": 0.0, "p90": 0.0, "p99": 0.0, "max": 0.0}
    ordered = sorted(values)

    def rank(q: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, int(q * len(ordered) + 0.5) - 1))] * 1000

    return {"p50": rank(0.50), "p90": rank(0.90), "p99": rank(0.99), "max": ordered[-1] * 1000}


class Recorder:
    """Outcomes of the requests scheduled inside the measured window."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.send_lags: list[float] = []
        self.errors: collections.Counter[str] = collections.Counter()
        self.requests = 0
        self.last_completion = 0.0

    def success(self, request: InFlight, now: float) -> None:
        if request.measured:
            self.latencies.append(now - request.scheduled)
            self.last_completion = max(self.last_completion, now)

    def failure(self, request: InFlight, kind: str) -> None:
        if request.measured:
            self.errors[kind] += 1


def rounded(values: dict[str, float]) -> dict[str, float]:
    return {key: round(value, 3) for key, value in values.items()}


@dataclass
class Watched:
    """CPU and memory of one process tree over the measured window."""

    pid: int
    cpu_seconds: float = 0.0
    cpu_ms_per_request: float = 0.0
    rss_peak_kb: int = 0
    hwm_kb: int = 0


@dataclass
class LoadResult:
    rate: float
    duration: float
    requests: int  # scheduled inside the measured window
    scheduled_total: int  # warm-up included
    ok: int
    errors: int
    error_pct: float
    error_kinds: dict[str, int]
    achieved_rps: float
    latency_ms: dict[str, float]  # p50/p90/p99/max of successful requests
    send_lag_ms: dict[str, float]  # how late the client wrote requests (its own health)
    connections_opened: int
    loadgen_cpu_ms_per_request: float
    # Cores used by everything else on the machine during the window: anything much above
    # zero means other work competed for the CPU and the numbers are noisy.
    other_load_cores: float
    watched: dict[str, Watched] = field(default_factory=dict)


@dataclass(frozen=True)
class ResourceSnapshot:
    """CPU seconds used so far by the watched process trees, this process and the machine."""

    watched: dict[str, float]
    own: float
    machine: float
    at: float

    @classmethod
    def take(cls, watch: dict[str, int]) -> ResourceSnapshot:
        times = os.times()
        return cls(
            watched={name: procstat.cpu_seconds(pid) for name, pid in watch.items()},
            own=times.user + times.system,
            machine=procstat.machine_busy_seconds(),
            at=time.perf_counter(),
        )


def other_load(before: ResourceSnapshot, after: ResourceSnapshot) -> float:
    """Cores used by processes that are neither watched nor this one, between snapshots."""
    ours = sum(after.watched.values()) - sum(before.watched.values()) + after.own - before.own
    other = after.machine - before.machine - ours
    return round(max(other, 0.0) / max(after.at - before.at, 1e-9), 3)


@dataclass(frozen=True)
class Window:
    """The measured window of one run and what the load generator knows about it."""

    rate: float
    duration: float
    started: float
    scheduled_total: int
    connections_opened: int
    watch: dict[str, int]
    rss_peak_kb: dict[str, int]


def summarise(
    window: Window, rec: Recorder, before: ResourceSnapshot, after: ResourceSnapshot
) -> LoadResult:
    errors = sum(rec.errors.values())
    per_request = max(rec.requests, 1)
    elapsed = max(window.duration, rec.last_completion - window.started)
    watched = {}
    for name, pid in window.watch.items():
        cpu = after.watched[name] - before.watched[name]
        watched[name] = Watched(
            pid=pid,
            cpu_seconds=round(cpu, 3),
            cpu_ms_per_request=round(cpu * 1000 / per_request, 4),
            rss_peak_kb=window.rss_peak_kb[name],
            hwm_kb=procstat.peak_rss_kb(pid),
        )
    return LoadResult(
        rate=window.rate,
        duration=window.duration,
        requests=rec.requests,
        scheduled_total=window.scheduled_total,
        ok=len(rec.latencies),
        errors=errors,
        error_pct=round(100.0 * errors / per_request, 3),
        error_kinds=dict(rec.errors),
        achieved_rps=round(len(rec.latencies) / elapsed, 2),
        latency_ms=rounded(percentiles(rec.latencies)),
        send_lag_ms=rounded(percentiles(rec.send_lags)),
        connections_opened=window.connections_opened,
        loadgen_cpu_ms_per_request=round((after.own - before.own) * 1000 / per_request, 4),
        other_load_cores=other_load(before, after),
        watched=watched,
    )


def print_human(result: LoadResult) -> None:
    lat = result.latency_ms
    print(
        f"rate {result.rate:g}/s for {result.duration:g}s: {result.requests} requests, "
        f"{result.ok} ok, {result.errors} errors ({result.error_pct}%) {result.error_kinds}"
    )
    print(
        f"achieved {result.achieved_rps}/s; latency ms p50 {lat['p50']} p90 {lat['p90']} "
        f"p99 {lat['p99']} max {lat['max']}; send lag p99 {result.send_lag_ms['p99']} ms"
    )
    print(
        f"connections {result.connections_opened}; "
        f"loadgen CPU {result.loadgen_cpu_ms_per_request} ms/request; "
        f"other load on the machine {result.other_load_cores} cores"
    )
    for name, w in result.watched.items():
        print(
            f"{name} (pid {w.pid}): CPU {w.cpu_ms_per_request} ms/request, "
            f"RSS peak {w.rss_peak_kb / 1024:.1f} MiB (VmHWM {w.hwm_kb / 1024:.1f} MiB)"
        )
