"""`mobius-bench profile`: torch.profiler traces and tables per variant, in a new folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from mobius_core import options
from mobius_core.errors import BadInput

EXAMPLE = (
    "mobius-bench profile --preset tiny --variants serial,mobius --frames 4 --resolution 64\n"
    "  mobius-bench profile --preset tiny --variants serial,mobius --mode compile"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    options.add_shape(parser, "tiny")
    options.add_variants(parser)
    options.add_device(parser)
    parser.add_argument("--mode", default="eager", help="eager or compile (torch.compile)")
    parser.add_argument("--compile-mode", help="torch.compile's mode, with --mode compile")
    from mobius_core.interop.options import add_checkpoint_arguments

    add_checkpoint_arguments(parser)
    parser.add_argument("--steps", type=int, default=2, help="profiled steps per variant")
    parser.add_argument("--warmup", type=int, default=2, help="warm-up steps before them")
    parser.add_argument("--out", type=Path, help="a new folder (default: reports/runs/<new>)")


def run(args: argparse.Namespace) -> int:
    from functools import partial

    from mobius_core.interop.options import build_matched_from, checkpoint_config
    from mobius_core.outputs import fill_new_folder
    from mobius_core.run.modes import check
    from mobius_core.run.profile_report import write_profile

    check(args.mode)
    if args.compile_mode is not None and args.mode != "compile":
        raise BadInput("--compile-mode: needs --mode compile")
    device, dtype = options.device_and_dtype(args)
    config = checkpoint_config(args, options.config(args))  # checked before any work
    build = partial(build_matched_from, args)  # every variant from the checkpoint, if named
    variants = options.variants(args.variants)
    if args.steps < 1 or args.warmup < 0:
        raise BadInput(
            f"--steps: need at least 1 step and no negative warm-up ({args.steps}, {args.warmup})"
        )
    files: list[str] = []
    label = "cpu" if device == "cpu" else "cuda"
    write = partial(write_profile, config, variants, device, dtype, args.steps, args.warmup)
    out = fill_new_folder(
        lambda folder: files.extend(write(folder, build, args.mode, args.compile_mode)),
        args.out,
        f"{label}-profile",
    )
    print(f"# profile: {out}/ ({', '.join(files)})")
    return 0
