"""An Anthropic Messages prompt: validation, token counts and cache blocks.

Prompt tokens are ``tokens.count_chat`` over ``("system", system text)`` and one
``(role, text)`` per message, where a message's text is its blocks' text joined
(text, tool_use name + input JSON, tool_result content, thinking; images count 0),
plus the ``tools`` array (without ``cache_control``) as JSON. Claude's tokenizer is not
public, so these counts approximate Claude's with cl100k_base (see ``tokens``).

For prompt caching the prompt is a sequence of blocks in Anthropic's cache order:
tools, then system blocks, then message content blocks. Each block gets the digest of
the prefix ending with it, and ``prefix_tokens(i)`` sizes that prefix.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import orjson

from ..tokens import REPLY_PRIMING_TOKENS, TOKENS_PER_MESSAGE, count_chat, count_encoded
from ..wire.anthropic_blocks import block_text as _block_text
from .prompt_cache import CacheBlock
from .replies import invalid

MAX_BREAKPOINTS = 4  # prompt caching docs: "up to 4 cache breakpoints"


@dataclass(slots=True)
class _Segment:
    """One block: which prompt message it belongs to, its text, and its breakpoint."""

    message: int  # index into Prompt.messages; -1 for tools
    text: str
    canonical: dict[str, Any]
    ttl: str | None


@dataclass(slots=True)
class Prompt:
    encoding: str
    messages: list[tuple[str, str]]
    tools: list[dict[str, Any]]
    tools_json: str | None
    total: int
    segments: list[_Segment] = field(default_factory=list)
    breakpoints: int = 0

    def prefix_tokens(self, index: int) -> int:
        """Tokens of the prompt up to and including segment ``index``."""
        segment = self.segments[index]
        if segment.message < 0:
            upto = self.tools[: index + 1]
            return min(self.total, count_encoded(self.encoding, orjson.dumps(upto).decode()))
        tokens = count_encoded(self.encoding, self.tools_json) if self.tools_json else 0
        for role, text in self.messages[: segment.message]:
            tokens += self._message_tokens(role, text)
        role = self.messages[segment.message][0]
        partial = "".join(
            s.text for s in self.segments[: index + 1] if s.message == segment.message
        )
        tokens += self._message_tokens(role, partial)
        return min(tokens, self.total - REPLY_PRIMING_TOKENS)

    def _message_tokens(self, role: str, text: str) -> int:
        return (
            TOKENS_PER_MESSAGE
            + count_encoded(self.encoding, role)
            + count_encoded(self.encoding, text)
        )

    def cache_blocks(self, namespace: bytes) -> list[CacheBlock]:
        """Prefix digests per block; identical content up to a block means a cache hit."""
        hasher = hashlib.blake2b(namespace, digest_size=16)
        blocks = []
        previous = -2
        for segment in self.segments:
            if segment.message != previous and segment.message >= 0:
                hasher.update(b"\x1emessage:" + self.messages[segment.message][0].encode())
            previous = segment.message
            hasher.update(b"\x1f" + orjson.dumps(segment.canonical, option=orjson.OPT_SORT_KEYS))
            blocks.append(CacheBlock(hasher.copy().digest(), segment.ttl))
        return blocks


def build_prompt(payload: dict[str, Any], model: str, encoding: str) -> Prompt:
    tools = _tools(payload.get("tools"))
    segments: list[_Segment] = [
        _segment(-1, tool, "", f"tools.{i}") for i, tool in enumerate(tools)
    ]
    messages: list[tuple[str, str]] = []
    system = payload.get("system")
    if system:
        blocks = _blocks(system, "system")
        segments += [_segment(0, b, _block_text(b), f"system.{i}") for i, b in enumerate(blocks)]
        messages.append(("system", "".join(_block_text(b) for b in blocks)))
    for index, message in enumerate(_messages(payload)):
        blocks = _blocks(message.get("content"), f"messages.{index}.content")
        where = len(messages)
        segments += [
            _segment(where, b, _block_text(b), f"messages.{index}.content.{i}")
            for i, b in enumerate(blocks)
        ]
        messages.append((message["role"], "".join(_block_text(b) for b in blocks)))
    stripped = [{k: v for k, v in t.items() if k != "cache_control"} for t in tools]
    tools_json = orjson.dumps(stripped).decode() if tools else None
    prompt = Prompt(
        encoding, messages, stripped, tools_json, count_chat(messages, model, tools_json)
    )
    prompt.segments = segments
    _check_breakpoints(segments)
    prompt.breakpoints = sum(1 for s in segments if s.ttl)
    return prompt


def _segment(message: int, block: dict[str, Any], text: str, where: str) -> _Segment:
    cache_control = block.get("cache_control")
    ttl = None
    if cache_control is not None:
        if not isinstance(cache_control, dict) or cache_control.get("type") != "ephemeral":
            raise invalid(f"{where}.cache_control.type: Input should be 'ephemeral'")
        ttl = cache_control.get("ttl", "5m")
        if ttl not in ("5m", "1h"):
            raise invalid(f"{where}.cache_control.ttl: Input should be '5m' or '1h'")
        block = {k: v for k, v in block.items() if k != "cache_control"}
    return _Segment(message, text, block, ttl)


def _check_breakpoints(segments: list[_Segment]) -> None:
    ttls = [s.ttl for s in segments if s.ttl]
    if len(ttls) > MAX_BREAKPOINTS:
        raise invalid(
            f"A maximum of {MAX_BREAKPOINTS} blocks with cache_control may be provided. "
            f"Found {len(ttls)}."
        )
    if "5m" in ttls and "1h" in ttls[ttls.index("5m") :]:
        # Longer-lived entries must come first (prompt caching docs, "Mixing TTLs").
        raise invalid(
            "a ttl='1h' cache_control block must not come after a ttl='5m' cache_control "
            "block. Note that blocks are processed in the following order: `tools`, "
            "`system`, `messages`."
        )


def _messages(payload: dict[str, Any]) -> list[dict[str, Any]]:
    messages = payload.get("messages")
    if messages is None:
        raise invalid("messages: Field required")
    if not isinstance(messages, list) or not messages:
        raise invalid("messages: at least one message is required")
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            raise invalid(f"messages.{index}.role: Input should be 'user' or 'assistant'")
        if "content" not in message:
            raise invalid(f"messages.{index}.content: Field required")
    return messages


def _blocks(content: Any, where: str) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if isinstance(content, list) and all(
        isinstance(b, dict) and isinstance(b.get("type"), str) for b in content
    ):
        return content
    raise invalid(f"{where}: Input should be a valid string or a list of content blocks")


def _tools(tools: Any) -> list[dict[str, Any]]:
    if tools is None:
        return []
    if not isinstance(tools, list):
        raise invalid("tools: Input should be a valid list")
    for index, tool in enumerate(tools):
        if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
            raise invalid(f"tools.{index}.name: Field required")
        if "type" not in tool and not isinstance(tool.get("input_schema"), dict):
            raise invalid(f"tools.{index}.input_schema: Field required")
    return tools


