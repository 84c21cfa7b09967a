"""Cost of a plan: GPU-hours, wall-clock days and money for its training FLOPs on given hardware.

Intervals carry over from an interval on the FLOPs (a fitted law's bootstrap draws, when the
FLOPs are derived: a target loss, an inference-aware plan); a given budget has none.

References: scaling.hardware (peaks: vendor datasheets; MFU: Chowdhery et al. 2022, PaLM, Sec. 4.1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from scaling.flops import positive_number
from scaling.hardware import Hardware


@dataclass(frozen=True, kw_only=True)
class Cost:
    """Training FLOPs turned into time and money on `hardware`."""

    hardware: Hardware
    price_per_gpu_hour: float | None
    """Dollars per GPU-hour; None when no price was given (then `dollars` is None)."""
    flops: float
    """Training FLOPs costed."""
    gpu_hours: float
    days: float
    """Wall-clock days on all `hardware.gpus` GPUs."""
    dollars: float | None
    flops_interval: tuple[float, float] | None = None
    gpu_hours_interval: tuple[float, float] | None = None
    days_interval: tuple[float, float] | None = None
    dollars_interval: tuple[float, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in ("price_per_gpu_hour", "flops", "gpu_hours", "days", "dollars")}
        out["hardware"] = self.hardware.to_dict()
        for name in ("flops", "gpu_hours", "days", "dollars"):
            value = getattr(self, f"{name}_interval")
            out[f"{name}_interval"] = list(value) if value is not None else None
        return out


def cost_of(flops: float, hardware: Hardware, price_per_gpu_hour: float | None = None,
            flops_interval: tuple[float, float] | None = None) -> Cost:
    """GPU-hours = C / (peak x MFU) / 3600; days = GPU-hours / gpus / 24; dollars = GPU-hours x price.

    Every quantity is proportional to C, so an interval on C maps to one on each.
    """
    if price_per_gpu_hour is not None:
        positive_number("price_per_gpu_hour", price_per_gpu_hour)

    def convert(c: float) -> tuple[float, float, float | None]:
        hours = hardware.gpu_hours(c)
        return hours, hardware.days(c), None if price_per_gpu_hour is None else hours * price_per_gpu_hour

    gpu_hours, days, dollars = convert(flops)
    intervals: dict[str, Any] = {}
    if flops_interval is not None:
        low, high = convert(flops_interval[0]), convert(flops_interval[1])
        intervals = {"flops_interval": flops_interval, "gpu_hours_interval": (low[0], high[0]),
                     "days_interval": (low[1], high[1]),
                     "dollars_interval": None if dollars is None else (low[2], high[2])}
    return Cost(hardware=hardware, price_per_gpu_hour=price_per_gpu_hour, flops=float(flops),
                gpu_hours=gpu_hours, days=days, dollars=dollars, **intervals)
