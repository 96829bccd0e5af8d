"""Prompt compression on hand-made contexts: what is kept, what is never touched, and
how close the result is to the ratio asked for."""

from __future__ import annotations

import pytest

from compression_fixtures import CASES, PASSAGES, context
from tokenthrift.levers.compression import Compressor
from tokenthrift.levers.compression.backends import answer_type
from tokenthrift.levers.compression.evaluation import RandomBackend, contains_answer
from tokenthrift.levers.compression.text import lossless, segment, split_sentences


@pytest.fixture(scope="module")
def compressor() -> Compressor:
    return Compressor()


@pytest.mark.parametrize(("question", "answer"), CASES)
def test_keeps_the_answer_bearing_sentence_at_a_fifth_of_the_tokens(
    compressor: Compressor, question: str, answer: str
) -> None:
    for order in (None, list(reversed(range(len(PASSAGES))))):
        result = compressor.compress(context(order), question, 0.2)
        assert answer in result.text
        assert result.ratio <= 0.2


def test_random_selection_loses_answers_the_compressor_keeps(compressor: Compressor) -> None:
    # Positive control: the test above can fail; at the same ratio random sentences lose
    # most answers.
    kept = sum(answer in Compressor(RandomBackend(seed)).compress(context(), q, 0.2).text
               for seed, (q, answer) in enumerate(CASES))
    assert kept < len(CASES) / 2


@pytest.mark.parametrize("ratio", [0.2, 0.33, 0.5, 0.75])
def test_achieved_ratio_is_at_most_the_target_and_close_to_it(
    compressor: Compressor, ratio: float
) -> None:
    long_context = context() + "\n\n" + context(list(reversed(range(len(PASSAGES))))).replace(
        "Document", "Passage"
    )
    result = compressor.compress(long_context, "who built the sydney harbour bridge", ratio)
    assert ratio - 0.08 <= result.ratio <= ratio
    assert result.tokens_before == compressor.count(long_context)
    assert result.tokens_after == compressor.count(result.text)


def test_kept_sentences_stay_in_order_under_their_heading(compressor: Compressor) -> None:
    result = compressor.compress(context(), "who built the sydney harbour bridge", 0.3)
    text = result.text
    assert "Document [2](Title: Harbour Bridge)" in text
    positions = [text.find(s) for s in split_sentences(PASSAGES[1][1])[0] if s in text]
    assert positions == sorted(positions)
    # every kept paragraph starts with its document label
    assert all(block.startswith("Document [") for block in text.split("\n\n"))


def test_code_blocks_are_kept_verbatim_even_when_the_budget_is_tiny(
    compressor: Compressor,
) -> None:
    code = "```python\ndef  area(r):\n    return 3.14159  *  r ** 2\n\n\n# trailing   spaces   \n```"
    text = context()[:1500] + "\n\n" + code + "\n\n" + context()[1500:]
    result = compressor.compress(text, "how many moons does saturn have", 0.1)
    assert code in result.text
    assert "146" not in compressor.compress(text, "who built the bridge", 0.05).text


def test_a_ratio_of_one_only_removes_redundant_whitespace(compressor: Compressor) -> None:
    text = "First   paragraph  here.\n\n\n\nSecond paragraph.   Two sentences!  "
    result = compressor.compress(text, "anything", 1.0)
    assert result.text == "First paragraph here.\n\nSecond paragraph. Two sentences!"


def test_lossless_pass_minifies_json_and_drops_repeated_paragraphs() -> None:
    repeated = "This disclaimer is repeated in every retrieved chunk of the manual."
    text = f'{repeated}\n\n{{\n  "id": 7,\n  "tags": ["a", "b"]\n}}\n\nBody.\n\n{repeated}'
    assert lossless(text) == f'{repeated}\n\n{{"id":7,"tags":["a","b"]}}\n\nBody.'
    # short repeated lines are structure, not redundancy
    assert lossless("Thanks!\n\nok\n\nThanks!") == "Thanks!\n\nok\n\nThanks!"


def test_sentences_do_not_split_at_abbreviations_or_initials() -> None:
    units, _ = split_sentences("Dr. J. Smith moved to the U.S. in 1990. He left in 2001.")
    assert units == ["Dr. J. Smith moved to the U.S. in 1990.", "He left in 2001."]


def test_rag_labels_and_headings_are_kept_with_their_block() -> None:
    blocks = segment("# Results\nThe model won.\n\nDocument [3](Title: X) Body text. More.")
    assert [b.head for b in blocks] == ["# Results", "Document [3](Title: X)"]
    assert blocks[1].units == ["Body text.", "More."]


@pytest.mark.parametrize(
    ("question", "kind"),
    [("who wrote hamlet", "person"), ("when was the war", "date"),
     ("how many legs does a spider have", "number"), ("where is lima", "place"),
     ("what is the capital of peru", None)],
)
def test_answer_type_of_factoid_questions(question: str, kind: str | None) -> None:
    assert answer_type(question) == kind


def test_answer_match_is_on_whole_words() -> None:
    assert contains_answer("It was played in 1978.", ["1978"])
    assert not contains_answer("It was played in 1978.", ["7"])
    assert not contains_answer("It was played.", ["ed"])
    assert contains_answer("Patrick  Swayze sings", ["patrick swayze"])
