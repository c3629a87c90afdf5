"""`mobius-bench step`: one quick matched step per variant, as a table."""

from __future__ import annotations

import argparse
from pathlib import Path

from mobius_core import options
from mobius_core.errors import BadInput

EXAMPLE = (
    "mobius-bench step --preset tiny --frames 4 --resolution 64\n"
    "  mobius-bench step --preset sd15 --unet SD15/unet --motion-adapter ADAPTER --save trained"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    options.add_shape(parser, "tiny")
    options.add_device(parser)
    parser.add_argument("--mode", default="eager", help="eager or compile (torch.compile)")
    parser.add_argument("--compile-mode", help="torch.compile's mode, with --mode compile")
    from mobius_core.interop.options import add_checkpoint_arguments

    add_checkpoint_arguments(parser)
    parser.add_argument(
        "--save",
        type=Path,
        metavar="DIR",
        help="a new folder: each variant's trained state after its steps, <variant>.safetensors"
        " (for export-motion DIR --variant V)",
    )


def run(args: argparse.Namespace) -> int:
    from mobius_core.interop import require
    from mobius_core.interop.options import checkpoint_config
    from mobius_core.outputs import check_new_folder, fill_new_folder
    from mobius_core.report.markdown import table
    from mobius_core.run.modes import check
    from mobius_core.run.quickstep import quick_steps
    from mobius_core.training.devices import DTYPES

    check(args.mode)
    if args.compile_mode is not None and args.mode != "compile":
        raise BadInput("--compile-mode: needs --mode compile")
    device, dtype = options.device_and_dtype(args)
    name = next(k for k, v in DTYPES.items() if v == dtype)
    config = checkpoint_config(args, options.config(args))  # checked before any work
    if args.save is not None:
        require("safetensors.torch")
        check_new_folder(args.save)
    checkpoint = {"unet": _absolute(args.unet), "motion_adapter": _absolute(args.motion_adapter)}
    settings = {"mode": args.mode, "compile_mode": args.compile_mode, **checkpoint}
    start = f" from {args.unet}" if args.unet else ""
    print(f"# one matched step per variant: {config.name}, {device}, {name}{start}")
    if args.save is None:
        print(table(quick_steps(config, device, name, **settings)))
        return 0
    rows: list[dict[str, object]] = []
    fill_new_folder(
        lambda folder: rows.extend(quick_steps(config, device, name, **settings, save=folder)),
        args.save,
    )
    print(table(rows))
    kept = ", ".join(sorted(p.stem for p in args.save.glob("*.safetensors"))) or "nothing"
    print(f"# saved {kept} to {args.save}/ (export-motion {args.save} --variant V --out DIR)")
    return 0


def _absolute(path: Path | None) -> str | None:
    return str(path.resolve()) if path is not None else None
