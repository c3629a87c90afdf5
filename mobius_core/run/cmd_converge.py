"""`mobius-bench converge`: quality at matched cost. Trains the 2D model once (cached), then
fine-tunes every variant from it, and a control on incoherent clips, over several seeds, and
reports each variant's temporal gain over the frozen 2D model with a 95% interval and a
verdict against serial's."""

from __future__ import annotations

import argparse
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from mobius_core import options

if TYPE_CHECKING:
    from mobius_core.training.converge import ConvergeSettings

EXAMPLE = "mobius-bench converge --quick   # or: --seeds 3 --steps 250 --run RUN.json"
CACHE = Path("reports/cache")  # stage-1 weights, reused across runs
# option -> (default, --quick): the default finishes in under 10 minutes on 2 CPU cores
BUDGETS: dict[str, tuple[int, int]] = {
    "seeds": (3, 2),
    "steps": (80, 40),
    "batch": (2, 1),
    "eval_every": (20, 20),
    "pretrain_steps": (400, 100),
}
PRETRAIN_BATCH, PRETRAIN_CHECK = 32, 50  # frames a stage-1 step; steps between its checks
VAL_CLIPS, VAL_PAIRS = 16, 2  # the validation set: clips x (timestep, noise) pairs
SHAPE = {"preset": "tiny", "frames": 8, "resolution": 64}  # the default shape


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", default=SHAPE["preset"], help="tiny, small or sd15")
    parser.add_argument("--frames", type=int, default=SHAPE["frames"], help="frames per clip")
    parser.add_argument("--resolution", type=int, default=SHAPE["resolution"], help="pixels")
    options.add_variants(parser)
    options.add_device(parser)
    parser.add_argument("--quick", action="store_true", help="the CI budget (under 3 minutes)")
    for name, (full, quick) in BUDGETS.items():
        flag = "--" + name.replace("_", "-")
        parser.add_argument(flag, type=int, help=f"default {full}; with --quick {quick}")
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


def settings_of(args: argparse.Namespace, variants: list[str]) -> ConvergeSettings:
    """The run's settings: the options given, the rest from the (quick) budget."""
    from mobius_core.training.converge import ConvergeSettings
    from mobius_core.training.finetune import FinetuneSettings
    from mobius_core.training.pretrain import PretrainSettings

    pretrain_steps = budget(args, "pretrain_steps")
    return ConvergeSettings(
        PretrainSettings(pretrain_steps, PRETRAIN_BATCH, args.pretrain_lr, PRETRAIN_CHECK, 0),
        FinetuneSettings(
            budget(args, "steps"), budget(args, "batch"), args.lr, budget(args, "eval_every")
        ),
        tuple(range(budget(args, "seeds", least=2))),
        tuple(variants),
        VAL_CLIPS,
        VAL_PAIRS,
    )


def run(args: argparse.Namespace) -> int:
    from mobius_core.measure.environment import environment
    from mobius_core.models.config import preset
    from mobius_core.models.variants import VARIANTS, baseline_name
    from mobius_core.outputs import check_new_folder, fill_new_folder, write_new_json
    from mobius_core.report.converge_record import build_record
    from mobius_core.report.converge_report import CONVERGE_FILE, write_report
    from mobius_core.report.record import Case, VariantInfo
    from mobius_core.report.runs import load as load_run
    from mobius_core.training.converge import converge, source_of
    from mobius_core.training.devices import DTYPES

    device, dtype = options.device_and_dtype(args)
    variants = options.variants(args.variants)
    if baseline_name() not in variants:
        variants = [baseline_name(), *variants]
        options.note(f"--variants: {baseline_name()} added: every verdict is set against it")
    settings = settings_of(args, variants)
    shape = {"frames": args.frames, "resolution": args.resolution, "batch": settings.finetune.batch}
    config = preset(args.preset, **shape)
    source = source_of(args.data, config)
    if args.out is not None:
        check_new_folder(args.out)
    if args.run is not None:
        load_run(args.run)  # a bad run fails before the work, not after it
    raw = converge(config, source, settings, args.cache, device, dtype)
    dtype_name = next(name for name, value in DTYPES.items() if value == dtype)
    case = Case(config.name, config.batch, config.frames, config.resolution, dtype_name, device)
    infos = [VariantInfo(n, VARIANTS[n].label, VARIANTS[n].colour, VARIANTS[n].baseline)
             for n in variants]  # fmt: skip
    plain = {**asdict(settings.finetune), "seeds": raw["seeds"], "data": source.name}
    plain |= {"interrupted": raw["interrupted"]} if raw["interrupted"] else {}
    plain |= {"val_clips": settings.val_clips, "val_pairs": settings.val_pairs}
    record = build_record(raw, case, plain, environment(), infos)

    def fill(folder: Path) -> None:
        write_new_json(folder / CONVERGE_FILE, record.to_dict())
        write_report(record, folder, args.run)

    folder = fill_new_folder(fill, args.out, "converge")
    for verdict in record.verdicts:
        gap = verdict.difference.text()
        print(f"{verdict.variant} ({verdict.measure}): {verdict.text}; difference {gap}")
    for name, summary in record.variants.items():
        print(f"{name}: temporal gain {summary.temporal_gain.text()}")
    if raw["interrupted"]:
        print(f"mobius-bench: interrupted; seeds {raw['seeds']} finished and are kept in {folder}/")
        return 130
    print(f"# report: {folder}/summary.md")
    return 0
