"""What a cache hit would have cost had it been sent upstream again, right now.

The baseline of a hit is not the original call's cold cost: the provider's own prompt
cache may still be warm for what that call wrote or read, and would bill the repeat at
the cached rate. The rules mirror the providers' (and the emulator's, see
``emulator.prompt_cache``):

* Anthropic: a prefix written with a 5-minute breakpoint is read back within 5 minutes
  of the write, a 1-hour one within the hour; a prefix that was read was refreshed then,
  with the TTL its breakpoint had (1 h if the call wrote any 1-hour stretch, else 5 min).
  Once expired it would be written again at the same TTL. Uncached input stays uncached:
  nothing marks it for caching.
* OpenAI: every prompt of 1,024 tokens or more is cached automatically in 128-token
  increments and stays warm for ``OPENAI_CACHE_TTL_S`` of inactivity, so a repeat within
  that time reads the longest increment of the whole prompt.
"""

from __future__ import annotations

from ...types import Usage, WireFormat

ANTHROPIC_TTL_S = {"5m": 300.0, "1h": 3600.0}
OPENAI_MIN_TOKENS = 1024
OPENAI_INCREMENT = 128
# OpenAI keeps prefixes 5-10 minutes of inactivity; the lower bound never over-credits.
OPENAI_CACHE_TTL_S = 300.0


def repeat_usage(usage: Usage, protocol: WireFormat | None, age_s: float) -> Usage:
    """``usage`` of a call made ``age_s`` seconds ago, if the same request went again now."""
    if protocol == "anthropic":
        return _anthropic(usage, age_s)
    return _openai(usage, age_s)


def _anthropic(usage: Usage, age_s: float) -> Usage:
    read = write_5m = write_1h = 0
    if age_s < ANTHROPIC_TTL_S["1h"]:
        read += usage.cache_write_1h_tokens
    else:
        write_1h += usage.cache_write_1h_tokens
    if age_s < ANTHROPIC_TTL_S["5m"]:
        read += usage.cache_write_5m_tokens
    else:
        write_5m += usage.cache_write_5m_tokens
    read_ttl = "1h" if usage.cache_write_1h_tokens else "5m"
    if age_s < ANTHROPIC_TTL_S[read_ttl]:
        read += usage.cache_read_tokens
    elif read_ttl == "1h":
        write_1h += usage.cache_read_tokens
    else:
        write_5m += usage.cache_read_tokens
    return Usage(input_tokens=usage.input_tokens, cache_read_tokens=read,
                 cache_write_5m_tokens=write_5m, cache_write_1h_tokens=write_1h,
                 output_tokens=usage.output_tokens, reasoning_tokens=usage.reasoning_tokens)


def _openai(usage: Usage, age_s: float) -> Usage:
    prompt = usage.total_input_tokens
    cached = 0
    if age_s <= OPENAI_CACHE_TTL_S and prompt >= OPENAI_MIN_TOKENS:
        cached = OPENAI_MIN_TOKENS + (prompt - OPENAI_MIN_TOKENS) // OPENAI_INCREMENT * \
            OPENAI_INCREMENT
    return Usage(input_tokens=prompt - cached, cache_read_tokens=cached,
                 output_tokens=usage.output_tokens, reasoning_tokens=usage.reasoning_tokens)
