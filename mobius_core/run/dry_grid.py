"""`mobius-bench dry-run --grid`: the dry run at every shape of batch x frames x resolution
at one preset, into a grid file (`mobius-bench-grid/1`) that `report` draws the claims map
from, and optionally the map itself from the dry run alone.

Each shape is a meta-device dry run of serial and mobius (or the variants named, which
must include both): no memory is allocated at any size, so the grid runs on a CPU, a few
seconds per shape at sd15.
"""

from __future__ import annotations

import argparse
from itertools import product

from mobius_core import options
from mobius_core.errors import BadInput
from mobius_core.models.config import preset
from mobius_core.models.variants import baseline_name
from mobius_core.progress import tracked
from mobius_core.report.grid import CANDIDATE, Grid
from mobius_core.run.dryrun import dry_run, dtype_name

DEFAULT_AXES = "1,2,4,8/8,16,24,32/256,384,512"  # batch / frames / resolution
Axes = tuple[list[int], list[int], list[int]]


def add_grid_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--grid",
        nargs="?",
        const=DEFAULT_AXES,
        metavar="B/F/R",
        help="a dry run at every shape of batches/frames/resolutions (comma-separated each;"
        f" alone: {DEFAULT_AXES}) into --json as a grid; --plot draws its claims map",
    )


def parse_axes(text: str) -> Axes:
    """`1,2/8,16/256` -> ([1, 2], [8, 16], [256]); one line on anything else."""
    parts = text.split("/")
    if len(parts) != 3:
        raise BadInput(
            f"--grid: expected BATCHES/FRAMES/RESOLUTIONS (e.g. 1,4/16/256), got {text!r}"
        )
    names = ("grid batches", "grid frames", "grid resolutions")
    batches, frames, resolutions = (
        options.int_list(part, name) or [] for part, name in zip(parts, names, strict=True)
    )
    return batches, frames, resolutions


def grid_variants(text: str | None) -> list[str]:
    """The baseline and mobius by default; any list named must hold both."""
    if text is None:
        return [baseline_name(), CANDIDATE]
    chosen = options.variants(text)
    if baseline_name() not in chosen or CANDIDATE not in chosen:
        raise BadInput(f"--variants: a grid needs {baseline_name()} and {CANDIDATE}; got {text!r}")
    return chosen


def dry_grid(
    preset_name: str, axes: Axes, variants: list[str], dtype: object, attention: str
) -> Grid:
    """A dry run at every shape of `axes` (every shape checked before the work)."""
    shapes = list(product(*axes))
    configs = [preset(preset_name, batch=b, frames=f, resolution=r) for b, f, r in shapes]
    runs = [
        dry_run(config, variants, dtype, attention)  # type: ignore[arg-type]
        for config in tracked(
            configs,
            "dry-run grid",
            name=lambda c: f"b{c.batch} f{c.frames} r{c.resolution}",
        )
    ]
    return Grid(preset_name, dtype_name(dtype), attention, *map(list, axes), runs)  # type: ignore[arg-type]


def run_grid(args: argparse.Namespace, dtype: object) -> int:
    """The grid command: checks, the dry runs, the grid file and, with --plot, the map."""
    from mobius_core.outputs import check_new_file, write_new_json
    from mobius_core.report.claims_map import map_points, sentence
    from mobius_core.report.claims_map_plot import plot
    from mobius_core.report.plotstyle import save_figure
    from mobius_core.report.time_model import fit

    if args.json is None:
        raise BadInput("--grid: give --json FILE, the grid file the report reads")
    if getattr(args, "rejoin", None) is not None:
        raise BadInput("--grid: not with --rejoin; a grid is of serial and mobius")
    if getattr(args, "unet", None) is not None:
        raise BadInput("--grid: not with --unet; a grid is of the preset's layout")
    named = [f"--{k}" for k in ("batch", "frames", "resolution") if getattr(args, k) is not None]
    if named:
        raise BadInput(f"--grid: gives the shapes; drop {', '.join(named)}")
    axes = parse_axes(args.grid)
    variants = grid_variants(args.variants)
    for path in (args.json, args.plot):
        if path is not None:
            check_new_file(path)  # before the work, not after it
    grid = dry_grid(args.preset, axes, variants, dtype, args.attention)
    write_new_json(args.json, grid.to_dict())
    model = fit([], grid.preset, grid.dtype)  # nothing measured: the FLOP ratio
    points = map_points(grid, model)
    print(f"# dry-run grid (meta device): {sentence(grid, points, [], model)}")
    print(f"# wrote {args.json}")
    if args.plot is not None:
        save_figure(plot(grid, points, [], model), args.plot)
        print(f"# wrote {args.plot}")
    return 0
