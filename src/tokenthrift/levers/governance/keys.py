"""Virtual keys: what a client presents instead of a provider key.

A key is ``tt-`` + 43 characters of URL-safe base64 (32 random bytes from ``secrets``).
Only its SHA-256 (hex) is stored, with a display prefix (the first 8 characters after
``tt-``) so people can tell keys apart. A plain hash is enough here, unlike for
passwords: with 256 bits of entropy there is nothing to brute-force, so a slow KDF
(bcrypt, argon2) would only add milliseconds to every request. Look-ups go by hash and
the stored hash is compared with ``hmac.compare_digest``. The raw key is returned once,
by the create call, and never stored, logged or listed.
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

KEY_PREFIX = "tt-"
_KEY_LENGTH = len(KEY_PREFIX) + 43  # token_urlsafe(32): 43 base64url characters
_KEY_SHAPE = re.compile(r"tt-[A-Za-z0-9_-]{43}")
_DISPLAY_CHARS = 8


@dataclass(frozen=True, slots=True)
class VirtualKey:
    id: str
    prefix: str
    team: str | None = None
    user: str | None = None
    customer: str | None = None
    models: tuple[str, ...] | None = None  # None = every model; entries may be globs
    rpm: int | None = None
    tpm: int | None = None
    expires_at: float | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    revoked: bool = False
    created_at: float = 0.0

    def expired(self, now: float) -> bool:
        return self.expires_at is not None and now >= self.expires_at

    def allows(self, model: str) -> bool:
        if self.models is None:
            return True
        return any(fnmatch.fnmatchcase(model, pattern) for pattern in self.models)


@dataclass(frozen=True, slots=True)
class BudgetSpec:
    """A budget as an admin asks for it (validated, not yet tied to a subject)."""

    usd: Decimal
    period: str
    soft_limit_pct: tuple[float, ...] = ()
    webhook: str | None = None


@dataclass(frozen=True, slots=True)
class KeySpec:
    """What ``POST /admin/keys`` (or ``tokenthrift keys create``) asks for."""

    team: str | None = None
    user: str | None = None
    customer: str | None = None
    models: tuple[str, ...] | None = None
    budget: BudgetSpec | None = None
    rpm: int | None = None
    tpm: int | None = None
    expires_at: float | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def new_key_id() -> str:
    return "vk_" + secrets.token_hex(8)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def display_prefix(key: str) -> str:
    return key[: len(KEY_PREFIX) + _DISPLAY_CHARS]


def looks_virtual(key: str) -> bool:
    """Shaped like a key ``new_key`` makes (so a look-up is worth a query)."""
    return len(key) == _KEY_LENGTH and key.startswith(KEY_PREFIX) and _KEY_SHAPE.match(key) is not None


_MAX_EXPIRY = datetime(9999, 1, 1, tzinfo=UTC).timestamp()


def parse_expiry(value: Any) -> float | None:
    """``expires_at`` as unix seconds, an ISO 8601 string (UTC if no offset) or None."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError("expires_at must be an ISO 8601 time or unix seconds")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"expires_at: not an ISO 8601 time: {value!r}") from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        seconds = parsed.timestamp()
    else:
        raise ValueError("expires_at must be an ISO 8601 time or unix seconds")
    # Views render the expiry as a date in any time zone; beyond these bounds that
    # overflows (after the key was stored).
    if not 0 <= seconds <= _MAX_EXPIRY:
        raise ValueError("expires_at must be between 1970 and 9998")
    return seconds

