"""`from_diffusers`: any variant built from a diffusers UNet and, optionally, a MotionAdapter.

A checkpoint is a folder with `config.json` and `diffusion_pytorch_model.safetensors` (a
pipeline folder's `unet/` is found too), or a single safetensors file, whose layout is then
the preset's. The 2D weights go into the variant's spatial layers (serial's, mobius's
trunk); the adapter's motion modules into its motion modules (serial's, mobius's branch).
Every checkpoint key must be used, and every shape must fit: else one line says which.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from mobius_core.errors import BadInput
from mobius_core.interop import configs, keys, require
from mobius_core.interop.peer import DiffusersSerial
from mobius_core.models.config import Config, preset
from mobius_core.models.variants import build_unet, hold_frozen_in, load_spatial_weights

WEIGHTS = "diffusion_pytorch_model.safetensors"
CONFIG = "config.json"


@dataclass(frozen=True)
class Source:
    """Where one diffusers model's config and weights are (config None: a bare file)."""

    what: str  # "unet" or "motion adapter", for messages
    config: Path | None
    weights: Path


def locate(path: Path | str, what: str) -> Source:
    """The config and weights of a folder (or a pipeline folder's `unet/`), or a file."""
    path = Path(path)
    if path.is_file():
        if path.suffix != ".safetensors":
            raise BadInput(f"{what}: {path} is not a .safetensors file or a diffusers folder")
        return Source(what, None, path)
    if (path / "unet" / CONFIG).is_file():
        path = path / "unet"
    if not (path / CONFIG).is_file():
        raise BadInput(
            f"{what}: {path} has no {CONFIG} (a diffusers folder, or a .safetensors file)"
        )
    return Source(what, path / CONFIG, path / WEIGHTS)


def read_json(source: Source) -> dict[str, Any] | None:
    if source.config is None:
        return None
    try:
        data = json.loads(source.config.read_text())
    except (OSError, ValueError) as error:
        raise BadInput(f"{source.what}: cannot read {source.config}: {error}") from None
    if not isinstance(data, dict):
        raise BadInput(f"{source.what}: {source.config} is not a JSON object")
    return data


def read_weights(source: Source) -> dict[str, Tensor]:
    if not source.weights.is_file():
        raise BadInput(f"{source.what}: {source.weights} is missing")
    st = require("safetensors.torch")
    try:
        return st.load_file(str(source.weights))
    except Exception as error:  # safetensors raises its own error kinds for a bad file
        raise BadInput(f"{source.what}: cannot read {source.weights}: {error}") from None


def read_config(unet: Path | str, motion_adapter: Path | str | None, base: Config) -> Config:
    """`base`'s shape with the checkpoint's architecture, from the config files alone."""
    unet_cfg = read_json(locate(unet, "unet"))
    adapter = locate(motion_adapter, "motion adapter") if motion_adapter is not None else None
    adapter_cfg = read_json(adapter) if adapter is not None else None
    if unet_cfg is None:  # a bare file: the preset's layout
        unet_cfg = configs.unet_config(base)
    if adapter is not None and adapter_cfg is None:
        adapter_cfg = configs.adapter_config(base)
    return configs.config_from(unet_cfg, adapter_cfg, base)


def motion_table(model: nn.Module, config: Config) -> keys.Table:
    """The model's motion weights -> the MotionAdapter's names."""
    if isinstance(model, DiffusersSerial):
        table = keys.motion_table(config, keys.serial_prefixes(config))
        return {"unet." + theirs: theirs for theirs in table.values()}
    prefixes = [f"branch.temporal.{k}." for k in range(len(keys.adapter_prefixes(config)))]
    if not hasattr(model, "branch"):
        prefixes = keys.serial_prefixes(config)
    return keys.motion_table(config, prefixes)


def _check_shapes(state: dict[str, Tensor], model: nn.Module, what: str, config: Config) -> None:
    own = model.state_dict()
    for name, value in state.items():
        if name in own and own[name].shape != value.shape:
            raise BadInput(
                f"{what}: {name} has shape {tuple(value.shape)}, the {config.name} layout needs"
                f" {tuple(own[name].shape)}"
            )


def _check_positions(adapter: dict[str, Tensor], model: nn.Module, table: keys.Table) -> None:
    """diffusers saves its fixed sinusoidal frame table; it must be the one we compute."""
    for ours, theirs in table.items():
        if not theirs.endswith(".proj_in.weight"):
            continue
        saved = adapter.get(theirs.removesuffix("proj_in.weight") + keys.POSITIONS)
        if saved is None:
            continue
        module = model.get_submodule(ours.removesuffix(".proj_in.weight"))
        held = getattr(module, "positions", None)
        if held is None:  # diffusers' own module holds the table it loaded
            held = module.get_buffer(keys.POSITIONS)[0]
        n = min(saved.shape[1], held.shape[0])
        if not torch.allclose(saved[0, :n].float(), held[:n].float().cpu(), atol=1e-5):
            raise BadInput(f"motion adapter: {theirs} holds another frame table than AnimateDiff's")


def load_motion(model: nn.Module, config: Config, adapter: dict[str, Tensor]) -> None:
    """The adapter's motion modules into the model's; every adapter key must be used."""
    table = motion_table(model, config)
    moved = keys.translate(adapter, keys.invert(table))
    unused = [k for k in moved.unused if not k.endswith(keys.POSITIONS)]
    if unused:
        raise BadInput(f"motion adapter: {len(unused)} keys no rule uses, e.g. {unused[:3]}")
    missing = sorted(set(table) - set(moved.state))
    if missing:
        raise BadInput(f"motion adapter: {len(missing)} weights missing, e.g. {missing[:3]}")
    _check_positions(adapter, model, table)
    _check_shapes(moved.state, model, "motion adapter", config)
    with torch.no_grad():
        model.load_state_dict(moved.state, strict=False)


def load_unet2d(model: nn.Module, variant: str, config: Config, unet: dict[str, Tensor]) -> None:
    """The 2D UNet's weights into the variant's spatial layers; every key must be used."""
    moved = keys.translate(unet, keys.invert(keys.unet2d_table(config)))
    if moved.unused:
        raise BadInput(f"unet: {len(moved.unused)} keys no rule uses, e.g. {moved.unused[:3]}")
    from mobius_core.models.unet import UNet

    with torch.device("meta"):
        _check_shapes(moved.state, UNet(config), "unet", config)
    load_spatial_weights(model, variant, moved.state)


def from_diffusers(
    variant: str,
    unet: Path | str,
    motion_adapter: Path | str | None = None,
    base: Config | str = "sd15",
    device: torch.device | str = "cpu",
    frozen_dtype: torch.dtype | None = None,
    seed: int = 0,
) -> nn.Module:
    """`variant` built from a diffusers UNet (and MotionAdapter), its spatial weights frozen.

    `base` (a preset or its name) gives the clip shape, and the layout of a bare
    safetensors file. Without an adapter the motion modules start as the variant's do
    (seeded by `seed`): zero out-projections, the per-frame 2D UNet.
    """
    base = preset(base) if isinstance(base, str) else base
    config = read_config(unet, motion_adapter, base)
    torch.manual_seed(seed + 1)  # as build_matched seeds each variant's own weights
    model = build_unet(config, variant, device)
    load_unet2d(model, variant, config, read_weights(locate(unet, "unet")))
    if motion_adapter is not None:
        load_motion(model, config, read_weights(locate(motion_adapter, "motion adapter")))
    if frozen_dtype is not None:
        hold_frozen_in(model, frozen_dtype)
    return model
