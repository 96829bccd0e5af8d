"""Replaying a stored answer as a stream (a cache hit served to a streaming client)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from ..types import (
    ChatResponse,
    StreamEvent,
    StreamFinish,
    StreamStart,
    StreamUsage,
    TextDelta,
    ToolCallDelta,
)


def response_events(response: ChatResponse) -> list[StreamEvent]:
    """The canonical event sequence a live stream of ``response`` would have produced."""
    events: list[StreamEvent] = [StreamStart(response.id, response.model, response.created)]
    for choice in response.choices:
        text = choice.message.text
        if text:
            events.append(TextDelta(text, index=choice.index))
        for position, call in enumerate(choice.message.tool_calls):
            events.append(ToolCallDelta(position, call.arguments, id=call.id, name=call.name,
                                        index=choice.index))
    events.extend(StreamFinish(c.finish_reason, index=c.index) for c in response.choices)
    events.append(StreamUsage(response.usage))
    return events


async def aiter_events(events: Sequence[StreamEvent]) -> AsyncIterator[StreamEvent]:
    for event in events:
        yield event
