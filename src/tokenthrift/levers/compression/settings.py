"""The ``compression:`` section of the gateway config.

```yaml
compression:
  enabled: false
  target_ratio: 0.5        # fraction of the compressible tokens kept (0 < r <= 1)
  min_tokens: 1000         # leave requests with fewer compressible tokens alone
  method: lexical          # lexical | llmlingua2:<model dir> (only if installed locally)
  protect_prefix: true     # never touch system messages, nor anything up to the
                           # client's last cache_control breakpoint (the cacheable prefix)
  compress_history: true   # older chat turns may be shortened too
```

Per request, ``x-tokenthrift-compress: RATIO|off`` overrides ``target_ratio`` or switches
compression off for that request; with ``enabled: false`` the lever is not built and the
header does nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...config import GatewayConfig
from ...config_section import ConfigError, boolean, check_keys, expected, integer, mapping, number

_KEYS = (
    "enabled",
    "target_ratio",
    "min_tokens",
    "method",
    "protect_prefix",
    "compress_history",
)
DEFAULT_RATIO = 0.5
DEFAULT_MIN_TOKENS = 1000


@dataclass(frozen=True, slots=True)
class CompressionSettings:
    enabled: bool = False
    target_ratio: float = DEFAULT_RATIO
    min_tokens: int = DEFAULT_MIN_TOKENS
    method: str = "lexical"
    protect_prefix: bool = True
    compress_history: bool = True

    @classmethod
    def from_config(cls, config: GatewayConfig) -> CompressionSettings:
        raw = mapping(config.lever("compression"), "compression")
        check_keys(raw, _KEYS, "compression")
        ratio = number(raw.get("target_ratio", DEFAULT_RATIO), "compression.target_ratio",
                       what="a fraction in (0, 1]")
        if not 0.0 < ratio <= 1.0:
            raise expected("compression.target_ratio", "a fraction in (0, 1]", ratio)
        method = str(raw.get("method", "lexical"))
        validate_method(method)
        return cls(
            enabled=boolean(raw.get("enabled", False), "compression.enabled"),
            target_ratio=ratio,
            min_tokens=integer(raw.get("min_tokens", DEFAULT_MIN_TOKENS),
                               "compression.min_tokens", minimum=0),
            method=method,
            protect_prefix=boolean(raw.get("protect_prefix", True), "compression.protect_prefix"),
            compress_history=boolean(raw.get("compress_history", True),
                                     "compression.compress_history"),
        )


def validate_method(method: str) -> None:
    kind, sep, rest = method.partition(":")
    if method == "lexical" or (kind == "llmlingua2" and sep and rest):
        return
    raise ConfigError(
        f"compression.method: expected lexical or llmlingua2:<model dir>, got {method!r}"
    )


__all__ = ["CompressionSettings", "validate_method"]
