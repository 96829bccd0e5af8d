"""Response caching (exact and semantic). Placeholder until the cache lands."""

from __future__ import annotations

from ...config import GatewayConfig
from ..base import ResponseCache


def build(config: GatewayConfig) -> ResponseCache | None:
    return None
