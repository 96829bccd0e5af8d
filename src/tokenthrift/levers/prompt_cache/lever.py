"""The prompt-cache lever: ``shape`` adds provider caching hints to the upstream body,
``unwind`` takes their effect back out of the bill.

* Anthropic: ``cache_control`` breakpoints where they pay (``anthropic``). Without the
  lever, the tokens its breakpoints cached would have been uncached input: ``unwind``
  turns the cache reads and writes beyond the client's last breakpoint back into input
  tokens, so a write premium and the read discounts it bought are netted exactly, and a
  write that never got read is a loss (a negative saving).
* OpenAI: caching is automatic; the lever sets ``prompt_cache_key`` from the tenant and
  the static prefix when the client did not, which only steers requests with the same
  prefix to the same cache. The hits would mostly happen without it, so nothing is
  credited (the emulator, one cache per organisation, cannot show the difference).
* Both: a prompt whose first tokens vary between otherwise identical requests is flagged
  on the ledger row (``variance``), and every row gets its prompt template fingerprint
  for ``tokenthrift audit``.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, ClassVar

import orjson

from ...errors import GatewayError
from ...tokens import count_encoded, encoding_name_for_model
from ...types import ChatRequest, TextPart, Usage, WireFormat
from ...wire.anthropic_blocks import block_text
from ..base import Billable, Lever, Unwound
from .anthropic import AnthropicPlan, plan_breakpoints
from .reuse import ReuseTracker
from .settings import SECTION, PromptCacheSettings
from .template import example, template_fingerprint
from .variance import HEAD_CHARS, PrefixVariance

if TYPE_CHECKING:
    from ...exchange import Exchange
    from ...types import ChatResponse

HEADER = "x-tokenthrift-prompt-cache"
OPENAI_MIN_TOKENS = 1024
# The prompt head ``tokenthrift audit`` groups by when there is no system prompt.
_TEMPLATE_HEAD_CHARS = 400


@dataclass(slots=True)
class _State:
    """Per request: the last attempt's plan (one per attempt, the served one counts)."""

    protocol: WireFormat
    model: str
    anthropic: AnthropicPlan | None = None


class PromptCacheLever(Lever):
    name: ClassVar[str] = "prompt_cache"

    def __init__(self, settings: PromptCacheSettings, *, store_examples: bool = False,
                 clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.store_examples = store_examples
        self._clock = clock
        self.reuse = ReuseTracker(settings.max_prefixes)
        self._variance = PrefixVariance(settings.max_prefixes)

    async def rewrite(self, exchange: Exchange) -> None:
        value = exchange.directives.get(HEADER)
        if value is not None and value.strip().lower() not in ("off", "auto", "on"):
            raise GatewayError("invalid_request", f"{HEADER} must be auto or off, got {value!r}",
                               param=HEADER)

    def shape(self, exchange: Exchange, protocol: WireFormat, body: dict[str, Any]) -> None:
        if (exchange.directives.get(HEADER) or "").strip().lower() == "off":
            return
        model = str(body.get("model") or "")
        state = _State(protocol, model)
        previous: _State | None = exchange.notes.get(self.name)
        retry = previous is not None and (previous.protocol, previous.model) == (protocol, model)
        note: dict[str, Any] = {}
        if protocol == "anthropic" and self.settings.anthropic_auto:
            if retry and previous is not None and previous.anthropic is not None:
                state.anthropic = previous.anthropic  # the same decision, not a new use
                _remark(body, previous.anthropic)
            else:
                namespace = f"{exchange.provider}\0{model}".encode()
                state.anthropic = plan_breakpoints(body, namespace, self.reuse, self._clock())
            note.update(state.anthropic.ledger_note())
        elif protocol == "openai" and self.settings.openai_auto:
            key = self._cache_key(exchange, body)
            if key is not None:
                note["cache_key"] = key
        if not retry and (self.settings.anthropic_auto if protocol == "anthropic"
                          else self.settings.openai_auto):
            at = self._variance.varying_at(model.encode(), _head(body),
                                           encoding_name_for_model(model))
            if at is not None and at < OPENAI_MIN_TOKENS:
                note["varying_prefix_at_token"] = at
        exchange.notes[self.name] = state
        if note:
            exchange.ledger_notes.setdefault(self.name, {}).update(note)

    def _cache_key(self, exchange: Exchange, body: dict[str, Any]) -> str | None:
        if body.get("prompt_cache_key") is not None:
            return None  # the client's own key wins
        encoding = encoding_name_for_model(str(body.get("model") or ""))
        messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
        if sum(count_encoded(encoding, _text(m.get("content"))) for m in messages) \
                + count_encoded(encoding, _json(body.get("tools"))) < OPENAI_MIN_TOKENS:
            return None  # too short to be cached at all
        static = [m for m in messages if m.get("role") in ("system", "developer")]
        prefix = _json(body.get("tools")) + "".join(_text(m.get("content")) for m in static)
        if not prefix and messages:
            prefix = _text(messages[0].get("content"))[:HEAD_CHARS]
        who = exchange.attribution
        tenant = who.team or who.key_id or who.customer or ""
        digest = hashlib.blake2b(f"{tenant}\0{prefix}".encode(), digest_size=12).hexdigest()
        key = f"tt-{digest}"
        body["prompt_cache_key"] = key
        return key

    async def observe(self, exchange: Exchange, response: ChatResponse | None) -> None:
        request = exchange.original_request
        if request is None:
            return
        static = _static_prefix(request)
        model = exchange.served_model or exchange.requested_model
        note: dict[str, Any] = {
            "template": template_fingerprint(static),
            "static_tokens": count_encoded(encoding_name_for_model(model), static),
        }
        if self.store_examples:
            note["example"] = example(static)
        exchange.ledger_notes.setdefault(self.name, {}).update(note)

    def unwind(self, exchange: Exchange, after: Billable) -> Unwound | None:
        state: _State | None = exchange.notes.get(self.name)
        if state is None or state.anthropic is None or not state.anthropic.added:
            return None
        if (exchange.provider_protocol, exchange.served_model) != ("anthropic", state.model):
            return None  # the attempt that was billed is not the one shaped last
        usage = without_lever_caching(after.usage, state.anthropic.client_tokens)
        if usage == after.usage:
            return None
        moved = usage.input_tokens - after.usage.input_tokens
        reason = (f"{moved} prompt tokens cached by {len(state.anthropic.added)} "
                  f"breakpoint(s) would have been uncached input")
        return Unwound(self.name, replace(after, usage=usage), reason)


def without_lever_caching(usage: Usage, client_tokens: int) -> Usage:
    """``usage`` with the caching beyond the client's last breakpoint turned into input.

    Anthropic reads the longest live prefix, then writes the stretches up to the last
    breakpoint, 1-hour ones first (they must precede 5-minute ones): the cached range is
    ``[0, read + writes)``, and only what lies beyond ``client_tokens`` is the lever's.
    """
    read, w1h, w5m = usage.cache_read_tokens, usage.cache_write_1h_tokens, \
        usage.cache_write_5m_tokens
    read_beyond = max(0, read - client_tokens)
    writes = w1h + w5m
    write_beyond = max(0, read + writes - max(read, client_tokens))
    below = writes - write_beyond  # the client's stretches come first
    below_1h = min(w1h, below)
    beyond_1h = w1h - below_1h
    beyond_5m = w5m - (below - below_1h)
    return replace(
        usage,
        input_tokens=usage.input_tokens + read_beyond + beyond_1h + beyond_5m,
        cache_read_tokens=read - read_beyond,
        cache_write_1h_tokens=w1h - beyond_1h,
        cache_write_5m_tokens=w5m - beyond_5m,
    )


def _remark(body: dict[str, Any], plan: AnthropicPlan) -> None:
    """Re-apply a retried attempt's breakpoints (same model, same body layout)."""
    from .blocks import mark, prompt_blocks

    by_tokens = {b.tokens: b for b in prompt_blocks(body, b"") if b.cacheable}
    for breakpoint in plan.added:
        block = by_tokens.get(breakpoint.tokens)
        if block is not None and not block.ttl:
            mark(body, block, breakpoint.ttl)


def _static_prefix(request: ChatRequest) -> str:
    """The part of a prompt meant to be the same on every call: tools and system prompt
    (else the head of the first message)."""
    tools = "".join(f"{t.name}:{t.description or ''}:{_json(t.parameters)}"
                    for t in request.tools)
    static = tools + request.system_text
    if static:
        return static
    first = next((m for m in request.messages if m.role != "system"), None)
    if first is None:
        return ""
    text = "".join(p.text for p in first.content if isinstance(p, TextPart))
    return text[:_TEMPLATE_HEAD_CHARS]


def _head(body: dict[str, Any]) -> str:
    """The start of the prompt in cache order: tools, system, then messages."""
    parts = [_json(body.get("tools"))]
    system = body.get("system")
    parts.append(_text(system))
    size = sum(len(p) for p in parts)
    for message in body.get("messages") or []:
        if size >= HEAD_CHARS:
            break
        if isinstance(message, dict):
            parts.append(_text(message.get("content")))
            size += len(parts[-1])
    return "".join(parts)[:HEAD_CHARS]


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(block_text(b) for b in content if isinstance(b, dict))
    return ""


def _json(value: Any) -> str:
    return orjson.dumps(value).decode() if value else ""


__all__ = ["HEADER", "SECTION", "PromptCacheLever", "without_lever_caching"]
