"""``tokenthrift report spend|savings --format html --out FILE``: the report's table and
the dashboard's charts in one standalone HTML file (``dashboard.report``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ..ledger.base import Ledger
from ..ledger.reports import Report


def out_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--out",
        type=click.Path(dir_okay=False, writable=True),
        default=None,
        metavar="FILE",
        help="With --format html: the file to write (a standalone page with the charts).",
    )(fn)


def write_html(fmt: str, out: str | None, ledger: Ledger, result: Report, since: float | None,
               title: str) -> bool:
    """Write the HTML report when ``fmt`` is html; False (nothing done) otherwise."""
    if fmt != "html":
        if out is not None:
            raise click.BadParameter("--out is for --format html", param_hint="--out")
        return False
    if out is None:
        raise click.BadParameter("--format html needs --out FILE", param_hint="--out")
    from ..assembly import build_accountant
    from ..config import GatewayConfig
    from ..dashboard.report import report_html

    # The catalog's list prices re-price the audit's recommendations (as `audit` does).
    accountant = build_accountant(GatewayConfig.embedded_default())
    path = Path(out)
    path.write_text(report_html(ledger, result, since=since, title=title, accountant=accountant),
                    encoding="utf-8")
    click.echo(f"wrote {path}: {title.lower()} ({len(result.rows)} rows) and the dashboard's "
               "charts; open it in a browser", err=True)
    return True
