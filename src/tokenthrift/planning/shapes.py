"""Shapes of common open models: what the weights and the KV cache size depend on.

Numbers come from each model's ``config.json`` on Hugging Face (``num_hidden_layers``,
``num_key_value_heads``, ``head_dim`` or ``hidden_size / num_attention_heads``) and the
parameter count on its model card. Grouped-query attention keeps only ``kv_heads`` key and
value heads per layer, which is why Llama 3.1 8B needs 128 KiB of fp16 KV cache per token
(2 x 32 layers x 8 heads x 128 x 2 bytes) rather than four times that.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ModelShape:
    name: str
    params: float  # parameters held in memory (all experts of a mixture)
    layers: int
    kv_heads: int
    head_dim: int
    # Parameters used per token (a mixture-of-experts model reads fewer than it holds).
    active_params: float | None = None
    source: str = ""

    @property
    def params_per_token(self) -> float:
        return self.active_params or self.params

    def kv_bytes_per_token(self, kv_bytes: float) -> float:
        """Bytes of KV cache one token of context takes (keys and values, every layer)."""
        return 2 * self.layers * self.kv_heads * self.head_dim * kv_bytes


def _hf(repo: str) -> str:
    return f"https://huggingface.co/{repo}/blob/main/config.json"


MODELS: dict[str, ModelShape] = {
    m.name: m
    for m in (
        ModelShape("llama-3.1-8b", 8.03e9, 32, 8, 128, source=_hf("meta-llama/Llama-3.1-8B")),
        ModelShape("llama-3.1-70b", 70.6e9, 80, 8, 128, source=_hf("meta-llama/Llama-3.1-70B")),
        ModelShape("llama-3.1-405b", 405.9e9, 126, 8, 128,
                   source=_hf("meta-llama/Llama-3.1-405B")),
        ModelShape("llama-3.2-3b", 3.21e9, 28, 8, 128, source=_hf("meta-llama/Llama-3.2-3B")),
        ModelShape("qwen2.5-7b", 7.62e9, 28, 4, 128, source=_hf("Qwen/Qwen2.5-7B-Instruct")),
        ModelShape("qwen2.5-14b", 14.7e9, 48, 8, 128, source=_hf("Qwen/Qwen2.5-14B-Instruct")),
        ModelShape("qwen2.5-32b", 32.5e9, 64, 8, 128, source=_hf("Qwen/Qwen2.5-32B-Instruct")),
        ModelShape("qwen2.5-72b", 72.7e9, 80, 8, 128, source=_hf("Qwen/Qwen2.5-72B-Instruct")),
        ModelShape("mistral-7b", 7.25e9, 32, 8, 128,
                   source=_hf("mistralai/Mistral-7B-Instruct-v0.3")),
        ModelShape("mixtral-8x7b", 46.7e9, 32, 8, 128, active_params=12.9e9,
                   source=_hf("mistralai/Mixtral-8x7B-Instruct-v0.1")),
        ModelShape("gemma-2-9b", 9.24e9, 42, 8, 256, source=_hf("google/gemma-2-9b-it")),
        ModelShape("gemma-2-27b", 27.2e9, 46, 16, 128, source=_hf("google/gemma-2-27b-it")),
        ModelShape("phi-3-mini", 3.82e9, 32, 32, 96,
                   source=_hf("microsoft/Phi-3-mini-4k-instruct")),
    )
}
ALIASES = {"llama-3-8b": "llama-3.1-8b", "llama-3.1-8b-instruct": "llama-3.1-8b",
           "llama-3.1-70b-instruct": "llama-3.1-70b", "qwen-2.5-7b": "qwen2.5-7b",
           "qwen-2.5-72b": "qwen2.5-72b", "mistral-7b-instruct": "mistral-7b",
           "gemma-2-9b-it": "gemma-2-9b"}


def model_shape(name: str) -> ModelShape:
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    try:
        return MODELS[key]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; choose from {', '.join(MODELS)} "
                         "or give --params (and --layers/--kv-heads/--head-dim)") from None


def nearest_shape(params: float) -> ModelShape:
    """The dense model in the table closest in size (for a KV estimate without a shape)."""
    dense = [m for m in MODELS.values() if m.active_params is None]
    return min(dense, key=lambda m: abs(m.params - params))
