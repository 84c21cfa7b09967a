"""The machine a run executes on: device choice, accelerator peak FLOP/s, software versions.

Peaks come from scaling.hardware.GPU_SPECS (NVIDIA datasheets, dense bf16, no sparsity), by the
device name the driver reports.
"""

from __future__ import annotations

import functools

import torch

from scaling.hardware import gpu_spec
from scaling import provenance


def resolve_device(device: str) -> torch.device:
    """"auto" -> CUDA when available, else CPU; "cuda" without a GPU is a ValueError."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested but no CUDA device is available")
    return torch.device(device)


def peak_flops(device: torch.device) -> float | None:
    """Dense bf16 peak of a known GPU variant (scaling.hardware.gpu_spec), None on CPU or an
    unknown GPU (then no MFU is logged, and the trainer says so)."""
    if device.type != "cuda":
        return None
    spec = gpu_spec(torch.cuda.get_device_name(device))
    return spec.peak_flops if spec is not None else None


@functools.cache
def versions() -> dict[str, str]:
    """Versions that can change a run's numbers (scaling.provenance.versions), the CUDA torch was
    built with, and the git commit."""
    return {**provenance.versions(), "cuda": str(torch.version.cuda),
            "git_sha": provenance.git_commit()[0] or "unknown"}  # "unknown": an installed wheel, its version has to do
