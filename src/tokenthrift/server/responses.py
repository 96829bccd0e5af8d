"""OpenAI Responses API: ``POST /v1/responses``, ``GET`` and ``DELETE /v1/responses/{id}``.

The same flow as chat (``chat.py``): parse the client's wire format into a canonical
request, run the pipeline (every lever, the accounting, a ledger row with endpoint
``responses``), render the answer or its typed event stream. Two things are particular
to this API: a request may continue a stored response (``previous_response_id``), and
the answer is stored (``store``, default true) per tenant in the ledger's database
(``response_store``). The response id is the ledger row's request id with a ``resp_``
prefix, so a response and its cost are found from one another.

Each attempt is forwarded natively to an OpenAI-protocol upstream that speaks the
Responses API and translated for the rest (``responses_forward``); the
``x-tokenthrift-upstream-api`` header says which API answered (``responses``,
``chat.completions`` or ``messages``; absent for a cache hit). A forwarded answer is
relayed as the upstream's own ``response`` object under the gateway's id; a forwarded
stream is re-rendered from the canonical events (as cache hits and translated streams
are), so its events always carry the gateway's id and sequence numbers.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ..errors import GatewayError
from ..exchange import new_request_id
from ..pipeline import CompletionStream, Gateway
from ..wire import _responses_items, openai_responses
from ..wire._responses_upstream import relayed
from ..wire.openai_responses import ResponsesRequest, ResponsesStreamRenderer
from .attribution import attribution_for, client_key, key_id, lever_directives
from .chat import SettlingStreamingResponse, relay
from .http import error_response, read_json
from .response_store import ResponseStore, StoredResponse
from .responses_forward import ResponsesForwarder

log = logging.getLogger("tokenthrift.server")
JSON = "application/json"
ENDPOINT = "responses"
UPSTREAM_API_HEADER = "x-tokenthrift-upstream-api"


def response_id_for(request_id: str) -> str:
    return "resp_" + request_id.removeprefix("req_")


class ResponsesEndpoints:
    """The routes, and the response store they open on first use."""

    def __init__(self, store: ResponseStore | None = None) -> None:
        self._store = store
        self._lock = asyncio.Lock()

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/v1/responses", self.create, methods=["POST"]),
            Route("/responses", self.create, methods=["POST"]),
            Route("/v1/responses/{response_id}", self.retrieve, methods=["GET"]),
            Route("/v1/responses/{response_id}", self.delete, methods=["DELETE"]),
            Route("/v1/responses/{response_id}/input_items", self.list_input_items,
                  methods=["GET"]),
        ]

    async def store_for(self, gateway: Gateway) -> ResponseStore:
        if self._store is None:
            async with self._lock:
                if self._store is None:
                    self._store = await asyncio.to_thread(ResponseStore.for_config,
                                                          gateway.config)
        return self._store

    # -- POST -------------------------------------------------------------------

    async def create(self, request: Request) -> Response:
        started = time.perf_counter()
        gateway: Gateway = request.app.state.gateway
        request_id = new_request_id()
        try:
            body = await read_json(request, gateway.config.max_body_bytes)
            parsed = openai_responses.parse_request(body)
            tenant = _tenant(request)
            history = await self._history(gateway, tenant, parsed)
            chat = parsed.chat
            exchange = gateway.exchange(chat, attribution_for(request.headers, chat),
                                        endpoint=ENDPOINT, started=started,
                                        request_id=request_id)
            exchange.directives = lever_directives(request.headers)
            key = client_key(request.headers)
            response_id = response_id_for(request_id)
            forward = ResponsesForwarder(parsed, history)
            if chat.stream:
                stream = await gateway.stream(chat, exchange=exchange, client_key=key,
                                              forward=forward)
                events = self._relay(gateway, stream, parsed, response_id, tenant, history)
                return SettlingStreamingResponse(
                    stream, events, media_type="text/event-stream",
                    headers={**stream.headers, **_api_header(forward),
                             "cache-control": "no-cache"})
            completion = await gateway.complete(chat, exchange=exchange, client_key=key,
                                                forward=forward)
            if forward.upstream is not None:
                payload = relayed(forward.upstream, response_id=response_id, store=parsed.store,
                                  previous_response_id=parsed.previous_response_id)
            else:
                payload = openai_responses.render_response(completion.response, parsed,
                                                           response_id)
            if parsed.store:
                await self._keep(gateway, tenant, parsed, history, payload)
            return Response(orjson.dumps(payload), media_type=JSON,
                            headers={**completion.headers, **_api_header(forward)})
        except GatewayError as error:
            response = error_response(error, "openai")
            response.headers["x-tokenthrift-request-id"] = request_id
            return response

    async def _history(self, gateway: Gateway, tenant: str,
                       parsed: ResponsesRequest) -> list[dict[str, Any]]:
        previous = parsed.previous_response_id
        if previous is None:
            return []
        store = await self.store_for(gateway)
        prior = await asyncio.to_thread(store.get, tenant, previous)
        if prior is None:
            raise _not_found(previous, param="previous_response_id")
        parsed.with_history(prior.items)
        return prior.items

    async def _keep(self, gateway: Gateway, tenant: str, parsed: ResponsesRequest,
                    history: list[dict[str, Any]], payload: dict[str, Any]) -> None:
        items = openai_responses.conversation_items(parsed, history, payload["output"],
                                                    payload["id"])
        store = await self.store_for(gateway)
        try:
            await asyncio.to_thread(store.put, tenant, payload["id"], payload, items)
        except Exception as exc:  # the answer is paid for: deliver it even if unstored
            log.warning("could not store response %s: %s", payload["id"], type(exc).__name__)

    def _relay(self, gateway: Gateway, stream: CompletionStream,
               parsed: ResponsesRequest, response_id: str, tenant: str,
               history: list[dict[str, Any]]) -> AsyncIterator[bytes]:
        renderer = ResponsesStreamRenderer(parsed, response_id)

        async def keep() -> None:  # stored before the closing event reaches the client
            final = renderer.final()
            if parsed.store and final is not None:
                await self._keep(gateway, tenant, parsed, history, final)

        return relay(stream, renderer, before_tail=keep)

    # -- GET / DELETE -----------------------------------------------------------

    async def retrieve(self, request: Request) -> Response:
        try:
            stored = await self._stored(request)
        except GatewayError as error:
            return error_response(error, "openai")
        return Response(orjson.dumps(stored.body), media_type=JSON)

    async def list_input_items(self, request: Request) -> Response:
        """The context a stored response was answered from, paged as OpenAI lists it."""
        try:
            stored = await self._stored(request)
            items = _responses_items.input_items(stored.items, stored.body.get("output") or [],
                                                 stored.id)
            body = _responses_items.page(items, dict(request.query_params))
        except GatewayError as error:
            return error_response(error, "openai")
        return Response(orjson.dumps(body), media_type=JSON)

    async def _stored(self, request: Request) -> StoredResponse:
        gateway: Gateway = request.app.state.gateway
        response_id = request.path_params["response_id"]
        await _authenticate(gateway, request)
        store = await self.store_for(gateway)
        stored = await asyncio.to_thread(store.get, _tenant(request), response_id)
        if stored is None:
            raise _not_found(response_id)
        return stored

    async def delete(self, request: Request) -> Response:
        gateway: Gateway = request.app.state.gateway
        response_id = request.path_params["response_id"]
        try:
            await _authenticate(gateway, request)
            store = await self.store_for(gateway)
            if not await asyncio.to_thread(store.delete, _tenant(request), response_id):
                raise _not_found(response_id)
        except GatewayError as error:
            return error_response(error, "openai")
        body = {"id": response_id, "object": "response", "deleted": True}
        return Response(orjson.dumps(body), media_type=JSON)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()


def _api_header(forward: ResponsesForwarder) -> dict[str, str]:
    return {UPSTREAM_API_HEADER: forward.api} if forward.api is not None else {}


def _tenant(request: Request) -> str:
    """Whose responses these are: the client key's id ("" without a key)."""
    return key_id(client_key(request.headers)) or ""


async def _authenticate(gateway: Gateway, request: Request) -> None:
    """The levers' admission check for a free call (no reservation, no ledger row), as
    for ``/v1/models``: a revoked or unknown key cannot read stored responses."""
    await gateway.authenticate(client_key(request.headers))


def _not_found(response_id: str, *, param: str | None = None) -> GatewayError:
    return GatewayError("not_found", f"Response with id '{response_id}' not found.",
                        param=param, code="response_not_found" if param is None
                        else "previous_response_not_found")


def responses_routes(store: ResponseStore | None = None) -> list[BaseRoute]:
    """The Responses API routes for ``server.app`` to mount."""
    return ResponsesEndpoints(store).routes()
