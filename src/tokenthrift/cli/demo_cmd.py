"""``tokenthrift demo``: replay a built-in workload through the gateway, show the bill.

No API keys and no network: the gateway runs in-process on its embedded default (the
built-in emulator serves every model, the ledger is SQLite under ``--data-dir``).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import click
from rich import box
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from ..config import DEFAULT_DATA_DIR
from ..demo.runner import (
    DEFAULT_CONCURRENCY,
    DEFAULT_REQUESTS,
    DEFAULT_SEED,
    Agreement,
    DemoOptions,
    DemoResult,
    Outcome,
    run_demo,
)
from ..ledger import LedgerError
from ..ledger.reports import Report
from .dashboard_cmd import dashboard_command_line, dashboard_url

# Token columns: uncached input, input read from the provider's prompt cache, output.
_SPEND_COLUMNS = (
    ("requests", "reqs"),
    ("input_tokens", "input"),
    ("cache_read_tokens", "cached"),
    ("output_tokens", "output"),
    ("cost_usd", "cost"),
    ("baseline_cost_usd", "baseline"),
    ("saved_usd", "saved"),
)


@click.command()
@click.option(
    "--requests",
    "-n",
    "requests",
    type=click.IntRange(1, 100_000),
    default=DEFAULT_REQUESTS,
    show_default=True,
    help="How many requests to replay.",
)
@click.option(
    "--concurrency",
    "-c",
    type=click.IntRange(1, 512),
    default=DEFAULT_CONCURRENCY,
    show_default=True,
    help="Requests in flight at once.",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False),
    default=DEFAULT_DATA_DIR,
    show_default=True,
    help="Where the SQLite ledger lives (<data-dir>/ledger.db).",
)
@click.option(
    "--seed",
    type=int,
    default=DEFAULT_SEED,
    show_default=True,
    help="Seed of the workload; the same seed replays the same requests.",
)
@click.option("--fresh", is_flag=True, help="Delete the previous ledger first.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="How to print the final summary.",
)
@click.option("--replay", is_flag=True,
              help="Instead: replay the first REQUESTS requests of the dev trace with answer "
                   "keys, as asked and under the recommended policy (tokenthrift bench replay).")
def demo(requests: int, concurrency: int, data_dir: str, seed: int, fresh: bool, fmt: str,
         replay: bool) -> None:
    """Replay a realistic multi-team workload through the gateway and show what it cost.

    Runs on any machine with no API keys: the built-in emulator plays OpenAI and
    Anthropic. Every number shown is read back from the ledger.
    """
    if replay:
        from .bench_cmd import run_demo_replay

        return run_demo_replay(requests, fmt)
    options = DemoOptions(
        requests=requests, concurrency=concurrency, data_dir=data_dir, seed=seed, fresh=fresh
    )
    # With --format json stdout carries only the JSON; the progress bar goes to stderr.
    console = Console(stderr=fmt == "json")
    try:
        with _progress(console, requests) as advance:
            result = run_demo(options, on_result=advance)
    except (OSError, RuntimeError, LedgerError) as exc:
        # e.g. an unwritable --data-dir, or a ledger file that is not SQLite
        raise click.ClickException(f"the demo could not run: {exc}") from None
    if fmt == "json":
        click.echo(exact_json(summary(result)))
    else:
        print_summary(result, Console(highlight=False))
    if not result.ok:
        raise SystemExit(1)


@contextmanager
def _progress(console: Console, total: int) -> Iterator[Callable[[Outcome], None]]:
    columns = (
        SpinnerColumn(),
        TextColumn("[bold]replaying workload"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("[red]{task.fields[failed]} failed"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("replay", total=total, failed=0)
        failed = 0

        def advance(outcome: Outcome) -> None:
            nonlocal failed
            failed += not outcome.ok
            progress.update(task, advance=1, failed=failed)

        yield advance


# --- the summary ---------------------------------------------------------------------


def traffic(result: DemoResult) -> dict[str, Any]:
    requests = [o.request for o in result.outcomes]
    wires = Counter(r.wire for r in requests)
    kinds = Counter(r.kind for r in requests)
    crossed = sum(1 for r in requests if (r.wire == "anthropic") != r.model.startswith("claude"))
    return {
        "requests": len(requests),
        "failed": len(result.failures),
        "wall_s": round(result.wall_s, 2),
        "requests_per_s": round(len(requests) / result.wall_s, 1) if result.wall_s else None,
        "openai_format": wires["openai"],
        "anthropic_format": wires["anthropic"],
        "cross_provider": crossed,
        "streamed": sum(1 for r in requests if r.stream),
        "exact_repeats": kinds["repeat"],
        "reworded": kinds["reworded"],
        "long_system_prompt": sum(1 for r in requests if r.long_prompt),
        "teams": len({r.team for r in requests}),
        "customers": len({r.customer for r in requests}),
        "models": len({r.model for r in requests}),
    }


def checks(result: DemoResult) -> dict[str, Any]:
    return {
        "ledger_rows": result.ledger_rows,
        "ledger_rows_ok": result.ledger_rows == len(result.outcomes),
        "headers_vs_ledger": _agreement_json(result.headers),
        "stream_trailers_vs_ledger": _agreement_json(result.trailers),
        "long_prompt_input_tokens": result.long_prompt_input_tokens,
        "long_prompt_cached_tokens": result.long_prompt_cached_tokens,
        "savings_add_up": result.savings_add_up,
        "requests_saved_usd": result.rows_saved_usd,
        "not_lever_savings": {"fallbacks_usd": result.rows_unattributed_usd,
                              "fallback_requests": result.fallbacks,
                              "gateway_spend_usd": result.rows_gateway_usd},
    }


def _agreement_json(agreement: Agreement) -> dict[str, Any]:
    return {
        "responses": agreement.responses,
        "told_usd": agreement.told_usd,
        "ledger_usd": agreement.ledger_usd,
        "missing": agreement.missing,
        "ok": agreement.ok,
    }


def next_commands(options: DemoOptions) -> list[str]:
    ledger = "" if options.data_dir == DEFAULT_DATA_DIR else f" --ledger {options.ledger_path}"
    return [
        f"tokenthrift report spend --by customer{ledger}",
        f"tokenthrift report spend --by team,model{ledger}",
        f"tokenthrift report savings --by lever{ledger}",
        "tokenthrift serve   # then point an OpenAI or Anthropic SDK at it",
    ]


def summary(result: DemoResult) -> dict[str, Any]:
    """The whole run as JSON (``--format json``)."""
    return {
        "traffic": traffic(result),
        "spend_by_team": result.by_team.rows,
        "spend_by_model": result.by_model.rows,
        "savings_by_lever": result.by_lever.rows,
        "total": result.by_team.total,
        "checks": checks(result),
        "failures": [
            {
                "index": o.request.index,
                "model": o.request.model,
                "wire": o.request.wire,
                "error": o.error,
            }
            for o in result.failures
        ],
        "ledger": str(result.options.ledger_path),
        "ledger_total_requests": result.ledger_total_requests,
        "next": next_commands(result.options),
        "dashboard": {"command": dashboard_command_line(result.options.data_dir),
                      "url": dashboard_url()},
        "ok": result.ok,
    }


def print_summary(result: DemoResult, console: Console) -> None:
    console.print(_traffic_grid(traffic(result)))
    console.print()
    console.print(_spend_table("Spend by team (USD, tokens)", result.by_team))
    console.print(_spend_table("Spend by model (USD, tokens)", result.by_model))
    console.print(_lever_table(result.by_lever))
    console.print(
        f"Not lever savings: ${result.rows_unattributed_usd:,.6f} moved by fallbacks "
        f"({result.fallbacks} requests served by a fallback model after upstream errors); "
        f"${result.rows_gateway_usd:,.6f} gateway spend (embeddings), included in cost."
    )
    if not result.by_lever.total.get("saved_usd"):
        console.print(
            "[dim]Note: no lever saved anything in this run (is the cache switched "
            "off?), so every request ran as asked: cost = baseline.[/]"
        )
    console.print()
    _print_checks(result, console)
    console.print(f"\nLedger: [bold]{result.options.ledger_path}[/]   Next:")
    earlier = result.ledger_total_requests - len(result.outcomes)
    if earlier > 0:
        console.print(
            f"  (tables: this run only; the ledger holds {earlier:,} earlier requests too)"
        )
    for command in next_commands(result.options):
        console.print(f"  [cyan]{command}[/]", soft_wrap=True)
    console.print(
        f"\nDashboard (spend and savings by lever from this run): "
        f"[bold cyan]{dashboard_command_line(result.options.data_dir)}[/] "
        f"then open [bold]{dashboard_url()}[/]", soft_wrap=True)


def _traffic_grid(info: dict[str, Any]) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    grid.add_row(
        "replayed",
        f"{info['requests']} requests in {info['wall_s']:.1f} s "
        f"({info['requests_per_s']} req/s), {info['failed']} failed",
    )
    grid.add_row("upstream", "the built-in emulator as OpenAI and Anthropic (no API keys)")
    grid.add_row(
        "wire formats",
        f"{info['openai_format']} OpenAI chat completions, "
        f"{info['anthropic_format']} Anthropic messages; {info['cross_provider']} "
        f"served by the other provider; {info['streamed']} streamed",
    )
    grid.add_row(
        "who", f"{info['teams']} teams, {info['customers']} customers, {info['models']} models"
    )
    grid.add_row(
        "workload",
        f"{info['exact_repeats']} exact repeats, {info['reworded']} "
        f"reworded questions, {info['long_system_prompt']} with a long shared "
        "system prompt",
    )
    return grid


def _table(title: str, key: str) -> Table:
    table = Table(
        title=title,
        title_justify="left",
        title_style="bold",
        box=box.SIMPLE_HEAD,
        show_footer=True,
        footer_style="bold",
        collapse_padding=True,
        pad_edge=False,
    )
    table.add_column(key, footer="total", no_wrap=True, min_width=len(key))
    return table


def _spend_table(title: str, report: Report) -> Table:
    key = report.key_columns[0]
    table = _table(title, key)
    for column, header in _SPEND_COLUMNS:
        table.add_column(
            header, justify="right", no_wrap=True, footer=_cell(column, report.total.get(column))
        )
    for row in report.rows:
        table.add_row(
            "(none)" if row[key] is None else str(row[key]),
            *(_cell(column, row.get(column)) for column, _ in _SPEND_COLUMNS),
        )
    return table


def _lever_table(report: Report) -> Table:
    table = _table("Savings by lever (USD)", "lever")
    table.add_column("requests", justify="right")
    table.add_column(
        "saved", justify="right", footer=_cell("saved_usd", report.total.get("saved_usd"))
    )
    for row in report.rows:
        table.add_row(
            str(row["lever"]).replace("_", " "),
            _cell("requests", row["requests"]),
            _cell("saved_usd", row["saved_usd"]),
        )
    return table


def exact_json(value: Any) -> str:
    """JSON with Decimals as plain numbers (no float rounding): ``json.loads(text,
    parse_float=Decimal)`` gives the exact amounts back."""
    marker = "\u0000dec:"

    def encode(item: Any) -> Any:
        if isinstance(item, Decimal):
            return marker + format(item, "f")
        raise TypeError(f"{type(item).__name__} is not JSON serializable")

    text = json.dumps(value, indent=2, default=encode)
    return re.sub(r'"\\u0000dec:(-?[0-9.]+)"', r"\1", text)


def _cell(column: str, value: Any) -> str:
    if value is None:
        return ""
    if column.endswith("_usd"):
        return f"{value:,.6f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _print_checks(result: DemoResult, console: Console) -> None:
    failed = result.failures
    console.print(f"{_mark(not failed)} {len(failed)} of {len(result.outcomes)} requests failed")
    for outcome in failed[:5]:
        console.print(
            f"    #{outcome.request.index} {outcome.request.wire} "
            f"{outcome.request.model}: {outcome.error}",
            markup=False,
        )
    rows_ok = result.ledger_rows == len(result.outcomes)
    console.print(
        f"{_mark(rows_ok)} ledger rows: {result.ledger_rows} for {len(result.outcomes)} requests"
    )
    console.print(_agreement_line("cost headers", "responses", result.headers))
    console.print(_agreement_line("stream trailers", "streams", result.trailers))
    lever_total = result.by_lever.total.get("saved_usd")
    console.print(
        f"{_mark(result.savings_add_up)} savings by lever add up: ${lever_total} = sum of "
        f"the {result.ledger_rows} requests' saved ${result.rows_saved_usd}"
    )
    cached, total = result.long_prompt_cached_tokens, result.long_prompt_input_tokens
    share = f" ({cached / total:.0%})" if total else ""
    console.print(
        f"{_mark(cached > 0)} prompt caching: {cached:,} of {total:,} long-prompt "
        f"input tokens billed at the cached rate{share}"
    )


def _agreement_line(what: str, of: str, agreement: Agreement) -> str:
    told, recorded = agreement.told_usd, agreement.ledger_usd
    line = (
        f"{_mark(agreement.ok)} {what} {'=' if agreement.ok else '≠'} ledger: "
        f"${told} vs ${recorded} over {agreement.responses} {of}"
    )
    if agreement.missing:
        line += f", {len(agreement.missing)} request ids missing from the ledger"
    return line


def _mark(ok: bool) -> str:
    return "[green]✓[/]" if ok else "[red]✗[/]"
