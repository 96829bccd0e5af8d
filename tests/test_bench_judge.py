"""Judging answers under each kind of answer key, and which lever gets the blame."""

from __future__ import annotations

import pytest

from tokenthrift.bench.judge import Served, blame, correct
from tokenthrift.bench.trace import TraceRequest, parse_key


def request(rid: str, key: object, model: str = "gpt-4o") -> TraceRequest:
    return TraceRequest(id=rid, at_s=0.0, wire="openai", model=model,
                        messages=[{"role": "user", "content": "q"}], keys=parse_key(key))


LABELS = {"kind": "labels", "labels": {"gpt-4o": True, "gpt-4o-mini": False}}


def test_labels_right_iff_the_generating_model_is_labelled_true() -> None:
    r = request("r1", LABELS)
    assert correct(r, Served(ok=True, tag="t", model="gpt-4o"))
    assert not correct(r, Served(ok=True, tag="t", model="gpt-4o-mini"))
    assert not correct(r, Served(ok=True, tag="t", model="claude-haiku-4-5"))  # unlabelled


def test_class_fresh_answer_is_right_reused_answer_needs_the_same_class() -> None:
    mine = request("r2", {"kind": "class", "class": "c1"})
    same = request("r1", {"kind": "class", "class": "c1"})
    other = request("r0", {"kind": "class", "class": "c9"})
    assert correct(mine, Served(ok=True, tag="t", model="gpt-4o"))  # fresh
    assert correct(mine, Served(ok=True, tag="t", cache_status="semantic", owner=same))
    assert not correct(mine, Served(ok=True, tag="t", cache_status="semantic", owner=other))
    assert not correct(mine, Served(ok=True, tag="t", cache_status="exact", owner=None))


def test_answers_right_iff_a_string_reached_the_upstream() -> None:
    r = request("r1", {"kind": "answers", "answers": ["1969", "July 1969"]})
    assert correct(r, Served(ok=True, tag="t", prompt="Apollo 11 landed in July 1969."))
    assert not correct(r, Served(ok=True, tag="t", prompt="Apollo 11 landed on the Moon."))


def test_a_list_of_keys_needs_all_of_them() -> None:
    r = request("r1", [LABELS, {"kind": "answers", "answers": ["1969"]}])
    assert correct(r, Served(ok=True, tag="t", model="gpt-4o", prompt="in 1969"))
    assert not correct(r, Served(ok=True, tag="t", model="gpt-4o-mini", prompt="in 1969"))
    assert not correct(r, Served(ok=True, tag="t", model="gpt-4o", prompt="in the sixties"))


def test_a_failed_request_is_wrong_whatever_the_key() -> None:
    for key in (LABELS, {"kind": "class", "class": "c"}, {"kind": "answers", "answers": ["x"]}):
        assert not correct(request("r", key), Served(ok=False))


def test_blame_names_the_lever_whose_action_made_the_answer_wrong() -> None:
    base = Served(ok=True, tag="a", model="gpt-4o", prompt="it was 1969")
    labels = request("r1", LABELS)
    assert blame(labels, Served(ok=True, tag="b", model="gpt-4o-mini"), base) == "routing"
    # A fallback after upstream errors is no lever's doing.
    fell_back = Served(ok=True, tag="b", model="gpt-4o-mini", fallback=True)
    assert blame(labels, fell_back, base) == "unattributed"
    cls = request("r2", {"kind": "class", "class": "c1"})
    other = request("r0", {"kind": "class", "class": "c2"})
    hit = Served(ok=True, tag="z", cache_status="semantic", owner=other)
    assert blame(cls, hit, base) == "semantic_cache"
    exact = Served(ok=True, tag="z", cache_status="exact", owner=other)
    assert blame(cls, exact, base) == "exact_cache"
    answers = request("r3", {"kind": "answers", "answers": ["1969"]})
    squeezed = Served(ok=True, tag="c", model="gpt-4o", prompt="it was",
                      levers=frozenset({"compression"}))
    assert blame(answers, squeezed, base) == "compression"
    assert blame(answers, Served(ok=False), base) == "unattributed"


@pytest.mark.parametrize("raw", [{"kind": "labels", "labels": {"m": "yes"}},
                                 {"kind": "class", "class": ""},
                                 {"kind": "answers", "answers": []},
                                 {"kind": "vibes"}, []])
def test_a_malformed_key_is_refused_with_its_path(raw: object) -> None:
    from tokenthrift.bench.trace import TraceError

    with pytest.raises(TraceError, match=r"key"):
        parse_key(raw)
