"""FSDP2's units: diffusers' UNetMotionModel is sharded layer by layer as our serial is, so
that the fsdp comparison of the two serials is like for like."""

from __future__ import annotations

import pytest
from torch import nn

from mobius_core.report.record import Case
from mobius_core.run.case import build_variant
from mobius_core.run.dist_wrap import Unit, fsdp_units

pytest.importorskip("diffusers")
import mobius_core.interop.peer  # noqa: F401  (registers diffusers-serial)

CASE = Case("tiny", 1, 4, 64, "fp32", "cpu", 2, 0)
RESNET, ATTENTION, MOTION = "ResnetBlock2D", "Transformer2DModel", "AnimateDiffTransformer3D"


def _modules(unit: Unit) -> list[nn.Module]:
    return unit if isinstance(unit, list) else [unit]


def _numel(unit: Unit) -> int:
    return sum(p.numel() for m in _modules(unit) for p in m.parameters())


def test_diffusers_serial_is_sharded_per_layer() -> None:
    """tiny: level 0 (attention) and level 1 (none) of 1 down layer each, the middle layer
    (attention; its second resnet stays in the root, as ours does), and 2 up layers per
    level: 7 layers, 4 with attention. A unit is a layer's resnet, its attention where the
    level has one, and its motion module."""
    units = fsdp_units(build_variant(CASE, "diffusers-serial"))
    kinds = sorted([type(m).__name__ for m in _modules(u)] for u in units)
    assert kinds == sorted(4 * [[RESNET, ATTENTION, MOTION]] + 3 * [[RESNET, MOTION]])


def test_diffusers_serial_units_hold_the_weights_of_our_serials_layers() -> None:
    """The same model under two names: each layer's unit holds as many weights in both."""
    ours = fsdp_units(build_variant(CASE, "serial"))
    theirs = fsdp_units(build_variant(CASE, "diffusers-serial"))
    assert sorted(map(_numel, theirs)) == sorted(map(_numel, ours))
