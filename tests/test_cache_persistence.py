"""Answers that outlive the process: the sqlite backend across a restart, the redis
backend with its tenant isolation, and ``tokenthrift cache clear``."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import openai
import yaml
from click.testing import CliRunner

from gateway_harness import RunningGateway, config_for, running_gateway
from tokenthrift.cli.main import cli
from tokenthrift.levers.cache.backends.redis import RedisBackend


def _ask(gw: RunningGateway, text: str, *, api_key: str | None = None) -> str:
    client = (gw.openai() if api_key is None else
              openai.OpenAI(base_url=gw.url + "/v1", api_key=api_key, max_retries=0))
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o", max_tokens=32,
        messages=[{"role": "user", "content": f"{text} [[emulator:reply=Stored answer.]]"}])
    return str(raw.headers["x-tokenthrift-cache"])


def _raw(tmp_path: Path, **cache: Any) -> dict[str, Any]:
    return {"data_dir": str(tmp_path / "data"),
            "storage": {"ledger": f"sqlite:///{tmp_path}/ledger.db"}, "cache": cache}


def test_sqlite_answers_survive_a_restart(tmp_path: Path) -> None:
    raw = _raw(tmp_path, backend="sqlite")
    text = f"Persist me {uuid.uuid4().hex[:8]}"
    with running_gateway(config_for(tmp_path, raw)) as gw:
        assert _ask(gw, text) == "miss"
    assert (tmp_path / "data" / "cache.db").exists()
    with running_gateway(config_for(tmp_path, raw)) as gw:
        assert _ask(gw, text) == "exact"
        assert gw.emulator.stats()["requests"] == 0


def test_cli_clear_empties_the_sqlite_cache(tmp_path: Path) -> None:
    raw = _raw(tmp_path, backend="sqlite")
    config_file = tmp_path / "gateway.yaml"
    config_file.write_text(yaml.safe_dump(raw))
    texts = [f"Clear me {uuid.uuid4().hex[:8]}" for _ in range(2)]
    with running_gateway(config_for(tmp_path, raw)) as gw:
        for text in texts:
            _ask(gw, text)
    runner = CliRunner()
    result = runner.invoke(cli, ["cache", "clear", "--config", str(config_file),
                                 "--model", "gpt-4o-mini"])
    assert result.exit_code == 0 and "removed 0" in result.output
    with running_gateway(config_for(tmp_path, raw)) as gw:
        assert _ask(gw, texts[0]) == "exact"  # another model's clear left it in place
    result = runner.invoke(cli, ["cache", "clear", "--config", str(config_file)])
    assert result.exit_code == 0 and "removed 2" in result.output
    with running_gateway(config_for(tmp_path, raw)) as gw:
        assert _ask(gw, texts[0]) == "miss" and _ask(gw, texts[1]) == "miss"


def test_cli_clear_of_the_memory_backend_points_to_the_admin_api(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["cache", "clear"])
    assert result.exit_code != 0 and "--gateway" in result.output


def test_redis_backend_keeps_tenants_apart(tmp_path: Path, redis_url: str) -> None:
    prefix = f"tt-test:{uuid.uuid4().hex[:8]}"
    raw = {**_raw(tmp_path, backend="redis", redis_prefix=prefix),
           "storage": {"ledger": f"sqlite:///{tmp_path}/ledger.db", "redis": redis_url}}
    text = f"Redis tenant {uuid.uuid4().hex[:8]}"
    with running_gateway(config_for(tmp_path, raw)) as gw:
        try:
            assert _ask(gw, text) == "miss"
            assert _ask(gw, text) == "exact"
            assert _ask(gw, text, api_key="sk-other-tenant") == "miss"
            assert _ask(gw, text, api_key="sk-other-tenant") == "exact"
        finally:
            assert _clear_redis(redis_url, prefix) == 2


def _clear_redis(url: str, prefix: str) -> int:
    async def clear() -> int:
        backend = RedisBackend(url, prefix)
        try:
            return await backend.clear()
        finally:
            await backend.aclose()

    return asyncio.run(clear())


def test_an_unreachable_cache_backend_never_fails_a_request(tmp_path: Path) -> None:
    from tokenthrift.server.runner import free_port

    dead = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    raw = {**_raw(tmp_path, backend="redis"),
           "storage": {"ledger": f"sqlite:///{tmp_path}/ledger.db", "redis": dead}}
    with running_gateway(config_for(tmp_path, raw)) as gw:
        text = f"Backend down {uuid.uuid4().hex[:8]}"
        assert _ask(gw, text) == "miss"  # answered from upstream, not a 5xx
        assert _ask(gw, text) == "miss"
        assert gw.emulator.stats()["requests"] == 2
        cache = gw.gateway.lever("cache")
        assert cache is not None and cache.stats.errors >= 1  # type: ignore[attr-defined]
