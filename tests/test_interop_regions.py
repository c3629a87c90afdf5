"""FLOPs by region: diffusers' serial splits its step as ours does.

Backward FLOPs go to the region whose forward made the autograd node: diffusers calls
its blocks, resnets and projections with keyword arguments and runs dropouts that return
their input, so module hooks alone lose track of where backward is.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

pytest.importorskip("diffusers")

import mobius_core.interop.peer  # noqa: F401  (registers diffusers-serial)
from mobius_core.models.config import preset
from mobius_core.run.dryrun import predict


def test_diffusers_serial_splits_its_step_by_region_as_serial_does() -> None:
    config = preset("tiny")  # c0 = 32, batch 1, 4 frames
    ours = predict(config, "serial", torch.float32).flops
    theirs = predict(config, "diffusers-serial", torch.float32).flops
    # Backward: the same ops carry gradients back through the same layers.
    assert theirs.by_region["backward"] == ours.by_region["backward"]
    assert ours.by_region["backward"]["spatial"] > 0  # frozen layers that pass gradients on
    # Forward: diffusers embeds the timestep once per clip, we once per frame. Its two
    # linears are c0 -> 4 c0 -> 4 c0: 2 (32*128 + 128*128) = 40,960 FLOPs per sample,
    # and we embed b f - b = 3 samples more.
    extra = 3 * 40_960
    forward_ours, forward_theirs = ours.by_region["forward"], theirs.by_region["forward"]
    assert forward_ours["spatial"] - forward_theirs["spatial"] == extra
    assert forward_ours["temporal"] == forward_theirs["temporal"]
    assert ours.total - theirs.total == extra


def test_the_trunk_after_mobius_double_s_last_return_is_spatial_in_backward() -> None:
    """At k = 1 the one return bridge adds to the trunk's last up layer's output, so backward
    then crosses only conv_out (3x3, 32 -> 4 channels; norm and SiLU count zero) for its input
    gradient: 2 * 4 * 32 * 9 per pixel, over b f h w = 1 * 4 * 8 * 8 pixels."""
    config = replace(preset("tiny"), rejoin_positions=1)
    flops = predict(config, "mobius-double", torch.float32).flops
    assert flops.by_region["backward"]["spatial"] == 2 * 4 * 32 * 9 * (4 * 8 * 8)
