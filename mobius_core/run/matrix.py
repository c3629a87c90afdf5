"""The suite's options and cases: a default matrix per device, or one from the options.

The options are declared once (`SUITE_OPTIONS`) for both faces of the suite: pytest's
(`pytest bench/ --preset tiny`) and the bench API's (`mobius-bench bench -- --preset tiny`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from itertools import product
from pathlib import Path

from mobius_core import options as shared
from mobius_core.errors import BadInput
from mobius_core.report.record import MODES, Case
from mobius_core.run.case import make_case

Shape = tuple[str, int, int, int]  # (preset, batch, frames, resolution)
CPU_SHAPES: list[Shape] = [
    ("tiny", 1, 4, 64),
    ("tiny", 2, 4, 64),
    ("tiny", 1, 8, 64),
    ("small", 1, 8, 128),
    ("small", 1, 8, 256),
]
CUDA_SHAPES: list[Shape] = (
    [("sd15", b, 16, 256) for b in (1, 2, 4)]  # batch
    + [("sd15", 1, f, 256) for f in (8, 24, 32)]  # frames (16 above)
    + [("sd15", 1, 16, r) for r in (384, 512)]  # resolution (256 above)
)
MATRICES = {  # CUDA matrices by name: the paper's claim, or every axis
    "claim": [("sd15", b, 16, 256) for b in (1, 4)],
    "full": CUDA_SHAPES,
}
DEFAULTS = {  # device -> (dtype, rounds, warm-up rounds)
    "cpu": ("fp32", 5, 1),
    "cuda": ("bf16", 8, 2),
}
CUDA_CROSS_CHECK_ROUNDS = 3  # pytest-benchmark's rounds on CUDA; on CPU, the case's rounds

SUITE_OPTIONS: dict[str, str] = {  # name -> help, the same for pytest and `mobius-bench bench`
    "preset": "tiny, small or sd15 (default: the device's matrix)",
    "matrix": "CUDA only: claim (sd15, 16 frames, 256 px, batch 1 and 4) or full (default)",
    "variants": "comma-separated (default: every registered variant)",
    "frames": "comma-separated frame counts",
    "resolution": "comma-separated pixel sizes",
    "batch": "comma-separated batch sizes",
    "dtype": "fp32, bf16 or fp16 (default: bf16 on CUDA, fp32 on CPU)",
    "device": "auto, cpu or cuda (default: auto)",
    "rounds": "timed rounds per variant (default: 8 on CUDA, 5 on CPU)",
    "warmup": "warm-up rounds per variant (default: 2 on CUDA, 1 on CPU)",
    "rejoin": "comma-separated rejoin depths k: mobius-double alone at each k, as its own case",
    "mode": f"how the step runs: {', '.join(MODES)} (default: eager)",
    "compile-mode": "torch.compile's mode with --mode compile (default: torch's default)",
    "unet": "a diffusers UNet folder or .safetensors file: every variant from these weights",
    "motion-adapter": "a diffusers MotionAdapter folder or .safetensors file, with --unet",
}
REJOINING = "mobius-double"  # the variant a rejoin case runs


@dataclass(frozen=True)
class Options:
    """The suite's options, checked; None means the device's default."""

    device: str
    preset: str | None = None
    matrix: str | None = None
    variants: tuple[str, ...] | None = None
    batch: tuple[int, ...] | None = None
    frames: tuple[int, ...] | None = None
    resolution: tuple[int, ...] | None = None
    dtype: str | None = None
    rounds: int | None = None
    warmup: int | None = None
    rejoin: tuple[int, ...] | None = None
    mode: str = "eager"
    compile_mode: str | None = None
    world_size: int = 1  # set by a distributed launch, not by an option
    unet: str | None = None
    motion_adapter: str | None = None


def parse(values: Mapping[str, str | None]) -> Options:
    """Options from the suite's option texts (None: not given); BadInput names a bad one."""
    from mobius_core.training.devices import resolve_device

    device = resolve_device(values.get("device") or "auto")
    dtype = values.get("dtype")
    if dtype is not None:
        if dtype not in shared.DTYPE_NAMES:
            raise BadInput(f"--dtype: unknown dtype {dtype!r}; choose from {shared.DTYPE_NAMES}")
        shared.check_dtype_for_device(dtype, device)
    matrix = values.get("matrix")
    if matrix is not None and matrix not in MATRICES:
        raise BadInput(f"--matrix: unknown matrix {matrix!r}; choose from {list(MATRICES)}")
    if matrix is not None and device != "cuda":
        raise BadInput(f"--matrix: {matrix} is a CUDA matrix; the CPU runs its own")
    rounds = shared.int_list(values.get("rounds"), "rounds", least=2)
    warmup = shared.int_list(values.get("warmup"), "warmup", least=0)
    names = values.get("variants")
    mode = values.get("mode") or "eager"
    if mode not in MODES:
        raise BadInput(f"--mode: unknown mode {mode!r}; choose from {list(MODES)}")
    if values.get("compile-mode") is not None and mode != "compile":
        raise BadInput("--compile-mode: needs --mode compile")
    preset_name, unet, motion_adapter = _checkpoint(values)
    return Options(
        device=device,
        preset=preset_name,
        matrix=matrix,
        variants=tuple(shared.variants(names)) if names is not None else None,
        batch=_tuple(shared.int_list(values.get("batch"), "batch")),
        frames=_tuple(shared.int_list(values.get("frames"), "frames")),
        resolution=_tuple(shared.int_list(values.get("resolution"), "resolution")),
        dtype=dtype,
        rounds=_single(rounds, "rounds"),
        warmup=_single(warmup, "warmup"),
        rejoin=_tuple(shared.int_list(values.get("rejoin"), "rejoin", least=0)),
        mode=mode,
        compile_mode=values.get("compile-mode"),
        unet=unet,
        motion_adapter=motion_adapter,
    )


def _checkpoint(values: Mapping[str, str | None]) -> tuple[str | None, str | None, str | None]:
    """The preset and the checkpoint's absolute paths, checked against each other before any
    work (`interop.options.suite_preset`): `--unet` alone runs the preset of its layout."""
    unet, adapter = values.get("unet"), values.get("motion-adapter")
    if unet is None:
        if adapter is not None:
            raise BadInput("--motion-adapter needs --unet (the 2D weights it fine-tunes)")
        return values.get("preset"), None, None
    from mobius_core.interop.options import suite_preset

    name = suite_preset(unet, adapter, values.get("preset"))
    return name, str(Path(unet).resolve()), str(Path(adapter).resolve()) if adapter else None


def _tuple(values: list[int] | None) -> tuple[int, ...] | None:
    return tuple(values) if values is not None else None


def _single(values: list[int] | None, name: str) -> int | None:
    if values is not None and len(values) > 1:
        raise BadInput(f"--{name}: one number, got {len(values)}")
    return values[0] if values else None


def cases(options: Options) -> list[Case]:
    """The default matrix for the device, narrowed or replaced by what the options name."""
    o = options
    dtype, rounds, warmup = DEFAULTS[o.device]
    shapes = MATRICES[o.matrix or "full"] if o.device == "cuda" else CPU_SHAPES
    if o.preset is not None:
        shapes = [s for s in shapes if s[0] == o.preset] or [_preset_shape(o.preset)]
    if o.batch or o.frames or o.resolution:
        presets = list(dict.fromkeys(s[0] for s in shapes))
        shapes = [
            (p, b, f, r)
            for p in presets
            for b, f, r in product(
                o.batch or _values(shapes, p, 1),
                o.frames or _values(shapes, p, 2),
                o.resolution or _values(shapes, p, 3),
            )
        ]
    settings = {
        "mode": o.mode,
        "compile_mode": o.compile_mode,
        "world_size": o.world_size,
        "unet": o.unet,
        "motion_adapter": o.motion_adapter,
    }
    return [
        make_case(
            p,
            b,
            f,
            r,
            o.dtype or dtype,
            o.device,
            o.rounds or rounds,
            warmup if o.warmup is None else o.warmup,
            rejoin=k,
            **settings,
        )
        for p, b, f, r in shapes
        for k in (None, *(o.rejoin or ()))
    ]


def _values(shapes: list[Shape], preset: str, index: int) -> list[int]:
    """The first shape's value for `preset`: options override one axis, not the others."""
    return [next(s[index] for s in shapes if s[0] == preset)]  # type: ignore[misc]


def _preset_shape(name: str) -> Shape:
    from mobius_core.models.config import preset

    c = preset(name)
    return (name, c.batch, c.frames, c.resolution)


def variants(options: Options) -> list[str]:
    from mobius_core.models.variants import buildable

    return list(options.variants) if options.variants else buildable()


def plan(options: Options) -> dict[Case, list[str]]:
    """Each case with the variants it runs: every chosen variant at the preset's own rejoin
    depth, and mobius-double alone (with the baseline it is set against) at each `--rejoin`."""
    from mobius_core.models.variants import baseline_name

    chosen = variants(options)
    if options.rejoin and REJOINING not in chosen:
        raise BadInput(f"--rejoin: sets {REJOINING}'s depth; add it to --variants")
    if options.mode in ("ddp", "fsdp") and options.world_size < 2:  # ranks set world_size
        raise BadInput(
            f"--mode {options.mode}: needs 2 or more ranks; run mobius-bench bench --nproc N"
            f" --mode {options.mode} -- ... (or torchrun --nproc-per-node N -m mobius_core bench)"
        )
    at_k = [v for v in chosen if v in (baseline_name(), REJOINING)]
    return {c: chosen if c.rejoin is None else at_k for c in cases(options)}


def cross_check_rounds(case: Case) -> int:
    """pytest-benchmark's rounds: 3 on CUDA (a cross-check, not a second full set)."""
    return CUDA_CROSS_CHECK_ROUNDS if case.device == "cuda" else case.rounds
