"""What a request asks to be done, and for whom: the instruction and what it is about,
the tasks it names, the audience it names. The ``instruction``, ``documents`` and ``style``
guards compare these (``guards.py``)."""

from __future__ import annotations

from . import lexicon


def split_instruction(text: str) -> tuple[str, str]:
    """An instruction and the text it is about: the first paragraph and the rest; else the
    first line and the rest; else, past a colon, a text of ``_ATTACHED_AFTER_COLON``
    characters or more ("Classify this review: …"). The whole text and "" when nothing
    is attached."""
    text = text.strip()
    for separator in ("\n\n", "\n"):
        head, found, rest = text.partition(separator)
        if found and rest.strip():
            return head, rest
    head, found, rest = text.partition(": ")
    if found and len(rest) >= _ATTACHED_AFTER_COLON:
        return head, rest
    return text, ""


_ATTACHED_AFTER_COLON = 80


def tasks(lower: list[str]) -> frozenset[str]:
    """The tasks an instruction names, by word or two-word phrase, in any inflection."""
    found: set[str] = set()
    for i, token in enumerate(lower):
        after = lower[i + 1] if i + 1 < len(lower) else ""
        for key in (f"{token}_{after}", token):
            task = lexicon.TASK_WORDS.get(key)
            if task is not None:
                found.add(task)
    return frozenset(found)


def audiences(lower: list[str]) -> frozenset[str]:
    """Who the answer is for, named as such: "…to a five-year-old", "for beginners", "as
    an expert", "I'm a retiree", "Should a retiree…". An audience word elsewhere is a topic
    ("How do I become a professional photographer?")."""
    found: set[str] = set()
    for i, token in enumerate(lower):
        group = lexicon.AUDIENCE_WORDS.get(token)
        if group is None:
            continue
        before = lower[max(0, i - 4) : i]
        if any(t in lexicon.AUDIENCE_MARKERS for t in before):
            found.add(group)
    return frozenset(found)
