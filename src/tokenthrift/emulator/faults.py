"""Scripted and random failures, and how they reach the caller.

Faults apply to the generation endpoints (chat completions, messages, embeddings);
listing models and counting tokens never fail, so a scripted fault is always spent on
the request a test meant.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace

from ..errors import StreamInterrupted
from .config import EmulatorConfig, Fault
from .replies import ApiError, Protocol, error_event

DEFAULT_RETRY_AFTER_S = 1.0


class FaultQueue:
    """FIFO of scripted faults; a request consumes one use of the first that matches."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> None:
        self._faults.append(replace(fault))

    def clear(self) -> None:
        self._faults.clear()

    def pending(self) -> list[Fault]:
        return [replace(f) for f in self._faults]

    def take(self, model: str | None) -> Fault | None:
        if not self._faults:
            return None
        for position, fault in enumerate(self._faults):
            if fault.model is None or fault.model == model:
                fault.count -= 1
                if fault.count == 0:
                    del self._faults[position]
                return replace(fault, count=1)
        return None


class RandomFaults:
    """``error_rate`` failures from a seeded RNG, so a run's failure sequence replays."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.rate = config.error_rate
        self._rng = random.Random(config.seed)

    def draw(self, protocol: Protocol) -> Fault | None:
        if self.rate <= 0 or self._rng.random() >= self.rate:
            return None
        statuses = (500, 529) if protocol == "anthropic" else (500, 503)
        return Fault("status", status=self._rng.choice(statuses))


def fault_error(fault: Fault) -> ApiError:
    retry_after = fault.retry_after
    if retry_after is None and fault.status in (429, 503, 529):
        retry_after = DEFAULT_RETRY_AFTER_S
    return ApiError(fault.status, retry_after=retry_after)


def retry_headers(retry_after: float | None) -> dict[str, str]:
    """``retry-after`` (seconds) plus OpenAI's ``retry-after-ms``; both SDKs read them."""
    if retry_after is None:
        return {}
    return {"retry-after": f"{retry_after:g}", "retry-after-ms": str(round(retry_after * 1000))}


async def paced_stream(
    events: Sequence[bytes],
    *,
    ttft_s: float,
    tokens_per_s: float,
    fault: Fault | None,
    protocol: Protocol,
    stall_s: float,
) -> AsyncIterator[bytes]:
    """Yield SSE events with the configured latency, then apply a stream fault.

    With no latency configured the events go out as one chunk: that is what a fast
    upstream looks like on the wire, and it keeps load tests cheap.
    """
    cut = len(events) if fault is None else min(fault.after_chunks, len(events))
    if ttft_s > 0:
        await asyncio.sleep(ttft_s)
    if tokens_per_s <= 0:
        if cut:
            yield b"".join(events[:cut])
    else:
        interval = 1.0 / tokens_per_s
        for index in range(cut):
            if index:
                await asyncio.sleep(interval)
            yield events[index]
    if fault is None:
        return
    if fault.kind == "status":
        yield error_event(protocol, fault_error(fault))
        return
    if fault.kind == "timeout":
        await asyncio.sleep(stall_s)
    raise StreamInterrupted(f"emulator fault: {fault.kind} after {cut} events")


async def interrupted_body() -> AsyncIterator[bytes]:
    """A body whose connection is cut before its first byte."""
    raise StreamInterrupted("emulator fault: disconnect before the body")
    yield b""  # pragma: no cover - makes this an async generator
