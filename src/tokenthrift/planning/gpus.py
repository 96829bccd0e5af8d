"""The GPU catalog: what each GPU can hold and move, and what an hour of it typically costs.

Figures are the vendor's datasheet numbers for the data-centre part (dense bf16 tensor
TFLOPs, i.e. *without* the 2x structured-sparsity figure NVIDIA also prints). Hourly prices
are typical on-demand list prices of one GPU at large clouds and GPU clouds in 2025-2026;
they move often and vary by region and commitment, so ``--gpu-hourly`` overrides them.

Memory is the nominal size printed on the datasheet ("80 GB"); the VRAM estimates compare
decimal gigabytes (1e9 bytes) against it, which leaves the few percent of difference
between GB and GiB as headroom.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class GPU:
    name: str
    memory_gb: float
    bandwidth_gb_s: float  # memory bandwidth, GB/s
    bf16_tflops: float  # dense bf16 tensor throughput
    hourly_usd: Decimal  # typical on-demand price of one GPU
    source: str
    price_source: str

    def as_json(self) -> dict[str, object]:
        return {
            "name": self.name, "memory_gb": self.memory_gb,
            "bandwidth_gb_s": self.bandwidth_gb_s, "bf16_tflops": self.bf16_tflops,
            "hourly_usd": float(self.hourly_usd), "source": self.source,
            "price_source": self.price_source,
        }  # fmt: skip


GPUS: dict[str, GPU] = {
    gpu.name: gpu
    for gpu in (
        GPU("l4", 24, 300, 121, Decimal("0.80"),
            "https://www.nvidia.com/en-us/data-center/l4/ (24 GB GDDR6, 300 GB/s, "
            "242 TFLOPs bf16 with sparsity = 121 dense)",
            "GCP g2-standard-8 on-demand ~$0.85/h; GPU clouds $0.40-0.80/h"),
        GPU("a10g", 24, 600, 70, Decimal("1.01"),
            "https://aws.amazon.com/ec2/instance-types/g5/ (A10G 24 GB, 600 GB/s); "
            "~70 TFLOPs dense bf16 (AWS quotes 250 TFLOPs fp16 with sparsity for 4 GPUs)",
            "AWS g5.xlarge on-demand $1.006/h (us-east-1)"),
        GPU("a100-40gb", 40, 1555, 312, Decimal("1.29"),
            "https://www.nvidia.com/en-us/data-center/a100/ (40 GB HBM2, 1,555 GB/s, "
            "312 TFLOPs bf16 dense)",
            "Lambda on-demand 1x A100 40GB $1.29/h"),
        GPU("a100-80gb", 80, 2039, 312, Decimal("1.79"),
            "https://www.nvidia.com/en-us/data-center/a100/ (80 GB HBM2e SXM, 2,039 GB/s, "
            "312 TFLOPs bf16 dense)",
            "Lambda / RunPod on-demand 1x A100 80GB $1.6-1.8/h"),
        GPU("h100", 80, 3350, 989, Decimal("2.50"),
            "https://www.nvidia.com/en-us/data-center/h100/ (H100 SXM: 80 GB HBM3, "
            "3.35 TB/s, 1,979 TFLOPs bf16 with sparsity = 989 dense)",
            "GPU clouds on-demand 1x H100 $2.0-3.0/h (Lambda $2.49-2.99/h)"),
        GPU("h200", 141, 4800, 989, Decimal("3.50"),
            "https://www.nvidia.com/en-us/data-center/h200/ (141 GB HBM3e, 4.8 TB/s, "
            "989 TFLOPs bf16 dense)",
            "GPU clouds on-demand 1x H200 $3.0-4.0/h"),
    )
}


def gpu(name: str) -> GPU:
    try:
        return GPUS[name.strip().lower()]
    except KeyError:
        raise ValueError(f"unknown GPU {name!r}; choose from {', '.join(GPUS)}") from None
