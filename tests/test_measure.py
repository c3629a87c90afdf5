"""Time summaries, the memory breakdown and leak check, energy, MFU, the bootstrap."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from mobius_core.measure import efficiency, energy, memory
from mobius_core.measure.stats import ratio_of_medians
from mobius_core.measure.timing import StepTimer, TimeResult


def test_time_summary_by_hand() -> None:
    result = TimeResult.from_samples([5.0, 1.0, 4.0, 2.0, 3.0], "test")
    assert (result.median_ms, result.q1_ms, result.q3_ms, result.iqr_ms) == (3.0, 2.0, 4.0, 2.0)
    assert (result.min_ms, result.max_ms) == (1.0, 5.0)
    assert result.cv == pytest.approx(math.sqrt(2) / 3)  # population sd sqrt(2), mean 3
    with pytest.raises(ValueError, match=r"^time: no samples$"):
        TimeResult.from_samples([], "test")


def test_host_timer_times_the_call() -> None:
    timer = StepTimer("cpu")
    assert timer(lambda: sum(range(10_000))) > 0
    assert "host" in timer.method


def _trained_linear() -> tuple[nn.Linear, torch.optim.AdamW]:
    model = nn.Linear(4, 4)  # 16 weights + 4 biases = 80 bytes
    optimizer = torch.optim.AdamW(model.parameters())
    model(torch.ones(2, 4)).sum().backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return model, optimizer


def test_breakdown_by_hand() -> None:
    model, optimizer = _trained_linear()
    parts = memory.breakdown(model, optimizer, saved=32, peak=None)
    # AdamW: exp_avg and exp_avg_sq per parameter (2 x 80 B), a float32 step per tensor (2 x 4 B)
    assert parts == {"parameters": 80, "gradients": 80, "optimizer": 168, "saved": 32}
    with_peak = memory.breakdown(model, optimizer, saved=32, peak=1000)
    assert sum(with_peak.values()) == 1000 and with_peak["rest"] == 1000 - 360


def test_leak_check_catches_a_planted_leak() -> None:
    stash: list[torch.Tensor] = []

    def leaky_step() -> None:
        stash.append(torch.ones(2**20))  # 4 MiB kept after the step

    def clean_step() -> None:
        torch.ones(2**20).sum()

    for step, status in ((clean_step, "ok"), (leaky_step, "leak")):
        before = memory.allocated_bytes("cpu")
        step()
        check = memory.leak_check(before, memory.allocated_bytes("cpu"), "cpu")
        assert check["status"] == status
    assert check["bytes"] >= 4 * 2**20


def test_energy_from_counter_and_power() -> None:
    result = energy.from_counter([1000, 3000, 2000], power_mw=[400_000, 600_000], median_ms=10.0)
    assert result.joules_per_step == 2.0
    assert result.power_watts == 500.0 and result.power_joules_per_step == 5.0
    assert energy.absent("no CUDA device").to_dict() == {
        "absent": {"joules_per_step": "no CUDA device"}
    }


def test_mfu_from_the_peak_table(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(efficiency.OVERRIDE, raising=False)
    # 989e12 FLOPs in one second on an H100 at bf16: exactly the peak
    result = efficiency.mfu(989 * 10**12, 1000.0, "NVIDIA H100 80GB HBM3", "bf16")
    assert result.mfu == pytest.approx(1.0) and result.peak_tflops == 989.0
    assert efficiency.mfu(10**12, 1000.0, "NVIDIA A100-SXM4-80GB", "fp32").mfu == pytest.approx(
        1 / 19.5
    )
    cpu = efficiency.mfu(10**12, 1000.0, None, "fp32")
    assert cpu.mfu is None and "no GPU" in cpu.absent["mfu"]
    unknown = efficiency.mfu(10**12, 1000.0, "NVIDIA L4", "bf16")
    assert unknown.mfu is None and efficiency.OVERRIDE in unknown.absent["mfu"]
    monkeypatch.setenv(efficiency.OVERRIDE, "100")
    assert efficiency.mfu(10**14, 1000.0, "NVIDIA L4", "bf16").mfu == pytest.approx(1.0)


def test_bootstrap_covers_a_known_ratio() -> None:
    rng = torch.Generator().manual_seed(0)
    base = [100 + float(torch.randn(1, generator=rng)) for _ in range(30)]
    new = [0.8 * b + 0.5 * float(torch.randn(1, generator=rng)) for b in base]
    ci = ratio_of_medians(new, base)
    assert ci.low <= 0.8 <= ci.high
    assert ci.high - ci.low < 0.02
    with pytest.raises(ValueError, match="paired samples"):
        ratio_of_medians([1.0], [1.0, 2.0])
