"""The HTTP gateway: an ASGI app serving the OpenAI and Anthropic wire formats."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..dashboard.app import dashboard_routes
from ..errors import GatewayError, InvalidRequest
from ..observability.http import metrics_routes
from ..pipeline import Gateway
from ..types import EmbeddingRequest, WireFormat
from ..wire import anthropic_messages
from .admin import admin_routes
from .attribution import attribution_for, client_key
from .batches import BatchService
from .chat import anthropic_messages_endpoint, openai_chat_completions
from .http import error_response, read_json
from .request_id import RequestIdMiddleware
from .responses import responses_routes

log = logging.getLogger("tokenthrift.server")
JSON = "application/json"


def _wire_of(request: Request) -> WireFormat:
    path = request.url.path
    # Also /v1/messages/<anything>: a 404/405 there answers an Anthropic client.
    if (path.endswith("/messages") or "/messages/" in path
            or "anthropic-version" in request.headers):
        return "anthropic"
    return "openai"


async def health(request: Request) -> Response:
    gateway: Gateway = request.app.state.gateway
    ledger = gateway.writer.health()
    # 503 when the gateway cannot record what it serves (the ledger writer is stuck or
    # gone while records wait): a load balancer should stop sending it traffic.
    ok = bool(ledger["ok"])
    body = {"status": "ok" if ok else "degraded", "ledger": ledger}
    return Response(orjson.dumps(body), status_code=200 if ok else 503, media_type=JSON)


async def models(request: Request) -> Response:
    gateway: Gateway = request.app.state.gateway
    try:
        names = await gateway.list_models(client_key=client_key(request.headers))
    except GatewayError as error:
        return error_response(error, _wire_of(request))
    if "anthropic-version" in request.headers:
        data = [{"type": "model", "id": n, "display_name": n, "created_at": "2025-01-01T00:00:00Z"}
                for n in names]
        body = {"data": data, "has_more": False,
                "first_id": names[0] if names else None, "last_id": names[-1] if names else None}
    else:
        body = {"object": "list",
                "data": [{"id": n, "object": "model", "created": 0, "owned_by": "tokenthrift"}
                         for n in names]}
    return Response(orjson.dumps(body), media_type=JSON)


async def count_tokens(request: Request) -> Response:
    """Anthropic ``POST /v1/messages/count_tokens`` for any configured model."""
    gateway: Gateway = request.app.state.gateway
    try:
        body = await read_json(request, gateway.config.max_body_bytes)
        body.setdefault("max_tokens", 1)  # not part of a count request
        chat = anthropic_messages.parse_request(body)
        tokens = await gateway.count_tokens(chat, client_key=client_key(request.headers))
    except GatewayError as error:
        return error_response(error, "anthropic")
    return Response(orjson.dumps({"input_tokens": tokens}), media_type=JSON)


async def embeddings(request: Request) -> Response:
    started = time.perf_counter()
    gateway: Gateway = request.app.state.gateway
    try:
        body = await read_json(request, gateway.config.max_body_bytes)
        embed_request = _parse_embedding_request(body)
        attribution = attribution_for(request.headers, None)
        response, headers = await gateway.embed(embed_request, attribution, started=started,
                                                client_key=client_key(request.headers))
    except GatewayError as error:
        return error_response(error, "openai")
    data = [{"object": "embedding", "index": i, "embedding": v}
            for i, v in enumerate(response.vectors)]
    payload = {"object": "list", "data": data, "model": response.model,
               "usage": {"prompt_tokens": response.input_tokens,
                         "total_tokens": response.input_tokens}}
    return Response(orjson.dumps(payload), media_type=JSON, headers=headers)


def _parse_embedding_request(body: dict[str, object]) -> EmbeddingRequest:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequest("`model` is required", param="model")
    raw = body.get("input")
    if isinstance(raw, str):
        inputs = [raw]
    elif isinstance(raw, list) and raw and all(isinstance(x, str) for x in raw):
        inputs = list(raw)  # type: ignore[arg-type]
    else:
        raise InvalidRequest("`input` must be a string or a non-empty list of strings",
                             param="input")
    dimensions = body.get("dimensions")
    if dimensions is not None and (not isinstance(dimensions, int) or dimensions <= 0):
        raise InvalidRequest("`dimensions` must be a positive integer", param="dimensions")
    user = body.get("user")
    return EmbeddingRequest(model=model, input=inputs, dimensions=dimensions,
                            user=user if isinstance(user, str) else None)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    kind = {404: "not_found", 405: "invalid_request"}.get(exc.status_code, "invalid_request")
    error = GatewayError(kind, f"{request.method} {request.url.path}: {exc.detail}",  # type: ignore[arg-type]
                         status=exc.status_code)
    return error_response(error, _wire_of(request))


async def _unexpected(request: Request, exc: Exception) -> Response:
    # A bug, not bad input: log the type (never the request body, which may hold
    # secrets) and answer in the client's format without a stack trace.
    log.error("unexpected %s on %s %s", type(exc).__name__, request.method, request.url.path,
              exc_info=exc)
    return error_response(GatewayError("internal", "internal gateway error"), _wire_of(request))


def create_app(gateway: Gateway) -> Starlette:
    batches = BatchService(gateway)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        batches.start()
        try:
            yield
        finally:
            await batches.aclose()
            # Graceful shutdown (SIGTERM under uvicorn): flush every ledger row.
            await gateway.aclose()

    routes = [
        Route("/health", health, methods=["GET"]),
        Route("/v1/chat/completions", openai_chat_completions, methods=["POST"]),
        Route("/chat/completions", openai_chat_completions, methods=["POST"]),
        Route("/v1/messages", anthropic_messages_endpoint, methods=["POST"]),
        Route("/v1/messages/count_tokens", count_tokens, methods=["POST"]),
        Route("/v1/models", models, methods=["GET"]),
        Route("/models", models, methods=["GET"]),
        Route("/v1/embeddings", embeddings, methods=["POST"]),
        Route("/embeddings", embeddings, methods=["POST"]),
        *responses_routes(),
        *batches.routes(),
        *admin_routes(gateway),
        *metrics_routes(gateway),
        *dashboard_routes(gateway),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={HTTPException: _http_error, Exception: _unexpected},
        middleware=[Middleware(RequestIdMiddleware)],
    )
    app.state.gateway = gateway
    app.state.batches = batches
    return app
