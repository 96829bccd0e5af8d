"""What an endpoint produces, and the two providers' error and SSE encodings."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any, Literal

import orjson

Protocol = Literal["openai", "anthropic"]

# OpenAI error "type" by status (API reference, "Error codes").
_OPENAI_TYPES = {429: "requests", 500: "server_error", 502: "server_error", 503: "server_error"}
_OPENAI_MESSAGES = {
    429: "Rate limit reached for requests. Please try again later.",
    500: "The server had an error while processing your request. Sorry about that!",
    502: "Bad gateway.",
    503: "The engine is currently overloaded, please try again later.",
    504: "Gateway timeout.",
}
# Anthropic error "type" by status (API reference, "Errors").
_ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}
_ANTHROPIC_MESSAGES = {
    429: "Number of requests has exceeded your per-minute rate limit.",
    500: "Internal server error",
    504: "Request timed out",
    529: "Overloaded",
}
RETRY_STATUSES = frozenset({429, 503, 529})


class ApiError(Exception):
    """An error answered in the caller's protocol; types default from the status."""

    def __init__(
        self,
        status: int,
        message: str | None = None,
        *,
        openai_type: str | None = None,
        anthropic_type: str | None = None,
        param: str | None = None,
        code: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message or "")
        self.status = status
        self.message = message
        self.openai_type = openai_type
        self.anthropic_type = anthropic_type
        self.param = param
        self.code = code
        self.retry_after = retry_after

    def body(self, protocol: Protocol) -> dict[str, Any]:
        if protocol == "anthropic":
            kind = self.anthropic_type or _ANTHROPIC_TYPES.get(
                self.status, "api_error" if self.status >= 500 else "invalid_request_error"
            )
            message = self.message or _ANTHROPIC_MESSAGES.get(self.status, kind)
            return {"type": "error", "error": {"type": kind, "message": message}}
        kind = self.openai_type or _OPENAI_TYPES.get(
            self.status, "server_error" if self.status >= 500 else "invalid_request_error"
        )
        code = self.code
        if code is None and self.status == 429:
            code = "rate_limit_exceeded"
        message = self.message or _OPENAI_MESSAGES.get(self.status, f"Error {self.status}")
        return {"error": {"message": message, "type": kind, "param": self.param, "code": code}}


def invalid(message: str, *, param: str | None = None, code: str | None = None) -> ApiError:
    return ApiError(400, message, param=param, code=code)


@dataclass(slots=True)
class Outcome:
    """An endpoint's answer before headers, latency and faults are applied.

    ``events`` are complete SSE events (``...\\n\\n``) for a stream; ``body`` is JSON.
    ``tokens`` is what the request counts against tokens-per-minute; ``output_tokens``
    paces non-stream latency at ``tokens_per_s``.
    """

    status: int = 200
    body: bytes | None = None
    events: list[bytes] | None = None
    tokens: int = 0
    output_tokens: int = 0


def json_outcome(payload: Any, *, tokens: int = 0, output_tokens: int = 0) -> Outcome:
    return Outcome(200, orjson.dumps(payload), tokens=tokens, output_tokens=output_tokens)


def openai_sse(payload: Any) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"


OPENAI_DONE = b"data: [DONE]\n\n"


def anthropic_sse(event: str, payload: Any) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


def error_event(protocol: Protocol, error: ApiError) -> bytes:
    """A mid-stream error, as each provider sends one after the stream has started."""
    if protocol == "anthropic":
        return anthropic_sse("error", error.body("anthropic"))
    return openai_sse(error.body("openai"))


def random_id(prefix: str, nbytes: int = 12) -> str:
    return prefix + secrets.token_hex(nbytes)
