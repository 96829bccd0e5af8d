"""OpenAI ``POST /v1/chat/completions``: validation, usage and the response body.

Usage follows the API reference: ``prompt_tokens`` includes
``prompt_tokens_details.cached_tokens``; ``completion_tokens`` includes
``completion_tokens_details.reasoning_tokens`` (reasoning models only). Prompt tokens
are ``tokens.count_chat`` over ``(role, text, name)`` per message, where ``text`` is
the string content (or its text parts joined) followed by each tool call's name and
arguments, and ``tools_json`` is the ``tools`` array serialised with orjson.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import orjson

from ..tokens import chat_token_ids, count_chat, count_encoded, encoding_name_for_model
from .answer_tags import tagged
from .catalog import REASONING_TOKENS, is_reasoning_model
from .generation import Generated, derive_seed, forced_reply, generate, request_seed
from .openai_stream import chat_events
from .replies import Outcome, invalid, json_outcome, random_id
from .schema_values import object_for, value_for
from .state import EmulatorState

_ROLES = ("system", "developer", "user", "assistant", "tool", "function")
_FINISH = {"stop": "stop", "stop_sequence": "stop", "length": "length"}


@dataclass(slots=True)
class ChatCall:
    """A validated chat request, reduced to what generation needs."""

    model: str
    messages: list[dict[str, Any]]
    prompt: list[tuple[str, str, str | None]]
    tools: list[dict[str, Any]]
    tools_json: str | None
    tool_choice: Any
    limit: int | None
    stop: list[str]
    n: int
    stream: bool
    include_usage: bool
    effort: str | None
    response_format: dict[str, Any] | None
    cache_key: str | None
    seed_payload: bytes


@dataclass(slots=True)
class ChoiceResult:
    index: int
    text: Generated | None = None
    tool_call: tuple[str, str, Generated] | None = None  # (id, name, arguments)
    finish_reason: str = "stop"
    tokens: int = 0  # completion tokens, reasoning included
    reasoning_tokens: int = 0


def chat_completions(state: EmulatorState, org: str, payload: dict[str, Any]) -> Outcome:
    call = parse_chat(state, payload)
    prompt_tokens = count_chat(call.prompt, call.model, call.tools_json)
    cached = 0
    if prompt_tokens >= 1024:
        namespace = f"{org}\0{call.model}\0{call.cache_key or ''}".encode()
        ids = chat_token_ids(call.prompt, call.model, call.tools_json)
        cached = state.prefix_cache.cached_tokens(namespace, ids)
    seed = request_seed(call.model, call.seed_payload)
    choices = [_choice(call, derive_seed(seed, index), index) for index in range(call.n)]
    if state.answers is not None:
        tag = state.answers.record(seed, call.model, "openai", payload)
        for choice in choices:
            choice.text = None if choice.text is None else tagged(choice.text, tag)
    completion = sum(c.tokens for c in choices)
    usage = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion,
        "total_tokens": prompt_tokens + completion,
        "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": sum(c.reasoning_tokens for c in choices),
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }
    header = {
        "id": random_id("chatcmpl-"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": call.model,
        "service_tier": "default",
        "system_fingerprint": _fingerprint(call.model),
    }
    total = prompt_tokens + completion
    if call.stream:
        events = chat_events(header, choices, usage if call.include_usage else None)
        return Outcome(events=events, tokens=total, output_tokens=completion)
    body = {**header, "choices": [_choice_body(c) for c in choices], "usage": usage}
    return json_outcome(body, tokens=total, output_tokens=completion)


def _choice(call: ChatCall, seed: int, index: int) -> ChoiceResult:
    encoding = encoding_name_for_model(call.model)
    result = ChoiceResult(index)
    limit = call.limit
    if call.effort is not None:
        # Reasoning happens first and spends the same max_completion_tokens budget; a
        # budget used up by reasoning returns empty content with finish_reason "length".
        result.reasoning_tokens = REASONING_TOKENS.get(call.effort, 192)
        if limit is not None and limit <= result.reasoning_tokens:
            result.reasoning_tokens = result.tokens = limit
            result.text = generate(encoding, seed, limit=0, forced="")
            result.finish_reason = "length"
            return result
        if limit is not None:
            limit -= result.reasoning_tokens
    last = call.messages[-1]
    forced = forced_reply(_text_of(last)) if last.get("role") == "user" else None
    tool = None if forced is not None else _tool_to_call(call, seed)
    if tool is not None:
        name = tool.get("name", "")
        arguments = orjson.dumps(object_for(tool.get("parameters") or {}, seed)).decode()
        name_tokens = count_encoded(encoding, name)
        room = None if limit is None else max(0, limit - name_tokens)
        args = generate(encoding, seed, limit=room, forced=arguments)
        result.tool_call = (random_id("call_", 12), name, args)
        result.tokens = result.reasoning_tokens + name_tokens + args.tokens
        result.finish_reason = "length" if args.finish == "length" else "tool_calls"
        return result
    if forced is None:
        forced = _structured_reply(call, encoding, seed)
    text = generate(encoding, seed, limit=limit, stop=call.stop, forced=forced)
    result.text = text
    result.tokens = result.reasoning_tokens + text.tokens
    result.finish_reason = _FINISH[text.finish]
    return result


def _tool_to_call(call: ChatCall, seed: int) -> dict[str, Any] | None:
    """The function the model calls, or None for a text reply.

    ``auto`` calls a tool when the user spoke last (after a tool result the model
    answers in text); ``required`` and a named function force a call every turn, as
    the API documents for tool_choice.
    """
    choice = call.tool_choice
    if not call.tools or choice == "none":
        return None
    functions = [t.get("function") or {} for t in call.tools]
    if isinstance(choice, dict):
        wanted = (choice.get("function") or {}).get("name")
        return next((f for f in functions if f.get("name") == wanted), functions[0])
    if choice != "required" and call.messages[-1].get("role") != "user":
        return None
    return functions[seed % len(functions)]


def _structured_reply(call: ChatCall, encoding: str, seed: int) -> str | None:
    response_format = call.response_format or {}
    kind = response_format.get("type")
    if kind == "json_schema":
        schema = (response_format.get("json_schema") or {}).get("schema") or {}
        return orjson.dumps(value_for(schema, seed)).decode()
    if kind == "json_object":
        return orjson.dumps({"answer": generate(encoding, seed, limit=None).text}).decode()
    return None


def _choice_body(choice: ChoiceResult) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": None, "refusal": None}
    if choice.tool_call is not None:
        call_id, name, args = choice.tool_call
        message["tool_calls"] = [
            {"id": call_id, "type": "function", "function": {"name": name, "arguments": args.text}}
        ]
    elif choice.text is not None:
        message["content"] = choice.text.text
    message["annotations"] = []
    return {
        "index": choice.index,
        "message": message,
        "logprobs": None,
        "finish_reason": choice.finish_reason,
    }


@lru_cache(maxsize=256)
def _fingerprint(model: str) -> str:
    return "fp_" + hashlib.blake2b(model.encode(), digest_size=5).hexdigest()


def _text_of(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        text = content
    elif isinstance(content, list):
        text = "".join(
            part.get("text") or ""
            for part in content
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    else:
        text = ""
    for tool_call in message.get("tool_calls") or ():
        function = tool_call.get("function") if isinstance(tool_call, dict) else None
        if isinstance(function, dict):
            text += str(function.get("name") or "") + str(function.get("arguments") or "")
    return text


def parse_chat(state: EmulatorState, payload: dict[str, Any]) -> ChatCall:
    model = state.require_model(payload.get("model"), "openai")
    messages = _messages(payload)
    prompt = [(m["role"], _text_of(m), m.get("name")) for m in messages]
    tools = _tools(payload)
    limit = _limit(payload, model)
    stream = payload.get("stream") is True
    options = payload.get("stream_options")
    if options is not None and not stream:
        raise invalid(
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
            param="stream_options",
        )
    effort = payload.get("reasoning_effort")
    if effort is not None and (not isinstance(effort, str) or effort not in REASONING_TOKENS):
        raise invalid(f"Invalid value: '{effort}'.", param="reasoning_effort", code="invalid_value")
    response_format = payload.get("response_format")
    if response_format is not None and not isinstance(response_format, dict):
        raise invalid(
            "Invalid type for 'response_format': expected an object.", param="response_format"
        )
    cache_key = payload.get("prompt_cache_key")
    if cache_key is not None and not isinstance(cache_key, str):
        raise invalid(
            "Invalid type for 'prompt_cache_key': expected a string.", param="prompt_cache_key"
        )
    seed_payload = orjson.dumps(
        [messages, tools, payload.get("temperature"), payload.get("top_p"), payload.get("seed"),
         payload.get("response_format"), effort],
        option=orjson.OPT_SORT_KEYS,
    )  # fmt: skip
    return ChatCall(
        model=model,
        messages=messages,
        prompt=prompt,
        tools=tools,
        tools_json=orjson.dumps(tools).decode() if tools else None,
        tool_choice=payload.get("tool_choice", "auto"),
        limit=limit,
        stop=_stop(payload.get("stop")),
        n=_n(payload.get("n")),
        stream=stream,
        include_usage=bool(isinstance(options, dict) and options.get("include_usage")),
        effort=(effort or "medium") if is_reasoning_model(model) else None,
        response_format=response_format,
        cache_key=cache_key,
        seed_payload=seed_payload,
    )


def _messages(payload: dict[str, Any]) -> list[dict[str, Any]]:
    messages = payload.get("messages")
    if messages is None:
        raise invalid(
            "Missing required parameter: 'messages'.",
            param="messages",
            code="missing_required_parameter",
        )
    if not isinstance(messages, list) or not messages:
        raise invalid(
            "Invalid 'messages': empty array. Expected an array with minimum length 1.",
            param="messages",
            code="empty_array",
        )
    for index, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        if role not in _ROLES:
            raise invalid(
                f"Invalid value: '{role}'. Supported values are: 'system', 'assistant', "
                "'user', 'function', 'tool', and 'developer'.",
                param=f"messages[{index}].role",
                code="invalid_value",
            )
        if role == "tool" and not message.get("tool_call_id"):
            raise invalid(
                "Missing parameter 'tool_call_id': messages with role 'tool' must have a "
                "'tool_call_id'.",
                param=f"messages[{index}].tool_call_id",
                code="missing_required_parameter",
            )
    return messages


def _tools(payload: dict[str, Any]) -> list[dict[str, Any]]:
    tools = payload.get("tools") or []
    if not isinstance(tools, list):
        raise invalid("Invalid type for 'tools': expected an array.", param="tools")
    for index, tool in enumerate(tools):
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise invalid(
                f"Missing required parameter: 'tools[{index}].function'.",
                param=f"tools[{index}].function",
                code="missing_required_parameter",
            )
    return tools


def _limit(payload: dict[str, Any], model: str) -> int | None:
    legacy = payload.get("max_tokens")
    if legacy is not None and is_reasoning_model(model):
        # Reasoning models reject max_tokens (reasoning guide).
        raise invalid(
            "Unsupported parameter: 'max_tokens' is not supported with this model. "
            "Use 'max_completion_tokens' instead.",
            param="max_tokens",
            code="unsupported_parameter",
        )
    limit = payload.get("max_completion_tokens", legacy)
    if limit is None:
        return None
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        raise invalid(
            f"Invalid 'max_tokens': integer below minimum value. Expected a value >= 1, "
            f"but got {limit} instead.",
            param="max_tokens",
            code="integer_below_min_value",
        )
    return limit


def _stop(stop: Any) -> list[str]:
    if stop is None:
        return []
    if isinstance(stop, str):
        return [stop]
    if isinstance(stop, list) and len(stop) <= 4 and all(isinstance(s, str) for s in stop):
        return stop
    raise invalid("Invalid 'stop': expected a string or an array of up to 4 strings.", param="stop")


def _n(n: Any) -> int:
    if n is None:
        return 1
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 128:
        raise invalid(f"Invalid 'n': expected an integer between 1 and 128, got {n}.", param="n")
    return n
