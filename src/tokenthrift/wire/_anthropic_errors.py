"""Anthropic error types <-> HTTP statuses, both directions.

The table is Anthropic's documented one (https://docs.claude.com/en/api/errors), plus
``timeout_error`` (504), which the official SDK models as ``GatewayTimeoutError``.
"""

from __future__ import annotations

from typing import Any

from tokenthrift.errors import ErrorKind, GatewayError, UpstreamError

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    503: "overloaded_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def render_error(err: GatewayError) -> dict[str, Any]:
    """``{"type": "error", "error": {...}}`` as Anthropic sends it (status = ``err.status``)."""
    # Anthropic: "We may also use [invalid_request_error] for other 4XX status codes".
    default = "api_error" if err.status >= 500 else "invalid_request_error"
    error: dict[str, Any] = {"type": _ERROR_TYPES.get(err.status, default), "message": err.message}
    if err.code:
        # Not in Anthropic's schema, which has no machine-readable code; SDKs ignore extra
        # fields, and clients of the gateway can tell e.g. "budget_exceeded" from a
        # provider rate limit without parsing the message.
        error["code"] = err.code
    return {"type": "error", "error": error}


_ERRORS: dict[str, tuple[int, ErrorKind]] = {
    "invalid_request_error": (400, "invalid_request"),
    "authentication_error": (401, "authentication"),
    "permission_error": (403, "permission"),
    "not_found_error": (404, "not_found"),
    "request_too_large": (413, "request_too_large"),
    "rate_limit_error": (429, "rate_limit"),
    "api_error": (500, "upstream"),
    "timeout_error": (504, "upstream_timeout"),
    "overloaded_error": (529, "overloaded"),
}


def upstream_error(body: dict[str, Any]) -> UpstreamError:
    """An Anthropic ``{"type": "error", "error": {...}}`` body -> ``UpstreamError``.

    Mid-stream errors arrive as an ``error`` event after a 200, so the status comes from
    the error type, per Anthropic's documented type -> status table.
    """
    error = body.get("error")
    if not isinstance(error, dict):
        error = {}
    status, kind = _ERRORS.get(str(error.get("type")), (500, "upstream"))
    message = str(error.get("message") or "upstream stream error")
    return UpstreamError(message, status=status, kind=kind, body=body)
