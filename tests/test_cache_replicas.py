"""Two gateway processes sharing one Redis: an answer stored through one replica is
served by the other (``tokenthrift serve`` subprocesses, as deployed)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import openai
import yaml

from tokenthrift.levers.cache.backends.redis import RedisBackend
from tokenthrift.server.runner import free_port

TOKENTHRIFT = str(Path(sys.executable).with_name("tokenthrift"))


@contextmanager
def serve(config: Path, log: Path) -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with log.open("wb") as sink:
        process = subprocess.Popen([TOKENTHRIFT, "serve", "--config", str(config),
                                    "--port", str(port)], stdout=sink, stderr=sink,
                                   env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(url + "/health", timeout=1):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"gateway did not start: {log.read_text()}") from None
                time.sleep(0.05)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _clear(url: str, prefix: str) -> int:
    async def clear() -> int:
        backend = RedisBackend(url, prefix)
        try:
            return await backend.clear()
        finally:
            await backend.aclose()

    return asyncio.run(clear())


def test_an_answer_stored_by_one_replica_is_served_by_the_other(
    tmp_path: Path, redis_url: str
) -> None:
    prefix = f"tt-test:{uuid.uuid4().hex[:8]}"
    configs = []
    for name in ("a", "b"):
        config = tmp_path / f"{name}.yaml"
        config.write_text(yaml.safe_dump({
            "data_dir": str(tmp_path / name),
            "storage": {"ledger": f"sqlite:///{tmp_path}/{name}.db", "redis": redis_url},
            "cache": {"backend": "redis", "redis_prefix": prefix},
        }))
        configs.append(config)
    text = f"Shared across replicas? {uuid.uuid4().hex[:8]} [[emulator:reply=Yes, via Redis.]]"
    messages: Any = [{"role": "user", "content": text}]
    try:
        with serve(configs[0], tmp_path / "a.log") as a, serve(configs[1], tmp_path / "b.log") as b:
            first = openai.OpenAI(base_url=a + "/v1", api_key="sk-replica-tenant", max_retries=0)
            second = openai.OpenAI(base_url=b + "/v1", api_key="sk-replica-tenant", max_retries=0)
            stored = first.chat.completions.with_raw_response.create(
                model="gpt-4o", max_tokens=32, messages=messages)
            assert stored.headers["x-tokenthrift-cache"] == "miss"
            served = second.chat.completions.with_raw_response.create(
                model="gpt-4o", max_tokens=32, messages=messages)
            assert served.headers["x-tokenthrift-cache"] == "exact"
            assert float(served.headers["x-tokenthrift-saved-usd"]) > 0
            assert (served.parse().choices[0].message.content
                    == stored.parse().choices[0].message.content == "Yes, via Redis.")
            # Another tenant asking replica b gets no answer stored for the first one.
            stranger = openai.OpenAI(base_url=b + "/v1", api_key="sk-stranger", max_retries=0)
            assert stranger.chat.completions.with_raw_response.create(
                model="gpt-4o", max_tokens=32, messages=messages,
            ).headers["x-tokenthrift-cache"] == "miss"
    finally:
        assert _clear(redis_url, prefix) == 2
