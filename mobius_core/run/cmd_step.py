"""`mobius-bench step`: one quick matched step per variant, as a table."""

from __future__ import annotations

import argparse

from mobius_core import options
from mobius_core.errors import BadInput

EXAMPLE = "mobius-bench step --preset tiny --frames 4 --resolution 64"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    options.add_shape(parser, "tiny")
    options.add_device(parser)
    parser.add_argument("--mode", default="eager", help="eager or compile (torch.compile)")
    parser.add_argument("--compile-mode", help="torch.compile's mode, with --mode compile")


def run(args: argparse.Namespace) -> int:
    from mobius_core.report.markdown import table
    from mobius_core.run.modes import check
    from mobius_core.run.quickstep import quick_steps
    from mobius_core.training.devices import DTYPES

    check(args.mode)
    if args.compile_mode is not None and args.mode != "compile":
        raise BadInput("--compile-mode: needs --mode compile")
    device, dtype = options.device_and_dtype(args)
    name = next(k for k, v in DTYPES.items() if v == dtype)
    config = options.config(args)
    print(f"# one matched step per variant: {config.name}, {device}, {name}")
    print(table(quick_steps(config, device, name, args.mode, args.compile_mode)))
    return 0
