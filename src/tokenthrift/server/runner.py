"""Running the gateway (or the emulator) under uvicorn, in the foreground or in a thread."""

from __future__ import annotations

import asyncio
import importlib.util
import socket
import threading
import time
from typing import Any

import orjson
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

DEFAULT_PORT = 8787

# Connection limits (docs/security.md lists them). uvicorn has no header-read timeout:
# a connection that never finishes its request headers stays open forever (400 stalled
# connections were seen holding sockets), so the protocols below add one.
HEADER_TIMEOUT_S = 10.0
# Request line + headers; nothing legitimate comes near it (h11 defaults to 16 KiB,
# httptools has no limit of its own).
MAX_HEADER_BYTES = 64 * 1024
# An idle keep-alive connection is closed after this long.
KEEP_ALIVE_S = 30
# Connections plus in-flight requests beyond which uvicorn answers 503 (plain text:
# uvicorn renders it before the app runs; both SDKs retry a 503 with backoff).
MAX_CONCURRENCY = 4096


class GatewayServerConfig(uvicorn.Config):
    """uvicorn's config plus the limits our HTTP protocols read (picklable, so
    ``--workers`` processes get them too)."""

    def __init__(
        self,
        app: Any,
        *,
        header_timeout_s: float = HEADER_TIMEOUT_S,
        max_header_bytes: int = MAX_HEADER_BYTES,
        **options: Any,
    ) -> None:
        super().__init__(app, **options)
        self.header_timeout_s = header_timeout_s
        self.max_header_bytes = max_header_bytes


def uvicorn_config(
    app: Any,
    host: str,
    port: int,
    *,
    log_level: str = "warning",
    header_timeout_s: float = HEADER_TIMEOUT_S,
    max_header_bytes: int = MAX_HEADER_BYTES,
    **options: Any,
) -> GatewayServerConfig:
    settings: dict[str, Any] = {
        "loop": "uvloop" if importlib.util.find_spec("uvloop") else "asyncio",
        # httptools comes with uvicorn[standard] (a dependency) and is the faster parser.
        "http": GuardedHttpToolsProtocol,
        "access_log": False,
        "log_level": log_level,
        "lifespan": "on",
        "timeout_keep_alive": KEEP_ALIVE_S,
        "limit_concurrency": MAX_CONCURRENCY,
        "h11_max_incomplete_event_size": max_header_bytes,
    }
    settings.update(options)
    return GatewayServerConfig(
        app,
        host=host,
        port=port,
        header_timeout_s=header_timeout_s,
        max_header_bytes=max_header_bytes,
        **settings,
    )


class _HeaderGuard:
    """Mixed into uvicorn's HTTP/1.1 protocols: a request's headers must arrive within
    ``header_timeout_s`` and ``max_header_bytes``, else the connection is closed; and
    framing errors are answered with a JSON body both SDKs parse, not plain text.

    "Waiting for headers" is uvicorn's own state: no request cycle yet, or the last
    one answered. Between requests uvicorn's keep-alive timeout applies instead.
    """

    config: uvicorn.Config
    transport: asyncio.Transport
    cycle: Any
    _header_timer: asyncio.TimerHandle | None = None
    _header_bytes = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_timer()
        super().connection_lost(exc)  # type: ignore[misc]

    def data_received(self, data: bytes) -> None:
        super().data_received(data)  # type: ignore[misc]
        if self.transport.is_closing() or not self._awaiting_headers():
            self._disarm_header_timer()
            self._header_bytes = 0
            return
        self._header_bytes += len(data)
        if self._header_bytes > getattr(self.config, "max_header_bytes", MAX_HEADER_BYTES):
            self.send_400_response("Request headers too large.")
        elif self._header_timer is None:
            self._arm_header_timer()

    def send_400_response(self, msg: str) -> None:
        self._disarm_header_timer()
        body = orjson.dumps(_FRAMING_ERROR | {"error": {**_FRAMING_ERROR["error"], "message": msg}})
        self.transport.write(
            b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\n"
            b"content-length: " + str(len(body)).encode() + b"\r\nconnection: close\r\n\r\n" + body
        )
        self.transport.close()

    def _awaiting_headers(self) -> bool:
        return self.cycle is None or bool(self.cycle.response_complete)

    def _arm_header_timer(self) -> None:
        loop = asyncio.get_running_loop()
        timeout = getattr(self.config, "header_timeout_s", HEADER_TIMEOUT_S)
        self._header_timer = loop.call_later(timeout, self._headers_late)

    def _disarm_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_late(self) -> None:
        self._header_timer = None
        if self._awaiting_headers() and not self.transport.is_closing():
            self.transport.close()


# Both wire formats at once: OpenAI SDKs read error.message/type/param/code, Anthropic
# SDKs read type + error.type/message; each ignores the other's extra fields. The path
# (hence the client's format) is unknown when the request line itself is broken.
_FRAMING_ERROR: dict[str, Any] = {
    "type": "error",
    "error": {
        "type": "invalid_request_error",
        "message": "",
        "param": None,
        "code": "invalid_http",
    },
}


class GuardedH11Protocol(_HeaderGuard, H11Protocol):
    pass


class GuardedHttpToolsProtocol(_HeaderGuard, HttpToolsProtocol):
    pass


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class ServerThread:
    """An ASGI app served by uvicorn on a background thread (tests, demo, benchmarks)."""

    def __init__(
        self, app: Any, host: str = "127.0.0.1", port: int | None = None, **limits: Any
    ) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.server = uvicorn.Server(uvicorn_config(app, host, self.port, **limits))
        self._thread = threading.Thread(
            target=self.server.run, name="tokenthrift-server", daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 15.0) -> ServerThread:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"server on {self.url} failed to start")
            time.sleep(0.01)
        return self

    def stop(self, timeout: float = 15.0) -> None:
        self.server.should_exit = True
        self._thread.join(timeout)

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
