"""Deployments: the health and load of each upstream deployment, and the order in which
dispatch tries a request's candidates.

A *deployment* is one ``models`` entry: a model name served by a provider under an
upstream model name (two OpenAI keys are two providers, Azure is a third). Entries
sharing a name are a *pool*; ``routes.route_candidates`` lists a pool's deployments in
config order, then its fallbacks' pools. For each request this module

* **balances** each pool: ``weighted`` draws an order at random with each deployment's
  ``weight`` (weighted sampling without replacement, so the first choice is
  proportional to the weights and the others stay in line as fallbacks); ``least_busy``
  puts the deployment with the fewest requests in flight (in this process) first, ties
  broken by the weighted draw;
* **cools down** a deployment that keeps failing: ``cooldown.failures`` failed attempts
  (401/403/408/429, 5xx, timeouts, cut connections) within ``cooldown.window_s`` move it
  to the end of every request's order for ``cooldown.period_s``. Then one request is let
  through as a probe: success closes the cooldown, failure starts another period.
  A deployment cooling down is moved, never dropped: when every candidate is cooling
  the request is still tried, in order.

Nothing here is shared between worker processes: each keeps its own counts (a
deployment that fails everywhere cools down everywhere within a few requests).
"""

from __future__ import annotations

import logging
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from ..config import GatewayConfig, RoutingStrategy
from ..routes import Candidate

log = logging.getLogger("tokenthrift.pipeline.deployments")

Key = tuple[str, str]  # (provider, upstream model): one deployment


def key_of(candidate: Candidate) -> Key:
    return candidate.provider_name, candidate.upstream_model


@dataclass(slots=True)
class _Health:
    """A deployment that failed recently (healthy ones have no entry)."""

    failures: deque[float] = field(default_factory=deque)
    cooling_until: float | None = None
    probing: bool = False


class Deployments:
    def __init__(self, config: GatewayConfig, *, clock: Callable[[], float] = time.monotonic,
                 rng: random.Random | None = None) -> None:
        self.cooldown = config.cooldown
        self.strategy: RoutingStrategy = config.routing_strategy
        self._strategies: dict[str, RoutingStrategy] = {
            route.name: route.routing_strategy for route in config.models
            if route.routing_strategy is not None}
        names = [route.name for route in config.models]
        # Without pools nothing needs balancing: the order is the config's.
        self._pooled = len(set(names)) < len(names)
        self._clock = clock
        self._rng = rng or random.Random()
        self._in_flight: dict[Key, int] = {}
        self._health: dict[Key, _Health] = {}
        self._cooling: set[Key] = set()

    # -- order ------------------------------------------------------------------------

    def order(self, chain: list[Candidate]) -> list[Candidate]:
        """The order to try ``chain`` in: each pool balanced, deployments cooling down last."""
        if not self._pooled and not self._cooling:
            return chain  # the hot path: nothing to decide
        ordered = self._balance(chain) if self._pooled else chain
        if not self._cooling:
            return ordered
        now = self._clock()
        ready = [c for c in ordered if self._ready(key_of(c), now)]
        if len(ready) == len(ordered):
            return ordered
        return ready + [c for c in ordered if not self._ready(key_of(c), now)]

    def _balance(self, chain: list[Candidate]) -> list[Candidate]:
        out: list[Candidate] = []
        start = 0
        while start < len(chain):
            end = start + 1
            while end < len(chain) and chain[end].pool == chain[start].pool:
                end += 1
            group = chain[start:end]
            out += self._pool_order(group) if len(group) > 1 else group
            start = end
        return out

    def _pool_order(self, pool: list[Candidate]) -> list[Candidate]:
        rng = self._rng
        # Efraimidis-Spirakis: sorting by u^(1/w) is weighted sampling without replacement.
        drawn = [(rng.random() ** (1.0 / c.route.weight), c) for c in pool]
        strategy = self._strategies.get(pool[0].route.name, self.strategy)
        if strategy == "least_busy":
            in_flight = self._in_flight
            drawn.sort(key=lambda kc: (in_flight.get(key_of(kc[1]), 0), -kc[0]))
        else:
            drawn.sort(key=lambda kc: -kc[0])
        return [c for _, c in drawn]

    def _ready(self, key: Key, now: float) -> bool:
        health = self._health.get(key)
        if health is None or health.cooling_until is None:
            return True
        return now >= health.cooling_until and not health.probing

    # -- attempts ---------------------------------------------------------------------

    def started(self, candidate: Candidate) -> bool:
        """An attempt on ``candidate`` begins; True when it is the probe of a cooldown."""
        key = key_of(candidate)
        self._in_flight[key] = self._in_flight.get(key, 0) + 1
        if key not in self._cooling:
            return False
        health = self._health[key]
        assert health.cooling_until is not None
        if health.probing or self._clock() < health.cooling_until:
            return False
        health.probing = True
        return True

    def record(self, candidate: Candidate, *, probe: bool, failed: bool | None) -> None:
        """The attempt's outcome: ``failed`` True (the deployment's fault), False (it
        answered) or None (neither: the request was wrong, or the client left)."""
        key = key_of(candidate)
        if failed is None:
            if probe:
                self._health[key].probing = False  # another request may probe
        elif failed:
            self._failed(key, probe)
        elif key in self._health:
            self._recovered(key)

    def done(self, candidate: Candidate) -> None:
        """The request on ``candidate`` is no longer in flight (a stream: when it ends)."""
        key = key_of(candidate)
        left = self._in_flight.get(key, 0) - 1
        if left > 0:
            self._in_flight[key] = left
        else:
            self._in_flight.pop(key, None)

    def _failed(self, key: Key, probe: bool) -> None:
        if not self.cooldown.enabled:
            return
        now = self._clock()
        health = self._health.setdefault(key, _Health())
        if health.cooling_until is not None:
            health.probing = False
            if probe or now >= health.cooling_until:
                self._cool(key, health, now, "its probe failed")
            return
        failures = health.failures
        failures.append(now)
        while failures and failures[0] <= now - self.cooldown.window_s:
            failures.popleft()
        if len(failures) >= self.cooldown.failures:
            failures.clear()
            self._cool(key, health, now, f"{self.cooldown.failures} failures within "
                                         f"{self.cooldown.window_s:g}s")

    def _cool(self, key: Key, health: _Health, now: float, why: str) -> None:
        health.cooling_until = now + self.cooldown.period_s
        self._cooling.add(key)
        log.warning("deployment %s/%s cools down for %gs: %s", key[0], key[1],
                    self.cooldown.period_s, why)

    def _recovered(self, key: Key) -> None:
        health = self._health[key]
        if health.cooling_until is None:
            return  # healthy: earlier failures age out of the window
        del self._health[key]
        self._cooling.discard(key)
        log.info("deployment %s/%s answered again: cooldown over", key[0], key[1])

    # -- inspection -------------------------------------------------------------------

    def state(self, candidate: Candidate) -> str:
        """``ok``, ``cooling`` or ``probing`` (``ready`` once a cooldown's period is over)."""
        health = self._health.get(key_of(candidate))
        if health is None or health.cooling_until is None:
            return "ok"
        if health.probing:
            return "probing"
        return "ready" if self._clock() >= health.cooling_until else "cooling"

    def in_flight(self, candidate: Candidate) -> int:
        return self._in_flight.get(key_of(candidate), 0)


__all__ = ["Deployments", "Key", "key_of"]
