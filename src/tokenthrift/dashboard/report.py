"""The standalone HTML report (``tokenthrift report … --format html --out FILE``): the
dashboard page with its script, styles and data inlined, plus the report's own table.

One file, no network: it opens from disk, in an e-mail attachment or on an offline
machine, and shows the same charts as ``/ui`` for the report's time range.
"""

from __future__ import annotations

import html
import json
import time
from decimal import Decimal
from typing import Any

from ..accounting.settlement import Accountant
from ..ledger.base import Ledger
from ..ledger.reports import Report
from .app import asset
from .data import Query, dashboard_data


def report_html(ledger: Ledger, report: Report, *, since: float | None, title: str,
                accountant: Accountant | None = None, now: float | None = None) -> str:
    data = dashboard_data(ledger, Query(since=since), budgets=None, accountant=accountant,
                          now=now)
    page = asset("index.html")
    page = page.replace('<link rel="stylesheet" href="/ui/static/dashboard.css">',
                        f"<style>\n{asset('dashboard.css')}\n</style>")
    # The data as a JS literal: "</" escaped so no value can close the script element.
    payload = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    page = page.replace('<script src="/ui/static/dashboard.js"></script>',
                        f"<script>window.TOKENTHRIFT_DATA = {payload};</script>\n"
                        f"<script>\n{asset('dashboard.js')}\n</script>")
    page = page.replace("<title>tokenthrift — spend and savings</title>",
                        f"<title>tokenthrift — {html.escape(title)}</title>")
    generated = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(data["generated_at"]))
    section = (f'<section class="card wide report" data-testid="report-table">'
               f"<h2>{html.escape(title)} <small>report generated {generated}</small></h2>"
               f"{report_table(report)}</section>")
    return page.replace('<section class="kpis" id="kpis"></section>',
                        f'{section}\n  <section class="kpis" id="kpis"></section>')


def report_table(report: Report) -> str:
    """The report's rows and total as an HTML table (money exact, as in the CLI)."""
    head = "".join(f'<th class="{_align(c, report)}">{html.escape(_header(c))}</th>'
                   for c in report.columns)
    rows = "".join("<tr>" + "".join(f'<td class="{_align(c, report)}">{_cell(row.get(c))}</td>'
                                    for c in report.columns) + "</tr>" for row in report.rows)
    total = "".join(
        f'<td class="{_align(c, report)}"><b>'
        f'{"total" if i == 0 else "" if c in report.key_columns else _cell(report.total.get(c))}'
        f"</b></td>" for i, c in enumerate(report.columns))
    extra = "".join(f"<p><b>{html.escape(label.replace('_', ' '))}</b> {_cell(usd)} "
                    f"<small>({html.escape(why)})</small></p>" for label, usd, why in report.extra)
    return (f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody>"
            f"<tfoot><tr>{total}</tr></tfoot></table>{extra}")


def _align(column: str, report: Report) -> str:
    return "" if column in report.key_columns else "num"


def _header(column: str) -> str:
    return column.replace("_usd", " $").replace("_", " ")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return html.escape(f"{value:,.6f}" if abs(value) < 1000 else f"{value:,.2f}")
    if isinstance(value, int):
        return f"{value:,}"
    return html.escape(str(value))
