"""`mobius-bench converge`: quality at matched cost. Trains the 2D model once (cached), or
takes the user's (`--unet`), then fine-tunes every variant from it, and mobius-double at each
`--rejoin` depth, with a control on incoherent clips, over several seeds; reports each
entry's temporal gain over the frozen 2D model with a 95% interval and a verdict against
serial's, and saves each entry's model of seed 0 into the run folder's `checkpoints/`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from mobius_core import options

if TYPE_CHECKING:
    from mobius_core.training.converge import ConvergeSettings
    from mobius_core.training.finetune import Entry

EXAMPLE = "mobius-bench converge --quick   # or: --rejoin 0,2,4, --unet DIR, --run RUN.json"
CACHE = Path("reports/cache")  # stage-1 weights, reused across runs
# option -> (default, --quick): the default finishes in under 10 minutes on 2 CPU cores
BUDGETS: dict[str, tuple[int, int]] = {
    "seeds": (3, 2),
    "steps": (80, 40),
    "batch": (2, 1),
    "eval_every": (20, 20),
    "pretrain_steps": (800, 100),  # stage 1's cap; it stops sooner once levelled off
}
PRETRAIN_BATCH = 32  # single frames a stage-1 step
# stage 1 has levelled off when, its validation loss checked every PRETRAIN_CHECK steps,
# the best of the last LEVEL_WINDOW checks is less than LEVEL_FALL below the best before them
PRETRAIN_CHECK, LEVEL_WINDOW, LEVEL_FALL = 50, 3, 0.03
VAL_CLIPS, VAL_PAIRS = 16, 2  # the validation set: clips x (timestep, noise) pairs
PRESET = "tiny"
# tiny's own clips (4 frames) are short for motion: converge runs it at 8 frames, 64 px;
# any other preset at its own shape (sd15: the claim shape, 16 frames at 256 px)
SHAPES = {"tiny": (8, 64)}
# the claim trio and mobius-double fit the 10 minutes; diffusers-serial (serial's gradients
# in diffusers' classes) would take it over, so it runs when named
DEFAULT_VARIANTS = ("serial", "serial-ckpt", "mobius", "mobius-double")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from mobius_core.interop.options import add_checkpoint_arguments

    parser.add_argument("--preset", default=PRESET, help="tiny, small or sd15")
    parser.add_argument(
        "--frames", type=int, help="frames per clip (default: tiny 8, else the preset's own)"
    )
    parser.add_argument(
        "--resolution", type=int, help="pixels (default: tiny 64, else the preset's own)"
    )
    parser.add_argument(
        "--variants",
        help=f"comma-separated variants (default: {','.join(DEFAULT_VARIANTS)}: what fits the"
        " 10-minute budget on 2 CPU cores; diffusers-serial, which learns as serial does, runs"
        " when named)",
    )
    parser.add_argument(
        "--rejoin",
        metavar="K,K",
        help="also fine-tune mobius-double at each rejoin depth k, each its own entry"
        " (mobius-double-k2); k runs from 0 (mobius) to the preset's up positions (tiny: 4)",
    )
    add_checkpoint_arguments(parser)  # --unet, --motion-adapter: stage 1 is skipped
    options.add_device(parser)
    parser.add_argument("--quick", action="store_true", help="the CI budget (under 3 minutes)")
    for name, (full, quick) in BUDGETS.items():
        flag = "--" + name.replace("_", "-")
        what = "stage 1's step cap; " if name == "pretrain_steps" else ""
        parser.add_argument(flag, type=int, help=f"{what}default {full}; with --quick {quick}")
    parser.add_argument("--lr", type=float, default=1e-3, help="AdamW learning rate, stage 2")
    parser.add_argument("--pretrain-lr", type=float, default=1e-3, help="AdamW lr, stage 1")
    parser.add_argument("--data", type=Path, help="a folder of latent clips (safetensors)")
    parser.add_argument("--cache", type=Path, default=CACHE, help="stage-1 weights cache")
    parser.add_argument("--run", type=Path, help="a benchmark run of the same shape to show")
    parser.add_argument("--out", type=Path, help="the new report folder (default: runs/<new>)")


def budget(args: argparse.Namespace, name: str, least: int = 1) -> int:
    """An integer option, or its default for this budget; BadInput below `least`."""
    from mobius_core.errors import BadInput

    value = getattr(args, name)
    value = BUDGETS[name][1 if args.quick else 0] if value is None else value
    if value < least:
        raise BadInput(f"--{name.replace('_', '-')}: must be at least {least}, got {value}")
    return value


def rate(args: argparse.Namespace, name: str) -> float:
    """A learning rate option; BadInput unless it is a finite number above zero."""
    import math

    from mobius_core.errors import BadInput

    value = getattr(args, name)
    if not (math.isfinite(value) and value > 0):
        raise BadInput(f"--{name.replace('_', '-')}: must be a learning rate above 0, got {value}")
    return value


def shape_of(args: argparse.Namespace) -> tuple[int, int]:
    """Frames and resolution: the options given, else the preset's converge shape."""
    from mobius_core.models.config import preset

    own = preset(args.preset)
    frames, resolution = SHAPES.get(args.preset, (own.frames, own.resolution))
    frames = frames if args.frames is None else args.frames
    resolution = resolution if args.resolution is None else args.resolution
    return frames, resolution


def settings_of(args: argparse.Namespace, entries: list[Entry]) -> ConvergeSettings:
    """The run's settings: the options given, the rest from the (quick) budget."""
    from mobius_core.training.converge import ConvergeSettings
    from mobius_core.training.finetune import FinetuneSettings
    from mobius_core.training.levelling import Levelling
    from mobius_core.training.pretrain import PretrainSettings

    rule = Levelling(PRETRAIN_CHECK, LEVEL_WINDOW, LEVEL_FALL, budget(args, "pretrain_steps"))
    return ConvergeSettings(
        PretrainSettings(rule, PRETRAIN_BATCH, rate(args, "pretrain_lr"), 0),
        FinetuneSettings(
            budget(args, "steps"),
            budget(args, "batch"),
            rate(args, "lr"),
            budget(args, "eval_every"),
        ),
        tuple(range(budget(args, "seeds", least=2))),
        tuple(entries),
        VAL_CLIPS,
        VAL_PAIRS,
    )


def run(args: argparse.Namespace) -> int:
    from mobius_core.interop.options import checkpoint_config
    from mobius_core.models.config import preset
    from mobius_core.models.variants import baseline_name
    from mobius_core.outputs import check_new_folder, fill_new_folder, write_new_json
    from mobius_core.report.converge_record import ConvergeRecord
    from mobius_core.report.converge_report import CONVERGE_FILE, beside, write_report
    from mobius_core.run import converge_setup as setup
    from mobius_core.training.converge import converge, source_of

    device, dtype = options.device_and_dtype(args)
    variants = options.variants(args.variants or ",".join(DEFAULT_VARIANTS))
    if baseline_name() not in variants:
        variants = [baseline_name(), *variants]
        options.note(f"--variants: {baseline_name()} added: every verdict is set against it")
    batch = budget(args, "batch")
    frames, resolution = shape_of(args)
    config = preset(args.preset, frames=frames, resolution=resolution, batch=batch)
    config = checkpoint_config(args, config)  # the checkpoint's layout must be the preset's
    rejoin = options.int_list(args.rejoin, "rejoin", least=0) or []
    settings = settings_of(args, setup.entries(variants, rejoin, config))
    source = source_of(args.data, config)
    if args.out is not None:
        check_new_folder(args.out)
    checkpoint = None
    if args.unet is not None:  # read and checked before the work; stage 1 is skipped
        checkpoint = setup.checkpoint_start(args.unet, args.motion_adapter, config)
    if args.run is not None:  # a bad run, or one without this shape, fails before the work
        beside(args.run, setup.case_of(config, (device, dtype), checkpoint))
    done: list[ConvergeRecord] = []

    def fill(folder: Path) -> None:
        keep, saved = setup.checkpoint_saver(folder / setup.CHECKPOINTS)
        raw = converge(config, source, settings, args.cache, device, dtype, checkpoint, keep)
        extra = {"data": source.name, "rejoin": rejoin, "checkpoints": saved}
        done.append(setup.record_of(raw, config, settings, (device, dtype), extra, checkpoint))
        write_new_json(folder / CONVERGE_FILE, done[0].to_dict())
        write_report(done[0], folder, args.run)

    folder = fill_new_folder(fill, args.out, "converge")
    record = done[0]
    if record.pretrain.get("stopped"):
        print(f"# stage 1: {record.pretrain['stopped']}")
    for verdict in record.verdicts:
        gap = verdict.difference.text()
        print(f"{verdict.variant} ({verdict.measure}): {verdict.text}; difference {gap}")
    for name, summary in record.variants.items():
        print(f"{name}: temporal gain {summary.temporal_gain.text()}")
    print(f"# checkpoints: {record.settings['checkpoints']}")
    if record.settings.get("interrupted"):
        seeds = record.settings["seeds"]
        print(f"mobius-bench: interrupted; seeds {seeds} finished and are kept in {folder}/")
        return 130
    print(f"# report: {folder}/summary.md")
    return 0
