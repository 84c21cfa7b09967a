"""The machine a run executes on (scaling.training.runtime): the device a config asks for, the
peak an MFU is measured against, the versions a record carries."""

import subprocess

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from scaling.provenance import CHECKOUT, __version__  # noqa: E402
from scaling.training.runtime import peak_flops, resolve_device, versions  # noqa: E402


def test_auto_is_cuda_when_there_is_one_else_cpu():
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu") == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is here")
def test_cuda_without_a_gpu_is_refused():
    with pytest.raises(ValueError, match="no CUDA device"):
        resolve_device("cuda")


def test_peak_is_the_datasheet_figure_of_the_gpu_the_driver_names(monkeypatch):
    assert peak_flops(torch.device("cpu")) is None  # no MFU on a CPU
    # NVIDIA H100 SXM datasheet: 989 TFLOP/s dense BF16 (1,979 with sparsity); A100: 312.
    # H100 PCIe 756, H100 NVL 835 (same datasheet); L40S 362 (L40S datasheet); B200 2,250 (HGX B200).
    for name, peak in (("NVIDIA H100 80GB HBM3", 989e12), ("NVIDIA A100-SXM4-80GB", 312e12),
                       ("NVIDIA H100 PCIe", 756e12), ("NVIDIA H100 NVL", 835e12), ("NVIDIA L40S", 362e12),
                       ("NVIDIA B200", 2250e12)):
        monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None, name=name: name)
        assert peak_flops(torch.device("cuda", 0)) == pytest.approx(peak, rel=0.01)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Some Future Accelerator")
    assert peak_flops(torch.device("cuda", 0)) is None  # unknown: no MFU rather than a wrong one


def test_versions_are_those_of_the_modules_loaded():
    found = versions()
    assert found["torch"] == torch.__version__ and found["numpy"] == np.__version__
    assert found["scaling"] == __version__ and found["cuda"] == str(torch.version.cuda)
    if (CHECKOUT / ".git").exists():
        head = subprocess.run(["git", "-C", str(CHECKOUT), "rev-parse", "HEAD"], capture_output=True, text=True)
        assert found["git_sha"] == head.stdout.strip()
