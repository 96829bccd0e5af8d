"""``tokenthrift bench``: savings at quality — replay a trace with answer keys, build traces."""

from __future__ import annotations

import json
from typing import Any

import click
from rich import box
from rich.console import Console
from rich.table import Table


@click.group("bench")
def bench_group() -> None:
    """Measure what each lever saves and what it costs in answer quality."""


@bench_group.command("replay")
@click.argument("trace", type=click.Path(exists=True, dir_okay=False))
@click.option("--config", "policy", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Policy file: the lever sections to run (levers it does not configure are "
                   "off). Default: no levers.")
@click.option("--speed", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="Send at at_s / SPEED seconds of wall time (0: as fast as answered).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
def replay(trace: str, policy: str | None, speed: float, fmt: str) -> None:
    """Replay TRACE (JSON Lines) through a real gateway with the emulator upstream, as asked
    and under a policy, and print the cost cut and the quality kept, per lever."""
    from ..bench.compare import ReplayOptions, replay_trace, summary
    from ..bench.trace import TraceError, read_trace
    from ..config import ConfigError

    try:
        requests = read_trace(trace)
        console = Console(stderr=True)
        with _progress(console, len(requests)) as progress:
            baseline, run = replay_trace(requests, ReplayOptions(policy, speed), progress)
    except (TraceError, ConfigError, RuntimeError) as exc:
        raise click.ClickException(str(exc)) from None
    result = summary(baseline, run)
    if fmt == "json":
        click.echo(json.dumps(result, indent=2))
    else:
        print_report(result, Console(highlight=False))


@bench_group.command("make-trace")
@click.option("--data", "data_dir", type=click.Path(file_okay=False), default="../shared/data",
              show_default=True, help="The labelled data folder (semcache/, routing/, compression/).")
@click.option("--out", "out", type=click.Path(dir_okay=False), required=True,
              help="Trace file to write (.jsonl or .jsonl.gz).")
@click.option("--requests", "-n", type=click.IntRange(1, 1_000_000), default=5000,
              show_default=True)
@click.option("--seed", type=int, default=11, show_default=True)
@click.option("--mix", "mix", multiple=True, metavar="NAME=VALUE",
              help="Override a proportion, e.g. --mix exact_repeat=0.2 (see docs/replay.md).")
@click.option("--sources", type=click.Choice(["open", "all"]), default="open", show_default=True,
              help="open: only sources whose terms allow shipping derived prompts "
                   "(RouteLLM MMLU, NQ/Wikipedia); all: also QQP pairs (evaluation only).")
def make_trace(data_dir: str, out: str, requests: int, seed: int, mix: tuple[str, ...],
               sources: str) -> None:
    """Build a trace from the labelled files in the shared data folder."""
    from ..bench.make_trace import Mix, TraceSpec, build_trace
    from ..bench.trace import write_trace

    try:
        spec = TraceSpec(requests=requests, seed=seed, mix=Mix.parse(mix),
                         qqp=sources == "all")
        trace, facts = build_trace(data_dir, spec)
    except (OSError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    written = write_trace(out, trace)
    click.echo(json.dumps({"out": out, "requests": written, **facts}, indent=2))


def run_demo_replay(requests: int, fmt: str) -> None:
    """``tokenthrift demo --replay``: the dev trace's first ``requests`` requests."""
    from ..bench.demo import demo_replay
    from ..bench.trace import TraceError
    from ..config import ConfigError

    try:
        with _progress(Console(stderr=True), requests) as progress:
            result = demo_replay(requests, progress)
    except (TraceError, ConfigError, RuntimeError) as exc:
        raise click.ClickException(f"the replay could not run: {exc}") from None
    if fmt == "json":
        click.echo(json.dumps(result, indent=2))
    else:
        print_report(result, Console(highlight=False))


class _progress:
    def __init__(self, console: Console, total: int) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self.total = total
        self.bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                            MofNCompleteColumn(), console=console, transient=True)
        self.tasks: dict[str, Any] = {}

    def __enter__(self) -> Any:
        self.bar.__enter__()

        def advance(run: str, _sent: Any) -> None:
            if run not in self.tasks:
                self.tasks[run] = self.bar.add_task(f"{run} run", total=self.total)
            self.bar.update(self.tasks[run], advance=1)

        return advance

    def __exit__(self, *exc: Any) -> None:
        self.bar.__exit__(*exc)


def print_report(result: dict[str, Any], console: Console) -> None:
    """The replay summary as tables (the same numbers as ``--format json``)."""
    retained = result["quality_retained"]
    console.print(
        f"[bold]{result['n']} requests[/]: cost ${result['cost_usd']:,.6f} vs "
        f"${result['baseline_cost_usd']:,.6f} as asked ([bold]{result['saving_pct']:.1f}% "
        f"saved[/]); quality {result['quality']:.2%} vs {result['baseline_quality']:.2%} "
        f"([bold]{'n/a' if retained is None else f'{retained:.2%}'} retained[/]); "
        f"p50 gateway overhead {result['p50_overhead_ms']} ms")
    levers = Table(title="By lever", title_justify="left", box=box.SIMPLE_HEAD)
    for column in ("lever", "requests", "saved USD", "quality lost"):
        levers.add_column(column, justify="left" if column == "lever" else "right",
                          no_wrap=column == "lever")
    for name, row in result["by_lever"].items():
        levers.add_row(name, f"{row['requests']:,}", f"{row['saved_usd']:,.6f}",
                       f"{row['quality_lost']:.2%}")
    console.print(levers)
    kinds = Table(title="By answer key", title_justify="left", box=box.SIMPLE_HEAD)
    for column in ("key", "requests", "baseline USD", "USD", "saved", "quality as asked",
                   "quality"):
        kinds.add_column(column, justify="left" if column == "key" else "right",
                         no_wrap=column == "key")
    for name, row in result["by_kind"].items():
        kinds.add_row(name, f"{row['requests']:,}", f"{row['baseline_cost_usd']:,.6f}",
                      f"{row['cost_usd']:,.6f}", f"{row['saving_pct']:.1f}%",
                      f"{row['baseline_quality']:.2%}", f"{row['quality']:.2%}")
    console.print(kinds)
