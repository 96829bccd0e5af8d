"""Per-organisation rate limits and the rate-limit headers both providers send.

OpenAI and Anthropic both describe their limits as token buckets that refill
continuously up to the per-minute limit, so that is what we model: a request takes
one request slot and its tokens are debited once known (the token bucket may go
negative, which then blocks requests until it refills). ``rpm``/``tpm`` of 0 mean
"not enforced"; the headers then advertise the config's default limits.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from .config import EmulatorConfig
from .replies import Protocol


@dataclass(slots=True)
class _Bucket:
    requests: float
    tokens: float
    updated: float


class RateLimiter:
    def __init__(self, config: EmulatorConfig, clock: Callable[[], float]) -> None:
        self._clock = clock
        self.request_limit = config.rpm or config.default_rpm
        self.token_limit = config.tpm or config.default_tpm
        self._enforce_requests = config.rpm > 0
        self._enforce_tokens = config.tpm > 0
        self._buckets: dict[str, _Bucket] = {}

    def _bucket(self, org: str) -> _Bucket:
        now = self._clock()
        bucket = self._buckets.get(org)
        if bucket is None:
            bucket = _Bucket(self.request_limit, self.token_limit, now)
            self._buckets[org] = bucket
            return bucket
        elapsed = now - bucket.updated
        if elapsed > 0:
            bucket.requests = min(
                self.request_limit, bucket.requests + self.request_limit * elapsed / 60.0
            )
            bucket.tokens = min(self.token_limit, bucket.tokens + self.token_limit * elapsed / 60.0)
            bucket.updated = now
        return bucket

    def acquire(self, org: str) -> float | None:
        """Take a request slot; returns seconds to wait instead when the org is limited."""
        bucket = self._bucket(org)
        waits = []
        if self._enforce_requests and bucket.requests < 1:
            waits.append((1 - bucket.requests) * 60.0 / self.request_limit)
        if self._enforce_tokens and bucket.tokens <= 0:
            waits.append((1 - bucket.tokens) * 60.0 / self.token_limit)
        if waits:
            return max(waits)
        bucket.requests -= 1
        return None

    def debit(self, org: str, tokens: int) -> None:
        self._bucket(org).tokens -= tokens

    def headers(self, org: str, protocol: Protocol) -> dict[str, str]:
        bucket = self._bucket(org)
        requests_left = max(0, int(bucket.requests))
        tokens_left = max(0, int(bucket.tokens))
        request_reset = (self.request_limit - bucket.requests) * 60.0 / self.request_limit
        token_reset = (self.token_limit - bucket.tokens) * 60.0 / self.token_limit
        if protocol == "anthropic":
            return {
                "anthropic-ratelimit-requests-limit": str(self.request_limit),
                "anthropic-ratelimit-requests-remaining": str(requests_left),
                "anthropic-ratelimit-requests-reset": _rfc3339_in(request_reset),
                "anthropic-ratelimit-tokens-limit": str(self.token_limit),
                "anthropic-ratelimit-tokens-remaining": str(tokens_left),
                "anthropic-ratelimit-tokens-reset": _rfc3339_in(token_reset),
            }
        return {
            "x-ratelimit-limit-requests": str(self.request_limit),
            "x-ratelimit-remaining-requests": str(requests_left),
            "x-ratelimit-reset-requests": duration(request_reset),
            "x-ratelimit-limit-tokens": str(self.token_limit),
            "x-ratelimit-remaining-tokens": str(tokens_left),
            "x-ratelimit-reset-tokens": duration(token_reset),
        }

    def clear(self) -> None:
        self._buckets.clear()


def duration(seconds: float) -> str:
    """OpenAI's reset format: ``6ms``, ``1.5s``, ``2m0s``."""
    if seconds < 1:
        return f"{max(0, round(seconds * 1000))}ms"
    if seconds < 60:
        return f"{seconds:.3g}s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}m{rest}s"


_last_stamp: tuple[int, str] = (0, "")


def _rfc3339_in(seconds: float) -> str:
    """Anthropic's reset format: the RFC 3339 time when the bucket is full again."""
    global _last_stamp
    at = int(time.time() + max(0.0, seconds) + 0.999)
    if _last_stamp[0] != at:  # formatting a datetime is the slow part; reuse per second
        _last_stamp = (at, datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    return _last_stamp[1]
