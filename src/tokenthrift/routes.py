"""Where a model name is served: the configured route's upstream model, then its fallbacks.

A neutral module (config in, candidates out) so that the pipeline, governance's cost
estimate and the routing lever agree on what "the model as asked" means.
"""

from __future__ import annotations

from dataclasses import dataclass

from .config import GatewayConfig, ModelRoute
from .errors import GatewayError


@dataclass(frozen=True, slots=True)
class Candidate:
    route: ModelRoute
    upstream_model: str
    provider_name: str


def speaks_anthropic(model: str) -> bool:
    """The emulator serves Claude models over the Anthropic protocol, the rest over OpenAI's."""
    return model.startswith(("claude", "anthropic/"))


def route_candidates(config: GatewayConfig, model: str) -> list[Candidate]:
    """The primary upstream model for ``model`` followed by its configured fallbacks."""
    route = config.route_for(model)
    if route is None:
        raise GatewayError(
            "not_found", f"The model `{model}` does not exist on this gateway.",
            param="model", code="model_not_found",
        )
    chain = [Candidate(route, route.upstream_model or model, route.provider)]
    for name in route.fallbacks:
        fallback = config.route_for(name)
        if fallback is None:
            continue  # validated at start-up; a dangling name is skipped, not fatal
        chain.append(Candidate(fallback, fallback.upstream_model or name, fallback.provider))
    return chain
