"""`mobius-bench step`: one matched step per variant, timed, as a small table.

On CUDA each variant's peak memory comes from a process of its own (the launcher), so
that no other variant's weights or optimizer state count in it. A variant that runs out
of memory (building, or in its step) gets a row saying so; the others still run. Every
variant can start from the user's checkpoint, and its trained state can be saved.
"""

from __future__ import annotations

from pathlib import Path

from torch import nn

from mobius_core.interop.export import save_checkpoint
from mobius_core.measure.compiling import warm_up
from mobius_core.measure.timing import StepTimer
from mobius_core.models.config import Config
from mobius_core.models.variants import parameter_counts
from mobius_core.report.record import Case
from mobius_core.run import modes
from mobius_core.run.case import build_variant, config, make_case, torch_dtype
from mobius_core.run.guard import guarded, release
from mobius_core.run.launcher import Job, isolated
from mobius_core.training.devices import synchronize
from mobius_core.training.step import make_batch, make_optimizer, train_step

Row = dict[str, object]


def quick_steps(
    shape: Config,
    device: str,
    dtype: str,
    variants: list[str],
    mode: str = "eager",
    compile_mode: str | None = None,
    unet: str | None = None,
    motion_adapter: str | None = None,
    save: Path | None = None,
) -> list[Row]:
    """One warm-up and one timed step per variant of `variants`; a row of figures each.
    Under `--mode compile` the warm-up runs until a step compiles nothing, and the row gives
    its cost.
    With `unet` (and `motion_adapter`) every variant starts from that checkpoint; with
    `save`, each variant's trained state is written into that folder after its steps, as
    `<variant>.safetensors`."""
    settings = {"mode": mode, "compile_mode": compile_mode}
    settings |= {"unet": unet, "motion_adapter": motion_adapter}
    c = shape
    case = make_case(c.name, c.batch, c.frames, c.resolution, dtype, device, 2, 1, **settings)
    peaks = {v: _isolated_peak(case, v) for v in variants} if device == "cuda" else {}
    rows = []
    for variant in variants:
        row: Row = {"variant": variant}
        failure = guarded(lambda v=variant, r=row: _step(case, v, r, save), device)
        if failure is not None:
            row["status"] = f"{failure.status}: {failure.message}"
        if device == "cuda":
            row["peak MiB"] = peaks[variant]
        rows.append(row)
        release(device)
    return rows


def _step(case: Case, variant: str, row: Row, save: Path | None = None) -> None:
    modes.fresh(case)
    built = build_variant(case, variant)
    model: nn.Module = modes.prepare(built, case)
    row["trainable params"] = parameter_counts(model)["trainable"]
    optimizer, timer = make_optimizer(model), StepTimer(case.device)
    batch = make_batch(config(case)).to(case.device)
    dtype = torch_dtype(case)
    if case.mode == "compile":
        cost = warm_up(
            lambda: train_step(model, optimizer, batch, dtype), modes.BACKEND, case.compile_mode
        )
        row["compile s"], row["recompiles"] = round(cost.seconds or 0.0, 1), cost.recompiles
    else:
        train_step(model, optimizer, batch, dtype)  # warm-up
    synchronize(case.device)
    losses = []
    with timer.track():
        losses.append(train_step(model, optimizer, batch, dtype))
        synchronize(case.device)
    row["loss"] = round(losses[0].item(), 5)
    row["step ms"] = round(timer.samples_ms[0], 1)
    if save is not None:
        save_checkpoint(built, variant, config(case), save / f"{variant}.safetensors")


def _isolated_peak(case: Case, variant: str) -> object:
    """The allocator's peak over one step in a process of the variant's own, in MiB."""
    memory = isolated(Job(variant, (case,), flops=False))[case.key].memory
    if memory.peak_allocated is None:
        return next(iter(memory.absent.values()), "absent")
    return round(memory.peak_allocated / 2**20)
