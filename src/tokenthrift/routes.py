"""Where a model name is served: its deployments (the ``models`` entries sharing its
name, a pool), then its fallbacks' deployments; and a cascade's later steps.

A neutral module (config in, candidates out) so that the pipeline, governance's cost
estimate and the routing lever agree on what "the model as asked" means. The order of
a pool's deployments here is the config's; dispatch balances them and moves the ones
cooling down to the end (``pipeline.deployments``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from .config import GatewayConfig, ModelRoute
from .errors import GatewayError
from .types import ChatResponse, Usage, WireFormat


@dataclass(frozen=True, slots=True)
class Candidate:
    route: ModelRoute
    upstream_model: str
    provider_name: str
    # The model name this deployment serves (its pool); "" = the upstream model's.
    model: str = ""

    @property
    def pool(self) -> str:
        return self.model or self.upstream_model


@dataclass(frozen=True, slots=True)
class RejectedAnswer:
    """A cascade step's answer that failed the acceptance check (it was billed)."""

    model: str
    provider: str
    protocol: WireFormat
    usage: Usage
    reason: str


@dataclass(slots=True)
class Cascade:
    """Escalation after ``exchange.candidates``: while ``check`` finds a reason to reject
    an answer (refusal, cut off, invalid JSON…), dispatch tries the next step's
    candidates. The last step's answer is returned whatever it is. Dispatch records what
    it rejected in ``rejected`` (``steps_taken`` counts the steps it called)."""

    steps: list[list[Candidate]]
    check: Callable[[ChatResponse], str | None]
    rejected: list[RejectedAnswer] = field(default_factory=list)
    steps_taken: int = 0


def speaks_anthropic(model: str) -> bool:
    """The emulator serves Claude models over the Anthropic protocol, the rest over OpenAI's."""
    return model.startswith(("claude", "anthropic/"))


def route_candidates(config: GatewayConfig, model: str) -> list[Candidate]:
    """The deployments of ``model`` followed by those of its configured fallbacks."""
    routes = config.routes_for(model)
    if not routes:
        raise GatewayError(
            "not_found", f"The model `{model}` does not exist on this gateway.",
            param="model", code="model_not_found",
        )
    chain = deployments(routes, model)
    fallbacks = dict.fromkeys(name for route in routes for name in route.fallbacks)
    for name in fallbacks:
        # validated at start-up; a dangling name is skipped, not fatal
        chain += deployments(config.routes_for(name), name)
    return chain


def deployments(routes: list[ModelRoute], model: str) -> list[Candidate]:
    return [Candidate(route, route.upstream_model or model, route.provider, model)
            for route in routes]
