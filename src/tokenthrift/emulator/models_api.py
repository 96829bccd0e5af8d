"""``GET /v1/models`` and ``GET /v1/models/{id}`` in either provider's format.

Both providers serve the same path; Anthropic clients always send
``anthropic-version``, so that header selects Anthropic's list format.
"""

from __future__ import annotations

from typing import Any

from .catalog import catalog_models
from .replies import Outcome, Protocol, json_outcome
from .state import EmulatorState

# Fixed timestamps: the catalog has no release dates and responses must be stable.
_CREATED = 1_700_000_000
_CREATED_AT = "2023-11-14T22:13:20Z"


def _models(state: EmulatorState, protocol: Protocol) -> list[tuple[str, str, str]]:
    """(id, display name, owner), the protocol's own catalog first, then extra models."""
    providers = ("anthropic",) if protocol == "anthropic" else ("openai", "anthropic", "google")
    rows = [(i, name, p) for p in providers for i, name in catalog_models(p)]
    seen = {row[0] for row in rows}
    rows += [(m, m, "tokenthrift") for m in sorted(state.config.extra_models) if m not in seen]
    return rows


def _openai_model(model_id: str, owner: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": _CREATED, "owned_by": owner}


def _anthropic_model(model_id: str, name: str) -> dict[str, Any]:
    return {"type": "model", "id": model_id, "display_name": name, "created_at": _CREATED_AT}


def list_models(state: EmulatorState, protocol: Protocol) -> Outcome:
    rows = _models(state, protocol)
    if protocol == "anthropic":
        data = [_anthropic_model(i, name) for i, name, _ in rows]
        return json_outcome(
            {
                "data": data,
                "has_more": False,
                "first_id": data[0]["id"] if data else None,
                "last_id": data[-1]["id"] if data else None,
            }
        )
    return json_outcome({"object": "list", "data": [_openai_model(i, o) for i, _, o in rows]})


def retrieve_model(state: EmulatorState, protocol: Protocol, model_id: str) -> Outcome:
    rows = {row_id: (name, owner) for row_id, name, owner in _models(state, protocol)}
    if model_id not in rows:
        state.require_model(model_id, protocol)  # raises the provider's 404 when unknown
    name, owner = rows.get(model_id, (model_id, "system"))
    if protocol == "anthropic":
        return json_outcome(_anthropic_model(model_id, name))
    return json_outcome(_openai_model(model_id, owner))
