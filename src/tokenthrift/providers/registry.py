"""The configured providers, each over the transport the composition root gave it."""

from __future__ import annotations

from collections.abc import Mapping

from ..config import GatewayConfig, ProviderConfig
from ..routes import speaks_anthropic
from .anthropic import AnthropicProvider
from .base import Provider
from .openai import OpenAIProvider
from .transport import HTTPTransport, Transport

DEFAULT_BASE_URLS = {"openai": "https://api.openai.com/v1", "anthropic": "https://api.anthropic.com"}
# Every request through the built-in emulator authenticates as this organisation (unless
# the provider sets an api_key), so its prompt caches behave as for one provider account.
EMULATOR_API_KEY = "tt-emulator-local"


def network_transport(settings: ProviderConfig) -> Transport:
    return HTTPTransport(settings.base_url or DEFAULT_BASE_URLS[settings.type])


def speaks_responses(settings: ProviderConfig) -> bool:
    """Whether an OpenAI-protocol upstream is known to serve the Responses API: OpenAI
    itself. Compatible servers (vLLM, Ollama, Azure…) get Responses requests translated
    to chat completions, which every one of them serves."""
    base = (settings.base_url or DEFAULT_BASE_URLS["openai"]).rstrip("/")
    return base == DEFAULT_BASE_URLS["openai"]


class ProviderSet:
    """All configured providers, created once and shared by every request.

    ``transports`` maps each provider name to its transport: HTTP for network providers,
    the in-process emulator (or anything else speaking HTTP semantics) for the rest. An
    ``emulator`` provider speaks both protocols over one transport, picked per model.
    """

    def __init__(self, config: GatewayConfig, transports: Mapping[str, Transport], *,
                 emulator: object | None = None) -> None:
        self.emulator = emulator
        self._providers: dict[str, Provider] = {}
        self._emulated: dict[str, tuple[Provider, Provider]] = {}
        for name, settings in config.providers.items():
            transport = transports[name]
            if settings.type == "emulator":
                key = settings.api_key or EMULATOR_API_KEY
                self._emulated[name] = (
                    OpenAIProvider(name, transport, api_key=key, path_prefix="/v1",
                                   responses_api=True),
                    AnthropicProvider(name, transport, api_key=key),
                )
            elif settings.type == "anthropic":
                self._providers[name] = AnthropicProvider(
                    name, transport, api_key=settings.api_key, headers=settings.headers)
            else:
                self._providers[name] = OpenAIProvider(
                    name, transport, api_key=settings.api_key, headers=settings.headers,
                    responses_api=speaks_responses(settings))

    def get(self, provider_name: str, upstream_model: str) -> Provider:
        if provider_name in self._emulated:
            openai, anthropic = self._emulated[provider_name]
            return anthropic if speaks_anthropic(upstream_model) else openai
        return self._providers[provider_name]

    def all(self) -> list[Provider]:
        providers = list(self._providers.values())
        for pair in self._emulated.values():
            providers.extend(pair)
        return providers

    async def aclose(self) -> None:
        for provider in self.all():
            await provider.aclose()
