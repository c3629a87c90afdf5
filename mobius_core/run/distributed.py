"""This process as one rank of a distributed run: joining the group torchrun's environment
describes, the collectives the bench needs, and leaving.

NCCL on CUDA (each rank on the GPU of its local rank), gloo on CPU. Every collective waits
at most the group's timeout: a rank that hangs makes the others fail within it, naming the
ranks that did not arrive (a gloo monitored barrier before each timed round), and the
launcher then ends every rank.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist

from mobius_core.errors import BadInput

LAUNCH_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
DEFAULT_TIMEOUT_S = 600.0  # a collective waits this long for the slowest rank


@dataclass(frozen=True)
class World:
    """This rank's place in the group."""

    rank: int
    size: int
    local_rank: int
    backend: str
    timeout_s: float

    @property
    def leader(self) -> bool:
        """Rank 0: it measures the world-size-1 reference and writes the JSON."""
        return self.rank == 0


def launched() -> bool:
    """Whether torchrun (or `--nproc`) started this process as a rank."""
    return all(name in os.environ for name in LAUNCH_VARIABLES)


def join(device: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> World:
    """Join the group torchrun's environment describes: NCCL on CUDA, gloo on CPU."""
    rank, size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local = int(os.environ["LOCAL_RANK"])
    backend = "nccl" if device == "cuda" else "gloo"
    if device == "cuda":
        if local >= torch.cuda.device_count():
            raise BadInput(
                f"--nproc: local rank {local} has no GPU ({torch.cuda.device_count()} present);"
                " launch at most one process per GPU"
            )
        torch.cuda.set_device(local)
    timeout = timedelta(seconds=timeout_s)
    if not dist.is_initialized():
        dist.init_process_group(backend, timeout=timeout)
    return World(rank, size, local, backend, timeout_s)


def leave() -> None:
    """Leave the group (a no-op outside one)."""
    if dist.is_initialized():
        dist.destroy_process_group()


_MONITOR: list[Any] = []  # the gloo group monitored barriers run on (NCCL has none)


def monitored_barrier(world: World) -> None:
    """Wait for every rank; rank 0 names the ranks that did not arrive within the timeout."""
    if world.backend == "gloo":
        group = None
    else:
        if not _MONITOR:
            _MONITOR.append(dist.new_group(backend="gloo"))
        group = _MONITOR[0]
    timeout = timedelta(seconds=world.timeout_s)
    dist.monitored_barrier(group=group, timeout=timeout, wait_all_ranks=True)


def max_over_ranks(value: float, device: str) -> float:
    """The largest `value` any rank holds."""
    tensor = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return float(tensor.item())


def gather(value: Any) -> list[Any]:
    """Every rank's `value`, in rank order, on every rank (picklable objects)."""
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, value)
    return out
