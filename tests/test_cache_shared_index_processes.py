"""The semantic index shared by replicas, with ``tokenthrift serve`` processes as
deployed: a reworded question answered through one process is a semantic hit on the
other, a process started later finds the current entries on its first request, and a
clear through one process's admin API reaches the other.

Polls are bounded by iteration count, never asserted on wall-clock time (the delay is
measured by ``benchmarks/semcache_shared_index.py --processes``)."""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import openai
import yaml

from serve_process import ServeProcess, serving

MASTER_KEY = "mk-shared-index-procs-91c4"
CLIENT_KEY = "sk-client-shared-index-procs"
NO_STORE = {"x-tokenthrift-cache-ttl": "0"}  # a probe looks up but stores nothing


def _config(tmp: Path, name: str, redis_url: str, prefix: str) -> Path:
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump({
        "providers": {"emu": {"type": "emulator"}},
        "models": [{"name": "*", "provider": "emu"}],
        "master_key": MASTER_KEY,
        "data_dir": str(tmp / name / "data"),
        "storage": {"ledger": f"sqlite:///{tmp}/{name}.db", "redis": redis_url},
        # An explicit threshold: this test is about sharing, not the shipped default.
        "cache": {"backend": "redis", "redis_prefix": prefix,
                  "semantic": {"enabled": True, "threshold": 0.85}},
    }))
    return path


def _ask(replica: ServeProcess, text: str, system: str,
         headers: dict[str, str] | None = None) -> tuple[str, str]:
    """(x-tokenthrift-cache, answer text) for ``text`` asked of ``replica``."""
    client = openai.OpenAI(base_url=replica.url + "/v1", api_key=CLIENT_KEY, max_retries=0)
    try:
        raw = client.chat.completions.with_raw_response.create(
            model="gpt-4o", max_tokens=200,
            messages=[{"role": "system", "content": system}, {"role": "user", "content": text}],
            extra_headers=headers or {})
        return str(raw.headers["x-tokenthrift-cache"]), str(raw.parse().choices[0].message.content)
    finally:
        client.close()


def _poll(replica: ServeProcess, text: str, system: str, until: str) -> tuple[str, str]:
    """Ask (storing nothing) until the cache header is ``until``: at most 200 tries,
    50 ms apart (about 10 s plus the requests); never a claim about time."""
    for _ in range(200):
        outcome, answer = _ask(replica, text, system, NO_STORE)
        if outcome == until:
            return outcome, answer
        time.sleep(0.05)
    raise AssertionError(f"{text!r} on {replica.url} never answered {until!r} "
                         f"(last: {outcome!r}):\n{replica.output()}")


def _clear(replica: ServeProcess) -> Any:
    request = urllib.request.Request(f"{replica.url}/admin/cache", method="DELETE",
                                     headers={"authorization": f"Bearer {MASTER_KEY}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def test_processes_share_the_semantic_index(tmp_path: Path, redis_url: str,
                                            cache_prefix: str) -> None:
    system = f"You help customers of web shop #{uuid.uuid4().hex[:8]}."
    with ExitStack() as stack:
        a = stack.enter_context(serving(_config(tmp_path, "a", redis_url, cache_prefix)))
        b = stack.enter_context(serving(_config(tmp_path, "b", redis_url, cache_prefix)))

        # Positive control on b alone: the reworded question is a semantic hit on b's
        # own entry, so a miss later on can only mean the entry did not reach b.
        assert _ask(b, "How do I change my email address?", system)[0] == "miss"
        assert _ask(b, "How can I change my email address?", system, NO_STORE)[0] == "semantic"

        stored, answer = _ask(a, "How do I reset my password?", system)
        assert stored == "miss"
        _, shared = _poll(b, "How can I reset my password?", system, until="semantic")
        assert shared == answer  # b serves the answer a stored

        # A process that starts now loads the current entries before it serves.
        c = stack.enter_context(serving(_config(tmp_path, "c", redis_url, cache_prefix)))
        assert _ask(c, "How could I reset my password?", system, NO_STORE) == ("semantic", answer)

        # A clear through a's admin API reaches b.
        assert _clear(a)["removed"] == 2
        _poll(b, "How can I reset my password?", system, until="miss")
        assert _ask(b, "How can I change my email address?", system, NO_STORE)[0] == "miss"
