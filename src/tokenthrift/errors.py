"""Errors the gateway answers with, independent of wire format.

Each error knows its HTTP status and a protocol-neutral ``kind``; the wire modules
render it as OpenAI ``{"error": {...}}`` or Anthropic ``{"type": "error", ...}`` JSON.
Anything that is not a ``GatewayError`` is turned into a 502/500-free answer at the
server edge, never a stack trace.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from .redaction import redact

if TYPE_CHECKING:
    from .types import Usage

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
        # Every message a client or a log can see passes here: an upstream's error text
        # may echo the gateway's provider key.
        message = redact(message)
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
        # What the official OpenAI and Anthropic SDKs retry.
        return self.status in (408, 409, 429) or self.status >= 500


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


class InvalidUpstreamUsage(UpstreamError):
    """The upstream answered, but its usage figures cannot be billed: not integers,
    negative, beyond ``MAX_USAGE_TOKENS`` or inconsistent (reasoning > output).

    The call happened and may have been billed upstream, so it is never retried or
    sent to a fallback (that would bill twice). ``estimated_usage`` is the gateway's
    local count of the exchange (None when not known); the ledger row records it as
    estimated, never with a cost derived from the upstream's figures.
    """

    def __init__(self, message: str, *, estimated_usage: Usage | None = None) -> None:
        super().__init__(message, status=502, kind="upstream", code="invalid_upstream_usage")
        self.estimated_usage = estimated_usage

    @property
    def retryable(self) -> bool:
        return False


class StreamInterrupted(Exception):
    """The upstream stream ended before its final event (connection cut mid-stream)."""
