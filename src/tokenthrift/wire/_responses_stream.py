"""Canonical stream events -> the Responses API's typed SSE events.

Order, per the streaming reference: ``response.created``, ``response.in_progress``; for
text ``response.output_item.added`` (a message), ``response.content_part.added``,
``response.output_text.delta``…, ``response.output_text.done``,
``response.content_part.done``, ``response.output_item.done``; for each function call
``response.output_item.added``, ``response.function_call_arguments.delta``…,
``response.function_call_arguments.done``, ``response.output_item.done``; finally
``response.completed`` (or ``response.incomplete``) carrying the whole response with its
usage. Every event has ``event:`` set to its ``type`` and a ``sequence_number``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from tokenthrift.errors import GatewayError
from tokenthrift.types import (
    FinishReason,
    StreamEvent,
    StreamFinish,
    StreamStart,
    StreamUsage,
    TextDelta,
    ToolCallDelta,
    Usage,
)
from tokenthrift.wire import sse

if TYPE_CHECKING:
    from tokenthrift.wire.openai_responses import ResponsesRequest


class ResponsesStreamRenderer:
    """One response's stream; ``final()`` is the ``response`` object it completed with."""

    def __init__(self, parsed: ResponsesRequest, response_id: str) -> None:
        from tokenthrift.wire import openai_responses as wire

        self._wire = wire
        self._parsed = parsed
        self._id = response_id
        self._model = parsed.chat.model
        self._seq = 0
        self._message_id, self._call_prefix = wire.item_ids(response_id)
        self._output: list[dict[str, Any]] = []  # completed items, in output order
        self._text: list[str] | None = None  # the open message item's text so far
        self._call: dict[str, Any] | None = None  # the open function_call item
        self._call_args: list[str] = []
        self._calls: dict[int, int] = {}  # canonical tool_index -> output index
        self._finish: FinishReason | None = None
        self._usage: Usage | None = None
        self._started = False
        self._final: dict[str, Any] | None = None

    # -- events -----------------------------------------------------------------

    def render(self, event: StreamEvent) -> list[bytes]:
        if isinstance(event, StreamStart):
            return self._start(event)
        if event.__class__ is not StreamUsage and getattr(event, "index", 0) != 0:
            return []  # Responses has one output; n > 1 is not a Responses parameter
        if isinstance(event, TextDelta):
            return self._text_delta(event.text) if event.text else []
        if isinstance(event, ToolCallDelta):
            return self._tool_delta(event)
        if isinstance(event, StreamFinish):
            self._finish = event.finish_reason
            return self._close_open()
        if isinstance(event, StreamUsage):
            self._usage = event.usage
        return []

    def done(self) -> bytes:
        """The closing ``response.completed`` (or ``response.incomplete``) event."""
        chunks = self._close_open()
        status, incomplete = self._wire.status_of(self._finish)
        self._final = self._response(status, usage=self._usage or Usage(),
                                     incomplete=incomplete, output=self._output)
        kind = "response.completed" if status == "completed" else "response.incomplete"
        return b"".join([*chunks, self._event(kind, {"response": self._final})])

    def error(self, err: GatewayError) -> bytes:
        """A mid-stream failure: an ``error`` event (the SDK raises ``APIError`` on it)."""
        error = {"type": "server_error" if err.status >= 500 else "invalid_request_error",
                 "code": err.code or err.kind, "message": err.message, "param": err.param}
        return self._event("error", {"code": error["code"], "message": err.message,
                                     "param": err.param, "error": error})

    def final(self) -> dict[str, Any] | None:
        """The completed ``response`` object (None until ``done``)."""
        return self._final

    @property
    def output(self) -> list[dict[str, Any]]:
        return self._output

    # -- pieces -----------------------------------------------------------------

    def _start(self, event: StreamStart) -> list[bytes]:
        if self._started:
            return []
        self._started = True
        self._model = event.model or self._model
        created = self._response("in_progress", usage=None, incomplete=None, output=[])
        return [self._event("response.created", {"response": created}),
                self._event("response.in_progress", {"response": created})]

    def _text_delta(self, text: str) -> list[bytes]:
        chunks: list[bytes] = []
        if self._text is None:
            chunks += self._close_call()
            self._text = []
            index = len(self._output)
            item = self._wire.message_item(self._message_id, "", "in_progress")
            chunks.append(self._event("response.output_item.added",
                                      {"output_index": index, "item": item}))
            chunks.append(self._event("response.content_part.added", {
                "item_id": self._message_id, "output_index": index, "content_index": 0,
                "part": self._wire.output_text_part("")}))
        self._text.append(text)
        chunks.append(self._event("response.output_text.delta", {
            "item_id": self._message_id, "output_index": len(self._output),
            "content_index": 0, "delta": text, "logprobs": []}))
        return chunks

    def _tool_delta(self, event: ToolCallDelta) -> list[bytes]:
        chunks: list[bytes] = []
        if event.tool_index not in self._calls:
            chunks += self._close_text()
            chunks += self._close_call()
            index = len(self._output)
            self._calls[event.tool_index] = index
            item_id = f"{self._call_prefix}{len(self._calls) - 1}"
            self._call = self._wire.function_call_item(
                item_id, event.id or f"call_{item_id}", event.name or "", "", "in_progress")
            self._call_args = []
            chunks.append(self._event("response.output_item.added",
                                      {"output_index": index, "item": dict(self._call)}))
        if event.arguments and self._call is not None:
            self._call_args.append(event.arguments)
            chunks.append(self._event("response.function_call_arguments.delta", {
                "item_id": self._call["id"], "output_index": len(self._output),
                "delta": event.arguments}))
        return chunks

    def _close_open(self) -> list[bytes]:
        return self._close_text() + self._close_call()

    def _close_text(self) -> list[bytes]:
        if self._text is None:
            return []
        text, self._text = "".join(self._text), None
        index = len(self._output)
        part = self._wire.output_text_part(text)
        item = self._wire.message_item(self._message_id, text, "completed")
        self._output.append(item)
        base = {"item_id": self._message_id, "output_index": index, "content_index": 0}
        return [self._event("response.output_text.done", {**base, "text": text, "logprobs": []}),
                self._event("response.content_part.done", {**base, "part": part}),
                self._event("response.output_item.done", {"output_index": index, "item": item})]

    def _close_call(self) -> list[bytes]:
        call = self._call
        if call is None:
            return []
        self._call = None
        index = len(self._output)
        item = {**call, "arguments": "".join(self._call_args), "status": "completed"}
        self._output.append(item)
        return [self._event("response.function_call_arguments.done", {
                    "item_id": item["id"], "output_index": index, "name": item["name"],
                    "arguments": item["arguments"]}),
                self._event("response.output_item.done", {"output_index": index, "item": item})]

    def _response(self, status: str, *, usage: Usage | None, incomplete: dict[str, str] | None,
                  output: list[dict[str, Any]]) -> dict[str, Any]:
        return self._wire.response_object(self._parsed, self._id, model=self._model,
                                          status=status, output=list(output), usage=usage,
                                          incomplete=incomplete)

    def _event(self, kind: str, payload: dict[str, Any]) -> bytes:
        data = {"type": kind, "sequence_number": self._seq, **payload}
        self._seq += 1
        return sse.encode(orjson.dumps(data), event=kind)
