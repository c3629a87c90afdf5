"""The memory breakdown of FSDP2's sharded (DTensor) state counts this rank's shard only.

A one-rank gloo group holds DTensors whose declared global shape is twice their local
shard (4 x 4 globally, 2 x 4 here), as one of two ranks would: 64 B global, 32 B local."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
from fakes import one_rank_group
from torch import Tensor, nn

from mobius_core.measure import memory

GLOBAL = torch.Size([4, 4])


@pytest.fixture
def group() -> Iterator[None]:
    with one_rank_group():
        yield


def _half(values: Tensor) -> Tensor:
    """A DTensor of global shape 4 x 4 whose local shard is `values` (2 x 4, 32 B)."""
    from torch.distributed.tensor import DTensor, Shard, init_device_mesh

    mesh = init_device_mesh("cpu", (1,))
    rows = [Shard(0)]
    return DTensor.from_local(values, mesh, rows, run_check=False, shape=GLOBAL, stride=(4, 1))


def _sharded() -> tuple[nn.Module, torch.optim.AdamW]:
    """One trainable sharded 4 x 4 weight with a sharded gradient, after one AdamW step."""
    model = nn.Module()
    model.weight = nn.Parameter(_half(torch.zeros(2, 4)))
    model.weight.grad = _half(torch.ones(2, 4))
    optimizer = torch.optim.AdamW(model.parameters())
    optimizer.step()
    return model, optimizer


def test_sharded_parameters_gradients_and_adam_count_the_local_shard(group: None) -> None:
    """Weight 2 x 4 fp32 = 32 B; its gradient 32 B; AdamW: exp_avg 32 B, exp_avg_sq 32 B
    and a scalar fp32 step 4 B = 68 B. Unsharded they would be 64, 64 and 132 B."""
    model, optimizer = _sharded()
    assert model.weight.numel() == 16  # the global size, which must not be counted
    assert memory.parameter_bytes(model) == 32
    assert memory.gradient_bytes(model) == 32
    assert memory.optimizer_bytes(optimizer) == 68
