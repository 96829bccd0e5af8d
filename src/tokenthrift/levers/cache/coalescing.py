"""In-flight coalescing: identical requests that arrive while the first is still being
answered wait for that answer instead of each calling upstream.

The first request with an exact key that misses becomes the key's *leader*; an identical
request (same exact key) arriving before the leader finishes becomes a *waiter*. The
leader's answer is handed to its waiters as the payload bytes the cache stores (each
waiter decodes its own copy, with its own response id), the moment the leader settles.
A leader that fails, or whose answer may not be stored (cut, fallback model, error),
releases its waiters with nothing: they then call upstream themselves, each on its own,
so one failure never becomes everyone's (and never a chain of waits).

Coalescing is per gateway process: replicas each lead their own burst (their answers
then meet in the shared backend). Futures belong to the event loop that created them;
a request on another loop (a second server thread) does not wait.
"""

from __future__ import annotations

import asyncio

# Wait at most this long when a request has no deadline of its own.
_MAX_WAIT_S = 600.0


class InFlight:
    """The leaders in flight, by exact-key entry id."""

    def __init__(self) -> None:
        self._leaders: dict[str, asyncio.Future[bytes | None]] = {}
        self.waiting = 0  # requests waiting for a leader right now

    def __len__(self) -> int:
        return len(self._leaders)

    def lead(self, key_id: str) -> bool:
        """Become the leader of ``key_id`` unless there already is one."""
        if key_id in self._leaders:
            return False
        self._leaders[key_id] = asyncio.get_running_loop().create_future()
        return True

    def leader(self, key_id: str) -> asyncio.Future[bytes | None] | None:
        """The answer to wait for, if a leader of ``key_id`` is in flight on this loop."""
        future = self._leaders.get(key_id)
        if future is None or future.done() or future.get_loop() is not asyncio.get_running_loop():
            return None
        return future

    async def wait(self, future: asyncio.Future[bytes | None], timeout_s: float | None
                   ) -> bytes | None:
        """The leader's payload, or None (it failed, or ``timeout_s`` passed first)."""
        timeout = _MAX_WAIT_S if timeout_s is None else max(0.0, timeout_s)
        self.waiting += 1
        try:
            # shield: a waiter that gives up (timeout, client gone) must not cancel the
            # answer the other waiters are waiting for.
            return await asyncio.wait_for(asyncio.shield(future), timeout)
        except TimeoutError:
            return None
        finally:
            self.waiting -= 1

    def release(self, key_id: str, payload: bytes | None) -> None:
        """The leader is done: hand ``payload`` (None = nothing to share) to its waiters."""
        future = self._leaders.pop(key_id, None)
        if future is not None and not future.done():
            future.set_result(payload)


__all__ = ["InFlight"]
