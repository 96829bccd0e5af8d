"""The levers this version has, in the order a request meets them.

Adding a lever is one package under ``levers/`` plus one line here. This module sits
outside ``levers/`` and imports no lever at load time, so the config loader can read the
section names without depending on the levers (which depend on the config). The composition root
(``tokenthrift.assembly``) builds each registered lever from its config section; the
config loader accepts exactly these sections (and ``PLANNED`` ones are refused with a
clear message until their lever exists).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .config import GatewayConfig
    from .levers.base import Lever
    from .levers.context import LeverContext


@dataclass(frozen=True, slots=True)
class LeverSpec:
    section: str  # config section (and lever name)
    factory: str  # "module:function" building the lever, or None when disabled
    # "module:callable" validating the section into the lever's settings without opening
    # anything (no database, no model); raises ConfigError. ``tokenthrift config check``
    # and ``serve`` run it before any lever is built. "" = the lever has no settings yet.
    settings: str = ""

    def build(self, context: LeverContext) -> Lever | None:
        module, _, function = self.factory.partition(":")
        build: Callable[[LeverContext], Lever | None] = getattr(import_module(module), function)
        return build(context)

    def parse_settings(self, config: GatewayConfig) -> LeverSettings | None:
        if not self.settings:
            return None
        module, _, name = self.settings.partition(":")
        parse: Any = import_module(module)
        for attribute in name.split("."):  # "Class.from_config" names a classmethod
            parse = getattr(parse, attribute)
        settings: LeverSettings = parse(config)
        return settings


class LeverSettings(Protocol):
    """What a settings parser returns: at least whether its lever is on."""

    @property
    def enabled(self) -> bool: ...


# Order matters: governance refuses before anything costs money; the cache answers
# before the request is rewritten for upstream.
REGISTRY: tuple[LeverSpec, ...] = (
    LeverSpec("governance", "tokenthrift.levers.governance:build",
              settings="tokenthrift.levers.governance.settings:parse_settings"),
    LeverSpec("cache", "tokenthrift.levers.cache:build",
              settings="tokenthrift.levers.cache.settings:CacheSettings.from_config"),
    LeverSpec("routing", "tokenthrift.levers.routing:build",
              settings="tokenthrift.levers.routing.settings:RoutingSettings.from_config"),
    LeverSpec("compression", "tokenthrift.levers.compression:build",
              settings="tokenthrift.levers.compression.settings:CompressionSettings.from_config"),
    LeverSpec("prompt_caching", "tokenthrift.levers.prompt_cache:build",
              settings="tokenthrift.levers.prompt_cache.settings:PromptCacheSettings.from_config"),
    LeverSpec("batch", "tokenthrift.levers.batch:build",
              settings="tokenthrift.levers.batch.settings:parse"),
)

# Config sections of levers on the roadmap but not in this version (none today; a
# section listed here is refused with a message naming the lever).
PLANNED: dict[str, str] = {}


def sections() -> tuple[str, ...]:
    return tuple(spec.section for spec in REGISTRY)
