"""`--unet` and `--motion-adapter`: the commands' options for the user's own checkpoint.

A command adds them with `add_checkpoint_arguments`, checks them (before any work) with
`checkpoint_config`, and builds its matched models with `build_matched_from`; the suite
checks its `--unet`/`--motion-adapter` with `suite_preset`, and the dry run reads the
checkpoint's layout with `layout_config`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from torch import nn

from mobius_core.errors import BadInput
from mobius_core.interop import require
from mobius_core.interop.configs import ARCHITECTURE, unet_fields
from mobius_core.interop.load import from_diffusers, locate, read_config, read_json
from mobius_core.models.config import PRESETS, Config, preset
from mobius_core.models.variants import build_matched

OPTION = {"unet": "unet", "motion adapter": "motion-adapter"}  # Source.what -> its option


def add_checkpoint_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--unet",
        type=Path,
        help="a diffusers UNet folder (config.json and weights; a pipeline's unet/ is found),"
        " or a .safetensors file in the preset's layout (default: random weights)",
    )
    parser.add_argument(
        "--motion-adapter",
        type=Path,
        help="a diffusers MotionAdapter folder or .safetensors file, with --unet"
        " (default: fresh motion modules)",
    )


def check_checkpoint(
    unet: Path | str | None, motion_adapter: Path | str | None, config: Config
) -> Config:
    """`config`, checked against the checkpoint's config files: its layout must be the
    preset's, so that records of the preset mean one model; and its weight files must be
    there, with safetensors installed. Reads no weights."""
    if unet is None:
        if motion_adapter is not None:
            raise BadInput("--motion-adapter needs --unet (the 2D weights it fine-tunes)")
        return config
    require("safetensors.torch")
    found = read_config(unet, motion_adapter, config)
    difference = _difference(found, config)
    if difference is not None:
        raise BadInput(f"--unet: the checkpoint's {difference}; choose the preset of its layout")
    sources = [locate(unet, "unet")]
    if motion_adapter is not None:
        sources.append(locate(motion_adapter, "motion adapter"))
    for source in sources:
        if not source.weights.is_file():
            raise BadInput(f"--{OPTION[source.what]}: {source.weights} is missing")
    return found


def _difference(found: Config, config: Config) -> str | None:
    """The first architecture field in which `found` differs from `config`, said so."""
    for field in ARCHITECTURE:
        theirs, ours = getattr(found, field), getattr(config, field)
        if theirs != ours:
            return f"{field} {theirs} differs from preset {config.name}'s {ours}"
    return None


def checkpoint_config(args: argparse.Namespace, config: Config) -> Config:
    """`check_checkpoint` on a command's `--unet` and `--motion-adapter`."""
    return check_checkpoint(args.unet, args.motion_adapter, config)


def layout_config(args: argparse.Namespace, config: Config) -> Config:
    """`config`'s shape with the layout in the checkpoint's config files, checked (a bare
    file has the preset's): what a dry run predicts for. Reads no weights and needs no
    extra, so that a `config.json` alone will do."""
    if args.unet is None:
        return check_checkpoint(None, args.motion_adapter, config)  # --motion-adapter alone
    return read_config(args.unet, args.motion_adapter, config)


def suite_preset(unet: str, motion_adapter: str | None, preset_name: str | None) -> str:
    """The preset the suite runs the checkpoint at, checked before any work: `preset_name`,
    or when None the preset whose 2D layout the checkpoint's config.json has."""
    if preset_name is None:
        found = read_json(locate(unet, "unet"))
        if found is None:
            raise BadInput(f"--unet: {unet} has no config.json; name its layout with --preset")
        fields = unet_fields(found)
        fits = [n for n in PRESETS if all(getattr(preset(n), f) == v for f, v in fields.items())]
        if not fits:
            raise BadInput(
                f"--unet: {unet} has the layout of no preset ({', '.join(PRESETS)});"
                " the suite runs a preset's layout"
            )
        preset_name = fits[0]
    check_checkpoint(unet, motion_adapter, preset(preset_name))
    return preset_name


def build_matched_from(
    args: argparse.Namespace,
    config: Config,
    variants: list[str],
    device: torch.device | str = "cpu",
    frozen_dtype: torch.dtype | None = None,
    seed: int = 0,
) -> dict[str, nn.Module]:
    """`build_matched`, or with `--unet` every variant from the user's checkpoint."""
    config = checkpoint_config(args, config)
    if args.unet is None:
        return build_matched(config, variants, device, frozen_dtype, seed)
    return {
        v: from_diffusers(v, args.unet, args.motion_adapter, config, device, frozen_dtype, seed)
        for v in variants
    }
