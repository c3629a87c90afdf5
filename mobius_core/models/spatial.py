"""The frozen text-to-image layers: ResBlock2D and SpatialTransformer (SD 1.5 shapes)."""

from __future__ import annotations

from typing import ClassVar

import torch.nn.functional as F
from torch import Tensor, nn

from mobius_core.models.layers import SPATIAL, Attention, FeedForward


class ResBlock2D(nn.Module):
    """GroupNorm-SiLU-conv twice, with the time embedding added in between."""

    region: ClassVar[str] = SPATIAL

    def __init__(self, in_channels: int, out_channels: int, emb_dim: int, groups: int) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.time_emb_proj = nn.Linear(emb_dim, out_channels)
        self.norm2 = nn.GroupNorm(groups, out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.conv_shortcut = (
            nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else None
        )

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        # x: (n, c_in, h, w); emb: (n, e) -> (n, c_out, h, w)
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.time_emb_proj(F.silu(emb))[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        skip = x if self.conv_shortcut is None else self.conv_shortcut(x)
        return skip + h


class TransformerBlock(nn.Module):
    """Self-attention, cross-attention to the text context, GEGLU feed-forward; pre-norm."""

    def __init__(self, dim: int, heads: int, context_dim: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn1 = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.attn2 = Attention(dim, heads, context_dim)
        self.norm3 = nn.LayerNorm(dim)
        self.ff = FeedForward(dim)

    def forward(self, x: Tensor, context: Tensor) -> Tensor:
        # x: (n, h*w, c); context: (n, 77, c_ctx) -> (n, h*w, c)
        x = x + self.attn1(self.norm1(x))
        x = x + self.attn2(self.norm2(x), context)
        return x + self.ff(self.norm3(x))


class SpatialTransformer(nn.Module):
    """GroupNorm, 1x1 projection in, one TransformerBlock over pixels, projection out, residual."""

    region: ClassVar[str] = SPATIAL

    def __init__(self, channels: int, heads: int, context_dim: int, groups: int) -> None:
        super().__init__()
        self.norm = nn.GroupNorm(groups, channels, eps=1e-6)
        self.proj_in = nn.Conv2d(channels, channels, 1)
        self.block = TransformerBlock(channels, heads, context_dim)
        self.proj_out = nn.Conv2d(channels, channels, 1)

    def forward(self, x: Tensor, context: Tensor) -> Tensor:
        # x: (n, c, h, w); context: (n, 77, c_ctx) -> (n, c, h, w)
        n, c, height, width = x.shape
        h = self.proj_in(self.norm(x))
        tokens = h.flatten(2).transpose(1, 2)  # (n, h*w, c)
        tokens = self.block(tokens, context)
        h = tokens.transpose(1, 2).reshape(n, c, height, width)
        return x + self.proj_out(h)
