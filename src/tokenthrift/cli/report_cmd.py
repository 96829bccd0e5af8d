"""``tokenthrift report spend|savings``: what was spent and saved, from the ledger."""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from tokenthrift.cli.report_html import out_option, write_html
from tokenthrift.ledger import SAVINGS_DIMENSIONS, SPEND_DIMENSIONS, Ledger, LedgerError
from tokenthrift.ledger.location import DEFAULT_LEDGER_PATH, LEDGER_ENV, open_ledger, sqlite_path
from tokenthrift.ledger.money import plain
from tokenthrift.ledger.reports import (
    Report,
    parse_dimensions,
    parse_since,
    savings_report,
    spend_report,
)

_HEADERS = {
    "requests": "requests",
    "cost_usd": "cost $",
    "unknown_cost_requests": "unpriced",
    "baseline_cost_usd": "baseline $",
    "saved_usd": "saved $",
    "unattributed_usd": "unattributed $",
    "gateway_cost_usd": "gateway $",
    "input_tokens": "input",
    "cache_read_tokens": "cache read",
    "cache_write_tokens": "cache write",
    "output_tokens": "output",
    "reasoning_tokens": "reasoning",
}


def _since_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--since",
        metavar="WHEN",
        help="Only requests since then: 7d, 24h, 30m, or a UTC date like 2026-11-01.",
    )(fn)


def _common_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = click.option(
        "--ledger",
        "location",
        envvar=LEDGER_ENV,
        default=str(DEFAULT_LEDGER_PATH),
        show_default=True,
        help=f"SQLite path, sqlite:///path or postgresql://… URL (env {LEDGER_ENV}).",
    )(fn)
    fn = click.option(
        "--format",
        "fmt",
        type=click.Choice(["table", "json", "csv", "html"]),
        default="table",
        show_default=True,
    )(fn)
    fn = out_option(fn)
    return _since_option(fn)


@click.group()
def report() -> None:
    """Spend and savings reports from the ledger."""


@report.command("spend")
@click.option(
    "--by",
    "by",
    multiple=True,
    default=("team",),
    show_default=True,
    help=f"Group by {'|'.join(SPEND_DIMENSIONS)}; repeat or comma-separate for several.",
)
@_common_options
def spend_command(by: tuple[str, ...], since: str | None, fmt: str, location: str,
                  out: str | None) -> None:
    """What was spent, grouped by who or what caused it."""
    try:
        dims = parse_dimensions(by, SPEND_DIMENSIONS)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--by") from None
    since_ts = _parse_since(since)
    with _opened(location) as ledger:
        result = spend_report(ledger, dims, since_ts)
        if write_html(fmt, out, ledger, result, since_ts, f"Spend by {', '.join(dims)}"):
            return
    _emit(result, fmt)


@report.command("savings")
@click.option(
    "--by",
    type=click.Choice(list(SAVINGS_DIMENSIONS)),
    default="lever",
    show_default=True,
    help="One row per lever, or per team/model with a column per lever.",
)
@_common_options
def savings_command(by: str, since: str | None, fmt: str, location: str,
                    out: str | None) -> None:
    """What the levers saved against the baseline (the request as asked)."""
    since_ts = _parse_since(since)
    with _opened(location) as ledger:
        result = savings_report(ledger, by, since_ts)
        if write_html(fmt, out, ledger, result, since_ts, f"Savings by {by}"):
            return
    _emit(result, fmt)


def _parse_since(since: str | None) -> float | None:
    if since is None:
        return None
    try:
        return parse_since(since)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from None


@contextmanager
def _opened(location: str) -> Iterator[Ledger]:
    path = sqlite_path(location)
    if path is not None and path != ":memory:" and not os.path.exists(path):
        raise click.ClickException(
            f"no ledger at {path}: start the gateway first, or pass --ledger / {LEDGER_ENV}"
        )
    try:
        ledger = open_ledger(location)
    except (LedgerError, ValueError) as exc:
        raise click.ClickException(f"cannot open the ledger: {exc}") from None
    try:
        yield ledger
    except LedgerError as exc:
        raise click.ClickException(f"cannot read the ledger: {exc}") from None
    finally:
        ledger.close()


# -- output -----------------------------------------------------------------------


def _emit(result: Report, fmt: str) -> None:
    if fmt == "json":
        click.echo(_json(result.rows))
    elif fmt == "csv":
        click.echo(_csv(result), nl=False)
    else:
        # Full width when piped, so numbers are never folded onto two lines.
        width = None if sys.stdout.isatty() else 200
        Console(width=width).print(_table(result))
        for label, usd, why in result.extra:
            click.echo(f"{_header(label)} {_formatter(label, [usd])(usd)}  ({why})")


def _json(rows: list[dict[str, Any]]) -> str:
    """Rows as a JSON array, money as plain decimal numbers (``0.00001875``, never
    ``1.875e-05`` or a float's rounding), so ``json.loads(text, parse_float=Decimal)``
    gives back the exact amounts."""
    if not rows:
        return "[]"
    items = []
    for row in rows:
        fields = [f"    {json.dumps(k)}: {_json_value(v)}" for k, v in row.items()]
        items.append("  {\n" + ",\n".join(fields) + "\n  }")
    return "[\n" + ",\n".join(items) + "\n]"


def _json_value(value: Any) -> str:
    return plain(value) if isinstance(value, Decimal) else json.dumps(value)


def _csv(result: Report) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(result.columns)
    for row in result.rows:
        writer.writerow([_csv_value(row[c]) for c in result.columns])
    return out.getvalue()


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    return plain(value) if isinstance(value, Decimal) else value


def _table(result: Report) -> Table:
    table = Table(show_footer=True, footer_style="bold")
    cells: dict[str, list[str]] = {}
    for i, column in enumerate(result.columns):
        is_key = column in result.key_columns
        values = [row[column] for row in result.rows]
        if is_key:
            cells[column] = ["(none)" if v is None else str(v) for v in values]
            footer = "total" if i == 0 else ""
        else:
            total = result.total.get(column)
            fmt = _formatter(column, [*values, total])
            cells[column] = [fmt(v) for v in values]
            footer = fmt(total)
        table.add_column(
            _header(column), footer=footer, justify="left" if is_key else "right", no_wrap=True
        )
    for i in range(len(result.rows)):
        table.add_row(*(cells[c][i] for c in result.columns))
    return table


def _header(column: str) -> str:
    if column in _HEADERS:
        return _HEADERS[column]
    if column.startswith("saved_") and column.endswith("_usd"):
        return column[len("saved_") : -len("_usd")].replace("_", " ") + " $"
    return column


def _formatter(column: str, values: list[Any]) -> Callable[[Any], str]:
    """One format per column so the decimal points line up."""
    if column.endswith("_usd"):
        # per-request LLM costs are fractions of a cent: 6 decimals until dollars add up
        big = any(v is not None and abs(v) >= 1 for v in values)
        spec = ",.4f" if big else ".6f"
        return lambda v: "" if v is None else format(v, spec)
    return lambda v: "" if v is None else f"{v:,}" if isinstance(v, int) else str(v)
