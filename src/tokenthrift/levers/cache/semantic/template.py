"""The ``template`` guard: two prompts worded identically except in one place, where a
word that carries meaning was changed, added or removed.

That is what a prompt template filled with another value looks like ("What is the *time*
complexity of binary search?" / "What is the *space* complexity…", "Write a haiku about
*autumn leaves*" / "…about *spring rain*"), and what a qualifier tacked onto the same
question looks like ("How does compound interest work?" / "…work? Explain it for a
10-year-old."). Embeddings put such pairs close together (the rest of the sentence is
identical), and no lexicon can list every slot value. A rewording, by contrast, rarely
keeps every other word in place: when the only change is a function word ("How *do* I"
/ "How *can* I"), a common synonym ("handle"/"deal with") or the sentence is rebuilt,
this guard says nothing. A synonym no list names ("prepare"/"train") looks exactly like a
new value, so it is vetoed: that is this guard's cost in recall.

Measured in ``docs/benchmarks.md`` on the LLM-prompt pairs (developed on their dev and
held parts, reported on the fresh set), QQP and the adversarial set.
"""

from __future__ import annotations

import difflib
import re

from .lexicon import NUMBER_WORDS, SYNONYMS, words

# Words whose change alone does not change what is asked: articles, pronouns, auxiliaries,
# question words, politeness and request verbs. Prepositions of time and direction
# ("after", "before", "from", "into") are deliberately not here.
FUNCTION_WORDS = words("""
a an the of in on at to for by with about and or but so than then
is are was were be been being am do does did doing have has had can could would should will
shall may might must i me my mine we our us you your yours he she it its they them their
this that these those there here what what's whats which who whom whose how how's when where
why whether please just also any some very really quite kindly
tell explain give show write make get need want way ways know let like
help use using okay ok hi hello hey thanks thank kind sure possible
advance regards cheers appreciate appreciated
best easiest simplest right proper correct one tips steps guide
something anything thing things stuff someone somebody anyone
actually currently still even guys basically exactly anyway anyways
much many main common typical usual general
""")
_WORD = re.compile(r"\w")


def _is_meaningful(token: str) -> bool:
    if any(c.isdigit() for c in token):
        return True  # a number or a version is always a value
    # Contractions are auxiliaries ("doesn't"/"won't"); negation has its own guard.
    return len(token) >= 3 and token not in FUNCTION_WORDS and "'" not in token


def _normal(tokens: tuple[str, ...]) -> list[str]:
    # Words only, articles and "please" dropped, a plural "s", "-ing"/"-ed", British
    # "-ise" spelling and common synonyms ignored: "an item"/"items", "summarise"/
    # "summarize", "handle"/"deal with" agree. A sentence end is kept as one marker, so
    # the words on either side of it are never read as one phrase.
    out: list[str] = []
    for t in tokens:
        if t in _SENTENCE_ENDS:
            if out and out[-1] != _END:
                out.append(_END)
            continue
        if not _WORD.match(t) or t in _ARTICLES:
            continue
        if len(t) > 3 and t.endswith("s") and not t.endswith("ss") and t not in FUNCTION_WORDS:
            t = t[:-1]
        t = _BRITISH.sub("iz", _INFLECTION.sub("", t))  # "reading"/"read", "summarise"
        if t not in FUNCTION_WORDS:
            t = SYNONYMS.get(t) or SYNONYMS.get(t + "e") or t  # "handle"/"deal with"
        out.append(t)
    if out and out[-1] != _END:
        out.append(_END)  # the last sentence ends with the text, punctuated or not
    return out


_ARTICLES = words("a an the please")
_INFLECTION = re.compile(r"(?<=\w{3})(?:ing|ed)$")
_BRITISH = re.compile(r"is(?=e$|ed$|ing$|ation$)")
_SENTENCE_ENDS = frozenset(".?!")
_END = "<end>"
# A replaced value is a word or two ("time"/"space", "autumn leaves"/"spring rain"); a
# longer rewrite of one place is a rewording ("is the author of"/"wrote the novel").
_SLOT_WORDS = 2


def _is_change(old: list[str], new: list[str]) -> bool:
    # One preposition for another ("duplicates in"/"duplicates from") is wording; a
    # swapped direction is the ``direction`` guard's to judge. Any other change counts,
    # function words included: a template filled with another value keeps every other
    # word, so "How *do* I" / "How *can* I" plus a changed word is a rewording (measured
    # both ways on the pairs: this way lets fewer wrong hits in).
    tokens = [t for t in (*old, *new) if t != _END and not _is_number(t)]
    return bool(tokens) and not all(t in _PREPOSITIONS for t in tokens)


def _is_number(token: str) -> bool:
    # Numbers are the ``numbers`` guard's to compare ("2 eggs" / "two eggs").
    return token.replace(".", "").isdigit() or token in NUMBER_WORDS


def _is_value(token: str) -> bool:
    return _is_meaningful(token) and token not in _PREPOSITIONS and token not in _POINTERS


# Words that point at the attached text: "this email", "the email below", "the following
# email", "the attached email" are one email.
_POINTERS = words("below above following attached given enclosed provided")
_PREPOSITIONS = words("in on at to for by with about of from into onto")


def one_slot_changed(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    """True when the word sequences differ in one place (one preposition for another and
    numbers, which the ``numbers`` guard compares, are not differences), the rest of the
    wording is shared, and there:

    * a value was replaced: a word or two that carry meaning on each side;
    * or a qualifier was added (or dropped): two or more meaningful words, or a whole
      sentence with one ("…work? Explain it to a child."). One added word is as often an
      implied noun made explicit ("Do you ship *orders* to Canada?") as a qualifier.
    """
    left, right = _normal(a), _normal(b)
    opcodes = difflib.SequenceMatcher(None, left, right, autojunk=False).get_opcodes()
    shared = sum(1 for op in opcodes if op[0] == "equal" for t in left[op[1]:op[2]]
                 if _is_meaningful(t))
    changes = [(left[i1:i2], right[j1:j2]) for kind, i1, i2, j1, j2 in opcodes
               if kind != "equal" and _is_change(left[i1:i2], right[j1:j2])]
    if len(changes) != 1 or shared < 2:
        return False
    old, new = changes[0]
    if any(t != _END for t in old) and any(t != _END for t in new):  # a replacement
        # A value for a value: "time"/"space", "autumn leaves"/"spring rain", "the board"/
        # "the warehouse staff". A longer rewrite of one place is rewording.
        old_values = [t for t in old if _is_value(t)]
        new_values = [t for t in new if _is_value(t)]
        return 0 < len(old_values) <= _SLOT_WORDS and 0 < len(new_values) <= _SLOT_WORDS
    added = [*old, *new]  # an added qualifier; one side holds at most a sentence end
    meaningful = sum(1 for t in added if _is_meaningful(t))
    return meaningful >= 2 or (meaningful >= 1 and _END in added)


def content_words(tokens: tuple[str, ...]) -> list[str]:
    """The words that carry meaning, in the normal form this guard compares them in
    (plurals, "-ing"/"-ed", British spelling and common synonyms folded)."""
    return [t for t in _normal(tokens) if t != _END and _is_meaningful(t)]


__all__ = ["FUNCTION_WORDS", "content_words", "one_slot_changed"]
