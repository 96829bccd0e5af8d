"""The review: the second look (pair model + changed part) at a would-be semantic hit.

Runs the real default embedder (the review reads its word-piece vectors). Every refusal is
shown next to a positive control that the same check lets through.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tokenthrift.levers.cache.semantic import Decision, SemanticSettings, decision_for
from tokenthrift.levers.cache.semantic.calibration import default_threshold
from tokenthrift.levers.cache.semantic.embedders import build_embedder
from tokenthrift.levers.cache.semantic.evaluation import decision_scores, evaluate, similarities
from tokenthrift.levers.cache.semantic.guards import DEFAULT_GUARDS
from tokenthrift.levers.cache.semantic.matcher import LocalMatcher
from tokenthrift.levers.cache.semantic.pairs import LabelledPair
from tokenthrift.levers.cache.semantic.review import (
    FEATURES,
    Reviewer,
    ReviewModel,
    changed_parts,
    reviewer_for,
    shipped_model,
)

DATA = Path(__file__).resolve().parents[1] / "src/tokenthrift/levers/cache/semantic/data"
SHIPPED = json.loads((DATA / "defaults.json").read_text())["onnx-minilm"]
INVOICE = ("Invoice INV-20733 issued to Marlow Garden Supplies on 3 March 2025. Subtotal: "
           "$2,410.00. Tax: $192.80. Total due: $2,602.80. Payment terms: net 30.")


@pytest.fixture(scope="module")
def reviewer() -> Reviewer:
    found = reviewer_for(build_embedder("onnx-minilm"))
    assert found is not None
    return found


def sim(reviewer: Reviewer, a: str, b: str) -> float:
    vectors = reviewer.embedder.embed([a, b]).vectors
    return float(vectors[0] @ vectors[1])


def verdict(reviewer: Reviewer, a: str, b: str) -> str | None:
    return reviewer.verdict(a, b, sim(reviewer, a, b))


def test_changed_parts_are_the_words_outside_a_long_shared_run() -> None:
    a = f"Extract the customer name from this invoice: {INVOICE}"
    b = f"Extract the total amount from this invoice: {INVOICE}"
    # Short runs in common stay: only the long one (the attachment) is taken out.
    assert changed_parts(a, b, 8) == ("Extract the customer name", "Extract the total amount")
    # No run of 8 shared words: nothing to compare apart.
    assert changed_parts("How do I reset my password?", "How can I reset my password?", 8) is None
    # One side is the other plus words: no changed part on both sides.
    assert changed_parts(INVOICE, f"{INVOICE} Thanks!", 8) is None


def test_the_same_attachment_with_another_request_is_refused(reviewer: Reviewer) -> None:
    stored = f"Extract the customer name and the issue date from this invoice: {INVOICE}"
    reworded = f"Please pull out the customer name and issue date from the invoice below: {INVOICE}"
    other = f"Extract the invoice number and the amount due from this invoice: {INVOICE}"
    # The guards let both through (same task word, same attachment) and both embed alike.
    assert Decision(0.0).veto(stored, other) is None
    assert sim(reviewer, stored, other) > SHIPPED["threshold"]
    assert verdict(reviewer, stored, reworded) is None  # positive control
    assert verdict(reviewer, stored, other) == "changed_part"


def test_the_pair_model_is_stricter_with_short_questions_than_with_long_prompts(
    reviewer: Reviewer,
) -> None:
    # A reworded question passes…
    assert verdict(reviewer, "How do I reset my password?", "How can I reset my password?") is None
    # …a short question with a word added that narrows it does not, at a similarity the
    # threshold alone would serve.
    a, b = "What is the best protein powder?", "What is the best protein powder for women?"
    assert Decision(0.0).veto(a, b) is None
    assert sim(reviewer, a, b) >= SHIPPED["threshold"]
    assert verdict(reviewer, a, b) == "pair_model"


def test_fillers_do_not_count_as_unmatched_words(reviewer: Reviewer) -> None:
    a = "Do you ship to Canada?"
    # A word that narrows the question is refused (the control: the check can refuse)…
    assert verdict(reviewer, a, "Do you ship to Canada by sea?") == "pair_model"
    # …an added filler is not a word the other text must match.
    assert verdict(reviewer, a, "Do you guys ship to Canada?") is None
    assert verdict(reviewer, "What is the capital of France?",
                   "Hi, what is the capital of France? Thanks!") is None


def test_one_pair_and_a_batch_get_the_same_verdicts(reviewer: Reviewer) -> None:
    pairs = [("How do I reset my password?", "How can I reset my password?"),
             ("What is the best protein powder?", "What is the best protein powder for women?"),
             (f"Extract the customer name from this invoice: {INVOICE}",
              f"Extract the total amount from this invoice: {INVOICE}"),
             ("Same text.", "Same text.")]
    sims = [sim(reviewer, a, b) for a, b in pairs]
    batch = reviewer.verdicts(pairs, sims)
    assert batch == [reviewer.verdict(a, b, s) for (a, b), s in zip(pairs, sims, strict=True)]
    assert batch[0] is None and batch[1] == "pair_model" and batch[3] is None


def test_the_default_decision_reviews_with_the_shipped_model() -> None:
    decision = decision_for(SemanticSettings())
    assert decision.reviewer is not None and SHIPPED["review"] is True
    assert decision.threshold == default_threshold("onnx-minilm", DEFAULT_GUARDS, True)
    assert decision.threshold == SHIPPED["threshold"]
    # Review off: no reviewer, and the threshold chosen without it.
    off = decision_for(SemanticSettings(review=False))
    assert off.reviewer is None
    assert off.threshold == SHIPPED["threshold_without_review"]
    # An embedder nothing ships for is not reviewed.
    assert shipped_model("openai:text-embedding-3-small@http://x") is None


def test_the_model_file_and_this_code_agree_on_the_features() -> None:
    model = shipped_model("onnx-minilm")
    assert model is not None and len(model.weights) == len(FEATURES)
    raw = model.to_json()
    assert ReviewModel.from_json(raw) == model
    with pytest.raises(ValueError, match="features"):
        ReviewModel.from_json({**raw, "features": [*FEATURES[:-1], "something_else"]})


def test_eval_scores_are_the_live_verdicts() -> None:
    embedder = build_embedder("onnx-minilm")
    decision = decision_for(SemanticSettings(), embedder)
    pairs = [LabelledPair("How do I reset my password?", "How can I reset my password?", 1),
             LabelledPair("What is the best protein powder?",
                          "What is the best protein powder for women?", 0),
             LabelledPair(f"Extract the customer name from this invoice: {INVOICE}",
                          f"Extract the total amount from this invoice: {INVOICE}", 0),
             LabelledPair("Do you ship to Canada?", "Do you not ship to Canada?", 0)]
    sims = similarities(embedder, pairs)
    live = [decision.accepts(p.text_a, p.text_b, float(s)) for p, s in zip(pairs, sims, strict=True)]
    assert live == [True, False, False, False]
    report = evaluate(decision, pairs, sims)
    assert report.hits == 1 and report.precision == 1.0 and report.false_hit_rate == 0.0
    scores = decision_scores(decision, pairs, sims)
    assert list(np.isfinite(scores)) == live


def test_the_matcher_reports_the_review_as_the_reason_for_a_miss() -> None:
    embedder = build_embedder("onnx-minilm")
    matcher = LocalMatcher(embedder, decision_for(SemanticSettings(), embedder), data_dir=None)
    matcher.add("p", f"Extract the customer name and the issue date from this invoice: {INVOICE}",
                "e1", None)
    found = matcher.search(
        "p", f"Please pull out the customer name and issue date from the invoice below: {INVOICE}")
    assert found.match is not None and found.match.entry_id == "e1"  # positive control
    missed = matcher.search(
        "p", f"Extract the invoice number and the amount due from this invoice: {INVOICE}")
    assert missed.match is None and missed.rejected_by == "changed_part"
