"""Anthropic Messages wire format (``POST /v1/messages``).

Client side: request JSON -> ``ChatRequest``; ``ChatResponse`` / stream events /
``GatewayError`` -> Anthropic JSON and the ``message_start`` ... ``message_stop`` SSE
sequence. The upstream side lives in ``_anthropic_upstream`` and is re-exported here.

Canonical usage already has Anthropic semantics (``input_tokens`` uncached, cache reads
and 5m/1h cache writes separate), so usage maps field for field.
"""

from __future__ import annotations

from typing import Any

import orjson

from tokenthrift.errors import GatewayError, InvalidRequest
from tokenthrift.types import (
    ChatRequest,
    ChatResponse,
    ContentPart,
    FinishReason,
    ImagePart,
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
from tokenthrift.wire import sse
from tokenthrift.wire._anthropic_errors import render_error, upstream_error
from tokenthrift.wire._anthropic_upstream import (
    UpstreamStreamParser,
    build_upstream_request,
    parse_upstream_response,
    stop_reason_for,
    usage_from_anthropic,
    usage_to_anthropic,
)
from tokenthrift.wire._fields import (
    cache_ttl,
    client_extra,
    compact_json,
    loads_object,
    opt_bool,
    opt_dict,
    opt_int,
    opt_number,
    opt_str,
    require_dict,
    require_list,
    require_str,
    str_list,
)

__all__ = [
    "StreamRenderer",
    "UpstreamStreamParser",
    "build_upstream_request",
    "parse_request",
    "parse_upstream_response",
    "render_error",
    "render_response",
    "upstream_error",
    "usage_from_anthropic",
    "usage_to_anthropic",
]

_CANONICAL_KEYS = frozenset(
    {
        "model", "messages", "system", "max_tokens", "temperature", "top_p",
        "stop_sequences", "stream", "tools", "tool_choice", "thinking", "metadata",
    }
)  # fmt: skip
_TOOL_CHOICES = {"auto": "auto", "any": "required", "none": "none"}
# Assistant history blocks with no canonical place: extended thinking and server-tool
# (web search, code execution) traffic. Dropped rather than rejected so conversations
# that used them can continue.
_DROPPED_BLOCKS = frozenset({"thinking", "redacted_thinking", "server_tool_use"})


# --------------------------------------------------------------------------- request


def parse_request(body: dict[str, Any]) -> ChatRequest:
    """Validate an Anthropic Messages request body and translate it to a ``ChatRequest``."""
    body = require_dict(body, "body")
    model = require_str(body.get("model"), "model", nonempty=True)
    max_tokens = opt_int(body, "max_tokens", minimum=1)
    if max_tokens is None:  # required by Anthropic, unlike OpenAI
        raise InvalidRequest("max_tokens: Field required", param="max_tokens")
    request = ChatRequest(
        model=model,
        messages=_parse_system(body.get("system")) + _parse_messages(body.get("messages")),
        max_tokens=max_tokens,
        source_format="anthropic",
    )
    request.extra = client_extra(body, _CANONICAL_KEYS)
    request.temperature = opt_number(body, "temperature", 0, 1)
    request.top_p = opt_number(body, "top_p", 0, 1)
    opt_int(body, "top_k", minimum=0)  # validated here, passed through in extra
    request.stop = str_list(body.get("stop_sequences"), "stop_sequences")
    request.stream = bool(opt_bool(body, "stream"))
    _parse_tools(body.get("tools"), request)
    _parse_tool_choice(body.get("tool_choice"), request)
    _parse_thinking(body.get("thinking"), request)
    request.metadata = dict(opt_dict(body, "metadata") or {})
    opt_str(request.metadata, "user_id", "metadata.user_id")
    return request


def _parse_system(value: Any) -> list[Message]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [Message(role="system", content=[TextPart(value)])]
    parts: list[ContentPart] = []
    for i, raw in enumerate(require_list(value, "system")):
        block = require_dict(raw, f"system[{i}]")
        if block.get("type") != "text":
            raise InvalidRequest("system blocks must be of type 'text'.", param=f"system[{i}].type")
        parts.append(_text_part(block, f"system[{i}]"))
    return [Message(role="system", content=parts)] if parts else []


def _parse_messages(value: Any) -> list[Message]:
    out: list[Message] = []
    for i, raw in enumerate(require_list(value, "messages", nonempty=True)):
        param = f"messages[{i}]"
        raw = require_dict(raw, param)
        role = raw.get("role")
        if role not in ("user", "assistant"):
            raise InvalidRequest(
                f"Invalid value for '{param}.role': {role!r}; expected 'user' or 'assistant'.",
                param=f"{param}.role",
            )
        content = raw.get("content")
        if isinstance(content, str):
            out.append(Message(role=role, content=[TextPart(content)]))
            continue
        blocks = require_list(content, f"{param}.content")
        if role == "user":
            out.extend(_user_messages(blocks, f"{param}.content"))
        else:
            out.append(_assistant_message(blocks, f"{param}.content"))
    return out


def _user_messages(blocks: list[Any], param: str) -> list[Message]:
    # Canonical (OpenAI-shaped) history has one "tool" message per result, and they
    # must directly follow the assistant's tool calls: results first, then the text.
    results: list[Message] = []
    parts: list[ContentPart] = []
    for j, raw in enumerate(blocks):
        block = require_dict(raw, f"{param}[{j}]")
        if block.get("type") == "tool_result":
            results.append(_tool_result(block, f"{param}[{j}]"))
        else:
            parts.append(_part(block, f"{param}[{j}]"))
    if parts or not results:
        results.append(Message(role="user", content=parts))
    return results


def _assistant_message(blocks: list[Any], param: str) -> Message:
    message = Message(role="assistant")
    for j, raw in enumerate(blocks):
        block = require_dict(raw, f"{param}[{j}]")
        kind = str(block.get("type"))
        if kind == "tool_use":
            message.tool_calls.append(_tool_use(block, f"{param}[{j}]"))
        elif kind == "text":
            message.content.append(_text_part(block, f"{param}[{j}]"))
        elif kind not in _DROPPED_BLOCKS and not kind.endswith("_tool_result"):
            raise InvalidRequest(
                f"Unsupported assistant content block type {kind!r}.", param=f"{param}[{j}].type"
            )
    return message


def _tool_use(block: dict[str, Any], param: str) -> ToolCall:
    arguments = block.get("input")
    return ToolCall(
        id=require_str(block.get("id"), f"{param}.id", nonempty=True),
        name=require_str(block.get("name"), f"{param}.name", nonempty=True),
        arguments=compact_json(require_dict(arguments, f"{param}.input")),
    )


def _tool_result(block: dict[str, Any], param: str) -> Message:
    content = block.get("content")
    parts: list[ContentPart]
    if content is None:
        parts = []
    elif isinstance(content, str):
        parts = [TextPart(content)]
    else:
        items = require_list(content, f"{param}.content")
        parts = [
            _part(require_dict(b, f"{param}.content[{k}]"), f"{param}.content[{k}]")
            for k, b in enumerate(items)
        ]
    ttl = cache_ttl(block.get("cache_control"), f"{param}.cache_control")
    if ttl is not None and parts:
        parts[-1].cache_control = ttl  # the breakpoint ends where the result ends
    return Message(
        role="tool",
        content=parts,
        tool_call_id=require_str(block.get("tool_use_id"), f"{param}.tool_use_id", nonempty=True),
        is_error=bool(opt_bool(block, "is_error", f"{param}.is_error")),
    )


def _part(block: dict[str, Any], param: str) -> ContentPart:
    kind = block.get("type")
    if kind == "text":
        return _text_part(block, param)
    if kind == "image":
        return _image_part(block, param)
    raise InvalidRequest(
        f"Unsupported content block type {kind!r}; supported: 'text', 'image', 'tool_result'.",
        param=f"{param}.type",
    )


def _text_part(block: dict[str, Any], param: str) -> TextPart:
    return TextPart(
        require_str(block.get("text"), f"{param}.text"),
        cache_control=cache_ttl(block.get("cache_control"), f"{param}.cache_control"),
    )


def _image_part(block: dict[str, Any], param: str) -> ImagePart:
    source = require_dict(block.get("source"), f"{param}.source")
    ttl = cache_ttl(block.get("cache_control"), f"{param}.cache_control")
    if source.get("type") == "base64":
        return ImagePart(
            data=require_str(source.get("data"), f"{param}.source.data", nonempty=True),
            media_type=require_str(source.get("media_type"), f"{param}.source.media_type"),
            cache_control=ttl,
        )
    if source.get("type") == "url":
        return ImagePart(
            url=require_str(source.get("url"), f"{param}.source.url", nonempty=True),
            cache_control=ttl,
        )
    raise InvalidRequest(
        "Image source type must be 'base64' or 'url'.", param=f"{param}.source.type"
    )


def _parse_tools(value: Any, request: ChatRequest) -> None:
    if value is None:
        return
    server_tools = []
    for i, raw in enumerate(require_list(value, "tools")):
        param = f"tools[{i}]"
        raw = require_dict(raw, param)
        if raw.get("type") not in (None, "custom"):
            # Server tools (web_search_20250305, bash_...) are typed and run at Anthropic;
            # canonical Tool cannot hold them, so they ride along for pass-through only.
            server_tools.append(raw)
            continue
        tool = Tool(name=require_str(raw.get("name"), f"{param}.name", nonempty=True))
        tool.description = opt_str(raw, "description", f"{param}.description")
        tool.parameters = require_dict(raw.get("input_schema"), f"{param}.input_schema")
        tool.cache_control = cache_ttl(raw.get("cache_control"), f"{param}.cache_control")
        request.tools.append(tool)
    request.wire_notes.server_tools = server_tools


def _parse_tool_choice(value: Any, request: ChatRequest) -> None:
    if value is None:
        return
    choice = require_dict(value, "tool_choice")
    kind = choice.get("type")
    if kind == "tool":
        request.tool_choice = {
            "name": require_str(choice.get("name"), "tool_choice.name", nonempty=True)
        }
    elif isinstance(kind, str) and kind in _TOOL_CHOICES:
        request.tool_choice = _TOOL_CHOICES[kind]
    else:
        raise InvalidRequest(
            f"Invalid value for 'tool_choice.type': {kind!r}; expected auto, any, none or tool.",
            param="tool_choice.type",
        )
    if opt_bool(choice, "disable_parallel_tool_use", "tool_choice.disable_parallel_tool_use"):
        request.parallel_tool_calls = False


def _parse_thinking(value: Any, request: ChatRequest) -> None:
    thinking = None if value is None else require_dict(value, "thinking")
    if thinking is None or thinking.get("type") == "disabled":
        return
    if thinking.get("type") == "enabled":
        budget = opt_int(thinking, "budget_tokens", "thinking.budget_tokens", minimum=1)
        if budget is None:
            raise InvalidRequest(
                "thinking.budget_tokens: Field required", param="thinking.budget_tokens"
            )
        request.thinking_budget = budget
    else:  # newer modes (e.g. "adaptive") have no canonical field: pass-through only
        request.extra["thinking"] = thinking


# -------------------------------------------------------------------------- response


def render_response(resp: ChatResponse, request: ChatRequest) -> dict[str, Any]:
    """A ``message`` object from the first choice (Anthropic has no ``n``)."""
    message = resp.choices[0].message if resp.choices else Message(role="assistant")
    finish = resp.choices[0].finish_reason if resp.choices else None
    stop_sequence = resp.extra.get("stop_sequence")
    return {
        "id": resp.id,
        "type": "message",
        "role": "assistant",
        "model": resp.model,
        "content": _render_content(message),
        "stop_reason": stop_reason_for(finish, stop_sequence),
        "stop_sequence": stop_sequence,
        "usage": usage_to_anthropic(resp.usage),
    }


def _render_content(message: Message) -> list[dict[str, Any]]:
    content: list[dict[str, Any]] = [
        {"type": "text", "text": part.text}
        for part in message.content
        if isinstance(part, TextPart) and part.text
    ]
    for call in message.tool_calls:
        # An OpenAI upstream's arguments may be cut off (finish "length"); input must be an object.
        content.append(
            {
                "type": "tool_use",
                "id": call.id,
                "name": call.name,
                "input": loads_object(call.arguments) or {},
            }
        )
    return content


# ---------------------------------------------------------------------------- stream


def _event(payload: dict[str, Any]) -> bytes:
    return sse.encode(orjson.dumps(payload), event=payload["type"])


_PING = _event({"type": "ping"})


class StreamRenderer:
    """Canonical stream events -> Anthropic SSE events.

    Blocks are emitted one at a time (text, then tool_use blocks) as Anthropic does.
    ``message_delta`` (stop reason + final usage) and ``message_stop`` wait for
    ``StreamUsage``, which follows ``StreamFinish``; ``done()`` emits them if no usage came.
    Only choice 0 is rendered: Anthropic clients cannot ask for ``n > 1``.
    """

    def __init__(self, request: ChatRequest) -> None:
        self._model = request.model
        self._started = False
        self._stopped = False
        self._start_usage = Usage()
        self._open: int | None = None  # index of the open content block
        self._open_is_text = False
        self._blocks = 0
        self._tool_blocks: dict[int, int] = {}  # tool_index -> block index
        self._finish: FinishReason | None = None

    def render(self, event: StreamEvent) -> list[bytes]:
        if self._stopped:
            return []
        if isinstance(event, TextDelta):
            return self._text(event.text) if event.index == 0 and event.text else []
        if isinstance(event, ToolCallDelta):
            return self._tool(event) if event.index == 0 else []
        if isinstance(event, StreamFinish):
            if event.index != 0:
                return []
            self._finish = event.finish_reason
            return self._close()
        if isinstance(event, StreamStart):
            return self._start(event.id, event.model, event.usage)
        if isinstance(event, StreamUsage):
            return self._stop(event.usage)
        return []

    def done(self) -> bytes:
        """Closing events when the stream ended without ``StreamUsage`` (else b"")."""
        if not self._started or self._stopped:
            return b""
        return b"".join(self._stop(None))

    def error(self, err: GatewayError) -> bytes:
        """A mid-stream ``error`` event; the Anthropic SDK raises on it."""
        self._stopped = True
        return _event(render_error(err))

    def _start(self, id_: str, model: str, usage: Usage | None) -> list[bytes]:
        if self._started:
            return []
        self._started = True
        self._start_usage = usage or Usage()
        message: dict[str, Any] = {
            "id": id_,
            "type": "message",
            "role": "assistant",
            "model": model or self._model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            # An OpenAI upstream reports usage only at the end: zeros until message_delta.
            "usage": usage_to_anthropic(self._start_usage),
        }
        return [_event({"type": "message_start", "message": message})]

    def _open_block(self, block: dict[str, Any], out: list[bytes], *, text: bool) -> int:
        out.extend(self._close())
        index = self._blocks
        self._blocks += 1
        self._open, self._open_is_text = index, text
        out.append(_event({"type": "content_block_start", "index": index, "content_block": block}))
        if index == 0:
            out.append(_PING)  # Anthropic pings after the first block starts
        return index

    def _close(self) -> list[bytes]:
        if self._open is None:
            return []
        index, self._open = self._open, None
        return [_event({"type": "content_block_stop", "index": index})]

    def _text(self, text: str) -> list[bytes]:
        out = self._start("", "", None)
        if self._open is not None and self._open_is_text:
            index = self._open
        else:
            index = self._open_block({"type": "text", "text": ""}, out, text=True)
        delta = {"type": "text_delta", "text": text}
        out.append(_event({"type": "content_block_delta", "index": index, "delta": delta}))
        return out

    def _tool(self, event: ToolCallDelta) -> list[bytes]:
        out = self._start("", "", None)
        index = self._tool_blocks.get(event.tool_index)
        if index is None:
            block = {
                "type": "tool_use",
                "id": event.id or f"toolu_{event.tool_index}",
                "name": event.name or "",
                "input": {},
            }
            index = self._open_block(block, out, text=False)
            self._tool_blocks[event.tool_index] = index
        # A late piece of an already-closed call (interleaved upstream calls) keeps its
        # block index; the SDK accumulates by index, so the call stays intact.
        if event.arguments:
            delta = {"type": "input_json_delta", "partial_json": event.arguments}
            out.append(_event({"type": "content_block_delta", "index": index, "delta": delta}))
        return out

    def _stop(self, usage: Usage | None) -> list[bytes]:
        out = self._start("", "", None)
        out.extend(self._close())
        final = usage or self._start_usage
        self._stopped = True
        delta = {"stop_reason": stop_reason_for(self._finish), "stop_sequence": None}
        # message_delta usage is cumulative (Anthropic added input/cache totals in 2025;
        # the SDK overrides message_start's values with them).
        delta_usage = {
            "input_tokens": final.input_tokens,
            "cache_creation_input_tokens": final.cache_write_tokens,
            "cache_read_input_tokens": final.cache_read_tokens,
            "output_tokens": final.output_tokens,
        }
        out.append(_event({"type": "message_delta", "delta": delta, "usage": delta_usage}))
        out.append(_event({"type": "message_stop"}))
        return out
