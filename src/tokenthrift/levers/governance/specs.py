"""What admins send (admin API JSON, CLI options), validated into keys and budgets.

Every problem raises ``ValueError`` with a message fit for a 400 answer.
"""

from __future__ import annotations

from typing import Any

from .budgets import SCOPES, Budget, parse_budget_spec
from .keys import KeySpec, parse_expiry

_KEY_FIELDS = frozenset({"team", "user", "customer", "models", "budget", "rpm", "tpm",
                         "expires_at", "metadata"})
_MAX_TEXT = 256


def parse_key_spec(raw: Any) -> KeySpec:
    if not isinstance(raw, dict):
        raise ValueError("expected a JSON object")
    unknown = set(raw) - _KEY_FIELDS
    if unknown:
        raise ValueError(f"unknown field(s) {sorted(unknown)}; expected some of "
                         f"{sorted(_KEY_FIELDS)}")
    models = raw.get("models")
    if models is not None:
        if not isinstance(models, list) or not all(isinstance(m, str) and m for m in models):
            raise ValueError("models must be a list of model names")
        models = tuple(models) or None
    metadata = raw.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise ValueError("metadata must be an object")
    budget = raw.get("budget")
    return KeySpec(
        team=_text(raw, "team"), user=_text(raw, "user"), customer=_text(raw, "customer"),
        models=models,
        budget=parse_budget_spec(budget) if budget is not None else None,
        rpm=_limit(raw, "rpm"), tpm=_limit(raw, "tpm"),
        expires_at=parse_expiry(raw.get("expires_at")), metadata=metadata,
    )


def parse_budget(raw: Any) -> Budget:
    """``{"scope", "id", "usd", "period", "soft_limit_pct", "webhook"}`` → ``Budget``."""
    if not isinstance(raw, dict):
        raise ValueError("expected a JSON object")
    scope = raw.get("scope")
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {'|'.join(SCOPES)}")
    subject = _text(raw, "id")
    if subject is None:
        raise ValueError("id is required: the key id, team, user, customer or tag name")
    spec = parse_budget_spec({k: v for k, v in raw.items() if k not in ("scope", "id")})
    return Budget(scope, subject, spec.period, spec.usd,  # type: ignore[arg-type]
                  spec.soft_limit_pct, spec.webhook)


def _text(raw: dict[str, Any], name: str) -> str | None:
    value = raw.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > _MAX_TEXT:
        raise ValueError(f"{name} must be a string of at most {_MAX_TEXT} characters")
    return value


def _limit(raw: dict[str, Any], name: str) -> int | None:
    value = raw.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer")
    return value
