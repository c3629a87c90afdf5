"""Clips where time matters: one object of a class (shape and colour) moving at constant speed
over a static textured background.

A frame's clean content can be inferred from its neighbours, since the object only shifts
by the same step each frame and the background stays; an *incoherent* clip takes each frame
from a different clip of the same class, so that its frames look alike one by one but carry
nothing about each other.
Each class has a fixed text context. Latents are `clips.encode`d pixels rescaled to unit
RMS, as Stable Diffusion's scaling factor brings its VAE's latents to unit variance.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Protocol

import torch
from torch import Tensor

from mobius_core.models.config import VAE_FACTOR, Config
from mobius_core.training.clips import encode

SHAPES = ("square", "disc")
COLOURS = ((1.0, -1.0, -1.0), (-1.0, 1.0, -1.0), (-1.0, -1.0, 1.0), (1.0, 1.0, -1.0))
CLASSES = len(SHAPES) * len(COLOURS)  # class k: shape k // 4, colour k % 4
RADIUS = (0.12, 0.2)  # object half-size, as a fraction of the resolution
SPEED = (0.35, 0.7)  # pixels per frame, as a fraction of the largest speed that stays inside
CONTEXT_SEED = 7  # seeds the class contexts
BACKGROUND = (-1.0, -0.7)  # range of the background's levels
SCALE_SEED = 11  # seeds the reference clips that fix the latent scale


def render(
    shape: Tensor, colour: Tensor, centres: Tensor, radius: Tensor, background: Tensor
) -> Tensor:
    """Pixels of objects over a background, in [-1, 1].

    shape: (n,) 0 square, 1 disc; colour: (n, 3); centres: (n, f, 2) as (y, x) in pixels;
    radius: (n, f); background: (n, 3, f, r, r) -> (n, 3, f, r, r). Pixel i's centre lies
    at i + 0.5; a square covers
    the pixels whose centre is within `radius` of the centre along both axes (strictly),
    a disc those within `radius` in Euclidean distance.
    """
    grid = torch.arange(background.shape[-1], dtype=torch.float32) + 0.5  # (r,)
    dy = grid.view(1, 1, -1, 1) - centres[..., 0, None, None]  # (n, f, r, 1)
    dx = grid.view(1, 1, 1, -1) - centres[..., 1, None, None]  # (n, f, 1, r)
    rad = radius[..., None, None]  # (n, f, 1, 1)
    square = (dy.abs() < rad) & (dx.abs() < rad)  # (n, f, r, r)
    disc = dy**2 + dx**2 < rad**2
    mask = torch.where(shape.view(-1, 1, 1, 1) == 1, disc, square)  # (n, f, r, r)
    return torch.where(mask[:, None], colour[:, :, None, None, None], background)


def backgrounds(n: int, resolution: int, gen: torch.Generator) -> Tensor:
    """Static dark textures `(n, 3, r, r)`: a random level in [-1, -0.4] per colour channel
    and latent cell (8x8 pixels), so that a cell's background is known only from its own
    pixels; a video's frames share it, which is what neighbouring frames can tell."""
    cells = resolution // VAE_FACTOR
    low, high = BACKGROUND
    levels = low + (high - low) * torch.rand(n, 3, cells, cells, generator=gen)
    return levels.repeat_interleave(VAE_FACTOR, 2).repeat_interleave(VAE_FACTOR, 3)


def paths(n: int, frames: int, resolution: int, gen: torch.Generator) -> tuple[Tensor, Tensor]:
    """Constant-velocity paths that keep the whole object inside the frame.

    Returns centres `(n, f, 2)` (y, x) and radii `(n,)` in pixels.
    """
    radius = resolution * (RADIUS[0] + (RADIUS[1] - RADIUS[0]) * torch.rand(n, generator=gen))
    room = resolution - 2 * radius  # (n,) how far the centre can travel along an axis
    fastest = room / max(frames - 1, 1)  # (n,) pixels per frame that just stays inside
    speed = fastest * (SPEED[0] + (SPEED[1] - SPEED[0]) * torch.rand(n, generator=gen))
    angle = 2 * torch.pi * torch.rand(n, generator=gen)
    velocity = speed[:, None] * torch.stack([angle.sin(), angle.cos()], dim=1)  # (n, 2)
    travel = velocity.abs() * (frames - 1)  # (n, 2)
    slack = room[:, None] - travel  # (n, 2) >= 0 since |v_axis| <= speed <= fastest
    low = radius[:, None] + (-velocity).clamp(min=0) * (frames - 1)  # (n, 2)
    start = low + slack * torch.rand(n, 2, generator=gen)  # (n, 2)
    steps = torch.arange(frames, dtype=torch.float32).view(1, -1, 1)  # (1, f, 1)
    return start[:, None] + steps * velocity[:, None], radius


def class_parts(classes: Tensor) -> tuple[Tensor, Tensor]:
    """Class ids `(n,)` -> shape ids `(n,)` and colours `(n, 3)`."""
    return classes // len(COLOURS), torch.tensor(COLOURS)[classes % len(COLOURS)]


def moving_objects(
    classes: Tensor, frames: int, resolution: int, gen: torch.Generator, coherent: bool = True
) -> Tensor:
    """Pixel clips `(n, 3, f, r, r)` of the given classes `(n,)`.

    Incoherent: frame j of clip i is frame j of its own, freshly drawn clip of class i
    (its own path and background).
    """
    n = len(classes)
    shape, colour = class_parts(classes)
    if coherent:
        centres, radius = paths(n, frames, resolution, gen)
        back = backgrounds(n, resolution, gen)[:, :, None].expand(-1, -1, frames, -1, -1)
        return render(shape, colour, centres, radius[:, None].expand(n, frames), back)
    centres, radius = paths(n * frames, frames, resolution, gen)  # a clip per frame
    frame = torch.arange(frames).repeat(n)  # (n f,) which frame each clip gives
    centres = centres[torch.arange(n * frames), frame].view(n, frames, 2)
    back = backgrounds(n * frames, resolution, gen).view(n, frames, 3, resolution, resolution)
    return render(shape, colour, centres, radius.view(n, frames), back.transpose(1, 2))


def class_contexts(config: Config) -> Tensor:
    """A fixed text context per class: `(classes, 77, c_ctx)`."""
    gen = torch.Generator().manual_seed(CONTEXT_SEED)
    return torch.randn(CLASSES, config.context_len, config.context_dim, generator=gen)


@dataclass(frozen=True)
class Clips:
    """Latent clips with their classes."""

    latents: Tensor  # (n, 4, f, h, w)
    classes: Tensor  # (n,)


class Source(Protocol):
    """Where clips come from: the synthetic shapes, or a folder of latents."""

    name: str  # names the stage-1 cache
    frames: int
    contexts: Tensor  # (classes, 77, c_ctx)

    def sample(self, n: int, gen: torch.Generator, coherent: bool = True) -> Clips: ...

    def validation(self, n: int, seed: int) -> Clips: ...


class ShapeClips:
    """The synthetic source: endless seeded clips; the validation clips use their own seed."""

    name = "shapes-v2"  # names the stage-1 cache: a new version for any change to the clips

    def __init__(self, config: Config) -> None:
        self.config = config
        self.frames = config.frames
        self.contexts = class_contexts(config)  # (classes, 77, c_ctx)

    @cached_property
    def scale(self) -> float:
        """1 / RMS of the latents of 64 reference clips: brings latents to unit RMS."""
        gen = torch.Generator().manual_seed(SCALE_SEED)
        classes = torch.arange(64) % CLASSES
        latents = encode(moving_objects(classes, self.frames, self.config.resolution, gen))
        return float(latents.pow(2).mean().rsqrt())

    def sample(self, n: int, gen: torch.Generator, coherent: bool = True) -> Clips:
        """`n` clips of random classes, drawn from `gen`."""
        classes = torch.randint(0, CLASSES, (n,), generator=gen)
        pixels = moving_objects(classes, self.frames, self.config.resolution, gen, coherent)
        return Clips(encode(pixels) * self.scale, classes)

    def validation(self, n: int, seed: int) -> Clips:
        """`n` coherent clips from `seed`, classes in turn."""
        gen = torch.Generator().manual_seed(seed)
        classes = torch.arange(n) % CLASSES
        pixels = moving_objects(classes, self.frames, self.config.resolution, gen)
        return Clips(encode(pixels) * self.scale, classes)
