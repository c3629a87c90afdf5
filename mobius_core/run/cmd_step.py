"""`mobius-bench step`: one quick matched step per variant, as a table."""

from __future__ import annotations

import argparse

from mobius_core import options

EXAMPLE = "mobius-bench step --preset tiny --frames 4 --resolution 64"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    options.add_shape(parser, "tiny")
    options.add_device(parser)


def run(args: argparse.Namespace) -> int:
    from mobius_core.report.markdown import table
    from mobius_core.run.quickstep import quick_steps
    from mobius_core.training.devices import DTYPES

    device, dtype = options.device_and_dtype(args)
    name = next(k for k, v in DTYPES.items() if v == dtype)
    config = options.config(args)
    print(f"# one matched step per variant: {config.name}, {device}, {name}")
    print(table(quick_steps(config, device, name)))
    return 0
