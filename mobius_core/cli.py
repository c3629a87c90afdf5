"""The `mobius-bench` command line: each subcommand in one function; bad input exits 2."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import NoReturn

from mobius_core.models.config import PRESETS, Config, preset
from mobius_core.training.devices import resolve_device, resolve_dtype


class _Parser(argparse.ArgumentParser):
    """argparse, with its usage errors on one line (exit status 2, as argparse's own)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"mobius-bench: error: {self.prog}: {message}\n")


def _shape_args(parser: argparse.ArgumentParser, default_preset: str) -> None:
    parser.add_argument("--preset", default=default_preset, help=f"one of {sorted(PRESETS)}")
    parser.add_argument("--frames", type=int, help="frames per clip (default: the preset's)")
    parser.add_argument("--resolution", type=int, help="pixels on a side (default: preset's)")
    parser.add_argument("--batch", type=int, help="clips per step (default: the preset's)")


def _config(args: argparse.Namespace) -> Config:
    shape = {k: getattr(args, k) for k in ("frames", "resolution", "batch")}
    return preset(args.preset, **{k: v for k, v in shape.items() if v is not None})


def cmd_step(args: argparse.Namespace) -> int:
    from mobius_core.report.markdown import table
    from mobius_core.run.quickstep import quick_steps

    device = resolve_device(args.device)
    dtype = resolve_dtype(args.dtype, device)
    config = _config(args)
    print(f"# one matched step per variant: {config.name}, {device}, {dtype}")
    print(table(quick_steps(config, device, dtype)))
    return 0


def cmd_dry_run(args: argparse.Namespace) -> int:
    from mobius_core.outputs import check_new_file, write_new_json
    from mobius_core.run.dryrun import dry_run, format_dry_run

    config = _config(args)
    variants = _variants(args.variants)
    dtype = resolve_dtype(args.dtype, "cuda")  # predictions are for a GPU run
    if args.json is not None:
        check_new_file(args.json)  # before the work, not after it
    result = dry_run(config, variants, dtype)
    print(
        f"# dry run (meta device): {config.name}, batch {config.batch}, {config.frames} frames,"
        f" {config.resolution} px, {result['dtype']}"
    )
    print(format_dry_run(result))
    if args.json is not None:
        write_new_json(args.json, result)
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    """The main job: the benchmark suite into a new folder under reports/runs/."""
    import subprocess

    from mobius_core.outputs import new_folder

    if not Path("bench").is_dir():
        raise ValueError("bench/: not found; run mobius-bench bench from the repository root")
    folder = new_folder(args.out, _device_label(resolve_device(args.device)))
    run_json = folder / "run.json"
    command = [sys.executable, "-m", "pytest", "bench/", "--benchmark-json", str(run_json)]
    command += ["--device", args.device, *args.pytest_args]
    print(f"# {' '.join(command)}", flush=True)
    code = subprocess.call(command)
    if not run_json.exists():
        print(f"# no run written (pytest exit {code})")
        return code
    print(f"# run: {run_json}")
    report = argparse.Namespace(runs=[run_json], out=folder / "report")
    return cmd_report(report) or code


def cmd_report(args: argparse.Namespace) -> int:

    from mobius_core.outputs import fill_new_folder
    from mobius_core.report.runs import load_all
    from mobius_core.report.summary import write_report

    measured, predicted = load_all(args.runs)
    label = _slug(measured[0].gpu) if measured[0].gpu else "cpu"
    files: list[str] = []
    out = fill_new_folder(
        lambda folder: files.extend(write_report(measured, predicted, folder)),
        args.out,
        f"{label}-report",
    )
    print(f"# report: {out}/ ({', '.join(files)})")
    return 0


def cmd_profile(args: argparse.Namespace) -> int:

    from mobius_core.outputs import fill_new_folder
    from mobius_core.run.profile_report import write_profile

    device = resolve_device(args.device)
    dtype = resolve_dtype(args.dtype, device)
    config = _config(args)
    variants = _variants(args.variants)
    if args.steps < 1 or args.warmup < 0:
        raise ValueError(
            f"steps: need at least 1 step and no negative warm-up ({args.steps}, {args.warmup})"
        )
    files: list[str] = []
    out = fill_new_folder(
        lambda folder: files.extend(
            write_profile(config, variants, device, dtype, args.steps, args.warmup, folder)
        ),
        args.out,
        f"{_device_label(device)}-profile",
    )
    print(f"# profile: {out}/ ({', '.join(files)})")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from mobius_core.report.compare import compare, parse_tolerance
    from mobius_core.report.runs import load

    time_tol = parse_tolerance(args.time_tolerance, "time-tolerance")
    memory_tol = parse_tolerance(args.memory_tolerance, "memory-tolerance")
    base, new = load(args.base), load(args.new)
    if base.kind != new.kind:
        raise ValueError(f"{args.new}: a {new.kind}, but {args.base} is a {base.kind}")
    result = compare(base, new, time_tol, memory_tol)
    print(f"# compare: base {args.base}, new {args.new}")
    print(result.markdown())
    if result.regressions:
        print(f"# {result.regressions} regression(s)")
        return 1
    print("# no regression")
    return 0


def cmd_baseline(args: argparse.Namespace) -> int:
    from mobius_core.outputs import write_atomic
    from mobius_core.report.baseline import deterministic_baseline
    from mobius_core.report.runs import load

    if args.out.exists() and not args.replace:
        raise ValueError(f"{args.out}: exists already; pass --replace to refresh a baseline")
    write_atomic(args.out, deterministic_baseline(load(args.run)))
    print(f"# baseline: {args.out}")
    return 0


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")


def _device_label(device: str) -> str:
    """`cpu`, or the GPU's name as a slug (`nvidia-h100-80gb-hbm3`)."""
    if device == "cpu":
        return "cpu"
    import torch

    return _slug(torch.cuda.get_device_name())


def _variants(text: str) -> list[str]:
    from mobius_core.models.variants import VARIANTS

    names = [v.strip() for v in text.split(",") if v.strip()]
    unknown = [v for v in names if v not in VARIANTS]
    if unknown or not names:
        raise ValueError(f"variants: unknown {unknown or text!r}; choose from {list(VARIANTS)}")
    return names


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="mobius-bench",
        description="Serial vs Mobius 3D-UNet fine-tuning: benchmark, profile, report.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    step = sub.add_parser("step", help="one matched step per variant, as a table")
    _shape_args(step, "tiny")
    step.add_argument("--device", default="auto", help="auto, cpu or cuda")
    step.add_argument("--dtype", default="auto", help="auto, fp32, bf16 or fp16")
    step.set_defaults(func=cmd_step)

    bench = sub.add_parser(
        "bench",
        help="the benchmark suite into a new folder under reports/runs/",
        description="Runs `pytest bench/` (arguments after -- go to it) into a new folder.",
    )
    bench.add_argument("--device", default="auto", help="auto, cpu or cuda")
    bench.add_argument("--out", type=Path, default=Path("reports/runs"), help="parent folder")
    bench.add_argument("pytest_args", nargs="*", help="passed to pytest, after --")
    bench.set_defaults(func=cmd_bench)

    report = sub.add_parser("report", help="claims, tables and plots from runs, in a new folder")
    report.add_argument("runs", nargs="+", type=Path, help="benchmark runs (and dry runs)")
    report.add_argument("--out", type=Path, help="a new folder (default: reports/runs/<new>)")
    report.set_defaults(func=cmd_report)

    prof = sub.add_parser("profile", help="torch.profiler traces and tables per variant")
    _shape_args(prof, "tiny")
    prof.add_argument("--variants", default="serial,serial-ckpt,mobius")
    prof.add_argument("--device", default="auto", help="auto, cpu or cuda")
    prof.add_argument("--dtype", default="auto", help="auto, fp32, bf16 or fp16")
    prof.add_argument("--steps", type=int, default=2, help="profiled steps per variant")
    prof.add_argument("--warmup", type=int, default=2, help="warm-up steps before them")
    prof.add_argument("--out", type=Path, help="a new folder (default: reports/runs/<new>)")
    prof.set_defaults(func=cmd_profile)

    comp = sub.add_parser("compare", help="a new run against a base; exit 1 on a regression")
    comp.add_argument("base", type=Path)
    comp.add_argument("new", type=Path)
    comp.add_argument("--time-tolerance", default="10%")
    comp.add_argument("--memory-tolerance", default="2%")
    comp.set_defaults(func=cmd_compare)

    base = sub.add_parser("baseline", help="a run's deterministic figures, as a baseline")
    base.add_argument("run", type=Path)
    base.add_argument("--out", type=Path, required=True)
    base.add_argument("--replace", action="store_true", help="refresh an existing baseline")
    base.set_defaults(func=cmd_baseline)

    dry = sub.add_parser("dry-run", help="predict FLOPs and bytes on the meta device, no GPU")
    _shape_args(dry, "sd15")
    dry.add_argument("--variants", default="serial,serial-ckpt,mobius")
    dry.add_argument("--dtype", default="auto", help="auto (bf16), fp32, bf16 or fp16")
    dry.add_argument("--json", type=Path, help="also write the predictions here (a new file)")
    dry.set_defaults(func=cmd_dry_run)
    return parser


def main(argv: list[str] | None = None) -> int:
    from mobius_core.run.runner import is_oom

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ValueError as error:
        print(f"mobius-bench: error: {error}", file=sys.stderr)
        return 2
    except RuntimeError as error:
        if not is_oom(error):
            raise
        first = str(error).splitlines()[0]
        print(f"mobius-bench: error: out of memory: {first}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
