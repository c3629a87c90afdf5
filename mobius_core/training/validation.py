"""The fixed validation set and the held-out loss, overall and by timestep band.

Entry k of a set of n uses clip k mod `clips` and timestep floor((k + 0.5) * 1000 / n):
the timesteps are spread evenly, so each band holds the same number of entries and the
overall loss is the mean of the band losses. Clips and noise come from fixed seeds of their
own, never from a training seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from mobius_core.errors import BadInput
from mobius_core.training.data import Clips, Source
from mobius_core.training.step import TRAIN_STEPS, Batch, compute_loss

BANDS = ((0, 250), (250, 500), (500, 750), (750, 1000))  # [low, high) timesteps
HIGH_FROM = 500  # the high-noise half, where neighbouring frames help most
CLIP_SEED, NOISE_SEED = 1_000_003, 1_000_033


def band_name(band: tuple[int, int]) -> str:
    return f"t{band[0]}-{band[1] - 1}"


@dataclass(frozen=True)
class ValidationSet:
    """Fixed clips with fixed (timestep, noise) pairs; every tensor on the CPU."""

    clips: Clips  # latents (n, 4, f, h, w)
    timesteps: Tensor  # (n,)
    noise: Tensor  # (n, 4, f, h, w)


@dataclass(frozen=True)
class Losses:
    """Validation losses: overall, the high-noise half, and per band."""

    overall: float
    high: float
    bands: dict[str, float]


def validation_set(source: Source, clips: int, pairs: int) -> ValidationSet:
    """`clips` held-out clips, each with `pairs` (timestep, noise) pairs."""
    n = clips * pairs
    if n % len(BANDS):
        raise BadInput(f"validation: clips x pairs = {n} must be a multiple of {len(BANDS)}")
    base = source.validation(clips, CLIP_SEED)
    index = torch.arange(n) % clips  # (n,)
    timesteps = ((torch.arange(n) + 0.5) * TRAIN_STEPS / n).long()  # (n,)
    latents = base.latents[index]  # (n, 4, f, h, w)
    noise = torch.randn(latents.shape, generator=torch.Generator().manual_seed(NOISE_SEED))
    return ValidationSet(Clips(latents, base.classes[index]), timesteps, noise)


def entry_losses(model: nn.Module, batch: Batch, dtype: torch.dtype = torch.float32) -> Tensor:
    """Epsilon MSE per entry `(n,)`, so that one forward serves every band."""
    return compute_loss(model, batch, dtype, per_entry=True)


@torch.no_grad()
def evaluate(
    model: nn.Module,
    valset: ValidationSet,
    contexts: Tensor,
    device: str = "cpu",
    dtype: torch.dtype = torch.float32,
    chunk: int = 16,
) -> Losses:
    """The model's epsilon MSE on the set: overall, high-noise half and per band.

    contexts: (classes, 77, c_ctx), indexed by each clip's class.
    """
    losses = []
    for part in torch.arange(len(valset.timesteps)).split(chunk):
        batch = Batch(
            valset.clips.latents[part],
            contexts[valset.clips.classes[part]],
            valset.timesteps[part],
            valset.noise[part],
        ).to(device)
        losses.append(entry_losses(model, batch, dtype).cpu())
    loss = torch.cat(losses)  # (n,)
    bands = {
        band_name(band): loss[(valset.timesteps >= band[0]) & (valset.timesteps < band[1])]
        .mean()
        .item()
        for band in BANDS
    }
    high = loss[valset.timesteps >= HIGH_FROM].mean().item()
    return Losses(loss.mean().item(), high, bands)
