"""``tokenthrift demo --replay``: a short replay of the shipped dev trace under the
recommended policy, as ``tokenthrift bench replay`` prints it."""

from __future__ import annotations

from pathlib import Path

from .compare import Progress, ReplayOptions, replay_trace, summary
from .trace import TraceError, read_trace

TRACE = Path("benchmarks/data/dev_trace.jsonl.gz")
POLICY = Path("examples/policies/recommended.yaml")


def locate(relative: Path) -> Path:
    """``relative`` in the working directory, else in the source checkout of this package."""
    for root in (Path.cwd(), Path(__file__).resolve().parents[3]):
        if (root / relative).exists():
            return root / relative
    raise TraceError(f"{relative} not found (run from a tokenthrift checkout, or replay your "
                     f"own trace with `tokenthrift bench replay TRACE --config POLICY`)")


def demo_replay(requests: int, progress: Progress | None = None) -> dict[str, object]:
    """The summary of the first ``requests`` requests of the dev trace."""
    trace = read_trace(locate(TRACE))[:requests]
    baseline, run = replay_trace(trace, ReplayOptions(policy=str(locate(POLICY))), progress)
    return summary(baseline, run)
