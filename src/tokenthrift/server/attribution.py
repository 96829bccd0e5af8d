"""Who caused a request: the client key, ``x-tokenthrift-*`` headers and the request's
own metadata (OpenAI ``user``/``safety_identifier``/``metadata``, Anthropic
``metadata.user_id``). Headers win over metadata."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from ..types import Attribution, ChatRequest

_HEADER = "x-tokenthrift-"


def client_key(headers: Mapping[str, str]) -> str | None:
    auth = headers.get("authorization")
    if auth and auth[:7].lower() == "bearer ":
        return auth[7:].strip() or None
    return headers.get("x-api-key") or None


def lever_directives(headers: Mapping[str, str]) -> dict[str, str]:
    """The request headers levers read: ``x-tokenthrift-*`` and ``cache-control``."""
    return {k: v for k, v in headers.items() if k.startswith(_HEADER) or k == "cache-control"}


def key_id(key: str | None) -> str | None:
    """A stable, non-reversible id for a client key; the key itself is never stored."""
    if not key:
        return None
    return "key_" + hashlib.sha256(key.encode()).hexdigest()[:16]


def attribution_for(headers: Mapping[str, str], request: ChatRequest | None) -> Attribution:
    meta = request.metadata if request is not None else {}
    tags_header = headers.get(_HEADER + "tags")
    tags = _split_tags(tags_header) if tags_header is not None else _meta_tags(meta.get("tags"))
    return Attribution(
        key_id=key_id(client_key(headers)),
        team=headers.get(_HEADER + "team") or _text(meta.get("team")),
        user=headers.get(_HEADER + "user")
        or _text(meta.get("user"))
        or _text(meta.get("safety_identifier"))
        or _text(meta.get("user_id")),
        customer=headers.get(_HEADER + "customer") or _text(meta.get("customer")),
        tags=tags,
        task=headers.get(_HEADER + "task") or _text(meta.get("task")),
    )


def _text(value: object) -> str | None:
    if value is None or value == "":
        return None
    return str(value)[:256]


def _split_tags(value: str) -> list[str]:
    return [t.strip()[:128] for t in value.split(",") if t.strip()]


def _meta_tags(value: object) -> list[str]:
    if isinstance(value, str):
        return _split_tags(value)
    if isinstance(value, list):
        return [str(t)[:128] for t in value if str(t).strip()]
    return []
