"""The shipped semantic default: a threshold chosen on the LLM-prompt dev pairs with the
``template`` guard among the defaults (and the review, ``test_semantic_review``), used when
the config sets neither ``threshold`` nor ``target_precision``; an explicit target still
goes through the QQP curve."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tokenthrift.levers.cache.semantic import SemanticSettings, decision_for
from tokenthrift.levers.cache.semantic.calibration import default_threshold
from tokenthrift.levers.cache.semantic.guards import DEFAULT_GUARDS, first_veto
from tokenthrift.levers.cache.semantic.pairs import read_pairs

DATA = Path(__file__).resolve().parents[1] / "benchmarks" / "data"
SHIPPED = json.loads((Path(__file__).resolve().parents[1] / "src/tokenthrift/levers/cache/semantic"
                      / "data" / "defaults.json").read_text())["onnx-minilm"]


def test_the_default_decision_uses_the_shipped_default_threshold() -> None:
    decision = decision_for(SemanticSettings())
    assert decision.threshold == default_threshold("onnx-minilm", DEFAULT_GUARDS, True)
    assert decision.threshold == SHIPPED["threshold"]
    assert "template" in decision.guards
    # An explicit target precision is still read off the QQP curve (a different number).
    assert decision_for(SemanticSettings(target_precision=0.9)).threshold != SHIPPED["threshold"]
    assert decision_for(SemanticSettings(threshold=0.8)).threshold == 0.8


def test_without_a_guard_it_was_chosen_with_the_default_does_not_apply() -> None:
    guards = tuple(g for g in DEFAULT_GUARDS if g != "template")
    assert default_threshold("onnx-minilm", guards, True) is None
    assert default_threshold("onnx-minilm", guards, False) is None
    assert default_threshold("openai:text-embedding-3-small@http://x", DEFAULT_GUARDS) is None
    # Falls back to the target-precision curve, as before.
    assert decision_for(SemanticSettings(guards=guards)).threshold > SHIPPED["threshold"]


@pytest.mark.parametrize(("a", "b"), [
    ("What is the time complexity of binary search?",
     "What is the space complexity of binary search?"),
    ("How does compound interest work?",
     "How does compound interest work? Explain it for a child in two sentences."),
    ("Write a haiku about autumn leaves.", "Write a haiku about spring rain."),
])
def test_the_template_guard_refuses_one_changed_slot(a: str, b: str) -> None:
    assert first_veto(a, a, DEFAULT_GUARDS) is None  # positive control: same text passes
    assert first_veto(a, b, ("template",)) == "template"


@pytest.mark.parametrize(("a", "b"), [
    ("How do I reset my password?", "How can I reset my password?"),
    ("Can I return an item after 30 days?", "Can I return items after 30 days?"),
    ("Summarize this memo.", "Please summarise this memo."),
    ("What is the capital of Australia?", "Which city is Australia's capital?"),
])
def test_the_template_guard_lets_rewordings_through(a: str, b: str) -> None:
    assert first_veto(a, b, ("template",)) is None


def test_the_shipped_pairs_files_are_well_formed_and_disjoint() -> None:
    dev = read_pairs(DATA / "llm_prompt_pairs_dev.jsonl")
    held = read_pairs(DATA / "llm_prompt_pairs_held.jsonl")
    assert len(dev) + len(held) >= 400
    kinds = {p.kind for p in dev} | {p.kind for p in held}
    assert {"paraphrase", "number", "negation", "direction", "entity", "language", "document",
            "question", "slot", "audience", "format"} <= kinds
    # No prompt is on both sides of the split.
    assert not ({p.text_b for p in dev} & {p.text_b for p in held})
    rows = [json.loads(line) for line in (DATA / "llm_prompt_pairs_dev.jsonl").read_text()
            .splitlines()]
    assert all(r["label"] == (1 if r["kind"] == "paraphrase" else 0) for r in rows)


def test_the_fresh_test_pairs_are_well_formed() -> None:
    fresh = read_pairs(DATA / "llm_prompt_pairs_fresh.jsonl")
    assert len(fresh) >= 200
    assert {p.kind for p in fresh} >= {"paraphrase", "number", "negation", "direction", "entity",
                                       "language", "instruction", "document", "question",
                                       "slot", "audience", "format"}
    assert all(p.label == (1 if p.kind == "paraphrase" else 0) for p in fresh)
