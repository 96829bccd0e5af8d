"""The ``routing:`` section of the gateway config.

```yaml
routing:
  policies:
    auto: {strong: gpt-4o, weak: gpt-4o-mini, quality_target: 0.95}
  tasks: {classification: gpt-4o-mini, extraction: gpt-4o-mini, summarization: gpt-4o-mini,
          simple_qa: gpt-4o-mini, complex_reasoning: gpt-4o, code_generation: claude-sonnet-4-5}
  apply_to: [gpt-4o]          # requests for these models may be right-sized
  fallbacks: {gpt-4o: [claude-sonnet-4-5]}
  router: path/to/router.json # default: the built-in router
  classify_tasks: true        # run the task classifier when the client gave no task
  cascade: {models: [gpt-4o-mini, gpt-4o], accept: {...}}   # see cascade.py
```

A client asks for a policy by model name (``auto`` or ``tokenthrift/auto``), or for a
model in ``apply_to`` (then the policy whose ``strong`` is that model applies, else the
first policy with that model as its strong one). The model name ``cascade`` (or
``tokenthrift/cascade``) asks for ``routing.cascade``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ...config import GatewayConfig
from ...config_section import (
    ConfigError,
    boolean,
    check_keys,
    expected,
    mapping,
    number,
    optional_text,
    text,
    text_list,
)
from .cascade import CASCADE_MODEL, CascadeSettings, parse_cascade
from .tasks import TASKS

_KEYS = ("enabled", "policies", "tasks", "apply_to", "fallbacks", "router", "classify_tasks",
         "cascade")
_POLICY_KEYS = ("strong", "weak", "quality_target")
POLICY_PREFIX = "tokenthrift/"
DEFAULT_QUALITY_TARGET = 0.95


@dataclass(frozen=True, slots=True)
class Policy:
    name: str
    strong: str
    weak: str
    quality_target: float = DEFAULT_QUALITY_TARGET


@dataclass(frozen=True, slots=True)
class RoutingSettings:
    enabled: bool = False
    policies: dict[str, Policy] = field(default_factory=dict)
    tasks: dict[str, str] = field(default_factory=dict)
    apply_to: tuple[str, ...] = ()
    fallbacks: dict[str, list[str]] = field(default_factory=dict)
    router: str | None = None
    classify_tasks: bool = True
    cascade: CascadeSettings | None = None

    def asks_for_cascade(self, model: str) -> bool:
        return self.cascade is not None and model.removeprefix(POLICY_PREFIX) == CASCADE_MODEL

    def policy_for(self, model: str) -> Policy | None:
        """The policy a requested model name selects, or None (routing leaves it alone)."""
        name = model.removeprefix(POLICY_PREFIX)
        if name in self.policies:
            return self.policies[name]
        if model not in self.apply_to:
            return None
        for policy in self.policies.values():
            if policy.strong == model:
                return policy
        first = next(iter(self.policies.values()), None)
        weak = first.weak if first else model
        target = first.quality_target if first else DEFAULT_QUALITY_TARGET
        return Policy(name=model, strong=model, weak=weak, quality_target=target)

    @classmethod
    def from_config(cls, config: GatewayConfig) -> RoutingSettings:
        raw = mapping(config.lever("routing"), "routing")
        if not raw:
            return cls()
        check_keys(raw, _KEYS, "routing")
        policies = {
            str(name): _policy(str(name), value)
            for name, value in mapping(raw.get("policies"), "routing.policies").items()
        }
        tasks: dict[str, str] = {}
        for task, model in mapping(raw.get("tasks"), "routing.tasks").items():
            if task not in TASKS:
                raise ConfigError(f"routing.tasks: unknown task {task!r}; allowed: {', '.join(TASKS)}")
            tasks[str(task)] = text(model, f"routing.tasks.{task}")
        fallbacks = {
            str(model): text_list(chain, f"routing.fallbacks.{model}")
            for model, chain in mapping(raw.get("fallbacks"), "routing.fallbacks").items()
        }
        settings = cls(
            enabled=boolean(raw.get("enabled", True), "routing.enabled"),
            policies=policies, tasks=tasks,
            apply_to=tuple(text_list(raw.get("apply_to") or [], "routing.apply_to")),
            fallbacks=fallbacks,
            router=optional_text(raw.get("router"), "routing.router"),
            classify_tasks=boolean(raw.get("classify_tasks", True), "routing.classify_tasks"),
            cascade=parse_cascade(raw.get("cascade")),
        )
        if settings.cascade is not None and CASCADE_MODEL in policies:
            raise ConfigError(f"routing.policies.{CASCADE_MODEL}: the name {CASCADE_MODEL!r} asks "
                              f"for routing.cascade; give the policy another name")
        settings.check_models(config)
        return settings

    def check_models(self, config: GatewayConfig) -> None:
        """Every model routing may send to must be servable by the config's ``models``."""
        named: list[tuple[str, str]] = []
        for policy in self.policies.values():
            named += [(f"routing.policies.{policy.name}.strong", policy.strong),
                      (f"routing.policies.{policy.name}.weak", policy.weak)]
        named += [(f"routing.tasks.{task}", model) for task, model in self.tasks.items()]
        named += [(f"routing.fallbacks.{m}", f) for m, chain in self.fallbacks.items() for f in chain]
        if self.cascade is not None:
            named += [("routing.cascade.models", m) for m in self.cascade.models]
        for where, model in named:
            if config.route_for(model) is None:
                raise ConfigError(f"{where}: model {model!r} is not served by any entry of models")


def _policy(name: str, raw: Any) -> Policy:
    where = f"routing.policies.{name}"
    values = mapping(raw, where, none_ok=False)
    check_keys(values, _POLICY_KEYS, where)
    for key in ("strong", "weak"):
        if key not in values:
            raise ConfigError(f"{where}.{key}: required")
    target = number(values.get("quality_target", DEFAULT_QUALITY_TARGET), f"{where}.quality_target")
    if not 0.0 < target <= 1.0:
        raise expected(f"{where}.quality_target", "a fraction in (0, 1]", values["quality_target"])
    return Policy(name, text(values["strong"], f"{where}.strong"), text(values["weak"], f"{where}.weak"),
                  target)
