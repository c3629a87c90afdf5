"""The `mobius-bench` command line: each subcommand in one function; bad input exits 2."""

from __future__ import annotations

import argparse
import sys

from mobius_core.config import PRESETS, preset
from mobius_core.devices import resolve_device, resolve_dtype


def _shape_args(parser: argparse.ArgumentParser, default_preset: str) -> None:
    parser.add_argument("--preset", default=default_preset, help=f"one of {sorted(PRESETS)}")
    parser.add_argument("--frames", type=int, help="frames per clip (default: the preset's)")
    parser.add_argument("--resolution", type=int, help="pixels on a side (default: preset's)")
    parser.add_argument("--batch", type=int, help="clips per step (default: the preset's)")


def _config(args: argparse.Namespace):
    shape = {k: getattr(args, k) for k in ("frames", "resolution", "batch")}
    return preset(args.preset, **{k: v for k, v in shape.items() if v is not None})


def cmd_step(args: argparse.Namespace) -> int:
    from mobius_core.quickstep import format_table, quick_steps

    device = resolve_device(args.device)
    dtype = resolve_dtype(args.dtype, device)
    config = _config(args)
    print(f"# one matched step per variant: {config.name}, {device}, {dtype}")
    print(format_table(quick_steps(config, device, dtype)))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mobius-bench",
        description="Serial vs Mobius 3D-UNet fine-tuning: benchmark, profile, report.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    step = sub.add_parser("step", help="one matched step per variant, as a table")
    _shape_args(step, "tiny")
    step.add_argument("--device", default="auto", help="auto, cpu or cuda")
    step.add_argument("--dtype", default="auto", help="auto, fp32, bf16 or fp16")
    step.set_defaults(func=cmd_step)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ValueError as error:
        print(f"mobius-bench: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
