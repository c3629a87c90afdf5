"""`mobius-bench report`: claims, tables and plots from runs (and dry runs), in a new folder."""

from __future__ import annotations

import argparse
from pathlib import Path

EXAMPLE = "mobius-bench report reports/runs/RUN/run.json dryrun.json --out my-report"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", nargs="+", type=Path, help="benchmark runs (and dry runs)")
    parser.add_argument("--out", type=Path, help="a new folder (default: reports/runs/<new>)")


def run(args: argparse.Namespace) -> int:
    from mobius_core.outputs import fill_new_folder
    from mobius_core.report.runs import load_all
    from mobius_core.report.summary import write_report

    measured, predicted = load_all(args.runs)
    gpu = measured[0].gpu
    label = "".join(c if c.isalnum() else "-" for c in gpu.lower()) if gpu else "cpu"
    files: list[str] = []
    out = fill_new_folder(
        lambda folder: files.extend(write_report(measured, predicted, folder)),
        args.out,
        f"{label}-report",
    )
    print(f"# report: {out}/ ({', '.join(files)})")
    return 0
