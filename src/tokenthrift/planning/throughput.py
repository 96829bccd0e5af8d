"""What one replica of a model serves per second on a GPU, from first principles.

* **Decode** (one new token per sequence per step) is memory-bound: each step reads every
  weight once plus each sequence's KV cache, so a step takes
  ``(weight bytes + batch x KV bytes per sequence) / bandwidth`` and yields ``batch``
  tokens. It turns compute-bound only at large batches (``2 x params x batch`` FLOPs).
* **Prefill** (reading the prompt) is compute-bound: ``2 x params`` FLOPs per token.

Real servers reach a fraction of the datasheet peaks; ``BANDWIDTH_EFFICIENCY`` and ``MFU``
are typical of vLLM on H100/A100 class GPUs (60-80% of peak bandwidth in decode, 30-50%
model FLOPs utilisation in prefill).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .gpus import GPU
from .vram import KV_BYTES, WEIGHT_BYTES, VramEstimate

BANDWIDTH_EFFICIENCY = 0.7
MFU = 0.4


@dataclass(frozen=True, slots=True)
class Throughput:
    gpus_per_replica: int
    batch: int  # concurrent sequences decoded together
    decode_tokens_per_s: float
    prefill_tokens_per_s: float

    def seconds_for(self, input_tokens: float, output_tokens: float) -> float:
        """Replica-seconds to serve that many prompt and completion tokens."""
        return input_tokens / self.prefill_tokens_per_s + output_tokens / self.decode_tokens_per_s


def replica_throughput(est: VramEstimate, gpu: GPU, *, batch: int, avg_context: int
                       ) -> Throughput:
    """Throughput of one replica (tensor-parallel over as many GPUs as hold the weights).

    ``batch`` is capped by the KV cache that fits next to the weights at ``avg_context``.
    """
    shape = est.shape
    gpus = est.gpus_to_hold(gpu)
    memory = gpu.memory_gb * gpus * 1e9
    weight_bytes = shape.params * WEIGHT_BYTES[est.quant]
    kv_per_seq = shape.kv_bytes_per_token(KV_BYTES[est.kv_quant]) * avg_context
    free = memory * 0.9 - weight_bytes - 1e9 * gpus
    fits = max(1, math.floor(free / kv_per_seq)) if free > 0 else 1
    batch = max(1, min(batch, fits))
    bandwidth = gpu.bandwidth_gb_s * 1e9 * gpus * BANDWIDTH_EFFICIENCY
    flops = gpu.bf16_tflops * 1e12 * gpus * MFU
    # A mixture of experts reads only the active experts' weights per token at small
    # batches; at the batches servers run, most experts are touched every step.
    step_memory = (weight_bytes + batch * kv_per_seq) / bandwidth
    step_compute = 2 * shape.params_per_token * batch / flops
    decode = batch / max(step_memory, step_compute)
    prefill = flops / (2 * shape.params_per_token)
    return Throughput(gpus, batch, decode, prefill)
