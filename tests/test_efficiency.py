"""Utilisation: the peak table tells GPUs apart by torch's device name; MFU leaves
checkpoint recomputation out, HFU counts it."""

from __future__ import annotations

import pytest

from mobius_core.measure import efficiency


@pytest.fixture(autouse=True)
def _no_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(efficiency.OVERRIDE, raising=False)


# dense TFLOP/s from NVIDIA's data sheets (the starred sparse figures halved)
@pytest.mark.parametrize(
    ("name", "dtype", "peak", "label"),
    [
        ("NVIDIA H100 80GB HBM3", "bf16", 989.5, "H100 SXM"),
        ("NVIDIA H100 80GB HBM3", "fp32", 67.0, "H100 SXM"),
        ("NVIDIA H100 PCIe", "bf16", 756.5, "H100 PCIe"),
        ("NVIDIA H100 PCIe", "tf32", 378.0, "H100 PCIe"),
        ("NVIDIA H100 NVL", "fp16", 835.5, "H100 NVL"),
        ("NVIDIA H100 NVL", "fp32", 60.0, "H100 NVL"),
        ("NVIDIA H200", "bf16", 989.5, "H200 SXM"),
        ("NVIDIA H200 NVL", "bf16", 835.5, "H200 NVL"),
        ("NVIDIA A100-SXM4-80GB", "fp32", 19.5, "A100"),
        ("NVIDIA A100 80GB PCIe", "tf32", 156.0, "A100"),
    ],
)
def test_peak_by_device_name(name: str, dtype: str, peak: float, label: str) -> None:
    assert efficiency.peak_tflops(name, dtype) == (peak, f"table: {label} {dtype} dense")


def test_unknown_and_absent_gpus_name_the_override() -> None:
    for name in ("NVIDIA L4", "NVIDIA GH200 480GB"):  # GH200 is not an H200
        peak, reason = efficiency.peak_tflops(name, "bf16")
        assert peak is None and efficiency.OVERRIDE in reason
    result = efficiency.utilisation(10**12, 0, 1000.0, None, "fp32")
    assert result.mfu is None and result.hfu is None and "no GPU" in result.absent["mfu"]


def test_mfu_leaves_recomputation_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(efficiency.OVERRIDE, "100")
    # 150 TFLOP per step, 50 of them recomputation, one step per second, 100 TFLOP/s peak
    result = efficiency.utilisation(150 * 10**12, 50 * 10**12, 1000.0, "NVIDIA L4", "bf16")
    assert result.mfu == pytest.approx(1.0) and result.hfu == pytest.approx(1.5)
    assert result.achieved_tflops == pytest.approx(100.0)
    assert result.peak_source == f"${efficiency.OVERRIDE}"


def test_mfu_at_an_h100s_peak() -> None:
    # 989.5e12 model FLOPs in one second on an H100 SXM at bf16: exactly the peak
    result = efficiency.utilisation(989_500 * 10**9, 0, 1000.0, "NVIDIA H100 80GB HBM3", "bf16")
    assert result.mfu == pytest.approx(1.0) and result.hfu == pytest.approx(1.0)
