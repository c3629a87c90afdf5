"""`mobius-bench baseline`: a run cut to its deterministic figures, for the CI gate."""

from __future__ import annotations

import argparse
from pathlib import Path

EXAMPLE = "mobius-bench baseline run.json --out reports/baselines/cpu-suite.json --replace"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", type=Path, help="a benchmark run (pytest-benchmark JSON)")
    parser.add_argument("--out", type=Path, required=True, help="the baseline file to write")
    parser.add_argument("--replace", action="store_true", help="refresh an existing baseline")


def run(args: argparse.Namespace) -> int:
    from mobius_core.errors import BadInput
    from mobius_core.outputs import check_new_file, write_atomic
    from mobius_core.report.baseline import deterministic_baseline
    from mobius_core.report.runs import load

    if args.out.is_dir():
        raise BadInput(f"{args.out}: is a folder; give a file name")
    if not (args.replace and args.out.exists()):
        check_new_file(args.out)
    write_atomic(args.out, deterministic_baseline(load(args.run)), replace=args.replace)
    print(f"# baseline: {args.out}")
    return 0
