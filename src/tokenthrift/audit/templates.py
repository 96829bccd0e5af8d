"""Ledger rows grouped by prompt template.

A row's template is, in order of preference:

1. ``notes.prompt_cache.template``: the fingerprint the prompt-cache lever computes at
   request time from the static prefix (tools and system prompt) once masked, with its
   size in tokens (``static_tokens``) and, under ``storage.prompts: full``, an example;
2. the masked head of ``prompt_text`` (``storage.prompts: full``): the system prompt, or
   the first message's start when there is none;
3. ``prompt_fingerprint`` (the default ``hash`` storage without the lever): identical
   prompts only, so templates with variable parts are not merged.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ..ledger.record import LedgerRecord
from ..levers.prompt_cache.template import example, template_fingerprint

_HEAD_CHARS = 400
_ROLES = ("user: ", "assistant: ", "tool: ")


@dataclass(slots=True)
class Template:
    fingerprint: str
    example: str
    static_tokens: int | None  # None: unknown (no lever note)
    rows: list[LedgerRecord] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return len(self.rows)

    @property
    def input_tokens(self) -> int:
        """All prompt tokens, cached or not."""
        return sum(r.input_tokens + r.cache_read_tokens + r.cache_write_5m_tokens
                   + r.cache_write_1h_tokens for r in self.rows)

    @property
    def output_tokens(self) -> int:
        return sum(r.output_tokens for r in self.rows)

    @property
    def cost_usd(self) -> Decimal:
        return sum((r.cost_usd for r in self.rows if r.cost_usd is not None), Decimal(0))


def group(rows: Iterable[LedgerRecord]) -> list[Template]:
    """Chat traffic by template, oldest row first in each; ranked by cost, then tokens."""
    templates: dict[str, Template] = {}
    for row in sorted(rows, key=lambda r: r.ts):
        if row.endpoint == "embeddings" or row.served_model is None:
            continue
        fingerprint, sample, static = _template_of(row)
        template = templates.get(fingerprint)
        if template is None:
            template = templates[fingerprint] = Template(fingerprint, sample, static)
        elif template.static_tokens is None and static is not None:
            template.static_tokens = static
        if not template.example and sample:
            template.example = sample
        template.rows.append(row)
    return sorted(templates.values(),
                  key=lambda t: (-t.cost_usd, -(t.input_tokens + t.output_tokens), t.fingerprint))


def _template_of(row: LedgerRecord) -> tuple[str, str, int | None]:
    note = _note(row.notes, "prompt_cache")
    if isinstance(note.get("template"), str):
        static = note.get("static_tokens")
        sample = note.get("example") if isinstance(note.get("example"), str) else None
        if sample is None and row.prompt_text:
            sample = example(static_prefix(row.prompt_text))
        return note["template"], sample or "", static if isinstance(static, int) else None
    if row.prompt_text:
        prefix = static_prefix(row.prompt_text)
        return template_fingerprint(prefix), example(prefix), None
    if row.prompt_fingerprint:
        return f"prompt:{row.prompt_fingerprint[:16]}", "", None
    return "unknown", "", None


def static_prefix(prompt_text: str) -> str:
    """The system prompt of a stored prompt (``ledger.prompts``: system, blank line,
    ``role: text`` lines), else the head of its first message."""
    if prompt_text.startswith(_ROLES):
        return prompt_text[:_HEAD_CHARS]
    cut = min((i for i in (prompt_text.find("\n\n" + role) for role in _ROLES) if i >= 0),
              default=-1)
    return prompt_text[:cut] if cut >= 0 else prompt_text[:_HEAD_CHARS]


def _note(notes: dict[str, Any], key: str) -> dict[str, Any]:
    value = notes.get(key) if isinstance(notes, dict) else None
    return value if isinstance(value, dict) else {}


def note(row: LedgerRecord, key: str) -> dict[str, Any]:
    """A lever's note on a row (empty when absent or malformed)."""
    return _note(row.notes, key)
