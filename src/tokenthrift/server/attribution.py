"""Who caused a request: the client key, ``x-tokenthrift-*`` headers and the request's
own metadata (OpenAI ``user``/``safety_identifier``/``metadata``, Anthropic
``metadata.user_id``). Headers win over metadata."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

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
        team=_first(headers.get(_HEADER + "team"), meta.get("team")),
        user=_first(
            headers.get(_HEADER + "user"),
            meta.get("user"),
            meta.get("safety_identifier"),
            meta.get("user_id"),
        ),
        customer=_first(headers.get(_HEADER + "customer"), meta.get("customer")),
        tags=tags,
        task=_first(headers.get(_HEADER + "task"), meta.get("task")),
    )


# Every attribution value, from a header or from the body, is cut to this many
# characters, and a request carries at most MAX_TAGS distinct tags: the values land in
# ledger columns, budget scopes and report groupings, all of which a client controls.
MAX_ATTRIBUTION_CHARS = 256
MAX_TAGS = 32


def _first(*candidates: object) -> str | None:
    for candidate in candidates:
        value = _text(candidate)
        if value is not None:
            return value
    return None


def _text(value: object) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    text = str(value).strip()[:MAX_ATTRIBUTION_CHARS]
    return text or None


def _split_tags(value: str) -> list[str]:
    return _tags(value.split(","))


def _meta_tags(value: object) -> list[str]:
    if isinstance(value, str):
        return _split_tags(value)
    if isinstance(value, list):
        return _tags(value)
    return []


def _tags(values: Iterable[object]) -> list[str]:
    """Distinct non-empty tags in first-seen order, at most ``MAX_TAGS``."""
    kept: dict[str, None] = {}
    for value in values:
        tag = _text(value)
        if tag is not None:
            kept.setdefault(tag)
            if len(kept) == MAX_TAGS:
                break
    return list(kept)
