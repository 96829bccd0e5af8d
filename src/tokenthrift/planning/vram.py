"""How much GPU memory a model needs: weights + KV cache + overhead.

    weights_gb  = parameters x bytes per parameter (fp16/bf16 2, int8 1, int4 0.5) / 1e9
    kv_cache_gb = 2 (keys, values) x layers x kv_heads x head_dim x bytes per KV value
                  x context tokens x concurrent sequences / 1e9
    overhead_gb = 1 GB (CUDA context, runtime) + 10% of weights and KV cache (activations,
                  allocator fragmentation)

This is the arithmetic vLLM and TGI size their KV cache with (PagedAttention allocates the
KV cache for ``context x concurrency`` tokens in the memory the weights leave); the 10%
overhead is a rule of thumb, like vLLM's default ``gpu_memory_utilization=0.9``. int4
formats (AWQ, GPTQ) store a scale per group of 64-128 weights and often keep embeddings in
fp16, so real int4 checkpoints are a few percent larger than ``params / 2``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .gpus import GPU, GPUS
from .shapes import ModelShape

WEIGHT_BYTES = {"fp16": 2.0, "bf16": 2.0, "int8": 1.0, "int4": 0.5}
KV_BYTES = {"fp16": 2.0, "bf16": 2.0, "int8": 1.0, "fp8": 1.0}
RUNTIME_GB = 1.0
OVERHEAD_FRACTION = 0.10
_GB = 1e9


@dataclass(frozen=True, slots=True)
class VramEstimate:
    shape: ModelShape
    quant: str
    kv_quant: str
    context: int
    concurrency: int
    weights_gb: float
    kv_cache_gb: float
    overhead_gb: float

    @property
    def total_gb(self) -> float:
        return self.weights_gb + self.kv_cache_gb + self.overhead_gb

    def fits(self, gpu: GPU) -> bool:
        return self.total_gb <= gpu.memory_gb

    def gpus_to_hold(self, gpu: GPU) -> int:
        """GPUs of this kind a tensor-parallel replica needs to hold it."""
        return max(1, math.ceil(self.total_gb / gpu.memory_gb))

    def cheapest(self) -> tuple[GPU, int]:
        """The GPU kind (and how many) that holds it for the least per hour."""
        options = [(gpu, self.gpus_to_hold(gpu)) for gpu in GPUS.values()]
        return min(options, key=lambda o: (o[0].hourly_usd * o[1], o[0].memory_gb))


def estimate(shape: ModelShape, *, quant: str = "fp16", kv_quant: str = "fp16",
             context: int = 8192, concurrency: int = 1) -> VramEstimate:
    if quant not in WEIGHT_BYTES:
        raise ValueError(f"unknown quantization {quant!r}; choose from {', '.join(WEIGHT_BYTES)}")
    if kv_quant not in KV_BYTES:
        raise ValueError(f"unknown KV quantization {kv_quant!r}; choose from {', '.join(KV_BYTES)}")
    if context < 1 or concurrency < 1:
        raise ValueError("context and concurrency must be at least 1")
    weights = shape.params * WEIGHT_BYTES[quant] / _GB
    kv = shape.kv_bytes_per_token(KV_BYTES[kv_quant]) * context * concurrency / _GB
    overhead = RUNTIME_GB + OVERHEAD_FRACTION * (weights + kv)
    return VramEstimate(shape, quant, kv_quant, context, concurrency, weights, kv, overhead)


def report(est: VramEstimate) -> dict[str, object]:
    """The JSON ``plan vram`` prints: sizes, which GPUs hold it, what quantization saves."""
    fp16 = estimate(est.shape, quant="fp16", kv_quant=est.kv_quant, context=est.context,
                    concurrency=est.concurrency)
    gpu, count = est.cheapest()
    gpu16, count16 = fp16.cheapest()
    hourly = gpu.hourly_usd * count
    hourly16 = gpu16.hourly_usd * count16
    return {
        "model": est.shape.name,
        "params": est.shape.params,
        "quant": est.quant,
        "kv_quant": est.kv_quant,
        "context": est.context,
        "concurrency": est.concurrency,
        "weights_gb": round(est.weights_gb, 3),
        "kv_cache_gb": round(est.kv_cache_gb, 3),
        "overhead_gb": round(est.overhead_gb, 3),
        "total_gb": round(est.total_gb, 3),
        "fits": {name: est.fits(g) for name, g in GPUS.items()},
        "gpus_needed": {name: est.gpus_to_hold(g) for name, g in GPUS.items()},
        "cheapest": {"gpu": gpu.name, "count": count, "hourly_usd": float(hourly)},
        "vs_fp16": {
            "total_gb": round(fp16.total_gb, 3),
            "saved_gb": round(fp16.total_gb - est.total_gb, 3),
            "cheapest": {"gpu": gpu16.name, "count": count16, "hourly_usd": float(hourly16)},
            "saved_hourly_usd": float(hourly16 - hourly),
            "saved_monthly_usd_always_on": float((hourly16 - hourly) * 720),
        },
        "assumptions": {
            "gb": "1e9 bytes; GPU memory is the datasheet's nominal size",
            "overhead": f"{RUNTIME_GB:g} GB runtime + {OVERHEAD_FRACTION:.0%} of weights and KV",
            "kv_bytes_per_token": est.shape.kv_bytes_per_token(KV_BYTES[est.kv_quant]),
            "shape_source": est.shape.source,
        },
    }
