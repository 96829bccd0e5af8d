"""Every response carries ``x-tokenthrift-request-id``, errors included.

Endpoints that create a ledger row set the header to that row's id; for everything else
(a 404, a refused body, an admin call) this middleware mints one, so a client can always
quote an id when it reports a problem. A pure ASGI middleware: it adds one header to the
response start message and never buffers a body (streams pass through untouched).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..exchange import new_request_id

HEADER = b"x-tokenthrift-request-id"


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if not any(name.lower() == HEADER for name, _ in headers):
                    headers.append((HEADER, new_request_id().encode()))
                    message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_id)
