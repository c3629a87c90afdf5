"""How a variant's step is executed: eager, or under torch.compile (`--mode compile`).

`prepare(model, case)` gives the module a step runs: the model itself in eager mode, or
`torch.compile(model, mode=case.compile_mode)` (torch's default settings otherwise). A
compiled module's parameters are the model's own, so one optimizer serves both. Figures
that need module hooks or op-level counting come from `eager(model)`: FlopCounterMode
under compile is unreliable, and a compiled graph runs the model's layers without their
hooks, so regions cannot be told apart inside it.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn

from mobius_core.errors import BadInput
from mobius_core.measure import compat
from mobius_core.report.record import Case

BACKEND = "inductor"  # torch.compile's default; unit tests set a cheaper one
COMPILABLE = ("eager", "compile")  # modes one process runs; ddp and fsdp are launched apart
EAGER_FLOPS = (
    "counted on the eager model: FlopCounterMode under torch.compile is unreliable"
    " (the compiled step runs the same matmuls, convolutions and attention)"
)
NO_REGIONS = (
    "no region split under torch.compile: the compiled graph runs the model's layers without"
    " their module hooks, which tell the regions apart; the total is measured"
)
# torch warns that global module hooks fire once more for the compiled wrapper: the
# trackers that register them run on the eager model, or say that regions are unknown.
HOOK_WARNING = r"Using `torch.compile\(module\)` when there are global hooks"


def check(mode: str) -> None:
    """BadInput, one line, when a one-process command (step, profile) cannot run `mode`."""
    if mode not in COMPILABLE:
        raise BadInput(f"--mode {mode}: runs across processes; this command runs eager or compile")
    reason = compat.compile_support() if mode == "compile" else None
    if reason is not None:
        raise BadInput(f"--mode compile: {reason}; use --mode eager")


def compiled(model: nn.Module) -> bool:
    """Whether `model` is a torch.compile wrapper."""
    return isinstance(model, torch._dynamo.eval_frame.OptimizedModule)


def prepare(model: nn.Module, case: Case) -> nn.Module:
    """The module `case`'s steps run: `model` under torch.compile in compile mode, else
    `model` itself (ddp and fsdp wrap it where their ranks build it)."""
    if case.mode != "compile":
        return model
    check(case.mode)
    warnings.filterwarnings("ignore", message=HOOK_WARNING, category=UserWarning)
    return torch.compile(model, mode=case.compile_mode, backend=BACKEND)


def eager(model: nn.Module) -> nn.Module:
    """The eager model under a compiled wrapper (`model` itself when not compiled)."""
    return model._orig_mod if compiled(model) else model  # type: ignore[return-value]


def fresh(case: Case) -> None:
    """Forget every compiled graph (dynamo's caches, not the disk's), so that `case` compiles
    from scratch at its own shape, as a user's run at that shape would: without it, a
    model reused across shapes compiles a dynamic-shape graph from the second shape on."""
    if case.mode == "compile":
        torch._dynamo.reset()
