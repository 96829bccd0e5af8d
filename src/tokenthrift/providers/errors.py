"""Turning an upstream's error reply into an ``UpstreamError``."""

from __future__ import annotations

import orjson

from ..errors import ErrorKind, UpstreamError
from .transport import UpstreamReply

_KIND_BY_STATUS: dict[int, ErrorKind] = {
    400: "invalid_request",
    404: "not_found",
    413: "request_too_large",
    422: "invalid_request",
    429: "rate_limit",
    503: "overloaded",
    529: "overloaded",
}


def retry_after_seconds(headers: dict[str, str]) -> float | None:
    """Seconds to wait per ``retry-after-ms`` (OpenAI) or ``retry-after`` (both)."""
    value = headers.get("retry-after-ms")
    if value is not None:
        try:
            return max(0.0, float(value) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is not None:
        try:
            return max(0.0, float(value))
        except ValueError:
            return None  # an HTTP-date; rare from LLM APIs, fall back to our own backoff
    return None


async def upstream_error(reply: UpstreamReply, provider: str) -> UpstreamError:
    body = await reply.read()
    await reply.aclose()
    message, code, parsed = _error_message(body)
    kind = _KIND_BY_STATUS.get(reply.status, "upstream")
    if reply.status in (401, 403):
        # The upstream rejected *the gateway's* credentials: a configuration problem,
        # not the client's, so the client sees a 502 rather than a misleading 401.
        kind = "upstream"
        message = f"provider {provider!r} rejected the gateway's credentials: {message}"
    return UpstreamError(
        message,
        status=reply.status,
        kind=kind,
        retry_after=retry_after_seconds(reply.headers),
        code=code,
        body=parsed,
    )


def _error_message(body: bytes) -> tuple[str, str | None, dict[str, object] | None]:
    try:
        parsed = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        return body[:200].decode("utf-8", "replace") or "upstream error", None, None
    if isinstance(parsed, dict) and isinstance(parsed.get("error"), dict):
        error = parsed["error"]
        code = error.get("code") or error.get("type")
        return str(error.get("message") or "upstream error"), code, parsed
    return "upstream error", None, parsed if isinstance(parsed, dict) else None
