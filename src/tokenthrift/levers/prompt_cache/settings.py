"""The ``prompt_caching:`` section of the gateway config.

```yaml
prompt_caching:
  anthropic: auto          # auto | off: place cache_control breakpoints where they pay
  openai: auto             # auto | off: set prompt_cache_key, flag varying prefixes
  max_prefixes: 100000     # prefix fingerprints whose reuse intervals are remembered (LRU)
```

Without the section the lever is not built. With it, a provider left out is ``auto``;
``enabled: false`` turns the lever off without deleting the section. Per request,
``x-tokenthrift-prompt-cache: off`` leaves that request's body untouched.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...config import GatewayConfig
from ...config_section import boolean, check_keys, choice, integer, mapping

SECTION = "prompt_caching"
_KEYS = ("enabled", "anthropic", "openai", "max_prefixes")
MODES = ("auto", "off")
DEFAULT_MAX_PREFIXES = 100_000


@dataclass(frozen=True, slots=True)
class PromptCacheSettings:
    enabled: bool = False
    anthropic: str = "auto"
    openai: str = "auto"
    max_prefixes: int = DEFAULT_MAX_PREFIXES

    @property
    def anthropic_auto(self) -> bool:
        return self.enabled and self.anthropic == "auto"

    @property
    def openai_auto(self) -> bool:
        return self.enabled and self.openai == "auto"

    @classmethod
    def from_config(cls, config: GatewayConfig) -> PromptCacheSettings:
        raw = mapping(config.lever(SECTION), SECTION)
        if not raw:
            return cls()
        check_keys(raw, _KEYS, SECTION)
        anthropic = _mode(raw.get("anthropic", "auto"), f"{SECTION}.anthropic")
        openai = _mode(raw.get("openai", "auto"), f"{SECTION}.openai")
        enabled = boolean(raw.get("enabled", True), f"{SECTION}.enabled")
        return cls(
            enabled=enabled and (anthropic == "auto" or openai == "auto"),
            anthropic=anthropic,
            openai=openai,
            max_prefixes=integer(raw.get("max_prefixes", DEFAULT_MAX_PREFIXES),
                                 f"{SECTION}.max_prefixes", positive=True),
        )


def _mode(value: object, where: str) -> str:
    # YAML 1.1 reads a bare ``off`` as false (and ``on`` as true).
    if isinstance(value, bool):
        return "auto" if value else "off"
    return choice(value, where, MODES)
