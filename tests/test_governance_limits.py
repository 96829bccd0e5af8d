"""Rate limits (requests and tokens per minute, per key and per team), in-process and in
Redis: a 429 with retry-after when exceeded, tokens corrected to actual usage."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway_harness import RunningGateway, running_gateway
from governance_harness import call, chat_body, create_key, governed_config
from tokenthrift.emulator import Fault
from tokenthrift.levers.governance.rate_limits import PERIOD_S, apply_correction, gcra


@pytest.fixture(params=["memory", "redis"])
def backend(request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    """Governance settings for each counter backend (Redis keys under a fresh prefix)."""
    if request.param == "memory":
        yield {"backend": "memory"}
        return
    import redis

    url = request.getfixturevalue("redis_url")
    prefix = f"tt:test:{uuid.uuid4().hex[:10]}:"
    yield {"backend": "redis", "redis_prefix": prefix, "_url": url}
    client = redis.Redis.from_url(url)
    for key in client.scan_iter(match=prefix + "*"):
        client.delete(key)
    client.close()


def _gateway(tmp_path: Path, backend: dict[str, Any], **governance: Any) -> Any:
    settings = {k: v for k, v in backend.items() if k != "_url"}
    storage = {"ledger": f"sqlite:///{tmp_path}/ledger.db", "redis": backend.get("_url")}
    return running_gateway(governed_config(tmp_path, {**settings, **governance},
                                           storage=storage))


def _ask(gw: RunningGateway, key: str | None = None, team: str | None = None,
         **extra: Any) -> tuple[int, Any, dict[str, str]]:
    headers = {"x-tokenthrift-team": team} if team else {}
    return call(gw.url + "/v1/chat/completions", "POST", chat_body(**extra), key=key,
                headers=headers)


def test_requests_per_minute_per_key(tmp_path: Path, backend: dict[str, Any]) -> None:
    with _gateway(tmp_path, backend) as gw:
        limited = create_key(gw.url, rpm=3)["key"]
        other = create_key(gw.url)["key"]
        for _ in range(3):
            assert _ask(gw, limited)[0] == 200
        status, body, headers = _ask(gw, limited)
        assert status == 429 and body["error"]["code"] == "rate_limit_exceeded"
        assert "3 requests per minute" in body["error"]["message"]
        assert 1 <= int(headers["retry-after"]) <= 20  # one request refills every 20 s
        assert _ask(gw, other)[0] == 200


def test_tokens_per_minute_per_team_are_corrected_to_actual_usage(
    tmp_path: Path, backend: dict[str, Any]
) -> None:
    # Each request is charged 20 prompt + 50 max_tokens = 70 up front and uses 25 tokens.
    # Without the correction on settle the second request would not fit in 100.
    teams = {"search": {"tpm": 100}}
    with _gateway(tmp_path, backend, teams=teams) as gw:
        assert _ask(gw, team="search", max_tokens=50)[0] == 200
        assert _ask(gw, team="search", max_tokens=50)[0] == 200
        status, body, headers = _ask(gw, team="search", max_tokens=50)
        assert status == 429 and "team 'search': 100 tokens per minute" in body["error"]["message"]
        assert int(headers["retry-after"]) >= 1
        assert _ask(gw, team="other", max_tokens=50)[0] == 200


def test_a_failed_request_gives_its_tokens_back(tmp_path: Path, backend: dict[str, Any]) -> None:
    with _gateway(tmp_path, backend, teams={"search": {"tpm": 60}}) as gw:
        gw.emulator.add_fault(Fault(kind="status", status=500, count=1))
        assert _ask(gw, team="search", max_tokens=30)[0] == 502
        assert _ask(gw, team="search", max_tokens=30)[0] == 200


def test_a_key_limit_and_a_team_limit_both_apply(tmp_path: Path) -> None:
    with _gateway(tmp_path, {"backend": "memory"}, teams={"search": {"rpm": 2}}) as gw:
        key = create_key(gw.url, team="search", rpm=10)["key"]
        assert _ask(gw, key)[0] == 200 and _ask(gw, key)[0] == 200
        status, body, _ = _ask(gw, key)
        assert status == 429 and "team 'search'" in body["error"]["message"]


# -- the algorithm ----------------------------------------------------------------------


def test_gcra_allows_a_minutes_burst_then_refills_continuously() -> None:
    tat = None
    for _ in range(6):
        tat, wait = gcra(tat, 1000.0, limit=6, cost=1)
        assert wait == 0
    refused, wait = gcra(tat, 1000.0, limit=6, cost=1)
    assert refused == tat and wait == pytest.approx(PERIOD_S / 6)
    assert gcra(tat, 1000.0 + PERIOD_S / 6, limit=6, cost=1)[1] == 0


def test_token_correction_moves_the_arrival_time() -> None:
    tat, _ = gcra(None, 0.0, limit=600, cost=300)  # half a minute of tokens
    assert tat == pytest.approx(30.0)
    assert apply_correction(tat, 600, -200) == pytest.approx(10.0)
    assert apply_correction(None, 600, -200) is None
