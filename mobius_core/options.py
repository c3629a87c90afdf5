"""Options every command shares: preset and shape, device and dtype, variants.

Parsed once here, with one wording of every error (`BadInput`) and duplicates collapsed
with a note. Imports no torch until a device or dtype is resolved.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from mobius_core.errors import BadInput
from mobius_core.models.config import PRESETS, Config, preset

if TYPE_CHECKING:
    import torch

DTYPE_NAMES = ("fp32", "bf16", "fp16")


def note(message: str) -> None:
    """A remark on the input that changes nothing the user must fix, on stderr."""
    print(f"# note: {message}", file=sys.stderr)


def unique(values: list[str], name: str) -> list[str]:
    """`values` in order, each once; a repeated one is dropped with a note."""
    kept = list(dict.fromkeys(values))
    if len(kept) < len(values):
        note(f"--{name}: repeated values dropped, using {','.join(kept)}")
    return kept


def int_list(text: str | None, name: str, least: int = 1) -> list[int] | None:
    """A comma-separated option as distinct whole numbers of at least `least`, or None."""
    if text is None:
        return None
    try:
        values = [int(v) for v in str(text).split(",")]
    except ValueError:
        raise BadInput(f"--{name}: expected whole numbers, got {text!r}") from None
    if any(v < least for v in values):
        rule = "must be positive" if least == 1 else f"must be at least {least}"
        raise BadInput(f"--{name}: {rule}, got {text!r}")
    return [int(v) for v in unique([str(v) for v in values], name)]


def variants(text: str | None) -> list[str]:
    """Variant names from `a,b,c` (None: every registered variant that builds here), each
    once, all known."""
    from mobius_core.models.variants import VARIANTS, buildable

    if text is None:
        return buildable()
    names = unique([v.strip() for v in text.split(",") if v.strip()], "variants")
    unknown = [v for v in names if v not in VARIANTS]
    if unknown or not names:
        raise BadInput(f"--variants: unknown {unknown or text!r}; choose from {list(VARIANTS)}")
    return names


def add_shape(parser: argparse.ArgumentParser, default_preset: str) -> None:
    """--preset, --frames, --resolution, --batch: one shape."""
    parser.add_argument("--preset", default=default_preset, help=f"one of {', '.join(PRESETS)}")
    parser.add_argument("--frames", type=int, help="frames per clip (default: the preset's)")
    parser.add_argument("--resolution", type=int, help="pixels on a side (default: the preset's)")
    parser.add_argument("--batch", type=int, help="clips per step (default: the preset's)")


def add_device(parser: argparse.ArgumentParser, dtype: bool = True) -> None:
    parser.add_argument("--device", default="auto", help="auto (CUDA if present), cpu or cuda")
    if dtype:
        parser.add_argument(
            "--dtype", default="auto", help="auto (bf16 on CUDA, fp32 on CPU), fp32, bf16, fp16"
        )


def add_variants(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--variants",
        help="comma-separated variants to run (default: every registered one that builds here)",
    )


def config(args: argparse.Namespace) -> Config:
    """The preset at the shape the options name."""
    shape = {k: getattr(args, k) for k in ("frames", "resolution", "batch")}
    return preset(args.preset, **{k: v for k, v in shape.items() if v is not None})


def device_and_dtype(args: argparse.Namespace) -> tuple[str, torch.dtype]:
    """The device and compute dtype the options name; fp16 on CPU is refused."""
    from mobius_core.training.devices import resolve_device, resolve_dtype

    device = resolve_device(args.device)
    dtype = resolve_dtype(getattr(args, "dtype", "auto"), device)
    check_dtype_for_device(str(dtype).removeprefix("torch."), device)
    return device, dtype


def check_dtype_for_device(dtype: str, device: str) -> None:
    if device == "cpu" and dtype in ("fp16", "float16"):
        raise BadInput("--dtype: fp16 runs on CUDA only; CPU runs are fp32 (or bf16)")
