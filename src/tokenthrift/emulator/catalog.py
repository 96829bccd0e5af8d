"""Which models exist, and the per-model rules the providers document.

A model "exists" when the genai-prices catalog (the same one accounting prices with)
knows it for one of the providers below, so the emulator never accepts a model the
gateway could not price, and a typo in a model name fails like it does upstream.
"""

from __future__ import annotations

from functools import lru_cache

from genai_prices import data_snapshot

KNOWN_PROVIDERS = ("openai", "anthropic", "google")

# OpenAI reasoning models bill hidden reasoning as completion tokens
# (completion_tokens_details.reasoning_tokens).
_REASONING_PREFIXES = ("o1", "o3", "o4", "gpt-5", "gpt-6", "codex")

# Reasoning tokens by reasoning_effort. OpenAI does not publish these; the numbers only
# need to be deterministic and ordered so tests can pin them. "medium" is the default.
REASONING_TOKENS = {"minimal": 0, "none": 0, "low": 64, "medium": 192, "high": 512, "xhigh": 1024}

# Anthropic's minimum cacheable prompt length per model (prompt caching docs, "Cache
# limitations"): a breakpoint whose prefix is shorter caches nothing and no error is
# raised. Checked in order; the first matching prefix wins; unlisted models get 1024
# (Sonnet/Opus 4.x, 4.1, 3.7 and 3.5, Opus 3).
_CACHE_MINIMUMS = (
    ("claude-opus-4-5", 4096),
    ("claude-opus-4-6", 4096),
    ("claude-haiku-4-5", 4096),
    ("claude-sonnet-4-6", 2048),
    ("claude-3-5-haiku", 2048),
    ("claude-3-haiku", 2048),
)
DEFAULT_CACHE_MINIMUM = 1024

# OpenAI text-embedding native sizes (embeddings guide).
EMBEDDING_DIMENSIONS = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}


def _bare(model: str) -> str:
    return model.lower().rsplit("/", 1)[-1]


@lru_cache(maxsize=4096)
def priced_provider(model: str) -> str | None:
    """The provider genai-prices knows ``model`` under, or None."""
    snapshot = data_snapshot.get_snapshot()
    for provider_id in KNOWN_PROVIDERS:
        try:
            snapshot.find_provider_model(model, None, provider_id, None)
        except LookupError:
            continue
        return provider_id
    return None


def is_reasoning_model(model: str) -> bool:
    return _bare(model).startswith(_REASONING_PREFIXES)


def cache_minimum(model: str) -> int:
    name = _bare(model)
    for prefix, minimum in _CACHE_MINIMUMS:
        if name.startswith(prefix):
            return minimum
    return DEFAULT_CACHE_MINIMUM


def embedding_dimensions(model: str) -> int:
    """Native vector size; unknown embedding models get text-embedding-3-small's."""
    name = _bare(model)
    for prefix, dims in EMBEDDING_DIMENSIONS.items():
        if name.startswith(prefix):
            return dims
    return 1536


def supports_dimensions(model: str) -> bool:
    # Only the text-embedding-3 family accepts "dimensions" (embeddings API reference).
    return not _bare(model).startswith("text-embedding-ada")


@lru_cache(maxsize=8)
def catalog_models(provider_id: str) -> tuple[tuple[str, str], ...]:
    """(id, display name) of the models genai-prices lists for a provider.

    Catalog entries that are match patterns rather than model ids (fine-tune prefixes
    such as ``ft:gpt-4o``) are left out.
    """
    snapshot = data_snapshot.get_snapshot()
    for provider in snapshot.providers:
        if provider.id == provider_id:
            return tuple(
                (m.id, m.name or m.id)
                for m in provider.models
                if ":" not in m.id and not m.id.endswith(("-", "."))
            )
    return ()
