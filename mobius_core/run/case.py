"""A case's torch side: its validated construction, its Config, its torch dtype, and the
variant info its records carry. `report.record.Case` itself stays torch-free."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch
from torch import nn

from mobius_core.errors import BadInput
from mobius_core.models.config import Config, preset
from mobius_core.models.variants import build_matched, spec
from mobius_core.report.record import Case, VariantInfo
from mobius_core.training.devices import DTYPES, frozen_dtype


def make_case(
    preset_name: str,
    batch: int,
    frames: int,
    resolution: int,
    dtype: str,
    device: str,
    rounds: int,
    warmup: int,
    **settings: object,
) -> Case:
    """A measured case, checked: known dtype, at least 2 rounds, a valid shape and rejoin
    depth. `settings` are Case's other fields (rejoin, mode, world_size, unet, ...)."""
    if rounds < 2:
        raise BadInput(f"rounds: need at least 2 timed rounds, got {rounds}")
    if warmup < 0:
        raise BadInput(f"warmup: must not be negative, got {warmup}")
    case = Case(preset_name, batch, frames, resolution, dtype, device, rounds, warmup, **settings)  # type: ignore[arg-type]
    config(case)  # validates the shape and rejoin depth against the preset
    return case


def config(case: Case) -> Config:
    """The preset at the case's shape, with its rejoin depth when one is set."""
    c = preset(case.preset, batch=case.batch, frames=case.frames, resolution=case.resolution)
    return c if case.rejoin is None else replace(c, rejoin_positions=case.rejoin)


def torch_dtype(case: Case) -> torch.dtype:
    return DTYPES[case.dtype]


def variant_info(name: str) -> VariantInfo:
    """What a record says of its variant, from the variant's spec."""
    s = spec(name)
    return VariantInfo(s.name, s.label, s.colour, s.baseline)


def build_variant(case: Case, variant: str, seed: int = 0) -> nn.Module:
    """`variant` at `case`'s preset, device and frozen dtype, with the matched weights:
    the user's checkpoint when the case names one, else the seeded random ones."""
    frozen = frozen_dtype(case.device, torch_dtype(case))
    if case.unet is None:
        return build_matched(config(case), [variant], case.device, frozen, seed)[variant]
    from mobius_core.interop.load import from_diffusers

    adapter = Path(case.motion_adapter) if case.motion_adapter else None
    return from_diffusers(
        variant, Path(case.unet), adapter, config(case), case.device, frozen, seed
    )
