"""Model and shape configuration: one frozen dataclass, three presets, validation."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

from mobius_core.errors import BadInput

VAE_FACTOR = 8  # pixels per latent cell of the Stable Diffusion VAE


@dataclass(frozen=True)
class Config:
    """A 3D-UNet and the shape of the clips it is trained on.

    The architecture fields follow the Stable Diffusion 1.5 UNet; the temporal fields
    follow the AnimateDiff motion module; the last three fix the clip shape of a step.
    """

    name: str
    # -- spatial (text-to-image) UNet --
    block_channels: tuple[int, ...]  # channels per level, top (full resolution) first
    attention_levels: tuple[bool, ...]  # which levels hold a SpatialTransformer
    layers_per_level: int  # layers per down level; each up level has one more (skips)
    heads: int  # spatial attention heads
    groups: int  # GroupNorm groups everywhere
    context_dim: int = 768  # width of the text context (CLIP ViT-L/14)
    context_len: int = 77  # tokens of the text context
    latent_channels: int = 4  # VAE latent channels, in and out
    # -- temporal (motion) modules --
    temporal_heads: int = 8
    temporal_positions: int = 32  # longest clip the positional embedding covers
    # mobius-double's return bridges (temporal -> spatial), at the last k up positions;
    # None: at every up position. Other variants ignore it.
    rejoin_positions: int | None = None
    # -- clip shape of one step --
    batch: int = 1
    frames: int = 16
    resolution: int = 256  # pixels; latents are resolution / 8 on a side

    def __post_init__(self) -> None:
        validate(self)

    @property
    def levels(self) -> int:
        return len(self.block_channels)

    @property
    def layers_per_up_level(self) -> int:
        return self.layers_per_level + 1

    @property
    def downsampling(self) -> int:
        """Total downsampling of the UNet: one stride-2 conv between adjacent levels."""
        return 2 ** (self.levels - 1)

    @property
    def up_positions(self) -> int:
        """Motion-module positions in the decoder: every layer of every up level."""
        return self.levels * self.layers_per_up_level

    @property
    def rejoin(self) -> int:
        """How many return bridges mobius-double has: `rejoin_positions`, None resolved."""
        return self.up_positions if self.rejoin_positions is None else self.rejoin_positions

    @property
    def latent_size(self) -> int:
        return self.resolution // VAE_FACTOR

    def with_shape(self, **shape: int) -> Config:
        """The same model at another clip shape (batch, frames, resolution); validated."""
        unknown = set(shape) - {"batch", "frames", "resolution"}
        if unknown:
            raise BadInput(f"with_shape: unknown shape field(s) {sorted(unknown)}")
        return replace(self, **shape)

    def to_dict(self) -> dict[str, object]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _fail(field: str, rule: str) -> None:
    raise BadInput(f"{field}: {rule}")


def validate(c: Config) -> None:
    """Raise BadInput naming the first field that breaks a rule, and the rule."""
    if not c.block_channels:
        _fail("block_channels", "must name at least one level")
    positive = {
        "layers_per_level": c.layers_per_level,
        "heads": c.heads,
        "groups": c.groups,
        "context_dim": c.context_dim,
        "context_len": c.context_len,
        "latent_channels": c.latent_channels,
        "temporal_heads": c.temporal_heads,
        "temporal_positions": c.temporal_positions,
        "batch": c.batch,
        "frames": c.frames,
        "resolution": c.resolution,
    }
    for i, ch in enumerate(c.block_channels):
        positive[f"block_channels[{i}]"] = ch
    for field, value in positive.items():
        if value <= 0:
            _fail(field, f"must be positive, got {value}")
    if len(c.attention_levels) != c.levels:
        _fail(
            "attention_levels",
            f"needs one flag per level ({c.levels}), got {len(c.attention_levels)}",
        )
    for i, ch in enumerate(c.block_channels):
        if ch % 2:
            _fail(
                f"block_channels[{i}]", f"{ch} is odd; sinusoidal frame positions need even widths"
            )
        if ch % c.groups:
            _fail(f"block_channels[{i}]", f"{ch} is not divisible by groups={c.groups}")
        if ch % c.heads:
            _fail("heads", f"{c.heads} does not divide the width {ch} of level {i}")
        if ch % c.temporal_heads:
            _fail(
                "temporal_heads",
                f"{c.temporal_heads} does not divide the width {ch} of level {i}",
            )
    if c.frames > c.temporal_positions:
        _fail(
            "frames",
            f"{c.frames} is above temporal_positions={c.temporal_positions}",
        )
    k = c.rejoin_positions
    if k is not None and not 0 <= k <= c.up_positions:
        _fail("rejoin_positions", f"{k} is outside 0..{c.up_positions} (the up positions)")
    if c.resolution % VAE_FACTOR:
        _fail("resolution", f"{c.resolution} is not divisible by the VAE factor {VAE_FACTOR}")
    if c.latent_size % c.downsampling:
        _fail(
            "resolution",
            f"latent size {c.latent_size} (= {c.resolution} / {VAE_FACTOR}) is not divisible"
            f" by the UNet's total downsampling {c.downsampling}",
        )


PRESETS: dict[str, Config] = {
    # CPU tests: a step well under a second.
    "tiny": Config(
        name="tiny",
        block_channels=(32, 64),
        attention_levels=(True, False),
        layers_per_level=1,
        heads=2,
        groups=8,
        temporal_heads=2,
        temporal_positions=8,
        batch=1,
        frames=4,
        resolution=64,
    ),
    # CPU benchmarks: a step in a few seconds.
    "small": Config(
        name="small",
        block_channels=(64, 128, 128),
        attention_levels=(True, True, False),
        layers_per_level=1,
        heads=4,
        groups=16,
        temporal_heads=4,
        temporal_positions=16,
        batch=1,
        frames=8,
        resolution=256,
    ),
    # Stable Diffusion 1.5 with AnimateDiff motion modules.
    "sd15": Config(
        name="sd15",
        block_channels=(320, 640, 1280, 1280),
        attention_levels=(True, True, True, False),
        layers_per_level=2,
        heads=8,
        groups=32,
        temporal_heads=8,
        temporal_positions=32,
        batch=1,
        frames=16,
        resolution=256,
    ),
}


def preset(name: str, **shape: int) -> Config:
    """A preset by name, optionally at another clip shape."""
    if name not in PRESETS:
        raise BadInput(f"preset: unknown preset {name!r}; choose from {sorted(PRESETS)}")
    return PRESETS[name].with_shape(**shape) if shape else PRESETS[name]
