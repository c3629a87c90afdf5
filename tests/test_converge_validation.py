"""converge's fixed validation set: timesteps spread evenly over the bands, the same tensors
whatever the global seed, and band losses that match a hand computation."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from mobius_core.errors import BadInput
from mobius_core.models.config import preset
from mobius_core.training.data import ShapeClips
from mobius_core.training.validation import evaluate, validation_set


@pytest.fixture(scope="module")
def source() -> ShapeClips:
    return ShapeClips(preset("tiny", frames=4, resolution=64))


def test_timesteps_and_clips_by_hand(source: ShapeClips) -> None:
    """n = 4: t_k = floor((k + 0.5) * 1000 / 4) -> one per band; clips in turn."""
    valset = validation_set(source, clips=2, pairs=2)
    assert valset.timesteps.tolist() == [125, 375, 625, 875]
    first = source.validation(2, seed=1_000_003).latents  # the set's own seed
    assert torch.equal(valset.clips.latents[0], first[0])
    assert torch.equal(valset.clips.latents[2], first[0])
    assert torch.equal(valset.clips.latents[1], first[1])


def test_fixed_whatever_the_global_seed(source: ShapeClips) -> None:
    torch.manual_seed(1)
    a = validation_set(source, clips=4, pairs=2)
    torch.manual_seed(2)
    b = validation_set(source, clips=4, pairs=2)
    assert torch.equal(a.noise, b.noise) and torch.equal(a.clips.latents, b.clips.latents)
    assert torch.equal(a.timesteps, b.timesteps)


def test_size_must_fill_the_bands(source: ShapeClips) -> None:
    with pytest.raises(BadInput, match="multiple of 4"):
        validation_set(source, clips=3, pairs=1)


class Zero(nn.Module):
    """Predicts no noise: its loss is the mean square of the noise itself."""

    def forward(self, latents: Tensor, timesteps: Tensor, context: Tensor) -> Tensor:
        return torch.zeros_like(latents)


def test_band_losses_of_a_zero_model(source: ShapeClips) -> None:
    valset = validation_set(source, clips=4, pairs=2)  # t: 62, 187, ..., 937
    losses = evaluate(Zero(), valset, source.contexts, chunk=3)  # chunks 3, 3, 2
    noise2 = valset.noise.pow(2).flatten(1).mean(1)  # (8,) per entry
    assert losses.bands["t0-249"] == pytest.approx(noise2[:2].mean().item(), rel=1e-5)
    assert losses.bands["t750-999"] == pytest.approx(noise2[6:].mean().item(), rel=1e-5)
    assert losses.high == pytest.approx(noise2[4:].mean().item(), rel=1e-5)
    assert losses.overall == pytest.approx(noise2.mean().item(), rel=1e-5)
