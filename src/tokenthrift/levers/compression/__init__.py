"""Prompt compression: shrink long contexts under a token budget, keeping what the
final question needs.

One concept per module: ``text`` (lossless clean-up, blocks and sentences),
``backends`` (how much the question needs each sentence: the ``CompressionBackend``
protocol and the default lexical scorer), ``compressor`` (budgeted selection that keeps
order and structure), ``evaluation`` (answer retention, as ``tokenthrift compress eval``
reports it). The user-facing description is docs/compression.md.
"""

from __future__ import annotations

from .backends import CompressionBackend, LexicalBackend, Passage
from .compressor import Compressed, Compressor, Piece

__all__ = ["Compressed", "CompressionBackend", "Compressor", "LexicalBackend", "Passage", "Piece"]
