"""The in-process emulator as a provider transport: the same bytes a network upstream
would send, without a socket. The composition root gives it to ``emulator`` providers."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TYPE_CHECKING

from ..errors import UpstreamError
from ..providers.transport import UpstreamReply

if TYPE_CHECKING:
    from .core import Emulator


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
