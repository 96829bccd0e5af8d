"""The ``batch`` config section.

```yaml
batch:
  enabled: true              # price Batch API traffic at batch rates, saving under "batch"
  openai_provider: openai    # where /v1/files and /v1/batches go (default: the first
  anthropic_provider: anthropic  # openai/anthropic provider, else the emulator)
  poll_interval: 30s         # how often ended batches are looked for and settled
  defer:                     # x-tokenthrift-defer: requests that can wait
    max_requests: 1000       # submit a batch once this many requests of a model wait...
    max_wait: 10m            # ...or once the oldest has waited this long
    max_defer: 24h           # the longest x-tokenthrift-defer accepted
```
"""

from __future__ import annotations

from dataclasses import dataclass

from ...config import GatewayConfig
from ...config_section import Section

_TOP = ("enabled", "openai_provider", "anthropic_provider", "poll_interval", "defer", "store")
_DEFER = ("max_requests", "max_wait", "max_defer")


@dataclass(frozen=True, slots=True)
class BatchSettings:
    enabled: bool = True
    openai_provider: str | None = None
    anthropic_provider: str | None = None
    poll_interval_s: float = 30.0
    defer_max_requests: int = 1000
    defer_max_wait_s: float = 600.0
    max_defer_s: float = 86400.0
    store: str = ""  # SQLite path of jobs and tracked batches; "" = <data_dir>/batches.db


def parse(config: GatewayConfig) -> BatchSettings:
    section = Section(config.lever("batch"), "batch", _TOP)
    defer = section.section("defer", _DEFER)
    settings = BatchSettings(
        enabled=section.boolean("enabled", True),
        openai_provider=section.optional_text("openai_provider"),
        anthropic_provider=section.optional_text("anthropic_provider"),
        poll_interval_s=section.duration("poll_interval", 30.0),
        defer_max_requests=defer.integer("max_requests", 1000, minimum=1),
        defer_max_wait_s=defer.duration("max_wait", 600.0),
        max_defer_s=defer.duration("max_defer", 86400.0),
        store=section.text("store", ""),
    )
    from ...config_section import ConfigError

    for key in ("openai_provider", "anthropic_provider"):
        name = getattr(settings, key)
        if name is not None and name not in config.providers:
            raise ConfigError(f"batch.{key}: unknown provider {name!r}; configured: "
                              f"{', '.join(config.providers)}")
    return settings
