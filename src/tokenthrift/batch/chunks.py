"""Splitting a run into provider batches, within each provider's limits.

OpenAI: 50,000 requests and 200 MB per input file, one model per batch (Batch guide);
Anthropic: 100,000 requests or 256 MB per Message Batch (Message Batches guide). The split
is deterministic — the same input always gives the same chunks — which resume relies on.
"""

from __future__ import annotations

from dataclasses import dataclass

from .requests import BatchRequest

LIMITS = {"openai": (50_000, 200 * 1024 * 1024), "anthropic": (100_000, 256 * 1024 * 1024)}


@dataclass(frozen=True, slots=True)
class Chunk:
    index: int
    protocol: str
    model: str
    lines: tuple[int, ...]  # positions in the input


def split(requests: list[BatchRequest], *, max_requests: int | None = None) -> list[Chunk]:
    groups: dict[tuple[str, str], list[BatchRequest]] = {}
    for request in requests:
        groups.setdefault((request.protocol, request.model), []).append(request)
    chunks: list[Chunk] = []
    for (protocol, model), members in groups.items():
        count_limit, byte_limit = LIMITS[protocol]
        if max_requests is not None:
            count_limit = min(count_limit, max_requests)
        current: list[int] = []
        size = 0
        for request in members:
            if current and (len(current) >= count_limit or size + request.size > byte_limit):
                chunks.append(Chunk(len(chunks), protocol, model, tuple(current)))
                current, size = [], 0
            current.append(request.line)
            size += request.size
        if current:
            chunks.append(Chunk(len(chunks), protocol, model, tuple(current)))
    return chunks
