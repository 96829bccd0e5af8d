"""``tokenthrift batch run FILE.jsonl --out RESULTS.jsonl``: requests that can wait, through
the providers' Batch APIs at half price (``tokenthrift.batch``)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from tokenthrift.batch.api import BatchAPI, BatchAPIError
from tokenthrift.batch.requests import InputError
from tokenthrift.batch.runner import BatchRunner

BASE_URL_ENV = "TOKENTHRIFT_BASE_URL"
API_KEY_ENV = "TOKENTHRIFT_API_KEY"


@click.group("batch")
def batch_group() -> None:
    """Offline work through the providers' Batch APIs (50% of synchronous prices)."""


@batch_group.command("run")
@click.argument("input_path", metavar="FILE.jsonl",
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Results, one line per input line, in input order.")
@click.option("--model", help="Model for lines that name none.")
@click.option("--base-url", envvar=BASE_URL_ENV, default="http://127.0.0.1:8787",
              show_default=True, help=f"Gateway (or provider) URL (env {BASE_URL_ENV}).")
@click.option("--api-key", envvar=API_KEY_ENV, default="tokenthrift",
              help=f"Client key (env {API_KEY_ENV}).")
@click.option("--state", "state_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Resume file (default: RESULTS.jsonl.state).")
@click.option("--poll-interval", type=float, default=5.0, show_default=True)
@click.option("--max-requests-per-batch", type=int, default=None,
              help="Split smaller than the provider limits.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def run_command(input_path: Path, out_path: Path, model: str | None, base_url: str,
                api_key: str, state_path: Path | None, poll_interval: float,
                max_requests_per_batch: int | None, quiet: bool) -> None:
    """Submit FILE.jsonl as batches, wait, and write RESULTS.jsonl (resumable)."""
    state = state_path or out_path.with_name(out_path.name + ".state")
    api = BatchAPI(base_url, api_key, headers=_attribution_headers())
    with Progress(TextColumn("batch"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  disable=quiet) as bar:
        task = bar.add_task("requests", total=None)
        runner = BatchRunner(api, poll_interval=poll_interval,
                             progress=lambda done, total: bar.update(task, completed=done,
                                                                     total=total))
        try:
            summary = runner.run(input_path, out_path, state, model=model,
                                 max_requests=max_requests_per_batch)
        except (InputError, ValueError) as exc:
            raise click.UsageError(str(exc)) from None
        except (BatchAPIError, OSError) as exc:
            raise click.ClickException(f"{exc} (rerun the same command to resume)") from None
    result = summary.as_json()
    click.echo(f"{result['succeeded']:,} succeeded, {result['failed']:,} failed in "
               f"{result['batches']} batch(es) -> {out_path}")
    sync = result["sync_cost_usd"]
    pct = 100 * result["saved_usd"] / sync if sync else 0.0
    click.echo(f"cost ${result['batch_cost_usd']:.6f} at batch prices vs ${sync:.6f} "
               f"synchronous (saved ${result['saved_usd']:.6f}, {pct:.0f}%)"
               + (f"; {result['unpriced']} unpriced" if result["unpriced"] else ""))
    if os.environ.get("TOKENTHRIFT_BATCH_SUMMARY_JSON"):
        click.echo(json.dumps(result))


def _attribution_headers() -> dict[str, str]:
    """``TOKENTHRIFT_TEAM``/``_TASK``… become ``x-tokenthrift-team``… for the gateway."""
    headers = {}
    for name in ("team", "user", "customer", "task", "tags"):
        value = os.environ.get(f"TOKENTHRIFT_{name.upper()}")
        if value:
            headers[f"x-tokenthrift-{name}"] = value
    return headers
