"""Answer tags: which request each generated answer was made for (for judging replays).

With ``EmulatorConfig.tag_answers`` on, every text the emulator generates starts with
``[[answer:TAG]] ``, where TAG is the request's 64-bit generation seed in hex (model and
request body, so the same upstream request always gets the same tag), and the emulator
remembers what it answered under that tag: the model and the prompt text as it arrived.
``GET /emulator/answers/TAG`` returns that record. The marker is not billed: usage is
what it would be without it, so a tagged replay costs exactly what an untagged one does.

A gateway passes answer text through untouched and a cache stores it verbatim, so a
cached answer still names the request that generated it; ``tokenthrift bench replay``
judges each answer from that (``tokenthrift.bench``).
"""

from __future__ import annotations

import re
from collections import OrderedDict
from typing import Any

from .generation import Generated

TAG_MARKER = re.compile(r"\[\[answer:([0-9a-f]{16})\]\] ?")
# Records kept before the oldest is forgotten (a replayer reads each one right away).
MAX_RECORDS = 20_000


def tag_for(seed: int) -> str:
    return f"{seed:016x}"


def tagged(generated: Generated, tag: str) -> Generated:
    """``generated`` with the marker in front, as its own stream piece, tokens unchanged."""
    return Generated([f"[[answer:{tag}]] ", *generated.pieces], generated.tokens,
                     generated.finish, generated.stop_sequence)


def find_tag(text: str) -> str | None:
    match = TAG_MARKER.search(text)
    return match.group(1) if match else None


def prompt_text(payload: dict[str, Any]) -> str:
    """Every text of the request's system prompt and messages, one per line (both wire
    formats: OpenAI keeps system messages in ``messages``, Anthropic in ``system``)."""
    parts: list[str] = []
    _texts(payload.get("system"), parts)
    for message in payload.get("messages") or ():
        if isinstance(message, dict):
            _texts(message.get("content"), parts)
    return "\n".join(parts)


def _texts(content: Any, out: list[str]) -> None:
    if isinstance(content, str):
        out.append(content)
    elif isinstance(content, list):
        for block in content:
            if isinstance(block, dict) and isinstance(block.get("text"), str):
                out.append(block["text"])


class AnswerJournal:
    """What was answered under each tag (most recent ``MAX_RECORDS``)."""

    def __init__(self) -> None:
        self._records: OrderedDict[str, dict[str, Any]] = OrderedDict()

    def record(self, seed: int, model: str, protocol: str, payload: dict[str, Any]) -> str:
        tag = tag_for(seed)
        self._records[tag] = {"tag": tag, "model": model, "protocol": protocol,
                              "prompt": prompt_text(payload)}
        self._records.move_to_end(tag)
        while len(self._records) > MAX_RECORDS:
            self._records.popitem(last=False)
        return tag

    def get(self, tag: str) -> dict[str, Any] | None:
        return self._records.get(tag)

    def clear(self) -> None:
        self._records.clear()
