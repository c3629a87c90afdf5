"""Energy from the NVML counter (faked), its power cross-check, and the bootstrap."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

from mobius_core.measure import energy, nvml
from mobius_core.measure.stats import ratio_of_medians


def _counter(monkeypatch: pytest.MonkeyPatch, readings: list[int | None]) -> None:
    values: Iterator[int | None] = iter(readings)
    monkeypatch.setattr(nvml, "energy_mj", lambda handle: next(values))


def test_energy_is_the_counters_delta_per_step(monkeypatch: pytest.MonkeyPatch) -> None:
    _counter(monkeypatch, [10_000, 11_000, 20_000, 23_000, 30_000, 32_000])  # +1, +3, +2 J
    tracker = energy.EnergyTracker(handle=object())
    for _ in range(3):
        with tracker.track():
            pass
    result = tracker.result()
    assert result.samples_j == [1.0, 3.0, 2.0] and result.joules_per_step == 2.0
    checked = energy.with_power(result, power_mw=[400_000, 600_000], median_ms=10.0)
    assert checked.power_watts == 500.0 and checked.power_joules_per_step == 5.0
    assert "power_joules_per_step" in energy.with_power(result, [], 10.0).absent


def test_energy_absent_without_nvml_or_counter(monkeypatch: pytest.MonkeyPatch) -> None:
    assert energy.EnergyTracker(None, "no CUDA device").result().to_dict() == {
        "absent": {"joules_per_step": "no CUDA device"}
    }
    _counter(monkeypatch, [None, None])
    tracker = energy.EnergyTracker(handle=object())
    with tracker.track():
        pass
    assert tracker.result().absent == {"joules_per_step": energy.NO_COUNTER}


def test_bootstrap_covers_a_known_ratio() -> None:
    rng = torch.Generator().manual_seed(0)
    base = [100 + float(torch.randn(1, generator=rng)) for _ in range(30)]
    new = [0.8 * b + 0.5 * float(torch.randn(1, generator=rng)) for b in base]
    ci = ratio_of_medians(new, base)
    assert ci.low is not None and ci.high is not None
    assert ci.low <= 0.8 <= ci.high
    assert ci.high - ci.low < 0.02
    with pytest.raises(ValueError, match="paired samples"):
        ratio_of_medians([1.0], [1.0, 2.0])
