"""OpenAI Chat Completions wire format (``POST /v1/chat/completions``).

Client side: request JSON -> ``ChatRequest``; ``ChatResponse`` / stream events /
``GatewayError`` -> OpenAI JSON and ``chat.completion.chunk`` SSE. The upstream side
(``ChatRequest`` -> upstream body, upstream JSON/chunks -> canonical) lives in
``_openai_upstream`` and is re-exported here, so callers import one module per wire.

Usage semantics: OpenAI ``prompt_tokens`` *includes* ``cached_tokens``; canonical
``Usage.input_tokens`` is uncached only, so the split happens in
``usage_from_openai``/``usage_to_openai`` and nowhere else.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from tokenthrift.errors import GatewayError, InvalidRequest
from tokenthrift.types import (
    ChatRequest,
    ChatResponse,
    ContentPart,
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
)
from tokenthrift.wire import sse
from tokenthrift.wire._fields import (
    cache_ttl,
    client_extra,
    compact_json,
    opt_bool,
    opt_dict,
    opt_int,
    opt_number,
    opt_str,
    require_dict,
    require_list,
    require_str,
    split_data_url,
    str_list,
)
from tokenthrift.wire._openai_upstream import (
    UpstreamStreamParser,
    build_upstream_request,
    parse_upstream_response,
    tool_call_json,
    usage_from_openai,
    usage_to_openai,
)

__all__ = [
    "StreamRenderer",
    "UpstreamStreamParser",
    "build_upstream_request",
    "parse_request",
    "parse_upstream_response",
    "render_error",
    "render_response",
    "usage_from_openai",
    "usage_to_openai",
]

# "developer" is OpenAI's newer name for "system" (o1 and later treat a system message
# as a developer message), so both become canonical "system".
_ROLES: dict[str, Any] = {
    "system": "system",
    "developer": "system",
    "user": "user",
    "assistant": "assistant",
    "tool": "tool",
}
_TOOL_CHOICES = ("auto", "none", "required")
# Body keys with a canonical field; everything else is kept verbatim in ``extra``.
_CANONICAL_KEYS = frozenset(
    {
        "model", "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p",
        "stop", "seed", "n", "stream", "stream_options", "tools", "tool_choice",
        "parallel_tool_calls", "response_format", "reasoning_effort", "prompt_cache_key",
        "metadata", "user", "safety_identifier",
    }
)  # fmt: skip


# --------------------------------------------------------------------------- request


def parse_request(body: dict[str, Any]) -> ChatRequest:
    """Validate an OpenAI chat request body and translate it to a ``ChatRequest``."""
    body = require_dict(body, "body")
    request = ChatRequest(
        model=require_str(body.get("model"), "model", nonempty=True),
        messages=_parse_messages(body.get("messages")),
        source_format="openai",
    )
    request.extra = client_extra(body, _CANONICAL_KEYS)
    _parse_sampling(body, request)
    _parse_tooling(body, request)
    request.response_format = opt_dict(body, "response_format")
    request.reasoning_effort = opt_str(body, "reasoning_effort")
    request.prompt_cache_key = opt_str(body, "prompt_cache_key")
    request.metadata = _parse_metadata(body)
    return request


def _parse_sampling(body: dict[str, Any], request: ChatRequest) -> None:
    max_completion = opt_int(body, "max_completion_tokens", minimum=1)
    max_tokens = opt_int(body, "max_tokens", minimum=1)
    # max_completion_tokens supersedes the deprecated max_tokens (which reasoning models
    # reject); remember which one the client used so OpenAI-compatible upstreams that
    # only know max_tokens keep working in pass-through.
    request.max_tokens = max_completion if max_completion is not None else max_tokens
    request.wire_notes.legacy_max_tokens = max_completion is None and max_tokens is not None
    request.temperature = opt_number(body, "temperature", 0, 2)
    request.top_p = opt_number(body, "top_p", 0, 1)
    request.stop = str_list(body.get("stop"), "stop")
    request.seed = opt_int(body, "seed")
    request.n = opt_int(body, "n", minimum=1) or 1
    request.stream = bool(opt_bool(body, "stream"))
    options = opt_dict(body, "stream_options")
    if options:
        request.include_usage = bool(
            opt_bool(options, "include_usage", "stream_options.include_usage")
        )
        rest = {k: v for k, v in options.items() if k != "include_usage"}
        if rest:  # e.g. include_obfuscation: pass-through only
            request.extra["stream_options"] = rest


def _parse_tooling(body: dict[str, Any], request: ChatRequest) -> None:
    if body.get("tools") is not None:
        # Tool has no ``strict``; the note keeps it for OpenAI pass-through.
        strict = request.wire_notes.strict_tools
        request.tools = [
            _parse_tool(raw, f"tools[{i}]", strict)
            for i, raw in enumerate(require_list(body["tools"], "tools"))
        ]
    request.tool_choice = _parse_tool_choice(body.get("tool_choice"))
    request.parallel_tool_calls = opt_bool(body, "parallel_tool_calls")


def _parse_metadata(body: dict[str, Any]) -> dict[str, Any]:
    metadata = dict(opt_dict(body, "metadata") or {})
    # The end-user ids drive attribution, so they live in canonical metadata.
    for key in ("user", "safety_identifier"):
        value = opt_str(body, key)
        if value is not None:
            metadata[key] = value
    return metadata


def _parse_messages(value: Any) -> list[Message]:
    items = require_list(value, "messages", nonempty=True)
    return [_parse_message(raw, f"messages[{i}]") for i, raw in enumerate(items)]


def _parse_message(raw: Any, param: str) -> Message:
    raw = require_dict(raw, param)
    role = raw.get("role")
    canonical = _ROLES.get(role) if isinstance(role, str) else None
    if canonical is None:
        raise InvalidRequest(
            f"Invalid value for '{param}.role': {role!r}. Supported values are: "
            "'system', 'developer', 'user', 'assistant' and 'tool'.",
            param=f"{param}.role",
        )
    if raw.get("function_call") is not None:
        raise InvalidRequest(
            "'function_call' messages are deprecated and not supported; use 'tool_calls'.",
            param=f"{param}.function_call",
        )
    # Assistant content may be null when the turn only holds tool calls.
    content = raw.get("content")
    if content is None and canonical != "assistant":
        raise InvalidRequest(
            f"Missing required parameter: '{param}.content'.", param=f"{param}.content"
        )
    message = Message(role=canonical, content=_parse_content(content, f"{param}.content"))
    if raw.get("name") is not None:
        message.name = require_str(raw["name"], f"{param}.name")
    if canonical == "assistant" and raw.get("tool_calls") is not None:
        message.tool_calls = _parse_tool_calls(raw["tool_calls"], f"{param}.tool_calls")
    elif canonical == "tool":
        message.tool_call_id = require_str(raw.get("tool_call_id"), f"{param}.tool_call_id")
    return message


def _parse_content(value: Any, param: str) -> list[ContentPart]:
    if value is None:
        return []
    if isinstance(value, str):
        return [TextPart(value)]
    parts = require_list(value, param)
    return [_parse_part(part, f"{param}[{i}]") for i, part in enumerate(parts)]


def _parse_part(raw: Any, param: str) -> ContentPart:
    raw = require_dict(raw, param)
    kind = raw.get("type")
    # cache_control on OpenAI-format parts is the OpenRouter/LiteLLM convention for
    # Anthropic prompt-caching breakpoints; honour it, the OpenAI upstream drops it.
    ttl = cache_ttl(raw.get("cache_control"), f"{param}.cache_control")
    if kind == "text":
        return TextPart(require_str(raw.get("text"), f"{param}.text"), cache_control=ttl)
    if kind == "refusal":  # an earlier assistant refusal replayed as history
        return TextPart(require_str(raw.get("refusal"), f"{param}.refusal"))
    if kind == "image_url":
        return _parse_image(raw.get("image_url"), f"{param}.image_url", ttl)
    raise InvalidRequest(
        f"Unsupported content part type {kind!r}; supported: 'text', 'image_url'.",
        param=f"{param}.type",
    )


def _parse_image(value: Any, param: str, ttl: Any) -> ImagePart:
    # Some clients send image_url as a bare string rather than {"url": ...}.
    spec = {"url": value} if isinstance(value, str) else require_dict(value, param)
    url = require_str(spec.get("url"), f"{param}.url", nonempty=True)
    detail = opt_str(spec, "detail", f"{param}.detail")
    inline = split_data_url(url)
    if inline is not None:
        return ImagePart(data=inline[1], media_type=inline[0], detail=detail, cache_control=ttl)
    return ImagePart(url=url, detail=detail, cache_control=ttl)


def _parse_tool_calls(value: Any, param: str) -> list[ToolCall]:
    calls = []
    for i, raw in enumerate(require_list(value, param)):
        item = f"{param}[{i}]"
        raw = require_dict(raw, item)
        function = require_dict(raw.get("function"), f"{item}.function")
        arguments = function.get("arguments", "")
        if isinstance(arguments, dict):  # lenient: some clients send parsed arguments
            arguments = compact_json(arguments)
        calls.append(
            ToolCall(
                id=require_str(raw.get("id"), f"{item}.id"),
                name=require_str(function.get("name"), f"{item}.function.name", nonempty=True),
                arguments=require_str(arguments, f"{item}.function.arguments"),
            )
        )
    return calls


def _parse_tool(raw: Any, param: str, strict: list[str]) -> Tool:
    raw = require_dict(raw, param)
    if raw.get("type", "function") != "function":
        raise InvalidRequest(
            f"Unsupported tool type {raw.get('type')!r}; only 'function' tools are supported.",
            param=f"{param}.type",
        )
    function = require_dict(raw.get("function"), f"{param}.function")
    tool = Tool(name=require_str(function.get("name"), f"{param}.function.name", nonempty=True))
    tool.description = opt_str(function, "description", f"{param}.function.description")
    if function.get("parameters") is not None:
        tool.parameters = require_dict(function["parameters"], f"{param}.function.parameters")
    tool.cache_control = cache_ttl(raw.get("cache_control"), f"{param}.cache_control")
    if function.get("strict") is True:
        strict.append(tool.name)
    return tool


def _parse_tool_choice(value: Any) -> str | dict[str, Any] | None:
    if value is None:
        return None
    if isinstance(value, str):
        if value in _TOOL_CHOICES:
            return value
        raise InvalidRequest(
            f"Invalid value for 'tool_choice': {value!r}; expected 'auto', 'none', "
            "'required' or a function object.",
            param="tool_choice",
        )
    choice = require_dict(value, "tool_choice")
    if choice.get("type") != "function":
        raise InvalidRequest(
            f"Unsupported tool_choice type {choice.get('type')!r}; expected 'function'.",
            param="tool_choice.type",
        )
    function = require_dict(choice.get("function"), "tool_choice.function")
    return {"name": require_str(function.get("name"), "tool_choice.function.name", nonempty=True)}


# -------------------------------------------------------------------------- response


def render_response(resp: ChatResponse, request: ChatRequest) -> dict[str, Any]:
    """A ``chat.completion`` object. ``request`` is accepted for symmetry (unused)."""
    body: dict[str, Any] = {
        "id": resp.id,
        "object": "chat.completion",
        "created": resp.created or int(time.time()),
        "model": resp.model,
        "choices": [
            {
                "index": choice.index,
                "message": _render_message(choice.message),
                "logprobs": None,
                "finish_reason": choice.finish_reason or "stop",
            }
            for choice in resp.choices
        ],
        "usage": usage_to_openai(resp.usage),
    }
    # Only OpenAI's own response fields; an Anthropic upstream's extras mean nothing here.
    for key in ("system_fingerprint", "service_tier"):
        if resp.extra.get(key) is not None:
            body[key] = resp.extra[key]
    return body


def _render_message(message: Message) -> dict[str, Any]:
    text = message.text
    out: dict[str, Any] = {
        "role": "assistant",
        # OpenAI sends null content on a tool-calls-only turn.
        "content": None if not text and message.tool_calls else text,
        "refusal": None,
    }
    if message.tool_calls:
        out["tool_calls"] = [tool_call_json(call) for call in message.tool_calls]
    return out


# ---------------------------------------------------------------------------- stream


class StreamRenderer:
    """Canonical stream events -> ``data: {chat.completion.chunk}`` SSE lines."""

    def __init__(self, request: ChatRequest) -> None:
        self._n = request.n
        self._include_usage = request.include_usage
        self._base: dict[str, Any] = {
            "id": "",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": request.model,
        }
        self._opened: set[int] = set()
        self._tool_calls: set[tuple[int, int]] = set()

    def render(self, event: StreamEvent) -> list[bytes]:
        if isinstance(event, TextDelta):
            if not event.text:
                return []
            return self._delta(event.index, {"content": event.text})
        if isinstance(event, ToolCallDelta):
            return self._delta(event.index, {"tool_calls": [self._tool_call(event)]})
        if isinstance(event, StreamFinish):
            finish = event.finish_reason or "stop"
            return self._delta(event.index, {}, finish)
        if isinstance(event, StreamStart):
            return self._start(event)
        if isinstance(event, StreamUsage) and self._include_usage:
            # The gateway always asks upstream for usage (for accounting); the client
            # only sees it when it set stream_options.include_usage, as with OpenAI.
            return [
                self._encode({**self._base, "choices": [], "usage": usage_to_openai(event.usage)})
            ]
        return []

    def done(self) -> bytes:
        return b"data: [DONE]\n\n"

    def error(self, err: GatewayError) -> bytes:
        """A mid-stream error; the OpenAI SDK raises on a chunk carrying ``error``."""
        return sse.encode(orjson.dumps(render_error(err)))

    def _start(self, event: StreamStart) -> list[bytes]:
        self._base["id"] = event.id
        self._base["model"] = event.model or self._base["model"]
        if event.created:
            self._base["created"] = event.created
        return [chunk for index in range(self._n) for chunk in self._open(index)]

    def _open(self, index: int) -> list[bytes]:
        # The first chunk of each choice announces the role, as OpenAI's does.
        self._opened.add(index)
        return [self._chunk(index, {"role": "assistant", "content": ""}, None)]

    def _delta(self, index: int, delta: dict[str, Any], finish: str | None = None) -> list[bytes]:
        if index in self._opened:
            return [self._chunk(index, delta, finish)]
        return [*self._open(index), self._chunk(index, delta, finish)]

    def _tool_call(self, event: ToolCallDelta) -> dict[str, Any]:
        key = (event.index, event.tool_index)
        if key in self._tool_calls:
            return {"index": event.tool_index, "function": {"arguments": event.arguments}}
        self._tool_calls.add(key)
        return {
            "index": event.tool_index,
            "id": event.id or f"call_{event.index}_{event.tool_index}",
            "type": "function",
            "function": {"name": event.name or "", "arguments": event.arguments},
        }

    def _chunk(self, index: int, delta: dict[str, Any], finish: str | None) -> bytes:
        choice = {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}
        chunk = {**self._base, "choices": [choice]}
        if self._include_usage:  # OpenAI sends usage: null on every other chunk
            chunk["usage"] = None
        return self._encode(chunk)

    @staticmethod
    def _encode(chunk: dict[str, Any]) -> bytes:
        return b"data: " + orjson.dumps(chunk) + b"\n\n"


# ---------------------------------------------------------------------------- errors


def render_error(err: GatewayError) -> dict[str, Any]:
    """``{"error": {...}}`` as OpenAI sends it; the status is ``err.status``."""
    code = err.code
    if code is None and err.status == 429:
        code = "rate_limit_exceeded"
    return {
        "error": {
            "message": err.message,
            "type": _error_type(err.status),
            "param": err.param,
            "code": code,
        }
    }


def _error_type(status: int) -> str:
    # OpenAI reports 404 (unknown model) and 413 as invalid_request_error too.
    if status == 401:
        return "authentication_error"
    if status == 403:
        return "permission_error"
    if status == 429:
        return "rate_limit_error"
    if status >= 500:
        return "server_error"
    return "invalid_request_error"
