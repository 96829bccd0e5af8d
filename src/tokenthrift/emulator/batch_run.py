"""The lifecycle both Batch APIs share, on simulated time (``batch_clock``).

A batch validates for ``batch_validation_s``, then works through its requests in order at
``batch_requests_per_s``; a request's result exists once its turn has come. Ending:

* all requests done → finalizing for ``batch_finalize_s`` → completed (OpenAI) / ended;
* the completion window (24 h) passes first → expired: what is done is kept, the rest
  fails with ``batch_expired`` (OpenAI) / ``expired`` results (Anthropic);
* cancelled → what is done is kept, the rest is cancelled (``canceled`` results).

Results are computed lazily, when the state is looked at, so a batch of 10,000 requests
costs nothing until someone polls it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

WINDOW_S = 24 * 3600.0
# (status code, response body) of one request.
Executor = Callable[[dict[str, Any]], tuple[int, dict[str, Any]]]


@dataclass(slots=True)
class Timing:
    validation_s: float
    requests_per_s: float
    finalize_s: float


@dataclass(slots=True)
class BatchRun:
    id: str
    org: str
    requests: list[tuple[str, dict[str, Any]]]  # (custom_id, request body)
    created_at: float
    timing: Timing
    execute: Executor
    invalid: bool = False  # failed validation: nothing runs
    cancel_requested_at: float | None = None
    results: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    metadata: dict[str, Any] | None = None

    @property
    def started_at(self) -> float:
        return self.created_at + self.timing.validation_s

    @property
    def expires_at(self) -> float:
        return self.created_at + WINDOW_S

    def done_by(self, now: float) -> int:
        """How many requests have had their turn by ``now``."""
        if self.invalid or now < self.started_at:
            return 0
        limit = min(now, self.expires_at)
        if self.cancel_requested_at is not None:
            limit = min(limit, self.cancel_requested_at)
        rate = self.timing.requests_per_s
        if rate <= 0:
            return 0
        return min(len(self.requests), int((limit - self.started_at) * rate + 1e-9))

    def run_until(self, now: float) -> None:
        target = self.done_by(now)
        while len(self.results) < target:
            _, body = self.requests[len(self.results)]
            self.results.append(self.execute(body))

    @property
    def all_done_at(self) -> float:
        rate = self.timing.requests_per_s
        return self.started_at + (len(self.requests) / rate if rate > 0 else float("inf"))

    def phase(self, now: float) -> tuple[str, float | None]:
        """(phase, since when): validating, failed, in_progress, cancelling, cancelled,
        finalizing, completed or expired."""
        if now < self.started_at:
            return "validating", None
        if self.invalid:
            return "failed", self.started_at
        cancel = self.cancel_requested_at
        done_at = self.all_done_at
        if cancel is not None and cancel < min(done_at, self.expires_at):
            ended = cancel + self.timing.finalize_s
            return ("cancelled", ended) if now >= ended else ("cancelling", cancel)
        if done_at <= self.expires_at:
            if now < done_at:
                return "in_progress", self.started_at
            ended = done_at + self.timing.finalize_s
            return ("completed", ended) if now >= ended else ("finalizing", done_at)
        if now < self.expires_at:
            return "in_progress", self.started_at
        return "expired", self.expires_at

    def ended(self, now: float) -> bool:
        return self.phase(now)[0] in ("failed", "cancelled", "completed", "expired")
