"""The gateway inside your process, behind the official SDKs' own HTTP client.

``http_client()`` returns an ``httpx2.Client`` (the HTTP library the ``openai`` and
``anthropic`` SDKs are built on) whose transport hands every request to the gateway's
ASGI app in this process: no server, no socket, and the same levers, budgets, ledger
rows and ``x-tokenthrift-*`` headers as over HTTP::

    import openai, tokenthrift

    client = openai.OpenAI(base_url="http://tokenthrift/v1", api_key="unused",
                           http_client=tokenthrift.http_client())

The host in the SDK's base URL does not matter (only the path is routed), so the
default base URLs work too. ``async_http_client()`` is the ``httpx2.AsyncClient``
counterpart for ``AsyncOpenAI`` / ``AsyncAnthropic``.

Like httpx's ``ASGITransport``, but streaming: a response is returned as soon as the
app starts it and its body is read as the app produces it, so SSE streams arrive event
by event and a client that stops reading early is seen by the gateway as a disconnect
(its ledger row says so), exactly as over HTTP. The sync client runs the app on one
event loop in a background thread; the async client runs it on the caller's loop.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import threading
from collections.abc import AsyncIterator, Awaitable, Coroutine, Iterator, MutableMapping
from pathlib import Path
from typing import Any, TypeVar

import httpx2

from .config import GatewayConfig, load_config
from .pipeline import Gateway

__all__ = ["InProcessAsyncClient", "InProcessClient", "async_http_client", "http_client"]

_T = TypeVar("_T")
_Message = MutableMapping[str, Any]
# The SDKs set their own per-request timeouts; this only applies to direct use.
DEFAULT_TIMEOUT = httpx2.Timeout(600.0, connect=10.0)
# How long closing a response waits for the app to notice the client went away (it
# settles the request: ledger row, budget release) before cancelling it.
_CLOSE_WAIT_S = 5.0


ConfigLike = GatewayConfig | str | Path | None


def _gateway_for(config: ConfigLike) -> Gateway:
    from .assembly import build_gateway

    if not isinstance(config, GatewayConfig):
        config = load_config(config)  # None: the embedded default (emulator upstream)
    return build_gateway(config)


# ----------------------------------------------------------------------------- the app


class _AppCall:
    """One request through the ASGI app: its response start, then its body chunks."""

    def __init__(self, app: Any, request: httpx2.Request, body: bytes) -> None:
        self._app = app
        self._body: bytes | None = body
        self._scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": request.method,
            "headers": [(k.lower(), v) for k, v in request.headers.raw],
            "scheme": request.url.scheme,
            "path": request.url.path,
            "raw_path": request.url.raw_path.split(b"?")[0],
            "query_string": request.url.query,
            "server": (request.url.host, request.url.port),
            "client": ("127.0.0.1", 0),
            "root_path": "",
        }
        self._chunks: asyncio.Queue[bytes | BaseException | None] = asyncio.Queue()
        self._disconnected = asyncio.Event()
        self._started: asyncio.Future[tuple[int, list[tuple[bytes, bytes]]]] | None = None
        self._task: asyncio.Task[None] | None = None
        self._finished = False

    async def start(self) -> tuple[int, list[tuple[bytes, bytes]]]:
        loop = asyncio.get_running_loop()
        self._started = loop.create_future()
        self._task = loop.create_task(self._run())
        return await self._started

    async def _run(self) -> None:
        assert self._started is not None
        try:
            await self._app(self._scope, self._receive, self._send)
        except BaseException as exc:  # the app is tokenthrift's: this is a bug
            if not self._started.done():
                self._started.set_exception(exc)
            else:
                self._chunks.put_nowait(exc)
            if isinstance(exc, asyncio.CancelledError):
                raise
            return
        if not self._started.done():
            self._started.set_exception(RuntimeError("the gateway app sent no response"))
        self._chunks.put_nowait(None)

    async def _receive(self) -> _Message:
        if self._body is not None:
            body, self._body = self._body, None
            return {"type": "http.request", "body": body, "more_body": False}
        await self._disconnected.wait()
        return {"type": "http.disconnect"}

    async def _send(self, message: _Message) -> None:
        assert self._started is not None
        if message["type"] == "http.response.start":
            headers = [(bytes(k), bytes(v)) for k, v in message.get("headers", [])]
            self._started.set_result((message["status"], headers))
        elif message["type"] == "http.response.body":
            body = message.get("body", b"")
            if body:
                self._chunks.put_nowait(bytes(body))
            if not message.get("more_body", False):
                self._chunks.put_nowait(None)

    async def next_chunk(self) -> bytes | None:
        """The next body chunk; None at the end of the body."""
        if self._finished:
            return None
        item = await self._chunks.get()
        if item is None:
            self._finished = True
            self._disconnected.set()  # the app may be listening for it: let it finish
            return None
        if isinstance(item, BaseException):
            self._finished = True
            raise httpx2.ReadError(f"the in-process gateway failed: {item!r}") from item
        return item

    async def aclose(self) -> None:
        """The client is done with the response: a disconnect if it is still running."""
        self._finished = True
        self._disconnected.set()
        task = self._task
        if task is None or task.done():
            return
        try:
            await asyncio.wait_for(asyncio.shield(task), _CLOSE_WAIT_S)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        except BaseException:
            return


# ------------------------------------------------------------------------------- async


class _AsyncBody(httpx2.AsyncByteStream):
    def __init__(self, call: _AppCall) -> None:
        self._call = call

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while (chunk := await self._call.next_chunk()) is not None:
            yield chunk

    async def aclose(self) -> None:
        await self._call.aclose()


class AsyncGatewayTransport(httpx2.AsyncBaseTransport):
    """Requests to the gateway app on the caller's event loop."""

    def __init__(self, gateway: Gateway) -> None:
        from .server.app import create_app

        self.gateway = gateway
        self._app = create_app(gateway)
        self._closed = False
        atexit.register(self._flush_at_exit)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        body = await request.aread()
        call = _AppCall(self._app, request, body)
        status, headers = await call.start()
        return httpx2.Response(status, headers=headers, stream=_AsyncBody(call), request=request)

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            atexit.unregister(self._flush_at_exit)
            await self.gateway.aclose()

    def _flush_at_exit(self) -> None:
        # The caller's loop is gone at exit: at least make the ledger rows durable.
        if not self._closed:
            self.gateway.writer.flush()


class InProcessAsyncClient(httpx2.AsyncClient):
    """An ``httpx2.AsyncClient`` served by a gateway in this process (``.gateway``)."""

    def __init__(self, gateway: Gateway, **options: Any) -> None:
        options.setdefault("timeout", DEFAULT_TIMEOUT)
        self._gateway_transport = AsyncGatewayTransport(gateway)
        super().__init__(transport=self._gateway_transport, **options)

    @property
    def gateway(self) -> Gateway:
        return self._gateway_transport.gateway


def async_http_client(config: ConfigLike = None, *, gateway: Gateway | None = None,
                      **options: Any) -> InProcessAsyncClient:
    """An ``httpx2.AsyncClient`` for ``AsyncOpenAI``/``AsyncAnthropic(http_client=...)``.

    ``config`` is a ``GatewayConfig``, a YAML path, or None for the embedded default;
    ``gateway`` injects a built one instead. ``options`` go to ``httpx2.AsyncClient``
    (e.g. ``headers={"x-tokenthrift-team": "search"}`` to attribute every call).
    """
    return InProcessAsyncClient(gateway or _gateway_for(config), **options)


# -------------------------------------------------------------------------------- sync


class _LoopThread:
    """One event loop on a daemon thread; the sync transport runs the app there."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever,
                                        name="tokenthrift-inprocess", daemon=True)
        self._thread.start()

    def run(self, work: Coroutine[Any, Any, _T] | Awaitable[_T]) -> _T:
        async def wrapped() -> _T:
            return await work

        return asyncio.run_coroutine_threadsafe(wrapped(), self.loop).result()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10.0)
        if not self._thread.is_alive():
            self.loop.close()


class _SyncBody(httpx2.SyncByteStream):
    def __init__(self, call: _AppCall, loop: _LoopThread) -> None:
        self._call = call
        self._loop = loop

    def __iter__(self) -> Iterator[bytes]:
        while (chunk := self._loop.run(self._call.next_chunk())) is not None:
            yield chunk

    def close(self) -> None:
        self._loop.run(self._call.aclose())


class GatewayTransport(httpx2.BaseTransport):
    """Requests to the gateway app, run on a background event loop thread."""

    def __init__(self, gateway: Gateway | None = None, config: ConfigLike = None) -> None:
        from .server.app import create_app

        self._loop = _LoopThread()
        try:
            # Built on the loop that will run it, for parts that bind to their loop.
            self.gateway = gateway or self._loop.run(_build(config))
            self._app = self._loop.run(_create(create_app, self.gateway))
        except BaseException:
            self._loop.stop()
            raise
        self._closed = False
        self._lock = threading.Lock()
        atexit.register(self.close)

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        if self._closed:
            raise httpx2.ConnectError("the in-process gateway is closed")
        body = request.read()
        call = self._loop.run(_new_call(self._app, request, body))
        status, headers = self._loop.run(call.start())
        return httpx2.Response(status, headers=headers, stream=_SyncBody(call, self._loop),
                               request=request)

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        atexit.unregister(self.close)
        try:
            self._loop.run(self.gateway.aclose())
        finally:
            self._loop.stop()


async def _build(config: ConfigLike) -> Gateway:
    return _gateway_for(config)


async def _create(factory: Any, gateway: Gateway) -> Any:
    return factory(gateway)


async def _new_call(app: Any, request: httpx2.Request, body: bytes) -> _AppCall:
    # Created on the loop thread: its queue and events belong to that loop.
    return _AppCall(app, request, body)


class InProcessClient(httpx2.Client):
    """An ``httpx2.Client`` served by a gateway in this process (``.gateway``)."""

    def __init__(self, transport: GatewayTransport, **options: Any) -> None:
        options.setdefault("timeout", DEFAULT_TIMEOUT)
        self._gateway_transport = transport
        super().__init__(transport=transport, **options)

    @property
    def gateway(self) -> Gateway:
        return self._gateway_transport.gateway


def http_client(config: ConfigLike = None, *, gateway: Gateway | None = None,
                **options: Any) -> InProcessClient:
    """An ``httpx2.Client`` for ``OpenAI``/``Anthropic(http_client=...)``.

    ``config`` is a ``GatewayConfig``, a YAML path, or None for the embedded default
    (every model served by the built-in emulator, SQLite ledger under
    ``./.tokenthrift/``); ``gateway`` injects a built one instead. ``options`` go to
    ``httpx2.Client`` (e.g. ``headers={"x-tokenthrift-team": "search"}``). Closing the
    client (or the SDK client that owns it) closes the gateway and flushes its ledger.
    """
    return InProcessClient(GatewayTransport(gateway, config), **options)
