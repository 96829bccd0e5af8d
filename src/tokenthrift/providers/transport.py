"""Transports carry one HTTP exchange to an upstream.

Like httpx's transports, a provider never knows whether it talks to the network or to
the in-process emulator: both return an ``UpstreamReply`` whose body is read whole or
iterated as bytes. This is how the demo, tests and benchmarks run without a network.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Protocol

import aiohttp

from ..errors import UpstreamError


@dataclass
class UpstreamReply:
    """An upstream's answer: status, lower-cased headers, and either a body or a stream."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    stream: AsyncIterator[bytes] | None = None
    _release: object = None

    async def read(self) -> bytes:
        if self.body is not None:
            return self.body
        chunks = [chunk async for chunk in self.iter_bytes()]
        self.body = b"".join(chunks)
        return self.body

    async def iter_bytes(self) -> AsyncIterator[bytes]:
        if self.body is not None:
            yield self.body
            return
        assert self.stream is not None
        async for chunk in self.stream:
            yield chunk

    async def aclose(self) -> None:
        release = self._release
        if release is not None and hasattr(release, "release"):
            release.release()
        stream = self.stream
        if stream is not None and hasattr(stream, "aclose"):
            await stream.aclose()


class Transport(Protocol):
    async def send(
        self,
        method: str,
        path: str,
        headers: Mapping[str, str],
        body: bytes | None,
        *,
        timeout: float,
    ) -> UpstreamReply: ...

    async def aclose(self) -> None: ...


class HTTPTransport:
    """Sends requests to ``base_url`` over a pooled aiohttp session (keep-alive)."""

    def __init__(self, base_url: str, *, max_connections: int = 512) -> None:
        self.base_url = base_url.rstrip("/")
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self._max_connections, ttl_dns_cache=300, enable_cleanup_closed=True
            )
            self._session = aiohttp.ClientSession(
                connector=connector, auto_decompress=True, skip_auto_headers=("User-Agent",)
            )
        return self._session

    async def send(
        self,
        method: str,
        path: str,
        headers: Mapping[str, str],
        body: bytes | None,
        *,
        timeout: float,
    ) -> UpstreamReply:
        url = self.base_url + path
        try:
            response = await self._client().request(
                method,
                url,
                data=body,
                headers=dict(headers),
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=timeout, sock_read=timeout),
            )
        except TimeoutError as exc:
            raise UpstreamError(
                f"upstream timed out after {timeout:g}s", status=504, kind="upstream_timeout"
            ) from exc
        except aiohttp.ClientError as exc:
            raise UpstreamError(f"upstream unreachable: {type(exc).__name__}", status=502) from exc
        reply_headers = {k.lower(): v for k, v in response.headers.items()}
        return UpstreamReply(
            status=response.status,
            headers=reply_headers,
            stream=_iter_response(response, timeout),
            _release=response,
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


async def _iter_response(response: aiohttp.ClientResponse, timeout: float) -> AsyncIterator[bytes]:
    from ..errors import StreamInterrupted

    try:
        async for chunk in response.content.iter_any():
            yield chunk
    except TimeoutError as exc:
        raise StreamInterrupted(f"upstream stalled for {timeout:g}s") from exc
    except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError) as exc:
        raise StreamInterrupted(f"upstream connection cut: {type(exc).__name__}") from exc
    finally:
        response.release()
