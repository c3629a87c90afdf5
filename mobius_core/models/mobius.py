"""The Mobius spatial-temporal parallel 3D-UNet, and its double-bridge reading.

The frozen 2D UNet (the trunk) runs without autograd. Beside it a temporal branch
carries its own state through one motion module per serial position; a bridge before
each module feeds it the trunk's feature there (spatial -> temporal only). A
zero-initialised convolution fuses the final temporal state into the trunk's output, so
at initialisation the model is the per-frame 2D UNet, and no gradient enters the trunk.

The double bridge (`rejoin=k`, the `mobius-double` variant) adds return bridges
(temporal -> spatial) at the last k up positions: a zero-initialised 1x1 projection of
the branch state, added to the trunk's feature before the next trunk layer. From the
first return bridge on the trunk runs with autograd (frozen weights, activations saved)
so that gradients cross those spatial layers back to the earlier motion modules; before
it the trunk stays without autograd. With k = 0 the model is exactly `mobius`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mobius_core.models.config import Config
from mobius_core.models.layers import BRIDGES_FUSION
from mobius_core.models.temporal import TemporalTransformer
from mobius_core.models.unet import Position, UNet, fold_frames, unfold_frames


class Bridge(nn.Module):
    """Brings the temporal state to the next position's shape and adds the trunk's feature.

    Resolution changes by 2x average pooling (down) or nearest upsampling (up); channels
    change by a 1x1 projection, applied at the lower of the two resolutions. Where the
    shape does not change the bridge is a plain sum, with no parameters.
    """

    region: ClassVar[str] = BRIDGES_FUSION

    def __init__(self, source: Position, target: Position) -> None:
        super().__init__()
        self.factor = target.scale / source.scale  # 2 going down, 1/2 going up, else 1
        self.project = (
            nn.Conv2d(source.channels, target.channels, 1)
            if source.channels != target.channels
            else None
        )

    def forward(self, state: Tensor, feature: Tensor) -> Tensor:
        # state: ((b f), c_src, h_src, w_src); feature: ((b f), c, h, w) -> ((b f), c, h, w)
        if self.factor > 1:
            state = F.avg_pool2d(state, 2)
        if self.project is not None:
            state = self.project(state)
        if self.factor < 1:
            state = F.interpolate(state, scale_factor=2.0, mode="nearest")
        return state + feature


class ReturnBridge(nn.Module):
    """Temporal -> spatial: a zero-initialised 1x1 projection of the branch state, added to
    the trunk's feature at the same position (same channels and resolution)."""

    region: ClassVar[str] = BRIDGES_FUSION

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.project = nn.Conv2d(channels, channels, 1)
        nn.init.zeros_(self.project.weight)
        nn.init.zeros_(self.project.bias)

    def forward(self, state: Tensor, feature: Tensor) -> Tensor:
        # state, feature: ((b f), c, h, w) -> ((b f), c, h, w)
        return feature + self.project(state)


class TemporalBranch(nn.Module):
    """One bridge and one motion module per serial position, in forward order; a return
    bridge at each of the last `rejoin` positions (all in the decoder)."""

    def __init__(self, config: Config, positions: list[Position], rejoin: int = 0) -> None:
        super().__init__()
        c = config
        stem = Position(c.block_channels[0], 1)  # conv_in's output starts the state
        sources = [stem, *positions[:-1]]
        self.bridges = nn.ModuleList(Bridge(s, t) for s, t in zip(sources, positions, strict=True))
        self.temporal = nn.ModuleList(
            TemporalTransformer(p.channels, c.temporal_heads, c.groups, c.temporal_positions)
            for p in positions
        )
        self.returns = nn.ModuleList(
            ReturnBridge(p.channels) for p in positions[len(positions) - rejoin :]
        )

    def advance(self, index: int, state: Tensor, feature: Tensor, frames: int) -> Tensor:
        """The state after position `index`, given the trunk's feature there."""
        return self.temporal[index](self.bridges[index](state, feature), frames)


class Fusion(nn.Module):
    """GroupNorm, SiLU and a zero-initialised 3x3 conv: temporal state -> noise correction."""

    region: ClassVar[str] = BRIDGES_FUSION

    def __init__(self, config: Config) -> None:
        super().__init__()
        channels = config.block_channels[0]
        self.norm = nn.GroupNorm(config.groups, channels)
        self.conv = nn.Conv2d(channels, config.latent_channels, 3, padding=1)
        nn.init.zeros_(self.conv.weight)
        nn.init.zeros_(self.conv.bias)

    def forward(self, state: Tensor) -> Tensor:
        # state: ((b f), c0, h, w) -> ((b f), latent_channels, h, w)
        return self.conv(F.silu(self.norm(state)))


class _BranchPass:
    """Carries the temporal state along one trunk forward; the trunk calls it at each tap.

    A returning trunk layer's forward hook (`rejoin`) advances the state itself and hands
    the trunk its feature plus the return bridge's projection; the tap that follows then
    sees that very tensor and leaves the state as it is.
    """

    def __init__(self, branch: TemporalBranch, frames: int, grad: bool) -> None:
        self.branch, self.frames = branch, frames
        self.grad = grad  # the caller's grad mode: the branch (and rejoined trunk) runs in it
        self.state: Tensor | None = None
        self.index = 0
        self.rejoined: Tensor | None = None  # the trunk's feature after the last return

    def rejoin(self, bridge: ReturnBridge) -> Callable[[nn.Module, Any, Tensor], Tensor]:
        """A forward hook for the trunk layer at `bridge`'s position."""

        def hook(module: nn.Module, args: Any, feature: Tensor) -> Tensor:
            torch.set_grad_enabled(self.grad)  # the rest of the trunk keeps its graph
            self(feature)
            assert self.state is not None
            self.rejoined = bridge(self.state, feature)
            return self.rejoined

        return hook

    def __call__(self, feature: Tensor) -> None:
        if feature is self.rejoined:  # the hook has advanced the state already
            return
        with torch.set_grad_enabled(self.grad):
            if self.state is None:  # conv_in's output
                self.state = feature
                return
            self.state = self.branch.advance(self.index, self.state, feature, self.frames)
            self.index += 1


class MobiusUNet(nn.Module):
    """Frozen trunk (a plain `UNet`) + temporal branch + fusion; with `rejoin=k`, return
    bridges at the last k up positions (0 to the number of up positions)."""

    def __init__(self, config: Config, rejoin: int = 0) -> None:
        super().__init__()
        if not 0 <= rejoin <= config.up_positions:
            raise ValueError(f"rejoin: {rejoin} is outside 0..{config.up_positions}")
        self.config = config
        self.trunk = UNet(config)
        self.branch = TemporalBranch(config, self.trunk.positions(), rejoin)
        self.fusion = Fusion(config)

    def returning_layers(self) -> list[nn.Module]:
        """The trunk layers whose output a return bridge changes, in forward order."""
        up = [layer for level in self.trunk.up_levels for layer in level.layers]
        return up[len(up) - len(self.branch.returns) :]

    def forward(self, latents: Tensor, timesteps: Tensor, context: Tensor) -> Tensor:
        # latents: (b, c, f, h, w); timesteps: (b,); context: (b, 77, c_ctx) -> (b, c, f, h, w)
        x, t, ctx = fold_frames(latents, timesteps, context)
        run = _BranchPass(self.branch, latents.shape[2], torch.is_grad_enabled())
        pairs = zip(self.returning_layers(), self.branch.returns, strict=True)
        hooks = [layer.register_forward_hook(run.rejoin(bridge)) for layer, bridge in pairs]
        try:
            with torch.no_grad():  # the trunk: no graph until the first return bridge
                trunk_out = self.trunk.run(x, t, ctx, run.frames, tap=run)
        finally:
            for hook in hooks:
                hook.remove()
        assert run.state is not None
        out = trunk_out + self.fusion(run.state)  # ((b f), c, h, w)
        return unfold_frames(out, latents.shape[0])
