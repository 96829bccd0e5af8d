"""The text an Anthropic content block contributes to a prompt, for token counting.

Shared by the emulator (which bills it) and the prompt-caching lever (which predicts
what the provider will count before a breakpoint), so both count the same way.
"""

from __future__ import annotations

from typing import Any

import orjson


def block_text(block: dict[str, Any]) -> str:
    """The text a block contributes to the prompt (images and unknown blocks: none)."""
    kind = block.get("type")
    if kind == "text":
        return str(block.get("text") or "")
    if kind == "tool_use":
        return str(block.get("name") or "") + orjson.dumps(block.get("input") or {}).decode()
    if kind == "tool_result":
        content = block.get("content")
        if isinstance(content, list):
            return "".join(block_text(b) for b in content if isinstance(b, dict))
        return str(content or "")
    if kind == "thinking":
        return str(block.get("thinking") or "")
    if kind == "document":
        source = block.get("source") or {}
        return str(source.get("data") or "") if source.get("type") == "text" else ""
    return ""
