"""Upstream side of the Anthropic wire: canonical -> Messages API body, and Anthropic
responses / stream events -> canonical. Re-exported by ``anthropic_messages``.
"""

from __future__ import annotations

import time
from typing import Any

from tokenthrift.errors import InvalidRequest
from tokenthrift.types import (
    CacheTTL,
    ChatRequest,
    ChatResponse,
    Choice,
    ContentPart,
    FinishReason,
    Message,
    StreamEvent,
    StreamFinish,
    StreamStart,
    StreamUsage,
    TextDelta,
    TextPart,
    Tool,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from tokenthrift.wire._anthropic_errors import upstream_error
from tokenthrift.wire._fields import (
    compact_json,
    loads_object,
    passthrough,
    split_data_url,
)
from tokenthrift.wire._upstream_fields import up_dict, up_dicts, up_int, up_str
from tokenthrift.wire._usage import at_most, consistent, token_count, usage_object

# max_tokens is required by Anthropic; OpenAI clients may leave it out.
DEFAULT_MAX_TOKENS = 4096

_FINISH: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",  # server-tool turn paused; the client resubmits to continue
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
_STOP_REASONS: dict[str, str] = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "refusal",
}


def finish_from_anthropic(stop_reason: str | None) -> FinishReason | None:
    return None if stop_reason is None else _FINISH.get(stop_reason, "stop")


def stop_reason_for(finish: FinishReason | None, stop_sequence: str | None = None) -> str:
    if stop_sequence and finish in (None, "stop"):
        return "stop_sequence"
    return _STOP_REASONS.get(finish or "stop", "end_turn")


# --------------------------------------------------------------------------- usage


def usage_from_anthropic(d: Any) -> Usage:
    """Anthropic usage -> canonical (``input_tokens`` is already uncached).

    Raises ``InvalidUpstreamUsage`` for figures that cannot be billed.
    """
    d = usage_object(d, "usage")
    breakdown = usage_object(d.get("cache_creation"), "usage.cache_creation")
    write_1h = token_count(breakdown, "ephemeral_1h_input_tokens", "usage.cache_creation")
    if d.get("cache_creation_input_tokens") is None:
        write_5m = token_count(breakdown, "ephemeral_5m_input_tokens", "usage.cache_creation")
    else:
        # The total is authoritative; without a breakdown (older API versions, message_delta
        # overrides) writes are 5-minute ones, the default TTL.
        total_write = token_count(d, "cache_creation_input_tokens", "usage")
        at_most(write_1h, total_write, "1-hour cache writes exceed all cache writes")
        write_5m = total_write - write_1h
    details = usage_object(d.get("output_tokens_details"), "usage.output_tokens_details")
    return consistent(
        Usage(
            input_tokens=token_count(d, "input_tokens", "usage"),
            cache_read_tokens=token_count(d, "cache_read_input_tokens", "usage"),
            cache_write_5m_tokens=write_5m,
            cache_write_1h_tokens=write_1h,
            output_tokens=token_count(d, "output_tokens", "usage"),
            reasoning_tokens=token_count(details, "thinking_tokens", "usage.output_tokens_details"),
        )
    )


def usage_to_anthropic(u: Usage) -> dict[str, Any]:
    out: dict[str, Any] = {
        "input_tokens": u.input_tokens,
        "cache_creation_input_tokens": u.cache_write_tokens,
        "cache_read_input_tokens": u.cache_read_tokens,
        "cache_creation": {
            "ephemeral_5m_input_tokens": u.cache_write_5m_tokens,
            "ephemeral_1h_input_tokens": u.cache_write_1h_tokens,
        },
        "output_tokens": u.output_tokens,
    }
    if u.reasoning_tokens:
        out["output_tokens_details"] = {"thinking_tokens": u.reasoning_tokens}
    return out


# ------------------------------------------------------------------------- request


def build_upstream_request(request: ChatRequest, model: str) -> dict[str, Any]:
    """The body to POST to an Anthropic upstream's ``/v1/messages``."""
    if request.n > 1:
        raise InvalidRequest("n > 1 is not supported by Anthropic models", param="n")
    same_wire = request.source_format == "anthropic"
    body: dict[str, Any] = {"model": model, "max_tokens": request.max_tokens or DEFAULT_MAX_TOKENS}
    system = _system_blocks(request)
    if system:
        body["system"] = system
    body["messages"] = _render_messages(request.messages)
    _put_sampling(request, body, same_wire)
    _put_tools(request, body, request.wire_notes.server_tools if same_wire else [])
    user = request.metadata.get("user_id") or request.metadata.get("user")
    if isinstance(user, str):
        body["metadata"] = {"user_id": user}
    if request.stream:
        body["stream"] = True
    # seed, reasoning_effort and prompt_cache_key have no Anthropic equivalent.
    if same_wire:
        passthrough(request.extra, body)
    return body


def _put_sampling(request: ChatRequest, body: dict[str, Any], same_wire: bool) -> None:
    if request.temperature is not None:
        # OpenAI accepts 0..2, Anthropic 0..1 (400 above). Clamp rather than rescale: both
        # APIs default to 1.0, so a client's 0.7 should stay 0.7.
        body["temperature"] = min(request.temperature, 1.0)
    # Claude Opus 4.1 / Sonnet 4.5 and later answer 400 "temperature and top_p cannot both
    # be specified"; OpenAI clients often send both, so keep temperature. An Anthropic
    # client's own choice is passed as given.
    if request.top_p is not None and (same_wire or request.temperature is None):
        body["top_p"] = request.top_p
    if request.stop:
        body["stop_sequences"] = request.stop
    if request.thinking_budget is not None:
        body["thinking"] = {"type": "enabled", "budget_tokens": request.thinking_budget}


def _system_blocks(request: ChatRequest) -> list[dict[str, Any]]:
    blocks = [
        _text_block(part)
        for message in request.messages
        if message.role == "system"
        for part in message.content
        # Anthropic rejects empty text blocks; images have no place in ``system``.
        if isinstance(part, TextPart) and part.text
    ]
    hint = _format_hint(request.response_format)
    if hint:
        # Appended after any cache breakpoint so the cached prefix stays byte-identical.
        blocks.append({"type": "text", "text": hint})
    return blocks


def _format_hint(response_format: dict[str, Any] | None) -> str | None:
    """OpenAI ``response_format`` -> a system instruction.

    Anthropic's native structured outputs need a beta header and specific models, so
    JSON mode is asked for in words; the client still has to parse defensively.
    """
    kind = (response_format or {}).get("type")
    if kind == "json_object":
        return "Respond only with a single valid JSON object, with no other text."
    if kind == "json_schema":
        schema = ((response_format or {}).get("json_schema") or {}).get("schema") or {}
        return (
            "Respond only with a single valid JSON object, with no other text, that "
            f"conforms to this JSON Schema:\n{compact_json(schema)}"
        )
    return None


def _cache_control(ttl: CacheTTL) -> dict[str, str]:
    # "5m" is Anthropic's default TTL; spell out only the 1-hour one.
    return {"type": "ephemeral", "ttl": "1h"} if ttl == "1h" else {"type": "ephemeral"}


def _text_block(part: TextPart) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "text", "text": part.text}
    if part.cache_control is not None:
        block["cache_control"] = _cache_control(part.cache_control)
    return block


def _block(part: ContentPart, *, cached: bool = True) -> dict[str, Any]:
    block: dict[str, Any]
    if isinstance(part, TextPart):
        block = {"type": "text", "text": part.text}
    else:
        block = {"type": "image", "source": _image_source(part.url, part.media_type, part.data)}
    if cached and part.cache_control is not None:
        block["cache_control"] = _cache_control(part.cache_control)
    return block


def _image_source(url: str | None, media_type: str | None, data: str | None) -> dict[str, Any]:
    inline = split_data_url(url) if url else None
    if inline is not None:
        media_type, data = inline
    elif url:
        return {"type": "url", "url": url}
    return {"type": "base64", "media_type": media_type or "image/png", "data": data or ""}


def _render_messages(messages: list[Message]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    # Content of the user message holding the current run of tool results, if any.
    results: list[dict[str, Any]] | None = None
    for message in messages:
        if message.role == "system":
            continue
        if message.role == "tool":
            if results is None:
                results = []
                out.append({"role": "user", "content": results})
            results.append(_tool_result(message))
        elif message.role == "user" and results is not None:
            # Anthropic wants a turn's tool_result blocks first, then that turn's text,
            # in one user message (consecutive user messages get merged anyway).
            results.extend(_block(part) for part in message.content)
            results = None
        else:
            results = None
            rendered = _message(message)
            if rendered is not None:
                out.append(rendered)
    return out


def _message(message: Message) -> dict[str, Any] | None:
    parts = message.content
    if message.role == "assistant":
        # OpenAI clients send content "" next to tool_calls; Anthropic rejects empty text.
        parts = [p for p in parts if not isinstance(p, TextPart) or p.text]
        if not parts and not message.tool_calls:
            return None
    only = parts[0] if len(parts) == 1 and not message.tool_calls else None
    if isinstance(only, TextPart) and only.cache_control is None:
        return {"role": message.role, "content": only.text}  # the compact string form
    content = [_block(part) for part in parts]
    content.extend(_tool_use(call) for call in message.tool_calls)
    return {"role": message.role, "content": content}


def _tool_use(call: ToolCall) -> dict[str, Any]:
    # Arguments cut off by max_tokens are not valid JSON; Anthropic needs an object.
    arguments = loads_object(call.arguments)
    return {"type": "tool_use", "id": call.id, "name": call.name, "input": arguments or {}}


def _tool_result(message: Message) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": message.tool_call_id or ""}
    parts = message.content
    # A breakpoint at the end of the result goes on the tool_result block itself.
    if parts and parts[-1].cache_control is not None:
        block["cache_control"] = _cache_control(parts[-1].cache_control)
    if len(parts) == 1 and isinstance(parts[0], TextPart):
        block["content"] = parts[0].text
    elif parts:
        last = len(parts) - 1
        block["content"] = [_block(p, cached=i != last) for i, p in enumerate(parts)]
    if message.is_error:
        block["is_error"] = True
    return block


def _put_tools(request: ChatRequest, body: dict[str, Any], server_tools: list[Any]) -> None:
    tools = [_tool(tool) for tool in request.tools]
    tools.extend(server_tools)
    if not tools:
        return
    body["tools"] = tools
    choice = request.tool_choice
    rendered: dict[str, Any] | None = None
    if isinstance(choice, dict):
        rendered = {"type": "tool", "name": choice["name"]}
    elif choice is not None:
        rendered = {"type": {"auto": "auto", "required": "any", "none": "none"}.get(choice, "auto")}
    if request.parallel_tool_calls is False and (rendered or {}).get("type") != "none":
        rendered = {**(rendered or {"type": "auto"}), "disable_parallel_tool_use": True}
    if rendered is not None:
        body["tool_choice"] = rendered


def _tool(tool: Tool) -> dict[str, Any]:
    out: dict[str, Any] = {"name": tool.name}
    if tool.description is not None:
        out["description"] = tool.description
    schema = tool.parameters
    # Anthropic requires an object schema; OpenAI accepts {} for "no parameters".
    out["input_schema"] = schema if schema.get("type") == "object" else {"type": "object", **schema}
    if tool.cache_control is not None:
        out["cache_control"] = _cache_control(tool.cache_control)
    return out


# ------------------------------------------------------------------------ response


def parse_upstream_response(body: dict[str, Any]) -> ChatResponse:
    """An upstream ``message`` -> ``ChatResponse``.

    Raises ``UpstreamError`` (502) for a reply of the wrong shape and
    ``InvalidUpstreamUsage`` for usage that cannot be billed.
    """
    parts: list[ContentPart] = []
    calls: list[ToolCall] = []
    for i, block in enumerate(up_dicts(body.get("content"), "content")):
        kind = block.get("type")
        if kind == "text":
            parts.append(TextPart(up_str(block.get("text"), f"content[{i}].text")))
        elif kind == "tool_use":
            calls.append(_tool_call(block, f"content[{i}]"))
        # thinking / redacted_thinking / server-tool blocks have no canonical place.
    stop_sequence = up_str(body.get("stop_sequence"), "stop_sequence")
    extra = {"stop_sequence": stop_sequence} if stop_sequence else {}
    message = Message(role="assistant", content=parts, tool_calls=calls)
    finish = finish_from_anthropic(up_str(body.get("stop_reason"), "stop_reason") or None)
    return ChatResponse(
        id=up_str(body.get("id"), "id"),
        model=up_str(body.get("model"), "model"),
        choices=[Choice(0, message, finish)],
        usage=usage_from_anthropic(body.get("usage")),
        created=int(time.time()),  # Anthropic messages carry no timestamp
        extra=extra,
    )


def _tool_call(block: dict[str, Any], where: str) -> ToolCall:
    return ToolCall(
        up_str(block.get("id"), f"{where}.id"),
        up_str(block.get("name"), f"{where}.name"),
        compact_json(up_dict(block.get("input"), f"{where}.input")),
    )


# -------------------------------------------------------------------------- stream


class UpstreamStreamParser:
    """Anthropic SSE events (name, decoded JSON) -> canonical stream events."""

    def __init__(self) -> None:
        self._start_usage: dict[str, Any] = {}
        # content block index -> tool index (tool_use), or -1 (text); others are ignored
        self._blocks: dict[int, int] = {}
        self._tools = 0

    def feed(self, event_name: str | None, data: dict[str, Any]) -> list[StreamEvent]:
        kind = data.get("type") or event_name
        if kind == "content_block_delta":
            return self._delta(data)
        if kind == "content_block_start":
            return self._block_start(data)
        if kind == "message_start":
            message = up_dict(data.get("message"), "message_start.message")
            self._start_usage = usage_object(message.get("usage"), "message_start.usage")
            usage = usage_from_anthropic(self._start_usage)
            return [
                StreamStart(
                    up_str(message.get("id"), "message_start.message.id"),
                    up_str(message.get("model"), "message_start.message.model"),
                    int(time.time()),
                    usage,
                )
            ]
        if kind == "message_delta":
            return self._message_delta(data)
        if kind == "error":
            raise upstream_error(data)
        return []  # ping, content_block_stop, message_stop, future event types

    def _block_start(self, data: dict[str, Any]) -> list[StreamEvent]:
        block = up_dict(data.get("content_block"), "content_block_start.content_block")
        index = _block_index(data)
        if block.get("type") == "text":
            self._blocks[index] = -1
            text = up_str(block.get("text"), "content_block_start.content_block.text")
            return [TextDelta(text)] if text else []
        if block.get("type") == "tool_use":
            self._blocks[index] = tool_index = self._tools
            self._tools += 1
            # ``input`` is {} here; the arguments arrive as input_json_delta pieces.
            start_input = up_dict(block.get("input"), "content_block_start.content_block.input")
            arguments = compact_json(start_input) if start_input else ""
            return [
                ToolCallDelta(
                    tool_index,
                    arguments,
                    id=up_str(block.get("id"), "content_block_start.content_block.id") or None,
                    name=up_str(block.get("name"), "content_block_start.content_block.name")
                    or None,
                )
            ]
        return []  # thinking, redacted_thinking, server_tool_use, *_tool_result

    def _delta(self, data: dict[str, Any]) -> list[StreamEvent]:
        target = self._blocks.get(_block_index(data))
        delta = up_dict(data.get("delta"), "content_block_delta.delta")
        kind = delta.get("type")
        if target == -1 and kind == "text_delta":
            text = up_str(delta.get("text"), "content_block_delta.delta.text")
            return [TextDelta(text)] if text else []
        if target is not None and target >= 0 and kind == "input_json_delta":
            return [
                ToolCallDelta(
                    target, up_str(delta.get("partial_json"), "content_block_delta.partial_json")
                )
            ]
        return []  # thinking_delta, signature_delta, citations_delta

    def _message_delta(self, data: dict[str, Any]) -> list[StreamEvent]:
        # message_delta usage counts are cumulative totals: they override message_start's.
        raw = usage_object(data.get("usage"), "message_delta.usage")
        delta_usage = {k: v for k, v in raw.items() if v is not None}
        usage = usage_from_anthropic({**self._start_usage, **delta_usage})
        delta = up_dict(data.get("delta"), "message_delta.delta")
        finish = finish_from_anthropic(up_str(delta.get("stop_reason"), "stop_reason") or None)
        return [StreamFinish(finish), StreamUsage(usage)]


def _block_index(data: dict[str, Any]) -> int:
    return up_int(data.get("index"), "content block index")
