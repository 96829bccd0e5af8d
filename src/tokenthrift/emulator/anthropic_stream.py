"""Anthropic Messages streaming events (streaming docs, "Event types").

``message_start`` (input usage, ``output_tokens`` 1) -> per content block
``content_block_start``, deltas, ``content_block_stop`` (a ``ping`` follows the first
block start) -> ``message_delta`` (stop reason, cumulative usage) -> ``message_stop``.
"""

from __future__ import annotations

from typing import Any

from .generation import Generated
from .replies import anthropic_sse


def message_events(
    message: dict[str, Any], blocks: list[tuple[dict[str, Any], Generated | None]]
) -> list[bytes]:
    usage = message["usage"]
    start_usage = {k: v for k, v in usage.items() if k != "output_tokens_details"}
    start_usage["output_tokens"] = 1  # what the API reports before generation starts
    start = {**message, "content": [], "stop_reason": None, "stop_sequence": None}
    start["usage"] = start_usage
    events = [anthropic_sse("message_start", {"type": "message_start", "message": start})]
    for index, (block, generated) in enumerate(blocks):
        events.extend(_block_events(index, block, generated))
        if index == 0:
            events.insert(2, anthropic_sse("ping", {"type": "ping"}))
    delta_usage = {
        key: usage[key]
        for key in (
            "input_tokens",
            "cache_creation_input_tokens",
            "cache_read_input_tokens",
            "output_tokens",
            "output_tokens_details",
        )
        if key in usage
    }
    events.append(
        anthropic_sse(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {
                    "stop_reason": message["stop_reason"],
                    "stop_sequence": message["stop_sequence"],
                },
                "usage": delta_usage,
            },
        )
    )
    events.append(anthropic_sse("message_stop", {"type": "message_stop"}))
    return events


def _block_events(index: int, block: dict[str, Any], generated: Generated | None) -> list[bytes]:
    kind = block["type"]
    pieces = generated.pieces if generated is not None else []
    if kind == "thinking":
        opening: dict[str, Any] = {"type": "thinking", "thinking": "", "signature": ""}
        deltas = [{"type": "thinking_delta", "thinking": p} for p in pieces]
        deltas.append({"type": "signature_delta", "signature": block["signature"]})
    elif kind == "tool_use":
        opening = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
        deltas = [{"type": "input_json_delta", "partial_json": p} for p in pieces]
    else:
        opening = {"type": "text", "text": ""}
        deltas = [{"type": "text_delta", "text": p} for p in pieces]
    events = [
        anthropic_sse(
            "content_block_start",
            {"type": "content_block_start", "index": index, "content_block": opening},
        )
    ]
    for delta in deltas:
        events.append(
            anthropic_sse(
                "content_block_delta",
                {"type": "content_block_delta", "index": index, "delta": delta},
            )
        )
    events.append(
        anthropic_sse("content_block_stop", {"type": "content_block_stop", "index": index})
    )
    return events
