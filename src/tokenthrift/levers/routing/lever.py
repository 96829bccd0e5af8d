"""The routing lever: rewrite a request's candidate models to the cheapest one that
should answer it well, and report the saving against the model as asked.

Decision order for a request that selects a policy (``settings.RoutingSettings``):

1. ``x-tokenthrift-route: off`` → the policy's strong model (header ``off``).
2. The task type (``x-tokenthrift-task`` / metadata, else the offline classifier, which
   may abstain) has a rule in ``routing.tasks`` → that model (``rule:<task>``).
3. The complexity router: weak model when P(weak acceptable) clears the threshold of the
   quality target (``x-tokenthrift-quality`` overrides the policy's) (``router:0.83``).

The baseline is the policy's strong model on the same usage; ``unwind`` reports the
difference under ``routing`` whenever the lever changed the model that served.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from ...errors import GatewayError
from ...routes import Candidate, route_candidates
from ..base import Billable, Lever, Unwound
from .router import ComplexityRouter
from .settings import Policy, RoutingSettings
from .tasks import TASKS, TaskClassifier

if TYPE_CHECKING:
    from ...config import GatewayConfig
    from ...exchange import Exchange
    from ...types import ChatRequest

HEADER = "x-tokenthrift-route"
QUALITY_HEADER = "x-tokenthrift-quality"
TASK_HEADER = "x-tokenthrift-task"
# The router reads the end of the conversation: the request being answered now.
_PROMPT_CHARS = 8000


@dataclass(frozen=True, slots=True)
class Decision:
    policy: str
    model: str  # the model name routing chose (a key of config.models)
    baseline: Candidate  # the policy's strong model: what the request costs without routing
    label: str  # the response header value
    task: str | None = None
    probability: float | None = None
    quality_target: float | None = None

    def ledger_note(self) -> dict[str, object]:
        note: dict[str, object] = {"policy": self.policy, "decision": self.label, "model": self.model}
        if self.task:
            note["task"] = self.task
        if self.probability is not None:
            note["p_weak_ok"] = round(self.probability, 4)
            note["quality_target"] = self.quality_target
        return note


class RoutingLever(Lever):
    name: ClassVar[str] = "routing"

    def __init__(self, settings: RoutingSettings, config: GatewayConfig,
                 router: ComplexityRouter, classifier: TaskClassifier | None) -> None:
        self.settings = settings
        self.config = config
        self.router = router
        self.classifier = classifier

    def resolve(self, exchange: Exchange) -> None:
        """A policy name (``auto``) means its strong model, as asked: that is what the
        baseline and governance's worst case are priced on."""
        policy = self.settings.policy_for(exchange.requested_model)
        if policy is None or exchange.requested_model in self.settings.apply_to:
            return
        exchange.candidates = self.candidates(policy.strong)
        exchange.baseline_model = exchange.candidates[0].upstream_model

    async def rewrite(self, exchange: Exchange) -> None:
        policy = self.settings.policy_for(exchange.requested_model)
        if policy is None or exchange.request is None:
            return
        decision = self.decide(exchange, policy)
        exchange.candidates = self.candidates(decision.model)
        exchange.notes[self.name] = decision
        exchange.ledger_notes[self.name] = decision.ledger_note()
        exchange.response_headers[HEADER] = decision.label

    def decide(self, exchange: Exchange, policy: Policy) -> Decision:
        assert exchange.request is not None
        baseline = route_candidates(self.config, policy.strong)[0]
        target = self.quality_target(exchange, policy)  # a bad header is a 400 whatever decides
        if exchange.directives.get(HEADER, "").strip().lower() == "off":
            return Decision(policy.name, policy.strong, baseline, "off")
        task = self.task(exchange)
        if task is not None and task in self.settings.tasks:
            return Decision(policy.name, self.settings.tasks[task], baseline, f"rule:{task}", task)
        p = self.router.probability(prompt_text(exchange.request))
        model = policy.weak if p >= self.router.threshold(target) else policy.strong
        return Decision(policy.name, model, baseline, f"router:{p:.2f}", task, p, target)

    def task(self, exchange: Exchange) -> str | None:
        given = (exchange.directives.get(TASK_HEADER) or exchange.attribution.task or "").strip().lower()
        if given:
            return given
        if self.classifier is None or exchange.request is None:
            return None
        label, _ = self.classifier.classify(prompt_text(exchange.request))
        return label

    def quality_target(self, exchange: Exchange, policy: Policy) -> float:
        raw = exchange.directives.get(QUALITY_HEADER)
        if raw is None:
            return policy.quality_target
        try:
            target = float(raw)
        except ValueError:
            target = -1.0
        if not 0.0 < target <= 1.0:
            raise GatewayError("invalid_request", f"{QUALITY_HEADER} must be a fraction in (0, 1], got {raw!r}",
                               param=QUALITY_HEADER)
        return target

    def candidates(self, model: str) -> list[Candidate]:
        """The chosen model's route and its fallbacks, then ``routing.fallbacks`` for it."""
        chain = list(route_candidates(self.config, model))
        for name in self.settings.fallbacks.get(model, []):
            chain.extend(route_candidates(self.config, name))
        seen: set[tuple[str, str]] = set()
        unique = []
        for candidate in chain:
            key = (candidate.provider_name, candidate.upstream_model)
            if key not in seen:
                seen.add(key)
                unique.append(candidate)
        return unique

    def unwind(self, exchange: Exchange, after: Billable) -> Unwound | None:
        decision: Decision | None = exchange.notes.get(self.name)
        if decision is None or after.model is None:
            return None
        baseline = decision.baseline
        if after.model == baseline.upstream_model and after.provider == baseline.provider_name:
            return None  # served by the model as asked: routing changed nothing
        before = Billable(model=baseline.upstream_model, usage=after.usage, batch=after.batch,
                          protocol=None, provider=baseline.provider_name, gateway_usd=after.gateway_usd)
        return Unwound(self.name, before, f"{decision.label}: {baseline.upstream_model} → {after.model}")


def prompt_text(request: ChatRequest) -> str:
    """The last user message (what the model must answer now), else all of the text."""
    for message in reversed(request.messages):
        if message.role == "user":
            return message.text[-_PROMPT_CHARS:]
    return "\n".join(m.text for m in request.messages)[-_PROMPT_CHARS:]


def build_lever(settings: RoutingSettings, config: GatewayConfig) -> RoutingLever:
    router = ComplexityRouter.load(settings.router) if settings.router else ComplexityRouter.default()
    classifier = TaskClassifier.default() if settings.classify_tasks else None
    return RoutingLever(settings, config, router, classifier)


__all__ = ["TASKS", "Decision", "RoutingLever", "build_lever", "prompt_text"]
