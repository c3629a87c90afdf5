"""Synthetic clips: seeded, in range, moving; encoded to latent shape."""

from __future__ import annotations

import torch

from mobius_core.training.clips import encode, moving_shapes


def test_clips_are_seeded_and_in_range() -> None:
    a, b = moving_shapes(2, 4, 64, seed=5), moving_shapes(2, 4, 64, seed=5)
    assert a.shape == (2, 3, 4, 64, 64)
    assert torch.equal(a, b)
    assert a.min() >= -1 and a.max() <= 1
    assert not torch.equal(a, moving_shapes(2, 4, 64, seed=6))


def test_shapes_move_between_frames() -> None:
    clip = moving_shapes(1, 4, 64, seed=0)
    assert not torch.equal(clip[:, :, 0], clip[:, :, 3])


def test_encode_pools_to_latent_shape() -> None:
    clip = torch.zeros(1, 3, 2, 16, 16)
    clip[..., :8, :8] = 1.0  # one 8x8 cell lit in every channel
    latents = encode(clip)
    assert latents.shape == (1, 4, 2, 2, 2)
    # only the lit cell is non-zero after pooling, and it is the same in both frames
    assert latents[..., 1:, :].abs().max() == 0 and latents[..., :, 1:].abs().max() == 0
    assert latents[..., 0, 0].abs().max() > 0
    assert torch.equal(latents[:, :, 0], latents[:, :, 1])


def test_latents_are_multiplied_by_stable_diffusions_scale() -> None:
    """An all-white clip pools to (1, 1, 1) in every cell; the fixed projection is
    orthonormal, so each latent vector's length is 0.18215 x sqrt(3) = 0.31549."""
    latents = encode(torch.ones(1, 3, 2, 16, 16))  # (1, 4, 2, 2, 2)
    lengths = latents.square().sum(dim=1).sqrt()  # (1, 2, 2, 2): one per cell
    assert torch.allclose(lengths, torch.full_like(lengths, 0.31549), atol=1e-5)
