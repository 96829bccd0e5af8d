"""The compression lever: ``rewrite`` shrinks the request, ``unwind`` prices the
tokens it removed.

The saving is the removed prompt tokens at the served model's uncached input price: the
lever leaves the cacheable prefix alone, so every token it removes would have been billed
as uncached input. ``unwind`` counts both prompts with the served model's tokenizer (the
one the emulator and the gateway's estimates use), so the credit matches what was billed.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, ClassVar

from ...errors import GatewayError
from ..base import Billable, Lever, Unwound
from .compressor import Compressor
from .request import compress_request, request_tokens
from .settings import CompressionSettings

if TYPE_CHECKING:
    from ...exchange import Exchange
    from ...types import ChatRequest

HEADER = "x-tokenthrift-compress"
RESPONSE_HEADER = "x-tokenthrift-compression"
# Above this many characters of prompt, compress on a worker thread so a very long
# context does not hold the event loop (≈3 ms per 1k tokens on one core).
_THREAD_CHARS = 40_000


@dataclass(frozen=True, slots=True)
class CompressionNote:
    original: ChatRequest
    compressed: ChatRequest
    ratio_target: float
    model: str


class CompressionLever(Lever):
    name: ClassVar[str] = "compression"

    def __init__(self, settings: CompressionSettings, compressor: Compressor) -> None:
        self.settings = settings
        self.compressor = compressor

    def ratio(self, exchange: Exchange) -> float | None:
        """The ratio for this request: the header's, else the configured one; None = off."""
        raw = exchange.directives.get(HEADER)
        if raw is None:
            return self.settings.target_ratio
        value = raw.strip().lower()
        if value == "off":
            return None
        try:
            ratio = float(value)
        except ValueError:
            ratio = -1.0
        if not 0.0 < ratio <= 1.0:
            raise GatewayError(
                "invalid_request",
                f"{HEADER} must be a fraction of tokens to keep in (0, 1] or off, got {raw!r}",
                param=HEADER,
            )
        return ratio

    async def rewrite(self, exchange: Exchange) -> None:
        request = exchange.request
        ratio = self.ratio(exchange)
        if request is None or ratio is None or ratio >= 1.0:
            return
        model = exchange.candidates[0].upstream_model if exchange.candidates else request.model
        if sum(len(m.text) for m in request.messages) > _THREAD_CHARS:
            result = await asyncio.to_thread(self._compress, request, ratio)
        else:
            result = self._compress(request, ratio)
        if result is None:
            return
        note = CompressionNote(request, result, ratio, model)
        exchange.request = result
        exchange.notes[self.name] = note
        before, after = _record(exchange, note, model)
        exchange.response_headers[RESPONSE_HEADER] = f"{before}->{after}"

    def _compress(self, request: ChatRequest, ratio: float) -> ChatRequest | None:
        done = compress_request(
            request,
            self.compressor,
            ratio,
            min_tokens=self.settings.min_tokens,
            protect_prefix=self.settings.protect_prefix,
            history=self.settings.compress_history,
        )
        return None if done is None else done.request

    def unwind(self, exchange: Exchange, after: Billable) -> Unwound | None:
        note: CompressionNote | None = exchange.notes.get(self.name)
        if note is None:
            return None
        model = after.model or note.model
        before_tokens, after_tokens = _record(exchange, note, model)
        removed = before_tokens - after_tokens
        if removed <= 0:
            return None
        usage = replace(after.usage, input_tokens=after.usage.input_tokens + removed)
        reason = f"prompt {before_tokens} -> {after_tokens} tokens (ratio {note.ratio_target:g})"
        return Unwound(self.name, replace(after, usage=usage), reason)


def _record(exchange: Exchange, note: CompressionNote, model: str) -> tuple[int, int]:
    """Count both prompts with ``model``'s tokenizer and note them for the ledger row."""
    before = request_tokens(note.original, model)
    after = request_tokens(note.compressed, model)
    exchange.ledger_notes["compression"] = {
        "input_tokens_before": before,
        "input_tokens_after": after,
        "ratio_target": note.ratio_target,
    }
    return before, after


__all__ = ["HEADER", "RESPONSE_HEADER", "CompressionLever", "CompressionNote"]
