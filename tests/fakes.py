"""Stand-ins shared by the run-layer tests: a one-weight "variant" whose steps are instant,
and a one-rank gloo process group."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.distributed as dist
from torch import Tensor, nn

from mobius_core.report.record import Case
from mobius_core.run.launcher import Job, run_job


class Scale(nn.Module):
    """A stand-in for a variant: one trainable weight, instant steps."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(1))

    def forward(self, latents: Tensor, timesteps: Tensor, context: Tensor) -> Tensor:
        return latents * self.weight


def build(case: Case, variant: str) -> nn.Module:
    return Scale()


def launch(job: Job) -> dict:
    return run_job(job, build=build)


@contextmanager
def one_rank_group() -> Iterator[None]:
    """A gloo process group of this process alone, destroyed on exit."""
    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    try:
        yield
    finally:
        dist.destroy_process_group()
