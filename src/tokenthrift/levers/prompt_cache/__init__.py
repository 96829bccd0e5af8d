"""Automatic provider prompt caching.

One concept per module: ``blocks`` (an Anthropic body in cache order: prefix
fingerprints and sizes, where breakpoints go), ``reuse`` (how often a prefix comes back,
and whether a write at 1.25x/2x pays back), ``anthropic`` (the breakpoint placement
rules), ``variance`` (prompts whose first tokens vary), ``settings`` and ``lever`` (the
pipeline hooks and the saving). The user-facing description is docs/prompt-caching.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..base import Lever
    from ..context import LeverContext


def build(context: LeverContext) -> Lever | None:
    """The prompt-cache lever, or None without a ``prompt_caching`` section."""
    from .lever import PromptCacheLever
    from .settings import PromptCacheSettings

    settings = PromptCacheSettings.from_config(context.config)
    if not settings.enabled:
        return None
    return PromptCacheLever(settings, store_examples=context.config.storage.prompts == "full")


__all__ = ["build"]
