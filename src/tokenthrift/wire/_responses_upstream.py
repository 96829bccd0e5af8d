"""Upstream side of the Responses API: forwarding a client's Responses request natively to
an OpenAI-protocol upstream that speaks it (``POST /responses``), and its reply or typed
event stream back to canonical form.

What is sent is the client's own body, so parameters the canonical request has no field
for (``include``, ``truncation``, ``top_logprobs``…) keep their meaning, with:

* ``model``: the candidate's upstream model;
* ``input``: the stored conversation of ``previous_response_id`` (the gateway's own store,
  ``server.response_store``) followed by the client's input items. The upstream never
  holds state for the gateway: ``store`` is false and ``previous_response_id`` is not sent,
  so tenants stay isolated by the gateway and any deployment or fallback can continue a
  conversation. Since the upstream keeps nothing, items lose their ``id`` (nothing to
  refer to), and ``reasoning`` items are only sent when they carry ``encrypted_content``
  (``include: ["reasoning.encrypted_content"]``), the one form an upstream accepts
  without having stored them; this holds for the client's own input items too (a
  client passing back a response's output items as input, as with OpenAI's own
  ``store``, would otherwise name reasoning items no upstream kept);
* ``stream``: as the client asked.

The levers' ``shape`` hook knows chat bodies, so it runs on the chat body this request
would translate to (protocol ``"openai"``) and what it set there is carried over to the
Responses body under the Responses name: ``prompt_cache_key`` and the other parameters
both APIs share as they are, ``max_completion_tokens`` -> ``max_output_tokens``,
``reasoning_effort`` -> ``reasoning.effort``, ``logprobs`` -> ``include``
``message.output_text.logprobs``. Edits to ``messages`` are not carried over (no lever
makes one for the OpenAI protocol).

Usage is read with ``usage_from_responses``: ``input_tokens`` includes
``input_tokens_details.cached_tokens`` and ``output_tokens`` includes
``output_tokens_details.reasoning_tokens``, so each is billed once at its own rate.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tokenthrift.errors import StreamInterrupted, UpstreamError
from tokenthrift.types import (
    ChatRequest,
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
    WireFormat,
)
from tokenthrift.wire._openai_upstream import build_upstream_request, stream_error
from tokenthrift.wire._upstream_fields import malformed, up_dict, up_dicts, up_int, up_str
from tokenthrift.wire.openai_responses import usage_from_responses

# Chat body keys a shaping lever may set that mean the same in a Responses body.
_SHARED = ("prompt_cache_key", "prompt_cache_retention", "safety_identifier", "user",
           "service_tier", "temperature", "top_p", "top_logprobs", "parallel_tool_calls",
           "metadata")
# Keys the gateway owns in a forwarded body (its store and conversation replace them).
_GATEWAY_OWNED = ("previous_response_id", "store", "stream", "stream_options", "background")
LOGPROBS_INCLUDE = "message.output_text.logprobs"

# The levers' shape hook (``providers.base.Shaper``; the wire does not import providers).
Shape = Callable[[WireFormat, dict[str, Any]], None]


def upstream_body(body: dict[str, Any], history: list[dict[str, Any]], model: str, *,
                  stream: bool) -> dict[str, Any]:
    """The client's Responses ``body`` as forwarded to ``model`` (see the module doc)."""
    out = {k: v for k, v in body.items() if k not in _GATEWAY_OWNED}
    given = body.get("input")
    items = [{"type": "message", "role": "user", "content": given}] if isinstance(given, str) \
        else list(given or [])
    out["model"] = model
    out["input"] = forwardable([*history, *items])
    out["store"] = False
    if stream:
        out["stream"] = True
    return out


def forwardable(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Stored conversation items as input an upstream that stored nothing accepts."""
    out: list[dict[str, Any]] = []
    for item in items:
        if item.get("type") == "reasoning":
            if item.get("encrypted_content"):
                out.append(item)
            continue
        out.append({k: v for k, v in item.items() if k != "id"})
    return out


def shape_body(shape: Shape | None, request: ChatRequest, model: str,
               body: dict[str, Any]) -> None:
    """Run the levers' ``shape`` hook on the chat twin of this request and carry what it
    set over to the Responses ``body`` (see the module doc)."""
    if shape is None:
        return
    twin = build_upstream_request(request, model)
    before = dict(twin)
    shape("openai", twin)
    changed = {k: v for k, v in twin.items() if k not in before or before[k] != v}
    for key, value in changed.items():
        if key in _SHARED:
            body[key] = value
        elif key == "max_completion_tokens":
            body["max_output_tokens"] = value
        elif key == "reasoning_effort":
            body["reasoning"] = {**(body.get("reasoning") or {}), "effort": value}
        elif key == "logprobs" and value:
            include = list(body.get("include") or [])
            if LOGPROBS_INCLUDE not in include:
                body["include"] = [*include, LOGPROBS_INCLUDE]


# --------------------------------------------------------------------------- response


def parse_upstream_response(body: dict[str, Any]) -> ChatResponse:
    """An upstream ``response`` object -> ``ChatResponse`` (for the levers and the
    accounting; the client gets the upstream's object itself, see ``relayed``)."""
    status = up_str(body.get("status"), "status")
    if status == "failed":
        error = up_dict(body.get("error"), "error")
        raise UpstreamError(f"upstream response failed: {up_str(error.get('message'), 'error')}",
                            status=502, code=up_str(error.get("code"), "error.code") or None)
    text: list[str] = []
    calls: list[ToolCall] = []
    logprobs: list[float] = []
    for i, item in enumerate(up_dicts(body.get("output"), "output")):
        where = f"output[{i}]"
        kind = up_str(item.get("type"), f"{where}.type")
        if kind == "message":
            for j, part in enumerate(up_dicts(item.get("content"), f"{where}.content")):
                at = f"{where}.content[{j}]"
                text.append(up_str(part.get("text"), f"{at}.text")
                            or up_str(part.get("refusal"), f"{at}.refusal"))
                logprobs.extend(_logprobs(part.get("logprobs"), f"{at}.logprobs"))
        elif kind == "function_call":
            calls.append(ToolCall(id=up_str(item.get("call_id"), f"{where}.call_id"),
                                  name=up_str(item.get("name"), f"{where}.name"),
                                  arguments=up_str(item.get("arguments"), f"{where}.arguments")))
    incomplete = up_dict(body.get("incomplete_details"), "incomplete_details")
    extra: dict[str, Any] = {}
    if logprobs:  # routing's cascade judges an answer by it (never rendered)
        extra["mean_logprob"] = sum(logprobs) / len(logprobs)
    joined = "".join(text)
    message = Message("assistant", [TextPart(joined)] if joined else [], tool_calls=calls)
    return ChatResponse(
        id=up_str(body.get("id"), "id"), model=up_str(body.get("model"), "model"),
        choices=[Choice(0, message, finish_of(status, incomplete, bool(calls)))],
        usage=usage_from_responses(body.get("usage")),
        created=up_int(body.get("created_at"), "created_at"), extra=extra)


def _logprobs(value: Any, where: str) -> list[float]:
    out: list[float] = []
    for token in up_dicts(value, where):
        number = token.get("logprob")
        if isinstance(number, int | float) and not isinstance(number, bool):
            out.append(float(number))
    return out


def finish_of(status: str, incomplete: dict[str, Any], called: bool) -> FinishReason:
    if status == "incomplete":
        reason = incomplete.get("reason")
        return "content_filter" if reason == "content_filter" else "length"
    return "tool_calls" if called else "stop"


def relayed(upstream: dict[str, Any], *, response_id: str, previous_response_id: str | None,
            store: bool) -> dict[str, Any]:
    """The upstream's ``response`` object as the client gets it: the gateway's id (so the
    client continues through the gateway), and the conversation fields as it asked."""
    return {**upstream, "id": response_id, "previous_response_id": previous_response_id,
            "store": store}


# -------------------------------------------------------------------------- stream


class UpstreamResponsesStreamParser:
    """Typed Responses SSE events (decoded JSON) -> canonical stream events.

    Text and refusal deltas become ``TextDelta``; each function call item a run of
    ``ToolCallDelta`` (numbered in output order); ``response.completed`` or
    ``response.incomplete`` the finish and the usage. Reasoning and other events carry
    nothing the canonical stream has.
    """

    def __init__(self) -> None:
        self.finished = False
        self._started = False
        self._calls: dict[str, int] = {}  # function_call item id -> tool index

    def feed(self, data: dict[str, Any]) -> list[StreamEvent]:
        kind = up_str(data.get("type"), "event.type")
        if kind == "error":
            raise stream_error(data.get("error") or data)
        if kind == "response.failed":
            response = up_dict(data.get("response"), "event.response")
            error = up_dict(response.get("error"), "event.response.error")
            raise UpstreamError(f"upstream response failed: {error.get('message')}", status=502)
        events: list[StreamEvent] = []
        if not self._started:
            if kind != "response.created":
                raise malformed(f"stream opened with {kind!r}, not 'response.created'")
            self._started = True
            response = up_dict(data.get("response"), "event.response")
            events.append(StreamStart(up_str(response.get("id"), "response.id"),
                                      up_str(response.get("model"), "response.model"),
                                      up_int(response.get("created_at"), "response.created_at")))
        elif kind in ("response.output_text.delta", "response.refusal.delta"):
            delta = up_str(data.get("delta"), f"{kind}.delta")
            if delta:
                events.append(TextDelta(delta))
        elif kind == "response.output_item.added":
            item = up_dict(data.get("item"), "event.item")
            if item.get("type") == "function_call":
                index = self._calls[up_str(item.get("id"), "item.id")] = len(self._calls)
                events.append(ToolCallDelta(
                    tool_index=index, arguments=up_str(item.get("arguments"), "item.arguments"),
                    id=up_str(item.get("call_id"), "item.call_id") or None,
                    name=up_str(item.get("name"), "item.name") or None))
        elif kind == "response.function_call_arguments.delta":
            item_id = up_str(data.get("item_id"), f"{kind}.item_id")
            if item_id not in self._calls:
                raise malformed(f"{kind} for an unknown item {item_id!r}")
            events.append(ToolCallDelta(tool_index=self._calls[item_id],
                                        arguments=up_str(data.get("delta"), f"{kind}.delta")))
        elif kind in ("response.completed", "response.incomplete"):
            events.extend(self._end(up_dict(data.get("response"), "event.response")))
        return events

    def _end(self, response: dict[str, Any]) -> list[StreamEvent]:
        self.finished = True
        status = up_str(response.get("status"), "response.status")
        incomplete = up_dict(response.get("incomplete_details"), "response.incomplete_details")
        return [StreamFinish(finish_of(status, incomplete, bool(self._calls))),
                StreamUsage(usage_from_responses(response.get("usage")))]

    def check_ended(self) -> None:
        if not self.finished:
            raise StreamInterrupted("upstream Responses stream ended before response.completed")

