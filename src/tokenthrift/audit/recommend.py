"""What would save money on one prompt template, priced on its recorded traffic.

Each estimate re-prices the template's rows as they would have been billed with the
change, using the same price catalog as the ledger (``Accountant.price``):

* ``prompt_cache``: the static prefix reaches the provider's minimum cacheable length
  but is mostly billed uncached. A row that follows another of the same template within
  5 minutes would read the prefix at the cached rate; others would write it (Anthropic,
  at the write premium) or stay uncached (OpenAI).
* ``compression``: requests whose context beyond the static prefix is long (1,000+
  tokens on average) lose ``COMPRESSIBLE_SHARE`` of it, billed as uncached input.
* ``routing``: rows labelled with a task a small model handles (client ``task`` or the
  routing lever's classification) are re-priced on the served model's smaller sibling.
* ``exact_cache``: rows that repeat an earlier prompt of the window exactly and were
  not answered from cache would cost nothing.
* ``batch``: non-streaming traffic arriving in bursts (most requests within a second of
  the previous one: a loop over a dataset, not a person waiting) or tagged
  batch/offline/background, re-priced at Batch API prices.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal

from ..accounting.billable import Billable
from ..accounting.settlement import Accountant
from ..ledger.record import LedgerRecord
from ..levers.prompt_cache.anthropic import minimum_tokens
from ..routes import speaks_anthropic
from ..types import Usage
from .templates import Template, note

CACHE_WINDOW_S = 300.0
OPENAI_MIN_TOKENS = 1024
COMPRESSIBLE_MIN_TOKENS = 1000
# The 10-30% for what a question does not need; the middle of it.
COMPRESSIBLE_SHARE = Decimal("0.2")
SMALL_MODEL_TASKS = frozenset({"classification", "extraction", "summarization", "translation",
                               "simple_qa"})
# The cheaper sibling of a model family (first matching prefix wins).
SMALLER = (
    ("gpt-4o-mini", None), ("gpt-4.1-mini", None), ("gpt-4.1-nano", None),
    ("gpt-5-mini", None), ("gpt-5-nano", None), ("claude-haiku", None), ("claude-3-5-haiku", None),
    ("gpt-4o", "gpt-4o-mini"), ("gpt-4.1", "gpt-4.1-mini"), ("gpt-5", "gpt-5-mini"),
    ("o3", "o4-mini"), ("claude-opus", "claude-sonnet-4-5"), ("claude-sonnet", "claude-haiku-4-5"),
)
BATCH_TAGS = frozenset({"batch", "offline", "background"})
BURST_GAP_S = 1.0


@dataclass(frozen=True, slots=True)
class Recommendation:
    lever: str
    saving_usd: Decimal  # over the audited window
    reason: str


def recommend(template: Template, accountant: Accountant) -> list[Recommendation]:
    def price(row: LedgerRecord, usage: Usage, model: str | None = None,
              batch: bool | None = None) -> Decimal | None:
        return accountant.price(Billable(model or row.served_model, usage,
                                         batch=row.batch if batch is None else batch,
                                         provider=row.provider))

    found = [
        _prompt_cache(template, price),
        _compression(template, price),
        _routing(template, price),
        _exact_cache(template),
        _batch(template, price),
    ]
    return sorted((r for r in found if r is not None and r.saving_usd > 0),
                  key=lambda r: -r.saving_usd)


def usage_of(row: LedgerRecord) -> Usage:
    return Usage(row.input_tokens, row.cache_read_tokens, row.cache_write_5m_tokens,
                 row.cache_write_1h_tokens, row.output_tokens, row.reasoning_tokens)


def _saving(before: Decimal | None, after: Decimal | None) -> Decimal:
    if before is None or after is None:
        return Decimal(0)
    return before - after


def _prompt_cache(template: Template, price: Callable[..., Decimal | None]
                  ) -> Recommendation | None:
    static = template.static_tokens
    if not static:
        return None
    saving = Decimal(0)
    cached = prefix = 0
    previous: float | None = None
    for row in template.rows:
        usage = usage_of(row)
        anthropic = speaks_anthropic(row.served_model or "")
        minimum = minimum_tokens(row.served_model or "") if anthropic else OPENAI_MIN_TOKENS
        size = min(static, usage.total_input_tokens)
        warm = previous is not None and row.ts - previous <= CACHE_WINDOW_S
        previous = row.ts
        prefix += size
        cached += min(row.cache_read_tokens, size)
        if size < minimum or row.cache_read_tokens >= size or row.cache_status != "miss":
            continue
        rest = usage.total_input_tokens - size
        if warm:
            better = replace(usage, input_tokens=rest, cache_read_tokens=size,
                             cache_write_5m_tokens=0, cache_write_1h_tokens=0)
        elif anthropic:
            better = replace(usage, input_tokens=rest, cache_read_tokens=0,
                             cache_write_5m_tokens=size, cache_write_1h_tokens=0)
        else:
            continue
        saving += _saving(price(row, usage), price(row, better))
    if saving <= 0:
        return None
    share = cached / prefix if prefix else 0.0
    reason = (f"{static:,}-token static prefix (tools + system prompt) reaches the cacheable "
              f"minimum but only {share:.0%} of it was billed at the cached rate")
    varying = [note(r, "prompt_cache").get("varying_prefix_at_token") for r in template.rows]
    at = next((v for v in varying if isinstance(v, int)), None)
    if at is not None:
        reason += (f"; its first tokens vary between requests (from token {at}): move dates, "
                   f"ids and other variable parts after the static prefix")
    else:
        reason += "; enable prompt_caching (or add cache_control breakpoints)"
    return Recommendation("prompt_cache", saving, reason)


def _compression(template: Template, price: Callable[..., Decimal | None]
                 ) -> Recommendation | None:
    static = template.static_tokens or 0
    rows = [r for r in template.rows if not note(r, "compression")]
    if not rows:
        return None
    context = [max(0, usage_of(r).total_input_tokens - static) for r in rows]
    average = sum(context) / len(rows)
    if average < COMPRESSIBLE_MIN_TOKENS:
        return None
    saving = Decimal(0)
    for row, tokens in zip(rows, context, strict=True):
        usage = usage_of(row)
        removed = min(usage.input_tokens, int(tokens * COMPRESSIBLE_SHARE))
        better = replace(usage, input_tokens=usage.input_tokens - removed)
        saving += _saving(price(row, usage), price(row, better))
    reason = (f"{average:,.0f} tokens of context per request beyond the static prefix; "
              f"compression typically removes {COMPRESSIBLE_SHARE:.0%} of what the question "
              f"does not need")
    return Recommendation("compression", saving, reason) if saving > 0 else None


def _routing(template: Template, price: Callable[..., Decimal | None]) -> Recommendation | None:
    saving = Decimal(0)
    tasks: dict[str, int] = {}
    smaller_models: set[str] = set()
    for row in template.rows:
        task = row.task or note(row, "routing").get("task")
        smaller = smaller_model(row.served_model or "")
        if task not in SMALL_MODEL_TASKS or smaller is None or row.cache_status != "miss":
            continue
        usage = usage_of(row)
        saving += _saving(price(row, usage), price(row, usage, smaller))
        tasks[str(task)] = tasks.get(str(task), 0) + 1
        smaller_models.add(smaller)
    if saving <= 0:
        return None
    labelled = ", ".join(f"{task} ({n})" for task, n in sorted(tasks.items()))
    reason = (f"requests labelled {labelled} are tasks a small model handles: "
              f"{', '.join(sorted(smaller_models))} instead")
    return Recommendation("routing", saving, reason)


def smaller_model(model: str) -> str | None:
    name = model.lower().rsplit("/", 1)[-1]
    for prefix, smaller in SMALLER:
        if name.startswith(prefix):
            return smaller
    return None


def _exact_cache(template: Template) -> Recommendation | None:
    seen: set[str] = set()
    saving = Decimal(0)
    repeats = 0
    for row in template.rows:
        if not row.prompt_fingerprint:
            continue
        if row.prompt_fingerprint in seen and row.cache_status == "miss" and row.cost_usd:
            saving += row.cost_usd
            repeats += 1
        seen.add(row.prompt_fingerprint)
    if not repeats:
        return None
    reason = (f"{repeats} of {template.requests} requests repeat an earlier prompt exactly "
              f"and were sent upstream: a response cache answers them")
    return Recommendation("exact_cache", saving, reason)


def _batch(template: Template, price: Callable[..., Decimal | None]) -> Recommendation | None:
    rows = [r for r in template.rows if not r.stream and not r.batch and r.status == 200
            and r.cache_status == "miss"]
    if not rows:
        return None
    tagged = [r for r in rows if BATCH_TAGS & set(r.tags)]
    bursts = sum(1 for a, b in itertools.pairwise(rows) if b.ts - a.ts <= BURST_GAP_S)
    eligible = rows if len(rows) >= 10 and bursts >= 0.5 * (len(rows) - 1) else tagged
    saving = Decimal(0)
    for row in eligible:
        usage = usage_of(row)
        saving += _saving(price(row, usage), price(row, usage, batch=True))
    if saving <= 0:
        return None
    why = "tagged batch/offline/background" if eligible is tagged else (
        f"arrives in bursts ({bursts} of {len(rows) - 1} gaps under {BURST_GAP_S:g}s), "
        f"never streamed")
    reason = f"{len(eligible)} requests look non-interactive ({why}): the Batch API bills half"
    return Recommendation("batch", saving, reason)
