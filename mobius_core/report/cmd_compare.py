"""`mobius-bench compare`: a new run against a base; exit 1 on a regression."""

from __future__ import annotations

import argparse
from pathlib import Path

EXAMPLE = "mobius-bench compare reports/baselines/cpu-suite.json run.json --time-tolerance 10%"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("base", type=Path, help="the run (or baseline, or dry run) to hold to")
    parser.add_argument("new", type=Path, help="the run to check, of the same kind")
    parser.add_argument(
        "--time-tolerance", default="10%", help="slowdown allowed beyond noise (10%% or 0.1)"
    )
    parser.add_argument(
        "--memory-tolerance",
        default="2%",
        help="growth of peak memory allowed (allocator peaks, counted CPU peaks)",
    )
    parser.add_argument(
        "--summary",
        type=Path,
        metavar="FILE",
        help="append a Markdown table of what regressed and what improved to FILE"
        " (e.g. $GITHUB_STEP_SUMMARY)",
    )


def run(args: argparse.Namespace) -> int:
    from mobius_core.report.ci_summary import append_summary, check_summary_path, summary
    from mobius_core.report.compare import compare, parse_tolerance
    from mobius_core.report.runs import load

    if args.summary is not None:
        check_summary_path(args.summary)
    time_tol = parse_tolerance(args.time_tolerance, "time-tolerance")
    memory_tol = parse_tolerance(args.memory_tolerance, "memory-tolerance")
    base, new = load(args.base), load(args.new)
    result = compare(base, new, time_tol, memory_tol)
    print(f"# compare: base {args.base}, new {args.new}")
    print(result.markdown())
    if args.summary is not None:
        append_summary(args.summary, summary(result, args.base, args.new))
    if result.regressions:
        print(f"# {result.regressions} regression(s)")
        return 1
    print("# no regression")
    return 0
