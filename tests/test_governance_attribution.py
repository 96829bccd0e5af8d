"""Whose attribution headers count (``governance.trust_attribution_headers``): a client
must not be able to charge another team's budget by naming it in a header."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gateway_harness import RunningGateway, running_gateway
from governance_harness import (
    COST,
    MASTER_KEY,
    call,
    chat_body,
    create_key,
    governed_config,
    set_budget,
)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
AS_SEARCH = {"x-tokenthrift-team": "search", "x-tokenthrift-user": "ana"}


def _ask(gw: RunningGateway, key: str, headers: dict[str, str]) -> tuple[int, Any, str]:
    status, body, answer = call(gw.url + "/v1/chat/completions", "POST", chat_body(), key=key,
                                headers=headers)
    return status, body, answer.get("x-tokenthrift-request-id", "")


def _spent(gw: RunningGateway, team: str) -> float:
    data = call(gw.url + "/admin/budgets")[1]["data"]
    (found,) = [b for b in data if (b["scope"], b["id"]) == ("team", team)]
    return float(found["spent"])


def test_by_default_a_key_without_an_owner_cannot_charge_a_teams_budget(tmp_path: Path) -> None:
    with running_gateway(governed_config(tmp_path)) as gw:
        set_budget(gw.url, scope="team", id="search", usd=str(COST), period="day")
        ownerless = create_key(gw.url)
        for _ in range(3):  # the budget affords one request: none of these is charged to it
            status, _, request_id = _ask(gw, ownerless["key"], AS_SEARCH)
            assert status == 200
        assert _spent(gw, "search") == 0
        row = gw.ledger_row(request_id)  # the ledger goes by the same owner as budgets
        assert (row.key_id, row.team, row.user) == (ownerless["id"], None, None)
        # a key owned by the team is charged, and the key's other fields still come from
        # headers: the user here
        owned = create_key(gw.url, team="search")
        status, _, request_id = _ask(gw, owned["key"], {"x-tokenthrift-user": "ana"})
        assert status == 200 and gw.ledger_row(request_id).user == "ana"
        status, body, _ = _ask(gw, owned["key"], {})
        assert status == 429 and body["error"]["code"] == "budget_exceeded"


def test_always_trusts_headers_and_never_trusts_none(tmp_path: Path) -> None:
    config = governed_config(tmp_path / "always", {"trust_attribution_headers": "always"})
    with running_gateway(config) as gw:  # the behaviour before the setting existed
        set_budget(gw.url, scope="team", id="search", usd=str(COST), period="day")
        ownerless = create_key(gw.url)["key"]
        assert _ask(gw, ownerless, AS_SEARCH)[0] == 200
        status, body, _ = _ask(gw, ownerless, AS_SEARCH)
        assert status == 429 and body["error"]["code"] == "budget_exceeded"

    config = governed_config(tmp_path / "never", {"trust_attribution_headers": "never"})
    with running_gateway(config) as gw:
        set_budget(gw.url, scope="user", id="ana", usd=str(COST), period="day")
        owned = create_key(gw.url, team="ops")["key"]
        for key in (owned, MASTER_KEY):
            for _ in range(2):
                status, _, request_id = _ask(gw, key, AS_SEARCH)
                assert status == 200
            row = gw.ledger_row(request_id)
            assert (row.team, row.user) == (("ops", None) if key == owned else (None, None))


def test_a_keyless_gateway_still_goes_by_headers(tmp_path: Path) -> None:
    with running_gateway(governed_config(tmp_path)) as gw:  # no key exists: auth optional
        set_budget(gw.url, scope="team", id="search", usd=str(COST), period="day")
        assert _ask(gw, "sk-anything", AS_SEARCH)[0] == 200
        assert _ask(gw, "sk-anything", AS_SEARCH)[0] == 429
        assert _spent(gw, "search") == pytest.approx(float(COST))
