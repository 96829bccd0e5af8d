"""Fold a canonical event stream into a ``ChatResponse``.

The gateway streams to the client and, at the same time, needs the whole response for
the ledger, the caches and cost accounting; when a stream is cut it needs what was
generated so far to estimate output tokens locally.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tokenthrift.types import (
    ChatResponse,
    Choice,
    FinishReason,
    Message,
    StreamEvent,
    StreamFinish,
    StreamStart,
    StreamUsage,
    TextDelta,
    TextPart,
    ToolCall,
    ToolCallDelta,
    Usage,
)


@dataclass(slots=True)
class _PartialCall:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _PartialChoice:
    text: list[str] = field(default_factory=list)
    calls: dict[int, _PartialCall] = field(default_factory=dict)
    finish_reason: FinishReason | None = None


class StreamAccumulator:
    """``add`` every event; ``response()`` at any point gives the response so far."""

    def __init__(self) -> None:
        self.id = ""
        self.model = ""
        self.created = 0
        self.start_usage: Usage | None = None
        # Set by StreamUsage only: None means the upstream never reported usage.
        self.usage: Usage | None = None
        self._choices: dict[int, _PartialChoice] = {}

    def add(self, event: StreamEvent) -> None:
        if isinstance(event, TextDelta):
            self._choice(event.index).text.append(event.text)
        elif isinstance(event, ToolCallDelta):
            self._tool_delta(event)
        elif isinstance(event, StreamFinish):
            self._choice(event.index).finish_reason = event.finish_reason
        elif isinstance(event, StreamStart):
            self.id, self.model, self.created = event.id, event.model, event.created
            self.start_usage = event.usage
        elif isinstance(event, StreamUsage):
            self.usage = event.usage

    @property
    def text_so_far(self) -> str:
        """All generated text, tool names and arguments (for local token estimates)."""
        pieces: list[str] = []
        for choice in self._choices.values():
            pieces.extend(choice.text)
            for call in choice.calls.values():
                pieces.append(call.name)
                pieces.extend(call.arguments)
        return "".join(pieces)

    def response(self) -> ChatResponse:
        choices = [self._build_choice(i, self._choices[i]) for i in sorted(self._choices)]
        if not choices:
            choices = [Choice(0, Message(role="assistant"), None)]
        usage = self.usage or self.start_usage or Usage()
        return ChatResponse(self.id, self.model, choices, usage, created=self.created)

    def _choice(self, index: int) -> _PartialChoice:
        choice = self._choices.get(index)
        if choice is None:
            choice = self._choices[index] = _PartialChoice()
        return choice

    def _tool_delta(self, event: ToolCallDelta) -> None:
        calls = self._choice(event.index).calls
        call = calls.get(event.tool_index)
        if call is None:
            call = calls[event.tool_index] = _PartialCall()
        # Some servers repeat id/name on every piece: keep the first, never concatenate.
        if event.id and not call.id:
            call.id = event.id
        if event.name and not call.name:
            call.name = event.name
        if event.arguments:
            call.arguments.append(event.arguments)

    @staticmethod
    def _build_choice(index: int, partial: _PartialChoice) -> Choice:
        text = "".join(partial.text)
        calls = [
            ToolCall(call.id, call.name, "".join(call.arguments))
            for _, call in sorted(partial.calls.items())
        ]
        message = Message(
            role="assistant", content=[TextPart(text)] if text else [], tool_calls=calls
        )
        return Choice(index, message, partial.finish_reason)
