"""Server-sent events (the framing of both providers' streams).

Follows the WHATWG event-stream rules that matter for LLM streams: lines end in
``\\n``, ``\\r\\n`` or ``\\r``; an empty line dispatches the event; several ``data:``
lines join with ``\\n``; lines starting with ``:`` are comments (keep-alives);
``id``/``retry`` are ignored because neither provider uses them.
"""

from __future__ import annotations

Event = tuple[str | None, str]


def encode(data: bytes | str, event: str | None = None) -> bytes:
    """One SSE event. JSON from orjson has no newlines, so the fast path is one line."""
    raw = data.encode() if isinstance(data, str) else data
    if b"\n" in raw or b"\r" in raw:
        lines = raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
        body = b"".join(b"data: " + line + b"\n" for line in lines)
    else:
        body = b"data: " + raw + b"\n"
    if event is None:
        return body + b"\n"
    return b"event: " + event.encode() + b"\n" + body + b"\n"


class SSEDecoder:
    """Incremental parser: ``feed`` network chunks split anywhere, get complete events."""

    __slots__ = ("_buffer", "_data", "_event", "_skip_lf")

    def __init__(self) -> None:
        self._buffer = b""
        self._event: str | None = None
        self._data: list[str] = []
        # The previous chunk ended in "\r": a "\n" opening this one ends no new line.
        self._skip_lf = False

    def feed(self, chunk: bytes) -> list[Event]:
        if not chunk:
            return []
        if self._skip_lf and chunk[0] == 0x0A:
            chunk = chunk[1:]
        buffer = self._buffer + chunk if self._buffer else chunk
        self._skip_lf = False
        if b"\r" in buffer:
            self._skip_lf = buffer.endswith(b"\r")
            buffer = buffer.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        lines = buffer.split(b"\n")
        # The last piece has no terminator yet (b"" when the chunk ended on one).
        self._buffer = lines.pop()
        events: list[Event] = []
        for line in lines:
            if not line:
                self._dispatch(events)
            elif line[0] != 0x3A:  # ':' starts a comment
                self._field(line.decode("utf-8", errors="replace"))
        return events

    def _field(self, line: str) -> None:
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value

    def _dispatch(self, events: list[Event]) -> None:
        # Per the spec an event without data lines is dropped, and its type reset.
        if self._data:
            events.append((self._event, "\n".join(self._data)))
            self._data = []
        self._event = None
