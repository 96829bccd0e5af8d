"""A stored answer and its byte encoding (the same bytes in every backend).

One payload serves both layers: the exact key's entry id is also the id the semantic
matcher points at, with a separate expiry per layer (``exact_until``,
``semantic_until``), so an answer is written once whichever layers keep it.
"""

from __future__ import annotations

import random
import re
import time
from dataclasses import dataclass
from typing import Any

import orjson

from ...types import (
    ChatResponse,
    Choice,
    ContentPart,
    ImagePart,
    Message,
    TextPart,
    ToolCall,
    Usage,
    WireFormat,
)

FORMAT_VERSION = 2
_ids = random.Random()
_ID_PREFIX = re.compile(r"^[A-Za-z]+[-_]")


@dataclass(slots=True)
class CachedAnswer:
    response: ChatResponse
    # What the call that produced the answer used *as asked* (the requested model, the
    # prompt before any rewrite): a hit's baseline is that call repeated (``repeat``).
    usage: Usage
    scope: str
    model: str
    stored_at: float
    exact_until: float | None
    semantic_until: float | None
    # The protocol that served it, whose prompt-caching rules the repeat follows.
    protocol: WireFormat | None = None

    @property
    def expires_at(self) -> float:
        return max(t for t in (self.exact_until, self.semantic_until, self.stored_at) if t)

    def served_response(self) -> ChatResponse:
        """The answer as a fresh response: a new id and creation time, so clients that
        dedupe or log by id do not see two different requests as one."""
        response = self.response
        prefix = _ID_PREFIX.match(response.id)
        response.id = f"{prefix.group(0) if prefix else 'cached-'}{_ids.getrandbits(96):024x}"
        response.created = int(time.time())
        return response


def encode(entry: CachedAnswer) -> bytes:
    response = entry.response
    return orjson.dumps({
        "v": FORMAT_VERSION,
        "scope": entry.scope,
        "model": entry.model,
        "stored_at": entry.stored_at,
        "exact_until": entry.exact_until,
        "semantic_until": entry.semantic_until,
        "protocol": entry.protocol,
        "usage": _usage(entry.usage),
        "response": {
            "id": response.id,
            "model": response.model,
            "created": response.created,
            "usage": _usage(response.usage),
            "extra": response.extra,
            "choices": [[c.index, c.finish_reason, _message(c.message)] for c in response.choices],
        },
    })


def decode(payload: bytes) -> CachedAnswer | None:
    """The entry, or None for bytes written by another format version (a miss)."""
    raw = orjson.loads(payload)
    if raw.get("v") != FORMAT_VERSION:
        return None
    body = raw["response"]
    response = ChatResponse(
        id=body["id"],
        model=body["model"],
        created=body["created"],
        usage=Usage(*body["usage"]),
        extra=body["extra"],
        choices=[Choice(index, _message_from(message), finish)
                 for index, finish, message in body["choices"]],
    )
    return CachedAnswer(response, Usage(*raw["usage"]), raw["scope"], raw["model"],
                        raw["stored_at"], raw["exact_until"], raw["semantic_until"],
                        raw.get("protocol"))


def _usage(usage: Usage) -> list[int]:
    return [usage.input_tokens, usage.cache_read_tokens, usage.cache_write_5m_tokens,
            usage.cache_write_1h_tokens, usage.output_tokens, usage.reasoning_tokens]


def _message(message: Message) -> dict[str, Any]:
    out: dict[str, Any] = {"content": [_part(p) for p in message.content]}
    if message.tool_calls:
        out["tool_calls"] = [[c.id, c.name, c.arguments] for c in message.tool_calls]
    return out


def _part(part: ContentPart) -> Any:
    if isinstance(part, TextPart):
        return part.text
    return {"url": part.url, "data": part.data, "media_type": part.media_type,
            "detail": part.detail}


def _message_from(raw: dict[str, Any]) -> Message:
    content: list[ContentPart] = [
        TextPart(p) if isinstance(p, str) else ImagePart(**p) for p in raw["content"]
    ]
    calls = [ToolCall(*c) for c in raw.get("tool_calls", ())]
    return Message(role="assistant", content=content, tool_calls=calls)
