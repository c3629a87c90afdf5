"""`--unet` and `--motion-adapter`: the commands' options for the user's own checkpoint.

A command adds them with `add_checkpoint_arguments`, checks them (before any work) with
`checkpoint_config`, and builds its matched models with `build_matched_from`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from torch import nn

from mobius_core.errors import BadInput
from mobius_core.interop import require
from mobius_core.interop.configs import ARCHITECTURE
from mobius_core.interop.load import from_diffusers, read_config
from mobius_core.models.config import Config
from mobius_core.models.variants import build_matched


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


def checkpoint_config(args: argparse.Namespace, config: Config) -> Config:
    """`config`, checked against the checkpoint's config files: its layout must be the
    preset's, so that records of the preset mean one model. Needs no weights (dry run)."""
    if args.unet is None:
        if args.motion_adapter is not None:
            raise BadInput("--motion-adapter needs --unet (the 2D weights it fine-tunes)")
        return config
    require("safetensors.torch")
    found = read_config(args.unet, args.motion_adapter, config)
    for field in ARCHITECTURE:
        theirs, ours = getattr(found, field), getattr(config, field)
        if theirs != ours:
            raise BadInput(
                f"--unet: the checkpoint's {field} {theirs} differs from preset {config.name}'s"
                f" {ours}; choose the preset of its layout"
            )
    return found


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
