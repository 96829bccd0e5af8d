"""The routing lever: rewrite a request's candidate models to the cheapest one that
should answer it well, and report the saving against the model as asked.

Decision order for a request that selects a policy (``settings.RoutingSettings``):

1. ``x-tokenthrift-route: off`` → the policy's strong model (header ``off``).
2. The task type (``x-tokenthrift-task`` / metadata, else the offline classifier, which
   may abstain) has a rule in ``routing.tasks`` → that model (``rule:<task>``).
3. The complexity router: weak model when P(weak acceptable) clears the threshold of the
   quality target (``x-tokenthrift-quality`` overrides the policy's) (``router:0.83``).

A cascade (``routing.cascade``, asked for by the model name ``cascade`` or by
``x-tokenthrift-route: cascade`` on a policy's request) sends a non-stream request to its
cheapest model first; dispatch escalates while ``cascade.AcceptRules`` rejects the answer
(header ``cascade:<steps taken>``). A stream goes to the last model directly
(``cascade:stream``): it cannot be taken back once the client has seen it.

The baseline is the policy's strong model (a cascade's last model) on the same usage;
``unwind`` reports the difference under ``routing`` whenever the lever changed the model
that served. The answers a cascade rejected were billed: ``observe`` adds their cost to
the request as routing's gateway spend, so it is part of the row's cost and charged
against routing's saving (which is then negative when the cheap answer was rejected).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar

from ...accounting.settlement import Accountant
from ...errors import GatewayError
from ...routes import Candidate, Cascade, route_candidates
from ..base import Billable, Lever, Unwound
from .cascade import CascadeSettings
from .router import ComplexityRouter
from .settings import Policy, RoutingSettings
from .tasks import TASKS, TaskClassifier

if TYPE_CHECKING:
    from ...config import GatewayConfig
    from ...exchange import Exchange
    from ...types import ChatRequest, ChatResponse, WireFormat

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
    # Every deployment of the baseline model: served by any of them, routing changed nothing.
    baseline_pool: frozenset[tuple[str, str]] = frozenset()

    def as_asked(self, after: Billable) -> bool:
        served = (after.provider or "", after.model or "")
        baseline = self.baseline
        return (after.model is None or served in self.baseline_pool
                or served == (baseline.provider_name, baseline.upstream_model))

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
                 router: ComplexityRouter, classifier: TaskClassifier | None,
                 accountant: Accountant | None = None) -> None:
        self.settings = settings
        self.config = config
        self.router = router
        self.classifier = classifier
        self.accountant = accountant
        self._baselines: dict[str, tuple[Candidate, frozenset[tuple[str, str]]]] = {}

    def resolve(self, exchange: Exchange) -> None:
        """A policy name (``auto``) means its strong model, as asked: that is what the
        baseline and governance's worst case are priced on (a cascade: its last model)."""
        requested = exchange.requested_model
        if self.settings.asks_for_cascade(requested):
            assert self.settings.cascade is not None
            model = self.settings.cascade.models[-1]
        else:
            policy = self.settings.policy_for(requested)
            if policy is None or requested in self.settings.apply_to:
                return
            model = policy.strong
        exchange.candidates = self.candidates(model)
        exchange.baseline_model = exchange.candidates[0].upstream_model

    async def rewrite(self, exchange: Exchange) -> None:
        if exchange.request is None:
            return
        strong = self._cascade_baseline(exchange)
        if strong is not None:
            assert self.settings.cascade is not None
            decision = self.start_cascade(exchange, self.settings.cascade, strong)
        else:
            policy = self.settings.policy_for(exchange.requested_model)
            if policy is None:
                return
            decision = self.decide(exchange, policy)
            exchange.candidates = self.candidates(decision.model)
        exchange.notes[self.name] = decision
        exchange.ledger_notes[self.name] = decision.ledger_note()
        exchange.response_headers[HEADER] = decision.label

    def decide(self, exchange: Exchange, policy: Policy) -> Decision:
        assert exchange.request is not None
        baseline, pool = self.baseline(policy.strong)
        target = self.quality_target(exchange, policy)  # a bad header is a 400 whatever decides
        if exchange.directives.get(HEADER, "").strip().lower() == "off":
            return Decision(policy.name, policy.strong, baseline, "off", baseline_pool=pool)
        task = self.task(exchange)
        if task is not None and task in self.settings.tasks:
            return Decision(policy.name, self.settings.tasks[task], baseline, f"rule:{task}", task,
                            baseline_pool=pool)
        p = self.router.probability(prompt_text(exchange.request))
        model = policy.weak if p >= self.router.threshold(target) else policy.strong
        return Decision(policy.name, model, baseline, f"router:{p:.2f}", task, p, target,
                        baseline_pool=pool)

    def baseline(self, model: str) -> tuple[Candidate, frozenset[tuple[str, str]]]:
        """The first deployment of ``model`` and every deployment of it (memoised: only
        model names from the config get here)."""
        found = self._baselines.get(model)
        if found is None:
            chain = route_candidates(self.config, model)
            pool = frozenset((c.provider_name, c.upstream_model) for c in chain
                             if c.pool == chain[0].pool)
            found = self._baselines[model] = (chain[0], pool)
        return found

    # -- cascade ------------------------------------------------------------------------

    def _cascade_baseline(self, exchange: Exchange) -> str | None:
        """The model as asked when this request runs the cascade, else None."""
        cascade = self.settings.cascade
        if cascade is None:
            return None
        if self.settings.asks_for_cascade(exchange.requested_model):
            return cascade.models[-1]
        if exchange.directives.get(HEADER, "").strip().lower() == "cascade":
            policy = self.settings.policy_for(exchange.requested_model)
            return policy.strong if policy is not None else None
        return None

    def start_cascade(self, exchange: Exchange, cascade: CascadeSettings, strong: str) -> Decision:
        assert exchange.request is not None
        baseline, pool = self.baseline(strong)
        last = cascade.models[-1]
        if exchange.directives.get(HEADER, "").strip().lower() == "off" or exchange.stream:
            exchange.candidates = self.candidates(last)
            label = "off" if not exchange.stream else "cascade:stream"
            return Decision("cascade", last, baseline, label, baseline_pool=pool)
        exchange.candidates = self.candidates(cascade.models[0])
        exchange.cascade = Cascade([self.candidates(m) for m in cascade.models[1:]],
                                   partial(cascade.accept.check, exchange.request))
        return Decision("cascade", cascade.models[0], baseline, "cascade:1", baseline_pool=pool)

    async def observe(self, exchange: Exchange, response: ChatResponse | None) -> None:
        """A cascade's outcome: steps taken, what was rejected and why, and the cost of the
        rejected answers as routing's gateway spend."""
        run = exchange.cascade
        decision: Decision | None = exchange.notes.get(self.name)
        if run is None or decision is None or self.settings.cascade is None:
            return
        served = self.settings.cascade.models[max(run.steps_taken, 1) - 1]
        decision = replace(decision, model=served, label=f"cascade:{run.steps_taken}")
        rejected: list[dict[str, Any]] = []
        for answer in run.rejected:
            cost = self._price(Billable(answer.model, answer.usage, protocol=answer.protocol,
                                        provider=answer.provider))
            if cost:
                exchange.add_gateway_cost(self.name, cost)
            rejected.append({"model": answer.model, "reason": answer.reason,
                             "input_tokens": answer.usage.total_input_tokens,
                             "output_tokens": answer.usage.output_tokens,
                             "cost_usd": None if cost is None else round(float(cost), 10)})
        exchange.notes[self.name] = decision
        exchange.ledger_notes[self.name] = {**decision.ledger_note(), "rejected": rejected}
        exchange.response_headers[HEADER] = decision.label

    def _price(self, billable: Billable) -> Decimal | None:
        if self.accountant is None:  # a lever built without the gateway's accountant
            from ...accounting.catalog import PriceCatalog

            self.accountant = Accountant(PriceCatalog(self.config.pricing))
        return self.accountant.price(billable)

    def shape(self, exchange: Exchange, protocol: WireFormat, body: dict[str, Any]) -> None:
        """Ask an OpenAI-protocol cascade step for logprobs when a check reads them."""
        run = exchange.cascade
        if run is None or protocol != "openai" or self.settings.cascade is None:
            return
        if self.settings.cascade.accept.min_mean_logprob is None:
            return
        if run.steps_taken <= len(run.steps):  # not the last step: its answer is judged
            body.setdefault("logprobs", True)

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
        if decision is None:
            return None
        extra = exchange.gateway_costs.get(self.name, Decimal(0))  # rejected cascade answers
        as_asked = decision.as_asked(after)
        if as_asked and not extra:
            return None  # served by the model as asked: routing changed nothing
        baseline = decision.baseline
        if as_asked:
            before = replace(after, gateway_usd=after.gateway_usd - extra)
        else:
            before = Billable(model=baseline.upstream_model, usage=after.usage, batch=after.batch,
                              protocol=None, provider=baseline.provider_name,
                              gateway_usd=after.gateway_usd - extra)
        reason = f"{decision.label}: {baseline.upstream_model} → {after.model or 'no answer'}"
        if extra:
            reason += f" (rejected answers: ${extra})"
        return Unwound(self.name, before, reason)


def prompt_text(request: ChatRequest) -> str:
    """The last user message (what the model must answer now), else all of the text."""
    for message in reversed(request.messages):
        if message.role == "user":
            return message.text[-_PROMPT_CHARS:]
    return "\n".join(m.text for m in request.messages)[-_PROMPT_CHARS:]


def build_lever(settings: RoutingSettings, config: GatewayConfig,
                accountant: Accountant | None = None) -> RoutingLever:
    router = ComplexityRouter.load(settings.router) if settings.router else ComplexityRouter.default()
    classifier = TaskClassifier.default() if settings.classify_tasks else None
    return RoutingLever(settings, config, router, classifier, accountant)


__all__ = ["TASKS", "Decision", "RoutingLever", "build_lever", "prompt_text"]
