"""Clearing cached answers by model, tenant scope and tag (``x-tokenthrift-cache-tags``):
on every backend, through the admin API and through ``tokenthrift cache clear``."""

from __future__ import annotations

import json
import sqlite3
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import openai
import pytest
import yaml
from click.testing import CliRunner

from gateway_harness import RunningGateway, config_for, running_gateway
from tokenthrift.cli.main import cli
from tokenthrift.levers.cache.backends import CacheBackend
from tokenthrift.levers.cache.backends.memory import MemoryBackend
from tokenthrift.levers.cache.backends.redis import RedisBackend
from tokenthrift.levers.cache.backends.sqlite import SqliteBackend
from tokenthrift.levers.cache.keys import tag as name_tag

MASTER_KEY = "mk-invalidation-tests-91c2"


def _id(scope: str, model: str) -> str:
    return f"{name_tag(scope)}:{name_tag(model)}:{uuid.uuid4().hex}"


@pytest.fixture(params=["memory", "sqlite", "redis"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[CacheBackend]:
    opened: CacheBackend
    if request.param == "memory":
        opened = MemoryBackend(100)
    elif request.param == "sqlite":
        opened = SqliteBackend(str(tmp_path / "cache.db"), 100)
    else:
        opened = RedisBackend(request.getfixturevalue("redis_url"),
                              f"tt-test:{uuid.uuid4().hex[:8]}")
    yield opened
    await opened.clear()
    await opened.aclose()


async def _fill(backend: CacheBackend) -> dict[str, str]:
    """Five entries: two tenants, two models, tags "faq" and/or "pricing"."""
    later = time.time() + 600
    ids = {}
    for name, scope, model, tags in (
        ("a-4o-faq", "key:a", "gpt-4o", ("faq",)),
        ("a-mini-faq-pricing", "key:a", "gpt-4o-mini", ("faq", "pricing")),
        ("b-4o-faq", "key:b", "gpt-4o", ("faq",)),
        ("b-4o-none", "key:b", "gpt-4o", ()),
        ("b-mini-pricing", "key:b", "gpt-4o-mini", ("pricing",)),
    ):
        ids[name] = _id(scope, model)
        await backend.put(ids[name], name.encode(), scope=scope, model=model,
                          expires_at=later, tags=tags)
    return ids


async def _left(backend: CacheBackend, ids: dict[str, str]) -> set[str]:
    return {name for name, entry_id in ids.items() if await backend.get(entry_id) is not None}


async def test_clear_by_tag(backend: CacheBackend) -> None:
    ids = await _fill(backend)
    assert await backend.clear(tag="nothing-has-this") == 0
    assert await _left(backend, ids) == set(ids)  # positive control: all still there
    assert await backend.clear(tag="faq") == 3
    assert await _left(backend, ids) == {"b-4o-none", "b-mini-pricing"}


async def test_clear_by_tag_within_a_scope_and_model(backend: CacheBackend) -> None:
    ids = await _fill(backend)
    assert await backend.clear(tag="faq", scope="key:b") == 1
    assert await backend.clear(tag="pricing", model="gpt-4o-mini", scope="key:a") == 1
    assert await _left(backend, ids) == {"a-4o-faq", "b-4o-none", "b-mini-pricing"}
    # What is left of a tag can still be cleared afterwards.
    assert await backend.clear(tag="pricing") == 1
    assert await _left(backend, ids) == {"a-4o-faq", "b-4o-none"}


async def test_clear_by_model_and_by_scope(backend: CacheBackend) -> None:
    ids = await _fill(backend)
    assert await backend.clear(model="gpt-4o-mini") == 2
    assert await backend.clear(scope="key:a") == 1
    assert await _left(backend, ids) == {"b-4o-faq", "b-4o-none"}
    assert await backend.clear() == 2
    assert await _left(backend, ids) == set()


async def test_a_sqlite_file_from_before_tags_gains_the_column(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE cache_entries (id TEXT PRIMARY KEY, scope TEXT NOT NULL,"
                     " model TEXT NOT NULL, stored_at REAL NOT NULL, expires_at REAL NOT NULL,"
                     " payload BLOB NOT NULL)")
        conn.execute("INSERT INTO cache_entries VALUES ('old', 'key:a', 'gpt-4o', 0, ?, x'00')",
                     (time.time() + 600,))
    backend = SqliteBackend(str(path), 100)
    try:
        assert await backend.get("old") == b"\x00"
        await backend.put("new", b"\x01", scope="key:a", model="gpt-4o",
                          expires_at=time.time() + 600, tags=("t",))
        assert await backend.clear(tag="t") == 1
        assert await backend.get("old") == b"\x00"
    finally:
        await backend.aclose()


# -- through the gateway ------------------------------------------------------------------


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Any:
    tmp = tmp_path_factory.mktemp("invalidation")
    with running_gateway(config_for(tmp, {"master_key": MASTER_KEY,
                                          "data_dir": str(tmp / "data")})) as running:
        yield running


def _ask(gw: RunningGateway, text: str, *, model: str = "gpt-4o", api_key: str | None = None,
         tags: str | None = None) -> str:
    client = openai.OpenAI(base_url=gw.url + "/v1", api_key=api_key, max_retries=0) \
        if api_key else gw.openai()
    raw = client.chat.completions.with_raw_response.create(
        model=model, max_tokens=32, temperature=0, messages=[{"role": "user", "content": text}],
        extra_headers={"x-tokenthrift-cache-tags": tags} if tags is not None else {})
    return str(raw.headers["x-tokenthrift-cache"])


def _delete(gw: RunningGateway, **query: str) -> dict[str, Any]:
    request = urllib.request.Request(
        f"{gw.url}/admin/cache?{urllib.parse.urlencode(query)}", method="DELETE",
        headers={"authorization": f"Bearer {MASTER_KEY}"})
    with urllib.request.urlopen(request) as response:
        return dict(json.loads(response.read()))


def _text() -> str:
    return f"Opening hours? ({uuid.uuid4().hex[:8]}) [[emulator:reply=Nine to five.]]"


def test_admin_api_clears_by_tag(gw: RunningGateway) -> None:
    tagged, other = _text(), _text()
    assert _ask(gw, tagged, tags="faq, store-42") == "miss"
    assert _ask(gw, other, tags="faq-v2") == "miss"
    assert _ask(gw, tagged) == "exact" and _ask(gw, other) == "exact"  # positive control
    answer = _delete(gw, tag="store-42")
    assert answer == {"removed": 1, "scope": None, "model": None, "tag": "store-42"}
    assert _ask(gw, tagged) == "miss"
    assert _ask(gw, other) == "exact"


def test_admin_api_clears_by_model_and_scope(gw: RunningGateway) -> None:
    text = _text()
    assert _ask(gw, text, model="gpt-4o-mini") == "miss"
    assert _ask(gw, text, model="gpt-4o", api_key="sk-tenant-b") == "miss"
    assert _ask(gw, text, model="gpt-4o", api_key="sk-tenant-c") == "miss"
    assert _delete(gw, model="gpt-4o-mini")["removed"] >= 1
    assert _ask(gw, text, model="gpt-4o-mini") == "miss"
    from tokenthrift.server.attribution import key_id

    assert _delete(gw, scope=f"key:{key_id('sk-tenant-b')}")["removed"] == 1
    assert _ask(gw, text, model="gpt-4o", api_key="sk-tenant-b") == "miss"
    assert _ask(gw, text, model="gpt-4o", api_key="sk-tenant-c") == "exact"


def test_a_malformed_tags_header_is_a_400(gw: RunningGateway) -> None:
    with pytest.raises(openai.BadRequestError) as excinfo:
        _ask(gw, _text(), tags=",".join(f"t{i}" for i in range(17)))
    assert "x-tokenthrift-cache-tags" in str(excinfo.value)
    with pytest.raises(openai.BadRequestError):
        _ask(gw, _text(), tags="x" * 129)


# -- through the CLI ----------------------------------------------------------------------


def _sqlite_config(tmp_path: Path) -> Path:
    config = tmp_path / "gateway.yaml"
    config.write_text(yaml.safe_dump({
        "data_dir": str(tmp_path / "data"), "master_key": MASTER_KEY,
        "storage": {"ledger": f"sqlite:///{tmp_path}/ledger.db"},
        "cache": {"backend": "sqlite"}}))
    return config


def test_cli_clears_a_sqlite_cache_by_tag_scope_and_model(tmp_path: Path) -> None:
    config = _sqlite_config(tmp_path)
    later = time.time() + 600

    async def fill() -> None:
        backend = SqliteBackend(str(tmp_path / "data" / "cache.db"), 100)
        try:
            for scope, model, tags in (("key:a", "m1", ("faq",)), ("key:a", "m2", ()),
                                       ("key:b", "m1", ("faq",)), ("key:b", "m2", ())):
                await backend.put(_id(scope, model), b"x", scope=scope, model=model,
                                  expires_at=later, tags=tags)
        finally:
            await backend.aclose()

    import asyncio

    asyncio.run(fill())
    runner = CliRunner()
    for args, removed in ((["--tag", "none-such"], 0), (["--tag", "faq", "--scope", "key:a"], 1),
                          (["--tag", "faq"], 1), (["--model", "m2", "--scope", "key:b"], 1),
                          ([], 1)):
        result = runner.invoke(cli, ["cache", "clear", "--config", str(config), *args])
        assert result.exit_code == 0, result.output
        assert f"removed {removed} cached answer(s)" in result.output


def test_cli_clears_a_running_gateway_by_tag(gw: RunningGateway,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    text = _text()
    assert _ask(gw, text, tags="release-7") == "miss"
    assert _ask(gw, text) == "exact"
    monkeypatch.setenv("TOKENTHRIFT_MASTER_KEY", MASTER_KEY)
    result = CliRunner().invoke(cli, ["cache", "clear", "--gateway", gw.url, "--tag", "release-7"])
    assert result.exit_code == 0, result.output
    assert "removed 1 cached answer(s)" in result.output
    assert _ask(gw, text) == "miss"


def test_clearing_needs_the_master_key(gw: RunningGateway) -> None:
    request = urllib.request.Request(f"{gw.url}/admin/cache?tag=x", method="DELETE",
                                     headers={"authorization": "Bearer not-the-key"})
    with pytest.raises(urllib.error.HTTPError) as excinfo:
        urllib.request.urlopen(request)
    assert excinfo.value.code in (401, 403)
