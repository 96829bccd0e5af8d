"""Virtual keys, budgets and rate limits. Placeholder until governance lands."""

from __future__ import annotations

from typing import Any

from ...config import GatewayConfig
from ..base import Governance


def build(config: GatewayConfig, ledger: Any, accountant: Any) -> Governance | None:
    return None
