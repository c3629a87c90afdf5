"""`mobius-bench dry-run`: predict a step's FLOPs and bytes on the meta device, no GPU."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from mobius_core import options
from mobius_core.errors import BadInput

if TYPE_CHECKING:
    import torch

    from mobius_core.models.config import Config

EXAMPLE = (
    "mobius-bench dry-run --preset sd15 --frames 16 --resolution 256 --batch 1 --json out.json\n"
    "  mobius-bench dry-run --variants serial,mobius,mobius-double --rejoin 0,1,3,6,9,12"
    " --json sweep.json --plot sweep.png"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from mobius_core.interop.options import add_checkpoint_arguments
    from mobius_core.run.attention import ATTENTION_MODELS, FUSED

    options.add_shape(parser, "sd15")
    options.add_variants(parser)
    add_checkpoint_arguments(parser)
    parser.add_argument(
        "--dtype", default="auto", help="auto (bf16, as on a GPU), fp32, bf16 or fp16"
    )
    parser.add_argument(
        "--attention",
        default=FUSED,
        choices=ATTENTION_MODELS,
        help="fused: what CUDA's flash/efficient kernels save and compute;"
        " math: the meta device's own path (the old model, for comparison)",
    )
    parser.add_argument("--json", type=Path, help="also write the predictions here (a new file)")
    parser.add_argument(
        "--rejoin",
        help="comma-separated k for mobius-double (return bridges at the last k up positions,"
        " 0..up positions): a dry run per k, and the design-space table",
    )
    parser.add_argument(
        "--plot",
        type=Path,
        help="with --rejoin: the design-space plot; with --grid: the claims map (a new PNG)",
    )
    from mobius_core.run.dry_grid import add_grid_argument

    add_grid_argument(parser)
    parser.add_argument("--world", type=int, help="with --mode fsdp: ranks to shard over")
    parser.add_argument("--mode", help="fsdp: predict one rank's bytes under FSDP (needs --world)")


def run(args: argparse.Namespace) -> int:
    from mobius_core.interop.options import layout_config
    from mobius_core.outputs import check_new_file, write_new_json
    from mobius_core.run.dryrun import dry_run
    from mobius_core.run.dryrun_table import format_dry_run
    from mobius_core.training.devices import resolve_dtype

    config = layout_config(args, options.config(args))  # the checkpoint's, if one is named
    variants = options.variants(args.variants)
    dtype = resolve_dtype(args.dtype, "cuda")  # predictions are for a GPU run
    if args.unet is not None and args.grid is not None:
        raise BadInput("--unet: --grid predicts for the preset's layout; leave out --unet")
    if args.grid is not None:
        from mobius_core.run.dry_grid import run_grid

        return run_grid(args, dtype)
    if args.plot is not None and args.rejoin is None:
        raise BadInput("--plot: the design-space plot needs --rejoin")
    for path in (args.json, args.plot):
        if path is not None:
            check_new_file(path)  # before the work, not after it
    if args.rejoin is not None:
        rejoin = options.int_list(args.rejoin, "rejoin", least=0) or []
        return _sweep(args, config, variants, dtype, rejoin)
    if args.unet is not None:
        print(f"# layout of {args.unet}: {config.name} ({config.block_channels} channels)")
    result = dry_run(config, variants, dtype, args.attention, _world(args))
    print(
        f"# dry run (meta device): {config.name}, batch {config.batch}, {config.frames} frames,"
        f" {config.resolution} px, {result.dtype}, attention {result.attention}"
    )
    print(format_dry_run(result))
    if args.json is not None:
        write_new_json(args.json, result.to_dict())
        print(f"# wrote {args.json}")
    return 0


def _world(args: argparse.Namespace) -> int:
    """The ranks `--world N --mode fsdp` shard over (1 without them); bad pairs, one line."""
    if args.mode is None and args.world is None:
        return 1
    if args.mode != "fsdp" or args.world is None or args.world < 1 or args.rejoin is not None:
        raise BadInput("--world N --mode fsdp: give both, N at least 1, without --rejoin")
    return args.world


def _sweep(
    args: argparse.Namespace,
    config: Config,
    variants: list[str],
    dtype: torch.dtype,
    rejoin: list[int],
) -> int:
    from mobius_core.outputs import write_new_json
    from mobius_core.report.design_plot import plot
    from mobius_core.report.design_space import k_table, panels
    from mobius_core.report.plotstyle import save_figure
    from mobius_core.run.dryrun import rejoin_sweep

    sweep = rejoin_sweep(config, variants, dtype, rejoin, args.attention)
    case = sweep.runs[0].records[0].case.key
    print(f"# rejoin sweep (meta device): {case}, attention {args.attention}, k = {args.rejoin}")
    (panel,) = panels([sweep], [])
    print(k_table(panel))
    if args.json is not None:
        write_new_json(args.json, sweep.to_dict())
        print(f"# wrote {args.json}")
    if args.plot is not None:
        save_figure(plot([panel]), args.plot)
        print(f"# wrote {args.plot}")
    return 0
