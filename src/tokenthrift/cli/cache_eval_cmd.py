"""``tokenthrift cache calibrate`` and ``tokenthrift cache eval``: measure the semantic
cache on your own labelled pairs, with exactly the decision the live cache makes (same
embedder, float16 similarity, guards and threshold — ``semantic.evaluation``)."""

from __future__ import annotations

import dataclasses
import json
import sys
from typing import TYPE_CHECKING, Any

import click

from ..config import ConfigError, load_config

if TYPE_CHECKING:  # numpy, onnxruntime and the index load only when a command runs
    import numpy as np

    from ..levers.cache.semantic import Decision, SemanticSettings
    from ..levers.cache.semantic.embedders import Embedder
    from ..levers.cache.semantic.pairs import LabelledPair

_PAIRS = click.option(
    "--pairs", "pairs_path", required=True, type=click.Path(exists=True, dir_okay=False),
    help="JSONL with text_a, text_b, label (1 = same request) and optionally kind.",
)
_CONFIG = click.option(
    "--config", "config_path", type=click.Path(exists=True, dir_okay=False), default=None,
    help="Gateway YAML whose cache.semantic settings (embedder, guards, threshold) to use; "
         "default: the built-in defaults.",
)
_FORMAT = click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
                       show_default=True)


@click.command()
@_PAIRS
@click.option("--target-precision", type=click.FloatRange(0, 1, min_open=True, max_open=True),
              required=True, help="Fraction of hits that must be right, e.g. 0.9.")
@_CONFIG
@_FORMAT
def calibrate(pairs_path: str, target_precision: float, config_path: str | None, fmt: str) -> None:
    """Find the lowest threshold that keeps precision at or above a target on these pairs.

    Exits with status 1 (after printing the best precision reachable and its recall)
    when the target cannot be reached on this data."""
    from ..levers.cache.semantic.calibration import calibrate as calibrate_scores
    from ..levers.cache.semantic.evaluation import decision_scores

    settings, pairs, embedder = _prepare(pairs_path, config_path)
    decision = decision_for_eval(settings, embedder)
    scores = decision_scores(decision, pairs, _similarities(embedder, pairs))
    found = calibrate_scores(scores, _labels(pairs), target_precision)
    result = {
        "threshold": round(found.threshold, 6), "precision": round(found.precision, 6),
        "recall": round(found.recall, 6), "pairs": found.pairs, "embedder": embedder.name,
        "target_precision": target_precision, "reachable": found.reachable,
        "precision_lower_bound": round(found.precision_lower_bound, 6), "hits": found.hits,
        "guards": list(decision.guards), "review": decision.reviewer is not None,
    }
    if fmt == "json":
        click.echo(json.dumps(result))
    else:
        _print_calibration(result)
    if not found.reachable:
        sys.exit(1)


@click.command(name="eval")
@_PAIRS
@_CONFIG
@click.option("--threshold", type=click.FloatRange(-1, 1), default=None,
              help="Override the threshold (default: the one the live cache uses).")
@_FORMAT
def evaluate_pairs(pairs_path: str, config_path: str | None, threshold: float | None, fmt: str) -> None:
    """Precision, recall and false-hit rate of the live decision on labelled pairs.

    Without --threshold this is exactly what the cache does with the default settings (or
    those of --config); it never calibrates on the file it evaluates."""
    from ..levers.cache.semantic.evaluation import evaluate

    settings, pairs, embedder = _prepare(pairs_path, config_path)
    decision = decision_for_eval(settings, embedder)
    if threshold is not None:
        decision = decision.with_threshold(threshold)
    report = evaluate(decision, pairs, _similarities(embedder, pairs))
    result: dict[str, Any] = dataclasses.asdict(report)
    if not result["by_kind"]:
        del result["by_kind"]
    result.update(threshold=round(decision.threshold, 6), embedder=embedder.name,
                  guards=list(decision.guards), review=decision.reviewer is not None)
    if fmt == "json":
        click.echo(json.dumps(result))
    else:
        _print_eval(result)


def decision_for_eval(settings: SemanticSettings, embedder: Embedder) -> Decision:
    from ..levers.cache.semantic import decision_for

    try:
        return decision_for(settings, embedder)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None


def _prepare(pairs_path: str, config_path: str | None) -> tuple[SemanticSettings, list[LabelledPair], Embedder]:
    from ..levers.cache.semantic.embedders import build_embedder
    from ..levers.cache.semantic.pairs import read_pairs

    try:
        settings = _settings(config_path)
        pairs = read_pairs(pairs_path)
        embedder = build_embedder(
            settings.embedder, settings.embedder_api_key, settings.embedder_price_per_mtok
        )
    except (ConfigError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    return settings, pairs, embedder


def _settings(config_path: str | None) -> SemanticSettings:
    from ..levers.cache.semantic import SemanticSettings

    if config_path is None:
        return SemanticSettings()
    raw = load_config(config_path).lever("cache").get("semantic")
    return SemanticSettings.from_mapping(raw)


def _similarities(embedder: Embedder, pairs: list[LabelledPair]) -> np.ndarray:
    from ..levers.cache.semantic.evaluation import similarities

    try:
        return similarities(embedder, pairs)
    except RuntimeError as exc:  # an API embedder that failed
        raise click.ClickException(str(exc)) from None


def _labels(pairs: list[LabelledPair]) -> np.ndarray:
    import numpy as np

    return np.array([p.label for p in pairs], dtype=np.int64)


def _fmt(value: Any) -> str:
    return "n/a" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value)


def _print_calibration(r: dict[str, Any]) -> None:
    click.echo(f"pairs: {r['pairs']}   embedder: {r['embedder']}   guards: {', '.join(r['guards']) or 'none'}")
    if r["reachable"]:
        click.echo(f"threshold {r['threshold']:.4f} reaches precision {r['precision']:.4f} "
                   f"(95% lower bound {r['precision_lower_bound']:.4f}) at recall {r['recall']:.4f}")
        click.echo(f"set it with  cache.semantic.threshold: {r['threshold']:.4f}")
        if r["hits"] < 200:
            click.echo(f"note: only {r['hits']} hits at this threshold; more labelled pairs "
                       "would pin it down better")
    else:
        click.echo(f"target precision {r['target_precision']} is NOT reachable on these pairs: "
                   f"the best is precision {r['precision']:.4f} at recall {r['recall']:.4f} "
                   f"(threshold {r['threshold']:.4f}, {r['hits']} hits)")


def _print_eval(r: dict[str, Any]) -> None:
    click.echo(f"pairs: {r['pairs']}   embedder: {r['embedder']}   threshold: {r['threshold']:.4f}   "
               f"guards: {', '.join(r['guards']) or 'none'}")
    click.echo(f"hits {r['hits']}   precision {_fmt(r['precision'])}   recall {_fmt(r['recall'])}   "
               f"false-hit rate {_fmt(r['false_hit_rate'])}")
    for kind, row in (r.get("by_kind") or {}).items():
        click.echo(f"  {kind:<24} pairs {row['pairs']:>6}   hit rate {row['hit_rate']:.4f}")
