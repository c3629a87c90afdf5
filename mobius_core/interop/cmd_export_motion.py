"""`mobius-bench export-motion`: trained motion modules as a diffusers MotionAdapter folder.

RUN_OR_CHECKPOINT is a checkpoint file (`interop.export.save_checkpoint`) or a run folder
holding checkpoints; serial's motion modules, or mobius's branch modules, are written to
--out in diffusers' format (`MotionAdapter.from_pretrained(DIR)` loads it).
"""

from __future__ import annotations

import argparse
from pathlib import Path

EXAMPLE = "mobius-bench export-motion reports/runs/RUN/serial.safetensors --out motion-adapter"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "source", type=Path, metavar="RUN_OR_CHECKPOINT", help="a checkpoint file or run folder"
    )
    parser.add_argument("--out", type=Path, required=True, help="the new MotionAdapter folder")
    parser.add_argument(
        "--variant", help="which checkpoint of a run folder (default: its only one)"
    )


def run(args: argparse.Namespace) -> int:
    from mobius_core.interop.export import export_motion, find_checkpoint, load_checkpoint
    from mobius_core.outputs import check_new_folder

    check_new_folder(args.out)  # before the work, not after it
    path = find_checkpoint(args.source, args.variant)
    variant, config, model = load_checkpoint(path)
    folder = export_motion(model, config, args.out)
    print(f"# wrote {variant}'s motion modules from {path} to {folder} (a diffusers MotionAdapter)")
    return 0
