"""`mobius-bench step`: one quick matched step per variant, as a table.

`--mode ddp` and `--mode fsdp` run as ranks of a process group: `--nproc N` launches N of
them here (as torchrun does), or `torchrun --nproc-per-node N -m mobius_core step ...`
starts them. Every rank runs and times its own step, released together by a barrier; rank 0
prints the table, whose step time is the largest over the ranks (each rank's beside it).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from mobius_core import options
from mobius_core.errors import BadInput
from mobius_core.run.distributed import DEFAULT_TIMEOUT_S

if TYPE_CHECKING:
    from mobius_core.models.config import Config

EXAMPLE = (
    "mobius-bench step --preset tiny --frames 4 --resolution 64\n"
    "  mobius-bench step --nproc 2 --mode ddp --preset tiny --frames 4 --resolution 64\n"
    "  mobius-bench step --preset sd15 --unet SD15/unet --motion-adapter ADAPTER --save trained"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    options.add_shape(parser, "tiny")
    options.add_device(parser)
    options.add_variants(parser)
    parser.add_argument(
        "--mode",
        default="eager",
        help="eager, compile (torch.compile), ddp or fsdp (with --nproc or torchrun)",
    )
    parser.add_argument("--compile-mode", help="torch.compile's mode, with --mode compile")
    parser.add_argument(
        "--nproc",
        type=int,
        help="launch this many ranks (as torchrun does) for --mode ddp or fsdp; every rank"
        " times its own step, the table gives the largest; on CUDA at most one per GPU",
    )
    parser.add_argument(
        "--rank-timeout",
        type=float,
        default=DEFAULT_TIMEOUT_S,
        help="seconds a rank waits for the others in a collective before the run ends",
    )
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
    from mobius_core.run import distributed
    from mobius_core.run.dist_launch import check_mode, relaunch
    from mobius_core.run.quickstep import quick_steps
    from mobius_core.training.devices import DTYPES

    launched = distributed.launched()
    ranked = check_mode("step", args, launched)
    if ranked and args.save is not None:
        raise BadInput(
            f"--save: not with --mode {args.mode} (each rank holds its own copy or shards);"
            " save from one process: mobius-bench step --save DIR"
        )
    device, dtype = options.device_and_dtype(args)
    name = next(k for k, v in DTYPES.items() if v == dtype)
    config = checkpoint_config(args, options.config(args))  # checked before any work
    variants = options.variants(args.variants)
    if args.save is not None:
        require("safetensors.torch")
        check_new_folder(args.save)
    if args.nproc is not None and not launched:
        return relaunch("step", args, add_arguments, device)
    checkpoint = {"unet": _absolute(args.unet), "motion_adapter": _absolute(args.motion_adapter)}
    settings = {"mode": args.mode, "compile_mode": args.compile_mode, **checkpoint}
    if launched:
        return _rank(config, device, name, variants, settings, args.rank_timeout)
    start = f" from {args.unet}" if args.unet else ""
    print(f"# one matched step per variant: {config.name}, {device}, {name}{start}")
    if args.save is None:
        print(table(quick_steps(config, device, name, variants, **settings)))
        return 0
    rows: list[dict[str, object]] = []
    fill_new_folder(
        lambda folder: rows.extend(
            quick_steps(config, device, name, variants, **settings, save=folder)
        ),
        args.save,
    )
    print(table(rows))
    kept = ", ".join(sorted(p.stem for p in args.save.glob("*.safetensors"))) or "nothing"
    print(f"# saved {kept} to {args.save}/ (export-motion {args.save} --variant V --out DIR)")
    return 0


def _rank(
    config: Config,
    device: str,
    dtype: str,
    variants: list[str],
    settings: dict,
    timeout_s: float,
) -> int:
    """This process as one rank: every rank steps, rank 0 prints the table."""
    from mobius_core.report.markdown import table
    from mobius_core.run import distributed
    from mobius_core.run.case import make_case
    from mobius_core.run.dist_case import CPU_NOTE
    from mobius_core.run.dist_step import rank_steps

    c = config
    world = distributed.join(device, timeout_s)
    try:
        settings = {**settings, "world_size": world.size}
        case = make_case(c.name, c.batch, c.frames, c.resolution, dtype, device, 2, 1, **settings)
        if world.leader:
            print(
                f"# one matched step per variant, {case.mode} over {world.size} ranks:"
                f" {c.name}, {device}, {dtype}"
                + (f"; {CPU_NOTE}" if device == "cpu" else f" ({world.backend})")
            )
        rows = rank_steps(case, world, variants)
    finally:
        distributed.leave()
    if world.leader:
        print(table(rows))
    return 0


def _absolute(path: Path | None) -> str | None:
    return str(path.resolve()) if path is not None else None
