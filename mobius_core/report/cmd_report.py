"""`mobius-bench report`: claims, tables and plots from runs (and dry runs), in a new folder."""

from __future__ import annotations

import argparse
from pathlib import Path

EXAMPLE = "mobius-bench report reports/runs/RUN/run.json dryrun.json --out my-report"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "runs",
        nargs="+",
        type=Path,
        help="benchmark runs or their folders, and beside them dry runs, rejoin sweeps"
        " (dry-run --rejoin) and converge records",
    )
    parser.add_argument("--out", type=Path, help="a new folder (default: reports/runs/<new>)")
    parser.add_argument(
        "--case",
        metavar="KEY",
        help="the case the summary opens with and the one-case plots show, e.g."
        " small-b1-f8-r256-fp32 (default: the claim case, else the largest by serial FLOPs)",
    )
    parser.add_argument(
        "--all-cases",
        action="store_true",
        help="also write the one-case plots of every case, into cases/<case>/",
    )


def run(args: argparse.Namespace) -> int:
    from mobius_core.errors import BadInput
    from mobius_core.outputs import fill_new_folder
    from mobius_core.report.headline import check_case
    from mobius_core.report.runs import load_all
    from mobius_core.report.sections import split
    from mobius_core.report.summary import write_report

    paths, extras = split(args.runs)
    if not paths:
        raise BadInput(f"{args.runs[0]}: give a benchmark run to report on, beside it")
    measured, predicted = load_all(paths)
    check_case(measured, args.case)
    gpu = measured[0].gpu
    label = "".join(c if c.isalnum() else "-" for c in gpu.lower()) if gpu else "cpu"
    files: list[str] = []
    out = fill_new_folder(
        lambda folder: files.extend(
            write_report(measured, predicted, folder, args.case, args.all_cases, extras)
        ),
        args.out,
        f"{label}-report",
    )
    print(f"# report: {out}/ ({', '.join(files)})")
    return 0
