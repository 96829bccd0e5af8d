"""Transports carry one HTTP exchange to an upstream.

Like httpx's transports, a provider never knows whether it talks to the network or to
the in-process emulator: both return an ``UpstreamReply`` whose body is read whole or
iterated as bytes. This is how the demo, tests and benchmarks run without a network.
"""

from __future__ import annotations

import zlib
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


# The most an upstream reply may hold, after decompression. Chat replies are far below
# it (128k output tokens of SSE is ~10 MB); the largest legitimate replies are big
# embedding batches (2,048 inputs x 1,536 floats is ~60 MB of JSON). Beyond it the
# reply is refused (502) instead of being buffered: a gzip bomb once held 1.3 GB.
MAX_UPSTREAM_RESPONSE_BYTES = 64 * 1024 * 1024
# Encodings the gateway decodes itself, so decompression is bounded by the budget above.
_ACCEPT_ENCODING = "gzip, deflate"


class HTTPTransport:
    """Sends requests to ``base_url`` over a pooled aiohttp session (keep-alive)."""

    def __init__(
        self,
        base_url: str,
        *,
        max_connections: int = 512,
        max_response_bytes: int = MAX_UPSTREAM_RESPONSE_BYTES,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._max_connections = max_connections
        self._max_response_bytes = max_response_bytes
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self._max_connections, ttl_dns_cache=300, enable_cleanup_closed=True
            )
            # auto_decompress=False: aiohttp would inflate each chunk without a bound;
            # _iter_response inflates within the reply's byte budget instead.
            self._session = aiohttp.ClientSession(
                connector=connector, auto_decompress=False, skip_auto_headers=("User-Agent",)
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
                headers={**headers, "accept-encoding": _ACCEPT_ENCODING},
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=timeout, sock_read=timeout),
            )
        except TimeoutError as exc:
            raise UpstreamError(
                f"upstream timed out after {timeout:g}s", status=504, kind="upstream_timeout"
            ) from exc
        except aiohttp.ClientError as exc:
            raise UpstreamError(f"upstream unreachable: {type(exc).__name__}", status=502) from exc
        reply_headers = {k.lower(): v for k, v in response.headers.items()}
        budget = BodyBudget(reply_headers.get("content-encoding", ""), self._max_response_bytes)
        return UpstreamReply(
            status=response.status,
            headers=reply_headers,
            stream=_iter_response(response, timeout, budget),
            _release=response,
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class BodyBudget:
    """Decodes a reply body (identity, gzip or deflate) chunk by chunk, refusing to
    produce more than ``limit`` bytes: memory stays bounded whatever the ratio."""

    def __init__(self, content_encoding: str, limit: int) -> None:
        self.limit = limit
        self.produced = 0
        encoding = content_encoding.strip().lower()
        if encoding in ("", "identity"):
            self._inflate = None
        elif encoding in ("gzip", "x-gzip", "deflate"):
            self._inflate = zlib.decompressobj(wbits=47)  # 32 + 15: gzip or zlib header
        else:
            raise UpstreamError(
                f"upstream sent an unsupported content-encoding {encoding!r}", status=502
            )

    def feed(self, chunk: bytes) -> bytes:
        room = self.limit - self.produced
        if self._inflate is None:
            out = chunk
        else:
            try:
                out = self._inflate.decompress(chunk, room + 1)  # max_length >= 1
            except zlib.error as exc:
                raise UpstreamError("upstream sent a corrupt compressed body", status=502) from exc
        return self._count(out)

    def flush(self) -> bytes:
        if self._inflate is None:
            return b""
        try:
            return self._count(self._inflate.flush(self.limit - self.produced + 1))
        except zlib.error as exc:
            raise UpstreamError("upstream sent a corrupt compressed body", status=502) from exc

    def _count(self, out: bytes) -> bytes:
        self.produced += len(out)
        if self.produced > self.limit:
            raise UpstreamError(
                f"upstream response too large: more than {self.limit} bytes", status=502
            )
        return out


async def _iter_response(
    response: aiohttp.ClientResponse, timeout: float, budget: BodyBudget
) -> AsyncIterator[bytes]:
    from ..errors import StreamInterrupted

    try:
        async for chunk in response.content.iter_any():
            decoded = budget.feed(chunk)
            if decoded:
                yield decoded
        tail = budget.flush()
        if tail:
            yield tail
    except TimeoutError as exc:
        raise StreamInterrupted(f"upstream stalled for {timeout:g}s") from exc
    except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError) as exc:
        raise StreamInterrupted(f"upstream connection cut: {type(exc).__name__}") from exc
    except UpstreamError:
        response.close()  # drop the connection: the rest of the body is never read
        raise
    finally:
        response.release()
