"""Errors the gateway answers with, independent of wire format.

Each error knows its HTTP status and a protocol-neutral ``kind``; the wire modules
render it as OpenAI ``{"error": {...}}`` or Anthropic ``{"type": "error", ...}`` JSON.
Anything that is not a ``GatewayError`` is turned into a 502/500-free answer at the
server edge, never a stack trace.
"""

from __future__ import annotations

from typing import Literal

ErrorKind = Literal[
    "invalid_request",  # 400
    "authentication",  # 401
    "permission",  # 403
    "not_found",  # 404
    "request_too_large",  # 413
    "rate_limit",  # 429
    "upstream",  # 502
    "upstream_timeout",  # 504
    "overloaded",  # 529 (Anthropic) / 503
    "internal",  # 500 (only for bugs; the server logs them without secrets)
]

STATUS_BY_KIND: dict[str, int] = {
    "invalid_request": 400,
    "authentication": 401,
    "permission": 403,
    "not_found": 404,
    "request_too_large": 413,
    "rate_limit": 429,
    "upstream": 502,
    "upstream_timeout": 504,
    "overloaded": 529,
    "internal": 500,
}


class GatewayError(Exception):
    """An error answered to the client in its own wire format."""

    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        *,
        status: int | None = None,
        param: str | None = None,
        code: str | None = None,
        retry_after: float | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.kind: ErrorKind = kind
        self.message = message
        self.status = status if status is not None else STATUS_BY_KIND[kind]
        self.param = param
        self.code = code
        self.retry_after = retry_after
        self.headers = headers or {}

    @property
    def retryable(self) -> bool:
        return self.status in (408, 409, 429, 500, 502, 503, 504, 529)


class InvalidRequest(GatewayError):
    def __init__(self, message: str, *, param: str | None = None, code: str | None = None):
        super().__init__("invalid_request", message, param=param, code=code)


class UpstreamError(GatewayError):
    """The upstream answered with an error status (or could not be reached).

    ``status`` is the upstream's status; the server maps upstream 5xx to 502 for the
    client but passes 4xx (e.g. 400 for a prompt the model rejects) through.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        kind: ErrorKind = "upstream",
        retry_after: float | None = None,
        code: str | None = None,
        body: dict[str, object] | None = None,
    ) -> None:
        super().__init__(kind, message, status=status, retry_after=retry_after, code=code)
        self.body = body


class StreamInterrupted(Exception):
    """The upstream stream ended before its final event (connection cut mid-stream)."""
