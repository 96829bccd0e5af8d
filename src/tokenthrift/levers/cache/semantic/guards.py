"""Guards: deterministic text checks that veto a candidate whose meaning differs in a way
sentence embeddings are known to miss.

Embeddings average over words, so "from India to China" and "from China to India" score
0.99+, "turn on"/"turn off" ≈ 0.98, and a changed number ≈ 0.96: no threshold separates
them from paraphrases. Each guard compares one property of the two texts and returns the
reason it vetoes (or None). Every lexicon here is hand-written general English (and common
technology names), never mined from evaluation data. Each guard is measured in
``docs/benchmarks.md`` (what it blocks on adversarial pairs, what it costs in paraphrase
recall); ``DEFAULT_GUARDS`` keeps the ones that pay for themselves.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from . import lexicon, names
from .direction import names_swapped, roles_swapped
from .template import one_slot_changed
from .textfeatures import TextFeatures, features

Guard = Callable[[TextFeatures, TextFeatures], bool]


def numbers_differ(a: TextFeatures, b: TextFeatures) -> bool:
    if a.numbers and b.numbers:
        if a.numbers != b.numbers:
            return True
        # The same numbers in another order: "a recipe for 8 to serve 4" / "for 4 to serve 8".
        if (len(a.number_order) == len(b.number_order) > 1
                and a.number_order != b.number_order
                and sorted(a.number_order) == sorted(b.number_order)):
            return True
    # A number on one side only: a count asked for ("Suggest 10 names" / "Suggest a name",
    # "the last 3 commits" / "the last commit") changes the answer. A year is context a
    # paraphrase often drops ("(2016)"), and "1" is what "a"/"an" already says.
    elif _counts(a.numbers) or _counts(b.numbers):
        return True
    # Model numbers and versions likewise: "M604n" vs "M604dn", "i5" vs "i7".
    return bool(a.codes) and bool(b.codes) and a.codes != b.codes


def _counts(numbers: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(n for n in numbers if n != "1" and not _YEAR.fullmatch(n))


_YEAR = re.compile(r"1[89]\d\d|20\d\d")


def negation_differs(a: TextFeatures, b: TextFeatures) -> bool:
    if a.negated != b.negated:
        return True
    # An opposite-pair word present on one side only, its opposite on the other only.
    for left, right in lexicon.OPPOSITE_PAIRS:
        a_left, a_right = left in a.lemmas, right in a.lemmas
        b_left, b_right = left in b.lemmas, right in b.lemmas
        if (a_left and not a_right and b_right and not b_left) or (
            a_right and not a_left and b_left and not b_right
        ):
            return True
    return False


def direction_swapped(a: TextFeatures, b: TextFeatures) -> bool:
    """"X to Y" in one text, "Y to X" in the other (travel, conversion, translation…), or
    two parties in swapped roles ("men prefer women" / "women prefer men", "What does X
    think of Y?" / "What does Y think of X?")."""
    for src_a, dst_a in a.directions:
        for src_b, dst_b in b.directions:
            # A word that is a source on one side and a destination on the other, both ways.
            if (src_a & dst_b) - src_b and (dst_a & src_b) - dst_b:
                return True
    return roles_swapped(a.roles, a.tokens, b.roles, b.tokens) or names_swapped(
        a.names, a.tokens, b.names, b.tokens
    )


def entities_differ(a: TextFeatures, b: TextFeatures) -> bool:
    # A substitution (each side names something the other does not mention in any form),
    # not an omission: "capital of France" vs "capital of Germany", but "Excel" vs
    # "MS Excel", "Hilary"/"Hillary" and "India"/"Indians" pass.
    return bool(names.unmatched(a.entities, b.words | b.entities)) and bool(
        names.unmatched(b.entities, a.words | a.entities)
    )


def languages_differ(a: TextFeatures, b: TextFeatures) -> bool:
    # Any difference: "sort a list in Python" is not answered by the Java answer, nor by a
    # language-neutral one.
    return a.languages != b.languages


def question_kind_differs(a: TextFeatures, b: TextFeatures) -> bool:
    # "Why does X happen?" wants a reason, "How does X happen?" a mechanism, "Where…" a
    # place: different answers. Only when both questions name a kind and share none; a
    # "what…" or yes/no question names none, so "what is the best way to…" still matches
    # "how do I…".
    return bool(a.asks) and bool(b.asks) and not a.asks & b.asks


def documents_differ(a: TextFeatures, b: TextFeatures) -> bool:
    # The same instruction on a different attached document (or a different tail past what
    # the embedder reads) must not share an answer; so must not the same instruction on
    # a different short text ("Classify this review: …").
    if a.documents != b.documents:
        return True
    return (a.attachment is not None and b.attachment is not None
            and a.attachment != b.attachment and a.head_words == b.head_words)


def instruction_differs(a: TextFeatures, b: TextFeatures) -> bool:
    # The same attachment, tasks that share nothing: "Summarize this article" / "Translate
    # this article". The attachment dominates both embeddings, so only the words that name
    # the task tell these apart.
    return (a.attachment is not None and a.attachment == b.attachment and bool(a.tasks)
            and bool(b.tasks) and not a.tasks & b.tasks)


def style_differs(a: TextFeatures, b: TextFeatures) -> bool:
    # Another audience ("…to a five-year-old" / as asked, "a retiree" / "I"), or tones
    # that share nothing ("a firm reply" / "a polite reply").
    # An audience word that is the topic on the other side ("discounts for students" /
    # "a student discount") is not another audience.
    other_audience = a.audiences != b.audiences and a.audience_words != b.audience_words
    return other_audience or (bool(a.tones) and bool(b.tones) and not a.tones & b.tones)


def template_slot_differs(a: TextFeatures, b: TextFeatures) -> bool:
    # The same wording with one meaningful word changed, added or removed: a template
    # filled with another value, or a qualifier added ("…explain it to a child").
    return one_slot_changed(a.tokens, b.tokens)


GUARDS: dict[str, Guard] = {
    "numbers": numbers_differ,
    "negation": negation_differs,
    "direction": direction_swapped,
    "languages": languages_differ,
    "entities": entities_differ,
    "documents": documents_differ,
    "question": question_kind_differs,
    "template": template_slot_differs,
    "instruction": instruction_differs,
    "style": style_differs,
}
DEFAULT_GUARDS: tuple[str, ...] = (
    "numbers", "negation", "direction", "languages", "entities", "documents", "question",
    "template", "instruction", "style",
)


def first_veto(query: str, candidate: str, guards: tuple[str, ...]) -> str | None:
    """The name of the first guard that vetoes the pair, or None."""
    if not guards or query == candidate:
        return None
    a, b = features(query), features(candidate)
    for name in guards:
        if GUARDS[name](a, b):
            return name
    return None


__all__ = ["DEFAULT_GUARDS", "GUARDS", "Guard", "first_veto", "lexicon"]
