"""Upstream side of the OpenAI wire: canonical -> OpenAI request body, and OpenAI
responses / stream chunks -> canonical. Re-exported by ``openai_chat``.

"OpenAI protocol" upstreams include OpenAI-compatible servers (vLLM, Ollama, Azure,
DeepSeek...); their known deviations are handled where noted.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from tokenthrift.errors import ErrorKind, UpstreamError
from tokenthrift.types import (
    ChatRequest,
    ChatResponse,
    Choice,
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
    ToolCall,
    ToolCallDelta,
    Usage,
)
from tokenthrift.wire._fields import data_url, passthrough
from tokenthrift.wire._upstream_fields import malformed, up_dict, up_dicts, up_int, up_str
from tokenthrift.wire._usage import at_most, consistent, token_count, usage_object

_FINISH: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "content_filter": "content_filter",
    "function_call": "tool_calls",  # legacy functions API
}


def finish_from_openai(value: str | None) -> FinishReason | None:
    # Unknown reasons from compatible servers (e.g. vLLM "abort") read as a plain stop.
    return None if value is None else _FINISH.get(value, "stop")


# --------------------------------------------------------------------------- usage


def usage_from_openai(d: Any) -> Usage:
    """OpenAI usage -> canonical; ``prompt_tokens`` includes ``cached_tokens``.

    Raises ``InvalidUpstreamUsage`` for figures that cannot be billed.
    """
    d = usage_object(d, "usage")
    prompt = token_count(d, "prompt_tokens", "usage")
    details = usage_object(d.get("prompt_tokens_details"), "usage.prompt_tokens_details")
    if details.get("cached_tokens") is not None:
        cached = token_count(details, "cached_tokens", "usage.prompt_tokens_details")
    else:
        # DeepSeek's OpenAI-compatible API reports cache hits at the top level.
        cached = token_count(d, "prompt_cache_hit_tokens", "usage")
    at_most(cached, prompt, "cached tokens exceed prompt tokens")
    output = usage_object(d.get("completion_tokens_details"), "usage.completion_tokens_details")
    return consistent(
        Usage(
            input_tokens=prompt - cached,
            cache_read_tokens=cached,
            output_tokens=token_count(d, "completion_tokens", "usage"),
            reasoning_tokens=token_count(
                output, "reasoning_tokens", "usage.completion_tokens_details"
            ),
        )
    )


def usage_to_openai(u: Usage) -> dict[str, Any]:
    """Canonical -> OpenAI usage. OpenAI has no cache-write concept: writes count as
    ordinary prompt tokens, and only cache reads show as ``cached_tokens``."""
    prompt = u.total_input_tokens
    return {
        "prompt_tokens": prompt,
        "completion_tokens": u.output_tokens,
        "total_tokens": prompt + u.output_tokens,
        "prompt_tokens_details": {"cached_tokens": u.cache_read_tokens},
        "completion_tokens_details": {"reasoning_tokens": u.reasoning_tokens},
    }


# ------------------------------------------------------------------------- request


def build_upstream_request(request: ChatRequest, model: str) -> dict[str, Any]:
    """The body to POST to an OpenAI-protocol upstream's ``/chat/completions``."""
    same_wire = request.source_format == "openai"
    notes = request.wire_notes
    body: dict[str, Any] = {"model": model, "messages": _render_messages(request.messages)}
    if request.max_tokens is not None:
        legacy = same_wire and notes.legacy_max_tokens
        body["max_tokens" if legacy else "max_completion_tokens"] = request.max_tokens
    _put_sampling(request, body)
    _put_tools(request, body, notes.strict_tools if same_wire else ())
    _put_identity(request, body, same_wire)
    if request.stream:
        body["stream"] = True
        # Always ask for the final usage chunk: accounting needs it even when the client
        # did not ask (the client-side renderer strips it again).
        options = request.extra.get("stream_options") if same_wire else None
        body["stream_options"] = {**(options or {}), "include_usage": True}
    if same_wire:
        passthrough(request.extra, body)
    return body


def _put_sampling(request: ChatRequest, body: dict[str, Any]) -> None:
    for key, value in (
        ("temperature", request.temperature),
        ("top_p", request.top_p),
        ("seed", request.seed),
        ("response_format", request.response_format),
        ("prompt_cache_key", request.prompt_cache_key),
    ):
        if value is not None:
            body[key] = value
    if request.stop:
        body["stop"] = request.stop
    if request.n != 1:
        body["n"] = request.n
    if request.reasoning_effort is not None:
        body["reasoning_effort"] = request.reasoning_effort
    elif request.thinking_budget is not None:
        body["reasoning_effort"] = effort_for_budget(request.thinking_budget)


def effort_for_budget(budget: int) -> str:
    """Anthropic ``thinking.budget_tokens`` -> OpenAI ``reasoning_effort``.

    OpenAI publishes no token figures for effort levels, so this is a rough scale:
    below 4k tokens (Anthropic's minimum is 1024) -> low, below 16k -> medium, else high.
    """
    if budget < 4096:
        return "low"
    if budget < 16384:
        return "medium"
    return "high"


def _put_tools(request: ChatRequest, body: dict[str, Any], strict: Collection[str]) -> None:
    # OpenAI rejects tool_choice / parallel_tool_calls when no tools are given.
    if not request.tools:
        return
    tools = []
    for tool in request.tools:
        function: dict[str, Any] = {"name": tool.name}
        if tool.description is not None:
            function["description"] = tool.description
        function["parameters"] = tool.parameters
        if tool.name in strict:
            function["strict"] = True
        tools.append({"type": "function", "function": function})
    body["tools"] = tools
    choice = request.tool_choice
    if isinstance(choice, dict):
        body["tool_choice"] = {"type": "function", "function": {"name": choice["name"]}}
    elif choice is not None:
        body["tool_choice"] = choice
    if request.parallel_tool_calls is not None:
        body["parallel_tool_calls"] = request.parallel_tool_calls


def _put_identity(request: ChatRequest, body: dict[str, Any], same_wire: bool) -> None:
    meta = request.metadata
    user = meta.get("user") or meta.get("user_id")  # user_id: Anthropic metadata
    if isinstance(user, str):
        body["user"] = user
    if isinstance(meta.get("safety_identifier"), str):
        body["safety_identifier"] = meta["safety_identifier"]
    # OpenAI answers 400 "The 'metadata' parameter is only allowed when 'store' is
    # enabled", so client metadata is forwarded only alongside the client's store=true.
    if same_wire and request.extra.get("store") is True:
        rest = {
            k: v
            for k, v in meta.items()
            if k not in ("user", "user_id", "safety_identifier") and isinstance(v, str)
        }
        if rest:
            body["metadata"] = rest


def _render_messages(messages: list[Message]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    # OpenAI tool messages are text-only: images a tool returned (Anthropic tool_result
    # blocks may hold images) follow the run of tool messages as a user message.
    tool_images: list[ContentPart] = []
    for message in messages:
        if message.role == "tool":
            out.append(_tool_message(message, tool_images))
            continue
        if tool_images:
            out.append({"role": "user", "content": [_part(p) for p in tool_images]})
            tool_images = []
        out.append(_message(message))
    if tool_images:
        out.append({"role": "user", "content": [_part(p) for p in tool_images]})
    return out


def _message(message: Message) -> dict[str, Any]:
    out: dict[str, Any] = {"role": message.role}
    if message.role == "assistant":
        text = message.text
        out["content"] = None if not text and message.tool_calls else text
        if message.tool_calls:
            out["tool_calls"] = [tool_call_json(call) for call in message.tool_calls]
    else:
        out["content"] = _content(message.content)
    if message.name is not None:
        out["name"] = message.name
    return out


def _tool_message(message: Message, images: list[ContentPart]) -> dict[str, Any]:
    texts = [p for p in message.content if isinstance(p, TextPart)]
    if len(texts) != len(message.content):
        images.extend(p for p in message.content if isinstance(p, ImagePart))
    # OpenAI has no is_error flag; the result text is all the model sees.
    return {"role": "tool", "tool_call_id": message.tool_call_id or "", "content": _content(texts)}


def _content(parts: list[Any]) -> str | list[dict[str, Any]]:
    # A bare string is the form every OpenAI-compatible server accepts.
    if not parts:
        return ""
    if len(parts) == 1 and isinstance(parts[0], TextPart):
        return parts[0].text
    return [_part(p) for p in parts]


def _part(part: ContentPart) -> dict[str, Any]:
    # cache_control is dropped: OpenAI caches prefixes automatically.
    if isinstance(part, TextPart):
        return {"type": "text", "text": part.text}
    url = part.url if part.url is not None else data_url(part.media_type, part.data or "")
    image: dict[str, Any] = {"url": url}
    if part.detail is not None:
        image["detail"] = part.detail
    return {"type": "image_url", "image_url": image}


def tool_call_json(call: ToolCall) -> dict[str, Any]:
    return {
        "id": call.id,
        "type": "function",
        "function": {"name": call.name, "arguments": call.arguments},
    }


# ------------------------------------------------------------------------ response


def parse_upstream_response(body: dict[str, Any]) -> ChatResponse:
    """An upstream ``chat.completion`` -> ``ChatResponse``.

    Raises ``UpstreamError`` (502) for a reply of the wrong shape and
    ``InvalidUpstreamUsage`` for usage that cannot be billed (checked last, so the
    rest of the reply is known to be well formed).
    """
    choices = [_choice(raw, i) for i, raw in enumerate(up_dicts(body.get("choices"), "choices"))]
    extra = {k: body[k] for k in ("system_fingerprint", "service_tier") if body.get(k) is not None}
    mean = _mean_logprob(body.get("choices"))
    if mean is not None:  # routing's cascade judges an answer by it (never rendered)
        extra["mean_logprob"] = mean
    return ChatResponse(
        id=up_str(body.get("id"), "id"),
        model=up_str(body.get("model"), "model"),
        choices=choices,
        usage=usage_from_openai(body.get("usage")),
        created=up_int(body.get("created"), "created"),
        extra=extra,
    )


def _mean_logprob(choices: Any) -> float | None:
    """Mean token logprob of the first choice, when the upstream returned logprobs."""
    first = choices[0] if isinstance(choices, list) and choices else None
    logprobs = first.get("logprobs") if isinstance(first, dict) else None
    content = logprobs.get("content") if isinstance(logprobs, dict) else None
    if not isinstance(content, list) or not content:
        return None
    values = [t.get("logprob") for t in content if isinstance(t, dict)]
    numbers = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    return sum(numbers) / len(numbers) if numbers else None


def _choice(raw: dict[str, Any], position: int) -> Choice:
    where = f"choices[{position}]"
    message = up_dict(raw.get("message"), f"{where}.message")
    content = message.get("content")
    if isinstance(content, list):  # some compatible servers answer with parts
        parts = up_dicts(content, f"{where}.message.content")
        text = "".join(up_str(p.get("text"), f"{where}.message.content[].text") for p in parts)
    else:
        text = up_str(content, f"{where}.message.content")
    # A structured-outputs refusal comes in ``refusal`` with null content.
    text = text or up_str(message.get("refusal"), f"{where}.message.refusal")
    calls = [
        _tool_call(call, f"{where}.message.tool_calls[{i}]")
        for i, call in enumerate(up_dicts(message.get("tool_calls"), f"{where}.message.tool_calls"))
    ]
    return Choice(
        index=_index(raw.get("index"), f"{where}.index", position),
        message=Message(
            role="assistant", content=[TextPart(text)] if text else [], tool_calls=calls
        ),
        finish_reason=finish_from_openai(up_str(raw.get("finish_reason"), "finish_reason") or None),
    )


def _tool_call(call: dict[str, Any], where: str) -> ToolCall:
    function = up_dict(call.get("function"), f"{where}.function")
    return ToolCall(
        id=up_str(call.get("id"), f"{where}.id"),
        name=up_str(function.get("name"), f"{where}.function.name"),
        arguments=up_str(function.get("arguments"), f"{where}.function.arguments"),
    )


def _index(value: Any, where: str, default: int) -> int:
    index = up_int(value, where, default)
    if index < 0:
        raise malformed(f"{where} is negative")
    return index


# -------------------------------------------------------------------------- stream


class UpstreamStreamParser:
    """Decoded ``chat.completion.chunk`` JSON objects -> canonical stream events."""

    def __init__(self) -> None:
        self._started = False
        self._usage_sent = False
        self._seen: set[int] = set()
        self._finished: set[int] = set()
        self._call_ids: dict[int, list[str]] = {}

    def feed(self, data: dict[str, Any]) -> list[StreamEvent]:
        if data.get("error") is not None:
            raise stream_error(data["error"])
        choices = up_dicts(data.get("choices"), "chunk.choices")
        usage = data.get("usage")
        # Azure opens with a chunk holding only prompt_filter_results (empty id/model).
        if not choices and not usage:
            return []
        events: list[StreamEvent] = []
        if not self._started:
            self._started = True
            events.append(
                StreamStart(
                    up_str(data.get("id"), "chunk.id"),
                    up_str(data.get("model"), "chunk.model"),
                    up_int(data.get("created"), "chunk.created"),
                )
            )
        for choice in choices:
            self._choice(choice, events)
        # OpenAI sends usage on a final chunk with no choices; some compatible servers
        # put it on the finish chunk, and vLLM's continuous_usage_stats on every chunk.
        # Emit it once, when every choice has finished (its values are then final).
        if usage and not self._usage_sent and (not choices or self._seen <= self._finished):
            self._usage_sent = True
            events.append(StreamUsage(usage_from_openai(usage)))
        return events

    def _choice(self, choice: dict[str, Any], events: list[StreamEvent]) -> None:
        index = _index(choice.get("index"), "chunk.choices[].index", 0)
        self._seen.add(index)
        delta = up_dict(choice.get("delta"), "chunk.choices[].delta")
        for key in ("content", "refusal"):
            text = up_str(delta.get(key), f"chunk.choices[].delta.{key}")
            if text:
                events.append(TextDelta(text, index))
        for call in up_dicts(delta.get("tool_calls"), "chunk.choices[].delta.tool_calls"):
            function = up_dict(call.get("function"), "chunk.choices[].delta.tool_calls[].function")
            events.append(
                ToolCallDelta(
                    tool_index=self._tool_index(index, call),
                    arguments=up_str(function.get("arguments"), "tool_calls[].function.arguments"),
                    id=up_str(call.get("id"), "tool_calls[].id") or None,
                    name=up_str(function.get("name"), "tool_calls[].function.name") or None,
                    index=index,
                )
            )
        finish = up_str(choice.get("finish_reason"), "chunk.choices[].finish_reason")
        if finish:
            self._finished.add(index)
            events.append(StreamFinish(finish_from_openai(finish), index))

    def _tool_index(self, index: int, call: dict[str, Any]) -> int:
        if call.get("index") is not None:
            return _index(call["index"], "chunk.choices[].delta.tool_calls[].index", 0)
        # Some OpenAI-compatible servers omit the tool-call index; number calls by id.
        ids = self._call_ids.setdefault(index, [])
        call_id = up_str(call.get("id"), "chunk.choices[].delta.tool_calls[].id")
        if call_id and call_id not in ids:
            ids.append(call_id)
        return max(len(ids) - 1, 0)


_STREAM_ERRORS: dict[str, tuple[int, ErrorKind]] = {
    "invalid_request_error": (400, "invalid_request"),
    "rate_limit_error": (429, "rate_limit"),
    "tokens": (429, "rate_limit"),
    "requests": (429, "rate_limit"),
}


def stream_error(error: Any) -> UpstreamError:
    """An ``{"error": {...}}`` chunk in an OpenAI stream -> ``UpstreamError``."""
    error = error if isinstance(error, dict) else {"message": str(error)}
    status, kind = _STREAM_ERRORS.get(str(error.get("type")), (500, "upstream"))
    return UpstreamError(
        str(error.get("message") or "upstream stream error"),
        status=status,
        kind=kind,
        code=error.get("code"),
        body={"error": error},
    )
