"""What a lever factory is given: the configuration and the shared accounting."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..config import GatewayConfig

if TYPE_CHECKING:
    from ..accounting.settlement import Accountant


@dataclass(slots=True)
class LeverContext:
    config: GatewayConfig
    # Prices usage (catalog + overrides) and knows which provider's list prices apply.
    accountant: Accountant

    def section(self, name: str) -> dict[str, object]:
        return self.config.lever(name)
