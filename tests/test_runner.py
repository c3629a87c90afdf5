"""One case on the CPU: a record per variant with every CPU figure; failures recorded."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from mobius_core.models.variants import VARIANTS, build_matched
from mobius_core.run.runner import SCHEMA, Case, CaseRun

CASE = Case(
    "tiny", batch=1, frames=2, resolution=64, dtype="fp32", device="cpu", rounds=3, warmup=1
)


@pytest.fixture(scope="module")
def records() -> dict[str, dict]:
    run = CaseRun(CASE, build_matched(CASE.config(), list(VARIANTS)))
    run.run_interleaved()
    return {v: run.record(v) for v in VARIANTS}


def test_every_cpu_figure_is_present(records: dict[str, dict]) -> None:
    for variant, record in records.items():
        assert record["schema"] == SCHEMA and record["status"] == "ok", variant
        assert record["case"]["variant"] == variant and record["case"]["key"] == CASE.key
        assert len(record["time"]["samples_ms"]) == CASE.rounds
        assert record["time"]["median_ms"] > 0
        assert record["flops"]["total"] > 0 and record["saved"]["bytes"] > 0
        assert set(record["memory"]["breakdown"]) == {
            "parameters",
            "gradients",
            "optimizer",
            "saved",
        }
        assert record["memory"]["leak"]["status"] == "ok"
        assert record["params"]["trainable"] > 0
        assert record["overhead"]["tracker_ms_per_step"] >= 0


def test_what_a_cpu_cannot_measure_is_absent_with_a_reason(records: dict[str, dict]) -> None:
    record = records["mobius"]
    assert "peak_allocated" not in record["memory"]
    assert "allocator" in record["memory"]["absent"]["peak_allocated"]
    assert record["memory"]["absent"]["nvml"] == "no CUDA device"
    assert record["energy"] == {"absent": {"joules_per_step": "no CUDA device"}}
    assert "mfu" not in record["efficiency"] and "no GPU" in record["efficiency"]["absent"]["mfu"]


def test_ratios_to_serial_carry_an_interval(records: dict[str, dict]) -> None:
    assert records["serial"]["ratio_to_serial"] is None
    for variant in ("serial-ckpt", "mobius"):
        ci = records[variant]["ratio_to_serial"]["time"]
        assert ci["low"] <= ci["ratio"] <= ci["high"]


def test_deterministic_figures_repeat(records: dict[str, dict]) -> None:
    run = CaseRun(CASE, build_matched(CASE.config(), list(VARIANTS)))
    run.run_interleaved()
    for variant in VARIANTS:
        again = run.record(variant)
        for figure in ("flops", "saved", "params"):
            assert again[figure] == records[variant][figure], (variant, figure)


class _OutOfMemory(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(1))

    def forward(self, latents: Tensor, *_: Tensor) -> Tensor:
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 80.00 GiB")


def test_out_of_memory_is_recorded_and_the_run_goes_on() -> None:
    models = build_matched(CASE.config(), ["serial"])
    run = CaseRun(CASE, {**models, "huge": _OutOfMemory()})
    run.run_interleaved()
    failed = run.record("huge")
    assert failed["status"] == "oom" and "Tried to allocate" in failed["message"]
    assert failed["shapes"]["latents"] == [1, 4, 2, 8, 8]
    assert "time" not in failed
    assert run.record("serial")["status"] == "ok"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"dtype": "fp8"}, r"^dtype: unknown dtype 'fp8'"),
        ({"rounds": 1}, r"^rounds: need at least 2 timed rounds, got 1$"),
        ({"warmup": -1}, r"^warmup: must not be negative, got -1$"),
        ({"frames": 99}, r"^frames: 99 is above temporal_positions=8$"),
    ],
)
def test_bad_cases_name_the_field(change: dict, message: str) -> None:
    fields = {**CASE.__dict__, **change}
    with pytest.raises(ValueError, match=message):
        Case(**fields)


class _FakeNvml:
    """Stands in for an NVML device: memory rises with each read, energy counts up."""

    def __init__(self) -> None:
        self.reads, self.energy = 0, 0

    def memory_used(self, handle: object) -> int:
        self.reads += 1
        return 2**30 + self.reads * 2**20

    def energy_mj(self, handle: object) -> int:
        self.energy += 500
        return self.energy

    def power_mw(self, handle: object) -> int:
        return 300_000


def test_nvml_figures_when_a_device_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    from mobius_core.measure import nvml

    fake = _FakeNvml()
    monkeypatch.setattr(nvml, "open_device", lambda: ("handle", ""))
    for name in ("memory_used", "energy_mj", "power_mw"):
        monkeypatch.setattr(nvml, name, getattr(fake, name))
    run = CaseRun(CASE, build_matched(CASE.config(), ["serial", "mobius"]))
    run.run_interleaved()
    record = run.record("mobius")
    mem = record["memory"]
    assert mem["nvml_before"] < mem["nvml_peak"] <= mem["nvml_after"]
    assert "background thread" in mem["nvml_method"]
    # two counter reads per timed step, 500 mJ apart
    assert record["energy"]["samples_j"] == [0.5] * CASE.rounds
    assert record["energy"]["power_watts"] == 300.0
    assert record["energy"]["power_joules_per_step"] == pytest.approx(
        0.3 * record["time"]["median_ms"]
    )
