"""The ``template`` guard: two prompts worded identically except in one place, where a
word that carries meaning was changed, added or removed.

That is what a prompt template filled with another value looks like ("What is the *time*
complexity of binary search?" / "What is the *space* complexity…", "Write a haiku about
*autumn leaves*" / "…about *spring rain*"), and what a qualifier tacked onto the same
question looks like ("How does compound interest work?" / "…work? Explain it for a
10-year-old."). Embeddings put such pairs close together (the rest of the sentence is
identical), and no lexicon can list every slot value. A rewording, by contrast, rarely
keeps every other word in place: when the only change is a function word ("How *do* I"
/ "How *can* I") or the sentence is rebuilt, this guard says nothing.

Measured in ``docs/benchmarks.md`` on the LLM-prompt pairs (developed on their dev part,
reported on the held-aside part) and on QQP.
"""

from __future__ import annotations

import difflib
import re

from .lexicon import words

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
best easiest simplest right proper correct one tips steps guide
""")
_WORD = re.compile(r"\w")


def _is_meaningful(token: str) -> bool:
    if any(c.isdigit() for c in token):
        return True  # a number or a version is always a value
    # Contractions are auxiliaries ("doesn't"/"won't"); negation has its own guard.
    return len(token) >= 3 and token not in FUNCTION_WORDS and "'" not in token


def _normal(tokens: tuple[str, ...]) -> list[str]:
    # Words only, articles and "please" dropped, a plural "s" and British "-ise" spelling
    # ignored: "an item"/"items" and "summarise"/"summarize" agree.
    out = []
    for t in tokens:
        if not _WORD.match(t) or t in _ARTICLES:
            continue
        if len(t) > 3 and t.endswith("s") and not t.endswith("ss") and t not in FUNCTION_WORDS:
            t = t[:-1]
        out.append(_BRITISH.sub("iz", t))
    return out


_ARTICLES = words("a an the please")
_BRITISH = re.compile(r"is(?=e$|ed$|ing$|ation$)")


def one_slot_changed(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    """True when the word sequences differ in exactly one place, and there a meaningful
    word was replaced, or at least two meaningful words were added (a qualifier; one
    added word is more often an implied noun made explicit: "ship orders to Canada")."""
    left, right = _normal(a), _normal(b)
    changes = [op for op in difflib.SequenceMatcher(None, left, right, autojunk=False)
               .get_opcodes() if op[0] != "equal"]
    if len(changes) != 1:
        return False
    kind, i1, i2, j1, j2 = changes[0]
    meaningful = sum(1 for t in (*left[i1:i2], *right[j1:j2]) if _is_meaningful(t))
    return meaningful >= (1 if kind == "replace" else 2)


__all__ = ["FUNCTION_WORDS", "one_slot_changed"]
