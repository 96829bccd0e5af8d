"""Anthropic ``POST /v1/messages`` and ``POST /v1/messages/count_tokens``.

Usage follows the Messages API reference: ``input_tokens`` EXCLUDES
``cache_read_input_tokens`` and ``cache_creation_input_tokens`` (the three add up to
the prompt); ``cache_creation`` splits writes by TTL; ``output_tokens`` includes
extended-thinking tokens.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from typing import Any

import orjson

from ..tokens import count_encoded, encoding_name_for_model
from .answer_tags import tagged
from .anthropic_prompt import Prompt, build_prompt
from .anthropic_stream import message_events
from .catalog import cache_minimum
from .generation import Generated, derive_seed, forced_reply, generate, request_seed
from .prompt_cache import CacheUsage
from .replies import Outcome, invalid, json_outcome, random_id
from .schema_values import object_for
from .state import EmulatorState

_MIN_THINKING_BUDGET = 1024
_STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "stop_sequence": "stop_sequence"}


@dataclass(slots=True)
class Reply:
    """The assistant turn: content blocks (with their stream pieces) and how it ended."""

    blocks: list[tuple[dict[str, Any], Generated | None]] = field(default_factory=list)
    stop_reason: str = "end_turn"
    stop_sequence: str | None = None
    output_tokens: int = 0
    thinking_tokens: int = 0


def messages(state: EmulatorState, org: str, payload: dict[str, Any]) -> Outcome:
    model = state.require_model(payload.get("model"), "anthropic")
    max_tokens = _max_tokens(payload)
    budget = _thinking_budget(payload, max_tokens)
    encoding = encoding_name_for_model(model)
    prompt = build_prompt(payload, model, encoding)
    cache = CacheUsage()
    if prompt.breakpoints:
        blocks = prompt.cache_blocks(f"{org}\0{model}".encode())
        cache = state.breakpoint_cache.account(blocks, prompt.prefix_tokens, cache_minimum(model))
    seed_payload = orjson.dumps(
        [payload.get("system"), payload["messages"], payload.get("tools"),
         payload.get("temperature"), payload.get("top_p"), payload.get("top_k")],
        option=orjson.OPT_SORT_KEYS,
    )  # fmt: skip
    seed = request_seed(model, seed_payload)
    reply = _reply(payload, encoding, seed, max_tokens, budget)
    if state.answers is not None:
        tag = state.answers.record(seed, model, "anthropic", payload)
        for i, (block, text) in enumerate(reply.blocks):
            if block["type"] == "text" and text is not None:
                text = tagged(text, tag)
                reply.blocks[i] = ({**block, "text": text.text}, text)
    usage = _usage(prompt, cache, reply)
    message = {
        "id": random_id("msg_01", 11),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [block for block, _ in reply.blocks],
        "stop_reason": reply.stop_reason,
        "stop_sequence": reply.stop_sequence,
        "usage": usage,
    }
    tokens = prompt.total + reply.output_tokens
    if payload.get("stream") is True:
        events = message_events(message, reply.blocks)
        return Outcome(events=events, tokens=tokens, output_tokens=reply.output_tokens)
    return json_outcome(message, tokens=tokens, output_tokens=reply.output_tokens)


def count_tokens(state: EmulatorState, org: str, payload: dict[str, Any]) -> Outcome:
    model = state.require_model(payload.get("model"), "anthropic")
    prompt = build_prompt(payload, model, encoding_name_for_model(model))
    return json_outcome({"input_tokens": prompt.total})


def _usage(prompt: Prompt, cache: CacheUsage, reply: Reply) -> dict[str, Any]:
    usage: dict[str, Any] = {
        "input_tokens": prompt.total - cache.read - cache.write,
        "cache_creation_input_tokens": cache.write,
        "cache_read_input_tokens": cache.read,
        "cache_creation": {
            "ephemeral_5m_input_tokens": cache.write_5m,
            "ephemeral_1h_input_tokens": cache.write_1h,
        },
        "output_tokens": reply.output_tokens,
        "service_tier": "standard",
    }
    if reply.thinking_tokens:
        usage["output_tokens_details"] = {"thinking_tokens": reply.thinking_tokens}
    return usage


def _reply(
    payload: dict[str, Any], encoding: str, seed: int, max_tokens: int, budget: int | None
) -> Reply:
    reply = Reply()
    room = max_tokens
    if budget is not None:
        # Thinking comes first and is billed as output (extended thinking docs).
        length = min(budget, 40 + derive_seed(seed, 7) % 160)
        thinking = generate(encoding, derive_seed(seed, 7), limit=None, length=length)
        signature = base64.b64encode(hashlib.sha256(thinking.text.encode()).digest()).decode()
        reply.blocks.append(
            ({"type": "thinking", "thinking": thinking.text, "signature": signature}, thinking)
        )
        reply.thinking_tokens = thinking.tokens
        room -= thinking.tokens
    last = payload["messages"][-1]
    forced = forced_reply(_user_text(last)) if last.get("role") == "user" else None
    tool = None if forced is not None else _tool_to_use(payload, seed)
    if tool is not None:
        _append_tool_use(reply, tool, encoding, seed, room)
    else:
        stop = _stop_sequences(payload.get("stop_sequences"))
        text = generate(encoding, seed, limit=room, stop=stop, forced=forced)
        reply.blocks.append(({"type": "text", "text": text.text}, text))
        reply.stop_reason = _STOP_REASONS[text.finish]
        reply.stop_sequence = text.stop_sequence
        reply.output_tokens = reply.thinking_tokens + text.tokens
    return reply


def _append_tool_use(
    reply: Reply, tool: dict[str, Any], encoding: str, seed: int, room: int
) -> None:
    name = tool["name"]
    arguments = object_for(tool.get("input_schema") or {}, seed)
    name_tokens = count_encoded(encoding, name)
    args = generate(
        encoding, seed, limit=max(0, room - name_tokens), forced=orjson.dumps(arguments).decode()
    )
    truncated = args.finish == "length"
    block = {
        "type": "tool_use",
        "id": random_id("toolu_01", 11),
        "name": name,
        "input": {} if truncated else arguments,
    }
    reply.blocks.append((block, args))
    reply.stop_reason = "max_tokens" if truncated else "tool_use"
    reply.output_tokens = reply.thinking_tokens + name_tokens + args.tokens


def _tool_to_use(payload: dict[str, Any], seed: int) -> dict[str, Any] | None:
    """The tool Claude calls, or None for text.

    ``auto`` uses a tool when the user spoke last with something other than tool
    results; ``any`` and ``tool`` force a call (tool_choice docs).
    """
    tools = [t for t in payload.get("tools") or [] if "input_schema" in t]
    choice = payload.get("tool_choice") or {"type": "auto"}
    kind = choice.get("type") if isinstance(choice, dict) else None
    if not tools or kind == "none":
        return None
    if kind == "tool":
        return next((t for t in tools if t["name"] == choice.get("name")), tools[0])
    if kind != "any":
        last = payload["messages"][-1]
        content = last.get("content")
        has_result = isinstance(content, list) and any(
            isinstance(b, dict) and b.get("type") == "tool_result" for b in content
        )
        if last.get("role") != "user" or has_result:
            return None
    return tools[seed % len(tools)]


def _user_text(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            b["text"] for b in content if isinstance(b, dict) and isinstance(b.get("text"), str)
        )
    return ""


def _stop_sequences(stop: Any) -> list[str]:
    if stop is None:
        return []
    if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
        raise invalid("stop_sequences: Input should be a valid list of strings")
    return stop


def _max_tokens(payload: dict[str, Any]) -> int:
    max_tokens = payload.get("max_tokens")
    if max_tokens is None:
        raise invalid("max_tokens: Field required")
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        raise invalid("max_tokens: Input should be greater than or equal to 1")
    return max_tokens


def _thinking_budget(payload: dict[str, Any], max_tokens: int) -> int | None:
    thinking = payload.get("thinking")
    if not isinstance(thinking, dict) or thinking.get("type") != "enabled":
        return None
    budget = thinking.get("budget_tokens")
    if not isinstance(budget, int) or budget < _MIN_THINKING_BUDGET:
        raise invalid(
            f"thinking.enabled.budget_tokens: Input should be greater than or equal to "
            f"{_MIN_THINKING_BUDGET}"
        )
    if budget >= max_tokens:
        raise invalid(
            "`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our "
            "documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking"
        )
    return budget
