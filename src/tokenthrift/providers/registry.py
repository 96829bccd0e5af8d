"""Build providers from configuration and pick the one that serves a model."""

from __future__ import annotations

from ..config import GatewayConfig, ProviderConfig
from .anthropic import AnthropicProvider
from .base import Provider
from .emulated import EMULATOR_API_KEY, EmulatorTransport
from .openai import OpenAIProvider
from .transport import HTTPTransport

DEFAULT_BASE_URLS = {"openai": "https://api.openai.com/v1", "anthropic": "https://api.anthropic.com"}


def speaks_anthropic(model: str) -> bool:
    """The emulator serves Claude models over the Anthropic protocol, the rest over OpenAI's."""
    return model.startswith(("claude", "anthropic/"))


class ProviderSet:
    """All configured providers, created once and shared by every request."""

    def __init__(self, config: GatewayConfig, emulator: object | None = None) -> None:
        self._emulator = emulator
        self._providers: dict[str, Provider] = {}
        self._emulated: dict[str, tuple[Provider, Provider]] = {}
        for name, settings in config.providers.items():
            if settings.type == "emulator":
                self._emulated[name] = self._emulator_pair(settings)
            else:
                self._providers[name] = _network_provider(settings)

    def _emulator_pair(self, settings: ProviderConfig) -> tuple[Provider, Provider]:
        if self._emulator is None:
            from ..emulator import Emulator, EmulatorConfig

            self._emulator = Emulator(EmulatorConfig(**settings.emulator))
        transport = EmulatorTransport(self._emulator)  # type: ignore[arg-type]
        key = settings.api_key or EMULATOR_API_KEY
        return (
            OpenAIProvider(settings.name, transport, api_key=key, path_prefix="/v1"),
            AnthropicProvider(settings.name, transport, api_key=key),
        )

    @property
    def emulator(self) -> object | None:
        return self._emulator

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


def _network_provider(settings: ProviderConfig) -> Provider:
    base_url = settings.base_url or DEFAULT_BASE_URLS[settings.type]
    transport = HTTPTransport(base_url)
    cls = AnthropicProvider if settings.type == "anthropic" else OpenAIProvider
    return cls(settings.name, transport, api_key=settings.api_key, headers=settings.headers)
