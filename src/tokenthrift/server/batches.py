"""Batch routes of the gateway: the providers' Batch APIs passed through with
attribution, deferred chat requests (``x-tokenthrift-defer``) and their jobs endpoint.

    /v1/files, /v1/files/{id}[/content]                  → the OpenAI provider
    /v1/batches, /v1/batches/{id}[/cancel]               → the OpenAI provider
    /v1/messages/batches, /v1/messages/batches/{id}[/…]  → the Anthropic provider
    GET /v1/tokenthrift/jobs/{id}                        → a deferred request's status/answer

Clients authenticate as for chat (the levers' ``admit`` with endpoint ``batches``);
a created batch is remembered with who created it, and when it ends every result becomes
a ledger row at batch prices with its saving under ``batch`` (``batch_worker``).
"""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import asdict
from typing import Any
from urllib.parse import urlencode

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ..errors import GatewayError, InvalidRequest
from ..exchange import Exchange
from ..levers.batch import ANONYMOUS, BatchLever, Job, TrackedBatch
from ..pipeline import Gateway
from ..providers.wire_provider import WireProvider
from ..types import Attribution, ChatRequest, WireFormat
from .attribution import attribution_for, client_key, lever_directives
from .batch_upstream import UpstreamBatches
from .batch_worker import BatchWorker
from .http import error_response

DEFER_HEADER = "x-tokenthrift-defer"
CALLBACK_HEADER = "x-tokenthrift-callback-url"
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_ENDED = {"completed", "failed", "expired", "cancelled", "ended"}
JSON = "application/json"
_LISTS = ("/v1/files", "/v1/batches", "/v1/messages/batches")
MAX_LIST_PAGES = 20  # upstream pages a list walks past holding none of the caller's ids


class BatchService:
    """The batch routes and the background worker of one gateway (None when the batch
    lever is off: the routes then answer 404)."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        lever = gateway.lever("batch")
        self.lever = lever if isinstance(lever, BatchLever) else None
        self.worker = BatchWorker(gateway, self.lever) if self.lever is not None else None

    def start(self) -> None:
        if self.worker is not None:
            self.worker.start()

    async def aclose(self) -> None:
        if self.worker is not None:
            await self.worker.aclose()

    def routes(self) -> list[BaseRoute]:
        proxy = self.proxy
        return [
            Route("/v1/files", proxy, methods=["GET", "POST"]),
            Route("/v1/files/{file_id}", proxy, methods=["GET", "DELETE"]),
            Route("/v1/files/{file_id}/content", proxy, methods=["GET"]),
            Route("/v1/batches", proxy, methods=["GET", "POST"]),
            Route("/v1/batches/{batch_id}", proxy, methods=["GET"]),
            Route("/v1/batches/{batch_id}/cancel", proxy, methods=["POST"]),
            Route("/v1/messages/batches", proxy, methods=["GET", "POST"]),
            Route("/v1/messages/batches/{batch_id}", proxy, methods=["GET", "DELETE"]),
            Route("/v1/messages/batches/{batch_id}/cancel", proxy, methods=["POST"]),
            Route("/v1/messages/batches/{batch_id}/results", proxy, methods=["GET"]),
            Route("/v1/tokenthrift/jobs/{job_id}", self.job, methods=["GET"]),
        ]

    # -- passthrough -------------------------------------------------------------------

    async def proxy(self, request: Request) -> Response:
        path = request.url.path
        protocol: WireFormat = "anthropic" if path.startswith("/v1/messages/") else "openai"
        try:
            worker = self._worker()
            attribution = await self._admit(request, "batches")
            owner = attribution.key_id or ANONYMOUS
            body = await request.body()
            self._authorize(request, owner, body)
            upstream = worker.upstream(protocol)
            query = f"?{request.url.query}" if request.url.query else ""
            if request.method == "GET" and path in _LISTS:
                status, data, content_type = await self._list(
                    upstream, path, dict(request.query_params), owner)
            else:
                status, data, content_type = await upstream.read(
                    request.method, path + query, body or None,
                    request.headers.get("content-type", JSON))
        except GatewayError as error:
            return error_response(error, protocol)
        if status < 400 and content_type.startswith(JSON):
            data = await self._observe(request, protocol, upstream.name, attribution, owner,
                                       data)
        return Response(data, status_code=status, media_type=content_type)

    def _authorize(self, request: Request, owner: str, body: bytes) -> None:
        """404, as for an id that does not exist, for a file or batch the caller does not
        own — including the input file of a batch it creates."""
        assert self.lever is not None
        parts = request.url.path.strip("/").split("/")[1:]  # after "v1"
        if parts[0] == "messages":
            parts = parts[1:]
        kind = "file" if parts[0] == "files" else "batch"
        object_id = parts[1] if len(parts) > 1 else None
        if object_id is None and request.method == "POST" and request.url.path == "/v1/batches":
            kind, object_id = "file", _input_file(body)
        if object_id is not None and self.lever.store.owner(object_id, kind) != owner:
            noun = "File" if kind == "file" else "batch"
            raise GatewayError("not_found", f"No {noun} found with id '{object_id}'.")

    async def _list(self, upstream: UpstreamBatches, path: str, params: dict[str, str],
                    owner: str) -> tuple[int, bytes, str]:
        """A list of the caller's own files or batches: the upstream's pages filtered,
        following its cursor past pages that hold none of them (up to MAX_LIST_PAGES)."""
        assert self.lever is not None
        kind = "file" if path == "/v1/files" else "batch"
        backwards = "before_id" in params
        cursor = "before_id" if backwards else \
            "after_id" if path.startswith("/v1/messages/") else "after"
        mine: list[dict[str, Any]] = []
        page: dict[str, Any] = {}
        for _ in range(MAX_LIST_PAGES):
            query = f"?{urlencode(params)}" if params else ""
            status, data, content_type = await upstream.read("GET", path + query)
            payload = orjson.loads(data) if status < 400 and content_type.startswith(JSON) \
                else None
            items = payload.get("data") if isinstance(payload, dict) else None
            if not isinstance(payload, dict) or not isinstance(items, list):
                return status, data, content_type
            page = payload
            items = [x for x in items if isinstance(x, dict) and isinstance(x.get("id"), str)]
            owned = self.lever.store.owned([x["id"] for x in items], kind, owner)
            mine += [x for x in items if x["id"] in owned]
            if mine or not payload.get("has_more") or not items:
                break
            params[cursor] = items[0 if backwards else -1]["id"]
        page["data"] = mine
        if "first_id" in page or "last_id" in page:
            page["first_id"] = mine[0]["id"] if mine else None
            page["last_id"] = mine[-1]["id"] if mine else None
        return status, orjson.dumps(page), content_type

    async def _observe(self, request: Request, protocol: str, provider: str,
                       attribution: Attribution, owner: str, data: bytes) -> bytes:
        """Record who owns created files and batches (and a batch's output files); track
        created batches; settle ended ones the client looks at; point Anthropic's
        ``results_url`` at the gateway."""
        assert self.lever is not None and self.worker is not None
        path = request.url.path
        payload = orjson.loads(data)
        if not isinstance(payload, dict):
            return data
        store = self.lever.store
        batch_id = payload.get("id")
        if request.method == "POST" and path == "/v1/files" and isinstance(batch_id, str):
            store.own(batch_id, "file", owner)
        if not (path.endswith("/batches") or "/batches/" in path):
            return data
        for item in payload.get("data") or []:  # a list: the caller's own batches
            if isinstance(item, dict):
                self._own_outputs(item, owner)
        if request.method == "POST" and path in ("/v1/batches", "/v1/messages/batches"):
            if isinstance(batch_id, str):
                store.own(batch_id, "batch", owner)
            store.track(TrackedBatch(str(batch_id), provider, protocol,
                                     asdict(attribution), deferred=False))
        self._own_outputs(payload, owner)
        state = payload.get("status") or payload.get("processing_status")
        if isinstance(batch_id, str) and state in _ENDED:
            tracked = store.tracked(batch_id)
            if tracked is not None:
                await self.worker.settle(tracked)
        if payload.get("results_url"):
            base = str(request.base_url).rstrip("/")
            payload["results_url"] = f"{base}/v1/messages/batches/{batch_id}/results"
            return orjson.dumps(payload)
        return data

    def _own_outputs(self, batch: dict[str, Any], owner: str) -> None:
        """A batch's output and error files belong to whoever owns the batch."""
        assert self.lever is not None
        for field in ("output_file_id", "error_file_id"):
            file_id = batch.get(field)
            if isinstance(file_id, str) and file_id:
                self.lever.store.own(file_id, "file", owner)

    async def _admit(self, request: Request, endpoint: str,
                     chat: ChatRequest | None = None) -> Attribution:
        attribution = attribution_for(request.headers, chat)
        exchange = Exchange(request=None, attribution=attribution, requested_model="",
                            wire_format="openai", endpoint=endpoint,
                            client_key=client_key(request.headers))
        for lever in self.gateway.levers:  # authentication only: batches are charged later
            await lever.admit(exchange)
        return exchange.attribution

    def _worker(self) -> BatchWorker:
        if self.worker is None:
            raise GatewayError("not_found", "the batch lever is disabled (batch.enabled)")
        return self.worker

    # -- deferred requests -------------------------------------------------------------

    async def defer(self, request: Request, wire_format: WireFormat, body: dict[str, Any],
                    chat: ChatRequest) -> Response:
        """202 and a job id for a chat request that can wait (``x-tokenthrift-defer``)."""
        self._worker()
        assert self.lever is not None
        wait = _duration(request.headers[DEFER_HEADER], self.lever.settings.max_defer_s)
        if chat.stream:
            raise InvalidRequest("a deferred request cannot stream", param="stream")
        attribution = await self._admit(request, "deferred", chat)
        exchange = self.gateway.exchange(chat, attribution, endpoint="deferred")
        exchange.directives = lever_directives(request.headers)
        if not exchange.candidates:
            raise GatewayError("not_found", f"model {chat.model!r} is not configured")
        candidate = exchange.candidates[0]
        provider = self.gateway.providers.get(candidate.provider_name, candidate.upstream_model)
        if not isinstance(provider, WireProvider):
            raise GatewayError("invalid_request", "this provider cannot take deferred requests")
        upstream = provider.build_request(chat, candidate.upstream_model)
        upstream.pop("stream", None)
        upstream.pop("stream_options", None)
        now = time.time()
        job = Job(id="job_" + secrets.token_hex(12), status="queued", created_at=now,
                  deadline_at=now + wait, provider=candidate.provider_name,
                  protocol=provider.protocol, model=candidate.upstream_model,
                  requested_model=chat.model, wire_format=wire_format, client_body=body,
                  upstream_body=upstream, attribution=asdict(attribution),
                  callback_url=request.headers.get(CALLBACK_HEADER))
        self.lever.store.add_job(job)
        headers = {"x-tokenthrift-job-id": job.id, "location": f"/v1/tokenthrift/jobs/{job.id}"}
        return Response(orjson.dumps(job.as_json()), status_code=202, media_type=JSON,
                        headers=headers)

    async def job(self, request: Request) -> Response:
        try:
            self._worker()
            assert self.lever is not None
            attribution = await self._admit(request, "batches")
            job = self.lever.store.job(request.path_params["job_id"])
            owner = job.attribution.get("key_id") if job is not None else None
            if job is None or (owner is not None and owner != attribution.key_id):
                raise GatewayError("not_found", "no such job")
        except GatewayError as error:
            return error_response(error, "openai")
        return Response(orjson.dumps(job.as_json()), media_type=JSON)


def _input_file(body: bytes) -> str | None:
    """The ``input_file_id`` of a batch to create (None when there is none to check: the
    upstream refuses such a request itself)."""
    try:
        payload = orjson.loads(body or b"null")
    except orjson.JSONDecodeError:
        return None
    file_id = payload.get("input_file_id") if isinstance(payload, dict) else None
    return file_id if isinstance(file_id, str) else None


def _duration(text: str, limit: float) -> float:
    match = _DURATION.match(text)
    if not match:
        raise InvalidRequest(f"{DEFER_HEADER}: expected a duration like 24h or 30m, got {text!r}")
    seconds = float(match.group(1)) * _SECONDS[match.group(2)]
    if not 0 < seconds <= limit:
        raise InvalidRequest(f"{DEFER_HEADER}: at most {limit / 3600:g}h")
    return seconds


async def defer_if_asked(request: Request, wire_format: WireFormat, body: dict[str, Any],
                         chat: ChatRequest) -> Response | None:
    """The deferral of a chat request carrying ``x-tokenthrift-defer``, else None."""
    if DEFER_HEADER not in request.headers:
        return None
    service: BatchService = request.app.state.batches
    return await service.defer(request, wire_format, body, chat)
