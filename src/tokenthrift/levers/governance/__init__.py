"""Governance: virtual keys, budgets and rate limits that hold under concurrency.

The pieces, one concept per module:

* ``keys`` — virtual keys (``tt-…``), hashed at rest; ``auth`` — who is calling;
* ``budgets`` + ``periods`` — USD limits per key/team/user/customer/tag and period;
* ``estimate`` — the worst case a request can cost, reserved before it goes out;
* ``rate_limits`` — requests and tokens per minute (GCRA);
* ``counters`` — the atomic reserve/settle contract, implemented in-process
  (``reservations``) and in Redis (``redis_backend``, Lua scripts);
* ``webhooks`` — soft-limit alerts; ``store`` — keys, budgets, alerts and ledger spend
  in the ledger database; ``lever`` — admit/settle as the pipeline calls them;
* ``admin_api`` — ``/admin/keys`` and ``/admin/budgets``.

The user-facing description, with the guarantee and its limits, is docs/governance.md.
"""

from __future__ import annotations

import logging

from ..base import Lever
from ..context import LeverContext
from .settings import parse_settings

log = logging.getLogger("tokenthrift.governance")


def build(context: LeverContext) -> Lever | None:
    """The governance lever, or None when ``governance: {enabled: false}``.

    It is built even without any configuration: keys and budgets can be created later
    (admin API, CLI) and must take effect without a restart. It opens its own connection
    to the ledger's database (``ledger`` itself is not used), so key look-ups never wait
    behind the ledger writer.
    """
    config, accountant = context.config, context.accountant
    from .counters import Counters
    from .lever import GovernanceLever
    from .redis_backend import RedisCounters
    from .reservations import MemoryCounters
    from .store import GovernanceStore

    settings = parse_settings(config)
    if not settings.enabled:
        return None
    storage = config.storage
    store = GovernanceStore.for_config(config)
    counters: Counters
    if settings.backend == "redis":
        assert settings.redis_url is not None
        counters = RedisCounters(settings.redis_url, settings.redis_prefix)
    else:
        counters = MemoryCounters()
        if storage.ledger.startswith(("postgres://", "postgresql://")):
            log.warning("governance counters are in-process: with several replicas, budgets "
                        "and rate limits hold per replica only; set storage.redis to share them")
    return GovernanceLever(config, accountant, settings, store, counters)
