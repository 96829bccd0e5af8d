"""What every endpoint shares: configuration, clock, caches and the model check."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .answer_tags import AnswerJournal
from .catalog import priced_provider
from .config import EmulatorConfig
from .prompt_cache import BreakpointCache, PrefixCache
from .replies import ApiError, Protocol


class EmulatorState:
    def __init__(self, config: EmulatorConfig, clock: Callable[[], float]) -> None:
        self.config = config
        self.clock = clock
        self.prefix_cache = PrefixCache(clock, config.openai_cache_ttl_s, config.max_cache_entries)
        self.breakpoint_cache = BreakpointCache(clock, config.max_cache_entries)
        self.answers = AnswerJournal() if config.tag_answers else None

    def is_known_model(self, model: str) -> bool:
        return (
            self.config.accept_any_model
            or model in self.config.extra_models
            or priced_provider(model) is not None
        )

    def require_model(self, model: Any, protocol: Protocol) -> str:
        """The request's model, or the 400/404 the provider answers for a bad one."""
        if not isinstance(model, str) or not model:
            if protocol == "anthropic":
                raise ApiError(400, "model: Field required")
            raise ApiError(400, "you must provide a model parameter")
        if not self.is_known_model(model):
            if protocol == "anthropic":
                raise ApiError(404, f"model: {model}")
            raise ApiError(
                404,
                f"The model `{model}` does not exist or you do not have access to it.",
                code="model_not_found",
            )
        return model

    def clear(self) -> None:
        self.prefix_cache.clear()
        self.breakpoint_cache.clear()
        if self.answers is not None:
            self.answers.clear()
