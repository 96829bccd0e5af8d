"""What the guards compare, extracted once per text (and memoised: stored texts recur)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache

from . import lexicon
from .direction import Direction, directions, name_words, role_words
from .instruction import audiences, split_instruction, tasks
from .names import entities, languages, word_forms

# Words keep inner apostrophes/dots/pluses/hashes so "don't", "node.js", "c++", "c#" survive.
_TOKEN = re.compile(r"[A-Za-z0-9][\w'.+#-]*[\w+#]|[A-Za-z0-9]|[^\w\s]")
# A token mixing letters and digits is a model or version ("m604dn", "i7", "ps4"), unless
# the letters are a unit or an ordinal ("140mm", "21st", "1990s", "10k", "4gb").
_CODE = re.compile(r"^(?=.*\d)(?=.*[a-z])[a-z0-9][a-z0-9.+-]*$")
_MEASURE = re.compile(
    r"^[\d.,]+(st|nd|rd|th|s|k|m|bn|mm|cm|km|m|kg|g|mg|lb|lbs|gb|mb|tb|kb|hz|ghz|mhz|px|p|am|pm|"
    r"x|h|hr|hrs|min|ms|yr|yrs|v|w|kw|mah|l|ml)?$"
)
# A comma groups thousands only before exactly three digits: "1,000" is one number,
# "[6,12]" two. A k/m/bn suffix scales ("10k"); ordinal suffixes are dropped ("21st").
_DIGITS = re.compile(
    r"(?<![\d.])(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)(%|k\b|m\b|bn\b)?", re.IGNORECASE
)
_BLOCKS = (
    re.compile(r"```.*?```", re.DOTALL),
    re.compile(r"<(\w[\w-]*)[^>]*>.*?</\1>", re.DOTALL),
    re.compile(r'""".*?"""|\'\'\'.*?\'\'\'', re.DOTALL),
)
# Past this many characters a paragraph is an attachment rather than part of the question,
# and past it the embedder (256 word pieces ≈ 1,000 characters) stops reading anyway.
_ATTACHMENT_CHARS = 300
_EMBEDDED_CHARS = 1000
@dataclass(frozen=True, slots=True)
class TextFeatures:
    tokens: tuple[str, ...]  # lower-cased, in order
    words: frozenset[str]  # every word, in the normal forms names are compared in
    lemmas: frozenset[str]  # opposite-pair base forms and verb_particle phrases present
    negated: bool  # an odd number of negators
    numbers: tuple[str, ...]  # sorted, distinct
    number_order: tuple[str, ...]  # the digits as they appear: "for 8 … serve 4"
    codes: frozenset[str]  # model numbers and versions: "m604dn", "i7", "ps4"
    directions: tuple[Direction, ...]  # (source words, destination words)
    roles: tuple[tuple[str, int], ...]  # parties (role nouns) and their position
    names: tuple[tuple[str, int], ...]  # capitalised names and their position
    entities: frozenset[str]
    languages: frozenset[str]
    documents: tuple[str, ...]  # sorted hashes of attached documents
    asks: frozenset[str]  # what its questions ask for: "reason", "method", "place"…
    tasks: frozenset[str]  # what its first paragraph asks done: "summary", "translation"…
    attachment: str | None  # hash of what the instruction is about (``split_instruction``)
    head_words: tuple[str, ...]  # the instruction's words, when there is an attachment
    audiences: frozenset[str]  # who the answer is for, named as such: "child", "expert"…
    audience_words: frozenset[str]  # audience words anywhere, as a topic too ("student discount")
    tones: frozenset[str]  # in what tone: "polite", "firm"…


def tokenize(text: str) -> list[str]:
    return _TOKEN.findall(text.replace("\u2019", "'"))  # typographic apostrophe


@lru_cache(maxsize=8192)
def features(text: str) -> TextFeatures:
    question, documents = split_documents(text)
    head, rest = split_instruction(text)
    head_lower = [t.lower() for t in tokenize(head)]
    raw = tokenize(question)
    lower = [t.lower() for t in raw]
    names = entities(raw)
    return TextFeatures(
        tokens=tuple(lower),
        words=word_forms(lower),
        lemmas=_lemmas(lower),
        negated=_negation_count(lower) % 2 == 1,
        numbers=_numbers(question, lower),
        number_order=tuple(_parse_numeral(m.group(1), m.group(2) or "")
                           for m in _DIGITS.finditer(question)),
        codes=frozenset(t for t in lower if _CODE.match(t) and not _MEASURE.match(t)),
        directions=directions(raw, lower),
        roles=role_words(lower),
        names=name_words(raw),
        entities=names,
        languages=languages(raw, lower),
        documents=documents,
        asks=_asks(lower),
        tasks=tasks(head_lower),
        attachment=_fingerprint(rest) if rest.strip() else None,
        head_words=tuple(t for t in head_lower if t[0].isalnum()) if rest.strip() else (),
        audiences=audiences(lower),
        audience_words=frozenset(lexicon.AUDIENCE_WORDS[t] for t in lower
                                 if t in lexicon.AUDIENCE_WORDS),
        tones=frozenset(lexicon.TONE_WORDS[t] for t in lower if t in lexicon.TONE_WORDS),
    )


def split_documents(text: str) -> tuple[str, tuple[str, ...]]:
    """The question part of ``text`` and the hashes of what is attached to it."""
    found: list[str] = []
    rest = text
    for pattern in _BLOCKS:
        found += pattern.findall(rest) if not pattern.groups else [m.group(0) for m in pattern.finditer(rest)]
        rest = pattern.sub(" ", rest)
    paragraphs = [p for p in re.split(r"\n\s*\n", rest) if p.strip()]
    if len(paragraphs) > 1:
        long = [p for p in paragraphs if len(p) >= _ATTACHMENT_CHARS]
        if len(long) < len(paragraphs):  # keep at least one paragraph as "the question"
            found += long
            rest = "\n\n".join(p for p in paragraphs if len(p) < _ATTACHMENT_CHARS)
    if len(rest) > _EMBEDDED_CHARS:
        found.append(rest[_EMBEDDED_CHARS:])
        rest = rest[:_EMBEDDED_CHARS]
    hashes = sorted(_fingerprint(doc) for doc in found if doc.strip())
    return rest, tuple(hashes)


def _fingerprint(document: str) -> str:
    # Whitespace and case do not make a different document.
    normal = " ".join(document.lower().split())
    return hashlib.blake2b(normal.encode(), digest_size=8).hexdigest()


def _negation_count(lower: list[str]) -> int:
    count = 0
    for i, token in enumerate(lower):
        bare = token.replace("'", "")
        if not (bare in lexicon.NEGATORS or token.endswith("n't")):
            continue
        before = lower[i - 1] if i else ""
        after = lower[i + 1] if i + 1 < len(lower) else ""
        # "…or not?", "why not", "if not", "not only": alternatives, not a negated request.
        if token == "not" and (before in ("or", "why", "if") or after == "only"):
            continue
        count += 1
    return count


def _asks(lower: list[str]) -> frozenset[str]:
    """The kinds of answer the question words opening each clause ask for ("why" → a
    reason, "how do…" → a method); "Why and how…" asks for both."""
    kinds: set[str] = set()
    opening = True
    for i, token in enumerate(lower):
        if opening and token[0].isalnum() and token not in lexicon.CLAUSE_OPENERS:
            opening = False
            j = _past_lead_in(lower, i)
            while j < len(lower) and lower[j] in lexicon.QUESTION_WORDS:
                after = lower[j + 1] if j + 1 < len(lower) else ""
                if lower[j] == "what":
                    kind = _what_kind(lower, j)
                    if kind is not None:
                        kinds.add(kind)
                elif lower[j] != "how":
                    kinds.add(lexicon.QUESTION_KINDS[lower[j]])
                elif after == "come":  # "how come…" = "why…"
                    kinds.add("reason")
                elif after in lexicon.METHOD_VERBS or after in ("and", "or"):
                    kinds.add("method")
                elif after in lexicon.AMOUNT_WORDS:
                    kinds.add("amount")
                # "why and how…", "where or when…": every question word of the run counts
                if after in ("and", "or") and j + 2 < len(lower) and lower[j + 2] in lexicon.QUESTION_WORDS:
                    j += 2
                else:
                    break
        if token in (".", "?", "!", ",", ":", ";"):
            opening = True
    return frozenset(kinds)


def _what_kind(lower: list[str], j: int) -> str | None:
    """What a "what" question asks for, when its verb or noun says: "What happened…"
    (events), "What caused…" (a reason), "What were the long-term consequences…"
    (effects); None for the rest ("what is the best way…" can ask for anything)."""
    after = lower[j + 1] if j + 1 < len(lower) else ""
    if after in lexicon.WHAT_KINDS:
        return lexicon.WHAT_KINDS[after]
    if after not in ("is", "are", "was", "were", "'s"):
        return None
    for token in lower[j + 2 : j + 6]:  # "what are the (main / long-term) causes of…"
        if token in lexicon.ANSWER_NOUNS:
            return lexicon.ANSWER_NOUNS[token]
        if token in ("of", "for", "in", "on", "?"):
            break
    return None


def _past_lead_in(lower: list[str], i: int) -> int:
    """Where the question starts in a request that embeds one: "Explain why…", "Can you
    tell me where…", "I wonder when…" ask what "why/where/when…" asks."""
    j = i
    while j < len(lower) and lower[j] in lexicon.LEAD_IN_WORDS:
        j += 1
    if j < len(lower) and lower[j] in lexicon.QUESTION_WORDS and any(
            t in lexicon.LEAD_IN_VERBS for t in lower[i:j]):
        return j
    return i


def _lemmas(lower: list[str]) -> frozenset[str]:
    table = _lemma_table()
    found = {table[t] for t in lower if t in table}
    for i, token in enumerate(lower):
        if token in lexicon.PARTICLES:
            # "turn off the wifi" and "turn the wifi off": the verb within three words before.
            for verb in lower[max(0, i - 3) : i]:
                base = _lemma_table().get(verb, verb).rstrip("s")
                for candidate in (verb, base, verb.removesuffix("ed"), verb.removesuffix("ing")):
                    if candidate in lexicon.PHRASAL_VERBS:
                        found.add(f"{candidate}_{token}")
    return frozenset(found)


@lru_cache(maxsize=1)
def _lemma_table() -> dict[str, str]:
    return lexicon._lemma_table()


def _numbers(question: str, lower: list[str]) -> tuple[str, ...]:
    """Every number stated, as a sorted multiset of normal forms ("1,000" = "1000" = "1k";
    "two hundred" = "200"), digits read even inside words like "18-140mm" or "oxygen-18"."""
    values = [_parse_numeral(m.group(1), m.group(2) or "") for m in _DIGITS.finditer(question)]
    words: list[str] = []
    parts = [part for token in lower for part in token.split("-")]  # "three-bullet"
    for token in [*parts, ""]:
        if token in lexicon.NUMBER_WORDS or token in lexicon.SCALE_WORDS or (
            token in ("one", "and") and words
        ):
            words.append(token)
            continue
        if words:
            value = _compose(words)
            if value is not None:
                values.append(_normal(Decimal(str(value))))
            words = []
    return tuple(sorted(set(values)))


def _compose(words: list[str]) -> float | None:
    """"two hundred and five" → 205; "one"/"and" alone → None."""
    while words and words[-1] == "and":
        words = words[:-1]
    if not words or words == ["one"]:
        return None
    total, current = 0.0, 0.0
    for word in words:
        if word == "and":
            continue
        scale = lexicon.NUMBER_SCALES.get(word)
        if scale is not None and word.isalpha() and len(word) > 2:
            current = (current or 1) * scale
            if scale >= 1000:
                total, current = total + current, 0.0
        else:
            current += 1 if word == "one" else lexicon.NUMBER_WORDS[word]
    return total + current


def _parse_numeral(digits: str, suffix: str) -> str:
    suffix = suffix.lower()
    try:
        value = Decimal(digits.replace(",", ""))
    except InvalidOperation:
        return digits
    value *= lexicon.NUMBER_SCALES.get(suffix, 1)
    return _normal(value) + ("%" if suffix == "%" else "")


def _normal(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text


