"""Prompts whose first tokens vary between otherwise identical requests.

Both providers cache *prefixes*: a timestamp, a request id or a user id at the top of
the system prompt makes every prompt differ from its first tokens on, so nothing is
ever read from cache (OpenAI needs the first 1,024 tokens identical). Such prompts are
found by masking dates, numbers and ids (``template.mask``): when the masked head
of a prompt matches one seen before but the raw head does not, the difference is a
variable part, and where it starts says how much of the prompt could have been cached.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict

from ...tokens import count_encoded
from .template import mask

# About the first 1,024 tokens of English text (the head OpenAI's cache needs identical).
HEAD_CHARS = 4096
_CHUNK = 64


class PrefixVariance:
    def __init__(self, max_entries: int) -> None:
        self._max_entries = max_entries
        # masked-head digest -> digests of the last raw head's chunks
        self._heads: OrderedDict[bytes, list[bytes]] = OrderedDict()

    def varying_at(self, namespace: bytes, head: str, encoding: str) -> int | None:
        """Tokens before the first variable part of ``head``, when it varies; else None."""
        head = head[:HEAD_CHARS]
        template = hashlib.blake2b(namespace + b"\0" + mask(head).encode(),
                                   digest_size=16).digest()
        chunks = [hashlib.blake2b(head[i : i + _CHUNK].encode(), digest_size=8).digest()
                  for i in range(0, len(head), _CHUNK)]
        previous = self._heads.get(template)
        self._heads[template] = chunks
        self._heads.move_to_end(template)
        while len(self._heads) > self._max_entries:
            self._heads.popitem(last=False)
        if previous is None or previous == chunks:
            return None
        first = next((i for i, (a, b) in enumerate(zip(previous, chunks, strict=False))
                      if a != b), min(len(previous), len(chunks)))
        return count_encoded(encoding, head[: first * _CHUNK])
