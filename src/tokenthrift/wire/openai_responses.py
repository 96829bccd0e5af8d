"""OpenAI Responses API wire format (``POST /v1/responses``).

Client side: request JSON -> ``ResponsesRequest`` (a canonical ``ChatRequest`` plus the
Responses fields echoed back or acted on by the server: ``previous_response_id``,
``store``, ``instructions``…); ``ChatResponse`` -> a ``response`` object. The typed SSE
stream is rendered by ``_responses_stream.ResponsesStreamRenderer`` (re-exported).

Any configured model answers: the request becomes an ordinary canonical chat request
(instructions -> system message, input items -> messages, flat function tools -> tools,
``text.format`` -> ``response_format``, ``max_output_tokens`` -> ``max_tokens``,
``reasoning.effort`` -> ``reasoning_effort``), so every lever and the accounting apply
exactly as for chat, and a Claude model can answer a Responses request. Levers decide on
that canonical form; an OpenAI-protocol upstream that speaks this API is then sent the
client's own body (``_responses_upstream``), the others the canonical request.

Usage semantics (API reference, "usage"): ``input_tokens`` *includes*
``input_tokens_details.cached_tokens`` and ``output_tokens`` includes
``output_tokens_details.reasoning_tokens``, as chat's prompt/completion tokens do; the
split to canonical (uncached) input happens in ``usage_from_responses``/
``usage_to_responses`` and nowhere else.

Conversation state: the server keeps each stored response's ``items`` (the context it
was answered from, then its output, as Responses input items) so that a request naming
``previous_response_id`` continues from them; instructions are not carried over, as
the API documents.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from tokenthrift.errors import InvalidRequest
from tokenthrift.types import (
    ChatRequest,
    ChatResponse,
    ContentPart,
    FinishReason,
    ImagePart,
    Message,
    TextPart,
    Tool,
    ToolCall,
    Usage,
)
from tokenthrift.wire._fields import (
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
)
from tokenthrift.wire._responses_items import with_ids
from tokenthrift.wire._usage import at_most, consistent, token_count, usage_object

# Body keys whose meaning this gateway cannot honour: refused rather than ignored, since
# the answer would silently differ from what was asked. Other keys it does not act on
# (include, truncation, service_tier, stream_options…) are accepted and ignored.
_UNSUPPORTED = {
    "conversation": "conversations are not supported; use previous_response_id",
    "prompt": "stored prompt templates are not supported; send instructions and input",
}
_ROLES: dict[str, Any] = {
    "user": "user",
    "system": "system",
    "developer": "system",
    "assistant": "assistant",
}
_TEXT_PARTS = ("input_text", "output_text", "text")
_TOOL_CHOICES = ("auto", "none", "required")


@dataclass(slots=True)
class ResponsesRequest:
    """A Responses API request: the canonical request plus what the server acts on."""

    chat: ChatRequest
    # This request's input, as a list of items (a string input becomes one user message).
    input_items: list[dict[str, Any]]
    instructions: str | None = None
    previous_response_id: str | None = None
    # The API's default is to store responses.
    store: bool = True
    text_format: dict[str, Any] = field(default_factory=lambda: {"type": "text"})
    tools: list[dict[str, Any]] = field(default_factory=list)
    tool_choice: Any = "auto"
    reasoning: dict[str, Any] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    max_output_tokens: int | None = None
    background: bool = False
    # The body as the client sent it: what is forwarded to an upstream speaking the API.
    body: dict[str, Any] = field(default_factory=dict)

    def with_history(self, history: list[dict[str, Any]]) -> None:
        """Prefix the stored conversation of ``previous_response_id`` to the messages."""
        messages = items_to_messages([*history, *self.input_items], "input")
        system = [Message("system", [TextPart(self.instructions)])] if self.instructions else []
        self.chat.messages = system + messages


def parse_request(body: dict[str, Any]) -> ResponsesRequest:
    """Validate a Responses request body and translate it to canonical form."""
    body = require_dict(body, "body")
    client_extra(body, frozenset())  # refuses reserved ("_"-prefixed) keys
    for key, why in _UNSUPPORTED.items():
        if body.get(key) is not None:
            raise InvalidRequest(f"'{key}': {why} by this gateway.", param=key)
    items = _input_items(body.get("input"))
    chat = ChatRequest(model=require_str(body.get("model"), "model", nonempty=True),
                       messages=[], source_format="openai")
    parsed = ResponsesRequest(chat=chat, input_items=items,
                              instructions=opt_str(body, "instructions"),
                              previous_response_id=opt_str(body, "previous_response_id"),
                              body=body)
    store = opt_bool(body, "store")
    parsed.store = True if store is None else store
    parsed.background = bool(opt_bool(body, "background"))
    if parsed.background:
        raise InvalidRequest("background responses are not supported by this gateway.",
                             param="background")
    _parse_sampling(body, parsed)
    _parse_tools(body, parsed)
    _parse_text(body, parsed)
    _parse_identity(body, parsed)
    parsed.with_history([])
    if not chat.messages:
        raise InvalidRequest("Missing required parameter: 'input'.", param="input")
    return parsed


def _parse_sampling(body: dict[str, Any], parsed: ResponsesRequest) -> None:
    chat = parsed.chat
    parsed.max_output_tokens = opt_int(body, "max_output_tokens", minimum=1)
    chat.max_tokens = parsed.max_output_tokens
    chat.temperature = opt_number(body, "temperature", 0, 2)
    chat.top_p = opt_number(body, "top_p", 0, 1)
    chat.stream = bool(opt_bool(body, "stream"))
    # The gateway always counts usage; Responses streams always report it at the end.
    chat.include_usage = True
    reasoning = opt_dict(body, "reasoning")
    if reasoning is not None:
        parsed.reasoning = reasoning
        chat.reasoning_effort = opt_str(reasoning, "effort", "reasoning.effort")
    chat.prompt_cache_key = opt_str(body, "prompt_cache_key")
    chat.parallel_tool_calls = opt_bool(body, "parallel_tool_calls")


def _parse_tools(body: dict[str, Any], parsed: ResponsesRequest) -> None:
    chat = parsed.chat
    raw_tools = body.get("tools")
    if raw_tools is not None:
        for i, raw in enumerate(require_list(raw_tools, "tools")):
            param = f"tools[{i}]"
            raw = require_dict(raw, param)
            if raw.get("type") != "function":
                raise InvalidRequest(
                    f"Unsupported tool type {raw.get('type')!r}; this gateway runs only "
                    "'function' tools (hosted tools such as web_search run at OpenAI).",
                    param=f"{param}.type")
            tool = Tool(name=require_str(raw.get("name"), f"{param}.name", nonempty=True))
            tool.description = opt_str(raw, "description", f"{param}.description")
            if raw.get("parameters") is not None:
                tool.parameters = require_dict(raw["parameters"], f"{param}.parameters")
            # Responses function tools are strict unless told otherwise (API reference).
            if raw.get("strict", True) is True:
                chat.wire_notes.strict_tools.append(tool.name)
            chat.tools.append(tool)
            parsed.tools.append({"type": "function", "name": tool.name,
                                 "description": tool.description,
                                 "parameters": tool.parameters,
                                 "strict": raw.get("strict", True) is True})
    choice = body.get("tool_choice")
    if choice is None:
        return
    parsed.tool_choice = choice
    if isinstance(choice, str) and choice in _TOOL_CHOICES:
        chat.tool_choice = choice
        return
    spec = require_dict(choice, "tool_choice") if not isinstance(choice, str) else None
    if spec is None or spec.get("type") != "function":
        raise InvalidRequest("Invalid value for 'tool_choice': expected 'auto', 'none', "
                             "'required' or {\"type\": \"function\", \"name\": ...}.",
                             param="tool_choice")
    chat.tool_choice = {"name": require_str(spec.get("name"), "tool_choice.name",
                                            nonempty=True)}


def _parse_text(body: dict[str, Any], parsed: ResponsesRequest) -> None:
    text = opt_dict(body, "text")
    fmt = opt_dict(text, "format", "text.format") if text else None
    if fmt is None:
        return
    kind = fmt.get("type")
    if kind == "text":
        return
    if kind == "json_object":
        parsed.chat.response_format = {"type": "json_object"}
    elif kind == "json_schema":
        schema = require_dict(fmt.get("schema"), "text.format.schema")
        name = require_str(fmt.get("name"), "text.format.name", nonempty=True)
        spec: dict[str, Any] = {"name": name, "schema": schema}
        if fmt.get("strict") is not None:
            spec["strict"] = bool(opt_bool(fmt, "strict", "text.format.strict"))
        if fmt.get("description") is not None:
            spec["description"] = opt_str(fmt, "description", "text.format.description")
        parsed.chat.response_format = {"type": "json_schema", "json_schema": spec}
    else:
        raise InvalidRequest(f"Invalid value for 'text.format.type': {kind!r}; expected "
                             "'text', 'json_object' or 'json_schema'.", param="text.format.type")
    parsed.text_format = fmt


def _parse_identity(body: dict[str, Any], parsed: ResponsesRequest) -> None:
    metadata = dict(opt_dict(body, "metadata") or {})
    parsed.metadata = dict(metadata)
    for key in ("user", "safety_identifier"):
        value = opt_str(body, key)
        if value is not None:
            metadata[key] = value
    parsed.chat.metadata = metadata


# ------------------------------------------------------------------------- input items


def _input_items(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, str):
        return [{"type": "message", "role": "user", "content": value}]
    items = require_list(value, "input", nonempty=True)
    return [require_dict(item, f"input[{i}]") for i, item in enumerate(items)]


def items_to_messages(items: list[dict[str, Any]], param: str) -> list[Message]:
    """Responses input items (messages, function calls and their outputs) -> messages.

    Consecutive function calls join the assistant turn before them, as chat's
    ``tool_calls`` do; reasoning items are dropped (encrypted, provider-specific).
    """
    out: list[Message] = []
    for i, item in enumerate(items):
        where = f"{param}[{i}]"
        kind = item.get("type", "message")
        if kind == "message":
            out.append(_message(item, where))
        elif kind == "function_call":
            call = ToolCall(
                id=require_str(item.get("call_id"), f"{where}.call_id", nonempty=True),
                name=require_str(item.get("name"), f"{where}.name", nonempty=True),
                arguments=_arguments(item.get("arguments"), f"{where}.arguments"),
            )
            if out and out[-1].role == "assistant":
                out[-1].tool_calls.append(call)
            else:
                out.append(Message("assistant", tool_calls=[call]))
        elif kind == "function_call_output":
            out.append(Message(
                "tool", _content(item.get("output"), f"{where}.output"),
                tool_call_id=require_str(item.get("call_id"), f"{where}.call_id", nonempty=True),
            ))
        elif kind != "reasoning":
            raise InvalidRequest(
                f"Unsupported input item type {kind!r}; supported: 'message', "
                "'function_call', 'function_call_output' (and 'reasoning', ignored).",
                param=f"{where}.type")
    return out


def _message(item: dict[str, Any], where: str) -> Message:
    role = item.get("role")
    canonical = _ROLES.get(role) if isinstance(role, str) else None
    if canonical is None:
        raise InvalidRequest(f"Invalid value for '{where}.role': {role!r}. Supported values "
                             "are: 'user', 'system', 'developer' and 'assistant'.",
                             param=f"{where}.role")
    return Message(canonical, _content(item.get("content"), f"{where}.content"))


def _content(value: Any, param: str) -> list[ContentPart]:
    if isinstance(value, str):
        return [TextPart(value)]
    parts: list[ContentPart] = []
    for i, raw in enumerate(require_list(value, param)):
        where = f"{param}[{i}]"
        raw = require_dict(raw, where)
        kind = raw.get("type")
        if kind in _TEXT_PARTS:
            parts.append(TextPart(require_str(raw.get("text"), f"{where}.text")))
        elif kind == "refusal":
            parts.append(TextPart(require_str(raw.get("refusal"), f"{where}.refusal")))
        elif kind == "input_image":
            parts.append(_image(raw, where))
        else:
            raise InvalidRequest(f"Unsupported content type {kind!r}; supported: "
                                 "'input_text', 'output_text', 'input_image'.",
                                 param=f"{where}.type")
    return parts


def _image(raw: dict[str, Any], where: str) -> ImagePart:
    url = raw.get("image_url")
    if url is None:
        raise InvalidRequest("input_image needs an 'image_url' (file ids are not supported "
                             "by this gateway).", param=f"{where}.image_url")
    url = require_str(url, f"{where}.image_url", nonempty=True)
    detail = opt_str(raw, "detail", f"{where}.detail")
    inline = split_data_url(url)
    if inline is not None:
        return ImagePart(data=inline[1], media_type=inline[0], detail=detail)
    return ImagePart(url=url, detail=detail)


def _arguments(value: Any, param: str) -> str:
    if isinstance(value, dict):  # lenient: parsed arguments
        return compact_json(value)
    return require_str(value, param)


# --------------------------------------------------------------------------- response


def item_ids(response_id: str) -> tuple[str, str]:
    """The message item id and the function-call item id prefix of a response."""
    suffix = response_id.removeprefix("resp_")
    return f"msg_{suffix}", f"fc_{suffix}"


def status_of(finish: FinishReason | None) -> tuple[str, dict[str, str] | None]:
    """Response ``status`` and ``incomplete_details`` for a canonical finish reason."""
    if finish == "length":
        return "incomplete", {"reason": "max_output_tokens"}
    if finish == "content_filter":
        return "incomplete", {"reason": "content_filter"}
    return "completed", None


def output_items(message: Message, response_id: str) -> list[dict[str, Any]]:
    """The ``output`` array: the assistant message (if it said anything), then its calls."""
    message_id, call_prefix = item_ids(response_id)
    out: list[dict[str, Any]] = []
    if message.text or not message.tool_calls:
        out.append(message_item(message_id, message.text, "completed"))
    out.extend(function_call_item(f"{call_prefix}{i}", call.id, call.name, call.arguments,
                                  "completed")
               for i, call in enumerate(message.tool_calls))
    return out


def message_item(item_id: str, text: str, status: str) -> dict[str, Any]:
    content = [output_text_part(text)] if status == "completed" else []
    return {"type": "message", "id": item_id, "status": status, "role": "assistant",
            "content": content}


def output_text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def function_call_item(item_id: str, call_id: str, name: str, arguments: str,
                       status: str) -> dict[str, Any]:
    return {"type": "function_call", "id": item_id, "call_id": call_id, "name": name,
            "arguments": arguments, "status": status}


def response_object(parsed: ResponsesRequest, response_id: str, *, model: str,
                    created_at: int | None = None, status: str = "completed",
                    output: list[dict[str, Any]] | None = None, usage: Usage | None = None,
                    incomplete: dict[str, str] | None = None) -> dict[str, Any]:
    """A ``response`` object; ``usage`` None while it is in progress."""
    chat = parsed.chat
    reasoning = {"effort": chat.reasoning_effort,
                 "summary": (parsed.reasoning or {}).get("summary")}
    return {
        "id": response_id,
        "object": "response",
        "created_at": created_at or int(time.time()),
        "status": status,
        "background": False,
        "error": None,
        "incomplete_details": incomplete,
        "instructions": parsed.instructions,
        "max_output_tokens": parsed.max_output_tokens,
        "model": model,
        "output": output or [],
        "parallel_tool_calls": chat.parallel_tool_calls is not False,
        "previous_response_id": parsed.previous_response_id,
        "reasoning": reasoning,
        "store": parsed.store,
        "temperature": 1.0 if chat.temperature is None else chat.temperature,
        "text": {"format": parsed.text_format},
        "tool_choice": parsed.tool_choice,
        "tools": parsed.tools,
        "top_p": 1.0 if chat.top_p is None else chat.top_p,
        "truncation": "disabled",
        "usage": None if usage is None else usage_to_responses(usage),
        "user": chat.metadata.get("user"),
        "metadata": parsed.metadata,
    }


def render_response(resp: ChatResponse, parsed: ResponsesRequest,
                    response_id: str) -> dict[str, Any]:
    choice = resp.choices[0]
    status, incomplete = status_of(choice.finish_reason)
    return response_object(parsed, response_id, model=resp.model or parsed.chat.model,
                           created_at=resp.created or None, status=status,
                           output=output_items(choice.message, response_id),
                           usage=resp.usage, incomplete=incomplete)


def conversation_items(parsed: ResponsesRequest, history: list[dict[str, Any]],
                       output: list[dict[str, Any]], response_id: str) -> list[dict[str, Any]]:
    """What a stored response keeps for ``previous_response_id``: the context it was
    answered from (without instructions) and its output, as input items. Its own input
    items get ids (as ``GET /v1/responses/{id}/input_items`` lists them)."""
    return [*history, *with_ids(parsed.input_items, response_id), *output]


# ------------------------------------------------------------------------------ usage


def usage_to_responses(u: Usage) -> dict[str, Any]:
    """Canonical -> Responses usage. Cache writes count as ordinary input tokens (OpenAI
    has no cache-write concept); only cache reads show as ``cached_tokens``."""
    total_input = u.total_input_tokens
    return {
        "input_tokens": total_input,
        "input_tokens_details": {"cached_tokens": u.cache_read_tokens},
        "output_tokens": u.output_tokens,
        "output_tokens_details": {"reasoning_tokens": u.reasoning_tokens},
        "total_tokens": total_input + u.output_tokens,
    }


def usage_from_responses(d: Any) -> Usage:
    """Responses usage -> canonical; ``input_tokens`` includes ``cached_tokens``.

    Raises ``InvalidUpstreamUsage`` for figures that cannot be billed.
    """
    d = usage_object(d, "usage")
    total_input = token_count(d, "input_tokens", "usage")
    details = usage_object(d.get("input_tokens_details"), "usage.input_tokens_details")
    cached = token_count(details, "cached_tokens", "usage.input_tokens_details")
    at_most(cached, total_input, "cached tokens exceed input tokens")
    output = usage_object(d.get("output_tokens_details"), "usage.output_tokens_details")
    return consistent(Usage(
        input_tokens=total_input - cached,
        cache_read_tokens=cached,
        output_tokens=token_count(d, "output_tokens", "usage"),
        reasoning_tokens=token_count(output, "reasoning_tokens", "usage.output_tokens_details"),
    ))


from tokenthrift.wire._responses_stream import ResponsesStreamRenderer  # noqa: E402

__all__ = [
    "ResponsesRequest",
    "ResponsesStreamRenderer",
    "conversation_items",
    "items_to_messages",
    "parse_request",
    "render_response",
    "response_object",
    "usage_from_responses",
    "usage_to_responses",
]
