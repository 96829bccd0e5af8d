"""Model right-sizing: send each request to the cheapest model that answers it well.

* ``features`` / ``router`` / ``training``: the learned complexity router, P(weak answer
  acceptable | prompt), trained and evaluated with ``tokenthrift router train|eval``.
* ``tasks``: the offline task-type classifier (abstains when unsure).
* ``metrics`` / ``evaluation`` / ``data``: RouteLLM's APGR and CPT on labelled CSVs.
* ``cascade`` / ``schema``: cheapest model first, escalate when its answer fails a check.

See ``docs/routing.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..base import Lever
    from ..context import LeverContext


def build(context: LeverContext) -> Lever | None:
    """The routing lever, or None when the config has no ``routing`` policies or cascade."""
    from .lever import build_lever
    from .settings import RoutingSettings

    settings = RoutingSettings.from_config(context.config)
    if not settings.enabled or not (settings.policies or settings.apply_to or settings.cascade):
        return None
    return build_lever(settings, context.config, context.accountant)


__all__ = ["build"]
