"""Virtual keys: created once, stored hashed, checked on every request, revocable."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import anthropic
import openai
import pytest
from click.testing import CliRunner

from gateway_harness import RunningGateway, running_gateway
from governance_harness import (
    MASTER_KEY,
    MODEL,
    PROMPT,
    REPLY_TOKENS,
    call,
    chat_body,
    create_key,
    governed_config,
)
from tokenthrift.cli.main import cli
from tokenthrift.levers.governance.keys import hash_key, looks_virtual, new_key

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
def gw(tmp_path: Path) -> Iterator[RunningGateway]:
    with running_gateway(governed_config(tmp_path)) as running:
        yield running


def _openai(gw: RunningGateway, key: str | None) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key=key or "", max_retries=0)


def _anthropic(gw: RunningGateway, key: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gw.url, api_key=key, max_retries=0)


def _ask(client: openai.OpenAI, model: str = MODEL, **kwargs: object) -> str | None:
    response = client.chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": PROMPT}], max_tokens=REPLY_TOKENS,
        **kwargs)  # type: ignore[call-overload]
    return response.headers["x-tokenthrift-request-id"]


def test_key_is_shown_once_listed_by_prefix_and_stored_only_as_a_hash(
    gw: RunningGateway, tmp_path: Path
) -> None:
    created = create_key(gw.url, team="search", user="ana", models=["gpt-4o*"], rpm=100,
                         metadata={"owner": "ana@example.com"})
    key = created["key"]
    assert key.startswith("tt-") and len(key) >= 3 + 43 and looks_virtual(key)
    assert created["id"].startswith("vk_") and created["prefix"] == key[:11]

    status, listed, _ = call(gw.url + "/admin/keys")
    assert status == 200
    (row,) = listed["data"]
    assert row["id"] == created["id"] and row["prefix"] == created["prefix"]
    assert (row["team"], row["user"], row["customer"]) == ("search", "ana", None)
    assert row["spend"] == 0.0 and row["revoked"] is False
    assert key not in str(listed) and "key" not in row

    gw.gateway.writer.flush()
    db = sqlite3.connect(tmp_path / "ledger.db")
    cells = [str(v) for table in ("virtual_keys", "budgets", "ledger")
             for r in db.execute(f"SELECT * FROM {table}") for v in r]
    assert hash_key(key) in cells
    assert not any(key in cell for cell in cells)
    db.close()
    files = list(tmp_path.glob("ledger.db*"))  # the database, its WAL and shared memory
    assert files and not any(key.encode() in f.read_bytes() for f in files)
    assert not any(MASTER_KEY.encode() in f.read_bytes() for f in files)


def test_requests_are_attributed_to_the_key_owner_not_to_headers(gw: RunningGateway) -> None:
    created = create_key(gw.url, team="search", customer="acme")
    client = _openai(gw, created["key"])
    request_id = _ask(client, extra_headers={"x-tokenthrift-team": "other-team",
                                             "x-tokenthrift-user": "bob",
                                             "x-tokenthrift-tags": "nightly"})
    row = gw.ledger_row(request_id)
    assert (row.key_id, row.team, row.customer) == (created["id"], "search", "acme")
    assert (row.user, row.tags) == ("bob", ["nightly"])  # the key leaves these to headers
    listed = call(gw.url + "/admin/keys")[1]
    assert listed["data"][0]["spend"] == pytest.approx(float(row.cost_usd))


def test_once_a_key_exists_requests_without_a_valid_key_get_401(gw: RunningGateway) -> None:
    assert _ask(_openai(gw, "sk-anything"))  # no keys yet: keyless gateway as before
    create_key(gw.url, team="search")
    for key, code in ((None, "missing_api_key"), ("sk-anything", "invalid_api_key"),
                      (new_key(), "invalid_api_key")):
        status, body, _ = call(gw.url + "/v1/chat/completions", "POST", chat_body(), key=key)
        assert status == 401 and body["error"]["code"] == code
    with pytest.raises(openai.AuthenticationError):
        _ask(_openai(gw, new_key()))
    with pytest.raises(anthropic.AuthenticationError) as excinfo:
        _anthropic(gw, new_key()).messages.create(
            model="claude-haiku-4-5", max_tokens=5, messages=[{"role": "user", "content": "hi"}])
    assert excinfo.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]


def test_revocation_is_immediate_on_the_replica_that_revoked(gw: RunningGateway) -> None:
    created = create_key(gw.url)
    client = _openai(gw, created["key"])
    _ask(client)  # cached as valid now
    status, body, _ = call(gw.url + f"/admin/keys/{created['id']}", "DELETE")
    assert status == 200 and body == {"id": created["id"], "revoked": True}
    status, body, _ = call(gw.url + "/v1/chat/completions", "POST", chat_body(),
                           key=created["key"])
    assert status == 401 and body["error"]["code"] == "revoked_api_key"
    assert created["key"] not in body["error"]["message"]
    assert call(gw.url + "/admin/keys/vk_nope", "DELETE")[0] == 404


def test_expired_key_gets_401(gw: RunningGateway) -> None:
    created = create_key(gw.url, expires_at=time.time() - 1)
    status, body, _ = call(gw.url + "/v1/chat/completions", "POST", chat_body(),
                           key=created["key"])
    assert status == 401 and body["error"]["code"] == "expired_api_key"
    later = create_key(gw.url, expires_at="2999-01-01T00:00:00Z")
    assert _ask(_openai(gw, later["key"]))


def test_model_allow_list_answers_403_in_both_formats(gw: RunningGateway) -> None:
    created = create_key(gw.url, models=["gpt-4o-mini", "claude-haiku-*"])
    key = created["key"]
    assert _ask(_openai(gw, key))
    with pytest.raises(openai.PermissionDeniedError) as denied:
        _ask(_openai(gw, key), model="gpt-4o")
    assert denied.value.code == "model_not_allowed"
    _anthropic(gw, key).messages.create(model="claude-haiku-4-5", max_tokens=5,
                                        messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(anthropic.PermissionDeniedError) as refused:
        _anthropic(gw, key).messages.create(model="claude-sonnet-4-5", max_tokens=5,
                                            messages=[{"role": "user", "content": "hi"}])
    assert refused.value.status_code == 403
    assert "claude-sonnet-4-5" in str(refused.value.body)


def test_master_key_is_a_client_key_too(gw: RunningGateway) -> None:
    create_key(gw.url)
    request_id = _ask(_openai(gw, MASTER_KEY), extra_headers={"x-tokenthrift-team": "ops"})
    row = gw.ledger_row(request_id)
    assert (row.key_id, row.team) == ("master", "ops")


def test_optional_auth_lets_keyless_requests_through_but_never_a_revoked_key(
    tmp_path: Path
) -> None:
    with running_gateway(governed_config(tmp_path, {"auth": "optional"})) as gw:
        created = create_key(gw.url)
        assert _ask(_openai(gw, "sk-whatever"))
        call(gw.url + f"/admin/keys/{created['id']}", "DELETE")
        with pytest.raises(openai.AuthenticationError):
            _ask(_openai(gw, created["key"]))


def test_required_auth_refuses_keyless_requests_before_any_key_exists(tmp_path: Path) -> None:
    with running_gateway(governed_config(tmp_path, {"auth": "required"})) as gw:
        status, body, _ = call(gw.url + "/v1/chat/completions", "POST", chat_body(), key=None)
        assert status == 401 and body["error"]["code"] == "missing_api_key"


def test_admin_api_needs_the_master_key(gw: RunningGateway) -> None:
    assert call(gw.url + "/admin/keys", key=None)[0] == 401
    assert call(gw.url + "/admin/keys", key="wrong")[0] == 401
    created = create_key(gw.url)
    assert call(gw.url + "/admin/keys", key=created["key"])[0] == 401
    status, body, _ = call(gw.url + "/admin/keys", "POST", {"team": "x", "colour": "red"})
    assert status == 400 and "colour" in body["error"]["message"]
    status, body, _ = call(gw.url + "/admin/keys", "POST", {"rpm": -1})
    assert status == 400


def test_cli_creates_lists_and_revokes_keys(tmp_path: Path) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text(f"storage: {{ledger: 'sqlite:///{tmp_path}/ledger.db'}}\n")
    runner = CliRunner()
    created = runner.invoke(cli, ["keys", "create", "--config", str(config), "--team", "search",
                                  "--model", "gpt-4o-mini", "--budget-usd", "5", "--rpm", "10",
                                  "--format", "json"])
    assert created.exit_code == 0, created.output
    view = json.loads(created.output)
    assert view["key"].startswith("tt-") and view["team"] == "search"
    listed = runner.invoke(cli, ["keys", "list", "--config", str(config), "--format", "json"])
    assert listed.exit_code == 0 and view["key"] not in listed.output
    assert json.loads(listed.output)[0]["id"] == view["id"]
    budgets = runner.invoke(cli, ["budgets", "list", "--config", str(config), "--format",
                                  "json"])
    assert json.loads(budgets.output)[0]["id"] == view["id"]
    revoked = runner.invoke(cli, ["keys", "revoke", view["id"], "--config", str(config)])
    assert revoked.exit_code == 0
    listed = runner.invoke(cli, ["keys", "list", "--config", str(config), "--format", "json"])
    assert json.loads(listed.output)[0]["revoked"] is True
    assert runner.invoke(cli, ["keys", "revoke", "vk_nope", "--config", str(config)]).exit_code
