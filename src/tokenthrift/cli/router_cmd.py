"""``tokenthrift router train`` and ``tokenthrift router eval``: the learned complexity
router on your own labelled data (a CSV, or a folder of CSVs, with a prompt column and
the strong and weak model's boolean or 0-1 scores)."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:  # numpy loads only when a command runs
    from ..levers.routing.data import LabelledPrompts
    from ..levers.routing.evaluation import Price

_DATA = click.option("--data", "data_path", required=True, type=click.Path(exists=True),
                     help="A CSV file or a folder of CSV files.")
_PROMPT = click.option("--prompt-col", default="prompt", show_default=True, help="Prompt column.")
_STRONG = click.option("--strong-col", required=True, help="Strong model's score column (bool or 0-1).")
_WEAK = click.option("--weak-col", required=True, help="Weak model's score column (bool or 0-1).")


@click.group()
def router() -> None:
    """Train and evaluate the learned complexity router (model right-sizing)."""


@router.command()
@_DATA
@_PROMPT
@_STRONG
@_WEAK
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False),
              help="Where to write the router (JSON).")
@click.option("--folds", type=click.IntRange(2, 20), default=5, show_default=True,
              help="Cross-validation folds (whole CSV files per fold when there are enough).")
def train(data_path: str, prompt_col: str, strong_col: str, weak_col: str, out_path: str, folds: int) -> None:
    """Fit a router predicting P(weak answer acceptable) and calibrate its thresholds."""
    from ..levers.routing.training import train_router

    data = _load(data_path, prompt_col, strong_col, weak_col)
    trained = train_router(data, folds=folds, source=data_path)
    trained.save(out_path)
    info = trained.info
    click.echo(
        f"trained on {info['rows']} prompts ({info['groups']} files, "
        f"{info['dropped_contaminated']} contaminated dropped); chosen {info['chosen']}, "
        f"cross-validated APGR {info['cv_apgr']:.3f} → {out_path}"
    )


@router.command(name="eval")
@_DATA
@_PROMPT
@_STRONG
@_WEAK
@click.option("--router", "router_path", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Router JSON from `router train` (default: the built-in router).")
@click.option("--strong-price", default=None, metavar="IN/OUT",
              help="USD per 1M input/output tokens, e.g. 10/30 (default: catalog price of the column name).")
@click.option("--weak-price", default=None, metavar="IN/OUT", help="Same, for the weak model.")
@click.option("--output-tokens", type=click.IntRange(0), default=256, show_default=True,
              help="Assumed answer length for costs (labelled data rarely records it).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def evaluate(
    data_path: str, prompt_col: str, strong_col: str, weak_col: str, router_path: str | None,
    strong_price: str | None, weak_price: str | None, output_tokens: int, fmt: str,
) -> None:
    """APGR, CPT(50%), CPT(80%) and the strong-call share and saving at 95% of strong
    quality, next to random and prompt-length routing."""
    from ..levers.routing.evaluation import evaluate_router
    from ..levers.routing.router import ComplexityRouter

    data = _load(data_path, prompt_col, strong_col, weak_col)
    try:
        model = ComplexityRouter.load(router_path) if router_path else ComplexityRouter.default()
        prices = (_price(strong_price, strong_col), _price(weak_price, weak_col))
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    result = evaluate_router(data, model, strong_price=prices[0], weak_price=prices[1],
                             output_tokens=output_tokens)
    if fmt == "json":
        click.echo(json.dumps(result))
    else:
        _print(result, data)


def _load(path: str, prompt_col: str, strong_col: str, weak_col: str) -> LabelledPrompts:
    from ..levers.routing.data import RoutingDataError, load_labelled

    try:
        data = load_labelled(path, prompt_col, strong_col, weak_col)
    except RoutingDataError as exc:
        raise click.UsageError(str(exc)) from None
    for file in data.contamination_files:
        click.echo(f"dropped {data.dropped_contaminated} contaminated prompts listed in {file}", err=True)
    return data


def _price(text: str | None, column: str) -> Price | None:
    from ..levers.routing.evaluation import Price, catalog_price

    return Price.parse(text) if text else catalog_price(column)


def _print(result: dict[str, Any], data: LabelledPrompts) -> None:
    def fmt(v: float | None, pct: bool = False) -> str:
        return "n/a" if v is None else (f"{100 * v:.1f}%" if pct else f"{v:.3f}")

    click.echo(f"{result['n']} prompts: strong {result['strong_score']:.3f}, weak {result['weak_score']:.3f}")
    click.echo(f"{'':10}{'APGR':>8}{'CPT50':>8}{'CPT80':>8}{'strong@95':>11}{'saving@95':>11}")
    rows = [("router", result), *list(result["baselines"].items())]
    for name, r in rows:
        click.echo(
            f"{name:10}{fmt(r['apgr']):>8}{fmt(r['cpt50'], True):>8}{fmt(r['cpt80'], True):>8}"
            f"{fmt(r['strong_share_at_95'], True):>11}{fmt(r['cost_saving_at_95'], True):>11}"
        )
    if result["cost_saving_at_95"] is None:
        click.echo("(no price known for a column: pass --strong-price and --weak-price for savings)",
                   err=True)
    sys.stdout.flush()
