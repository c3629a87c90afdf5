"""`mobius-bench dry-run`: predict a step's FLOPs and bytes on the meta device, no GPU."""

from __future__ import annotations

import argparse
from pathlib import Path

from mobius_core import options

EXAMPLE = (
    "mobius-bench dry-run --preset sd15 --frames 16 --resolution 256 --batch 1 --json out.json"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    options.add_shape(parser, "sd15")
    options.add_variants(parser)
    parser.add_argument("--dtype", default="auto", help="auto (bf16), fp32, bf16 or fp16")
    parser.add_argument("--json", type=Path, help="also write the predictions here (a new file)")


def run(args: argparse.Namespace) -> int:
    from mobius_core.outputs import check_new_file, write_new_json
    from mobius_core.run.dryrun import dry_run, format_dry_run
    from mobius_core.training.devices import resolve_dtype

    config = options.config(args)
    variants = options.variants(args.variants)
    dtype = resolve_dtype(args.dtype, "cuda")  # predictions are for a GPU run
    if args.json is not None:
        check_new_file(args.json)  # before the work, not after it
    result = dry_run(config, variants, dtype)
    print(
        f"# dry run (meta device): {config.name}, batch {config.batch}, {config.frames} frames,"
        f" {config.resolution} px, {result['dtype']}"
    )
    print(format_dry_run(result))
    if args.json is not None:
        write_new_json(args.json, result)
    return 0
