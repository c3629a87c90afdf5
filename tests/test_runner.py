"""One case timed: rotation of the order, failures recorded, a tracker's failure absent."""

from __future__ import annotations

import pytest
import torch
from fakes import Scale

from mobius_core.errors import BadInput
from mobius_core.models.config import preset
from mobius_core.run import passes, runner
from mobius_core.run.case import make_case
from mobius_core.run.runner import CaseRun, rotation

CASE = make_case("tiny", 1, 2, 64, "fp32", "cpu", rounds=3, warmup=1)


def test_the_order_rotates_each_round() -> None:
    names = ["A", "B", "C"]
    orders = [rotation(names, i) for i in range(4)]
    assert orders == [["A", "B", "C"], ["B", "C", "A"], ["C", "A", "B"], ["A", "B", "C"]]


def test_timed_rounds_run_in_rotated_order(monkeypatch: pytest.MonkeyPatch) -> None:
    models = {"serial": Scale(), "serial-ckpt": Scale(), "mobius": Scale()}
    names = {id(m): v for v, m in models.items()}
    order: list[str] = []
    monkeypatch.setattr(runner, "train_step", lambda model, *_: order.append(names[id(model)]))
    CaseRun(CASE, dict(models)).run_interleaved()
    s, c, m = "serial", "serial-ckpt", "mobius"
    assert order == [s, c, m, c, m, s, m, s, c, s, c, m]  # warm-up, then three timed rounds


class _Raises:
    """A tracker that fails as NVML or the allocator may: on entering its step."""

    def __init__(self, *_: object, **__: object) -> None:
        pass

    def track(self) -> None:
        raise RuntimeError("NVML: Unknown Error")


def test_a_failing_tracker_leaves_its_figure_absent(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_flops(*_: object) -> None:
        raise RuntimeError("FlopCounterMode: unsupported op")

    monkeypatch.setattr(passes, "MemoryTracker", _Raises)
    monkeypatch.setattr(passes, "flops_pass", no_flops)
    model = Scale()
    run = CaseRun(CASE, {"mobius": model})
    untimed = passes.untimed(model, run.trials["mobius"].optimizer, run.batch, CASE, "here")
    run.run_interleaved()
    record = run.record("mobius", untimed)
    assert record.status == "ok" and len(record.time.samples_ms) == CASE.rounds
    assert record.memory.absent["memory"] == (
        "the memory pass failed: RuntimeError: NVML: Unknown Error"
    )
    assert record.flops.absent["total"] == (
        "the FLOP pass failed: RuntimeError: FlopCounterMode: unsupported op"
    )
    assert record.efficiency.absent["mfu"] == "no FLOP count"


def test_out_of_memory_building_the_batch_fails_every_variant(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_room(*_: object) -> None:
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(runner, "make_batch", no_room)
    run = CaseRun(CASE, {"serial": Scale(), "mobius": Scale()})
    run.run_interleaved()
    for variant in ("serial", "mobius"):
        record = run.record(variant, passes.Untimed(*[None] * 3))  # type: ignore[arg-type]
        assert record.status == "oom" and "Tried to allocate 2.00 GiB" in record.message
        assert record.time is None and record.shapes["latents"] == [1, 4, 2, 8, 8]


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
    fields = {
        "preset_name": "tiny",
        "batch": 1,
        "frames": 2,
        "resolution": 64,
        "dtype": "fp32",
        "device": "cpu",
        "rounds": 2,
        "warmup": 0,
    }
    with pytest.raises(BadInput, match=message):
        make_case(**{**fields, **change})


def test_step_keeps_the_variants_that_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    from mobius_core.run import quickstep

    def build_or_oom(case: object, variant: str) -> Scale:
        if variant == "serial-ckpt":
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 9.00 GiB")
        return Scale()

    monkeypatch.setattr(quickstep, "build_variant", build_or_oom)
    rows = quickstep.quick_steps(
        preset("tiny", frames=2), "cpu", "fp32", ["serial", "serial-ckpt", "mobius"]
    )
    assert [r["variant"] for r in rows][:3] == ["serial", "serial-ckpt", "mobius"]
    assert rows[1]["status"].startswith("oom: OutOfMemoryError: CUDA out of memory.")
    assert "loss" in rows[0] and "loss" in rows[2] and "loss" not in rows[1]
