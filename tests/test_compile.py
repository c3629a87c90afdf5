"""`--mode compile`: the wrapping, the warm-up that keeps compilation out of timed steps, its
counts, and what the untimed passes say of a compiled model.

dynamo's `eager` backend stands in for inductor (which compiles C++ on CPU, far too slowly
for a unit test); the graphs dynamo traces and counts are the same."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from mobius_core.measure.compiling import graphs_during, warm_up
from mobius_core.measure.results import CompileResult
from mobius_core.report.record import Case, Record, RecordError
from mobius_core.run import modes, passes
from mobius_core.run.case import make_case
from mobius_core.run.launcher import Job, all_absent, run_job
from mobius_core.run.runner import CaseRun

CASE = make_case("tiny", 1, 2, 64, "fp32", "cpu", rounds=3, warmup=1, mode="compile")
POSITIONS = 1 * 2 * 8 * 8  # latents (1, 4, 2, 8, 8): batch x frames x 8 x 8 latent pixels


class Mix(nn.Module):
    """A stand-in variant: a trainable 1x1x1 convolution over the latent channels, 4 -> 4."""

    def __init__(self) -> None:
        super().__init__()
        self.mix = nn.Conv3d(4, 4, 1, bias=False)

    def forward(self, latents: Tensor, timesteps: Tensor, context: Tensor) -> Tensor:
        return self.mix(latents)


class Doubled(Mix):
    """Another class, so that dynamo compiles its forward apart (it shares graphs between
    instances of one class)."""

    def forward(self, latents: Tensor, timesteps: Tensor, context: Tensor) -> Tensor:
        return 2 * self.mix(latents)


@pytest.fixture(autouse=True)
def eager_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(modes, "BACKEND", "eager")
    torch._dynamo.reset()


def test_compile_mode_needs_mode_compile_and_names_the_case() -> None:
    case = Case("tiny", 1, 2, 64, "fp32", "cpu", mode="compile", compile_mode="max-autotune")
    assert case.key == "tiny-b1-f2-r64-fp32-compile-max-autotune"
    assert CASE.key == "tiny-b1-f2-r64-fp32-compile"
    with pytest.raises(RecordError, match="compile_mode: 'reduce-overhead' needs mode 'compile'"):
        Case("tiny", 1, 2, 64, "fp32", "cpu", compile_mode="reduce-overhead")


def test_prepare_compiles_with_the_case_mode_and_keeps_the_parameters(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model = Mix()
    assert modes.prepare(model, make_case("tiny", 1, 2, 64, "fp32", "cpu", 2, 0)) is model
    wrapped = modes.prepare(model, CASE)
    assert modes.compiled(wrapped) and modes.eager(wrapped) is model
    assert [id(p) for p in wrapped.parameters()] == [id(p) for p in model.parameters()]
    seen: dict[str, object] = {}
    monkeypatch.setattr(torch, "compile", lambda m, **kw: seen.update(kw) or m)
    case = Case("tiny", 1, 2, 64, "fp32", "cpu", 2, 0, mode="compile", compile_mode="max-autotune")
    modes.prepare(model, case)
    assert seen == {"mode": "max-autotune", "backend": "eager"}


def test_one_step_process_commands_refuse_distributed_modes() -> None:
    with pytest.raises(ValueError, match="--mode ddp: runs across processes"):
        modes.check("ddp")
    modes.check("compile")  # this torch has what compile mode needs


def test_warm_up_runs_until_a_step_compiles_nothing() -> None:
    double = torch.compile(lambda x: x * 2, backend="eager")
    sizes = iter([2, 4, 5, 6, 7])  # 4: a new shape, recompiled with a dynamic size; 5: reused

    result = warm_up(lambda: double(torch.ones(next(sizes))), "eager", None)
    assert (result.compiles, result.recompiles, result.warmup_steps) == (1, 1, 3)
    assert result.stable and result.seconds > 0 and result.warmup_excess_s is not None


def test_warm_up_stops_at_its_limit_when_every_step_compiles() -> None:
    def step() -> None:
        torch._dynamo.reset()  # forget the graph: the next call compiles again
        torch.compile(lambda x: x + 1, backend="eager")(torch.ones(3))

    result = warm_up(step, "eager", None, limit=3)
    assert (result.compiles, result.recompiles, result.warmup_steps) == (1, 2, 3)
    assert result.stable is False and result.warmup_excess_s is None
    assert result.absent["warmup_excess_s"] == "still compiling after 3 steps"


def test_graphs_during_counts_what_an_action_compiled() -> None:
    triple = torch.compile(lambda x: x * 3, backend="eager")
    assert graphs_during(lambda: triple(torch.ones(2))) == 1
    assert graphs_during(lambda: triple(torch.ones(2))) == 0


def test_a_compiled_case_keeps_compilation_out_of_its_timed_rounds() -> None:
    run = CaseRun(CASE, {"serial": Doubled(), "mobius": Mix()})
    assert all(modes.compiled(t.model) for t in run.trials.values())
    run.run_interleaved()
    record = run.record("mobius", all_absent("not measured here"))
    assert record.status == "ok" and len(record.time.samples_ms) == CASE.rounds
    compiled = record.compile
    assert compiled is not None and compiled.backend == "eager" and compiled.compile_mode is None
    assert (compiled.compiles, compiled.recompiles, compiled.timed_recompiles) == (1, 0, 0)
    assert compiled.warmup_steps == 2 and compiled.stable
    back = Record.from_dict(record.to_dict())
    assert back.compile == compiled and back.case.mode == "compile"
    assert record.row()["compiles"] == 1 and record.row()["recompiles_timed"] == 0


def test_the_memory_process_measures_the_compiled_model_and_counts_flops_eagerly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    counted_on: list[nn.Module] = []
    flops_pass = passes.flops_pass
    monkeypatch.setattr(
        passes, "flops_pass", lambda m, *a: counted_on.append(m) or flops_pass(m, *a)
    )
    untimed = run_job(Job("mobius", (CASE,)), build=lambda case, variant: Mix())[CASE.key]
    assert len(counted_on) == 1 and not modes.compiled(counted_on[0])
    # forward: 2 x 4 x 4 per position; backward: the weight's gradient alone, as much again
    # (the noised latents need no gradient)
    assert untimed.flops.forward == 2 * 4 * 4 * POSITIONS == untimed.flops.backward
    assert untimed.flops.convention.endswith(modes.EAGER_FLOPS)
    assert untimed.saved.by_region is None and untimed.saved.absent["by_region"] == (
        modes.NO_REGIONS
    )
    # the convolution saves its input for the weight's gradient, and the MSE loss both its
    # inputs (prediction and noise): three (1, 4, 2, 8, 8) fp32 tensors
    assert untimed.saved.bytes == 3 * 4 * 4 * POSITIONS and untimed.saved.tensors == 3
    assert untimed.memory.absent.get("compile") is None  # nothing compiled while measured


def test_compile_result_reads_back_checked() -> None:
    result = CompileResult(seconds=1.5, compiles=1, recompiles=0, warmup_steps=2, stable=True)
    assert CompileResult.from_dict(result.to_dict()) == result
    cold = CompileResult(seconds=1.5, cold_seconds=9.0)
    assert CompileResult.from_dict(cold.to_dict()).cold_seconds == 9.0
    old = CompileResult.from_dict({"seconds": 1.5, "compiles": 1})  # before cold_seconds
    assert old.cold_seconds is None and old.seconds == 1.5
    with pytest.raises(RecordError, match="compiles: expected a whole number"):
        CompileResult.from_dict({"compiles": 1.5})


def test_the_memory_process_keeps_its_cold_compile_and_the_record_shows_it() -> None:
    """The memory process compiles Mix first (1 graph, then a step compiling none); the
    timing process's record keeps those seconds as `cold_seconds` beside its own."""
    untimed = run_job(Job("mobius", (CASE,)), build=lambda case, variant: Mix())[CASE.key]
    cold = untimed.compile
    assert cold is not None and (cold.compiles, cold.warmup_steps) == (1, 2)
    assert cold.seconds is not None and cold.seconds > 0
    run = CaseRun(CASE, {"serial": Doubled(), "mobius": Mix()})
    run.run_interleaved()
    record = run.record("mobius", untimed)
    assert record.compile is not None and record.compile.cold_seconds == cold.seconds
    assert record.row()["compile_cold_s"] == cold.seconds
