"""`mobius-bench profile`: torch.profiler traces and tables per variant, in a new folder.

`--mode ddp` and `--mode fsdp` run as ranks of a process group: `--nproc N` launches N of
them here (as torchrun does), or `torchrun --nproc-per-node N -m mobius_core profile ...`
starts them. Every rank profiles its own steps, so that the profiler's overhead falls on
every rank alike and no rank's trace shows it waiting on a peer slowed by profiling alone;
rank 0 writes profile.md from its own figures with each rank's step time, and the traces
of rank N go in rankN/.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from functools import partial
from pathlib import Path

from mobius_core import options
from mobius_core.errors import BadInput
from mobius_core.run.distributed import DEFAULT_TIMEOUT_S

EXAMPLE = (
    "mobius-bench profile --preset tiny --variants serial,mobius --frames 4 --resolution 64\n"
    "  mobius-bench profile --preset tiny --variants serial,mobius --mode compile\n"
    "  mobius-bench profile --nproc 2 --mode fsdp --preset tiny --variants serial,mobius"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    options.add_shape(parser, "tiny")
    options.add_variants(parser)
    options.add_device(parser)
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
        " profiles its own steps (the profiler's overhead alike on each), rank 0 writes"
        " profile.md, rank N's traces go in rankN/; on CUDA at most one per GPU",
    )
    parser.add_argument(
        "--rank-timeout",
        type=float,
        default=DEFAULT_TIMEOUT_S,
        help="seconds a rank waits for the others in a collective before the run ends",
    )
    from mobius_core.interop.options import add_checkpoint_arguments

    add_checkpoint_arguments(parser)
    parser.add_argument("--steps", type=int, default=2, help="profiled steps per variant")
    parser.add_argument("--warmup", type=int, default=2, help="warm-up steps before them")
    parser.add_argument("--out", type=Path, help="a new folder (default: reports/runs/<new>)")


def run(args: argparse.Namespace) -> int:
    from mobius_core.interop.options import build_matched_from, checkpoint_config
    from mobius_core.outputs import check_new_folder, fill_new_folder
    from mobius_core.run import distributed
    from mobius_core.run.dist_launch import check_mode, relaunch
    from mobius_core.run.profile_report import write_profile

    launched = distributed.launched()
    check_mode("profile", args, launched)
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
    if args.nproc is not None and not launched:
        if args.out is not None:
            check_new_folder(args.out)
        return relaunch("profile", args, add_arguments, device)
    if launched:
        shape = (config, variants, device, dtype, args.steps, args.warmup)
        return _rank(args, device, shape, build, label)
    write = partial(write_profile, config, variants, device, dtype, args.steps, args.warmup)
    out = fill_new_folder(
        lambda folder: files.extend(write(folder, build, args.mode, args.compile_mode)),
        args.out,
        f"{label}-profile",
    )
    print(f"# profile: {out}/ ({', '.join(files)})")
    return 0


def _rank(args: argparse.Namespace, device: str, shape: tuple, build: Callable, label: str) -> int:
    """This process as one rank: rank 0 makes the folder and sends its path to the others;
    every rank profiles its own steps into it (`dist_profile`). `shape`: the leading
    arguments of `write_rank_profile`."""
    from mobius_core.outputs import fill_new_folder
    from mobius_core.run import distributed
    from mobius_core.run.dist_profile import write_rank_profile

    world = distributed.join(device, args.rank_timeout)
    files: list[str] = []

    def fill(folder: Path | None) -> None:
        sent = distributed.gather(str(folder) if folder is not None else None)
        write = partial(write_rank_profile, *shape, Path(sent[0]), world, args.mode, build)
        files.extend(write())

    try:
        if not world.leader:
            fill(None)
            return 0
        out = fill_new_folder(fill, args.out, f"{label}-profile")
    finally:
        distributed.leave()
    print(f"# profile over {world.size} ranks: {out}/ ({', '.join(files)})")
    return 0
