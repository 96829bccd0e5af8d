"""Guards veto pairs whose meaning differs in ways embeddings miss, and let paraphrases
through. Every case is hand-written here (no evaluation data)."""

from __future__ import annotations

import pytest

from tokenthrift.levers.cache.semantic.guards import DEFAULT_GUARDS, GUARDS, first_veto

VETOED = [
    # numbers
    ("numbers", "How many calories are in 2 eggs?", "How many calories are in 3 eggs?"),
    ("numbers", "Convert 1,000 meters to feet", "Convert 100 meters to feet"),
    ("numbers", "Best laptop under $500", "Best laptop under $1k"),
    ("numbers", "Is the 18-55mm lens good?", "Is the 36-55mm lens good?"),
    ("numbers", "Who won the league in 2016?", "Who won the league in 2017?"),
    ("numbers", "What is two hundred plus five?", "What is 300 plus 5?"),
    # negation and opposites
    ("negation", "Why does my phone charge?", "Why doesn't my phone charge?"),
    ("negation", "Is it safe to eat raw eggs", "Is it not safe to eat raw eggs"),
    ("negation", "How do I turn on dark mode?", "How do I turn off dark mode?"),
    ("negation", "switch the router on", "switch the router off"),
    ("negation", "How to enable two-factor authentication", "How to disable two-factor authentication"),
    ("negation", "How can I increase my metabolism?", "How can I decrease my metabolism?"),
    ("negation", "How do I gain weight fast?", "How do I lose weight fast?"),
    ("negation", "What should I buy now?", "What should I sell now?"),
    # direction
    ("direction", "Cheapest flight from Paris to Rome", "Cheapest flight from Rome to Paris"),
    ("direction", "Convert Celsius to Fahrenheit", "Convert Fahrenheit to Celsius"),
    ("direction", "Drive from New York to Boston", "Drive from Boston to New York"),
    ("direction", "Is Rust faster than Go?", "Is Go faster than Rust?"),
    # programming and natural languages
    ("languages", "How do I reverse a string in Python?", "How do I reverse a string in Java?"),
    ("languages", "Translate 'good morning' into French", "Translate 'good morning' into Spanish"),
    ("languages", "How do I read a file in C?", "How do I read a file in C++?"),
    ("languages", "How do I parse JSON?", "How do I parse JSON in Go?"),
    # named entities
    ("entities", "What is the population of Canada?", "What is the population of Mexico?"),
    ("entities", "Who founded Microsoft?", "Who founded Apple?"),
    # attached documents
    ("documents", "Summarize this:\n```\nThe cat sat on the mat.\n```",
     "Summarize this:\n```\nThe dog slept in the sun.\n```"),
    ("documents", "Fix the bug in <code>return a - b</code>", "Fix the bug in <code>return a * b</code>"),
    ("documents", "Translate the paragraph below.\n\n" + "Alpha beta gamma. " * 30,
     "Translate the paragraph below.\n\n" + "Delta epsilon zeta. " * 30),
]

PASSED = [
    ("How do I learn Python quickly?", "What is the fastest way to learn Python?"),
    ("How many calories are in 2 eggs?", "How many calories do two eggs have?"),
    ("Tips to lose weight", "How can I lose weight?"),
    ("How do I turn off dark mode?", "How can dark mode be switched off?"),
    ("Why doesn't my phone charge?", "Why won't my phone charge?"),
    ("Cheapest flight from Paris to Rome", "What's the cheapest way to fly from Paris to Rome?"),
    ("How do I get from the airport to the hotel?", "How do I get to the hotel from the airport?"),
    ("What is the capital of France?", "What's France's capital city?"),
    ("Does the US need tighter gun control?", "Does America need stricter gun control?"),
    ("Summarize this:\n```\nThe cat sat.\n```", "Please summarise this:\n```\nThe  cat sat.\n```"),
    ("Which one is better, tea or coffee?", "Which is better: tea or coffee?"),
    ("How do I sort a list in Python?", "Sorting a Python list: how?"),
]


@pytest.mark.parametrize(("guard", "query", "candidate"), VETOED)
def test_the_guard_vetoes_a_pair_that_means_something_else(guard: str, query: str, candidate: str) -> None:
    assert first_veto(query, candidate, (guard,)) == guard
    assert first_veto(candidate, query, (guard,)) == guard  # symmetric
    assert first_veto(query, candidate, DEFAULT_GUARDS) is not None


@pytest.mark.parametrize(("query", "candidate"), PASSED)
def test_no_guard_vetoes_a_paraphrase(query: str, candidate: str) -> None:
    assert first_veto(query, candidate, tuple(GUARDS)) is None


def test_identical_texts_and_no_guards_never_veto() -> None:
    assert first_veto("Turn on the light", "Turn on the light", tuple(GUARDS)) is None
    assert first_veto("Turn on the light", "Turn off the light", ()) is None


def test_a_dropped_number_is_not_a_contradiction() -> None:
    # "(2016)" left out is under-specification; only two different numbers conflict.
    assert first_veto("Best phones of 2016?", "What are the best phones?", ("numbers",)) is None
