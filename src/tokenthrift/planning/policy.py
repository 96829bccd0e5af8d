"""The policy a what-if replay prices recorded traffic under (``POLICY.yaml``).

```yaml
cache:                      # which cache hits still happen (default: as recorded)
  exact: true               # false: exact hits are paid at their baseline (as asked)
  semantic: false
routing:
  map:                      # requested model (glob) -> model to serve it instead
    gpt-4o: gpt-4o-mini
  # routing policies, as in the gateway config: decided per request on its stored prompt
  # (storage.prompts: full); rows without one fall back to `map`
  policies:
    auto: {strong: gpt-4o, weak: gpt-4o-mini, quality_target: 0.95}
  tasks: {classification: gpt-4o-mini}   # the row's task -> model
  apply_to: [gpt-4o]        # requested models the policies right-size
  router: path/to/router.json            # default: the built-in router
batch:                      # which traffic goes through the Batch API (default: as recorded)
  tasks: [classification]   # matches the row's task, team or requested model (globs)
  teams: [analytics]
  models: []
self_hosted:                # serve matching traffic from your own GPUs
  model: llama-3.1-8b-local
  gpu_hour_usd: 2.0
  tokens_per_second: 2500
  tasks: [summarize]        # same matching as batch; no filter = all traffic
pricing:                    # extra price overrides (as in the gateway config)
  my-finetune: {input_per_mtok: 0.2, output_per_mtok: 0.6}
```

An empty policy (or one that states what was recorded) must project the recorded cost.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ..accounting.overrides import parse_override
from ..accounting.price import ModelPrice
from ..ledger.record import LedgerRecord
from ..levers.routing.settings import DEFAULT_QUALITY_TARGET, RoutingSettings
from ..levers.routing.settings import Policy as RoutePolicy
from ..levers.routing.tasks import TASKS

_TOP = ("cache", "routing", "batch", "self_hosted", "pricing")
_FILTERS = ("tasks", "teams", "models")
_ROUTING = ("map", "policies", "tasks", "apply_to", "router")


@dataclass(frozen=True, slots=True)
class Selector:
    """Which rows a rule applies to: any listed task, team or requested model (globs)."""

    tasks: tuple[str, ...] = ()
    teams: tuple[str, ...] = ()
    models: tuple[str, ...] = ()

    @property
    def everything(self) -> bool:
        return not (self.tasks or self.teams or self.models)

    def matches(self, row: LedgerRecord) -> bool:
        if self.everything:
            return True
        return (_any(row.task, self.tasks) or _any(row.team, self.teams)
                or _any(row.requested_model, self.models))


def _any(value: str | None, patterns: tuple[str, ...]) -> bool:
    return value is not None and any(fnmatch.fnmatchcase(value, p) for p in patterns)


@dataclass(frozen=True, slots=True)
class SelfHosted:
    model: str
    price: ModelPrice
    selector: Selector


@dataclass(frozen=True, slots=True)
class Policy:
    exact_cache: bool | None = None  # None: as recorded
    semantic_cache: bool | None = None
    model_map: tuple[tuple[str, str], ...] = ()
    batch: Selector | None = None  # None: as recorded
    self_hosted: SelfHosted | None = None
    pricing: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    routing: RoutingSettings | None = None  # routing policies decided on stored prompts

    def mapped_model(self, requested: str) -> str | None:
        for pattern, target in self.model_map:
            if fnmatch.fnmatchcase(requested, pattern):
                return target
        return None


def parse_policy(raw: Any) -> Policy:
    raw = _mapping(raw or {}, "policy")
    _known(raw, _TOP, "")
    cache = _mapping(raw.get("cache") or {}, "cache")
    _known(cache, ("exact", "semantic", "enabled"), "cache.")
    enabled = _bool(cache.get("enabled"), "cache.enabled")
    routing = _mapping(raw.get("routing") or {}, "routing")
    _known(routing, _ROUTING, "routing.")
    model_map = _mapping(routing.get("map") or {}, "routing.map")
    batch = raw.get("batch")
    hosted = raw.get("self_hosted")
    return Policy(
        exact_cache=_first(_bool(cache.get("exact"), "cache.exact"), enabled),
        semantic_cache=_first(_bool(cache.get("semantic"), "cache.semantic"), enabled),
        model_map=tuple((str(k), str(v)) for k, v in model_map.items()),
        batch=None if batch is None else _selector(batch, "batch"),
        self_hosted=None if hosted is None else _self_hosted(hosted),
        pricing={str(k): _mapping(v, f"pricing.{k}")
                 for k, v in _mapping(raw.get("pricing") or {}, "pricing").items()},
        routing=_routing(routing),
    )


def _routing(raw: dict[str, Any]) -> RoutingSettings | None:
    """The routing policies of ``routing:`` (None without any), as the gateway reads them."""
    policies = {str(name): _route_policy(str(name), value) for name, value
                in _mapping(raw.get("policies") or {}, "routing.policies").items()}
    if not policies:
        for key in ("tasks", "apply_to", "router"):
            if raw.get(key) is not None:
                raise ValueError(f"routing.{key}: needs routing.policies")
        return None
    tasks = {}
    for task, model in _mapping(raw.get("tasks") or {}, "routing.tasks").items():
        if task not in TASKS:
            raise ValueError(f"routing.tasks: unknown task {task!r}; allowed: {', '.join(TASKS)}")
        tasks[str(task)] = str(model)
    apply_to = raw.get("apply_to") or []
    if isinstance(apply_to, str):
        apply_to = [apply_to]
    if not isinstance(apply_to, list):
        raise ValueError(f"routing.apply_to: expected a list of models, got {apply_to!r}")
    router = raw.get("router")
    return RoutingSettings(enabled=True, policies=policies, tasks=tasks,
                           apply_to=tuple(str(m) for m in apply_to),
                           router=None if router is None else str(router), classify_tasks=False)


def _route_policy(name: str, raw: Any) -> RoutePolicy:
    where = f"routing.policies.{name}"
    entry = _mapping(raw, where)
    _known(entry, ("strong", "weak", "quality_target"), f"{where}.")
    for key in ("strong", "weak"):
        if not isinstance(entry.get(key), str):
            raise ValueError(f"{where}.{key}: required, a model name")
    target = entry.get("quality_target", DEFAULT_QUALITY_TARGET)
    if isinstance(target, bool) or not isinstance(target, int | float) or not 0 < target <= 1:
        raise ValueError(f"{where}.quality_target: expected a fraction in (0, 1], got {target!r}")
    return RoutePolicy(name, entry["strong"], entry["weak"], float(target))


def _self_hosted(raw: Any) -> SelfHosted:
    entry = _mapping(raw, "self_hosted")
    _known(entry, ("model", "gpu_hour_usd", "tokens_per_second", *_FILTERS), "self_hosted.")
    model = str(entry.get("model") or "self-hosted")
    price_keys = {k: v for k, v in entry.items() if k in ("gpu_hour_usd", "tokens_per_second")}
    try:
        price = parse_override(model, price_keys)
    except ValueError as exc:
        raise ValueError(f"self_hosted: {exc}") from None
    filters = {k: v for k, v in entry.items() if k in _FILTERS}
    return SelfHosted(model, price, _selector(filters, "self_hosted"))


def _selector(raw: Any, where: str) -> Selector:
    entry = _mapping(raw, where)
    _known(entry, _FILTERS, f"{where}.")
    lists = {}
    for key in _FILTERS:
        value = entry.get(key) or []
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            raise ValueError(f"{where}.{key}: expected a list of names, got {value!r}")
        lists[key] = tuple(str(v) for v in value)
    return Selector(**lists)


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"{where}: expected a mapping, got {type(value).__name__}")
    return value


def _known(entry: Mapping[str, Any], keys: tuple[str, ...], prefix: str) -> None:
    for key in entry:
        if key not in keys:
            raise ValueError(f"{prefix}{key}: unknown key; expected one of {', '.join(keys)}")


def _bool(value: Any, where: str) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise ValueError(f"{where}: expected true or false, got {value!r}")


def _first(*values: bool | None) -> bool | None:
    return next((v for v in values if v is not None), None)


__all__ = ["Decimal", "Policy", "Selector", "SelfHosted", "parse_policy"]
