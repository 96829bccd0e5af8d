"""Word order that carries meaning: direction ("from India to China", "Celsius to
Fahrenheit", "faster than") and roles ("a teacher roasted by a student", "men who
prefer women"). Embeddings average word order away, so swaps score 0.99+.
"""

from __future__ import annotations

import re
from collections import Counter

from . import lexicon
from .names import SENTENCE_END, name_parts

Direction = tuple[frozenset[str], frozenset[str]]
_DIRECTION_WORDS = frozenset({"to", "into", "->", "→", "than"})
_SPAN_STOP = lexicon.words(
    "and or in on at by for with via using the a an my your our of is are was were do does "
    "did can could should would will how what why when where which who it this that"
)
# Between the thing compared and its comparative: "X is (much) more/far polite than Y".
_COMPARATIVE_GAP = lexicon.words(
    "is are was were be been being am seems seem looks look feels feel gets get considered "
    "much more less far way even still a lot really any so"
)
# Between two words whose order does not matter: "men and women" = "women and men".
_SYMMETRIC_GAP = lexicon.words("and or vs vs. versus & / , - the a an")
# Between two names, words that leave their order free: modifiers reordered ("best
# college for MBA in India" = "…in India for MBA") and symmetric relations ("India's
# relationship with Bangladesh"). A verb or a directed word (to, from, than, against)
# between them gives each name a role: "What does X think of Y?" ≠ "What does Y think of X?".
_NAME_GAP = _SYMMETRIC_GAP | lexicon.words(
    "in on at for of by with about within near over under 's ' is are was were be "
    "between relationship relationships relation relations difference differences compare "
    "compared comparison similar similarity similarities same like"
)


def directions(raw: list[str], lower: list[str]) -> tuple[Direction, ...]:
    """(source, destination) pairs: "from X to Y", "to Y from X", "X to/into/than Y"."""
    pairs: list[Direction] = []
    for i, token in enumerate(lower):
        if token == "from":
            to = _next_index(lower, i + 1, ("to", "into"), 5)
            if to is not None:
                pairs.append((_span(lower[i + 1 : to]), _span(_forward(lower, to + 1))))
            elif (back := _prev_index(lower, i - 1, ("to", "into"), 5)) is not None:
                pairs.append((_span(_forward(lower, i + 1)), _span(lower[back + 1 : i])))
        elif token in _DIRECTION_WORDS and 0 < i < len(lower) - 1:
            if "from" in lower[max(0, i - 5) : i]:
                continue  # the from…to pattern above already read it
            source = _neighbour(raw, lower, i, -1)
            # The destination may take a few words: "to US dollars", "to New York City".
            target = _neighbour(raw, lower, i, +1) | _span(_forward(lower, i + 1))
            if source and target:
                pairs.append((source, target))
    return tuple(p for p in pairs if p[0] and p[1])


def _next_index(lower: list[str], start: int, words: tuple[str, ...], limit: int) -> int | None:
    for j in range(start, min(len(lower), start + limit)):
        if lower[j] in words:
            return j
        if not lower[j][0].isalnum():
            return None
    return None


def _prev_index(lower: list[str], start: int, words: tuple[str, ...], limit: int) -> int | None:
    for j in range(start, max(-1, start - limit), -1):
        if lower[j] in words:
            return j
        if not lower[j][0].isalnum():
            return None
    return None


def _forward(lower: list[str], start: int) -> list[str]:
    """Up to three words after ``start``, stopping at punctuation or a function word."""
    out: list[str] = []
    for token in lower[start : start + 4]:
        if not token[0].isalnum() or (token in _SPAN_STOP and out):
            break
        if token not in _SPAN_STOP:
            out.append(token)
        if len(out) == 3:
            break
    return out


def _span(tokens: list[str]) -> frozenset[str]:
    # "BCD-3" and "BCD" name the same end point; so do "india.if" (a typo) and "india".
    parts = (p for t in tokens if t not in _SPAN_STOP for p in re.split(r"[-.]", t))
    return frozenset(p for p in parts if p and p[0].isalnum() and p not in _SPAN_STOP)


def _neighbour(raw: list[str], lower: list[str], i: int, step: int) -> frozenset[str]:
    """The word next to a connective; a run of capitalised words counts as one name."""
    j = i + step
    if 0 <= j < len(lower) and lower[j] in ("the", "a", "an"):
        j += step
    if not 0 <= j < len(lower) or not lower[j][0].isalnum() or lower[j] in _SPAN_STOP:
        return frozenset()
    if lower[i] == "than" and step < 0:
        j -= 1  # "Python faster than Java": the thing compared sits before the adjective,
        # past a degree word or a linking verb ("Java is much more verbose than Python").
        while 0 <= j < len(lower) and lower[j] in _COMPARATIVE_GAP:
            j -= 1
        if 0 <= j < len(lower) and lower[j] in ("the", "a", "an"):
            j -= 1
        if not 0 <= j < len(lower) or lower[j] in _SPAN_STOP:
            return frozenset()
    span = set(_span([lower[j]]))
    # A name run ("New York"), or a name before the word ("US dollars to…").
    while 0 <= j + step < len(raw) and _name_word(raw, j + step) and (
            _name_word(raw, j) or step < 0):
        j += step
        span |= _span([lower[j]])
    return frozenset(span)


def _name_word(raw: list[str], i: int) -> bool:
    """Capitalised mid-sentence: part of a name like "New York"."""
    return (
        raw[i][:1].isupper() and i > 0 and raw[i - 1] not in SENTENCE_END
        and raw[i].lower() not in lexicon.NOT_ENTITIES
    )


def role_words(lower: list[str]) -> tuple[tuple[str, int], ...]:
    """Role nouns ("teacher", "men") with their position, for those that occur once (an
    order is only defined for those). Names are left out: "India's relationship with
    Bangladesh" is the same question both ways round, and paraphrases move names freely."""
    found = [(lexicon.ROLE_NOUNS[t], i) for i, t in enumerate(lower) if t in lexicon.ROLE_NOUNS]
    counts = Counter(word for word, _ in found)
    return tuple((word, i) for word, i in found if counts[word] == 1)


def name_words(raw: list[str]) -> tuple[tuple[str, int], ...]:
    """Capitalised names mid-sentence ("Kobe", "Bryant") with their position, for those
    that occur once; none in Title Case text, where capitals say nothing."""
    alpha = [t for t in raw if t[0].isalpha()]
    if len(alpha) >= 4 and sum(t[0].isupper() for t in alpha) > 0.6 * len(alpha):
        return ()
    found = [
        (name, i) for i, token in enumerate(raw)
        if token[0].isalpha() and _name_word(raw, i) for name in name_parts(token)
    ]
    counts = Counter(name for name, _ in found)
    return tuple((name, i) for name, i in found if counts[name] == 1)


def names_swapped(a_names: tuple[tuple[str, int], ...], a_tokens: tuple[str, ...],
                  b_names: tuple[tuple[str, int], ...], b_tokens: tuple[str, ...]) -> bool:
    """Two names in both texts, in opposite orders, with a verb or directed word between
    them in both ("France … against Ecuador" / "Ecuador … against France")."""
    a_at, b_at = dict(a_names), dict(b_names)
    common = sorted(set(a_at) & set(b_at))
    for n, x in enumerate(common):
        for y in common[n + 1 :]:
            if (a_at[x] < a_at[y]) == (b_at[x] < b_at[y]):
                continue
            if not (_free_order(a_tokens, a_at[x], a_at[y], set(common))
                    or _free_order(b_tokens, b_at[x], b_at[y], set(common))):
                return True
    return False


def _free_order(tokens: tuple[str, ...], i: int, j: int, names: set[str]) -> bool:
    gap = tokens[min(i, j) + 1 : max(i, j)]
    return all(t in _NAME_GAP or t in names or not t[0].isalnum() for t in gap)


def roles_swapped(a_roles: tuple[tuple[str, int], ...], a_tokens: tuple[str, ...],
                  b_roles: tuple[tuple[str, int], ...], b_tokens: tuple[str, ...]) -> bool:
    """Two parties in both texts, in opposite orders, with more than "and"/"or" between."""
    a_at, b_at = dict(a_roles), dict(b_roles)
    common = sorted(set(a_at) & set(b_at))
    names = set(a_at) | set(b_at)
    for n, x in enumerate(common):
        for y in common[n + 1 :]:
            if (a_at[x] < a_at[y]) == (b_at[x] < b_at[y]):
                continue
            if not (_symmetric(a_tokens, a_at[x], a_at[y], names)
                    or _symmetric(b_tokens, b_at[x], b_at[y], names)):
                return True
    return False


def _symmetric(tokens: tuple[str, ...], i: int, j: int, names: set[str]) -> bool:
    gap = tokens[min(i, j) + 1 : max(i, j)]
    return all(t in _SYMMETRIC_GAP or t in names or not t[0].isalnum() for t in gap)
