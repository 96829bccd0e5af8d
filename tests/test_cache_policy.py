"""Cache configuration and per-request controls: what a client's headers make the cache
do, and which answers may be stored at all."""

from __future__ import annotations

from typing import Any

import pytest

from tokenthrift.config import ConfigError, parse_config
from tokenthrift.errors import InvalidRequest
from tokenthrift.levers.cache.policy import BYPASS, RequestPolicy, request_policy, storable
from tokenthrift.levers.cache.settings import CacheSettings
from tokenthrift.types import ChatRequest, ChatResponse, Choice, Message, TextPart, Usage


def settings(**cache: Any) -> CacheSettings:
    raw: dict[str, Any] = {"data_dir": "/tmp/tt", "storage": {"redis": "redis://h:6379/0"}}
    if cache:
        raw["cache"] = cache
    return CacheSettings.from_config(parse_config(raw))


def policy(headers: dict[str, str], cache: CacheSettings | None = None,
           temperature: float | None = None) -> RequestPolicy:
    request = ChatRequest(model="m", messages=[Message("user", [TextPart("q")])],
                          temperature=temperature)
    return request_policy(cache or settings(), headers, request)


def test_defaults_exact_cache_on_memory_backend_key_scope_one_hour() -> None:
    s = settings()
    assert s.backend == "memory" and s.exact.enabled and not s.semantic.enabled
    assert s.exact.scope == "key" and s.exact.ttl_s == 3600 and s.exact.max_entries == 10_000
    assert s.sqlite_path == "/tmp/tt/cache.db" and s.redis_prefix == "tokenthrift:cache"
    assert s.max_temperature is None and not s.store_truncated


def test_config_values_are_parsed_and_checked() -> None:
    s = settings(backend="redis", scope="team", exact={"ttl": "15m", "max_entries": 5},
                 redis_prefix="tt:test:", max_temperature=0.5)
    assert s.backend == "redis" and s.exact.scope == "team" and s.exact.ttl_s == 900
    assert s.redis_prefix == "tt:test" and s.redis_url == "redis://h:6379/0"
    assert not settings(exact=False).enabled
    for bad in ({"backend": "disk"}, {"scope": "tenant"}, {"exact": {"ttl": "soon"}},
                {"exact": {"max_entries": 0}}, {"exact": {"ttl_seconds": 5}}, {"size": 3}):
        with pytest.raises(ConfigError):
            settings(**bad)
    with pytest.raises(ConfigError, match=r"storage\.redis"):
        CacheSettings.from_config(parse_config({"cache": {"backend": "redis"}}))


def test_no_headers_means_the_configured_layers() -> None:
    assert policy({}) == RequestPolicy(True, False, True, False)


@pytest.mark.parametrize(("headers", "expected"), [
    ({"x-tokenthrift-cache": "off"}, BYPASS),
    ({"x-tokenthrift-cache": "exact"}, RequestPolicy(True, False, True, False)),
    ({"x-tokenthrift-cache": "semantic"}, RequestPolicy(True, False, True, False)),
    ({"x-tokenthrift-cache": " Refresh "}, RequestPolicy(False, False, True, False)),
    ({"cache-control": "no-store"}, BYPASS),
    ({"cache-control": "no-cache"}, RequestPolicy(False, False, True, False)),
    ({"cache-control": "max-age=0, no-store"}, BYPASS),
    ({"x-tokenthrift-cache": "refresh", "cache-control": "no-store"}, BYPASS),
    ({"x-tokenthrift-cache-ttl": "60"}, RequestPolicy(True, False, True, False, 60.0)),
    ({"x-tokenthrift-cache-ttl": "0"}, RequestPolicy(True, False, False, False, 0.0)),
])
def test_request_directives(headers: dict[str, str], expected: RequestPolicy) -> None:
    assert policy(headers) == expected


def test_directives_narrow_but_never_enable_a_layer() -> None:
    # The semantic layer is on in the config here; bypassing it per request is allowed.
    both = CacheSettings(exact=settings().exact, semantic=settings().exact)
    assert policy({}, both) == RequestPolicy(True, True, True, True)
    assert policy({"x-tokenthrift-cache": "exact"}, both) == RequestPolicy(True, False, True, False)
    assert policy({"x-tokenthrift-cache": "refresh"}, both) == RequestPolicy(False, False, True, True)
    off = settings(exact=False)
    assert not policy({"x-tokenthrift-cache": "exact"}, off).active


@pytest.mark.parametrize("headers", [
    {"x-tokenthrift-cache": "of"}, {"x-tokenthrift-cache-ttl": "1h"},
    {"x-tokenthrift-cache-ttl": "-5"}, {"x-tokenthrift-cache-ttl": "nan"},
    {"x-tokenthrift-cache-ttl": "1e22"},
])
def test_malformed_directives_are_a_400(headers: dict[str, str]) -> None:
    with pytest.raises(InvalidRequest) as excinfo:
        policy(headers)
    assert excinfo.value.status == 400 and excinfo.value.param in headers


def test_max_temperature_bypasses_hotter_requests() -> None:
    capped = settings(max_temperature=0.0)
    assert policy({}, capped, temperature=0.0).active
    assert not policy({}, capped, temperature=0.7).active
    assert not policy({}, capped, temperature=None).active  # the provider default is 1
    assert policy({}, settings(), temperature=1.5).active  # default: cache at any temperature


def answer(*reasons: Any) -> ChatResponse:
    return ChatResponse("r", "m", [Choice(i, Message("assistant", [TextPart("a")]), reason)
                                   for i, reason in enumerate(reasons)], Usage())


def test_only_complete_answers_are_stored() -> None:
    s = settings()
    assert storable(answer("stop"), s) and storable(answer("tool_calls", "stop"), s)
    assert not storable(answer("length"), s)
    assert not storable(answer("stop", None), s)  # one choice never finished
    assert not storable(answer("content_filter"), s)
    assert not storable(answer(), s)
    assert storable(answer("length"), settings(store_truncated=True))
