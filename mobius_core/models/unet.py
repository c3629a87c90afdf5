"""The UNet: the plain text-to-image model, and with motion modules the serial 3D-UNet.

One class serves both so that the spatial layers have the same names in each: a 2D state
dict loads into a serial model unchanged. Frames are folded into the batch for every
layer: `(b, c, f, h, w) -> ((b f), c, h, w)`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from mobius_core.models.config import Config
from mobius_core.models.layers import SPATIAL, Downsample, TimestepEmbedding, Upsample
from mobius_core.models.spatial import ResBlock2D, SpatialTransformer
from mobius_core.models.temporal import TemporalTransformer

Tap = Callable[[Tensor], None]  # receives a trunk feature ((b f), c, h, w)


@dataclass(frozen=True)
class Position:
    """Where a temporal module sits: its width and its downsampling below full latent size."""

    channels: int
    scale: int


class Layer(nn.Module):
    """ResBlock2D -> SpatialTransformer (where the level has attention) -> motion module."""

    def __init__(
        self, config: Config, in_channels: int, channels: int, attention: bool, temporal: bool
    ) -> None:
        super().__init__()
        c = config
        self.res = ResBlock2D(in_channels, channels, 4 * c.block_channels[0], c.groups)
        self.attn = (
            SpatialTransformer(channels, c.heads, c.context_dim, c.groups) if attention else None
        )
        self.temporal = (
            TemporalTransformer(channels, c.temporal_heads, c.groups, c.temporal_positions)
            if temporal
            else None
        )

    def forward(self, x: Tensor, emb: Tensor, context: Tensor, frames: int) -> Tensor:
        # x: ((b f), c_in, h, w) -> ((b f), c, h, w)
        x = self.res(x, emb)
        if self.attn is not None:
            x = self.attn(x, context)
        if self.temporal is not None:
            x = self.temporal(x, frames)
        return x


class Level(nn.Module):
    """The layers of one resolution, then a resampler to the next (none at the end)."""

    def __init__(self, layers: list[Layer], resample: nn.Module | None) -> None:
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.resample = resample


class MidBlock(nn.Module):
    """ResBlock2D -> SpatialTransformer -> motion module, then a second ResBlock2D."""

    def __init__(self, config: Config, temporal: bool) -> None:
        super().__init__()
        channels = config.block_channels[-1]
        self.layer = Layer(config, channels, channels, attention=True, temporal=temporal)
        self.res = ResBlock2D(channels, channels, 4 * config.block_channels[0], config.groups)


class UNet(nn.Module):
    """Stable Diffusion 1.5's UNet layout; with `temporal=True`, a motion module per layer.

    `checkpoint=True` recomputes each layer in backward (non-reentrant activation
    checkpointing): the serial-ckpt variant.
    """

    region: ClassVar[str] = SPATIAL  # its stem, head and time embedding; motion modules: temporal

    def __init__(self, config: Config, temporal: bool = False, checkpoint: bool = False) -> None:
        super().__init__()
        c = config
        self.config = config
        self.checkpoint = checkpoint
        chans, attn = c.block_channels, c.attention_levels
        self.time_embedding = TimestepEmbedding(chans[0])
        self.conv_in = nn.Conv2d(c.latent_channels, chans[0], 3, padding=1)

        skips = [chans[0]]  # channels of the features the up path concatenates, in push order
        down: list[Level] = []
        in_ch = chans[0]
        for i, ch in enumerate(chans):
            layers = []
            for _ in range(c.layers_per_level):
                layers.append(Layer(c, in_ch, ch, attn[i], temporal))
                in_ch = ch
                skips.append(ch)
            last = i == c.levels - 1
            down.append(Level(layers, None if last else Downsample(ch)))
            if not last:
                skips.append(ch)
        self.down_levels = nn.ModuleList(down)
        self.mid = MidBlock(c, temporal)

        up: list[Level] = []
        for i, ch in enumerate(reversed(chans)):
            layers = []
            for _ in range(c.layers_per_up_level):
                layers.append(Layer(c, in_ch + skips.pop(), ch, attn[-1 - i], temporal))
                in_ch = ch
            last = i == c.levels - 1
            up.append(Level(layers, None if last else Upsample(ch)))
        self.up_levels = nn.ModuleList(up)

        self.conv_norm_out = nn.GroupNorm(c.groups, chans[0])
        self.conv_out = nn.Conv2d(chans[0], c.latent_channels, 3, padding=1)

    def positions(self) -> list[Position]:
        """The positions of the motion modules, in forward order (down, mid, up)."""
        chans, n = self.config.block_channels, self.config.levels
        down = [
            Position(ch, 2**i)
            for i, ch in enumerate(chans)
            for _ in range(self.config.layers_per_level)
        ]
        mid = [Position(chans[-1], 2 ** (n - 1))]
        up = [
            Position(ch, 2 ** (n - 1 - i))
            for i, ch in enumerate(reversed(chans))
            for _ in range(self.config.layers_per_up_level)
        ]
        return down + mid + up

    def forward(self, latents: Tensor, timesteps: Tensor, context: Tensor) -> Tensor:
        # latents: (b, c, f, h, w); timesteps: (b,); context: (b, 77, c_ctx) -> (b, c, f, h, w)
        x, t, ctx = fold_frames(latents, timesteps, context)
        return unfold_frames(self.run(x, t, ctx, latents.shape[2]), latents.shape[0])

    def run(
        self, x: Tensor, timesteps: Tensor, context: Tensor, frames: int, tap: Tap | None = None
    ) -> Tensor:
        """The UNet on folded frames; `tap` sees conv_in's output, then each layer's output.

        x: ((b f), c, h, w); timesteps: ((b f),); context: ((b f), 77, c_ctx)
        -> ((b f), c, h, w)
        """
        emb = self.time_embedding(timesteps)  # ((b f), 4 * c0)
        h = self.conv_in(x)  # ((b f), c0, h, w)
        skips = [h]
        if tap is not None:
            tap(h)
        for level in self.down_levels:
            for layer in level.layers:
                h = self._layer(layer, h, emb, context, frames, tap)
                skips.append(h)
            if level.resample is not None:
                h = level.resample(h)
                skips.append(h)
        h = self._layer(self.mid.layer, h, emb, context, frames, tap)
        h = self.mid.res(h, emb)
        for level in self.up_levels:
            for layer in level.layers:
                h = torch.cat([h, skips.pop()], dim=1)  # ((b f), c + c_skip, h, w)
                h = self._layer(layer, h, emb, context, frames, tap)
            if level.resample is not None:
                h = level.resample(h)
        return self.conv_out(F.silu(self.conv_norm_out(h)))

    def _layer(
        self, layer: Layer, h: Tensor, emb: Tensor, ctx: Tensor, frames: int, tap: Tap | None
    ) -> Tensor:
        if self.checkpoint and torch.is_grad_enabled():
            h = checkpoint(layer, h, emb, ctx, frames, use_reentrant=False)
        else:
            h = layer(h, emb, ctx, frames)
        if tap is not None:
            tap(h)
        return h


def fold_frames(
    latents: Tensor, timesteps: Tensor, context: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    """Frames into the batch: `(b, c, f, h, w) -> ((b f), c, h, w)`; timesteps and context
    repeated per frame: `(b,) -> ((b f),)`, `(b, 77, c) -> ((b f), 77, c)`."""
    b, c, f, h, w = latents.shape
    x = latents.transpose(1, 2).reshape(b * f, c, h, w)
    # expand, not repeat_interleave: under torch.jit.trace (fvcore) `f` becomes a CPU tensor,
    # and repeat_interleave by a CPU tensor indexes a CUDA one from the CPU (pytorch#107591)
    t = timesteps[:, None].expand(b, f).reshape(b * f)
    ctx = context[:, None].expand(b, f, *context.shape[1:]).reshape(b * f, *context.shape[1:])
    return x, t, ctx


def unfold_frames(x: Tensor, batch: int) -> Tensor:
    """`((b f), c, h, w) -> (b, c, f, h, w)`."""
    bf, c, h, w = x.shape
    return x.reshape(batch, bf // batch, c, h, w).transpose(1, 2)
