"""Prompt compression: shrink long contexts under a token budget, keeping what the
final question needs.

One concept per module: ``text`` (lossless clean-up, blocks and sentences),
``backends`` (how much the question needs each sentence: the ``CompressionBackend``
protocol and the default lexical scorer), ``compressor`` (budgeted selection that keeps
order and structure), ``evaluation`` (answer retention, as ``tokenthrift compress eval``
reports it), ``request`` (which parts of a chat request may shrink and for what
question), ``settings`` and ``lever`` (the pipeline hooks), ``llmlingua`` (the optional
LLMLingua-2 backend, for a model already on disk). The user-facing description is docs/compression.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .backends import CompressionBackend, LexicalBackend, Passage
from .compressor import Compressed, Compressor, Piece

if TYPE_CHECKING:
    from ..base import Lever
    from ..context import LeverContext


def load_backend(method: str) -> CompressionBackend:
    """The backend a ``compression.method`` names (``lexical`` or ``llmlingua2:<dir>``)."""
    if method.startswith("llmlingua2:"):
        from .llmlingua import LLMLingua2Backend

        return LLMLingua2Backend(method.partition(":")[2])
    return LexicalBackend()


def build(context: LeverContext) -> Lever | None:
    """The compression lever, or None unless ``compression: {enabled: true}``."""
    from .lever import CompressionLever
    from .settings import CompressionSettings

    settings = CompressionSettings.from_config(context.config)
    if not settings.enabled:
        return None
    return CompressionLever(settings, Compressor(load_backend(settings.method)))


__all__ = [
    "Compressed",
    "CompressionBackend",
    "Compressor",
    "LexicalBackend",
    "Passage",
    "Piece",
    "build",
    "load_backend",
]
