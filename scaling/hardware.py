"""Accelerator peaks and the arithmetic between FLOPs, GPU-hours and wall-clock days.

References:
    Vendor datasheets, dense bf16 without sparsity (NVIDIA A100, H100 SXM and H200 SXM datasheets):
    A100 SXM 312 TFLOP/s, H100 SXM 989 TFLOP/s, H200 SXM 989 TFLOP/s.
    MFU (model FLOPs utilisation) = achieved training FLOPs per second / peak
    (Chowdhery et al. 2022, PaLM, Sec. 4.1 and App. B).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from scaling.flops import positive_number

GPU_PEAK_FLOPS: dict[str, float] = {
    "a100": 312e12,  # NVIDIA A100 SXM datasheet, bf16 dense
    "h100": 989e12,  # NVIDIA H100 SXM datasheet, bf16 dense
    "h200": 989e12,  # NVIDIA H200 SXM datasheet, bf16 dense (same compute as H100, more memory)
}
"""Peak dense bf16 FLOP/s per GPU (NVIDIA datasheets, dense, no sparsity)."""

DEFAULT_MFU = 0.4
"""Assumed utilisation when none is given: an assumption, stated in every output. PaLM reports
46.2% MFU for its 540B model (Chowdhery et al. 2022, Table 3); small or untuned runs get less."""

SECONDS_PER_HOUR = 3600.0
HOURS_PER_DAY = 24.0


@dataclass(frozen=True, kw_only=True)
class Hardware:
    """A training setup: which GPU, how many, at what utilisation."""

    gpu: str
    """Key of GPU_PEAK_FLOPS ("a100", "h100", "h200")."""
    gpus: int = 1
    """Number of GPUs training in parallel."""
    mfu: float = DEFAULT_MFU
    """Model FLOPs utilisation in (0, 1]."""

    def __post_init__(self) -> None:
        if self.gpu not in GPU_PEAK_FLOPS:
            raise ValueError(f"gpu: unknown GPU {self.gpu!r}; known: {', '.join(GPU_PEAK_FLOPS)}")
        if isinstance(self.gpus, bool) or not isinstance(self.gpus, int) or self.gpus < 1:
            raise ValueError(f"gpus must be an integer >= 1, got {self.gpus!r}")
        if not (math.isfinite(self.mfu) and 0 < self.mfu <= 1):
            raise ValueError(f"mfu must be in (0, 1], got {self.mfu!r}")

    @property
    def flops_per_second(self) -> float:
        """Achieved training FLOP/s of the whole setup: gpus x peak x mfu."""
        return self.gpus * GPU_PEAK_FLOPS[self.gpu] * self.mfu

    def gpu_hours(self, flops: float) -> float:
        """GPU-hours to spend `flops` training FLOPs: C / (peak x mfu) / 3600."""
        return positive_number("flops", flops) / (GPU_PEAK_FLOPS[self.gpu] * self.mfu) / SECONDS_PER_HOUR

    def days(self, flops: float) -> float:
        """Wall-clock days to spend `flops` on all `gpus` GPUs."""
        return self.gpu_hours(flops) / self.gpus / HOURS_PER_DAY

    def flops_for_gpu_hours(self, gpu_hours: float) -> float:
        """Training FLOPs a budget of `gpu_hours` buys: H x 3600 x peak x mfu."""
        return positive_number("gpu_hours", gpu_hours) * SECONDS_PER_HOUR * GPU_PEAK_FLOPS[self.gpu] * self.mfu

    def flops_for_days(self, days: float) -> float:
        """Training FLOPs `days` of wall-clock on all `gpus` GPUs buy."""
        return self.flops_for_gpu_hours(positive_number("days", days) * HOURS_PER_DAY * self.gpus)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "peak_flops_per_gpu": GPU_PEAK_FLOPS[self.gpu]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Hardware:
        """Read `to_dict` output (the derived peak is recomputed from the GPU name)."""
        return cls(**{k: v for k, v in data.items() if k != "peak_flops_per_gpu"})
