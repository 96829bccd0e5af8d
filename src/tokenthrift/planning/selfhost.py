"""Self-hosting break-even: when does a GPU serving an open model beat the API bill?

The rule of thumb it reproduces exactly (GPU billed for the hours it is utilised):

    monthly GPU cost = hourly price x 24 x 30 hours x utilisation x GPUs
    $2.50/h x 720 h x 0.7 = $1,260/month  vs  $5,000/month of API spend = 25%

    < 50% of the API spend: self-host now
    < 80%: self-host if traffic grows 2x
    else:  stay on the API

That rule applies to GPUs **autoscaled on demand** (billed per hour used, scaled to zero
when idle). A **reserved** GPU is billed around the clock — the same GPU is $1,800/month —
so the report carries both, and the recommendation for each.

Beyond the rule of thumb it checks that the GPUs can carry the traffic (``throughput``:
decode from memory bandwidth, prefill from FLOPs) and says how many GPUs the token volume
needs; the cost then scales with that count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from .gpus import GPU
from .throughput import BANDWIDTH_EFFICIENCY, MFU, replica_throughput
from .vram import VramEstimate

HOURS_PER_MONTH = 24 * 30
SELF_HOST_NOW = "self-host now"
SELF_HOST_IF_2X = "self-host if traffic grows 2x"
STAY = "stay on the API"
# Prompt : completion mix assumed when the traffic is unknown (typical chat/RAG traffic).
DEFAULT_INPUT_SHARE = 0.75


@dataclass(frozen=True, slots=True)
class Traffic:
    """Tokens per month (prompt incl. cached, completion)."""

    input_tokens: float
    output_tokens: float

    @property
    def total(self) -> float:
        return self.input_tokens + self.output_tokens


def recommend(pct_of_api: Decimal) -> str:
    if pct_of_api < 50:
        return SELF_HOST_NOW
    if pct_of_api < 80:
        return SELF_HOST_IF_2X
    return STAY


def plan(*, monthly_api_spend: Decimal, est: VramEstimate, gpu: GPU, hourly: Decimal | None,
         utilization: float, traffic: Traffic | None, batch: int = 32,
         avg_context: int = 2048) -> dict[str, object]:
    if not 0 < utilization <= 1:
        raise ValueError("utilization must be in (0, 1]")
    if monthly_api_spend <= 0:
        raise ValueError("the monthly API spend must be positive")
    price = gpu.hourly_usd if hourly is None else hourly
    util = Decimal(str(utilization))
    rate = replica_throughput(est, gpu, batch=batch, avg_context=avg_context)
    seconds = HOURS_PER_MONTH * 3600 * utilization
    if traffic is not None and traffic.total > 0:
        replicas = max(1, math.ceil(rate.seconds_for(traffic.input_tokens,
                                                     traffic.output_tokens) / seconds))
        share = traffic.input_tokens / traffic.total
    else:
        replicas, share = 1, DEFAULT_INPUT_SHARE
    gpus = replicas * rate.gpus_per_replica
    per_token = rate.seconds_for(share, 1 - share)
    capacity = replicas * seconds / per_token
    utilised = price * HOURS_PER_MONTH * util * gpus
    always_on = price * HOURS_PER_MONTH * gpus
    pct = _pct(utilised, monthly_api_spend)
    pct_reserved = _pct(always_on, monthly_api_spend)
    return {
        "monthly_gpu_cost_usd": float(utilised),
        "monthly_api_spend_usd": float(monthly_api_spend),
        "gpu_as_pct_of_api": float(pct),
        "recommendation": recommend(pct),
        "gpus_needed": gpus,
        "capacity_tokens_per_month": round(capacity),
        "traffic_tokens_per_month": None if traffic is None else round(traffic.total),
        "always_on_monthly_gpu_cost_usd": float(always_on),
        "always_on_gpu_as_pct_of_api": float(pct_reserved),
        "always_on_recommendation": recommend(pct_reserved),
        "applies": (
            "monthly_gpu_cost_usd applies to GPUs autoscaled on demand (billed only for the "
            f"{utilization:.0%} of hours they are utilised); always_on_monthly_gpu_cost_usd "
            "applies to reserved GPUs billed 24x30 hours whatever the load"),
        "assumptions": {
            "model": est.shape.name,
            "quant": est.quant,
            "gpu": gpu.name,
            "gpu_hourly_usd": float(price),
            "gpu_hourly_source": "--gpu-hourly" if hourly is not None else gpu.price_source,
            "utilization": utilization,
            "hours_per_month": HOURS_PER_MONTH,
            "gpus_per_replica": rate.gpus_per_replica,
            "batch_size": rate.batch,
            "avg_context_tokens": avg_context,
            "decode_tokens_per_s_per_replica": round(rate.decode_tokens_per_s),
            "prefill_tokens_per_s_per_replica": round(rate.prefill_tokens_per_s),
            "bandwidth_efficiency": BANDWIDTH_EFFICIENCY,
            "mfu": MFU,
            "input_share": round(share, 4),
            "vram_total_gb": round(est.total_gb, 3),
            "thresholds": "<50% self-host now; <80% self-host if traffic grows 2x; else API",
            "caveats": [
                "the API models in the ledger may be stronger than the self-hosted model: "
                "check quality on your own data before switching",
                "engineering and on-call time are not in the GPU cost",
            ],
        },
    }


def _pct(cost: Decimal, api: Decimal) -> Decimal:
    return (cost / api * 100).quantize(Decimal("0.1"), rounding=ROUND_HALF_EVEN)
