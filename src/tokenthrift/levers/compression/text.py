"""Text structure for compression: lossless clean-up, then blocks and sentences.

A text is cut into *blocks* separated by blank lines. A block is either ``fixed`` (a
fenced code block, a JSON document, anything the caller marks as untouchable), kept
verbatim, or ``prose``: an optional *head* (a heading or a ``Document [3](Title: …)``
label, kept whenever any of the block is kept) and *units*, its sentences or lines,
which the selector keeps or drops one by one. Rendering every unit of every block
gives back the lossless text exactly, so a ratio of 1.0 changes nothing but whitespace.

The lossless pass (whitespace runs, blank-line runs, repeated paragraphs, JSON
minification) never touches fenced code: indentation there can be meaning.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

BlockKind = Literal["prose", "fixed"]

# A fenced code block (``` or ~~~), up to its closing fence or the end of the text.
_FENCE = re.compile(r"(?ms)^[ \t]*(`{3,}|~{3,})[^\n]*\n.*?(?:^[ \t]*\1[ \t]*$|\Z)")
_BLANK_LINES = re.compile(r"\n[ \t]*\n\s*")
_INNER_SPACES = re.compile(r"(?<=\S)[ \t]{2,}")
# A block label kept with the block: markdown headings, "Document [3](Title: …)",
# "Passage 2:", "[1] Title:" as RAG templates write them.
_HEAD = re.compile(
    r"^(?:#{1,6}[ \t][^\n]*"
    r"|(?:Document|Doc|Passage|Source|Context|Chunk|Result)\s*\[?\s*\d+\s*\]?"
    r"(?:\s*\((?:[^()\n]|\([^()\n]*\))*\))?\s*:?"
    r"|\[\d+\](?:\s*Title:[^\n]*)?"
    r"|Title:[^\n]*)",
    re.IGNORECASE,
)
# Sentence ends: punctuation (and closing quotes/brackets), then space and a capital,
# digit or opening quote. Abbreviations are filtered in ``split_sentences``.
_SENTENCE_END = re.compile(r"[.!?][\"'\u201d\u2019)\]]*(?=\s+[\"'\u201c\u2018(\[]?[A-Z0-9])")
_ABBREVIATION_TEXT = (
    "mr mrs ms dr prof st jr sr vs no nos inc ltd co corp jan feb mar apr jun jul aug sep "
    "sept oct nov dec fig figs approx est gen col lt sgt capt rev mt ft op vol pp ed eds al "
    "e.g i.e etc u.s u.k a.m p.m"
)
_ABBREVIATIONS = frozenset(_ABBREVIATION_TEXT.split())
# Repeated paragraphs shorter than this are left alone (separators, "Thanks!", list bullets).
_MIN_REPEAT_CHARS = 40


@dataclass(slots=True)
class Block:
    kind: BlockKind
    units: list[str]
    # separator after each unit ("" after the last)
    seps: list[str] = field(default_factory=list)
    head: str = ""
    head_sep: str = " "

    def render(self, keep: Sequence[bool] | None = None) -> str:
        """The block with only the kept units (all when ``keep`` is None); "" if none."""
        if self.kind == "fixed":
            return self.units[0] if keep is None or any(keep) else ""
        parts: list[str] = []
        for i, unit in enumerate(self.units):
            if keep is None or keep[i]:
                if parts:
                    parts.append(_join_sep(self.seps[i - 1] if i else " "))
                parts.append(unit)
        if not parts:
            return ""
        body = "".join(parts)
        return f"{self.head}{self.head_sep}{body}" if self.head else body


def _join_sep(sep: str) -> str:
    return "\n" if "\n" in sep else " "


def render_blocks(blocks: Sequence[Block], keep: Sequence[Sequence[bool] | None]) -> str:
    rendered = (b.render(k) for b, k in zip(blocks, keep, strict=True))
    return "\n\n".join(text for text in rendered if text)


# --- lossless -------------------------------------------------------------------------


def _clean_prose(text: str) -> str:
    lines = [_INNER_SPACES.sub(" ", line.rstrip()) for line in text.split("\n")]
    return "\n".join(lines).strip("\n")


def minify_json(text: str) -> str | None:
    """``text`` re-serialised without insignificant whitespace, or None if not JSON."""
    stripped = text.strip()
    if len(stripped) < 2 or stripped[0] not in "[{" or stripped[-1] not in "]}":
        return None
    try:
        value = json.loads(stripped)
    except ValueError:
        return None
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _raw_blocks(text: str) -> list[tuple[BlockKind, str]]:
    """Paragraphs and fenced code blocks, in order, after the lossless clean-up."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    out: list[tuple[BlockKind, str]] = []
    position = 0
    for fence in _FENCE.finditer(text):
        out.extend(_paragraphs(text[position : fence.start()]))
        out.append(("fixed", fence.group(0).strip("\n")))
        position = fence.end()
    out.extend(_paragraphs(text[position:]))
    return out


def _paragraphs(text: str) -> list[tuple[BlockKind, str]]:
    out: list[tuple[BlockKind, str]] = []
    for paragraph in _BLANK_LINES.split(text):
        minified = minify_json(paragraph)
        if minified is not None:
            out.append(("fixed", minified))
            continue
        cleaned = _clean_prose(paragraph)
        if cleaned.strip():
            out.append(("prose", cleaned))
    return out


def lossless_blocks(text: str, seen: set[str] | None = None) -> list[tuple[BlockKind, str]]:
    """The text's blocks with whitespace runs collapsed, JSON minified and paragraphs
    already seen (in ``seen``, shared across the messages of one request) dropped."""
    seen = set() if seen is None else seen
    out: list[tuple[BlockKind, str]] = []
    for kind, block in _raw_blocks(text):
        if kind == "prose" and len(block) >= _MIN_REPEAT_CHARS:
            key = " ".join(block.split())
            if key in seen:
                continue
            seen.add(key)
        out.append((kind, block))
    return out


def lossless(text: str) -> str:
    return "\n\n".join(block for _, block in lossless_blocks(text))


# --- segmentation ---------------------------------------------------------------------


def split_sentences(text: str) -> tuple[list[str], list[str]]:
    """Sentences (and lines) of a paragraph, with the separator after each."""
    units: list[str] = []
    seps: list[str] = []
    for line_no, line in enumerate(text.split("\n")):
        if line_no and units:
            seps[-1] = "\n"
        start = 0
        for match in _SENTENCE_END.finditer(line):
            end = match.end()
            if _is_abbreviation(line, match.start()):
                continue
            sentence = line[start:end].strip()
            if sentence:
                units.append(sentence)
                seps.append(" ")
            start = end
        rest = line[start:].strip()
        if rest:
            units.append(rest)
            seps.append(" ")
    if seps:
        seps[-1] = ""
    return units, seps


def _is_abbreviation(line: str, dot: int) -> bool:
    if line[dot] != ".":
        return False
    word = re.search(r"([A-Za-z.]+)$", line[:dot])
    if word is None:
        return False
    token = word.group(1).lower().strip(".")
    # A single capital ("J. Smith") or a known abbreviation ("Dr.", "U.S.")
    return len(token) == 1 or token in _ABBREVIATIONS


def _split_head(paragraph: str) -> tuple[str, str, str]:
    """(head, separator, body); head is "" when the paragraph has no label."""
    match = _HEAD.match(paragraph)
    if match is None or match.end() >= len(paragraph):
        return "", " ", paragraph
    head = match.group(0).rstrip()
    rest = paragraph[match.end() :]
    sep = "\n" if rest.startswith(("\n", " \n")) else " "
    return head, sep, rest.strip()


def segment(text: str, *, seen: set[str] | None = None, fixed: bool = False) -> list[Block]:
    """Blocks of ``text`` after the lossless pass; ``fixed`` keeps every block whole."""
    blocks: list[Block] = []
    for kind, raw in lossless_blocks(text, seen):
        if kind == "fixed" or fixed:
            blocks.append(Block("fixed", [raw], [""]))
            continue
        head, head_sep, body = _split_head(raw)
        units, seps = split_sentences(body)
        if units:
            blocks.append(Block("prose", units, seps, head, head_sep))
        else:
            blocks.append(Block("fixed", [raw], [""]))
    return blocks


__all__ = [
    "Block",
    "lossless",
    "lossless_blocks",
    "minify_json",
    "render_blocks",
    "segment",
    "split_sentences",
]
