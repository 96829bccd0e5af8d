"""An Anthropic Messages body as the prompt cache sees it: blocks in cache order.

Anthropic caches prefixes of the prompt in the order tools, system, messages (prompt
caching docs, "What can be cached"). Each block here knows the fingerprint of the prefix
that ends with it, the prefix's size in tokens, and whether the client already put a
``cache_control`` breakpoint on it. Token counts follow the emulator's approximation of
Claude's tokenizer (``emulator.anthropic_prompt``): the tools array as JSON, then per
message its framing, role and text.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from ...tokens import TOKENS_PER_MESSAGE, count_encoded, encoding_name_for_model
from ...wire.anthropic_blocks import block_text

Where = Literal["tools", "system", "message"]
# Blocks Anthropic accepts cache_control on (thinking blocks are cached only implicitly).
_CACHEABLE = frozenset({"text", "image", "document", "tool_use", "tool_result",
                        "search_result"})


@dataclass(slots=True)
class Block:
    where: Where
    message: int  # index into body["messages"]; -1 for tools and system
    index: int  # index in its list (tools, system blocks, the message's content)
    fingerprint: bytes  # digest of the prompt up to and including this block
    tokens: int  # tokens of the prompt up to and including this block
    ttl: str | None  # the client's breakpoint on this block ("5m"/"1h"), if any
    cacheable: bool  # may carry cache_control


def prompt_blocks(body: dict[str, Any], namespace: bytes) -> list[Block]:
    """The body's blocks in cache order; ``namespace`` (tenant, model) seeds the digests."""
    encoding = encoding_name_for_model(str(body.get("model") or ""))
    hasher = hashlib.blake2b(namespace, digest_size=16)
    blocks: list[Block] = []
    tokens = 0
    for i, tool in enumerate(_list(body.get("tools"))):
        canonical = _without_cache_control(tool)
        tokens += count_encoded(encoding, orjson.dumps(canonical).decode())
        hasher.update(b"\x1etool" + orjson.dumps(canonical, option=orjson.OPT_SORT_KEYS))
        blocks.append(Block("tools", -1, i, hasher.copy().digest(), tokens, _ttl(tool), True))
    system = body.get("system")
    system_blocks = [{"type": "text", "text": system}] if isinstance(system, str) else system
    tokens = _add_message(blocks, hasher, encoding, tokens, "system", -1, "system",
                          _list(system_blocks))
    for m, message in enumerate(_list(body.get("messages"))):
        if not isinstance(message, dict):
            continue
        content = message.get("content")
        parts = [{"type": "text", "text": content}] if isinstance(content, str) else content
        tokens = _add_message(blocks, hasher, encoding, tokens, str(message.get("role")), m,
                              "message", _list(parts))
    return blocks


def _add_message(blocks: list[Block], hasher: Any, encoding: str, tokens: int, role: str,
                 message: int, where: Where, parts: list[Any]) -> int:
    if not parts:
        return tokens
    hasher.update(b"\x1emessage:" + role.encode())
    tokens += TOKENS_PER_MESSAGE + count_encoded(encoding, role)
    for i, part in enumerate(parts):
        if not isinstance(part, dict):
            continue
        canonical = _without_cache_control(part)
        tokens += count_encoded(encoding, block_text(part))
        hasher.update(b"\x1f" + orjson.dumps(canonical, option=orjson.OPT_SORT_KEYS))
        cacheable = part.get("type") in _CACHEABLE and (
            part.get("type") != "text" or bool(part.get("text")))
        blocks.append(Block(where, message, i, hasher.copy().digest(), tokens, _ttl(part),
                            cacheable))
    return tokens


def mark(body: dict[str, Any], block: Block, ttl: str) -> None:
    """Put a ``cache_control`` breakpoint with ``ttl`` on ``block`` of ``body``.

    Copy on write: the body's dicts may be shared with the canonical request (tools and
    fields passed through), which later attempts render again.
    """
    control: dict[str, str] = {"type": "ephemeral"}
    if ttl == "1h":
        control["ttl"] = "1h"
    if block.where == "tools":
        body["tools"] = _marked(body["tools"], block.index, control)
    elif block.where == "system":
        system = body["system"]
        blocks = [{"type": "text", "text": system}] if isinstance(system, str) else system
        body["system"] = _marked(blocks, block.index, control)
    else:
        messages = list(body["messages"])
        message = messages[block.message]
        content = message["content"]
        parts = [{"type": "text", "text": content}] if isinstance(content, str) else content
        messages[block.message] = {**message, "content": _marked(parts, block.index, control)}
        body["messages"] = messages


def _marked(items: list[Any], index: int, control: dict[str, str]) -> list[Any]:
    out = list(items)
    out[index] = {**out[index], "cache_control": control}
    return out


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _without_cache_control(block: Any) -> Any:
    if isinstance(block, dict) and "cache_control" in block:
        return {k: v for k, v in block.items() if k != "cache_control"}
    return block


def _ttl(block: Any) -> str | None:
    control = block.get("cache_control") if isinstance(block, dict) else None
    if not isinstance(control, dict):
        return None
    return "1h" if control.get("ttl") == "1h" else "5m"
