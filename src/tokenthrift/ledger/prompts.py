"""What of a prompt the ledger keeps: nothing, a fingerprint, or the full text.

The fingerprint lets the prompt audit group identical prompts (and spot the expensive
ones that repeat) without storing what users wrote; ``full`` is opt-in because prompts
can hold personal data and secrets.
"""

from __future__ import annotations

import hashlib
from enum import StrEnum

FINGERPRINT_CHARS = 32


def prompt_fingerprint(system_text: str, messages_text: str) -> str:
    """sha256 of the system and message text, 32 hex chars (128 bits).

    The system text is length-prefixed so moving text between the system prompt and
    the messages changes the fingerprint.
    """
    system = system_text.encode()
    digest = hashlib.sha256(len(system).to_bytes(8, "big") + system + messages_text.encode())
    return digest.hexdigest()[:FINGERPRINT_CHARS]


class PromptStorage(StrEnum):
    OFF = "off"  # neither fingerprint nor text
    HASH = "hash"  # fingerprint only (the default a server should use)
    FULL = "full"  # fingerprint and text

    def capture(self, system_text: str, messages_text: str) -> tuple[str | None, str | None]:
        """``(prompt_fingerprint, prompt_text)`` for a ledger record under this mode."""
        if self is PromptStorage.OFF:
            return None, None
        fingerprint = prompt_fingerprint(system_text, messages_text)
        if self is PromptStorage.HASH:
            return fingerprint, None
        text = f"{system_text}\n\n{messages_text}" if system_text else messages_text
        return fingerprint, text
