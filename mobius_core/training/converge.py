"""Quality at matched cost: stage 1 (the 2D model), then every variant's fine-tune and control.

Every variant and seed is fine-tuned twice from the same stage-1 weights: on coherent clips,
and as a control on incoherent clips (each frame from another clip), which measures what a
fine-tune gains from its added capacity alone. The frozen 2D model's validation loss is the
no-temporal baseline. The result is plain JSON for `report.converge_record`.

With a `Checkpoint` (the user's diffusers weights) stage 1 is skipped: its 2D weights are
the baseline, and every entry starts from the checkpoint. `keep` gets each entry's model
after its first seed's fine-tune (the run layer saves it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mobius_core.models.config import Config
from mobius_core.models.variants import build_unet2d, hold_frozen_in
from mobius_core.progress import progress
from mobius_core.training.data import ShapeClips, Source
from mobius_core.training.devices import frozen_dtype
from mobius_core.training.finetune import (
    Builder,
    Entry,
    FinetuneSettings,
    finetune,
    from_weights,
)
from mobius_core.training.latent_folder import LatentFolder
from mobius_core.training.pretrain import PretrainSettings, cache_path, pretrained
from mobius_core.training.validation import Losses, evaluate, validation_set


@dataclass(frozen=True)
class ConvergeSettings:
    """Everything a converge run does, apart from the shape and the device."""

    pretrain: PretrainSettings
    finetune: FinetuneSettings
    seeds: tuple[int, ...]
    entries: tuple[Entry, ...]
    val_clips: int  # held-out clips
    val_pairs: int  # (timestep, noise) pairs per clip


@dataclass(frozen=True)
class Checkpoint:
    """The user's weights: the 2D UNet's, in our names (the baseline), and every entry's start."""

    weights: dict[str, torch.Tensor]
    start: Builder
    described: dict[str, Any]  # what the record says of it (the paths)


Keep = Callable[[Entry, Config, nn.Module], None]  # an entry, its config, its trained model


def source_of(data: Path | None, config: Config) -> Source:
    """The synthetic shapes, or the latent clips of the folder `data`."""
    if data is None:
        return ShapeClips(config)
    return LatentFolder(data, config)


def baseline_losses(
    config: Config,
    weights: dict[str, torch.Tensor],
    source: Source,
    valset: Any,
    device: str,
    dtype: torch.dtype,
) -> Losses:
    """The frozen 2D model's validation losses, under the fine-tune's dtype policy."""
    with torch.device(device):
        model = build_unet2d(config)
    model.load_state_dict(weights)
    model.requires_grad_(False)
    held = frozen_dtype(device, dtype)
    if held is not None:
        hold_frozen_in(model, held)
    return evaluate(model, valset, source.contexts, device, dtype)


def converge(
    config: Config,
    source: Source,
    settings: ConvergeSettings,
    cache: Path,
    device: str = "cpu",
    dtype: torch.dtype = torch.float32,
    checkpoint: Checkpoint | None = None,
    keep: Keep | None = None,
) -> dict[str, Any]:
    """Stage 1 (or the checkpoint), the baseline, then a fine-tune and a control per entry
    and seed."""
    valset = validation_set(source, settings.val_clips, settings.val_pairs)
    if checkpoint is None:
        cached = cache_path(cache, config, source, settings.pretrain).exists()
        total = 0 if cached else settings.pretrain.levelling.max_steps  # it may stop sooner
        with progress(total, "stage 1: 2D model") as bar:
            weights, log = pretrained(cache, config, source, valset, settings.pretrain, device, bar)
        start, stage1 = from_weights(weights), asdict(log)
    else:
        weights, start = checkpoint.weights, checkpoint.start
        stage1 = {"skipped": True, **checkpoint.described}
    baseline = baseline_losses(config, weights, source, valset, device, dtype)
    curves: list[dict[str, Any]] = []
    finished: list[int] = []  # seeds whose every fine-tune and control ran
    steps = len(settings.seeds) * len(settings.entries) * 2 * settings.finetune.steps
    with progress(steps, "stage 2: fine-tunes") as bar:
        try:
            for seed in settings.seeds:
                for entry in settings.entries:
                    for coherent in (True, False):
                        kept = keep if coherent and seed == settings.seeds[0] else None
                        curve = finetune(
                            config,
                            entry,
                            start,
                            source,
                            valset,
                            settings.finetune,
                            seed,
                            coherent,
                            device,
                            dtype,
                            bar,
                            _bind(kept, entry, config),
                        )
                        curves.append(asdict(curve))
                finished.append(seed)
        except KeyboardInterrupt:  # keep the finished seeds, if enough for an interval
            if len(finished) < 2:
                raise
            curves = [c for c in curves if c["seed"] in finished]
    return {
        "pretrain": stage1,
        "baseline": asdict(baseline),
        "curves": curves,
        "seeds": finished,
        "interrupted": finished != list(settings.seeds),
    }


def _bind(keep: Keep | None, entry: Entry, config: Config) -> Callable[[nn.Module], None] | None:
    """`keep` for one entry, or None."""
    if keep is None:
        return None
    return lambda model: keep(entry, entry.config(config), model)
