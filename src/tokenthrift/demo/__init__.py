"""The built-in demo: a seeded multi-team workload replayed through the in-process gateway
(``workload``), and the runner that serves it, replays it and reads the ledger back
(``runner``). ``tokenthrift demo`` is its command line."""

from .runner import DemoOptions, DemoResult, run_demo
from .workload import DemoRequest, build_workload

__all__ = ["DemoOptions", "DemoRequest", "DemoResult", "build_workload", "run_demo"]
