"""Prompt templates: the static part of a prompt with its variable parts masked.

Two requests built from the same template ("You are a support agent for ACME. Today is
2026-03-01. Customer id 88123.") differ only in dates, times, numbers, ids and e-mail
addresses. Masking those gives one *template*, whose fingerprint groups the traffic for
the prompt audit and tells the prompt-cache lever that two different prefixes are the
same prompt with a varying part (which defeats the providers' prefix caches when it
comes first).
"""

from __future__ import annotations

import hashlib
import re

# Order matters: the longer, more specific shapes are masked before bare numbers.
_MASKS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"), "<email>"),
    (re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                r"[0-9a-fA-F]{12}\b"), "<uuid>"),
    (re.compile(r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?"
                r"(?:Z|[+-]\d{2}:?\d{2})?)?\b"), "<date>"),
    (re.compile(r"\b\d{1,2}/\d{1,2}/\d{2,4}\b"), "<date>"),
    (re.compile(r"\b(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\.? \d{1,2}"
                r"(?:st|nd|rd|th)?,? \d{4}\b"), "<date>"),
    (re.compile(r"\b\d{1,2}:\d{2}(?::\d{2})?(?:\s?[AaPp][Mm])?\b"), "<time>"),
    # ids: a run of letters and digits that holds at least one digit and is long
    # (req_8f3a…, cus_12ab…, hex digests), or any hex run of 16+ characters
    (re.compile(r"\b(?=[A-Za-z_-]*\d)[A-Za-z0-9_-]{12,}\b"), "<id>"),
    (re.compile(r"\b[0-9a-fA-F]{16,}\b"), "<id>"),
    (re.compile(r"\d+(?:[.,]\d+)*"), "<n>"),
)
FINGERPRINT_CHARS = 16


def mask(text: str) -> str:
    """``text`` with dates, times, numbers, ids and e-mail addresses replaced by tags."""
    for pattern, tag in _MASKS:
        text = pattern.sub(tag, text)
    return text


def template_fingerprint(static_prefix: str) -> str:
    """Fingerprint of a prompt's static prefix (system prompt, tools) once masked."""
    return hashlib.sha256(mask(static_prefix).encode()).hexdigest()[:FINGERPRINT_CHARS]


def example(static_prefix: str, limit: int = 160) -> str:
    """A short, masked, one-line excerpt of a template for reports."""
    line = " ".join(mask(static_prefix).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"
