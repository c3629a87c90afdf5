"""The benchmark suite's cases: a default matrix per device, or one from the options."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product

from mobius_core.models.variants import VARIANTS
from mobius_core.run.runner import Case

# (preset, batch, frames, resolution)
CPU_SHAPES = [
    ("tiny", 1, 4, 64),
    ("tiny", 2, 4, 64),
    ("tiny", 1, 8, 64),
    ("small", 1, 8, 128),
    ("small", 1, 8, 256),
]
CUDA_SHAPES = (
    [("sd15", b, 16, 256) for b in (1, 2, 4)]  # batch
    + [("sd15", 1, f, 256) for f in (8, 24, 32)]  # frames (16 above)
    + [("sd15", 1, 16, r) for r in (384, 512)]  # resolution (256 above)
)
DEFAULTS = {  # device -> (dtype, rounds, warm-up rounds)
    "cpu": ("fp32", 5, 1),
    "cuda": ("bf16", 8, 2),
}


@dataclass(frozen=True)
class Options:
    """The suite's options as given; None means the device's default."""

    device: str
    preset: str | None = None
    variants: list[str] | None = None
    batch: list[int] | None = None
    frames: list[int] | None = None
    resolution: list[int] | None = None
    dtype: str | None = None
    rounds: int | None = None
    warmup: int | None = None


def cases(options: Options) -> list[Case]:
    """The default matrix for the device, narrowed or replaced by what the options name."""
    o = options
    dtype, rounds, warmup = DEFAULTS[o.device]
    shapes = CUDA_SHAPES if o.device == "cuda" else CPU_SHAPES
    if o.preset is not None:
        shapes = [s for s in shapes if s[0] == o.preset] or [_preset_shape(o.preset)]
    if o.batch or o.frames or o.resolution:
        presets = sorted({s[0] for s in shapes}, key=[s[0] for s in shapes].index)
        shapes = [
            (p, b, f, r)
            for p in presets
            for b, f, r in product(
                o.batch or _values(shapes, p, 1),
                o.frames or _values(shapes, p, 2),
                o.resolution or _values(shapes, p, 3),
            )
        ]
    return [
        Case(p, b, f, r, o.dtype or dtype, o.device, o.rounds or rounds, _warmup(o, warmup))
        for p, b, f, r in shapes
    ]


def _warmup(options: Options, default: int) -> int:
    return default if options.warmup is None else options.warmup


def _values(shapes: list[tuple[str, int, int, int]], preset: str, index: int) -> list[int]:
    """The first shape's value for `preset`: options override one axis, not the others."""
    return [next(s[index] for s in shapes if s[0] == preset)]


def _preset_shape(name: str) -> tuple[str, int, int, int]:
    from mobius_core.models.config import preset

    c = preset(name)
    return (name, c.batch, c.frames, c.resolution)


def variants(options: Options) -> list[str]:
    names = options.variants or list(VARIANTS)
    unknown = [v for v in names if v not in VARIANTS]
    if unknown:
        raise ValueError(f"variants: unknown {unknown}; choose from {list(VARIANTS)}")
    return names
