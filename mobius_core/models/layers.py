"""Building blocks shared by the spatial and temporal layers.

Layouts: images are `(n, c, h, w)` with `n = b * f` (frames folded into the batch);
token sequences are `(n, l, c)`.
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# The regions of a model. A module class states its own as the class attribute `region`;
# a module that does not takes the region of the module it runs inside (spatial at the top).
SPATIAL, TEMPORAL, BRIDGES_FUSION = "spatial", "temporal", "bridges+fusion"


class Attention(nn.Module):
    """Multi-head attention through `F.scaled_dot_product_attention`.

    Self-attention when `context` is None, cross-attention to `context` otherwise.
    Query, key and value projections have no bias; the output projection has one.
    """

    def __init__(self, dim: int, heads: int, context_dim: int | None = None) -> None:
        super().__init__()
        self.heads = heads
        kv_dim = context_dim or dim
        self.to_q = nn.Linear(dim, dim, bias=False)
        self.to_k = nn.Linear(kv_dim, dim, bias=False)
        self.to_v = nn.Linear(kv_dim, dim, bias=False)
        self.to_out = nn.Linear(dim, dim)

    def forward(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        # x: (n, l, c); context: (n, s, c_ctx) or None -> (n, l, c)
        n, length, dim = x.shape
        source = x if context is None else context
        q = self._split(self.to_q(x))  # (n, heads, l, d)
        k = self._split(self.to_k(source))  # (n, heads, s, d)
        v = self._split(self.to_v(source))  # (n, heads, s, d)
        out = F.scaled_dot_product_attention(q, k, v)  # (n, heads, l, d)
        return self.to_out(out.transpose(1, 2).reshape(n, length, dim))

    def _split(self, x: Tensor) -> Tensor:
        # (n, l, heads * d) -> (n, heads, l, d)
        n, length, dim = x.shape
        return x.view(n, length, self.heads, dim // self.heads).transpose(1, 2)


class FeedForward(nn.Module):
    """GEGLU feed-forward with a 4x inner width: `out(a * gelu(gate))`."""

    def __init__(self, dim: int, mult: int = 4) -> None:
        super().__init__()
        self.proj = nn.Linear(dim, 2 * mult * dim)
        self.out = nn.Linear(mult * dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        # x: (n, l, c) -> (n, l, c)
        a, gate = self.proj(x).chunk(2, dim=-1)  # 2 x (n, l, 4c)
        return self.out(a * F.gelu(gate))


def sinusoids(positions: Tensor, dim: int) -> Tensor:
    """Sinusoidal features, cosines first: `(k,) -> (k, dim)` (Stable Diffusion's time_proj)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
    angles = positions.float()[:, None] * freqs.to(positions.device)[None, :]  # (k, half)
    return torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1)


class TimestepEmbedding(nn.Module):
    """Timestep -> sinusoids of the first level's width -> MLP of width 4x that."""

    region: ClassVar[str] = SPATIAL

    def __init__(self, base_channels: int) -> None:
        super().__init__()
        self.base_channels = base_channels
        self.linear_1 = nn.Linear(base_channels, 4 * base_channels)
        self.linear_2 = nn.Linear(4 * base_channels, 4 * base_channels)

    def forward(self, timesteps: Tensor) -> Tensor:
        # timesteps: (n,) -> (n, 4 * base_channels)
        features = sinusoids(timesteps, self.base_channels).to(self.linear_1.weight.dtype)
        return self.linear_2(F.silu(self.linear_1(features)))


class Downsample(nn.Module):
    """Stride-2 3x3 convolution: `(n, c, h, w) -> (n, c, h/2, w/2)`."""

    region: ClassVar[str] = SPATIAL

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x)


class Upsample(nn.Module):
    """Nearest 2x upsampling then a 3x3 convolution: `(n, c, h, w) -> (n, c, 2h, 2w)`."""

    region: ClassVar[str] = SPATIAL

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))
