"""What the cache may do for one request: per-request directives narrow what the config
enables (they never switch on a layer the config leaves off), and which answers may be
stored at all.

* ``x-tokenthrift-cache: off`` — no lookup, no store.
* ``x-tokenthrift-cache: exact`` — exact layer only (lookup and store).
* ``x-tokenthrift-cache: semantic`` — every enabled layer (an exact hit is also the
  best semantic hit), i.e. the configured behaviour, stated explicitly.
* ``x-tokenthrift-cache: refresh`` — skip the lookup, store the new answer.
* ``x-tokenthrift-cache-ttl: SECONDS`` — expiry of the answer stored by this request
  (both layers); ``0`` stores nothing.
* ``x-tokenthrift-cache-tags: a,b`` — labels stored with the answer, so that it can be
  cleared by tag later (``DELETE /admin/cache?tag=a``); they are not part of the key.
* ``Cache-Control: no-store`` — neither lookup nor store; ``no-cache`` — skip the lookup,
  store the fresh answer (HTTP's "revalidate", i.e. like ``refresh``).

The most restrictive of these wins. Unknown values are a 400, so a typo never silently
caches (or bypasses) what the client meant to control.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ...errors import InvalidRequest
from ...types import ChatRequest, ChatResponse
from .settings import CacheSettings

MODE_HEADER = "x-tokenthrift-cache"
TTL_HEADER = "x-tokenthrift-cache-ttl"
TAGS_HEADER = "x-tokenthrift-cache-tags"
MAX_TAGS = 16
MAX_TAG_CHARS = 128
# A year: longer is not a cache but a database, and Redis rejects absurd expiries.
MAX_TTL_S = 365 * 24 * 3600.0
MODES = ("off", "exact", "semantic", "refresh")
# Finish reasons of a complete answer. None: the choice never finished; content_filter:
# the provider withheld (part of) it, which may not happen next time.
_COMPLETE = frozenset({"stop", "tool_calls"})


@dataclass(frozen=True, slots=True)
class RequestPolicy:
    lookup_exact: bool
    lookup_semantic: bool
    store_exact: bool
    store_semantic: bool
    ttl_s: float | None = None  # overrides the layers' configured ttl
    tags: tuple[str, ...] = ()  # stored with the answer, for clearing by tag

    @property
    def active(self) -> bool:
        return self.lookup_exact or self.lookup_semantic or self.store_exact or self.store_semantic


BYPASS = RequestPolicy(False, False, False, False)


def request_policy(settings: CacheSettings, directives: Mapping[str, str],
                   request: ChatRequest) -> RequestPolicy:
    limit = settings.max_temperature
    temperature = 1.0 if request.temperature is None else request.temperature
    if limit is not None and temperature > limit:
        return BYPASS  # the client wants fresh samples at this temperature
    exact, semantic = settings.exact.enabled, settings.semantic.enabled
    lookup = store = True
    mode = directives.get(MODE_HEADER)
    if mode is not None:
        mode = mode.strip().lower()
        if mode not in MODES:
            raise InvalidRequest(f"{MODE_HEADER} must be one of {'|'.join(MODES)}, got {mode!r}",
                                 param=MODE_HEADER)
        if mode == "off":
            return BYPASS
        semantic = semantic and mode != "exact"
        lookup = mode != "refresh"
    control = directives.get("cache-control")
    if control:
        tokens = {t.strip().split("=", 1)[0].lower() for t in control.split(",")}
        if "no-store" in tokens:
            return BYPASS
        lookup = lookup and "no-cache" not in tokens
    ttl = _ttl(directives.get(TTL_HEADER))
    tags = parse_tags(directives.get(TAGS_HEADER))
    store = store and ttl != 0
    return RequestPolicy(lookup and exact, lookup and semantic, store and exact,
                         store and semantic, ttl, tags)


def parse_tags(value: str | None) -> tuple[str, ...]:
    """``a, b`` → ("a", "b"): trimmed, duplicates dropped, order kept. A tag is printable
    text without commas (at most 128 characters, 16 tags), else a 400."""
    if value is None:
        return ()
    tags = tuple(dict.fromkeys(t.strip() for t in value.split(",") if t.strip()))
    if len(tags) > MAX_TAGS or any(len(t) > MAX_TAG_CHARS or not t.isprintable() for t in tags):
        raise InvalidRequest(
            f"{TAGS_HEADER} must be a comma-separated list of at most {MAX_TAGS} tags of at "
            f"most {MAX_TAG_CHARS} printable characters, got {value[:200]!r}", param=TAGS_HEADER)
    return tags


def _ttl(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= MAX_TTL_S:
        raise InvalidRequest(
            f"{TTL_HEADER} must be a number of seconds from 0 to {MAX_TTL_S:.0f}, got {value!r}",
            param=TTL_HEADER)
    return seconds


def storable(response: ChatResponse, settings: CacheSettings) -> bool:
    """Only complete answers: every choice finished; cut by max_tokens (``length``) only
    when ``cache.store_truncated`` says so."""
    if not response.choices:
        return False
    for choice in response.choices:
        reason = choice.finish_reason
        if reason not in _COMPLETE and not (reason == "length" and settings.store_truncated):
            return False
    return True
