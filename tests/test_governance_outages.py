"""PostgreSQL down while keys are in use (issue #8, defect 6): what can be served is, the
rest is a 503 in the client's own format, never a 500; budgets stay enforced; service
comes back by itself with the database. The outage is a proxy in front of the shared
PostgreSQL that the test cuts; the database itself keeps running."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import pytest
from click.testing import CliRunner

from gateway_harness import RunningGateway, running_gateway
from governance_harness import (
    COST,
    call,
    chat_body,
    create_key,
    cuttable_proxy,
    governed_config,
    redis_keys_under,
)
from tokenthrift.cli.main import cli
from tokenthrift.config import ConfigError
from tokenthrift.levers.governance.store import GovernanceStore
from tokenthrift.server.runner import free_port

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(params=["memory", "redis"])
def backend(request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    if request.param == "memory":
        yield {"governance": {"backend": "memory"}, "storage": {}}
        return
    url = request.getfixturevalue("redis_url")
    with redis_keys_under(url, f"tt:test:{uuid.uuid4().hex[:10]}:") as prefix:
        yield {"governance": {"redis_prefix": prefix}, "storage": {"redis": url}}


def _ask(gw: RunningGateway, key: str) -> tuple[int, Any]:
    status, body, _ = call(gw.url + "/v1/chat/completions", "POST", chat_body(), key=key)
    return status, body


def _eventually_ok(gw: RunningGateway, key: str, within_s: float = 15.0) -> int:
    """Ask until answered 200 (the store retries the database about once a second)."""
    deadline = time.monotonic() + within_s
    status = 0
    while time.monotonic() < deadline:
        status = _ask(gw, key)[0]
        if status == 200:
            break
        time.sleep(0.1)
    return status


def test_with_the_database_down_cached_keys_work_budgets_hold_and_it_recovers(
    tmp_path: Path, postgres_url: str, postgres_schema: str, backend: dict[str, Any]
) -> None:
    with cuttable_proxy(postgres_url) as (proxy, through):
        # key_cache_ttl_s 0: every request looks its key up, so the cache is the fallback
        governance = {"key_cache_ttl_s": 0, **backend["governance"]}
        storage = {"ledger": through, "ledger_schema": postgres_schema, **backend["storage"]}
        config = governed_config(tmp_path, governance, storage=storage,
                                 data_dir=str(tmp_path / "data"))
        with running_gateway(config) as gw:
            used = create_key(gw.url, budget={"usd": str(COST * 3), "period": "day"})
            unseen = create_key(gw.url)  # exists, but this gateway never resolved it
            assert _ask(gw, used["key"])[0] == 200
            proxy.cut()

            assert _ask(gw, used["key"])[0] == 200  # served from the key cache
            assert _ask(gw, used["key"])[0] == 200
            status, body = _ask(gw, used["key"])  # its budget is still enforced
            assert status == 429 and body["error"]["code"] == "budget_exceeded"

            status, body = _ask(gw, unseen["key"])
            assert status == 503 and body["error"]["code"] == "governance_store_unavailable"
            client = anthropic.Anthropic(base_url=gw.url, api_key=unseen["key"], max_retries=0)
            with pytest.raises(anthropic.APIStatusError) as refused:
                client.messages.create(model="claude-haiku-4-5", max_tokens=5,
                                       messages=[{"role": "user", "content": "hi"}])
            assert refused.value.status_code == 503
            assert refused.value.body["type"] == "error"  # type: ignore[index]
            assert "key and budget database" in refused.value.message
            status, body, _ = call(gw.url + "/admin/keys")
            assert status == 503 and body["error"]["code"] == "governance_store_unavailable"

            proxy.restore()  # no restart: the next look-up after the retry interval works
            assert _eventually_ok(gw, unseen["key"]) == 200
            assert call(gw.url + "/admin/keys")[0] == 200


def test_an_unreachable_database_at_start_up_is_one_line_naming_storage_ledger(
    tmp_path: Path
) -> None:
    url = f"postgresql://postgres:s3cret@127.0.0.1:{free_port()}/test"  # nothing listens
    config = governed_config(tmp_path, storage={"ledger": url})
    with pytest.raises(ConfigError) as failed:
        GovernanceStore.for_config(config)
    message = str(failed.value)
    assert message.startswith("storage.ledger: cannot reach") and "\n" not in message
    assert "s3cret" not in message
    path = tmp_path / "gateway.yaml"
    path.write_text(f"storage: {{ledger: '{url}'}}\n")
    listed = CliRunner().invoke(cli, ["keys", "list", "--config", str(path)])
    assert listed.exit_code == 1 and listed.output.count("\n") == 1
    assert "storage.ledger: cannot reach" in listed.output and "Traceback" not in listed.output
