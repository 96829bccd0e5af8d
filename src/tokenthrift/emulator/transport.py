"""The in-process emulator as a transport: the same bytes a network upstream would
send, without a socket. The ``emulator`` provider type uses it."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TYPE_CHECKING

from ..errors import UpstreamError
from .transport import UpstreamReply

if TYPE_CHECKING:
    from ..emulator import Emulator

# Every request through the in-process emulator authenticates as this organisation, so
# the emulator's prompt caches behave as for one real provider account.
EMULATOR_API_KEY = "tt-emulator-local"


class EmulatorTransport:
    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator

    async def send(
        self,
        method: str,
        path: str,
        headers: Mapping[str, str],
        body: bytes | None,
        *,
        timeout: float,
    ) -> UpstreamReply:
        try:
            return await asyncio.wait_for(
                self.emulator.handle(method, path, headers, body), timeout=timeout
            )
        except TimeoutError:
            raise UpstreamError(
                f"upstream timed out after {timeout:g}s", status=504, kind="upstream_timeout"
            ) from None

    async def aclose(self) -> None:
        return None
