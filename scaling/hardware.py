"""Accelerators: which GPU is here, each variant's peak and memory, and the arithmetic between
FLOPs, GPU-hours and wall-clock days.

`visible_gpus()` is the one answer to "which GPUs may this process use" (read through
`nvidia-smi`, so a sweep's parent never initialises CUDA before its workers start);
`gpu_spec(name)` maps a device name as the driver reports it ("NVIDIA H100 80GB HBM3",
"NVIDIA H100 PCIe", "NVIDIA A100-SXM4-80GB") or a short key ("h100-pcie") to its `GpuSpec`,
None for a GPU this table does not know (then no MFU is logged, and the caller says so).

References:
    Vendor datasheets, dense bf16 Tensor Core throughput without sparsity (the datasheets print
    the sparse figure, twice these, beside it):
    NVIDIA A100 Tensor Core GPU datasheet (SXM4 and PCIe: 312 TFLOP/s; 40 or 80 GB);
    NVIDIA H100 Tensor Core GPU datasheet (SXM5 989 TFLOP/s, 80 GB; PCIe 756, 80 GB; NVL 835, 94 GB);
    NVIDIA H200 Tensor Core GPU datasheet (SXM 989 TFLOP/s, 141 GB; NVL 835, 141 GB);
    NVIDIA L40S datasheet (362 TFLOP/s, 48 GB GDDR6);
    NVIDIA DGX B200 / HGX B200 datasheet (2.25 PFLOP/s dense per GPU, 180 GB HBM3e).
    MFU (model FLOPs utilisation) = achieved model FLOPs per second / peak
    (Chowdhery et al. 2022, PaLM, Sec. 4.1 and App. B).
"""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
from dataclasses import asdict, dataclass
from typing import Any

from scaling.flops import positive_number

GB = 1e9
"""Datasheets give memory in decimal gigabytes."""


@dataclass(frozen=True)
class GpuSpec:
    """One GPU variant as its datasheet describes it."""

    key: str
    """Short name ("h100", "h100-pcie"): what `--gpu` and `Hardware.gpu` take."""
    name: str
    peak_flops: float
    """Dense bf16 Tensor Core FLOP/s, no sparsity."""
    memory: float
    """Bytes of device memory (decimal GB, as the datasheet says)."""


GPU_SPECS: tuple[GpuSpec, ...] = (
    GpuSpec("a100", "A100 SXM4 80GB", 312e12, 80 * GB),
    GpuSpec("a100-pcie", "A100 PCIe 80GB", 312e12, 80 * GB),
    GpuSpec("h100", "H100 SXM5", 989e12, 80 * GB),
    GpuSpec("h100-pcie", "H100 PCIe", 756e12, 80 * GB),
    GpuSpec("h100-nvl", "H100 NVL", 835e12, 94 * GB),
    GpuSpec("h200", "H200 SXM", 989e12, 141 * GB),
    GpuSpec("h200-nvl", "H200 NVL", 835e12, 141 * GB),
    GpuSpec("l40s", "L40S", 362e12, 48 * GB),
    GpuSpec("b200", "B200 (HGX)", 2250e12, 180 * GB),
)
"""Every variant this package knows, from the datasheets in the module references."""

GPU_PEAK_FLOPS: dict[str, float] = {spec.key: spec.peak_flops for spec in GPU_SPECS}
"""Peak dense bf16 FLOP/s per GPU key (GPU_SPECS)."""

_FAMILIES = ("a100", "h100", "h200", "l40s", "b200")


def gpu_spec(name: str) -> GpuSpec | None:
    """The variant a driver's device name (or a key of GPU_SPECS) denotes, None if unknown.

    The family is the model number in the name; "PCIe" and "NVL" in it pick those variants,
    anything else is the SXM part (the driver names SXM parts without the word: "NVIDIA H100
    80GB HBM3", "NVIDIA A100-SXM4-80GB"). An A100 named with 40GB gets 40 GB of memory.
    """
    text = name.lower()
    by_key = {spec.key: spec for spec in GPU_SPECS}
    if text in by_key:
        return by_key[text]
    family = next((f for f in _FAMILIES if re.search(rf"\b{f}\b", text.replace("-", " "))), None)
    if family is None:
        return None
    variant = "-nvl" if "nvl" in text else "-pcie" if "pcie" in text else ""
    spec = by_key.get(family + variant, by_key[family])
    if family == "a100" and "40gb" in text:
        spec = GpuSpec(spec.key, spec.name.replace("80GB", "40GB"), spec.peak_flops, 40 * GB)
    return spec


@dataclass(frozen=True)
class Gpu:
    """One GPU this process may use."""

    id: str
    """What CUDA_VISIBLE_DEVICES takes for it (an index or a UUID)."""
    name: str
    """The driver's device name."""
    memory: float
    """Bytes of device memory the driver reports."""

    @property
    def spec(self) -> GpuSpec | None:
        return gpu_spec(self.name)


def visible_gpus() -> list[Gpu]:
    """The GPUs this process may use: `nvidia-smi`'s list, narrowed to CUDA_VISIBLE_DEVICES when
    set (an empty or "-1" value hides every GPU). Without a driver, an empty list.

    Read without importing torch, so a parent process never initialises CUDA before its
    workers start. The one place this package asks which GPUs are here.
    """
    listing = _nvidia_smi()
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is None:
        return listing
    wanted = [g.strip() for g in env.split(",") if g.strip()]
    if "-1" in wanted:
        wanted = wanted[:wanted.index("-1")]  # CUDA ignores the list from the first invalid id
    found = []
    for item in wanted:
        match = next((g for g in listing if item in (g.id, g.uuid)), None) if listing else None
        found.append(Gpu(item, match.name, match.memory) if match else Gpu(item, "unknown GPU", 0.0))
    return found


@dataclass(frozen=True)
class _Listed(Gpu):
    uuid: str = ""


def _nvidia_smi() -> list[_Listed]:
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        done = subprocess.run(["nvidia-smi", "--query-gpu=index,uuid,name,memory.total",
                               "--format=csv,noheader,nounits"], capture_output=True, text=True, timeout=10,
                              check=True)
    except (subprocess.SubprocessError, OSError):
        return []
    gpus = []
    for line in done.stdout.splitlines():
        fields = [f.strip() for f in line.split(",")]
        if len(fields) == 4 and fields[0].isdigit():
            memory = float(fields[3]) * 2**20 if fields[3].replace(".", "").isdigit() else 0.0  # MiB
            gpus.append(_Listed(fields[0], fields[2], memory, fields[1]))
    return gpus


DEFAULT_MFU = 0.4
"""Assumed utilisation when none is given: an assumption, stated in every output. PaLM reports
46.2% MFU for its 540B model (Chowdhery et al. 2022, Table 3); small or untuned runs get less."""

SECONDS_PER_HOUR = 3600.0
HOURS_PER_DAY = 24.0


@dataclass(frozen=True, kw_only=True)
class Hardware:
    """A training setup: which GPU, how many, at what utilisation."""

    gpu: str
    """Key of GPU_SPECS ("a100", "h100", "h100-pcie", "h200", "l40s", "b200", ...)."""
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
