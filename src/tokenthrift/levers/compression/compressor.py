"""Query-aware extractive compression under a token budget.

``Compressor.compress_pieces`` takes the pieces of one prompt (message texts, or one
document), applies the lossless pass, asks the backend how much the question needs each
sentence, and keeps the best sentences until ``ratio x tokens_before`` is reached,
rendering what it keeps in the original order with the original structure (block
heads, paragraphs, line breaks). Fixed pieces and fixed blocks (code, JSON) are kept
whole and count against the budget, so a prompt that is mostly code compresses less
than asked rather than losing code.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from ...tokens import count_encoded
from .backends import CompressionBackend, LexicalBackend, Passage
from .text import Block, render_blocks, segment

# Tokens a kept block costs beyond its sentences: the blank line before it.
_BLOCK_SEP_TOKENS = 1
# Roughly the pre-tokenizer of OpenAI's BPEs: a common word, a run of up to three digits
# or a run of punctuation is usually one token. Sentences are sized with this estimate,
# scaled so that the prompt's estimate equals its exact count (one tiktoken call per
# prompt instead of one per sentence); the rendered result is then counted exactly.
_PIECE = re.compile(r" ?[A-Za-z]+| ?\d{1,3}| ?[^\sA-Za-z\d]+|\s+")


def estimate_tokens(text: str) -> int:
    return len(_PIECE.findall(text))


@dataclass(frozen=True, slots=True)
class Piece:
    """One text of a prompt: a message part, or a whole document."""

    text: str
    # Kept verbatim (after the lossless pass unless ``raw``).
    fixed: bool = False
    # Added to the score of each of its sentences (recency of an old chat turn).
    prior: float = 0.0
    # Untouched entirely, not even whitespace (a protected prefix, a tool result).
    raw: bool = False


@dataclass(frozen=True, slots=True)
class Compressed:
    texts: list[str]
    tokens_before: int
    tokens_after: int

    @property
    def text(self) -> str:
        return "\n\n".join(t for t in self.texts if t)

    @property
    def ratio(self) -> float:
        return self.tokens_after / self.tokens_before if self.tokens_before else 1.0


@dataclass(slots=True)
class _Unit:
    block: int  # index into the flat block list
    index: int  # unit index within its block
    tokens: float
    score: float


class Compressor:
    def __init__(
        self, backend: CompressionBackend | None = None, encoding: str = "o200k_base"
    ) -> None:
        self.backend: CompressionBackend = backend or LexicalBackend()
        self.encoding = encoding

    def count(self, text: str) -> int:
        return count_encoded(self.encoding, text)

    def compress(self, text: str, question: str, ratio: float) -> Compressed:
        """One document (e.g. a RAG context) compressed for ``question``."""
        return self.compress_pieces([Piece(text)], question, ratio)

    def compress_pieces(self, pieces: Sequence[Piece], question: str, ratio: float) -> Compressed:
        before = sum(self.count(p.text) for p in pieces)
        seen: set[str] = set()
        segmented = [[] if p.raw else segment(p.text, seen=seen, fixed=p.fixed) for p in pieces]
        flat = [b for blocks in segmented for b in blocks]
        priors = [p.prior for p, blocks in zip(pieces, segmented, strict=True) for _ in blocks]
        target = max(0, int(ratio * before))
        raw_tokens = sum(self.count(p.text) for p in pieces if p.raw)
        estimated = sum(estimate_tokens(p.text) for p in pieces if not p.raw)
        scale = (before - raw_tokens) / estimated if estimated else 1.0
        if ratio >= 1.0:  # nothing to select: the lossless pass only
            keep = [[True] * len(b.units) for b in flat]
            texts = self._render(pieces, segmented, keep)
            return Compressed(texts, before, sum(self.count(t) for t in texts))
        keep, units = self._select(flat, priors, question, target - raw_tokens, scale)
        texts = self._render(pieces, segmented, keep)
        after = sum(self.count(t) for t in texts)
        if after > target:
            keep = _trim(units, keep, after - target)
            texts = self._render(pieces, segmented, keep)
            after = sum(self.count(t) for t in texts)
        return Compressed(texts, before, after)

    def _select(
        self,
        blocks: list[Block],
        priors: list[float],
        question: str,
        budget: int,
        scale: float,
    ) -> tuple[list[list[bool]], list[_Unit]]:
        keep = [[b.kind == "fixed"] * len(b.units) for b in blocks]
        used: float = sum(
            self.count(b.units[0]) + _BLOCK_SEP_TOKENS for b in blocks if b.kind == "fixed"
        )
        prose = [i for i, b in enumerate(blocks) if b.kind == "prose"]
        passages = [Passage(blocks[i].head, blocks[i].units, priors[i]) for i in prose]
        scores = self.backend.score(question, passages) if passages else []
        units = [
            _Unit(block, u, scale * estimate_tokens(text), scores[p][u])
            for p, block in enumerate(prose)
            for u, text in enumerate(blocks[block].units)
        ]
        opened: set[int] = set()
        for unit in sorted(units, key=lambda x: -x.score):
            cost = unit.tokens
            if unit.block not in opened:
                cost += _BLOCK_SEP_TOKENS + scale * estimate_tokens(blocks[unit.block].head)
            if used + cost > budget:
                continue
            used += cost
            opened.add(unit.block)
            keep[unit.block][unit.index] = True
        return keep, units

    @staticmethod
    def _render(
        pieces: Sequence[Piece], segmented: list[list[Block]], keep: list[list[bool]]
    ) -> list[str]:
        texts: list[str] = []
        offset = 0
        for piece, blocks in zip(pieces, segmented, strict=True):
            if piece.raw:
                texts.append(piece.text)
                continue
            texts.append(render_blocks(blocks, keep[offset : offset + len(blocks)]))
            offset += len(blocks)
        return texts


def _trim(units: list[_Unit], keep: list[list[bool]], excess: int) -> list[list[bool]]:
    """Drop the lowest-scoring kept sentences until ``excess`` tokens are gone."""
    kept = sorted((u for u in units if keep[u.block][u.index]), key=lambda x: x.score)
    removed = 0.0
    for unit in kept:
        if removed >= excess:
            break
        keep[unit.block][unit.index] = False
        removed += unit.tokens
    return keep


__all__ = ["Compressed", "Compressor", "Piece"]
