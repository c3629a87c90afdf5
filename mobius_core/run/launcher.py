"""Each variant's untimed passes in a process of its own, as optimum-benchmark's process
launcher isolates each benchmark.

A fresh process (multiprocessing, spawn) builds one variant once and runs its memory,
saved-tensor and FLOP passes for every shape of one preset: no model, optimizer state or
allocator pool of another variant is on the device while it measures, so peaks, reserved
memory and NVML belong to that variant alone. Timing stays interleaved in the main process.
"""

from __future__ import annotations

import multiprocessing
import signal
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection

from torch import nn

from mobius_core.measure.compiling import warm_up
from mobius_core.measure.results import CompileResult, FlopsResult, MemoryResult, SavedResult
from mobius_core.report.record import Case
from mobius_core.run import modes
from mobius_core.run.case import build_variant, config, torch_dtype
from mobius_core.run.guard import guarded
from mobius_core.run.passes import Untimed, untimed
from mobius_core.training.step import Batch, make_batch, make_optimizer, train_step

ISOLATED = (
    "a fresh process for this variant (spawn): no other variant's model, optimizer state or"
    " allocator pool on the device; the model built once and reused for the preset's shapes"
)
CO_RESIDENT = "in the main process, beside every other variant of the run"
POLL_S = 0.2


@dataclass(frozen=True)
class Job:
    """One variant's untimed passes over cases of one preset, device and dtype."""

    variant: str
    cases: tuple[Case, ...]
    seed: int = 0
    flops: bool = True  # `mobius-bench step` wants the memory figures alone


Launch = Callable[[Job], dict[str, Untimed]]  # case key -> what the passes measured


def all_absent(reason: str) -> Untimed:
    """Every untimed figure absent, for one reason."""
    return Untimed(
        MemoryResult(absent={"memory": reason}),
        SavedResult(absent={"bytes": reason}),
        FlopsResult(absent={"total": reason}),
    )


def run_job(
    job: Job, isolation: str = CO_RESIDENT, build: Callable[[Case, str], nn.Module] = build_variant
) -> dict[str, Untimed]:
    """The job in this process: the variant built once, then every case's passes.

    Under `--mode compile` the passes measure the compiled model (what a user runs),
    compiled afresh at each case's shape in the warm-up, which runs until a step compiles
    nothing."""
    first = job.cases[0]
    built: list[nn.Module] = []
    failure = guarded(lambda: built.append(build(first, job.variant)), first.device)
    if failure is not None:
        return {c.key: all_absent(f"building the model: {failure.message}") for c in job.cases}
    model = built[0]
    optimizer = make_optimizer(model)
    out = {}
    for case in job.cases:
        batch: list[Batch] = []
        cold: list[CompileResult] = []
        modes.fresh(case)
        stepped = modes.prepare(model, case)

        def prepare(
            case: Case = case,
            batch: list[Batch] = batch,
            stepped: nn.Module = stepped,
            cold: list[CompileResult] = cold,
        ) -> None:
            batch.append(make_batch(config(case), job.seed).to(case.device))

            def step() -> None:
                train_step(stepped, optimizer, batch[0], torch_dtype(case))

            if case.mode == "compile":  # the first compile here: kept as the cold one
                cold.append(warm_up(step, modes.BACKEND, case.compile_mode))
            for _ in range(max(case.warmup, 1)):  # the optimizer state exists after one step
                step()

        failure = guarded(prepare, case.device)
        if failure is not None:
            out[case.key] = all_absent(f"before the passes: {failure.message}")
            continue
        measured = untimed(stepped, optimizer, batch.pop(), case, isolation, job.flops)
        measured.compile = cold[0] if cold else None
        out[case.key] = measured
    return out


def isolated(job: Job) -> dict[str, Untimed]:
    """`run_job` in a fresh spawned process; Ctrl-C here ends it, a crash leaves figures
    absent with the exit code, and a bug in it is raised here with its traceback."""
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(job, sender), daemon=True)
    process.start()
    sender.close()
    answer = None
    try:
        while not receiver.poll(POLL_S):
            if not process.is_alive():
                break
        if receiver.poll():
            answer = receiver.recv()
    except EOFError:  # the child died before it answered
        pass
    finally:  # Ctrl-C too: the child ignores it, so end it here
        if process.is_alive():
            process.terminate()
        process.join()
        receiver.close()
    if answer is None:
        reason = f"the memory process of {job.variant} ended with exit code {process.exitcode}"
        return {c.key: all_absent(reason) for c in job.cases}
    if isinstance(answer, str):
        raise RuntimeError(f"the memory process of {job.variant} failed:\n{answer}")
    return answer


def _child(job: Job, sender: Connection) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and ends us
    try:
        answer: object = run_job(job, ISOLATED)
    except BaseException:  # a bug: its traceback goes to the parent, which raises it
        answer = traceback.format_exc()
    sender.send(answer)
    sender.close()
