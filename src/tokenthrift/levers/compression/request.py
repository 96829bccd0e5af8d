"""Compressing a canonical chat request: which text may shrink, and for what question.

* **The question** is the end of the final user message: from its last ``Question:``
  (``Q:``, ``Query:``) line, else its last paragraph. It is never compressed, and it is
  what the rest is scored against. A final message of one paragraph is all question.
  A short unlabelled first paragraph before the context is the instruction, also kept.
* **Compressible**: the rest of the final user message (the pasted document, the RAG
  passages) and, with ``compress_history``, the text of older user/assistant turns
  (later turns score a little higher).
* **Untouched**: tool definitions, tool results, assistant tool calls, images, and the
  static cacheable prefix: system messages and every part up to the client's last
  ``cache_control`` breakpoint, unless ``protect_prefix`` is off. Compressing a prefix the
  provider caches would trade a 90% read discount for a smaller, uncached prompt.

The ratio applies to the compressible text; the request is returned as a new object
(the original is what the cache keyed and what the baseline is priced on).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from ...tokens import count_chat
from ...types import ChatRequest, ContentPart, Message, TextPart
from .compressor import Compressor, Piece

# Stands in for an old turn that lost every sentence (providers refuse empty text).
OMITTED = "…"
_QUESTION_LINE = re.compile(r"(?im)^[ \t]*(?:question|q|query)[ \t]*:")
# How much more the latest old turn scores than the oldest one.
_RECENCY = 0.15
# A first paragraph of at most this many words, without a document label, is an instruction.
_INSTRUCTION_WORDS = 60
_LABELLED = re.compile(r"^\s*(?:#|\[\d|(?:Document|Doc|Passage|Source|Context|Chunk|Result)\b)", re.I)


@dataclass(frozen=True, slots=True)
class RequestCompression:
    request: ChatRequest
    question: str
    # Compressible text only: what the ratio applies to.
    compressible_before: int
    compressible_after: int


@dataclass(frozen=True, slots=True)
class _Slot:
    """Where a compressible piece came from: message index, part index, and the text
    kept verbatim before (an instruction) and after it (the question)."""

    message: int
    part: int
    tail: str = ""
    lead: str = ""


def split_question(text: str) -> tuple[str, str]:
    """(context, question) of a final user message."""
    marks = list(_QUESTION_LINE.finditer(text))
    if marks and marks[-1].start() > 0:
        start = marks[-1].start()
        return text[:start].rstrip(), text[start:].strip()
    paragraphs = re.split(r"\n[ \t]*\n", text.strip())
    if len(paragraphs) < 2:
        return "", text
    return "\n\n".join(paragraphs[:-1]), paragraphs[-1].strip()


def split_instruction(context: str) -> tuple[str, str]:
    """(instruction, rest): a short unlabelled first paragraph ("Answer using only the
    search results below.") is the task, not context, and is kept verbatim."""
    paragraphs = re.split(r"\n[ \t]*\n", context.strip(), maxsplit=1)
    if len(paragraphs) < 2:
        return "", context
    first = paragraphs[0].strip()
    if len(first.split()) > _INSTRUCTION_WORDS or "```" in first or _LABELLED.match(first):
        return "", context
    return first, paragraphs[1]


def _protected_until(request: ChatRequest, protect_prefix: bool) -> tuple[int, int]:
    """(message, part) of the client's last cache_control breakpoint, or (-1, -1)."""
    if not protect_prefix:
        return -1, -1
    last = (-1, -1)
    for m, message in enumerate(request.messages):
        for p, part in enumerate(message.content):
            if part.cache_control is not None:
                last = (m, p)
    return last


def _untouchable(message: Message) -> bool:
    return message.role == "tool" or bool(message.tool_calls) or message.role == "system"


def _collect(
    request: ChatRequest, final: int, protect_prefix: bool, history: bool
) -> tuple[list[Piece], list[_Slot], str]:
    boundary = _protected_until(request, protect_prefix)
    pieces: list[Piece] = []
    slots: list[_Slot] = []
    question = ""
    last_text = max(
        (p for p, part in enumerate(request.messages[final].content) if isinstance(part, TextPart)),
        default=-1,
    )
    for m, message in enumerate(request.messages[: final + 1]):
        if _untouchable(message) and (protect_prefix or message.role != "system"):
            continue
        if m < final and not history and message.role != "system":
            continue
        prior = _RECENCY * (m + 1) / (final + 1) if m < final else _RECENCY
        for p, part in enumerate(message.content):
            if not isinstance(part, TextPart) or (m, p) <= boundary:
                continue
            text, tail, lead = part.text, "", ""
            if m == final and p == last_text:
                text, tail = split_question(part.text)
                lead, text = split_instruction(text)
                question = tail
            if text.strip():
                pieces.append(Piece(text, prior=prior))
                slots.append(_Slot(m, p, tail, lead))
    return pieces, slots, question


def compress_request(
    request: ChatRequest,
    compressor: Compressor,
    ratio: float,
    *,
    min_tokens: int = 0,
    protect_prefix: bool = True,
    history: bool = True,
) -> RequestCompression | None:
    """A compressed copy of ``request``, or None when there is nothing worth doing."""
    final = max((i for i, m in enumerate(request.messages) if m.role == "user"), default=-1)
    if final < 0:
        return None
    pieces, slots, question = _collect(request, final, protect_prefix, history)
    if not pieces:
        return None
    if not question:
        question = request.messages[final].text
    result = compressor.compress_pieces(pieces, question, ratio)
    if result.tokens_before < min_tokens or result.tokens_after >= result.tokens_before:
        return None
    messages = list(request.messages)
    edits: dict[tuple[int, int], str] = {}
    for slot, text in zip(slots, result.texts, strict=True):
        edits[(slot.message, slot.part)] = "\n\n".join(t for t in (slot.lead, text, slot.tail) if t)
    for m in sorted({m for m, _ in edits}):
        messages[m] = _rewritten(messages[m], m, edits)
    compressed = replace(request, messages=messages)
    return RequestCompression(compressed, question, result.tokens_before, result.tokens_after)


def _rewritten(message: Message, m: int, edits: dict[tuple[int, int], str]) -> Message:
    content: list[ContentPart] = []
    for p, part in enumerate(message.content):
        if (m, p) not in edits:
            content.append(part)
        elif edits[(m, p)]:
            assert isinstance(part, TextPart)
            content.append(TextPart(edits[(m, p)], cache_control=part.cache_control))
    if not content:
        content = [TextPart(OMITTED)]
    return replace(message, content=content)


def request_tokens(request: ChatRequest, model: str) -> int:
    """Prompt tokens of ``request`` as the gateway and the emulator count them."""
    return count_chat([(m.role, m.text) for m in request.messages], model)


__all__ = [
    "OMITTED",
    "RequestCompression",
    "compress_request",
    "request_tokens",
    "split_instruction",
    "split_question",
]
