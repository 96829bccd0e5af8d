"""The emulator: one HTTP exchange in, one ``UpstreamReply`` out.

``Emulator.handle`` is the whole product; the ASGI app (``app.py``) and the gateway's
in-process transport are thin adapters over it. Per request: route, authenticate
(the API key is the organisation that caches and rate limits are kept for), parse,
apply a scripted or random fault, rate-limit, run the endpoint, then add headers,
latency and stream faults.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from ..providers.transport import UpstreamReply
from . import anthropic_api, embeddings, openai_chat, openai_responses
from .admin import admin_reply
from .batch_clock import BatchClock
from .batch_run import Timing
from .batches import BatchAPIs
from .config import EmulatorConfig, Fault
from .faults import (
    FaultQueue,
    RandomFaults,
    fault_error,
    interrupted_body,
    paced_stream,
    retry_headers,
)
from .limits import RateLimiter
from .models_api import list_models, retrieve_model
from .replies import ApiError, Outcome, Protocol, invalid, random_id
from .state import EmulatorState

Endpoint = Callable[[EmulatorState, str, dict[str, Any]], Outcome]

# POST path -> (endpoint, whether faults apply). Counting tokens never fails, so a
# scripted fault is spent on the generation request a test meant.
_POST_ROUTES: dict[str, tuple[Endpoint, bool]] = {
    "/v1/chat/completions": (openai_chat.chat_completions, True),
    "/v1/embeddings": (embeddings.embeddings, True),
    "/v1/messages": (anthropic_api.messages, True),
    "/v1/messages/count_tokens": (anthropic_api.count_tokens, False),
    "/v1/responses": (openai_responses.responses, True),
}
_JSON = "application/json"
_SSE = "text/event-stream; charset=utf-8"
_OPENAI_NO_KEY = (
    "You didn't provide an API key. You need to provide your API key in an Authorization "
    "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
)
_OPENAI_BAD_JSON = (
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't "
    "using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was "
    "sent was not valid JSON.)"
)


class Emulator:
    """A local upstream speaking OpenAI's and Anthropic's wire protocols."""

    def __init__(
        self, config: EmulatorConfig | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.config = config or EmulatorConfig()
        self._state = EmulatorState(self.config, clock)
        self._faults = FaultQueue()
        self._random_faults = RandomFaults(self.config)
        self._limiter = RateLimiter(self.config, clock)
        self._by_path: Counter[str] = Counter()
        self._by_model: Counter[str] = Counter()
        self._by_status: Counter[int] = Counter()
        config = self.config
        self.batches = BatchAPIs(self._state, BatchClock(clock, config.batch_time_scale), Timing(
            config.batch_validation_s, config.batch_requests_per_s, config.batch_finalize_s))

    # -- control -----------------------------------------------------------------

    def add_fault(self, fault: Fault) -> None:
        self._faults.add(fault)

    def clear_faults(self) -> None:
        self._faults.clear()

    @property
    def faults(self) -> list[Fault]:
        return self._faults.pending()

    def stats(self) -> dict[str, Any]:
        return {
            "requests": sum(self._by_status.values()),
            "by_path": dict(self._by_path),
            "by_model": dict(self._by_model),
            "by_status": {str(k): v for k, v in sorted(self._by_status.items())},
            "faults_pending": [f.to_dict() for f in self._faults.pending()],
        }

    def answer(self, tag: str) -> dict[str, Any] | None:
        """What was answered under ``tag`` (``tag_answers``), or None."""
        answers = self._state.answers
        return None if answers is None else answers.get(tag)

    def reset(self) -> None:
        """Forget caches, rate-limit state, faults and stats."""
        self._state.clear()
        self._faults.clear()
        self._limiter.clear()
        self._by_path.clear()
        self._by_model.clear()
        self._by_status.clear()
        self.batches.clear()

    # -- the exchange ------------------------------------------------------------

    async def handle(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes | None
    ) -> UpstreamReply:
        path = path.split("?", 1)[0]
        if BatchAPIs.handles(path):
            lowered_headers = {k.lower(): v for k, v in headers.items()}
            reply = self.batches.handle(method, path, lowered_headers, body, self._authenticate)
            self._count(BatchAPIs.family(path), None, reply.status)
            return reply
        if path.startswith("/emulator/"):
            return admin_reply(self, method, path, body)
        lowered = {k.lower(): v for k, v in headers.items()}
        protocol = _protocol(path, lowered)
        org = ""
        model: str | None = None
        try:
            endpoint, generation = _route(method, path, protocol)
            org = self._authenticate(lowered, protocol)
            if protocol == "anthropic" and "anthropic-version" not in lowered:
                raise invalid("anthropic-version: header is required")
            payload = _parse(body, protocol) if method == "POST" else {}
            raw_model = payload.get("model")
            model = raw_model if isinstance(raw_model, str) else None
            fault = self._draw_fault(model, protocol) if generation else None
            stream = payload.get("stream") is True
            if fault is not None and fault.kind == "status" and not (stream and fault.after_chunks):
                raise fault_error(fault)
            self._acquire(org)
            outcome = _run(endpoint, self._state, org, payload)
            self._limiter.debit(org, outcome.tokens)
        except ApiError as error:
            self._count(path, model, error.status)
            return self._error_reply(error, protocol, org)
        self._count(path, model, outcome.status)
        return await self._reply(outcome, protocol, org, fault)

    def _draw_fault(self, model: str | None, protocol: Protocol) -> Fault | None:
        return self._faults.take(model) or self._random_faults.draw(protocol)

    def _acquire(self, org: str) -> None:
        wait = self._limiter.acquire(org)
        if wait is not None:
            raise ApiError(429, retry_after=round(wait, 3) or 0.001)

    def _authenticate(self, headers: dict[str, str], protocol: Protocol) -> str:
        key = headers.get("x-api-key", "")
        if not key:
            authorization = headers.get("authorization", "")
            if authorization[:7].lower() == "bearer ":
                key = authorization[7:].strip()
        if not key:
            if protocol == "anthropic":
                raise ApiError(401, "x-api-key header is required")
            raise ApiError(401, _OPENAI_NO_KEY)
        allowed = self.config.api_keys
        if allowed is not None and key not in allowed:
            if protocol == "anthropic":
                raise ApiError(401, "invalid x-api-key")
            raise ApiError(401, "Incorrect API key provided.", code="invalid_api_key")
        return key

    def _count(self, path: str, model: str | None, status: int) -> None:
        self._by_path[path] += 1
        self._by_status[status] += 1
        if model is not None:
            self._by_model[model] += 1

    def _headers(self, protocol: Protocol, org: str, content_type: str) -> dict[str, str]:
        headers = self._limiter.headers(org, protocol) if org else {}
        headers["content-type"] = content_type
        if protocol == "anthropic":
            headers["request-id"] = random_id("req_011", 11)
        else:
            headers["x-request-id"] = random_id("req_", 16)
        return headers

    def _error_reply(self, error: ApiError, protocol: Protocol, org: str) -> UpstreamReply:
        headers = self._headers(protocol, org, _JSON)
        headers.update(retry_headers(error.retry_after))
        if protocol == "anthropic" and error.status == 529:
            headers["x-should-retry"] = "true"
        return UpstreamReply(error.status, headers, body=orjson.dumps(error.body(protocol)))

    async def _reply(
        self, outcome: Outcome, protocol: Protocol, org: str, fault: Fault | None
    ) -> UpstreamReply:
        config = self.config
        if outcome.events is not None:
            headers = self._headers(protocol, org, _SSE)
            headers["cache-control"] = "no-cache"
            stream = paced_stream(
                outcome.events,
                ttft_s=config.ttft_ms / 1000.0,
                tokens_per_s=config.tokens_per_s,
                fault=fault,
                protocol=protocol,
                stall_s=config.fault_timeout_s,
            )
            return UpstreamReply(outcome.status, headers, stream=stream)
        delay = config.ttft_ms / 1000.0
        if config.tokens_per_s > 0:
            delay += outcome.output_tokens / config.tokens_per_s
        if fault is not None and fault.kind == "timeout":
            delay += config.fault_timeout_s
        if delay > 0:
            await asyncio.sleep(delay)
        headers = self._headers(protocol, org, _JSON)
        if fault is not None and fault.kind == "disconnect":
            return UpstreamReply(outcome.status, headers, stream=interrupted_body())
        return UpstreamReply(outcome.status, headers, body=outcome.body)


def _protocol(path: str, headers: dict[str, str]) -> Protocol:
    if path.startswith("/v1/messages"):
        return "anthropic"
    if path.startswith(("/v1/chat/", "/v1/embeddings")):
        return "openai"
    return "anthropic" if "anthropic-version" in headers else "openai"


def _route(method: str, path: str, protocol: Protocol) -> tuple[Endpoint, bool]:
    if method == "POST" and path in _POST_ROUTES:
        return _POST_ROUTES[path]
    if method == "GET" and path == "/v1/models":
        return (lambda state, org, payload: list_models(state, protocol)), False
    if method == "GET" and path.startswith("/v1/models/"):
        model_id = path[len("/v1/models/") :]
        return (lambda state, org, payload: retrieve_model(state, protocol, model_id)), False
    if protocol == "anthropic":
        raise ApiError(404, "Not Found")
    raise ApiError(404, f"Invalid URL ({method} {path})")


def _run(endpoint: Endpoint, state: EmulatorState, org: str, payload: dict[str, Any]) -> Outcome:
    """Run an endpoint; input its validation missed is still a 400, never a crash.

    Endpoints validate what the providers document; a payload of an unexpected shape
    deeper down (a number where an object belongs) surfaces as a type error, which the
    providers would also reject as an invalid request.
    """
    try:
        return endpoint(state, org, payload)
    except (TypeError, AttributeError, KeyError, ValueError) as exc:
        raise invalid(f"Invalid request body: {type(exc).__name__}: {exc}") from exc


def _parse(body: bytes | None, protocol: Protocol) -> dict[str, Any]:
    try:
        payload = orjson.loads(body or b"")
    except orjson.JSONDecodeError:
        payload = None
    if isinstance(payload, dict):
        return payload
    if protocol == "anthropic":
        raise invalid("There was an error parsing the body of your request: expected a JSON object")
    raise invalid(_OPENAI_BAD_JSON)
