"""The framework examples in ``examples/`` run against the gateway (emulator upstream) and
leave ledger rows attributed to their team and task.

Each framework is an optional extra (``pip install -e '.[examples]'``); a test skips,
saying why, only when its framework is not installed.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from gateway_harness import RunningGateway, config_for, running_gateway
from tokenthrift.config import GatewayConfig
from tokenthrift.ledger.record import LedgerRecord

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


# Why a framework may be missing, beyond "install the examples extra".
_WHY_MISSING = {
    "instructor": "instructor 1.17 pins jiter<0.15 and openai>=3.4 needs jiter>=0.16, so pip "
                  "cannot install it with this project's openai (it runs when installed with "
                  "`pip install --no-deps instructor docstring-parser`)",
}


def example(name: str, *needs: str) -> ModuleType:
    for module in needs:
        why = _WHY_MISSING.get(module, "pip install -e '.[examples]'")
        pytest.importorskip(module, reason=f"{module} is not installed ({why}); "
                                           f"examples/{name}.py needs it")
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    loaded = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = loaded
    spec.loader.exec_module(loaded)
    return loaded


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    with running_gateway(config_for(tmp_path_factory.mktemp("examples"))) as running:
        yield running


def rows_for(gw: RunningGateway, team: str) -> list[LedgerRecord]:
    gw.gateway.writer.flush()
    return sorted((row for row in gw.gateway.ledger.rows() if row.team == team),
                  key=lambda row: row.ts)


def test_langchain(gw: RunningGateway) -> None:
    app = example("langchain_app", "langchain_openai", "langchain_anthropic")
    result = app.main(gw.url)
    assert result["summary"] and result["triage"]
    rows = rows_for(gw, "support")
    assert sorted((r.task, r.endpoint, r.served_model) for r in rows) == [
        ("ticket-summary", "chat.completions", "gpt-4o-mini"),
        ("ticket-triage", "messages", "claude-haiku-4-5"),
    ]
    assert all(r.status == 200 and r.cost_usd for r in rows)


def test_llamaindex(gw: RunningGateway) -> None:
    app = example("llamaindex_app", "llama_index.core")
    result = app.main(gw.url)
    assert result["answer"] and result["streamed"]
    rows = rows_for(gw, "research")
    assert [(r.task, r.stream) for r in rows] == [("doc-qa", False), ("doc-qa", True)]
    assert all(r.status == 200 and r.cost_usd for r in rows)


def test_openai_agents_sdk_runs_a_tool_turn_over_the_responses_api(gw: RunningGateway) -> None:
    app = example("openai_agents_app", "agents")
    assert app.main(gw.url)
    rows = rows_for(gw, "ops")
    # The model called the tool, then answered from its output: two Responses calls.
    assert [(r.task, r.endpoint) for r in rows] == [("oncall-agent", "responses")] * 2
    assert rows[1].input_tokens > rows[0].input_tokens  # the tool call and output were sent
    assert all(r.status == 200 and r.cost_usd for r in rows)


def test_openai_agents_sdk_served_by_claude(gw: RunningGateway) -> None:
    app = example("openai_agents_app", "agents")
    assert app.main(gw.url, model="claude-haiku-4-5")
    rows = [r for r in rows_for(gw, "ops") if r.served_model == "claude-haiku-4-5"]
    assert len(rows) == 2 and all(r.endpoint == "responses" for r in rows)


def test_pydantic_ai_structured_output(gw: RunningGateway) -> None:
    app = example("pydantic_ai_app", "pydantic_ai")
    lead = app.main(gw.url)
    assert isinstance(lead, app.Lead)
    rows = rows_for(gw, "growth")
    assert rows and all(r.task == "lead-scoring" and r.status == 200 for r in rows)


def test_instructor_structured_output(gw: RunningGateway) -> None:
    app = example("instructor_app", "instructor")  # see the example's note on its pins
    invoice = app.main(gw.url)
    assert isinstance(invoice, app.Invoice)
    rows = rows_for(gw, "finance")
    assert rows and all(r.task == "invoice-extract" and r.status == 200 for r in rows)


def test_inprocess_sdks_need_no_server(tmp_path: Path) -> None:
    app = example("inprocess_sdks")
    config = config_for(tmp_path)
    assert isinstance(config, GatewayConfig)
    result = app.main(config)
    assert result["gpt"] and result["claude"] and float(result["gpt_cost_usd"]) > 0
    with running_gateway(config) as again:  # the rows are in the configured ledger
        rows = rows_for(again, "platform")
    assert sorted(r.endpoint for r in rows) == ["chat.completions", "messages"]
    assert {r.task for r in rows} == {"inprocess-demo"}
