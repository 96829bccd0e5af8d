"""Named things in a request: entities (capitalised names, acronyms) and languages.

People type names sloppily ("Hilary"/"Hillary", "India"/"Indians", "U.S."/"USA",
"Myers-Briggs"/"Myers Briggs"), so two names are the same when they share a stem or
differ by one letter in a long word; a *different* name is what the guard looks for.
"""

from __future__ import annotations

import re

from . import lexicon

SENTENCE_END = frozenset(".?!:;\"“(")
# Endings that turn a place into its people, language or adjective, plurals and
# possessives: India/Indian/Indians, Canada/Canadian, Islam/Islamic, Shia/Shias.
_NAME_SUFFIXES = ("ians", "ian", "ans", "ese", "ish", "ism", "ist", "ic", "an", "es", "s", "i", "n", "a")


def entities(raw: list[str]) -> frozenset[str]:
    words = [t for t in raw if t[0].isalpha()]
    capitalised = [t for t in words if t[0].isupper()]
    # Title Case or SHOUTING says nothing about names: trust only acronyms then.
    title_case = len(words) >= 4 and len(capitalised) > 0.6 * len(words)
    found: set[str] = set()
    for i, token in enumerate(raw):
        if not token[0].isupper() or token.lower() in lexicon.NOT_ENTITIES:
            continue
        acronym = len(token) >= 2 and token.replace(".", "").isupper()
        sentence_start = i == 0 or raw[i - 1] in SENTENCE_END
        if acronym or (not title_case and not sentence_start):
            found |= name_parts(token)
    return frozenset(found)


def name_parts(token: str) -> set[str]:
    """Normal forms of one token: lower case, no possessive, acronym dots dropped
    ("U.S." → usa), hyphenated names split ("Myers-Briggs" → myers, briggs)."""
    name = re.sub(r"'s?$", "", token.lower())
    if re.fullmatch(r"(?:[a-z]\.)+[a-z]?\.?", name):
        name = name.replace(".", "")
    parts = [p for p in re.split(r"[-/]", name) if p]
    return {lexicon.ENTITY_ALIASES.get(p, p) for p in parts}


def word_forms(lower: list[str]) -> frozenset[str]:
    """Every word of a text in the forms ``name_parts`` produces, to look names up in."""
    return frozenset(part for token in lower if token[0].isalnum() for part in name_parts(token))


def same_name(a: str, b: str) -> bool:
    if a == b:
        return True
    if _stems(a) & _stems(b):
        return True
    # One typo in a long name ("Kurosowa"/"Kurosawa"); short names differ by one letter
    # too often to allow it ("Iran"/"Iraq").
    return min(len(a), len(b)) >= 6 and _within_one_edit(a, b)


def unmatched(names: frozenset[str], other_names: frozenset[str]) -> set[str]:
    """The names that ``other_names`` has in no form."""
    return {n for n in names if n not in other_names and not any(same_name(n, o) for o in other_names)}


def languages(raw: list[str], lower: list[str]) -> frozenset[str]:
    bare = [re.sub(r"'s?$", "", t) for t in lower]  # "Python's yield" names Python
    found = {lexicon.PROGRAMMING_LANGUAGES[t] for t in bare if t in lexicon.PROGRAMMING_LANGUAGES}
    found |= {lexicon.NATURAL_LANGUAGES[t] for t in bare if t in lexicon.NATURAL_LANGUAGES}
    for i, token in enumerate(raw):
        token = re.sub(r"'s?$", "", token)
        if token in lexicon.CASED_LANGUAGES and i > 0 and raw[i - 1] not in SENTENCE_END:
            found.add(lexicon.CASED_LANGUAGES[token])
    return frozenset(found)


def _stems(word: str) -> set[str]:
    stems = {word}
    for suffix in _NAME_SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            stems.add(word[: -len(suffix)])
    return stems


def _within_one_edit(a: str, b: str) -> bool:
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) > len(b):
        a, b = b, a
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    if len(a) == len(b):
        return a[i + 1 :] == b[i + 1 :]  # one substitution
    return a[i:] == b[i + 1 :]  # one insertion
