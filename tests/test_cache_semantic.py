"""The semantic cache through the gateway: a reworded question is answered from the
cache with its similarity, but never across tenants, after a different conversation,
or when a guard sees that the meaning changed (numbers, negation, direction)."""

from __future__ import annotations

import json
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from gateway_harness import RunningGateway, config_for, running_gateway

MASTER_KEY = "mk-semantic-tests-77c2"
# An explicit threshold: the tests must not depend on which calibration ships.
SEMANTIC = {"enabled": True, "threshold": 0.85}


def _config(tmp: Path, **cache: Any) -> Any:
    return config_for(tmp, {"data_dir": str(tmp / "data"), "master_key": MASTER_KEY,
                            "cache": {"semantic": SEMANTIC, **cache}})


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    with running_gateway(_config(tmp_path_factory.mktemp("semantic-gw"))) as running:
        yield running


@pytest.fixture(scope="module")
def unguarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    """The same cache with no guards and no review: what the similarity threshold alone
    would serve."""
    tmp = tmp_path_factory.mktemp("semantic-unguarded")
    config = config_for(tmp, {"data_dir": str(tmp / "data"),
                              "cache": {"semantic": {**SEMANTIC, "guards": [], "review": False}}})
    with running_gateway(config) as running:
        yield running


def ask(gw: RunningGateway, text: str, *, history: list[dict[str, str]] | None = None,
        api_key: str | None = None, headers: dict[str, str] | None = None,
        system: str = "You help customers of a web shop.") -> Any:
    client = (gw.openai() if api_key is None else
              openai.OpenAI(base_url=gw.url + "/v1", api_key=api_key, max_retries=0))
    messages: Any = [{"role": "system", "content": system}, *(history or []),
                {"role": "user", "content": text}]
    # The emulator answers in at most 120 tokens: every answer completes and is stored.
    return client.chat.completions.with_raw_response.create(
        model="gpt-4o", max_tokens=200, messages=messages, extra_headers=headers or {})


def status(raw: Any) -> str:
    return str(raw.headers["x-tokenthrift-cache"])


def system() -> str:
    """A system prompt of its own per test: a partition no other test writes to."""
    return f"You help customers of web shop #{uuid.uuid4().hex[:8]}."


def test_a_reworded_question_is_a_semantic_hit(gw: RunningGateway) -> None:
    sys_prompt = system()
    first = ask(gw, "How do I reset my password?", system=sys_prompt)
    assert status(first) == "miss"
    hit = ask(gw, "How can I reset my password?", system=sys_prompt)
    assert status(hit) == "semantic"
    assert 0.85 <= float(hit.headers["x-tokenthrift-cache-similarity"]) <= 1.0
    assert hit.parse().choices[0].message.content == first.parse().choices[0].message.content
    row = gw.ledger_row(hit.headers["x-tokenthrift-request-id"])
    original = gw.ledger_row(first.headers["x-tokenthrift-request-id"])
    assert row.cache_status == "semantic" and row.cost_usd == 0
    assert row.savings["semantic_cache"] == pytest.approx(original.cost_usd)
    assert float(hit.headers["x-tokenthrift-saved-usd"]) > 0
    # The identical question is still an exact hit (checked first, no embedding).
    assert status(ask(gw, "How do I reset my password?", system=sys_prompt)) == "exact"


def test_no_semantic_hit_for_another_tenant(gw: RunningGateway) -> None:
    sys_prompt = system()
    assert status(ask(gw, "How do I reset my password?", system=sys_prompt)) == "miss"
    # The tenant that stored it is served the reworded question…
    assert status(ask(gw, "How can I reset my password?", system=sys_prompt)) == "semantic"
    # …another tenant asking the same reworded question is not.
    assert status(ask(gw, "How can I reset my password?", system=sys_prompt,
                      api_key="sk-other-tenant")) == "miss"


def test_no_semantic_hit_after_a_different_conversation(gw: RunningGateway) -> None:
    sys_prompt = system()

    def follow_up(product: str, question: str = "How do I return it?") -> Any:
        history = [{"role": "user", "content": f"I bought a {product}."},
                   {"role": "assistant", "content": "Thanks for your order."}]
        return ask(gw, question, history=history, system=sys_prompt)

    assert status(follow_up("laptop")) == "miss"
    # After the same conversation, the reworded follow-up is served…
    assert status(follow_up("laptop", "How can I return it?")) == "semantic"
    # …after another conversation it is not.
    assert status(follow_up("sofa", "How can I return it?")) == "miss"
    assert status(follow_up("laptop")) == "exact"


@pytest.mark.parametrize(("stored", "paraphrase", "asked"), [
    ("How do I turn on two-factor authentication?",
     "How can I turn on two-factor authentication?",
     "How do I turn off two-factor authentication?"),
    ("Can I return an item after 30 days?", "Can I return items after 30 days?",
     "Can I return an item after 60 days?"),
    ("How do I transfer money from my savings account to my checking account?",
     "How can I transfer money from my savings account to my checking account?",
     "How do I transfer money from my checking account to my savings account?"),
    ("Do you ship to Canada?", "Do you guys ship to Canada?", "Do you not ship to Canada?"),
])
def test_guards_refuse_near_duplicates_that_mean_something_else(
    gw: RunningGateway, unguarded: RunningGateway, stored: str, paraphrase: str, asked: str
) -> None:
    sys_prompt = system()
    # Without guards (and review) the threshold alone would serve the stored answer to
    # ``asked``: the miss below is their doing, not a low similarity.
    ask(unguarded, stored, system=sys_prompt)
    assert status(ask(unguarded, asked, system=sys_prompt)) == "semantic"

    ask(gw, stored, system=sys_prompt)
    assert status(ask(gw, paraphrase, system=sys_prompt)) == "semantic"  # same meaning: hit
    assert status(ask(gw, asked, system=sys_prompt)) == "miss"


def test_exact_mode_skips_the_semantic_layer_and_streams_are_served(gw: RunningGateway) -> None:
    sys_prompt = system()
    first = ask(gw, "What payment methods do you accept?", system=sys_prompt)
    reworded = "Which payment methods do you accept?"
    assert status(ask(gw, reworded, system=sys_prompt)) == "semantic"
    assert status(ask(gw, reworded, system=sys_prompt,
                      headers={"x-tokenthrift-cache": "exact"})) == "miss"
    stream = gw.openai().chat.completions.with_raw_response.create(
        model="gpt-4o", max_tokens=200, stream=True, messages=[
            {"role": "system", "content": sys_prompt},
            {"role": "user", "content": "Which payment methods are accepted?"}])
    assert stream.headers["x-tokenthrift-cache"] == "semantic"
    assert "x-tokenthrift-cache-similarity" in stream.headers
    text = "".join(c.choices[0].delta.content or "" for c in stream.parse() if c.choices)
    assert text == first.parse().choices[0].message.content


def test_clearing_payloads_invalidates_semantic_entries(gw: RunningGateway) -> None:
    sys_prompt = system()
    ask(gw, "Where is my parcel?", system=sys_prompt)
    assert status(ask(gw, "Where's my parcel?", system=sys_prompt)) == "semantic"
    request = urllib.request.Request(f"{gw.url}/admin/cache?model=gpt-4o", method="DELETE",
                                     headers={"authorization": f"Bearer {MASTER_KEY}"})
    with urllib.request.urlopen(request) as response:
        assert json.loads(response.read())["removed"] >= 1
    assert status(ask(gw, "Where's my parcel?", system=sys_prompt)) == "miss"


def test_semantic_entries_survive_a_restart(tmp_path: Path) -> None:
    config = _config(tmp_path, backend="sqlite")
    with running_gateway(config) as gw:
        assert status(ask(gw, "How long does delivery take?")) == "miss"
    assert (tmp_path / "data" / "semantic").exists()
    with running_gateway(config) as gw:
        assert status(ask(gw, "How long will delivery take?")) == "semantic"


def test_each_layer_keeps_its_own_scope(tmp_path: Path) -> None:
    # Identical requests are shared by everyone; reworded ones only within a key.
    config = _config(tmp_path, exact={"scope": "global"})
    with running_gateway(config) as gw:
        assert status(ask(gw, "Do you offer gift wrapping?")) == "miss"
        assert status(ask(gw, "Do you offer gift wrapping?", api_key="sk-b")) == "exact"
        assert status(ask(gw, "Do you provide gift wrapping?", api_key="sk-b")) == "miss"
        assert status(ask(gw, "Can you offer gift wrapping?")) == "semantic"


def test_an_api_embedders_cost_is_charged_against_the_saving(tmp_path: Path) -> None:
    from decimal import Decimal

    from tokenthrift.emulator import create_app
    from tokenthrift.server.runner import ServerThread

    # The emulator's /v1/embeddings stands in for a paid embedding API: vectors from word
    # overlap, usage in tokens; priced here at $50 per million tokens.
    with ServerThread(create_app()) as embedding_api:
        semantic = {"enabled": True, "threshold": 0.8, "guards": [],
                    "embedder": f"openai:text-embedding-3-small@{embedding_api.url}/v1",
                    "embedder_api_key": "emu-embedder-key", "embedder_price_per_mtok": 50}
        config = config_for(tmp_path, {"data_dir": str(tmp_path / "data"),
                                       "cache": {"semantic": semantic}})
        with running_gateway(config) as gw:
            first = ask(gw, "How do I reset the password of my account?")
            hit = ask(gw, "How do I reset the password of my account please?")
            assert status(hit) == "semantic"
            row = gw.ledger_row(hit.headers["x-tokenthrift-request-id"])
            original = gw.ledger_row(first.headers["x-tokenthrift-request-id"])
    # The miss paid for embedding its question at store time: a gateway cost in its own
    # row, charged against the semantic cache (a small negative saving).
    stored = original.gateway_cost_usd
    assert stored > 0 and original.savings == {"semantic_cache": -stored}
    assert original.cost_usd - stored == original.baseline_cost_usd  # the upstream call
    # The hit paid for its lookup's embedding and nothing else; its baseline is the
    # request sent upstream again (no prompt caching at this length: the same cost).
    embedding = row.cost_usd
    assert embedding > 0 and row.gateway_cost_usd == embedding
    assert row.baseline_cost_usd == original.baseline_cost_usd
    assert row.savings == {"semantic_cache": row.baseline_cost_usd - embedding}
    assert Decimal(hit.headers["x-tokenthrift-cost-usd"]) == embedding
