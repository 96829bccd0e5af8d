"""The emulator over HTTP: a Starlette app that hands every request to ``Emulator.handle``.

The endpoint is plain ASGI rather than a Starlette ``Response`` because faults need
control over the connection: a "disconnect" fault returns without finishing the
response, and the server (uvicorn) then closes the connection mid-body, which is what
a client sees when an upstream dies mid-stream. A client that goes away cancels the
request, so stalled "timeout" faults and paced streams never outlive their caller.
"""

from __future__ import annotations

import asyncio
import contextlib

from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.types import Receive, Scope, Send

from ..errors import StreamInterrupted
from ..providers.transport import UpstreamReply
from .core import Emulator


async def _read_body(receive: Receive) -> bytes | None:
    """The request body, or None when the client disconnects before sending all of it."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _wait_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


class EmulatorEndpoint:
    """ASGI adapter: HTTP request -> ``Emulator.handle`` -> HTTP response."""

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = await _read_body(receive)
        if body is None:
            return
        work = asyncio.ensure_future(self._respond(scope, body, send))
        watcher = asyncio.ensure_future(_wait_disconnect(receive))
        try:
            await asyncio.wait((work, watcher), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (work, watcher):
                if not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
        if not work.cancelled():
            work.result()  # re-raise a bug so the server logs it

    async def _respond(self, scope: Scope, body: bytes, send: Send) -> None:
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        reply = await self.emulator.handle(scope["method"], scope["path"], headers, body or None)
        raw_headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in reply.headers.items()]
        if reply.body is not None:
            raw_headers.append((b"content-length", str(len(reply.body)).encode()))
            await send(
                {"type": "http.response.start", "status": reply.status, "headers": raw_headers}
            )
            await send({"type": "http.response.body", "body": reply.body})
            return
        await send({"type": "http.response.start", "status": reply.status, "headers": raw_headers})
        if await _send_stream(reply, send):
            await send({"type": "http.response.body", "body": b""})


async def _send_stream(reply: UpstreamReply, send: Send) -> bool:
    """Send the stream's chunks; False when a fault cut it (the response stays unfinished)."""
    assert reply.stream is not None
    try:
        async for chunk in reply.stream:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
    except StreamInterrupted:
        return False
    return True


def create_app(emulator: Emulator | None = None) -> Starlette:
    """A Starlette app serving ``emulator`` (a default one when omitted) on every path."""
    endpoint = EmulatorEndpoint(emulator or Emulator())
    app = Starlette(routes=[Mount("/", app=endpoint)])
    app.state.emulator = endpoint.emulator
    return app
