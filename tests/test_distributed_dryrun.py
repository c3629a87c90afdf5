"""The dry run's per-rank bytes under FSDP sharding (`--world N --mode fsdp`)."""

from __future__ import annotations

import torch
from torch import nn

from mobius_core.models.config import preset
from mobius_core.run.dryrun import dry_run, sharded_state_bytes
from mobius_core.run.dryrun_table import format_dry_run


def test_sharded_bytes_hand_worked_with_padding() -> None:
    """Linear(3, 5) frozen and Linear(5, 2) trainable over 2 ranks, bf16 frozen weights.
    Rank 0 holds ceil(5/2) = 3 rows of the frozen weight (3 x 3 = 9) and bias (3): 12 bf16,
    24 bytes; ceil(2/2) = 1 row of the trainable weight (5) and bias (1): 6 fp32, 24 bytes.
    Gradients: 6 fp32 = 24 bytes; AdamW: 2 x 24 = 48 bytes."""
    model = nn.Sequential(nn.Linear(3, 5), nn.Linear(5, 2))
    model[0].requires_grad_(False)
    shares = sharded_state_bytes(model, 2, torch.bfloat16)
    assert (shares.parameters, shares.gradients, shares.optimizer) == (48, 24, 48)


def test_tiny_over_two_ranks_halves_every_state() -> None:
    """At tiny every parameter has an even first dimension (channels 32 and 64, 4 latent
    channels, 128-wide time embedding), so a rank holds exactly half of each state: serial's
    1,028,484 frozen weights in bf16 and 435,424 trainable ones in fp32 give
    (2,056,968 + 1,741,696) / 2 = 1,899,332 bytes of weights, 870,848 of gradients and
    1,741,696 of AdamW state per rank."""
    result = dry_run(preset("tiny", frames=4, resolution=64), ["serial"], torch.bfloat16, world=2)
    (record,) = result.records
    assert record.case.key == "tiny-b1-f4-r64-bf16-fsdp-w2"
    assert (record.params.frozen, record.params.trainable) == (1_028_484, 435_424)
    shares = record.per_rank
    assert shares is not None
    assert (shares.parameters, shares.gradients, shares.optimizer) == (
        1_899_332,
        870_848,
        1_741_696,
    )
    assert "| peak, unsharded MiB |" in format_dry_run(result)  # one process's, not a rank's


def test_world_one_predicts_no_shares() -> None:
    result = dry_run(preset("tiny", frames=4, resolution=64), ["mobius"], torch.bfloat16)
    assert result.records[0].per_rank is None
    assert result.records[0].case.world_size == 1
    assert "| peak MiB |" in format_dry_run(result)
