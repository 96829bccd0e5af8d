"""A replay: the trace as asked (no levers) and under a policy, judged with the same keys.

``replay_trace`` runs the baseline and the policy, each through a fresh upstream and a
fresh ``serve`` process, and ``summary`` turns the two runs into the report:

``{"n", "baseline_cost_usd", "cost_usd", "saving_pct", "baseline_quality", "quality",
"quality_retained", "by_lever": {LEVER: {"requests", "saved_usd", "quality_lost"}},
"by_kind": {…}, "p50_overhead_ms"}``

Quality is the share of requests answered right. ``quality_lost`` of a lever is the share
of requests its action made wrong minus those it made right (``judge.blame``), so over
all levers (and ``unattributed``, present only when not zero) it adds up to
``baseline_quality - quality``. ``saved_usd`` is the ledger's saving for the lever, summed.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from ..ledger.record import LEVERS
from .judge import UNATTRIBUTED, blame, correct
from .replay import Answered, Replayer, RunResult, Sent, judge_run
from .runs import configured_levers, gateway_process, load_policy, run_config, upstream_process
from .trace import TraceRequest

Progress = Callable[[str, Sent], None]


@dataclass(slots=True)
class ReplayOptions:
    policy: str | None = None
    speed: float = 0.0  # 0: as fast as the gateway answers
    workdir: str | None = None  # where ledgers and logs go (default: a temporary folder)


def run_once(trace: list[TraceRequest], policy: Mapping[str, Any], workdir: Path, *,
             levers_on: bool, speed: float, on_sent: Callable[[Sent], None] | None = None
             ) -> RunResult:
    workdir.mkdir(parents=True, exist_ok=True)
    with upstream_process(workdir) as upstream:
        config = run_config(policy, upstream.url, workdir, levers_on=levers_on)
        levers = configured_levers(config)
        started = time.monotonic()
        with gateway_process(config, workdir) as gateway:
            replayer = Replayer(gateway.url, upstream.url, speed=speed,
                                defer="batch" in levers, on_sent=on_sent)
            try:
                sent = replayer.run(trace)
            finally:
                replayer.close()
        wall_s = time.monotonic() - started
    result = judge_run(sent, replayer.records, workdir / "ledger.db", levers)
    result.wall_s = wall_s
    return result


def replay_trace(trace: list[TraceRequest], options: ReplayOptions,
                 progress: Progress | None = None) -> tuple[RunResult, RunResult]:
    """(baseline, policy) runs of ``trace``."""
    policy = load_policy(options.policy)
    with tempfile.TemporaryDirectory(prefix="tokenthrift-bench-") as scratch:
        root = Path(options.workdir or scratch)

        def tell(run: str) -> Callable[[Sent], None] | None:
            return None if progress is None else (lambda sent: progress(run, sent))

        baseline = run_once(trace, policy, root / "baseline", levers_on=False,
                            speed=options.speed, on_sent=tell("baseline"))
        run = run_once(trace, policy, root / "policy", levers_on=True, speed=options.speed,
                       on_sent=tell("policy"))
    return baseline, run


# --- the report ---------------------------------------------------------------------------


def _usd(value: Decimal) -> float:
    return round(float(value), 10)


def _share(part: float, whole: float) -> float | None:
    return round(part / whole, 6) if whole else None


def _lever_order(name: str) -> tuple[int, str]:
    """Pipeline order, then other levers by name, ``unattributed`` last."""
    order: dict[str, int] = {lever: i for i, lever in enumerate(LEVERS)}
    return (order.get(name, len(order) + (name == UNATTRIBUTED)), name)


def summary(baseline: RunResult, run: RunResult) -> dict[str, Any]:
    if [a.request.id for a in baseline.answered] != [a.request.id for a in run.answered]:
        raise ValueError("the baseline and the policy run replayed different traces")
    n = len(run.answered)
    pairs = list(zip(baseline.answered, run.answered, strict=True))
    right_before = [correct(b.request, b.served) for b, _ in pairs]
    right_after = [correct(a.request, a.served) for _, a in pairs]
    base_cost = sum((b.cost_usd for b, _ in pairs), Decimal(0))
    cost = sum((a.cost_usd for _, a in pairs), Decimal(0))
    base_quality = sum(right_before) / n if n else 0.0
    quality = sum(right_after) / n if n else 0.0
    overheads = [a.row.overhead_ms for a in run.answered if a.row is not None]
    return {
        "n": n,
        "baseline_cost_usd": _usd(base_cost),
        "cost_usd": _usd(cost),
        "saving_pct": round(float((base_cost - cost) / base_cost) * 100, 2) if base_cost else 0.0,
        "baseline_quality": round(base_quality, 6),
        "quality": round(quality, 6),
        "quality_retained": _share(quality, base_quality),
        "by_lever": by_lever(pairs, right_before, right_after),
        "by_kind": by_kind(pairs, right_before, right_after),
        "p50_overhead_ms": round(statistics.median(overheads), 3) if overheads else None,
    }


def by_lever(pairs: list[tuple[Answered, Answered]], before: list[bool], after: list[bool]
             ) -> dict[str, dict[str, Any]]:
    n = len(pairs)
    requests: dict[str, set[str]] = defaultdict(set)
    saved: dict[str, Decimal] = defaultdict(Decimal)
    lost: dict[str, int] = defaultdict(int)
    for (base, now), was_right, is_right in zip(pairs, before, after, strict=True):
        for lever, amount in now.savings.items():
            saved[lever] += amount
            if amount:
                requests[lever].add(now.request.id)
        if was_right != is_right:
            lever = blame(now.request, now.served, base.served)
            lost[lever] += 1 if was_right else -1
            requests[lever].add(now.request.id)
    names = sorted(set(saved) | set(lost), key=_lever_order)
    return {
        name: {"requests": len(requests[name]), "saved_usd": _usd(saved[name]),
               "quality_lost": round(lost[name] / n, 6) if n else 0.0}
        for name in names
        if name != UNATTRIBUTED or lost[name]
    }


def by_kind(pairs: list[tuple[Answered, Answered]], before: list[bool], after: list[bool]
            ) -> dict[str, dict[str, Any]]:
    groups: dict[str, list[int]] = defaultdict(list)
    for i, (_, now) in enumerate(pairs):
        groups[now.request.kind].append(i)
    out = {}
    for kind in sorted(groups):
        idx = groups[kind]
        base_q = sum(before[i] for i in idx) / len(idx)
        q = sum(after[i] for i in idx) / len(idx)
        base_cost = sum((pairs[i][0].cost_usd for i in idx), Decimal(0))
        cost = sum((pairs[i][1].cost_usd for i in idx), Decimal(0))
        out[kind] = {
            "requests": len(idx),
            "baseline_cost_usd": _usd(base_cost),
            "cost_usd": _usd(cost),
            "saving_pct": round(float((base_cost - cost) / base_cost) * 100, 2) if base_cost
            else 0.0,
            "baseline_quality": round(base_q, 6),
            "quality": round(q, 6),
            "quality_retained": _share(q, base_q),
        }
    return out
