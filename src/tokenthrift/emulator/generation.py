"""Deterministic model output: the same request always gets the same reply.

Replies are built from a pool of sentences whose words are each exactly one token
(with their leading space) in both cl100k_base and o200k_base, and whose punctuation
is a token of its own. A reply of N pieces is therefore exactly N tokens without
running the tokenizer, which keeps the hot path cheap, and each piece is one stream
delta, like a real model's token-by-token stream. Text that does not come from the
pool (a forced reply, a reply cut at a stop sequence) is counted with the tokenizer.

A test can force the reply: if the last user message contains
``[[emulator:reply=TEXT]]`` the model answers ``TEXT`` verbatim (still subject to
``max_tokens`` and stop sequences).
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

from ..tokens import count_encoded, get_encoding

MIN_REPLY_TOKENS = 20
MAX_REPLY_TOKENS = 120
_MASK64 = (1 << 64) - 1

REPLY_MARKER = re.compile(r"\[\[emulator:reply=(.*?)\]\]", re.DOTALL)

Finish = Literal["stop", "length", "stop_sequence"]

_WORD_TEXT = """time year people way day man thing life child world school state family
student group country problem hand part place case week company system program question
work government number night point home water room area money story fact month lot study
book eye job word business issue side kind head house service friend power hour game line
end member law car city community name team minute idea body information back face level
office door health person art history party result change morning reason research moment
air teacher force education age policy process music market sense nation plan college
interest experience effect use class control care field development role effort rate heart
show leader light voice mind price report decision view relationship town road difference
value building action model season society director position player record paper space
ground form event matter center site project activity star table need court oil situation
cost industry figure street image phone data picture practice piece land product wall
worker news test movie love support technology step computer type attention film tree
source organization window evidence population truth song look chance answer simple clear
small large early important different public able human local social good new first last
long great little own other old big high next young major real best free better sure full
special easy strong certain whole past hard only late open short general private possible
"""
_STARTER_TEXT = (
    "The This We It In A Our That Each Every Most Some Many When After Before Today Here There"
)
_WORDS = tuple(_WORD_TEXT.split())
_STARTERS = tuple(_STARTER_TEXT.split())
_POOL_SENTENCES = 512


@dataclass(slots=True)
class Generated:
    """Generated text: ``pieces`` are the stream deltas, ``tokens`` the billed count."""

    pieces: list[str]
    tokens: int
    finish: Finish = "stop"
    stop_sequence: str | None = None
    text: str = field(init=False)

    def __post_init__(self) -> None:
        self.text = "".join(self.pieces)


class SentencePool:
    """Pre-tokenised sentences for one encoding, checked to be one token per piece."""

    def __init__(self, encoding_name: str) -> None:
        self.encoding_name = encoding_name
        words = [w for w in _WORDS if count_encoded(encoding_name, " " + w) == 1]
        starters = [
            s
            for s in _STARTERS
            if count_encoded(encoding_name, s) == 1 and count_encoded(encoding_name, " " + s) == 1
        ]
        rng = random.Random(20240601)  # fixed: the pool is part of the emulator's behaviour
        self._first: list[tuple[str, ...]] = []
        self._next: list[tuple[str, ...]] = []
        for _ in range(_POOL_SENTENCES):
            body = tuple(" " + rng.choice(words) for _ in range(rng.randint(5, 15)))
            tail = (*body, rng.choice((".", ".", ".", "!", "?")) if rng.random() < 0.2 else ".")
            starter = rng.choice(starters)
            self._first.append((starter, *tail))
            self._next.append((" " + starter, *tail))

    def compose(self, seed: int, n_tokens: int) -> list[str]:
        """Exactly ``n_tokens`` pieces of sentence text chosen by ``seed``."""
        pieces: list[str] = []
        state = seed & _MASK64
        size = len(self._first)
        while len(pieces) < n_tokens:
            state = (state * 6364136223846793005 + 1442695040888963407) & _MASK64
            sentences = self._next if pieces else self._first
            sentence = sentences[(state >> 33) % size]
            room = n_tokens - len(pieces)
            if len(sentence) <= room:
                pieces.extend(sentence)
            elif room >= 2:
                pieces.extend(sentence[: room - 1])
                pieces.append(".")
            else:
                pieces.append(sentence[0])
        return pieces


@lru_cache(maxsize=4)
def sentence_pool(encoding_name: str) -> SentencePool:
    return SentencePool(encoding_name)


def request_seed(model: str, payload: bytes) -> int:
    """A 64-bit seed from the model and a canonical serialisation of the request."""
    hasher = hashlib.blake2b(model.encode(), digest_size=8)
    hasher.update(b"\0")
    hasher.update(payload)
    return int.from_bytes(hasher.digest(), "little")


def derive_seed(seed: int, salt: int) -> int:
    """An independent seed per choice index or purpose (splitmix64 finaliser)."""
    z = (seed + 0x9E3779B97F4A7C15 * (salt + 1)) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


def reply_length(seed: int) -> int:
    return MIN_REPLY_TOKENS + seed % (MAX_REPLY_TOKENS - MIN_REPLY_TOKENS + 1)


def forced_reply(text: str) -> str | None:
    """The TEXT of a ``[[emulator:reply=TEXT]]`` marker, if ``text`` has one."""
    if "[[emulator:" not in text:
        return None
    match = REPLY_MARKER.search(text)
    return match.group(1) if match else None


def generate(
    encoding_name: str,
    seed: int,
    *,
    limit: int | None,
    stop: Sequence[str] = (),
    forced: str | None = None,
    length: int | None = None,
) -> Generated:
    """The reply for ``seed``: pool text (or ``forced``), cut at ``limit`` tokens or a stop."""
    if forced is None:
        n_tokens = reply_length(seed) if length is None else length
        pieces = sentence_pool(encoding_name).compose(seed, n_tokens)
        truncated = limit is not None and limit < n_tokens
        if truncated:
            pieces = pieces[:limit]
        tokens = len(pieces)
    else:
        pieces, tokens, truncated = _forced_pieces(encoding_name, forced, limit)
    result = Generated(pieces, tokens, "length" if truncated else "stop")
    return _apply_stop(encoding_name, result, stop) if stop else result


def _forced_pieces(encoding_name: str, text: str, limit: int | None) -> tuple[list[str], int, bool]:
    ids = get_encoding(encoding_name).encode_ordinary(text)
    truncated = limit is not None and len(ids) > limit
    if truncated:
        ids = ids[:limit]
    return token_pieces(encoding_name, ids), len(ids), truncated


def token_pieces(encoding_name: str, ids: Sequence[int]) -> list[str]:
    """Decode token by token, holding bytes back until they form whole UTF-8 characters."""
    encoding = get_encoding(encoding_name)
    pieces: list[str] = []
    pending = b""
    for token_bytes in encoding.decode_tokens_bytes(list(ids)):
        pending += token_bytes
        try:
            pieces.append(pending.decode("utf-8"))
        except UnicodeDecodeError:
            continue
        pending = b""
    if pending:
        pieces.append(pending.decode("utf-8", errors="replace"))
    return pieces


def _apply_stop(encoding_name: str, result: Generated, stop: Sequence[str]) -> Generated:
    """Cut before the earliest stop sequence, as the providers do (the stop is not returned)."""
    hits = [(result.text.find(s), s) for s in stop if s]
    hits = [(pos, s) for pos, s in hits if pos >= 0]
    if not hits:
        return result
    position, sequence = min(hits)
    kept: list[str] = []
    consumed = 0
    for piece in result.pieces:
        if consumed + len(piece) > position:
            if position > consumed:
                kept.append(piece[: position - consumed])
            break
        kept.append(piece)
        consumed += len(piece)
    text = result.text[:position]
    return Generated(kept, count_encoded(encoding_name, text), "stop_sequence", sequence)
