"""What `mobius-bench converge` sets up around its training: its entries (the variants, and
mobius-double at each `--rejoin` depth), the start from the user's checkpoint (`--unet`),
the saver of each entry's trained model into the run folder's `checkpoints/`, and the
record (each entry with its rejoin depth)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from matplotlib import colormaps
from matplotlib.colors import to_hex
from torch import nn

from mobius_core.errors import BadInput
from mobius_core.measure.environment import environment
from mobius_core.models.config import Config
from mobius_core.models.variants import spec
from mobius_core.report.converge_record import ConvergeRecord, build_record
from mobius_core.report.record import Case, VariantInfo
from mobius_core.training.converge import Checkpoint, ConvergeSettings, Keep
from mobius_core.training.devices import DTYPES
from mobius_core.training.finetune import Entry

REJOINING = "mobius-double"  # the variant whose return bridges `--rejoin` places
SINGLE = "mobius"  # mobius-double at k = 0
CHECKPOINTS = "checkpoints"  # the run folder's subfolder of trained models


def entries(variants: list[str], rejoin: list[int], config: Config) -> list[Entry]:
    """Each variant once, then mobius-double at each depth of `rejoin` (checked first)."""
    for k in rejoin:
        if not 0 <= k <= config.up_positions:
            raise BadInput(
                f"--rejoin: {k} is outside 0..{config.up_positions} (the up positions of"
                f" {config.name})"
            )
    return [Entry(v) for v in variants] + [Entry(REJOINING, k) for k in rejoin]


def depth(entry: Entry, config: Config) -> int | None:
    """The rejoin depth of a mobius entry (mobius is k = 0); None for any other variant."""
    if entry.variant == SINGLE:
        return 0
    return entry.config(config).rejoin if entry.variant == REJOINING else None


def info(entry: Entry, rejoin: list[int]) -> VariantInfo:
    """What the record says of an entry: the variant's spec; at a depth of its own, the
    label says k and a shade of red that darkens with k tells the depths apart."""
    s = spec(entry.variant)
    if entry.rejoin is None:
        return VariantInfo(entry.name, s.label, s.colour, s.baseline)
    shade = 0.35 + 0.6 * sorted(rejoin).index(entry.rejoin) / max(1, len(rejoin) - 1)
    colour = to_hex(colormaps["Reds"](shade))
    return VariantInfo(entry.name, f"{s.label}, k = {entry.rejoin}", colour)


def checkpoint_start(unet: Path, adapter: Path | None, config: Config) -> Checkpoint:
    """Every entry from the user's diffusers UNet (and MotionAdapter); the 2D weights are
    the UNet's, read through mobius's trunk, which is exactly the 2D UNet."""
    from mobius_core.interop.load import from_diffusers

    trunk = spec(SINGLE).spatial(from_diffusers(SINGLE, unet, None, config))
    weights = {k: v.detach().clone() for k, v in trunk.state_dict().items()}

    def start(
        variant: str, at: Config, seed: int, device: str, frozen: torch.dtype | None
    ) -> nn.Module:
        return from_diffusers(variant, unet, adapter, at, device, frozen, seed)

    described = {"unet": str(unet), "motion_adapter": str(adapter) if adapter else None}
    return Checkpoint(weights, start, described)


def checkpoint_saver(folder: Path) -> tuple[Keep | None, str]:
    """A `Keep` that saves each entry's model as `folder/<entry>.safetensors`, and what the
    record says of it; without safetensors, None and why."""
    from mobius_core.interop import require

    try:
        require("safetensors.torch")
    except BadInput as error:
        return None, f"not saved: {error}"

    def keep(entry: Entry, config: Config, model: nn.Module) -> None:
        from mobius_core.interop.export import save_checkpoint

        save_checkpoint(model, entry.variant, config, folder / f"{entry.name}.safetensors")

    return keep, f"{CHECKPOINTS}/<entry>.safetensors: each entry's model after seed 0"


def case_of(
    config: Config, device_dtype: tuple[str, torch.dtype], checkpoint: Checkpoint | None
) -> Case:
    """The run's case: its shape, dtype and device, with the checkpoint's paths."""
    device, dtype = device_dtype
    dtype_name = next(name for name, value in DTYPES.items() if value == dtype)
    paths = checkpoint.described if checkpoint is not None else {}
    return Case(
        config.name, config.batch, config.frames, config.resolution, dtype_name, device,
        unet=paths.get("unet"), motion_adapter=paths.get("motion_adapter"),
    )  # fmt: skip


def record_of(
    raw: dict[str, Any],
    config: Config,
    settings: ConvergeSettings,
    device_dtype: tuple[str, torch.dtype],
    extra: dict[str, Any],
    checkpoint: Checkpoint | None,
) -> ConvergeRecord:
    """The run's record: its case (with the checkpoint's paths), settings and entries."""
    case = case_of(config, device_dtype, checkpoint)
    rejoin = [e.rejoin for e in settings.entries if e.rejoin is not None]
    infos = [info(e, rejoin) for e in settings.entries]
    depths = {e.name: depth(e, config) for e in settings.entries}
    plain = {**asdict(settings.finetune), "seeds": raw["seeds"], **extra}
    plain |= {"interrupted": raw["interrupted"]} if raw["interrupted"] else {}
    plain |= {"val_clips": settings.val_clips, "val_pairs": settings.val_pairs}
    return build_record(raw, case, plain, environment(), infos, depths)
