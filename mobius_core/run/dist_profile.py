"""`mobius-bench profile --mode ddp|fsdp`: every rank profiles its own steps.

Every rank must run the steps (their collectives need every rank), and every rank runs them
under the profiler: its overhead then falls on every rank alike, so that no rank's trace
shows it waiting in a collective for a peer slowed by profiling alone. Rank 0 makes the
folder and writes `profile.md` from its own figures, with each rank's step time beside
them; rank 0's traces lie in the folder, rank N's in `rankN/`. Each rank steps on its own
data (seeded by its rank), its variant wrapped as the bench wraps it (`dist_wrap`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from mobius_core.models.config import Config
from mobius_core.models.variants import build_matched
from mobius_core.outputs import write_atomic
from mobius_core.report.markdown import table
from mobius_core.report.record import Case
from mobius_core.run import distributed
from mobius_core.run.dist_wrap import wrap
from mobius_core.run.distributed import World
from mobius_core.run.profile_report import profile_markdown, timeline_plot
from mobius_core.run.profiling import profile_variant
from mobius_core.training.devices import DTYPES, frozen_dtype
from mobius_core.training.step import make_batch


def rank_folder(folder: Path, world: World) -> Path:
    """Where this rank's traces go: the folder itself on rank 0, `rankN/` in it on rank N."""
    return folder if world.leader else folder / f"rank{world.rank}"


def write_rank_profile(
    config: Config,
    variants: list[str],
    device: str,
    dtype: torch.dtype,
    steps: int,
    warmup: int,
    folder: Path,
    world: World,
    mode: str,
    build: Callable[..., dict[str, nn.Module]] = build_matched,
) -> list[str]:
    """Profile every variant on this rank into `folder` (rank 0 makes it and sends its path
    to the others); on rank 0 the names of the files written, on the others []."""
    variants = list(dict.fromkeys(variants))
    dtype_name = next(name for name, value in DTYPES.items() if value == dtype)
    c = config
    shape = (c.name, c.batch, c.frames, c.resolution, dtype_name, device)
    case = Case(*shape, mode=mode, world_size=world.size)
    own = rank_folder(folder, world)
    own.mkdir(exist_ok=True)
    models = build(config, variants, device, frozen_dtype(device, dtype))
    batch = make_batch(config, world.rank).to(device)  # each rank its own data
    profiles, timelines = [], {}
    for variant in variants:
        wrapped = wrap(models.pop(variant), mode, device)
        distributed.monitored_barrier(world)
        result, timeline = profile_variant(
            variant, wrapped, batch, dtype, device, steps, warmup, own, case
        )
        profiles.append(result)
        timelines[variant] = timeline
        del wrapped
    every = distributed.gather([p.step_ms for p in profiles])  # [rank][variant]
    distributed.monitored_barrier(world)  # every rank's traces are written
    if not world.leader:
        return []
    plot = None
    if device == "cuda":
        plot = "memory_timeline.png"
        timeline_plot(timelines, folder / plot)
    text = profile_markdown(config, case, profiles, plot) + ranks_section(variants, every)
    write_atomic(folder / "profile.md", text)
    traces = [f for p in profiles for f in p.files]
    others = [f"rank{r}/" for r in range(1, world.size)]
    return ["profile.md", *([plot] if plot else []), *traces, *others]


def ranks_section(variants: list[str], step_ms: list[list[float]]) -> str:
    """Each variant's profiled step time on every rank (`step_ms[rank][variant]`)."""
    rows = [
        {"variant": v, **{f"rank {r} ms": f"{ms[i]:.2f}" for r, ms in enumerate(step_ms)}}
        for i, v in enumerate(variants)
    ]
    return "\n".join(["", "## Every rank", "", "Step ms per rank, profiled:", "", table(rows), ""])
