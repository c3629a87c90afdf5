"""Seeded synthetic clips (moving shapes) and a fixed encoder to latent shape.

No pretrained VAE is available on these machines, so clips are encoded by 8x8 average
pooling and a fixed, seeded 3 -> 4 channel projection: deterministic, and the motion of
the shapes survives in the latents, which is what the temporal layers must learn.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from mobius_core.models.config import VAE_FACTOR

LATENT_SCALE = 0.18215  # Stable Diffusion's latent scaling factor: latents = scale x VAE code


def moving_shapes(batch: int, frames: int, resolution: int, seed: int, shapes: int = 3) -> Tensor:
    """Squares of random colour, size and velocity moving across a dark background.

    Returns pixels in [-1, 1]: `(b, 3, f, resolution, resolution)`.
    """
    gen = torch.Generator().manual_seed(seed)
    clip = torch.full((batch, 3, frames, resolution, resolution), -1.0)
    grid = torch.arange(resolution, dtype=torch.float32)
    for b in range(batch):
        for _ in range(shapes):
            colour = torch.rand(3, generator=gen) * 2 - 1  # (3,)
            size = resolution * (0.15 + 0.2 * torch.rand(1, generator=gen).item())
            start = torch.rand(2, generator=gen) * (resolution - size)  # (y, x)
            velocity = (torch.rand(2, generator=gen) * 2 - 1) * resolution / (2 * frames)
            for f in range(frames):
                y0, x0 = (start + f * velocity).tolist()
                rows = (grid >= y0) & (grid < y0 + size)  # (h,)
                cols = (grid >= x0) & (grid < x0 + size)  # (w,)
                mask = rows[:, None] & cols[None, :]  # (h, w)
                clip[b, :, f][:, mask] = colour[:, None]
    return clip


def encode(clip: Tensor) -> Tensor:
    """Pixels to latent shape: `(b, 3, f, h, w) -> (b, 4, f, h/8, w/8)`, scaled as Stable
    Diffusion scales its VAE's output (multiplied by 0.18215) to near unit variance."""
    b, c, f, h, w = clip.shape
    frames = clip.transpose(1, 2).reshape(b * f, c, h, w)  # ((b f), 3, h, w)
    pooled = F.avg_pool2d(frames, VAE_FACTOR)  # ((b f), 3, h/8, w/8)
    mix = torch.linalg.qr(torch.randn(4, 4, generator=torch.Generator().manual_seed(0)))[0]
    latents = torch.einsum("lc,nchw->nlhw", mix[:, :c], pooled) * LATENT_SCALE
    return latents.reshape(b, f, 4, h // VAE_FACTOR, w // VAE_FACTOR).transpose(1, 2)
