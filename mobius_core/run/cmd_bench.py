"""`mobius-bench bench`: the benchmark suite into a new folder under reports/runs/."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from mobius_core.errors import BadInput
from mobius_core.outputs import RUNS, fill_new_folder, new_folder

EXAMPLE = "mobius-bench bench -- --preset tiny --rounds 3"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="auto", help="auto (CUDA if present), cpu or cuda")
    parser.add_argument("--out", type=Path, default=RUNS, help="parent folder of the run folder")
    parser.add_argument("pytest_args", nargs="*", help="suite options and pytest's, after --")


def run(args: argparse.Namespace) -> int:
    from mobius_core.report.runs import load_all
    from mobius_core.report.summary import write_report
    from mobius_core.training.devices import resolve_device

    if not Path("bench").is_dir():
        raise BadInput("bench/: not found; run mobius-bench bench from the repository root")
    device = resolve_device(args.device)
    label = "cpu" if device == "cpu" else _gpu_label()
    folder = new_folder(args.out, label)
    run_json = folder / "run.json"
    command = [sys.executable, "-m", "pytest", "bench/", "--benchmark-json", str(run_json)]
    command += ["--device", args.device, *args.pytest_args]
    print(f"# {' '.join(command)}", flush=True)
    code = subprocess.call(command)
    if not run_json.exists():
        print(f"# no run written (pytest exit {code})")
        return code
    print(f"# run: {run_json}")
    measured, predicted = load_all([run_json])
    fill_new_folder(lambda out: write_report(measured, predicted, out), folder / "report")
    return code


def _gpu_label() -> str:
    import torch

    return "".join(c if c.isalnum() else "-" for c in torch.cuda.get_device_name().lower())
