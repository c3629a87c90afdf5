"""The trainable temporal layer: the AnimateDiff motion module.

It sees frames folded into the batch, `(b f) c h w`, and attends over frames with
pixels folded into the batch, `(b h w) f c`.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor, nn

from mobius_core.models.layers import TEMPORAL, Attention, FeedForward, sinusoids


class TemporalAttentionBlock(nn.Module):
    """Pre-norm self-attention over frames, the positional embedding added to its input."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads)

    def forward(self, x: Tensor, positions: Tensor) -> Tensor:
        # x: (b*h*w, f, c); positions: (f, c) -> (b*h*w, f, c)
        return x + self.attn(self.norm(x) + positions)


class TemporalTransformer(nn.Module):
    """GroupNorm over the whole clip, projection in, two self-attention blocks over frames,
    GEGLU feed-forward, zero-initialised projection out, residual: the identity at
    initialisation. The norm spans all frames, as diffusers' `AnimateDiffTransformer3D`
    (original AnimateDiff normalises each frame alone), so that its weights load unchanged."""

    region: ClassVar[str] = TEMPORAL

    def __init__(self, channels: int, heads: int, groups: int, max_frames: int) -> None:
        super().__init__()
        self.norm = nn.GroupNorm(groups, channels, eps=1e-6)  # over the whole clip, as diffusers
        self.proj_in = nn.Linear(channels, channels)
        self.blocks = nn.ModuleList(TemporalAttentionBlock(channels, heads) for _ in range(2))
        self.ff_norm = nn.LayerNorm(channels)
        self.ff = FeedForward(channels)
        self.proj_out = nn.Linear(channels, channels)
        nn.init.zeros_(self.proj_out.weight)
        nn.init.zeros_(self.proj_out.bias)
        # A fixed sinusoidal table over frame positions, as in AnimateDiff: not a parameter.
        table = _frame_positions(max_frames, channels)  # (max_frames, c)
        self.register_buffer("positions", table, persistent=False)

    def forward(self, x: Tensor, frames: int) -> Tensor:
        # x: ((b f), c, h, w) -> ((b f), c, h, w)
        bf, c, height, width = x.shape
        b, pixels = bf // frames, height * width
        clip = x.reshape(b, frames, c, pixels).transpose(1, 2)  # (b, c, f, h*w)
        normed = self.norm(clip).transpose(1, 2).reshape(bf, c, pixels)  # ((b f), c, h*w)
        h = self.proj_in(normed.transpose(1, 2))  # ((b f), h*w, c)
        h = h.reshape(b, frames, pixels, c).transpose(1, 2).reshape(b * pixels, frames, c)
        positions = self.positions[:frames].to(h.dtype)  # (f, c)
        for block in self.blocks:
            h = block(h, positions)  # ((b h w), f, c)
        h = h + self.ff(self.ff_norm(h))
        h = h.reshape(b, pixels, frames, c).transpose(1, 2).reshape(bf, pixels, c)
        h = self.proj_out(h).transpose(1, 2).reshape(bf, c, height, width)
        return x + h


def _frame_positions(max_frames: int, channels: int) -> Tensor:
    """Sinusoidal table `(max_frames, channels)`: interleaved sin/cos, as AnimateDiff's."""
    table = sinusoids(torch.arange(max_frames), channels)  # cos | sin halves
    half = channels // 2
    interleaved = torch.empty(max_frames, channels)
    interleaved[:, 0::2] = table[:, half:]  # sin
    interleaved[:, 1::2] = table[:, :half]  # cos
    return interleaved
