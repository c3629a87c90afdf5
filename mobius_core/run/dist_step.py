"""`mobius-bench step --mode ddp|fsdp`: one matched step per variant on every rank.

Each rank builds the variant, wraps it (DDP over its trainable parameters, or FSDP2 per UNet
layer: `dist_wrap`), runs the warm-up steps on its own data (seeded by its rank), then one
step timed after a monitored barrier released the ranks together. The row gives the largest
step time over the ranks, each rank's, rank 0's loss and, on CUDA, the largest peak over
the ranks (the allocator's, over the timed step, in each rank's own process). A variant that
fails to build on any rank gets a row saying so on every rank; a failure inside a
collective step ends the run, and the launcher names the rank.
"""

from __future__ import annotations

import time

import torch

from mobius_core.models.variants import parameter_counts
from mobius_core.report.record import Case
from mobius_core.run import distributed
from mobius_core.run.case import build_variant, config, torch_dtype
from mobius_core.run.dist_case import STEADY, Build, build_on_ranks
from mobius_core.run.dist_wrap import wrap
from mobius_core.run.distributed import World
from mobius_core.run.guard import Failure, release
from mobius_core.training.devices import synchronize
from mobius_core.training.step import make_batch, make_optimizer, train_step

Row = dict[str, object]


def rank_steps(
    case: Case, world: World, variants: list[str], build: Build = build_variant
) -> list[Row]:
    """A row per variant of `variants` on rank 0 (the other ranks: [])."""
    rows = [_row(case, v, world, build) for v in variants]
    return rows if world.leader else []


def _row(case: Case, variant: str, world: World, build: Build) -> Row:
    row: Row = {"variant": variant}
    model = build_on_ranks(case, variant, build)
    if isinstance(model, Failure):
        row["status"] = f"{model.status}: {model.message}"
        return row
    row["trainable params"] = parameter_counts(model)["trainable"]
    wrapped = wrap(model, case.mode, case.device)
    optimizer = make_optimizer(wrapped)
    batch = make_batch(config(case), world.rank).to(case.device)  # each rank its own data
    dtype = torch_dtype(case)
    for _ in range(STEADY):  # DDP rebuilds its buckets on the second step
        train_step(wrapped, optimizer, batch, dtype)
    synchronize(case.device)
    if case.device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    distributed.monitored_barrier(world)
    begin = time.perf_counter()
    loss = train_step(wrapped, optimizer, batch, dtype)
    synchronize(case.device)
    ms = 1000 * (time.perf_counter() - begin)
    peak = torch.cuda.max_memory_allocated() if case.device == "cuda" else None
    every = distributed.gather((ms, peak))
    row["loss (rank 0)"] = round(loss.item(), 5)
    row["step ms (max over ranks)"] = round(max(m for m, _ in every), 1)
    row["step ms by rank"] = " / ".join(f"{m:.1f}" for m, _ in every)
    if case.device == "cuda":
        row["peak MiB (max over ranks)"] = round(max(p for _, p in every) / 2**20)
    del wrapped, model, optimizer
    release(case.device)
    return row
