"""``tokenthrift compress FILE --question … --ratio R`` and ``tokenthrift compress eval``.

``compress`` is both a command (compress one file) and a group (``eval``): a first
argument that is not a subcommand name is a file, so both spellings work.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

_RATIO = click.FloatRange(0, 1, min_open=True)
_METHOD = click.option(
    "--method", default="lexical", show_default=True,
    help="lexical, or llmlingua2:<model dir> for an LLMLingua-2 ONNX export on disk.",
)
_FORMAT = click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
                       show_default=True)


class _FileOrSubcommand(click.Group):
    """A group whose first argument may be a FILE: then it runs the hidden ``file``
    subcommand (``tokenthrift compress notes.txt --question …``)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["file", *args]
        return super().parse_args(ctx, args)

    def format_usage(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        formatter.write_usage(ctx.command_path, "FILE --question TEXT [--ratio R]")
        formatter.write_usage(ctx.command_path, "eval --data FILE.jsonl.gz --ratio R [...]")


@click.group(cls=_FileOrSubcommand)
def compress() -> None:
    """Compress a long context for a question, or measure answer retention.

    \b
    tokenthrift compress notes.txt --question "who signed it?" --ratio 0.3
    tokenthrift compress eval --data nq.jsonl.gz --passages 20 --ratio 0.33
    """


def _compressor(method: str, model: str | None = None) -> Any:
    from ..config_section import ConfigError
    from ..levers.compression import Compressor, load_backend
    from ..levers.compression.settings import validate_method
    from ..tokens import encoding_name_for_model

    try:
        validate_method(method)
        backend = load_backend(method)
    except (ConfigError, ValueError) as error:
        raise click.BadParameter(str(error), param_hint="--method") from None
    encoding = encoding_name_for_model(model) if model else "o200k_base"
    return Compressor(backend, encoding)


@compress.command(name="file", hidden=True)
@click.argument("path", metavar="FILE", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option("--question", required=True, help="The question the context must still answer.")
@click.option("--ratio", type=_RATIO, default=0.5, show_default=True,
              help="Fraction of tokens to keep.")
@click.option("--model", default="gpt-4o", show_default=True,
              help="Model whose tokenizer counts the tokens.")
@_METHOD
@_FORMAT
def compress_file(path: str, question: str, ratio: float, model: str, method: str, fmt: str) -> None:
    """Print FILE compressed for QUESTION, and the token counts."""
    text = sys.stdin.read() if path == "-" else _read(path)
    result = _compressor(method, model).compress(text, question, ratio)
    counts = {"tokens_before": result.tokens_before, "tokens_after": result.tokens_after,
              "ratio": round(result.ratio, 4)}
    if fmt == "json":
        click.echo(json.dumps({"text": result.text, **counts}))
        return
    click.echo(result.text)
    click.echo(f"tokens: {result.tokens_before} -> {result.tokens_after} "
               f"(ratio {result.ratio:.3f}, target {ratio:g})", err=True)


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except (OSError, UnicodeDecodeError) as error:
        raise click.BadParameter(f"cannot read {path}: {error}", param_hint="FILE") from None


@compress.command(name="eval")
@click.option("--data", "data_path", required=True, type=click.Path(exists=True, dir_okay=False),
              help="JSONL(.gz) rows {question, answers, ctxs: [{title, text}]}, gold passage "
                   "first (the lost-in-the-middle NQ-open format).")
@click.option("--passages", type=click.IntRange(1), default=20, show_default=True,
              help="Passages per prompt: the gold one plus distractors from other rows.")
@click.option("--ratio", type=_RATIO, required=True, help="Fraction of tokens to keep.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seeds distractor choice, gold position and the random baseline.")
@click.option("--limit", type=click.IntRange(1), default=None, help="Use the first N rows only.")
@_METHOD
@_FORMAT
def compress_eval(data_path: str, passages: int, ratio: float, seed: int, limit: int | None,
                  method: str, fmt: str) -> None:
    """Answer retention of compressed long-context QA prompts, beside truncation and
    random sentence selection at the same ratio."""
    from ..levers.compression.evaluation import build_prompts, evaluate, load_rows

    try:
        rows = load_rows(data_path)
    except (OSError, ValueError, KeyError) as error:
        raise click.BadParameter(f"cannot read {data_path}: {error}", param_hint="--data") from None
    rows = rows[:limit] if limit else rows
    if not rows:
        raise click.BadParameter("no rows", param_hint="--data")
    report = evaluate(build_prompts(rows, passages, seed), _compressor(method), ratio, seed)
    if fmt == "json":
        click.echo(json.dumps(report))
        return
    _print_report(report)


def _print_report(report: dict[str, Any]) -> None:
    click.echo(f"{report['n']} prompts, ratio target {report['ratio_target']:g}, "
               f"{report['ms_per_1k_tokens']:.2f} ms per 1k input tokens")
    click.echo(f"{'method':<12} {'achieved':>9} {'retention':>10}")
    click.echo(f"{'uncompressed':<12} {1.0:>9.3f} {report['answer_retention_uncompressed']:>10.3f}")
    click.echo(f"{'compressed':<12} {report['achieved_ratio']:>9.3f} "
               f"{report['answer_retention']:>10.3f}")
    for name, baseline in report["baselines"].items():
        click.echo(f"{name:<12} {baseline['achieved_ratio']:>9.3f} "
                   f"{baseline['answer_retention']:>10.3f}")


__all__ = ["compress"]
