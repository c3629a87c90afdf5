"""The key table: our state-dict names <-> diffusers' names, in one module.

Our 2D UNet's names map onto `UNet2DConditionModel`'s and our motion modules' onto
`MotionAdapter`'s (which `UNetMotionModel` uses unchanged). A table is built from the
names our model actually has, so that it can be checked in both directions; `translate`
reports every key it did not use.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch
from torch import Tensor

from mobius_core.models.config import Config
from mobius_core.models.unet import UNet

# Our prefix of a spatial layer -> diffusers' prefix; `{i}`, `{j}` are level and layer.
_PREFIXES: tuple[tuple[str, str], ...] = (
    (r"down_levels\.(\d+)\.layers\.(\d+)\.res\.", r"down_blocks.\1.resnets.\2."),
    (r"down_levels\.(\d+)\.layers\.(\d+)\.attn\.", r"down_blocks.\1.attentions.\2."),
    (r"down_levels\.(\d+)\.resample\.", r"down_blocks.\1.downsamplers.0."),
    (r"up_levels\.(\d+)\.layers\.(\d+)\.res\.", r"up_blocks.\1.resnets.\2."),
    (r"up_levels\.(\d+)\.layers\.(\d+)\.attn\.", r"up_blocks.\1.attentions.\2."),
    (r"up_levels\.(\d+)\.resample\.", r"up_blocks.\1.upsamplers.0."),
    (r"mid\.layer\.res\.", "mid_block.resnets.0."),
    (r"mid\.layer\.attn\.", "mid_block.attentions.0."),
    (r"mid\.res\.", "mid_block.resnets.1."),
    (r"(time_embedding|conv_in|conv_norm_out|conv_out)\.", r"\1."),
)
# Inside a SpatialTransformer, ResBlock2D or resampler: ours -> diffusers'.
_SPATIAL_LEAVES: tuple[tuple[str, str], ...] = (
    (r"^block\.", "transformer_blocks.0."),
    (r"\.ff\.proj\.", ".ff.net.0.proj."),
    (r"\.ff\.out\.", ".ff.net.2."),
    (r"\.to_out\.", ".to_out.0."),
)
# Inside a motion module: ours -> diffusers' AnimateDiffTransformer3D.
_MOTION_LEAVES: tuple[tuple[str, str], ...] = (
    (r"^blocks\.0\.norm\.", "transformer_blocks.0.norm1."),
    (r"^blocks\.0\.attn\.", "transformer_blocks.0.attn1."),
    (r"^blocks\.1\.norm\.", "transformer_blocks.0.norm2."),
    (r"^blocks\.1\.attn\.", "transformer_blocks.0.attn2."),
    (r"^ff_norm\.", "transformer_blocks.0.norm3."),
    (r"^ff\.proj\.", "transformer_blocks.0.ff.net.0.proj."),
    (r"^ff\.out\.", "transformer_blocks.0.ff.net.2."),
    (r"\.to_out\.", ".to_out.0."),
)
POSITIONS = "transformer_blocks.0.pos_embed.pe"  # diffusers' frame table, a saved buffer

Table = dict[str, str]  # our name -> diffusers' name


def _rename(name: str, rules: tuple[tuple[str, str], ...]) -> str:
    for pattern, replacement in rules:
        name = re.sub(pattern, replacement, name, count=1)
    return name


def spatial_name(ours: str) -> str:
    """Diffusers' name of one of our 2D UNet's weights (as in `UNet(config).state_dict()`)."""
    for pattern, replacement in _PREFIXES:
        match = re.match(pattern, ours)
        if match:
            return match.expand(replacement) + _rename(ours[match.end() :], _SPATIAL_LEAVES)
    raise KeyError(f"no rule for the 2D weight {ours!r}")


def motion_name(ours: str) -> str:
    """Diffusers' name of a weight inside one motion module (relative to the module)."""
    return _rename(ours, _MOTION_LEAVES)


def _prefixes(config: Config, down: str, mid: str, up: str) -> list[str]:
    """Motion-module prefixes in forward order (down, mid, up), from templates taking the
    level `i` and the layer `j`."""
    levels = range(config.levels)
    downs = [down.format(i=i, j=j) for i in levels for j in range(config.layers_per_level)]
    ups = [up.format(i=i, j=j) for i in levels for j in range(config.layers_per_up_level)]
    return [*downs, mid, *ups]


def adapter_prefixes(config: Config) -> list[str]:
    """The MotionAdapter's module prefix of each motion position, in forward order
    (down, mid, up): the order of `UNet.positions()` and of mobius's branch."""
    return _prefixes(
        config,
        "down_blocks.{i}.motion_modules.{j}.",
        "mid_block.motion_modules.0.",
        "up_blocks.{i}.motion_modules.{j}.",
    )


def serial_prefixes(config: Config) -> list[str]:
    """Our serial model's motion module prefixes, in forward order."""
    return _prefixes(
        config,
        "down_levels.{i}.layers.{j}.temporal.",
        "mid.layer.temporal.",
        "up_levels.{i}.layers.{j}.temporal.",
    )


def _names(config: Config, temporal: bool) -> list[str]:
    with torch.device("meta"):
        return list(UNet(config, temporal=temporal).state_dict())


def unet2d_table(config: Config) -> Table:
    """Every weight of our 2D UNet -> its name in `UNet2DConditionModel`."""
    return {name: spatial_name(name) for name in _names(config, temporal=False)}


def motion_table(config: Config, prefixes: list[str]) -> Table:
    """Our motion modules (rooted at `prefixes`, in forward order) -> the MotionAdapter's."""
    serial = serial_prefixes(config)
    inside = [n.removeprefix(serial[0]) for n in _names(config, True) if n.startswith(serial[0])]
    table: Table = {}
    for ours, theirs in zip(prefixes, adapter_prefixes(config), strict=True):
        table.update({ours + n: theirs + motion_name(n) for n in inside})
    return table


def invert(table: Table) -> Table:
    inverse = {v: k for k, v in table.items()}
    assert len(inverse) == len(table), "the key table maps two names onto one"
    return inverse


@dataclass(frozen=True)
class Translated:
    """A state dict under the other side's names, and the source keys no rule took."""

    state: dict[str, Tensor]
    unused: list[str]


def translate(state: dict[str, Tensor], table: Table) -> Translated:
    """`state` renamed through `table`; keys the table lacks are reported, not dropped
    silently."""
    out = {table[k]: v for k, v in state.items() if k in table}
    return Translated(out, sorted(k for k in state if k not in table))
