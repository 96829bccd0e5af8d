"""OpenAI chat completion chunks (``data: {...}`` SSE lines, then ``data: [DONE]``).

Per the streaming reference: the first chunk of a choice carries the role, each
following chunk one content (or tool-call arguments) delta, the last one an empty
delta with ``finish_reason``. With ``stream_options.include_usage`` every chunk has
``"usage": null`` and one extra chunk with ``"choices": []`` carries the usage.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from .replies import OPENAI_DONE, openai_sse

if TYPE_CHECKING:
    from .openai_chat import ChoiceResult


class _ChunkWriter:
    """Chunks share everything but the choice; splice bytes instead of re-serialising."""

    def __init__(self, header: dict[str, Any], include_usage: bool) -> None:
        head = orjson.dumps({**header, "object": "chat.completion.chunk"})
        self._prefix = b"data: " + head[:-1] + b',"choices":[{"index":'
        self._suffix = b'}],"usage":null}\n\n' if include_usage else b"}]}\n\n"

    def chunk(self, index: int, delta: bytes, finish_reason: str | None = None) -> bytes:
        finish = orjson.dumps(finish_reason)
        return b"".join(
            (self._prefix, str(index).encode(), b',"delta":', delta,
             b',"logprobs":null,"finish_reason":', finish, self._suffix)
        )  # fmt: skip


def chat_events(
    header: dict[str, Any], choices: list[ChoiceResult], usage: dict[str, Any] | None
) -> list[bytes]:
    writer = _ChunkWriter(header, usage is not None)
    events: list[bytes] = []
    for choice in choices:
        events.extend(_choice_events(writer, choice))
    if usage is not None:
        final = {**header, "object": "chat.completion.chunk", "choices": [], "usage": usage}
        events.append(openai_sse(final))
    events.append(OPENAI_DONE)
    return events


def _choice_events(writer: _ChunkWriter, choice: ChoiceResult) -> list[bytes]:
    index = choice.index
    if choice.tool_call is not None:
        call_id, name, args = choice.tool_call
        opening = {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"index": 0, "id": call_id, "type": "function",
                 "function": {"name": name, "arguments": ""}}
            ],
            "refusal": None,
        }  # fmt: skip
        events = [writer.chunk(index, orjson.dumps(opening))]
        for piece in args.pieces:
            delta = {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}
            events.append(writer.chunk(index, orjson.dumps(delta)))
    else:
        events = [writer.chunk(index, b'{"role":"assistant","content":"","refusal":null}')]
        pieces = choice.text.pieces if choice.text is not None else []
        for piece in pieces:
            events.append(writer.chunk(index, b'{"content":' + orjson.dumps(piece) + b"}"))
    events.append(writer.chunk(index, b"{}", choice.finish_reason))
    return events
