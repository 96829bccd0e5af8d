"""The semantic index shared by replicas: with ``cache.backend: redis``, a reworded
question answered through one gateway is a semantic hit on another one (each with its
own matcher, as separate replicas have), a replica that starts later begins with the
current entries, and a clear reaches every replica."""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import redis

from gateway_harness import RunningGateway, config_for, running_gateway
from tokenthrift.levers.cache import CacheLever
from tokenthrift.levers.cache.semantic.shared import SharedIndex, log_key

MASTER_KEY = "mk-shared-index-5d0e"
# An explicit threshold: these tests are about sharing, not about the shipped default.
SEMANTIC = {"enabled": True, "threshold": 0.85}


def _replica(tmp: Path, name: str, redis_url: str, prefix: str) -> Any:
    return running_gateway(config_for(tmp / name, {
        "data_dir": str(tmp / name / "data"), "master_key": MASTER_KEY,
        "storage": {"ledger": f"sqlite:///{tmp}/{name}.db", "redis": redis_url},
        "cache": {"backend": "redis", "redis_prefix": prefix, "semantic": SEMANTIC}}))


def _index(gw: RunningGateway) -> SharedIndex:
    lever = gw.gateway.lever("cache")
    assert isinstance(lever, CacheLever) and lever.semantic is not None
    matcher = lever.semantic.matcher
    assert isinstance(matcher, SharedIndex)
    return matcher


def _ask(gw: RunningGateway, text: str, system: str, **headers: str) -> str:
    raw = gw.openai().chat.completions.with_raw_response.create(
        model="gpt-4o", max_tokens=200,
        messages=[{"role": "system", "content": system}, {"role": "user", "content": text}],
        extra_headers=headers)
    return str(raw.headers["x-tokenthrift-cache"])


def _until(condition: Any) -> None:
    for _ in range(1000):  # bounded by iterations; nothing here asserts on time
        if condition():
            return
        time.sleep(0.01)
    raise AssertionError("condition never held")


def test_an_entry_stored_by_one_replica_is_found_by_the_others(
        tmp_path: Path, redis_url: str, cache_prefix: str) -> None:
    system = f"You help customers of web shop #{uuid.uuid4().hex[:8]}."
    with ExitStack() as stack:
        a = stack.enter_context(_replica(tmp_path, "a", redis_url, cache_prefix))
        b = stack.enter_context(_replica(tmp_path, "b", redis_url, cache_prefix))
        assert _index(a) is not _index(b)
        # Positive control: b answers a reworded question semantically from its own entry
        # (ttl 0 on the probes below: they look up but store nothing).
        assert _ask(b, "How do I change my email address?", system) == "miss"
        assert _ask(b, "How can I change my email address?", system,
                    **{"x-tokenthrift-cache-ttl": "0"}) == "semantic"

        assert _ask(b, "How can I reset my password?", system,
                    **{"x-tokenthrift-cache-ttl": "0"}) == "miss"
        applied = _index(b).applied
        assert _ask(a, "How do I reset my password?", system) == "miss"
        _until(lambda: _index(b).applied > applied)
        assert _ask(b, "How can I reset my password?", system) == "semantic"

        # A replica that starts now begins with every current entry, before its first
        # request.
        with _replica(tmp_path, "c", redis_url, cache_prefix) as c:
            assert len(_index(c)) == 2
            assert _ask(c, "How could I reset my password?", system) == "semantic"


def test_a_clear_reaches_every_replica(tmp_path: Path, redis_url: str, cache_prefix: str) -> None:
    system = f"You help customers of web shop #{uuid.uuid4().hex[:8]}."
    with ExitStack() as stack:
        a = stack.enter_context(_replica(tmp_path, "a", redis_url, cache_prefix))
        b = stack.enter_context(_replica(tmp_path, "b", redis_url, cache_prefix))
        assert _ask(a, "How do I cancel my order?", system) == "miss"
        _until(lambda: len(_index(b)) == 1)
        request = urllib.request.Request(f"{a.url}/admin/cache", method="DELETE",
                                         headers={"authorization": f"Bearer {MASTER_KEY}"})
        with urllib.request.urlopen(request) as response:
            assert json.loads(response.read())["removed"] == 1
        assert len(_index(a)) == 0
        _until(lambda: len(_index(b)) == 0)
        assert _ask(b, "How can I cancel my order?", system) == "miss"


def test_records_are_published_once_per_store(tmp_path: Path, redis_url: str,
                                              cache_prefix: str) -> None:
    system = f"You help customers of web shop #{uuid.uuid4().hex[:8]}."
    with _replica(tmp_path, "a", redis_url, cache_prefix) as a:
        assert _ask(a, "Do you ship to Norway?", system) == "miss"
        assert _ask(a, "Do you ship to Norway?", system) == "exact"
        client = redis.Redis.from_url(redis_url)
        try:
            records: Any = client.xrange(log_key(cache_prefix))
        finally:
            client.close()
        assert [r[1][b"op"] for r in records] == [b"add"]
        assert records[0][1][b"text"] == b"Do you ship to Norway?"
        assert len(records[0][1][b"vector"]) == 2 * 384  # float16, MiniLM's 384 dimensions
