"""The Batch API endpoints of one upstream provider, over the gateway's own transport
(HTTP, or the in-process emulator) with the provider's credentials."""

from __future__ import annotations

import uuid
from typing import Any

import orjson

from ..config import GatewayConfig
from ..errors import UpstreamError
from ..providers.registry import DEFAULT_BASE_URLS, EMULATOR_API_KEY, ProviderSet
from ..providers.transport import Transport, UpstreamReply
from ..providers.wire_provider import WireProvider

ANTHROPIC_VERSION = "2023-06-01"
TIMEOUT_S = 120.0
_PROBE_MODEL = {"openai": "gpt-4o-mini", "anthropic": "claude-haiku-4-5"}


class UpstreamBatches:
    def __init__(self, name: str, protocol: str, transport: Transport,
                 headers: dict[str, str], strip_v1: bool) -> None:
        self.name = name
        self.protocol = protocol
        self.transport = transport
        self.headers = headers
        self._strip_v1 = strip_v1

    @classmethod
    def of(cls, config: GatewayConfig, providers: ProviderSet, name: str,
           protocol: str) -> UpstreamBatches:
        settings = config.providers[name]
        provider = providers.get(name, _PROBE_MODEL[protocol])
        if not isinstance(provider, WireProvider):
            raise TypeError(f"provider {name!r} has no HTTP transport")
        key = settings.api_key or (EMULATOR_API_KEY if settings.type == "emulator" else "")
        if protocol == "anthropic":
            headers = {"x-api-key": key, "anthropic-version": ANTHROPIC_VERSION}
        else:
            headers = {"authorization": f"Bearer {key}"} if key else {}
        headers.update(settings.headers)
        # A network OpenAI base URL ends in /v1 (https://api.openai.com/v1).
        base = settings.base_url or DEFAULT_BASE_URLS.get(settings.type, "")
        strip = settings.type == "openai" and base.rstrip("/").endswith("/v1")
        return cls(name, protocol, provider.transport, headers, strip)

    async def send(self, method: str, path: str, body: bytes | None = None,
                   content_type: str = "application/json") -> UpstreamReply:
        if self._strip_v1:
            path = path.removeprefix("/v1")
        headers = {**self.headers, "content-type": content_type}
        return await self.transport.send(method, path, headers, body, timeout=TIMEOUT_S)

    async def read(self, method: str, path: str, body: bytes | None = None,
                   content_type: str = "application/json") -> tuple[int, bytes, str]:
        reply = await self.send(method, path, body, content_type)
        try:
            data = await reply.read()
        finally:
            await reply.aclose()
        return reply.status, data, reply.headers.get("content-type", "application/json")

    async def json(self, method: str, path: str, payload: Any = None) -> dict[str, Any]:
        status, data, _ = await self.read(method, path,
                                          None if payload is None else orjson.dumps(payload))
        if status >= 400:
            raise UpstreamError(f"upstream {self.name} answered {status} on {path}",
                                status=status)
        parsed: dict[str, Any] = orjson.loads(data)
        return parsed

    async def upload(self, filename: str, content: bytes) -> str:
        boundary = uuid.uuid4().hex
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\n"
                f"batch\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
                f"filename=\"{filename}\"\r\nContent-Type: application/jsonl\r\n\r\n"
                ).encode() + content + f"\r\n--{boundary}--\r\n".encode()
        status, data, _ = await self.read("POST", "/v1/files", body,
                                          f"multipart/form-data; boundary={boundary}")
        if status >= 400:
            raise UpstreamError(f"upstream {self.name} refused the batch file ({status})",
                                status=status)
        return str(orjson.loads(data)["id"])

    async def content(self, path: str) -> bytes:
        status, data, _ = await self.read("GET", path)
        if status >= 400:
            raise UpstreamError(f"upstream {self.name} answered {status} on {path}",
                                status=status)
        return data
