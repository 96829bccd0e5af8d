"""Cache keys: the exact key of a request and the semantic partition + query text.

Both are computed from the *canonical* request, so an OpenAI-format request and the
equivalent Anthropic-format request share an entry; the answer is rendered in each
client's own format. Everything that can change the answer is in the key; what only
changes the delivery (stream, stream_options, metadata, provider prompt-cache
breakpoints, prompt_cache_key, service tier) is not.

Provider defaults are filled in so that leaving a parameter out and sending its default
are the same request: temperature and top_p default to 1 at OpenAI and Anthropic alike,
``n`` to 1, ``tool_choice`` to ``auto`` when tools are given, ``parallel_tool_calls`` to
true, ``response_format`` ``{"type": "text"}`` is no response_format. ``max_tokens`` has
no common default (Anthropic requires it; OpenAI's is the model's own limit), so a
missing max_tokens stays "unset" and only matches another request without one.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import orjson

from ...types import Attribution, ChatRequest, ContentPart, Message, TextPart, WireNotes
from .settings import Scope

# Bump when the canonical form changes: old entries then simply stop matching.
KEY_VERSION = 2
ANONYMOUS = "anonymous"
# Wire-specific parameters (kept in ChatRequest.extra) that do not change the answer.
_EXTRA_IGNORED = frozenset({"stream_options", "service_tier", "store", "user",
                            "prompt_cache_retention"})
_DEFAULT_FORMAT = {"type": "text"}


@dataclass(frozen=True, slots=True)
class CacheKey:
    scope: str
    model: str
    digest: str
    # ``<scope tag>:<model tag>:<digest>``: backends store entries under this id, so
    # Redis can clear one scope or model with SCAN MATCH and no index to maintain.
    id: str


@dataclass(frozen=True, slots=True)
class SemanticQuery:
    partition: str
    text: str


def scope_of(attribution: Attribution, scope: Scope) -> str:
    """The tenant an entry belongs to. A request without the scope's attribute falls
    back to its key (more isolation, never less); no key at all is ``key:anonymous``."""
    if scope == "global":
        return "global"
    if scope == "team" and attribution.team:
        return f"team:{attribution.team}"
    if scope == "customer" and attribution.customer:
        return f"customer:{attribution.customer}"
    if scope == "user" and attribution.user:
        return f"user:{attribution.user}"
    return f"key:{attribution.key_id or ANONYMOUS}"


@lru_cache(maxsize=4096)
def tag(value: str) -> str:
    """Short fixed-width hex name of a scope or model, safe in any key layout."""
    return hashlib.blake2b(value.encode(), digest_size=6).hexdigest()


def exact_key(request: ChatRequest, scope: str) -> CacheKey:
    ids = _CallIds()
    canonical = [KEY_VERSION, scope, request.model, _params(request),
                 [_message(m, ids) for m in request.messages], _tools(request)]
    digest = _digest(canonical, 16)
    return CacheKey(scope, request.model, digest, f"{tag(scope)}:{tag(request.model)}:{digest}")


def semantic_query(request: ChatRequest, scope: str) -> SemanticQuery | None:
    """Partition (exact pre-filter) and query text, or None when the request has no
    final plain-text user turn to compare (a tool result, an image, an empty turn)."""
    last = request.messages[-1]
    if last.role != "user" or not all(isinstance(p, TextPart) for p in last.content):
        return None
    text = last.text
    if not text.strip():
        return None
    system = [m for m in request.messages if m.role == "system"]
    prior = [m for m in request.messages[:-1] if m.role != "system"]
    ids = _CallIds()
    hashes = (
        _digest([KEY_VERSION, _params(request)], 8),
        _digest([_message(m, ids) for m in system], 8),
        _digest([_message(m, ids) for m in prior], 8),
        _digest(_tools(request), 8),
    )
    return SemanticQuery(partition_prefix(scope, request.model) + "|".join(hashes), text)


def partition_prefix(scope: str, model: str | None = None) -> str:
    """The start of every partition of ``scope`` (and ``model``), for clearing the matcher."""
    prefix = _quote(scope) + "|"
    return prefix + _quote(model) + "|" if model is not None else prefix


def _quote(value: str) -> str:
    # "|" separates partition fields; escape it so no scope or model can forge another's.
    return value.replace("%", "%25").replace("|", "%7C")


def _params(request: ChatRequest) -> list[Any]:
    tools = bool(request.tools)
    response_format = request.response_format
    return [
        1.0 if request.temperature is None else float(request.temperature),
        1.0 if request.top_p is None else float(request.top_p),
        request.max_tokens,
        sorted(set(request.stop)),
        request.seed,
        request.n,
        (request.tool_choice or "auto") if tools else None,
        (request.parallel_tool_calls is not False) if tools else None,
        None if response_format == _DEFAULT_FORMAT else response_format,
        request.reasoning_effort,
        request.thinking_budget,
        _extra(request.extra, request.wire_notes),
    ]


def _extra(extra: dict[str, Any], notes: WireNotes) -> dict[str, Any] | None:
    """Wire-specific parameters and the gateway's notes that can change the answer
    (strict tools, server tools): part of the key, so such requests never share one."""
    kept = {k: v for k, v in extra.items() if k not in _EXTRA_IGNORED}
    affecting = notes.affecting_answer()
    if affecting:
        kept["_notes"] = affecting
    return kept or None


class _CallIds:
    """Tool-call ids are random per provider (``call_…``, ``toolu_…``); only which result
    answers which call matters, so ids become their order of first appearance."""

    __slots__ = ("_seen",)

    def __init__(self) -> None:
        self._seen: dict[str, int] = {}

    def __call__(self, call_id: str | None) -> int | None:
        if call_id is None:
            return None
        return self._seen.setdefault(call_id, len(self._seen))


def _message(message: Message, ids: _CallIds) -> list[Any]:
    calls = [[ids(c.id), c.name, _arguments(c.arguments)] for c in message.tool_calls]
    return [message.role, _content(message.content), calls or None,
            ids(message.tool_call_id), message.is_error, message.name]


def _content(parts: list[ContentPart]) -> Any:
    if len(parts) == 1 and isinstance(parts[0], TextPart):
        return parts[0].text  # the common case, kept cheap
    # An OpenAI assistant turn with tool calls often has content "", an Anthropic one
    # has no text block at all: the same turn.
    kept = [p for p in parts if not isinstance(p, TextPart) or p.text]
    if not kept:
        return ""
    if len(kept) == 1 and isinstance(kept[0], TextPart):
        return kept[0].text
    return [p.text if isinstance(p, TextPart) else [p.url, p.data, p.media_type, p.detail]
            for p in kept]


def _arguments(arguments: str) -> Any:
    # OpenAI clients send the model's JSON text verbatim (spaces and all), Anthropic
    # clients send an object; compare the parsed value.
    try:
        return orjson.loads(arguments)
    except orjson.JSONDecodeError:
        return arguments


def _tools(request: ChatRequest) -> list[Any] | None:
    if not request.tools:
        return None
    return [[t.name, t.description, t.parameters] for t in request.tools]


def _digest(value: Any, size: int) -> str:
    try:
        data = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # integers beyond 64 bits in a schema or extra parameter
        data = json.dumps(value, sort_keys=True, default=str).encode()
    return hashlib.blake2b(data, digest_size=size).hexdigest()
