"""Usage of one batch result, from the provider's response body (canonical ``Usage``)."""

from __future__ import annotations

from typing import Any

from ...types import Usage


def usage_from(protocol: str, raw: dict[str, Any]) -> Usage:
    """OpenAI ``prompt_tokens`` include ``cached_tokens`` (split here); Anthropic's
    ``input_tokens`` exclude cache reads and writes already."""
    if protocol == "anthropic":
        creation = raw.get("cache_creation") or {}
        one_hour = int(creation.get("ephemeral_1h_input_tokens") or 0)
        written = int(raw.get("cache_creation_input_tokens") or 0)
        return Usage(input_tokens=int(raw.get("input_tokens") or 0),
                     cache_read_tokens=int(raw.get("cache_read_input_tokens") or 0),
                     cache_write_5m_tokens=max(0, written - one_hour),
                     cache_write_1h_tokens=one_hour,
                     output_tokens=int(raw.get("output_tokens") or 0))
    cached = int((raw.get("prompt_tokens_details") or {}).get("cached_tokens") or 0)
    reasoning = int((raw.get("completion_tokens_details") or {}).get("reasoning_tokens") or 0)
    return Usage(input_tokens=max(0, int(raw.get("prompt_tokens") or 0) - cached),
                 cache_read_tokens=cached, output_tokens=int(raw.get("completion_tokens") or 0),
                 reasoning_tokens=reasoning)
